"""Attachments: upload to an issue, metadata, content, delete."""
from __future__ import annotations

from typing import Any

from fastapi import FastAPI, Request
from starlette.responses import Response

from .. import model
from ..base import Api, JiraError, found_or_404, q_bool


def register_attachments(app: FastAPI, api: Api) -> None:
    """The attachment endpoints."""
    sim, store, version, prefix, v2 = api.sim, api.sim.store, api.version, api.prefix, api.v2
    ctx, issue_or_404, require_admin = api.ctx, api.issue_or_404, api.require_admin

    # --- attachments -------------------------------------------------------------------
    def attachment_or_404(attachment_id: str) -> Any:
        return found_or_404(store.attachment(attachment_id), f"The attachment with id '{attachment_id}' does not exist.")

    @app.post(prefix + "/issue/{issueIdOrKey}/attachments")
    async def add_attachments(request: Request, issueIdOrKey: str) -> Any:
        caller, r = ctx(request, version)
        row = issue_or_404(issueIdOrKey)
        if request.headers.get("x-atlassian-token", "").lower() != "no-check":
            # multipart posts need Jira's XSRF opt-out header
            raise JiraError(403, "XSRF check failed")
        if not request.headers.get("content-type", "").lower().startswith("multipart/form-data"):
            raise JiraError(415, "The request must be multipart/form-data with one or more 'file' parts.")
        form = await request.form(max_files=60)
        files = [f for f in form.getlist("file") if hasattr(f, "read")]
        if not files:
            raise JiraError(400, "No 'file' part found in the multipart request.")
        out = []
        for f in files:
            content = await f.read()
            if len(content) > model.ATTACHMENT_MAX_BYTES:
                raise JiraError(413, f"The attachment '{f.filename}' is larger than {model.ATTACHMENT_MAX_BYTES} bytes.")
            mime = f.content_type or "application/octet-stream"
            out.append(r.attachment(store.add_attachment(row["id"], caller.account_id, f.filename or "file", mime, content)))
        return out

    @app.get(prefix + "/attachment/{attachmentId}")
    async def get_attachment(request: Request, attachmentId: str) -> Any:
        caller, r = ctx(request, version)
        # AttachmentMetadata: a numeric id and the properties map (an issue's Attachment: id string)
        return {**r.attachment(attachment_or_404(attachmentId)), "id": int(attachmentId), "properties": {}}

    @app.delete(prefix + "/attachment/{attachmentId}")
    async def delete_attachment(request: Request, attachmentId: str) -> Any:
        store.delete_attachment(attachment_or_404(attachmentId)["id"])
        return Response(status_code=204)

    @app.get(prefix + "/attachment/content/{attachmentId}")
    async def attachment_content(request: Request, attachmentId: str) -> Any:
        a = attachment_or_404(attachmentId)
        if q_bool(request, "redirect", True):  # Jira Cloud: 303 to the download (media) URL
            return Response(status_code=303, headers={"Location": str(request.url.include_query_params(redirect="false"))})
        return Response(store.attachment_content(a["id"]), media_type=a["mime_type"],
                        headers={"Content-Disposition": f"attachment; filename=\"{a['filename']}\""})
