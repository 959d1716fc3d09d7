"""Server, identity and site metadata: what clients look up before creating or transitioning."""
from __future__ import annotations

import re
from typing import Any

from fastapi import FastAPI, Request

from .. import model
from ..base import USER_NOT_FOUND, Api, JiraError, body_json, page_bean, page_window, q_list
from ..render import Renderer
from ..store import Conflict, now_ms


def register_identity(app: FastAPI, api: Api) -> None:
    """serverInfo, myself and the field list."""
    sim, store, version, prefix, v2 = api.sim, api.sim.store, api.version, api.prefix, api.v2
    ctx, issue_or_404, require_admin = api.ctx, api.issue_or_404, api.require_admin

    # --- server / identity -------------------------------------------------------------
    @app.get(prefix + "/serverInfo")
    async def server_info(request: Request) -> Any:
        caller, r = ctx(request, version)
        return {
            "baseUrl": r.base, "displayUrl": r.base, "version": "1001.0.0-SNAPSHOT",
            "versionNumbers": [1001, 0, 0], "deploymentType": "Cloud", "buildNumber": 100290,
            "buildDate": "2025-11-20T00:00:00.000+0000", "serverTime": r.date(now_ms()),
            "scmInfo": "57a0ca5b0f8b3e4e9f0c1b0ad5c1e1f1d9a6c2e3", "serverTitle": "Jira",
        }

    @app.get(prefix + "/myself")
    async def myself(request: Request) -> Any:
        caller, r = ctx(request, version)
        u = store.user(caller.account_id)
        if u is None:
            raise JiraError(404, USER_NOT_FOUND)
        return r.user_full(u, {e.strip().lower() for e in q_list(request, "expand")})

    @app.get(prefix + "/field")
    async def fields(request: Request) -> Any:
        out = []
        for fid, (name, schema, navigable, orderable, searchable, clauses) in model.SYSTEM_FIELDS.items():
            item: dict[str, Any] = {
                "id": fid, "key": fid, "name": name, "custom": False, "orderable": orderable,
                "navigable": navigable, "searchable": searchable, "clauseNames": clauses,
            }
            if schema:
                item["schema"] = schema
            out.append(item)
        for fid, (name, schema, _kind) in model.CUSTOM_FIELDS.items():
            out.append({
                "id": fid, "key": fid, "name": name, "custom": True, "orderable": True,
                "navigable": True, "searchable": True,
                "clauseNames": [f"cf[{fid.split('_')[1]}]", name], "schema": schema,
            })
        return out


def _project_full(store: Any, r: Renderer, p: Any) -> dict:
    """A project as GET project/{projectIdOrKey} shows it."""
    out = r.project(p["key"])
    out.update({
        "description": "", "style": "classic" if not out["simplified"] else "next-gen",
        "isPrivate": False, "lead": r.user(store.user(p["lead"]), details=True) or {},
        "issueTypes": [r.issuetype(t["name"]) for t in model.ISSUE_TYPES],
    })
    return out


def register_project_edits(app: FastAPI, api: Api) -> None:
    """Changing a project (its key: the simulator keeps the rest as seeded)."""
    store, version, prefix = api.sim.store, api.version, api.prefix
    ctx, require_admin = api.ctx, api.require_admin

    @app.put(prefix + "/project/{projectIdOrKey}")
    async def update_project(request: Request, projectIdOrKey: str) -> Any:
        """Change a project's key (other details are not simulated). It needs the Administer
        Jira permission; the old project key and issue keys stay aliases, as in Jira."""
        caller, r = ctx(request, version)
        p = store.project(projectIdOrKey, exact=True)
        if p is None:
            raise JiraError(404, f"No project could be found with key '{projectIdOrKey}'.")
        body = await body_json(request)
        if not isinstance(body, dict):
            raise JiraError(400, "Can not deserialize the request body: expected an object.")
        unsupported = sorted(set(body) - {"key"})
        if unsupported:
            raise JiraError(400, f"The simulator changes only a project's key, not: {', '.join(unsupported)}.")
        if "key" in body:
            require_admin(caller, "change a project key")
            key = body["key"]
            if not isinstance(key, str) or not re.fullmatch(r"[A-Z][A-Z0-9]{1,9}", key):
                raise JiraError(400, errors={"projectKey": "Project keys must start with an uppercase letter, followed "
                                                           "by one or more uppercase alphanumeric characters (10 at most)."})
            try:
                p = store.rename_project_key(p["id"], key)
            except Conflict as exc:
                raise JiraError(400, errors={"projectKey": str(exc)}) from None
        return _project_full(store, r, p)


def register_projects(app: FastAPI, api: Api) -> None:
    """Projects and the site's priorities, resolutions, statuses and issue types."""
    sim, store, version, prefix, v2 = api.sim, api.sim.store, api.version, api.prefix, api.v2
    ctx, issue_or_404, require_admin = api.ctx, api.issue_or_404, api.require_admin

    # --- site metadata (what clients look up before creating or transitioning) ---------
    def project_full(r: Renderer, p: Any) -> dict:
        return _project_full(store, r, p)

    @app.get(prefix + "/project")
    async def projects(request: Request) -> Any:
        caller, r = ctx(request, version)
        return [r.project(p["key"]) for p in store.project_rows()]

    @app.get(prefix + "/project/search")
    async def project_search(request: Request) -> Any:
        caller, r = ctx(request, version)
        start, limit = page_window(request, sim.knobs, 50, 100, clamp_start=True, floor=1)
        rows = store.project_rows()
        keys = set(q_list(request, "keys"))
        query = (request.query_params.get("query") or "").lower()
        rows = [p for p in rows if (not keys or p["key"] in keys) and (query in p["key"].lower() or query in p["name"].lower())]
        if not rows and not sim.knobs.project_search_empty_page:
            # the contract: "404 Returned if no projects matching the search criteria are found"
            raise JiraError(404, "No projects matching the search criteria were found.")
        page = [r.project(p["key"]) for p in rows[start : start + limit]]
        return page_bean(request, start, limit, len(rows), page, next_with_limit=False)

    @app.get(prefix + "/project/{projectIdOrKey}")
    async def project(request: Request, projectIdOrKey: str) -> Any:
        caller, r = ctx(request, version)
        p = store.project(projectIdOrKey, exact=True)
        if p is None:
            raise JiraError(404, f"No project could be found with key '{projectIdOrKey}'.")
        return project_full(r, p)

    @app.get(prefix + "/project/{projectIdOrKey}/components")
    async def project_components(request: Request, projectIdOrKey: str) -> Any:
        if store.project(projectIdOrKey, exact=True) is None:
            raise JiraError(404, f"No project could be found with key '{projectIdOrKey}'.")
        return []  # the simulator's projects have no components

    @app.get(prefix + "/project/{projectIdOrKey}/versions")
    async def project_versions(request: Request, projectIdOrKey: str) -> Any:
        if store.project(projectIdOrKey, exact=True) is None:
            raise JiraError(404, f"No project could be found with key '{projectIdOrKey}'.")
        return []  # ... and no versions

    @app.get(prefix + "/priority")
    async def priorities(request: Request) -> Any:
        caller, r = ctx(request, version)
        return [dict(r.priority(p["name"]), description=p["name"], statusColor="#cfcfcf", isDefault=p["name"] == "Medium") for p in model.PRIORITIES]

    @app.get(prefix + "/resolution")
    async def resolutions(request: Request) -> Any:
        caller, r = ctx(request, version)
        return [r.resolution(x["name"]) for x in model.RESOLUTIONS]

    @app.get(prefix + "/status")
    async def statuses(request: Request) -> Any:
        caller, r = ctx(request, version)
        return [r.status(x.name) for x in model.STATUSES]

    @app.get(prefix + "/statuscategory")
    async def status_categories(request: Request) -> Any:
        caller, r = ctx(request, version)
        return [{"self": f"{r.api}/statuscategory/{c['id']}", **c} for c in model.STATUS_CATEGORIES.values()]

    @app.get(prefix + "/issuetype")
    async def issue_types(request: Request) -> Any:
        caller, r = ctx(request, version)
        return [r.issuetype(t["name"]) for t in model.ISSUE_TYPES]
