"""One attribute of a data card: read, replace, add to, clear.

As the contract documents: the read answers a template, card or attribute it cannot find
with 403 ("Resource not found"; it documents no 404), the writes with 404."""
from __future__ import annotations

import asyncio
from typing import Any

from fastapi import FastAPI, Request

from .. import cards as card_rules
from .write import write_one
from ..core import API_PREFIX, Api, ApiError, _ts, json_body
from ..templates import Template


def register_attributes(app: FastAPI, api: Api) -> None:
    """dc/{templateCode}/data/{dataCardId}/{attributeCode}."""
    state, catalog, store = api.state, api.state.catalog, api.state.store
    current_user, template_or_404, card_or_404 = api.current_user, api.template_or_404, api.card_or_404
    issue_token, selected_attributes = api.issue_token, api.selected_attributes
    # --- attribute endpoints ------------------------------------------------------------
    def attribute_or_404(tpl: Template, code: str) -> Any:
        attr = tpl.attributes.get(code)
        if attr is None:
            raise ApiError(404, f"Template '{tpl.code}' has no attribute '{code}'")
        return attr

    @app.get(API_PREFIX + "/dc/{templateCode}/data/{dataCardId}/{attributeCode}")
    def get_attribute(request: Request, templateCode: str, dataCardId: str, attributeCode: str) -> dict:
        current_user(request)
        try:
            tpl = template_or_404(templateCode)
            row = card_or_404(tpl, dataCardId)
            attribute_or_404(tpl, attributeCode)
        except ApiError as exc:  # this read documents no 404: 403 "Resource not found"
            raise ApiError(403 if exc.status == 404 else exc.status, exc.message) from None
        refs = store.brief(card_rules.reference_ids_of([row], catalog))
        return card_rules.render_element(catalog, tpl, attributeCode, row, refs)

    async def attribute_write(request: Request, templateCode: str, dataCardId: str, attributeCode: str,
                              mode: str) -> dict:
        user = current_user(request)
        tpl = template_or_404(templateCode)
        row = card_or_404(tpl, dataCardId)
        attr = attribute_or_404(tpl, attributeCode)
        if row.deleted:
            raise ApiError(400, f"Data card {dataCardId} is in the trash can")
        api.check_writable(tpl, [row.folder], [attributeCode])
        if mode == "delete":
            values: Any = []
            if attr.type == "worklog":
                row.data.pop(attributeCode, None)  # clearing a worklog empties it
        else:
            body = await json_body(request)
            if not isinstance(body, dict) or not isinstance(body.get("values"), list):
                raise ApiError(400, "Expected a JSON object {\"values\": [...]}")
            values = body["values"]
        card_body = {"data": {attributeCode: {"values": values}}}
        await asyncio.to_thread(write_one, api, request, tpl, card_body, row, user, mode == "add")
        verb = {"replace": "updated", "add": "added to", "delete": "cleared"}[mode]
        return {"code": 200, "message": f"Attribute '{attributeCode}' {verb}", "timestamp": _ts()}

    @app.put(API_PREFIX + "/dc/{templateCode}/data/{dataCardId}/{attributeCode}")
    async def put_attribute(request: Request, templateCode: str, dataCardId: str, attributeCode: str) -> dict:
        return await attribute_write(request, templateCode, dataCardId, attributeCode, "replace")

    @app.post(API_PREFIX + "/dc/{templateCode}/data/{dataCardId}/{attributeCode}")
    async def post_attribute(request: Request, templateCode: str, dataCardId: str, attributeCode: str) -> dict:
        return await attribute_write(request, templateCode, dataCardId, attributeCode, "add")

    @app.delete(API_PREFIX + "/dc/{templateCode}/data/{dataCardId}/{attributeCode}")
    async def delete_attribute(request: Request, templateCode: str, dataCardId: str, attributeCode: str) -> dict:
        return await attribute_write(request, templateCode, dataCardId, attributeCode, "delete")
