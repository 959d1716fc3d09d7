"""Users: read, create, delete, list and search."""
from __future__ import annotations

from typing import Any

from fastapi import FastAPI, Request
from starlette.responses import Response

from ..base import USER_NOT_FOUND, Api, JiraError, JSONResponse, body_json, page_window, q_list
from ..store import NotFound


def _user_matches(u: Any, query: str) -> bool:
    """user/search's `query`: a prefix of the e-mail, the display name or one of its words."""
    q = query.lower()
    name = u["display_name"].lower()
    return (u["email"] or "").lower().startswith(q) or name.startswith(q) or any(w.startswith(q) for w in name.split())



def register_users(app: FastAPI, api: Api) -> None:
    """user (GET, POST, DELETE) and the user listings."""
    sim, store, version, prefix, v2 = api.sim, api.sim.store, api.version, api.prefix, api.v2
    ctx, issue_or_404, require_admin = api.ctx, api.issue_or_404, api.require_admin

    # --- users -------------------------------------------------------------------------
    @app.get(prefix + "/user")
    async def get_user(request: Request) -> Any:
        caller, r = ctx(request, version)
        account_id = request.query_params.get("accountId")
        if not account_id:
            raise JiraError(400, "The accountId query parameter needs to be provided")
        u = store.user(account_id)
        if u is None:
            raise JiraError(404, USER_NOT_FOUND)
        return r.user_full(u, {e.lower() for e in q_list(request, "expand")})

    @app.post(prefix + "/user")
    async def create_user(request: Request) -> Any:
        caller, r = ctx(request, version)
        require_admin(caller, "create users")
        body = await body_json(request)
        if not isinstance(body, dict):
            raise JiraError(400, "Can not deserialize the request body: expected an object.")
        email = body.get("emailAddress")
        errors = {}
        if not isinstance(email, str) or "@" not in email:
            errors["emailAddress"] = "You must specify a valid email address."
        products = body.get("products")
        if not isinstance(products, list):
            errors["products"] = "You must specify the products the user gets access to (may be empty)."
        if errors:
            raise JiraError(400, [], errors)
        existing = store.user_by_email(email)
        if existing is not None:
            if not existing["active"]:
                raise JiraError(400, f"The user with email address '{email}' exists but does not have access to Jira.")
            return JSONResponse(r.user_full(existing, set()), status_code=201)
        u = store.create_user(email, body.get("displayName") or email.split("@")[0], products=products)
        return JSONResponse(r.user_full(u, set()), status_code=201)

    @app.delete(prefix + "/user")
    async def delete_user(request: Request) -> Any:
        caller, r = ctx(request, version)
        require_admin(caller, "delete users")
        account_id = request.query_params.get("accountId")
        if not account_id:
            raise JiraError(400, "The accountId query parameter needs to be provided")
        try:
            store.remove_from_site(account_id)
        except NotFound:
            raise JiraError(404, USER_NOT_FOUND) from None
        return Response(status_code=204)

    async def list_users(request: Request) -> Any:
        caller, r = ctx(request, version)
        start, limit = page_window(request, sim.knobs, 50, 1000, invalid="startAt and maxResults must not be negative.")
        most = sim.knobs.users_listing_max
        if most:
            limit = max(0, min(limit, most - start))
        return [r.user(u) for u in store.users_page(start, limit)]

    app.add_api_route(prefix + "/users/search", list_users, methods=["GET"])
    app.add_api_route(prefix + "/users", list_users, methods=["GET"])



def register_user_search(app: FastAPI, api: Api) -> None:
    """user/search and user/assignable/search."""
    sim, store, version, prefix, v2 = api.sim, api.sim.store, api.version, api.prefix, api.v2
    ctx, issue_or_404, require_admin = api.ctx, api.issue_or_404, api.require_admin

    @app.get(prefix + "/user/search")
    async def user_search(request: Request) -> Any:
        caller, r = ctx(request, version)
        query = request.query_params.get("query")
        account_id = request.query_params.get("accountId")
        if not query and not account_id:
            raise JiraError(400, "One of 'accountId' or 'query' query parameters must be provided.")
        if query and account_id:  # the contract's 400: "`query` and `accountId` are provided"
            raise JiraError(400, "Only one of 'accountId' or 'query' query parameters can be provided.")
        start, limit = page_window(request, sim.knobs, 50, 1000)
        found = []
        for u in store.users_page(0, 10**9):
            if account_id and u["account_id"] != account_id:
                continue
            if query and not _user_matches(u, query):
                continue
            if not u["active"] and not account_id:
                continue
            found.append(u)
        found = found[:1000]  # "up to the thousandth user" (the contract): Get all users lists the rest
        return [r.user(u) for u in found[start : start + limit]]

    @app.get(prefix + "/user/assignable/search")
    async def assignable_users(request: Request) -> Any:
        """Users who can be assigned issues of a project or an issue: every active person
        (the simulator has no permission schemes); app accounts cannot be assignees."""
        caller, r = ctx(request, version)
        query = request.query_params.get("query")
        account_id = request.query_params.get("accountId")
        project_ref = request.query_params.get("project")
        issue_ref = request.query_params.get("issueKey") or request.query_params.get("issueId")
        if not (project_ref or issue_ref):
            raise JiraError(400, "One of 'project', 'issueKey' or 'issueId' query parameters must be provided.")
        if query and account_id:
            raise JiraError(400, "Only one of 'accountId' or 'query' query parameters may be provided.")
        if issue_ref:
            issue_or_404(issue_ref)
        elif store.project(project_ref) is None:
            raise JiraError(404, f"No project could be found with key '{project_ref}'.")
        start, limit = page_window(request, sim.knobs, 50, 1000, clamp_start=True, floor=0)
        found = [
            u for u in store.users_page(0, 10**9)
            if u["active"] and u["account_type"] == "atlassian"
            and (not account_id or u["account_id"] == account_id)
            and (not query or _user_matches(u, query))
        ]
        return [r.user(u) for u in found[start : start + limit]]
