"""Issues: create (one or in bulk), read, edit, delete, assign, watchers, changelog, transitions."""
from __future__ import annotations

from typing import Any

from fastapi import FastAPI, Request
from starlette.responses import Response

from .. import model
from ..base import (
    BULK_CREATE_MAX, USER_NOT_FOUND, Api, Caller, JiraError, JSONResponse, body_json, page_bean,
    page_window, q_bool, q_list, resolve_fields,
)
from ..issue_input import apply_issue_input, save_change
from ..render import Renderer
from ..store import now_ms


def register_changelog(app: FastAPI, api: Api) -> None:
    """The paged changelog of an issue."""
    sim, store, version, prefix, v2 = api.sim, api.sim.store, api.version, api.prefix, api.v2
    ctx, issue_or_404, require_admin = api.ctx, api.issue_or_404, api.require_admin

    @app.get(prefix + "/issue/{issueIdOrKey}/changelog")
    async def get_changelog(request: Request, issueIdOrKey: str) -> Any:
        caller, r = ctx(request, version)
        row = issue_or_404(issueIdOrKey)
        start, limit = page_window(request, sim.knobs, 100, 100, invalid="startAt and maxResults must not be negative.")
        page = store.histories(row["id"], start, limit)
        total = store.history_count(row["id"])
        return page_bean(request, start, limit, total, [r.history(h) for h in page])



def register_issues(app: FastAPI, api: Api) -> None:
    """Create, bulk-create, read, edit and delete issues."""
    sim, store, version, prefix, v2 = api.sim, api.sim.store, api.version, api.prefix, api.v2
    ctx, issue_or_404, require_admin = api.ctx, api.issue_or_404, api.require_admin

    @app.post(prefix + "/issue")
    async def create_issue(request: Request) -> Any:
        caller, r = ctx(request, version)
        body = await body_json(request)
        return JSONResponse(insert_issue(caller, r, body), status_code=201)

    def insert_issue(caller: Caller, r: Renderer, body: Any) -> dict:
        """Create one issue from an IssueUpdateDetails body -> CreatedIssue; JiraError if refused."""
        values, labels, comments = apply_issue_input(sim, body, v2=v2, creating=True)
        values.setdefault("reporter", caller.account_id)
        values["creator"] = caller.account_id
        if values.get("resolution"):
            values["resolved"] = now_ms()
        row = store.insert_issue(values, labels or [])
        if caller.account_id:  # Jira's default "autowatch": you watch the issues you create
            store.add_watcher(row["id"], caller.account_id)
        for c in comments:
            store.add_comment(row["id"], caller.account_id, c["adf"], c["properties"])
        for prop in (body.get("properties") or []):
            if isinstance(prop, dict) and "key" in prop:
                store.put_property(row["id"], str(prop["key"]), prop.get("value"))
        key = f"{row['project_key']}-{row['num']}"
        return {"id": str(row["id"]), "key": key, "self": f"{r.api}/issue/{row['id']}"}

    @app.post(prefix + "/issue/bulk")
    async def create_issues(request: Request) -> Any:
        """Up to 50 issues; each refused one is reported by its position, the rest are created
        (201), unless all are refused (400)."""
        caller, r = ctx(request, version)
        body = await body_json(request)
        updates = body.get("issueUpdates") if isinstance(body, dict) else None
        if not isinstance(updates, list) or not updates:
            raise JiraError(400, "Nothing to create: 'issueUpdates' must list at least one issue.")
        if len(updates) > BULK_CREATE_MAX:
            raise JiraError(400, f"You can create at most {BULK_CREATE_MAX} issues in one request.")
        created, errors = [], []
        for n, update in enumerate(updates):
            try:
                created.append(insert_issue(caller, r, update))
            except JiraError as exc:
                errors.append({"status": exc.status, "elementErrors": {"errorMessages": exc.messages, "errors": exc.errors},
                               "failedElementNumber": n})
        return JSONResponse({"issues": created, "errors": errors}, status_code=201 if created else 400)

    @app.get(prefix + "/issue/{issueIdOrKey}")
    async def get_issue(request: Request, issueIdOrKey: str) -> Any:
        caller, r = ctx(request, version)
        row = issue_or_404(issueIdOrKey)
        fields = resolve_fields(q_list(request, "fields"), "*all") or []
        expand = {e.lower() for e in q_list(request, "expand")}
        return r.issue(row, fields, expand, q_list(request, "properties"), envelope=True)

    @app.put(prefix + "/issue/{issueIdOrKey}")
    async def edit_issue(request: Request, issueIdOrKey: str) -> Any:
        caller, r = ctx(request, version)
        row = issue_or_404(issueIdOrKey)
        body = await body_json(request)
        values, labels, comments = apply_issue_input(sim, body, v2=v2, creating=False, row=row)
        save_change(store, row, values, labels, comments, caller.account_id)
        if q_bool(request, "returnIssue", False):
            return r.issue(store.issue_row(str(row["id"])), model.all_field_ids(), set(), [])
        return Response(status_code=204)

    @app.delete(prefix + "/issue/{issueIdOrKey}")
    async def delete_issue(request: Request, issueIdOrKey: str) -> Any:
        caller, r = ctx(request, version)
        row = issue_or_404(issueIdOrKey)
        require_admin(caller, "delete issues in this project")
        store.delete_issue(row["id"])  # the simulator has no subtasks: nothing else to check
        return Response(status_code=204)



def register_assignee_watchers(app: FastAPI, api: Api) -> None:
    """An issue's assignee and watchers."""
    sim, store, version, prefix, v2 = api.sim, api.sim.store, api.version, api.prefix, api.v2
    ctx, issue_or_404, require_admin = api.ctx, api.issue_or_404, api.require_admin

    @app.put(prefix + "/issue/{issueIdOrKey}/assignee")
    async def assign_issue(request: Request, issueIdOrKey: str) -> Any:
        caller, r = ctx(request, version)
        row = issue_or_404(issueIdOrKey)
        body = await body_json(request)
        if not isinstance(body, dict) or "accountId" not in body:
            # `name`/`key` are gone from Jira Cloud (GDPR): only accountId identifies a user
            raise JiraError(400, [], {"assignee": "accountId must be provided (name and key are no longer supported)."})
        account_id = body["accountId"]
        if account_id == "-1":  # automatic: the project's default assignee (its lead)
            account_id = store.project(row["project_key"])["lead"]
        if account_id is not None:
            u = store.user(str(account_id))
            if u is None or not u["active"]:
                raise JiraError(400, [], {"assignee": f"User '{account_id}' cannot be assigned issues."})
        save_change(store, row, {"assignee": account_id}, None, [], caller.account_id)
        return Response(status_code=204)

    @app.get(prefix + "/issue/{issueIdOrKey}/watchers")
    async def get_watchers(request: Request, issueIdOrKey: str) -> Any:
        caller, r = ctx(request, version)
        return r.watchers(issue_or_404(issueIdOrKey))

    @app.post(prefix + "/issue/{issueIdOrKey}/watchers")
    async def add_watcher(request: Request, issueIdOrKey: str) -> Any:
        caller, r = ctx(request, version)
        row = issue_or_404(issueIdOrKey)
        body = await body_json(request, required=False)  # a JSON string: the accountId
        if body is None:
            body = caller.account_id  # no body: the caller starts watching
        if not isinstance(body, str) or not body:
            raise JiraError(400, "The request body must be the account ID of the user, as a JSON string.")
        if store.user(body) is None:  # also what a username or e-mail finds (GDPR)
            raise JiraError(404, USER_NOT_FOUND)
        store.add_watcher(row["id"], body)
        return Response(status_code=204)

    @app.delete(prefix + "/issue/{issueIdOrKey}/watchers")
    async def remove_watcher(request: Request, issueIdOrKey: str) -> Any:
        caller, r = ctx(request, version)
        row = issue_or_404(issueIdOrKey)
        account_id = request.query_params.get("accountId")
        if not account_id:
            raise JiraError(400, "The accountId query parameter needs to be provided")
        if store.user(account_id) is None:
            raise JiraError(404, USER_NOT_FOUND)
        store.remove_watcher(row["id"], account_id)
        return Response(status_code=204)



def register_transitions(app: FastAPI, api: Api) -> None:
    """An issue's transitions."""
    sim, store, version, prefix, v2 = api.sim, api.sim.store, api.version, api.prefix, api.v2
    ctx, issue_or_404, require_admin = api.ctx, api.issue_or_404, api.require_admin

    @app.get(prefix + "/issue/{issueIdOrKey}/transitions")
    async def get_transitions(request: Request, issueIdOrKey: str) -> Any:
        caller, r = ctx(request, version)
        row = issue_or_404(issueIdOrKey)
        transitions = r.transitions(row)
        wanted = request.query_params.get("transitionId")
        if wanted:
            transitions = [t for t in transitions if t["id"] == wanted]
        return {"expand": "transitions", "transitions": transitions}

    @app.post(prefix + "/issue/{issueIdOrKey}/transitions")
    async def do_transition(request: Request, issueIdOrKey: str) -> Any:
        caller, r = ctx(request, version)
        row = issue_or_404(issueIdOrKey)
        body = await body_json(request)
        if not isinstance(body, dict) or not isinstance(body.get("transition"), dict) or not body["transition"].get("id"):
            raise JiraError(400, "Missing 'transition' identifier")
        fields_in, update_in = body.get("fields"), body.get("update")
        if isinstance(fields_in, dict) and isinstance(update_in, dict) and set(fields_in) & set(update_in):
            # the contract's 400: "a field is specified in both `fields` and `update`"
            raise JiraError(400, [], {f: f"Field '{f}' cannot appear in both 'fields' and 'update'"
                                      for f in sorted(set(fields_in) & set(update_in))})
        tid = str(body["transition"]["id"])
        workflow = store.project(row["project_key"])["workflow"]
        transition = next((t for t in model.WORKFLOWS[workflow] if t.id == tid and t.to != row["status"]), None)
        if transition is None:
            raise JiraError(400, f"Transition id '{tid}' is not valid for this issue.")
        values, labels, comments = apply_issue_input(sim, {k: v for k, v in body.items() if k in ("fields", "update")}, v2=v2, creating=False, row=row)
        now = now_ms()
        values["status"] = transition.to
        values["status_changed"] = now
        if model.STATUS_BY_NAME[transition.to].category == "done":
            values["resolution"] = values.get("resolution") or "Done"
            values["resolved"] = now
        else:
            values["resolution"] = None
            values["resolved"] = None
        values["updated"] = now
        save_change(store, row, values, labels, comments, caller.account_id)
        return Response(status_code=204)
