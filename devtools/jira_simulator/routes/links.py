"""Issue links and their types."""
from __future__ import annotations

import json
from typing import Any

from fastapi import FastAPI, Request
from starlette.responses import Response

from .. import model
from ..base import Api, JiraError, body_json, found_or_404
from ..render import rich_input_to_storage
from ..store import text_to_adf


def register_links(app: FastAPI, api: Api) -> None:
    """The issue link endpoints."""
    sim, store, version, prefix, v2 = api.sim, api.sim.store, api.version, api.prefix, api.v2
    ctx, issue_or_404, require_admin = api.ctx, api.issue_or_404, api.require_admin

    # --- issue links -------------------------------------------------------------------
    @app.get(prefix + "/issueLinkType")
    async def link_types(request: Request) -> Any:
        caller, r = ctx(request, version)
        return {"issueLinkTypes": [r.link_type(t["id"]) for t in model.ISSUE_LINK_TYPES]}

    @app.get(prefix + "/issueLinkType/{issueLinkTypeId}")
    async def link_type(request: Request, issueLinkTypeId: str) -> Any:
        caller, r = ctx(request, version)
        if issueLinkTypeId not in model.LINK_TYPE_BY_ID:
            raise JiraError(404, f"No issue link type with id '{issueLinkTypeId}' found.")
        return r.link_type(issueLinkTypeId)

    def link_or_404(link_id: str) -> Any:
        return found_or_404(store.link(link_id), f"No issue link with id '{link_id}' exists.")

    @app.post(prefix + "/issueLink")
    async def create_link(request: Request) -> Any:
        caller, r = ctx(request, version)
        body = await body_json(request)
        if not isinstance(body, dict):
            raise JiraError(400, "Can not deserialize the request body: expected an object.")
        ref = body.get("type") if isinstance(body.get("type"), dict) else {}
        t = next((t for t in model.ISSUE_LINK_TYPES if t["id"] == str(ref.get("id")) or t["name"] == ref.get("name")), None)
        if t is None:
            raise JiraError(404, f"No issue link type with name '{ref.get('name', ref.get('id'))}' found.")
        ends = []
        for side in ("inwardIssue", "outwardIssue"):
            issue = body.get(side) if isinstance(body.get(side), dict) else {}
            ident = issue.get("key") or issue.get("id")
            row = store.issue_row(str(ident)) if ident else None
            if row is None:
                raise JiraError(404, f"Issue Does Not Exist: {side} '{ident}'." if ident else f"The {side} must be given by key or id.")
            ends.append(row)
        if ends[0]["id"] == ends[1]["id"]:
            raise JiraError(400, "You cannot link an issue to itself.")
        comment = body.get("comment")
        if isinstance(comment, dict) and comment.get("body") not in (None, "", {}):
            try:  # to the "from" issue: the one the request names inwardIssue (see model)
                adf, text = rich_input_to_storage(comment["body"], v2)
            except ValueError as exc:
                raise JiraError(400, [], {"comment": str(exc)}) from None
            store.add_comment(ends[0]["id"], caller.account_id, json.loads(adf) if adf else text_to_adf(text), None)
        store.add_link(t["id"], ends[0]["id"], ends[1]["id"])
        return Response(status_code=201)  # Jira returns no body (nor the new link's id)

    @app.get(prefix + "/issueLink/{linkId}")
    async def get_link(request: Request, linkId: str) -> Any:
        caller, r = ctx(request, version)
        return r.link(link_or_404(linkId))

    @app.delete(prefix + "/issueLink/{linkId}")
    async def delete_link(request: Request, linkId: str) -> Any:
        store.delete_link(link_or_404(linkId)["id"])
        return Response(status_code=204)
