"""Writing data cards: bulk import, create, modify, move to the trash can."""
from __future__ import annotations

import asyncio
import functools
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse

from .. import cards as card_rules
from ..core import API_PREFIX, MAX_BULK_CARDS, Api, ApiError, _ts, json_body, parse_bool
from ..templates import Template


def data_codes(body: dict) -> list[str]:
    """The attribute codes a card write names."""
    return list(body["data"]) if isinstance(body.get("data"), dict) else []


def response_meta(request: Request, **extra: Any) -> dict:
    return {"timestamp": _ts(), "url": str(request.url), **extra}


def bulk_import_sync(api: Api, request: Request, tpl: Template, body: list, user: str) -> dict:
    """The bulk import (PUT data) of ``body``: each card created, updated or refused on its own."""
    store, catalog = api.state.store, api.state.catalog
    ref_ids: set[int] = set()
    target_ids: set[int] = set()
    for card in body:
        ref_ids |= card_rules.referenced_ids(card, tpl)
        if isinstance(card, dict) and str(card.get("dataCardId", "")).isdigit() and len(str(card["dataCardId"])) < 19:
            target_ids.add(int(card["dataCardId"]))
    refs = store.brief(ref_ids)
    existing = store.get_many(target_ids)
    # a card to write in a folder the user may not update refuses the whole request (403)
    cards_in = [card for card in body if isinstance(card, dict)]
    api.check_writable(tpl, [row.folder for row in existing.values() if row.template == tpl.code]
                       + [card.get("folderCode") for card in cards_in],
                       [code for card in cards_in if isinstance(card.get("data"), dict) for code in card["data"]])
    plans: list[tuple[str, Any, Any]] = []  # (kind, prepared, row)
    for card in body:
        row = None
        if isinstance(card, dict) and card.get("dataCardId") not in (None, ""):
            cid = str(card["dataCardId"])
            row = existing.get(int(cid)) if cid.isdigit() and len(cid) < 19 else None
            if row is None or row.template != tpl.code:
                plans.append(("refused", card_rules.Prepared(errors=[card_rules.error(
                    "dataCardId", "card", f"Data card {cid} not found in template '{tpl.code}'")]), None))
                continue
            if row.deleted:
                plans.append(("refused", card_rules.Prepared(errors=[card_rules.error(
                    "dataCardId", "card", f"Data card {cid} is in the trash can")]), row))
                continue
        prepared = card_rules.prepare(catalog, tpl, card, row, user, refs)
        kind = "refused" if prepared.errors else ("update" if row else "create")
        if kind == "update":
            row.data, row.folder, row.name = prepared.data, prepared.folder, prepared.name  # later duplicates build on it
        plans.append((kind, prepared, row))
    creates = [{"template": tpl.code, "folder": p.folder, "name": p.name, "data": p.data}
               for kind, p, _ in plans if kind == "create"]
    updates = {}
    for kind, p, row in plans:
        if kind == "update":
            updates[row.id] = {"id": row.id, "template": tpl.code, "folder": p.folder, "name": p.name, "data": p.data}
    new_ids = iter(store.save(creates, list(updates.values())))
    data = []
    saved = refused = 0
    for kind, p, row in plans:
        if kind == "refused":
            refused += 1
            item: dict[str, Any] = {"errors": p.errors}
            if row is not None:
                item["dataCard"] = card_rules.info_element(tpl.code, row.id, row.name)
            data.append(item)
            continue
        saved += 1
        cid = next(new_ids) if kind == "create" else row.id
        data.append({"dataCard": card_rules.info_element(tpl.code, cid, p.name)})
    meta = response_meta(request, importResult={
        "handledDataCards": len(body), "savedDataCards": saved, "notSavedDataCards": refused})
    return {"meta": meta, "data": data}


def write_one(api: Api, request: Request, tpl: Template, body: Any, row: Any, user: str,
              append_multi: bool = False) -> tuple[int, card_rules.Prepared]:
    """Create (``row`` None) or update one card; 400 with the attribute errors if refused."""
    store, catalog = api.state.store, api.state.catalog
    refs = store.brief(card_rules.referenced_ids(body, tpl))
    prepared = card_rules.prepare(catalog, tpl, body, row, user, refs, append_multi=append_multi)
    if prepared.errors:
        raise ApiError(400, "; ".join(
            f"{e['attributeCode']}: {e['message']}" for e in prepared.errors))
    if row is None:
        (cid,) = store.save([{"template": tpl.code, "folder": prepared.folder, "name": prepared.name,
                              "data": prepared.data}], [])
        return cid, prepared
    store.save([], [{"id": row.id, "template": tpl.code, "folder": prepared.folder, "name": prepared.name,
                     "data": prepared.data}])
    return row.id, prepared


def written_card(api: Api, request: Request, cid: int) -> dict:
    """``{dataCardId}``, or with ``dataCards=true`` the whole card as now stored."""
    store, catalog = api.state.store, api.state.catalog
    if parse_bool(request.query_params.get("dataCards"), "dataCards"):
        row = store.get(cid)
        if row is not None:
            return card_rules.render_card(store, catalog, row, None)
    return {"dataCardId": str(cid)}


def register_writes(app: FastAPI, api: Api) -> None:
    """PUT and POST dc/{templateCode}/data, PATCH and DELETE data/{dataCardId}."""
    state, catalog, store = api.state, api.state.catalog, api.state.store
    current_user, template_or_404, card_or_404 = api.current_user, api.template_or_404, api.card_or_404
    issue_token, selected_attributes = api.issue_token, api.selected_attributes
    # Bulk imports run one after the other on one thread of their own. The store writes one at
    # a time anyway; run side by side in the default pool, the requests' Python work (checks,
    # index rows, JSON) only fought over the interpreter lock: with 8 bulk PUTs in flight the
    # simulator spent 13.4 CPU s on the latency benchmark's 500 PUTs, one at a time 9.4 s.
    bulk_writer = ThreadPoolExecutor(max_workers=1, thread_name_prefix="esm-sim-bulk-import")
    # --- writing cards ------------------------------------------------------------------

    @app.put(API_PREFIX + "/dc/{templateCode}/data")
    async def bulk_import(request: Request, templateCode: str) -> dict:
        user = current_user(request)
        tpl = template_or_404(templateCode)
        body = await json_body(request)
        if not isinstance(body, list):
            raise ApiError(400, "Bulk import expects a JSON array of data cards")
        if len(body) > MAX_BULK_CARDS:
            raise ApiError(400, f"Bulk import takes at most {MAX_BULK_CARDS} data cards per request, got {len(body)}")
        return await asyncio.get_running_loop().run_in_executor(
            bulk_writer, functools.partial(bulk_import_sync, api, request, tpl, body, user))

    @app.post(API_PREFIX + "/dc/{templateCode}/data", status_code=201)
    async def create_card(request: Request, templateCode: str) -> JSONResponse:
        user = current_user(request)
        tpl = template_or_404(templateCode)
        body = await json_body(request)
        if not isinstance(body, dict):
            raise ApiError(400, "Create expects one data card as a JSON object")
        api.check_writable(tpl, [body.get("folderCode")], data_codes(body))
        cid, _ = await asyncio.to_thread(write_one, api, request, tpl, body, None, user)
        return JSONResponse({"meta": response_meta(request), "dataCard": written_card(api, request, cid)}, status_code=201)

    @app.patch(API_PREFIX + "/dc/{templateCode}/data/{dataCardId}")
    async def modify_card(request: Request, templateCode: str, dataCardId: str) -> dict:
        user = current_user(request)
        tpl = template_or_404(templateCode)
        row = card_or_404(tpl, dataCardId)
        body = await json_body(request)
        if not isinstance(body, dict):
            raise ApiError(400, "Modify expects one data card as a JSON object")
        if body.get("dataCardId") in (None, ""):  # RESTDataCardModifyRequest requires it
            raise ApiError(400, "dataCardId is required in the body of a modify request")
        if str(body["dataCardId"]) != dataCardId:
            raise ApiError(400, f"dataCardId {body['dataCardId']} in the body does not match {dataCardId} in the path")
        if row.deleted:
            raise ApiError(400, f"Data card {dataCardId} is in the trash can")
        api.check_writable(tpl, [row.folder, body.get("folderCode")], data_codes(body))
        cid, _ = await asyncio.to_thread(write_one, api, request, tpl, body, row, user)
        return {"meta": response_meta(request), "dataCard": written_card(api, request, cid)}

    @app.delete(API_PREFIX + "/dc/{templateCode}/data/{dataCardId}")
    def delete_card(request: Request, templateCode: str, dataCardId: str) -> dict:
        current_user(request)
        tpl = template_or_404(templateCode)
        row = card_or_404(tpl, dataCardId)
        api.check_writable(tpl, [row.folder])
        if row.deleted or not store.trash(row.id):
            raise ApiError(409, f"Data card {dataCardId} is already in the trash can")
        return {"code": 200, "message": f"Data card {dataCardId} moved to the trash can", "timestamp": _ts()}
