"""Reading data cards: paged listing, stream, one card."""
from __future__ import annotations

import json
from typing import Any
from urllib.parse import urlencode

import sqlalchemy as sa
from fastapi import FastAPI, Request
from fastapi.responses import StreamingResponse

from .. import cards as card_rules
from ..core import API_PREFIX, Api, ApiError, parse_bool
from ..eql import EqlError, compile_filter
from ..store import card_values as card_values_table
from ..store import cards as cards_table
from ..templates import Template


def read_params(api: Api, request: Request, tpl: Template) -> tuple[Any, bool, list[str] | None]:
    """The filter, whether whole cards are asked for, and the selected attributes of a read."""
    store, catalog = api.state.store, api.state.catalog
    q = request.query_params
    flt = q.get("filter")
    cond = None
    if flt is not None and flt.strip():
        try:
            cond = compile_filter(flt, tpl, cards_table, card_values_table, store.estimate_values)
        except EqlError as exc:
            raise ApiError(400, str(exc)) from None
    selected = api.selected_attributes(tpl, q.get("selectedAttributes"))
    full = parse_bool(q.get("dataCards"), "dataCards") or selected is not None
    return cond, full, selected



def render_rows(api: Api, rows: list, full: bool, selected: list[str] | None) -> list[dict]:
    """Info elements, or whole cards (with ``selected`` attributes only), of ``rows``."""
    store, catalog = api.state.store, api.state.catalog
    if not full:
        return [card_rules.info_element(r.template, r.id, r.name) for r in rows]
    refs = store.brief(card_rules.reference_ids_of(rows, catalog))
    return [card_rules.render_card(store, catalog, r, selected, refs) for r in rows]



def page_rows(api: Api, tpl: Template, limit: int, before: int | None, cond: Any) -> tuple[list, int | None]:
    """The cards of one page and the ``filterId`` of the next (None: this is the last).

    With the ``filter_in_window`` knob a filter is applied within the window of the next
    ``limit`` cards of the template: the page holds the matching ones among them -- fewer
    than asked, or none -- and the next page starts below the window. The contract allows
    it (``count`` may be below ``limit`` while ``links.next`` goes on)."""
    store, trashed = api.state.store, api.state.knobs.list_trashed
    if cond is not None and api.state.knobs.filter_in_window:
        window = store.page(tpl.code, limit + 1, before, None, trashed=trashed)
        if not window:
            return [], None
        last = window[min(limit, len(window)) - 1].id
        rows = store.page(tpl.code, limit, before, sa.and_(cond, cards_table.c.id >= last), trashed=trashed)
        return rows, last if len(window) > limit else None
    rows = store.page(tpl.code, limit + 1, before, cond, trashed=trashed)
    return rows[:limit], rows[limit - 1].id if len(rows) > limit else None


def register_reads(app: FastAPI, api: Api) -> None:
    """dc/{templateCode}/data (paged by filterId), data/stream and data/{dataCardId}."""
    state, catalog, store = api.state, api.state.catalog, api.state.store
    current_user, template_or_404, card_or_404 = api.current_user, api.template_or_404, api.card_or_404
    issue_token, selected_attributes = api.issue_token, api.selected_attributes
    # --- reading cards ------------------------------------------------------------------
    @app.get(API_PREFIX + "/dc/{templateCode}/data")
    def list_cards(request: Request, templateCode: str) -> dict:
        current_user(request)
        tpl = template_or_404(templateCode)
        q = request.query_params
        raw_limit = q.get("limit")
        if raw_limit is None or raw_limit == "":
            raise ApiError(400, "Query parameter 'limit' is required (1-200)")
        if not raw_limit.isdigit() or not 1 <= int(raw_limit) <= 200:
            raise ApiError(400, f"Query parameter 'limit' must be between 1 and 200, got '{raw_limit}'")
        limit = int(raw_limit)
        raw_fid = q.get("filterId") or "0"
        if not raw_fid.isdigit():
            raise ApiError(400, f"Query parameter 'filterId' must be a data card id, got '{raw_fid}'")
        before = min(int(raw_fid), 2**63 - 1)
        cond, full, selected = read_params(api, request, tpl)
        rows, next_id = page_rows(api, tpl, limit, before or None, cond)
        links: dict[str, str] = {"self": str(request.url)}
        if next_id is not None:
            params = [(k, v) for k, v in q.multi_items() if k not in ("filterId", "limit")]
            params += [("limit", str(limit)), ("filterId", str(next_id))]
            links["next"] = f"{request.url.scheme}://{request.url.netloc}{API_PREFIX}/dc/{tpl.code}/data?{urlencode(params)}"
        return {"meta": {"count": len(rows), "limit": limit, "links": links},
                "data": render_rows(api, rows, full, selected)}

    @app.get(API_PREFIX + "/dc/{templateCode}/data/stream")
    def stream_cards(request: Request, templateCode: str) -> StreamingResponse:
        current_user(request)
        tpl = template_or_404(templateCode)
        cond, full, selected = read_params(api, request, tpl)

        def generate():
            # one chunk per batch of cards: every chunk of a sync iterator costs a thread hop
            yield b'{"data":['
            count = 0
            for rows in store.iter_batches(tpl.code, cond, batch=1000, trashed=state.knobs.list_trashed):
                items = render_rows(api, rows, full, selected)
                chunk = b",".join(json.dumps(item, separators=(",", ":")).encode() for item in items)
                yield (b"," if count else b"") + chunk
                count += len(items)
            yield b'],"meta":' + json.dumps({"count": count}).encode() + b"}"

        return StreamingResponse(generate(), media_type="application/json")

    @app.get(API_PREFIX + "/dc/{templateCode}/data/{dataCardId}")
    def get_card(request: Request, templateCode: str, dataCardId: str) -> dict:
        current_user(request)
        tpl = template_or_404(templateCode)
        row = card_or_404(tpl, dataCardId)
        selected = selected_attributes(tpl, request.query_params.get("selectedAttributes"))
        return card_rules.render_card(store, catalog, row, selected)
