"""An issue's comments."""
from __future__ import annotations

import json
from typing import Any

from fastapi import FastAPI, Request
from starlette.responses import Response

from ..base import Api, JiraError, JSONResponse, body_json, found_or_404, page_window, q_list
from ..render import rich_input_to_storage
from ..store import text_to_adf


def register_comments(app: FastAPI, api: Api) -> None:
    """The comment endpoints."""
    sim, store, version, prefix, v2 = api.sim, api.sim.store, api.version, api.prefix, api.v2
    ctx, issue_or_404, require_admin = api.ctx, api.issue_or_404, api.require_admin

    # --- comments ----------------------------------------------------------------------
    @app.get(prefix + "/issue/{issueIdOrKey}/comment")
    async def get_comments(request: Request, issueIdOrKey: str) -> Any:
        caller, r = ctx(request, version)
        row = issue_or_404(issueIdOrKey)
        start, limit = page_window(request, sim.knobs, 100, 100, invalid="startAt must be greater than or equal to 0.",
                                   min_limit=None, floor=0)
        order = request.query_params.get("orderBy", "created")
        if order not in ("created", "+created", "-created"):  # the contract's only order
            raise JiraError(400, f"Invalid orderBy '{order}': comments can be ordered by 'created' only.")
        expand = {e for e in q_list(request, "expand")}
        return r.comment_page(row["id"], start, limit, desc=order == "-created", expand=expand)

    @app.post(prefix + "/issue/{issueIdOrKey}/comment")
    async def add_comment(request: Request, issueIdOrKey: str) -> Any:
        caller, r = ctx(request, version)
        row = issue_or_404(issueIdOrKey)
        body = await body_json(request)
        if not isinstance(body, dict) or body.get("body") in (None, "", {}):
            raise JiraError(400, [], {"comment": "Comment body can not be empty!"})
        try:
            adf, text = rich_input_to_storage(body["body"], v2)
        except ValueError as exc:
            raise JiraError(400, [], {"comment": str(exc)}) from None
        if not (text or "").strip():
            raise JiraError(400, [], {"comment": "Comment body can not be empty!"})
        props = body.get("properties")
        c = store.add_comment(row["id"], caller.account_id, json.loads(adf) if adf else text_to_adf(text), props if isinstance(props, list) else None)
        expand = set(q_list(request, "expand")) | ({"properties"} if props else set())
        return JSONResponse(r.comment(c, row["id"], expand), status_code=201)

    def comment_or_404(row: Any, comment_id: str) -> Any:
        return found_or_404(store.comment(row["id"], comment_id), f"Can not find a comment for the id: {comment_id}.")

    @app.get(prefix + "/issue/{issueIdOrKey}/comment/{commentId}")
    async def get_comment(request: Request, issueIdOrKey: str, commentId: str) -> Any:
        caller, r = ctx(request, version)
        row = issue_or_404(issueIdOrKey)
        return r.comment(comment_or_404(row, commentId), row["id"], set(q_list(request, "expand")))

    @app.put(prefix + "/issue/{issueIdOrKey}/comment/{commentId}")
    async def update_comment(request: Request, issueIdOrKey: str, commentId: str) -> Any:
        caller, r = ctx(request, version)
        row = issue_or_404(issueIdOrKey)
        c = comment_or_404(row, commentId)
        body = await body_json(request)
        try:
            adf, text = rich_input_to_storage(body.get("body") if isinstance(body, dict) else None, v2)
        except ValueError as exc:
            raise JiraError(400, [], {"comment": str(exc)}) from None
        if not (text or "").strip():
            raise JiraError(400, [], {"comment": "Comment body can not be empty!"})
        updated = store.update_comment(c["id"], json.loads(adf) if adf else text_to_adf(text))
        return r.comment(updated, row["id"], set(q_list(request, "expand")))

    @app.delete(prefix + "/issue/{issueIdOrKey}/comment/{commentId}")
    async def delete_comment(request: Request, issueIdOrKey: str, commentId: str) -> Any:
        row = issue_or_404(issueIdOrKey)
        store.delete_comment(comment_or_404(row, commentId)["id"])
        return Response(status_code=204)
