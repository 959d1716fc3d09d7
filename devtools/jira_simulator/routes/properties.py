"""Issue and comment (entity) properties."""
from __future__ import annotations

import json
from typing import Any

from fastapi import FastAPI, Request
from starlette.responses import Response

from ..base import Api, JiraError
from ..store import NotFound


def register_properties(app: FastAPI, api: Api) -> None:
    """The issue property endpoints, and the comment property read."""
    sim, store, version, prefix, v2 = api.sim, api.sim.store, api.version, api.prefix, api.v2
    ctx, issue_or_404, require_admin = api.ctx, api.issue_or_404, api.require_admin

    # --- issue properties --------------------------------------------------------------
    @app.get(prefix + "/issue/{issueIdOrKey}/properties")
    async def list_properties(request: Request, issueIdOrKey: str) -> Any:
        caller, r = ctx(request, version)
        row = issue_or_404(issueIdOrKey)
        return {"keys": [
            {"self": f"{r.api}/issue/{row['id']}/properties/{k}", "key": k}
            for k in store.property_keys(row["id"])
        ]}

    @app.get(prefix + "/issue/{issueIdOrKey}/properties/{propertyKey}")
    async def get_property(request: Request, issueIdOrKey: str, propertyKey: str) -> Any:
        row = issue_or_404(issueIdOrKey)
        try:
            return {"key": propertyKey, "value": store.get_property(row["id"], propertyKey)}
        except NotFound:
            raise JiraError(404, f"The property with key '{propertyKey}' does not exist.") from None

    @app.put(prefix + "/issue/{issueIdOrKey}/properties/{propertyKey}")
    async def put_property(request: Request, issueIdOrKey: str, propertyKey: str) -> Any:
        row = issue_or_404(issueIdOrKey)
        raw = await request.body()
        if len(propertyKey) > 255:
            raise JiraError(400, "The property key cannot be longer than 255 characters.")
        if len(raw) > 32768:
            raise JiraError(400, "The property value cannot be longer than 32768 characters.")
        try:
            value = json.loads(raw)
        except ValueError:
            raise JiraError(400, "The property value has to be a valid JSON.") from None
        created = store.put_property(row["id"], propertyKey, value)
        return Response(status_code=201 if created else 200)

    @app.delete(prefix + "/issue/{issueIdOrKey}/properties/{propertyKey}")
    async def delete_property(request: Request, issueIdOrKey: str, propertyKey: str) -> Any:
        row = issue_or_404(issueIdOrKey)
        if not store.delete_property(row["id"], propertyKey):
            raise JiraError(404, f"The property with key '{propertyKey}' does not exist.")
        return Response(status_code=204)

    # --- comment properties (read: the connector reads one when a listing did not embed them)
    @app.get(prefix + "/comment/{commentId}/properties/{propertyKey}")
    async def get_comment_property(request: Request, commentId: str, propertyKey: str) -> Any:
        ctx(request, version)
        props = store.comment_properties(commentId)
        if props is None:
            raise JiraError(404, f"Can not find a comment for the id: {commentId}.")
        for prop in props:
            if isinstance(prop, dict) and prop.get("key") == propertyKey:
                return {"key": propertyKey, "value": prop.get("value")}
        raise JiraError(404, f"The property with key '{propertyKey}' does not exist.")
