"""The simulator's own /_admin/ API: knobs, faults, statistics, reset, and seeding data
(issues, users, groups) without Jira's validation."""
from __future__ import annotations

import json
from typing import Any

from fastapi import FastAPI, Request
from starlette.responses import Response

from . import model
from .base import (
    GROUP_NOT_FOUND, ISSUE_NOT_FOUND, USER_NOT_FOUND, JiraError, JSONResponse, Simulator, body_json, found_or_404,
    parse_time,
)
from .issue_input import save_change
from .knobs import Fault
from .render import is_adf_value
from .store import Account, Conflict, NotFound, Store, adf_to_text, text_to_adf


def admin_issue_values(store: Store, body: dict, creating: bool) -> tuple[dict[str, Any], list[str] | None]:
    """Column values (and labels) of an admin API issue body: names, account ids, times as ms or ISO."""
    values: dict[str, Any] = {}
    if "project" in body:
        p = store.project(str(body["project"]))
        if p is None:
            raise JiraError(400, f"Unknown project '{body['project']}'")
        values["project_key"] = p["key"]
    for key, resolver in (("status", store.resolve_status), ("issuetype", store.resolve_issuetype), ("priority", store.resolve_priority), ("resolution", store.resolve_resolution)):
        if key in body:
            if body[key] is None and key in ("priority", "resolution"):
                values[key] = None
                continue
            name = resolver(str(body[key]))
            if name is None:
                raise JiraError(400, f"Unknown {key} '{body[key]}'")
            values[key] = name
    if "summary" in body:
        values["summary"] = str(body["summary"])
    for key, col in (("description", "description"), ("environment", "environment")):
        if key in body:
            v = body[key]
            if is_adf_value(v):
                text, adf = adf_to_text(v), json.dumps(v)
            else:
                text, adf = (None if v is None else str(v)), None
            if key == "description":
                values["description_text"], values["description_adf"] = text, adf
            else:
                values["environment"] = text
    for key in ("assignee", "reporter"):
        if key in body:
            if body[key] is not None and store.user(body[key]) is None:
                raise JiraError(400, f"Unknown user '{body[key]}'")
            values[key] = body[key]
    for key, col in (("created", "created"), ("updated", "updated"), ("resolved", "resolved"), ("resolutiondate", "resolved")):
        if key in body:
            values[col] = None if body[key] is None else parse_time(body[key])
    if "fields" in body and isinstance(body["fields"], dict):
        values["extra"] = json.dumps(body["fields"]) if body["fields"] else None
    if creating:
        values.setdefault("project_key", store.project_rows()[0]["key"])
        values.setdefault("summary", "Issue created through the admin API")
    if "status" in values:
        cat = model.STATUS_BY_NAME[values["status"]].category
        if cat == "done":
            values.setdefault("resolution", "Done")
        else:
            values.setdefault("resolution", None)
            values.setdefault("resolved", None)
    return values, body.get("labels")


def issue_ref(row: Any) -> dict:
    return {"id": str(row["id"]), "key": f"{row['project_key']}-{row['num']}", "updated": row["updated"], "created": row["created"]}


def register_admin(app: FastAPI, sim: Simulator) -> None:
    """The whole /_admin/ API."""
    _register_admin_knobs(app, sim)
    _register_admin_data(app, sim)


def _apply_config(sim: Simulator, body: Any) -> None:
    """PUT /_admin/config: set the knobs the body names (400 naming a value out of range)."""
    if "latency_ms" in body:
        sim.knobs.latency_ms = int(body["latency_ms"])
    if "rate_limit_per_second" in body:
        sim.knobs.rate_limit_per_second = int(body["rate_limit_per_second"] or 0)
    if "max_results_cap" in body:
        sim.knobs.max_results_cap = max(0, int(body["max_results_cap"] or 0))
    if "search_lag_seconds" in body:
        lag = float(body["search_lag_seconds"] or 0)
        if not 0 <= lag <= 3600:
            raise JiraError(400, "search_lag_seconds must be between 0 and 3600")
        sim.knobs.search_lag_seconds = lag
    if "bulkfetch_max" in body:
        cap = body["bulkfetch_max"] or 0
        if isinstance(cap, bool) or not isinstance(cap, int) or not 0 <= cap <= 1000:
            raise JiraError(400, "bulkfetch_max must be a whole number from 0 (Jira's rule) to 1000")
        sim.knobs.bulkfetch_max = cap
    if "bulkfetch_silent" in body:
        sim.knobs.bulkfetch_silent = bool(body["bulkfetch_silent"])
    if "bulkfetch_missing_errors" in body:
        sim.knobs.bulkfetch_missing_errors = bool(body["bulkfetch_missing_errors"])
    if "project_search_empty_page" in body:
        sim.knobs.project_search_empty_page = bool(body["project_search_empty_page"])
    if "users_listing_max" in body:
        most = body["users_listing_max"] or 0
        if isinstance(most, bool) or not isinstance(most, int) or most < 0:
            raise JiraError(400, "users_listing_max must be a whole number, 0 (everyone) or more")
        sim.knobs.users_listing_max = most
    if "clock_offset_seconds" in body:
        offset = body["clock_offset_seconds"] or 0
        if isinstance(offset, bool) or not isinstance(offset, (int, float)) or abs(offset) > 366 * 86400:
            raise JiraError(400, "clock_offset_seconds must be a number of seconds within a year either way")
        sim.knobs.set_clock_offset(offset)


def _register_admin_knobs(app: FastAPI, sim: Simulator) -> None:
    """Health, configuration knobs, faults, statistics, reset and accounts."""
    store = sim.store

    @app.get("/_admin/health")
    async def health() -> Any:
        return {"status": "ok", "issues": store.conn.execute("SELECT COUNT(*) FROM issues").fetchone()[0]}

    @app.get("/_admin/config")
    async def get_config() -> Any:
        return sim.knobs.config()

    @app.put("/_admin/config")
    async def put_config(request: Request) -> Any:
        _apply_config(sim, await body_json(request))
        return sim.knobs.config()

    @app.get("/_admin/faults")
    async def get_faults() -> Any:
        return [f.as_dict() for f in sim.knobs.faults]

    @app.post("/_admin/faults")
    async def add_fault(request: Request) -> Any:
        body = await body_json(request)
        ftype = body.get("type", "status")
        if ftype not in ("status", "reset", "slow", "drop_after", "empty"):
            raise JiraError(400, "type must be one of status, reset, slow, drop_after, empty")
        fault = Fault(
            type=ftype, count=int(body.get("count", 1)), status=int(body.get("status", 503)),
            retry_after=body.get("retry_after"), delay_ms=int(body.get("delay_ms", 0)),
            path=body.get("path"), method=body.get("method"), after=int(body.get("after", 0)),
        )
        sim.knobs.faults.append(fault)
        return JSONResponse(fault.as_dict(), status_code=201)

    @app.delete("/_admin/faults")
    async def clear_faults() -> Any:
        sim.knobs.faults.clear()
        return Response(status_code=204)

    @app.get("/_admin/stats")
    async def get_stats() -> Any:
        return sim.stats.snapshot()

    @app.get("/_admin/stats/arrivals")
    async def get_arrivals() -> Any:
        return sim.stats.arrival_times()

    @app.delete("/_admin/stats")
    async def clear_stats() -> Any:
        sim.stats.reset()
        return Response(status_code=204)

    @app.post("/_admin/reset")
    async def reset(request: Request) -> Any:
        body = await body_json(request, required=False) or {}
        if body.get("data", True):
            store.reset()
            for account in sim.accounts.values():  # accounts added at run time keep their user
                if store.user(account.account_id) is None:
                    store.create_user(account.email, account.email.split("@")[0], account_id=account.account_id, time_zone=account.time_zone)
        if body.get("knobs", True):
            sim.knobs.reset(*sim.default_knobs)
        if body.get("stats", True):
            sim.stats.reset()
        return {"status": "reset"}

    @app.post("/_admin/accounts")
    async def add_account(request: Request) -> Any:
        body = await body_json(request)
        account = Account(body["email"], body["token"], body.get("timeZone", "Europe/Helsinki"), bool(body.get("admin", True)))
        sim.accounts[account.email.lower()] = account
        if store.user(account.account_id) is None:
            store.create_user(account.email, account.email.split("@")[0], account_id=account.account_id, time_zone=account.time_zone)
        else:
            store.update_user(account.account_id, {"time_zone": account.time_zone})
        return JSONResponse({"email": account.email, "accountId": account.account_id, "timeZone": account.time_zone, "admin": account.admin}, status_code=201)


def _register_admin_data(app: FastAPI, sim: Simulator) -> None:
    """Issues, users, groups and memberships, as someone else (or a migration) makes them."""
    _register_admin_issues(app, sim)
    _register_admin_people(app, sim)


def _register_admin_issues(app: FastAPI, sim: Simulator) -> None:
    """Create, edit, move and delete issues."""
    store = sim.store

    @app.post("/_admin/issues")
    async def admin_create_issue(request: Request) -> Any:
        body = await body_json(request)
        values, labels = admin_issue_values(store, body, creating=True)
        row = store.insert_issue(values, labels or [])
        for c in body.get("comments") or []:
            store.add_comment(row["id"], c.get("author"), c["body"] if is_adf_value(c.get("body")) else text_to_adf(str(c.get("body", ""))), None, created=parse_time(c["created"]) if c.get("created") else None)
        if "updated" in values:  # comments touch `updated`; an explicit value wins
            store.update_issue(row["id"], {"updated": values["updated"]}, touch=False)
        return JSONResponse(issue_ref(store.issue_row(str(row["id"]))), status_code=201)

    @app.patch("/_admin/issues/{key}")
    async def admin_update_issue(request: Request, key: str) -> Any:
        row = found_or_404(store.issue_row(key), ISSUE_NOT_FOUND)
        body = await body_json(request)
        values, labels = admin_issue_values(store, body, creating=False)
        values.pop("project_key", None)
        # Jira changed "by someone else": the changelog shows it
        save_change(store, row, values, labels, [], body.get("author"))
        return issue_ref(store.issue_row(str(row["id"])))

    @app.post("/_admin/issues/{key}/move")
    async def admin_move_issue(request: Request, key: str) -> Any:
        """Move an issue to another project (``{"project": "OPS"}``), as Jira's Move does."""
        row = found_or_404(store.issue_row(key), ISSUE_NOT_FOUND)
        body = await body_json(request)
        target = body.get("project") if isinstance(body, dict) else None
        if not target:
            raise JiraError(400, "Name the project to move the issue to: {\"project\": \"OPS\"}")
        try:
            moved = store.move_issue(row["id"], str(target))
        except NotFound:
            raise JiraError(400, f"Unknown project '{target}'") from None
        except Conflict as exc:
            raise JiraError(400, f"Issue {key} cannot be moved to {target}: {exc}") from None
        return issue_ref(moved)

    @app.delete("/_admin/issues/{key}")
    async def admin_delete_issue(key: str) -> Any:
        row = found_or_404(store.issue_row(key), ISSUE_NOT_FOUND)
        store.delete_issue(row["id"])
        return Response(status_code=204)


def _register_admin_people(app: FastAPI, sim: Simulator) -> None:
    """Users, groups and memberships."""
    store = sim.store

    @app.post("/_admin/users")
    async def admin_create_user(request: Request) -> Any:
        body = await body_json(request)
        u = store.create_user(
            body.get("email"), body.get("displayName") or (body.get("email") or "user").split("@")[0],
            account_id=body.get("accountId"), active=bool(body.get("active", True)),
            account_type=body.get("accountType", "atlassian"), time_zone=body.get("timeZone", "Europe/Helsinki"),
            products=body.get("products", ["jira-software"]), email_visible=bool(body.get("emailVisible", True)),
        )
        return JSONResponse({"accountId": u["account_id"]}, status_code=201)

    @app.patch("/_admin/users/{account_id}")
    async def admin_update_user(request: Request, account_id: str) -> Any:
        body = await body_json(request)
        mapping = {"email": "email", "displayName": "display_name", "active": "active", "timeZone": "time_zone",
                   "accountType": "account_type", "emailVisible": "email_visible"}
        flags = ("active", "emailVisible")
        values = {mapping[k]: (int(v) if k in flags else v) for k, v in body.items() if k in mapping}
        try:
            u = store.update_user(account_id, values)
        except NotFound:
            raise JiraError(404, USER_NOT_FOUND) from None
        return {"accountId": u["account_id"]}

    @app.delete("/_admin/users/{account_id}")
    async def admin_delete_user(account_id: str) -> Any:
        try:
            store.delete_user(account_id)
        except NotFound:
            raise JiraError(404, USER_NOT_FOUND) from None
        return Response(status_code=204)

    @app.post("/_admin/groups")
    async def admin_create_group(request: Request) -> Any:
        body = await body_json(request)
        try:
            g = store.create_group(body["name"], body.get("groupId"))
        except Conflict:
            raise JiraError(400, "A group with that name already exists.") from None
        return JSONResponse({"groupId": g["group_id"], "name": g["name"]}, status_code=201)

    @app.delete("/_admin/groups/{group_id}")
    async def admin_delete_group(group_id: str) -> Any:
        if store.group(group_id=group_id) is None:
            raise JiraError(404, GROUP_NOT_FOUND)
        store.delete_group(group_id)
        return Response(status_code=204)

    @app.put("/_admin/groups/{group_id}/members/{account_id}")
    async def admin_add_member(group_id: str, account_id: str) -> Any:
        if store.group(group_id=group_id) is None:
            raise JiraError(404, GROUP_NOT_FOUND)
        if store.user(account_id) is None:
            raise JiraError(404, USER_NOT_FOUND)
        store.add_member(group_id, account_id)
        return Response(status_code=204)

    @app.delete("/_admin/groups/{group_id}/members/{account_id}")
    async def admin_remove_member(group_id: str, account_id: str) -> Any:
        if not store.remove_member(group_id, account_id):
            raise JiraError(404, "Not a member")
        return Response(status_code=204)
