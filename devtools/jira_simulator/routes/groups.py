"""Groups and their members."""
from __future__ import annotations

import re
from html import escape as html_escape
from typing import Any

from fastapi import FastAPI, Request
from starlette.responses import Response

from ..base import (
    GROUP_NOT_FOUND, GROUP_PICKER_DEFAULT, GROUP_PICKER_LIMIT, GROUP_USERS_PAGE, USER_NOT_FOUND,
    Api, JiraError, JSONResponse, body_json, page_bean, page_window, q_bool, q_int,
)
from ..store import Conflict, Store


_USERS_EXPAND = re.compile(r"(?:^|,)\s*users(?:\[(\d+):(\d+)\])?\s*(?:,|$)")


def _users_expand_window(expand: str) -> tuple[int, int] | None:
    """``users`` -> (0, 49); ``users[51:100]`` -> (51, 100) (inclusive); absent -> None."""
    m = _USERS_EXPAND.search(expand or "")
    if m is None:
        return None
    if m.group(1) is None:
        return 0, GROUP_USERS_PAGE - 1
    return int(m.group(1)), int(m.group(2))



def group_from_params(store: Store, request: Request, required: bool = True) -> Any:
    """The group a request's groupId / groupname (groupName) names; 400 or 404 otherwise."""
    gid = request.query_params.get("groupId")
    name = request.query_params.get("groupname") or request.query_params.get("groupName")
    if gid is None and name is None:
        if not required:
            return None
        raise JiraError(400, "You must specify the group name or the group ID.")
    g = store.group(group_id=gid) if gid else store.group(name=name)
    if g is None:
        raise JiraError(404, GROUP_NOT_FOUND)
    return g


def register_groups(app: FastAPI, api: Api) -> None:
    """A group, the group picker, creating and deleting groups."""
    sim, store, version, prefix, v2 = api.sim, api.sim.store, api.version, api.prefix, api.v2
    ctx, issue_or_404, require_admin = api.ctx, api.issue_or_404, api.require_admin

    @app.get(prefix + "/group")
    async def get_group(request: Request) -> Any:
        """Deprecated (use group/member) but still served by Jira Cloud: the group with its
        members as a PagedList, 50 at most, more through ``expand=users[start:end]``."""
        caller, r = ctx(request, version)
        g = group_from_params(store, request)
        out = r.group(g)
        expand = ",".join(request.query_params.getlist("expand"))
        window = _users_expand_window(expand)
        if window is not None:
            members = store.members(g["group_id"], include_inactive=True)
            first, last = window
            last = min(last, first + sim.knobs.page_limit(GROUP_USERS_PAGE, GROUP_USERS_PAGE) - 1, len(members) - 1)
            page = members[first : last + 1] if last >= first else []
            out["users"] = {
                "size": len(members), "items": [r.user(u, details=True) for u in page],
                "max-results": GROUP_USERS_PAGE, "start-index": first,
                "end-index": first + len(page) - 1 if page else 0,
            }
        return out

    @app.get(prefix + "/groups/picker")
    async def groups_picker(request: Request) -> Any:
        caller, r = ctx(request, version)
        query = request.query_params.get("query") or ""
        insensitive = q_bool(request, "caseInsensitive", False)
        limit = q_int(request, "maxResults", GROUP_PICKER_DEFAULT)
        limit = max(0, min(limit, GROUP_PICKER_LIMIT))
        excluded = set(request.query_params.getlist("exclude"))
        excluded_ids = set(request.query_params.getlist("excludeId"))
        rows, _ = store.groups_page(0, 10**9)
        needle = query.lower() if insensitive else query
        found = []
        for g in sorted(rows, key=lambda g: g["name"].lower()):
            name = g["name"]
            if name in excluded or g["group_id"] in excluded_ids:
                continue
            at = (name.lower() if insensitive else name).find(needle)
            if at < 0:
                continue
            html = html_escape(name[:at]) + "<b>" + html_escape(name[at : at + len(query)]) + "</b>" + html_escape(name[at + len(query):]) if query else html_escape(name)
            found.append({"name": name, "html": html, "labels": [], "groupId": g["group_id"]})
        if caller.account is None:  # anonymous callers get an empty list
            found = []
        shown = found[:limit]
        return {"header": f"Showing {len(shown)} of {len(found)} matching groups", "total": len(found), "groups": shown}

    @app.post(prefix + "/group")
    async def create_group(request: Request) -> Any:
        caller, r = ctx(request, version)
        require_admin(caller, "create groups")
        body = await body_json(request)
        name = body.get("name") if isinstance(body, dict) else None
        if not isinstance(name, str) or not name.strip():
            raise JiraError(400, "You must specify a valid group name.")
        try:
            g = store.create_group(name.strip())
        except Conflict:
            raise JiraError(400, "A group with that name already exists.") from None
        return JSONResponse(r.group(g), status_code=201)

    @app.delete(prefix + "/group")
    async def delete_group(request: Request) -> Any:
        caller, r = ctx(request, version)
        require_admin(caller, "delete groups")
        g = group_from_params(store, request)
        store.delete_group(g["group_id"])
        return Response(status_code=200)



def register_group_members(app: FastAPI, api: Api) -> None:
    """Groups in bulk, a group's members, adding and removing them."""
    sim, store, version, prefix, v2 = api.sim, api.sim.store, api.version, api.prefix, api.v2
    ctx, issue_or_404, require_admin = api.ctx, api.issue_or_404, api.require_admin

    @app.get(prefix + "/group/bulk")
    async def group_bulk(request: Request) -> Any:
        caller, r = ctx(request, version)
        start, limit = page_window(request, sim.knobs, 50, 1000, invalid="startAt must be >= 0 and maxResults must be > 0.",
                                   min_limit=1)
        ids = request.query_params.getlist("groupId")
        names = request.query_params.getlist("groupName")
        rows, total = store.groups_page(start, limit, ids, names)
        return page_bean(request, start, limit, total, [{"name": g["name"], "groupId": g["group_id"]} for g in rows])

    @app.get(prefix + "/group/member")
    async def group_members(request: Request) -> Any:
        caller, r = ctx(request, version)
        g = group_from_params(store, request)
        start, limit = page_window(
            request, sim.knobs, 50, 50, invalid="startAt must be >= 0 and maxResults must be between 1 and 50.", min_limit=1)
        members = store.members(g["group_id"], q_bool(request, "includeInactiveUsers", False))
        page = [r.user(u, details=True) for u in members[start : start + limit]]
        return page_bean(request, start, limit, len(members), page)

    @app.post(prefix + "/group/user")
    async def add_group_user(request: Request) -> Any:
        caller, r = ctx(request, version)
        require_admin(caller, "add users to groups")
        g = group_from_params(store, request)
        body = await body_json(request)
        account_id = body.get("accountId") if isinstance(body, dict) else None
        if not account_id and isinstance(body, dict) and body.get("name"):
            # `name` (username) is gone from Jira Cloud (GDPR): no user is found by it
            raise JiraError(404, USER_NOT_FOUND)
        if not account_id:
            raise JiraError(400, "You must specify the accountId of the user.")
        if store.user(account_id) is None:
            raise JiraError(404, USER_NOT_FOUND)
        if not store.add_member(g["group_id"], account_id):
            raise JiraError(400, f"Cannot add user. User is already a member of '{g['name']}'")
        return JSONResponse(r.group(g), status_code=201)

    @app.delete(prefix + "/group/user")
    async def remove_group_user(request: Request) -> Any:
        caller, r = ctx(request, version)
        require_admin(caller, "remove users from groups")
        g = group_from_params(store, request)
        account_id = request.query_params.get("accountId")
        if not account_id and request.query_params.get("username"):
            # `username` is gone from Jira Cloud (GDPR): no user is found by it
            raise JiraError(404, USER_NOT_FOUND)
        if not account_id:
            raise JiraError(400, "The accountId query parameter needs to be provided")
        if store.user(account_id) is None:
            raise JiraError(404, USER_NOT_FOUND)
        if not store.remove_member(g["group_id"], account_id):
            raise JiraError(400, f"Cannot remove user. User is not a member of '{g['name']}'")
        return Response(status_code=200)
