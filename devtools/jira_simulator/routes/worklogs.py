"""An issue's worklogs."""
from __future__ import annotations

from typing import Any

from fastapi import FastAPI, Request
from starlette.responses import Response

from .. import model
from ..base import Api, JiraError, JSONResponse, body_json, found_or_404, page_window, parse_time
from ..render import rich_input_to_storage
from ..store import now_ms


def register_worklogs(app: FastAPI, api: Api) -> None:
    """The worklog endpoints."""
    sim, store, version, prefix, v2 = api.sim, api.sim.store, api.version, api.prefix, api.v2
    ctx, issue_or_404, require_admin = api.ctx, api.issue_or_404, api.require_admin

    # --- worklogs ---------------------------------------------------------------------
    def worklog_input(body: Any, creating: bool) -> dict[str, Any]:
        """Columns from a Worklog body; Jira's field errors when refused."""
        if not isinstance(body, dict):
            raise JiraError(400, "Can not deserialize the request body: expected an object.")
        values: dict[str, Any] = {}
        errors: dict[str, str] = {}
        spent, seconds = body.get("timeSpent"), body.get("timeSpentSeconds")
        if spent is not None and seconds is not None:
            errors["timeLogged"] = "Provide either timeSpent or timeSpentSeconds, not both."
        elif seconds is not None:
            if isinstance(seconds, bool) or not isinstance(seconds, int) or seconds <= 0:
                errors["timeLogged"] = "Time Spent must be a positive number of seconds."
            else:
                values["seconds"] = seconds
        elif spent is not None:
            parsed = model.parse_duration(spent) if isinstance(spent, str) else None
            if not parsed:
                errors["timeLogged"] = "Invalid time duration entered."
            else:
                values["seconds"] = parsed
        elif creating:
            errors["timeLogged"] = "You must indicate the time spent working."
        if "started" in body:
            try:
                values["started"] = parse_time(body["started"])
            except (ValueError, TypeError):
                errors["started"] = "Invalid date format. Please enter the date in the format \"yyyy-MM-dd'T'HH:mm:ss.SSSZ\"."
        elif creating:
            values["started"] = now_ms()  # Jira Cloud takes "now" when it is left out
        if "comment" in body:
            try:
                adf, text = rich_input_to_storage(body["comment"], v2)
            except ValueError as exc:
                errors["comment"] = str(exc)
            else:
                values["comment_adf"], values["comment_text"] = adf, text
        if errors:
            raise JiraError(400, [], errors)
        return values

    def worklog_or_404(row: Any, worklog_id: str) -> Any:
        return found_or_404(store.worklog(row["id"], worklog_id), f"Cannot find worklog with id: '{worklog_id}'.")

    @app.get(prefix + "/issue/{issueIdOrKey}/worklog")
    async def get_worklogs(request: Request, issueIdOrKey: str) -> Any:
        caller, r = ctx(request, version)
        row = issue_or_404(issueIdOrKey)
        start, limit = page_window(request, sim.knobs, 5000, 5000, invalid="startAt and maxResults must not be negative.")
        after = request.query_params.get("startedAfter")
        before = request.query_params.get("startedBefore")
        return r.worklog_page(row["id"], start, limit,
                              int(after) if after and after.isdigit() else None,
                              int(before) if before and before.isdigit() else None)

    @app.post(prefix + "/issue/{issueIdOrKey}/worklog")
    async def add_worklog(request: Request, issueIdOrKey: str) -> Any:
        caller, r = ctx(request, version)
        row = issue_or_404(issueIdOrKey)
        values = worklog_input(await body_json(request), creating=True)
        w = store.add_worklog(row["id"], caller.account_id, values["started"], values["seconds"],
                              values.get("comment_text"), values.get("comment_adf"))
        return JSONResponse(r.worklog(w), status_code=201)

    @app.get(prefix + "/issue/{issueIdOrKey}/worklog/{worklogId}")
    async def get_worklog(request: Request, issueIdOrKey: str, worklogId: str) -> Any:
        caller, r = ctx(request, version)
        return r.worklog(worklog_or_404(issue_or_404(issueIdOrKey), worklogId))

    @app.put(prefix + "/issue/{issueIdOrKey}/worklog/{worklogId}")
    async def update_worklog(request: Request, issueIdOrKey: str, worklogId: str) -> Any:
        caller, r = ctx(request, version)
        w = worklog_or_404(issue_or_404(issueIdOrKey), worklogId)
        values = worklog_input(await body_json(request), creating=False)
        values["update_author"] = caller.account_id
        return r.worklog(store.update_worklog(w["id"], values))

    @app.delete(prefix + "/issue/{issueIdOrKey}/worklog/{worklogId}")
    async def delete_worklog(request: Request, issueIdOrKey: str, worklogId: str) -> Any:
        w = worklog_or_404(issue_or_404(issueIdOrKey), worklogId)
        store.delete_worklog(w["id"])
        return Response(status_code=204)
