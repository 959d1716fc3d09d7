"""Searching: search/jql (GET and POST), approximate-count, jql/match, issue/bulkfetch; the removed search."""
from __future__ import annotations

import dataclasses
from typing import Any

from fastapi import FastAPI, Request

from .. import model
from ..base import (
    BULK_FETCH_BASIC, BULK_FETCH_MAX, ISSUE_NOT_FOUND, JQL_MATCH_MAX_IDS, JQL_MATCH_MAX_JQLS, REMOVED_SEARCH,
    SEARCH_MAX, SEARCH_MAX_WITH_FIELDS, UNBOUNDED, Api, Caller, JiraError, Simulator, as_list, body_json, check_body_shapes,
    q_int, q_list, resolve_fields,
)

# The value shapes of the request beans (the contract's types; see check_body_shapes)
SEARCH_BODY_SHAPES = {"jql": "single", "nextPageToken": "single", "maxResults": "single", "expand": "single",
                      "fieldsByKeys": "single", "fields": "list", "properties": "list", "reconcileIssues": "list"}
BULKFETCH_BODY_SHAPES = {"expand": "list", "fields": "list", "properties": "list", "fieldsByKeys": "single",
                         "issueIdsOrKeys": "list"}
from ..jql import CompiledQuery, JqlError, compile_query, parse
from ..store import decode_token, encode_token, fingerprint, now_ms


def indexed_only(sim: Simulator, compiled: CompiledQuery) -> CompiledQuery:
    """With the ``search_lag_seconds`` knob on, leave out the issues created or changed in
    the last N seconds: Jira's search index has not caught up with them yet."""
    lag = sim.knobs.search_lag_seconds
    if lag <= 0:
        return compiled
    # appended last, after the query's own condition and parameters (keyset conditions
    # of later pages go first in Store.search_statements, so the order of ? still holds)
    cond = "issues.updated <= ?"
    where = f"({compiled.where_sql}) AND {cond}" if compiled.where_sql else cond
    return dataclasses.replace(compiled, where_sql=where, params=[*compiled.params, now_ms() - int(lag * 1000)])


def compile_bounded(api: Api, caller: Caller, jql: str) -> CompiledQuery:
    """The compiled query of ``jql`` as the search index sees it; 400 if unbounded or invalid."""
    try:
        query = parse(jql)
        if query.where is None:
            raise JiraError(400, UNBOUNDED)
        return indexed_only(api.sim, compile_query(query, api.sim.store, account_id=caller.account_id, tz=caller.tz, now_ms=now_ms()))
    except JqlError as exc:
        raise JiraError(400, str(exc)) from None


def bulkfetch_limit(sim: Simulator, fields: list[str]) -> tuple[int, str]:
    """The most ids one issue/bulkfetch request may carry for these ``fields``, and the rule
    in words. Atlassian (as issue 10 states it): 100 issues per request, or up to 1,000 when
    fields are named explicitly and none is multi-value -- here a non-empty list without
    ``*all``, ``*navigable`` or ``-field`` exclusions, where no field's schema in GET /field
    has a multi-value type (``array``, or the comment field's ``comments-page``) and every
    field is in that list (an unknown field counts as multi-value). The ``bulkfetch_max``
    knob lowers the result (a Jira that does not grant 1,000)."""
    wildcard = [f for f in fields if f.startswith(("*", "-"))]
    multi = [f for f in fields if not f.startswith(("*", "-")) and model.is_multi_value(f)]
    if not fields:
        limit, rule = BULK_FETCH_BASIC, "up to 1,000 only when 'fields' names the fields (none is named here)"
    elif wildcard:
        limit, rule = BULK_FETCH_BASIC, f"up to 1,000 only when 'fields' names each field ({wildcard[0]!r} does not)"
    elif multi:
        limit, rule = BULK_FETCH_BASIC, (
            f"up to 1,000 only when no field is multi-value ({', '.join(repr(f) for f in multi[:5])} "
            "is multi-value or unknown)"
        )
    else:
        limit, rule = BULK_FETCH_MAX, "up to 1,000 when every field is named and single-value"
    cap = sim.knobs.bulkfetch_max
    if 0 < cap < limit:
        limit, rule = cap, f"this site grants at most {cap} per request"
    return limit, rule


def run_search(api: Api, request: Request, params: dict[str, Any]) -> dict:
    """One page of search/jql (GET and POST): issues after ``nextPageToken``, as Jira pages them."""
    sim, store = api.sim, api.sim.store
    caller, r = api.ctx(request, api.version)
    jql = str(params.get("jql") or "")
    properties = as_list(params.get("properties"))
    if len(properties) > 5:
        raise JiraError(400, "You can request at most 5 issue properties.")
    max_results = params.get("maxResults", 50)
    if max_results is None:
        max_results = 50
    if isinstance(max_results, bool) or not isinstance(max_results, int):
        raise JiraError(400, "The 'maxResults' parameter must be an integer.")
    if max_results < 1:
        raise JiraError(400, "The 'maxResults' parameter must be between 1 and 5000.")
    compiled = compile_bounded(api, caller, jql)
    fields = resolve_fields(as_list(params.get("fields")), "id")
    expand = {e.lower() for e in as_list(params.get("expand"))}
    cheap = (fields is None or set(fields) <= {"id", "key"}) and not expand and not properties
    limit = sim.knobs.page_limit(max_results, SEARCH_MAX if cheap else SEARCH_MAX_WITH_FIELDS)
    fp = fingerprint(jql.strip())
    after = None
    token = params.get("nextPageToken")
    if token:
        try:
            after = decode_token(str(token), fp)
        except ValueError:
            raise JiraError(400, "The provided next page token is invalid or expired.") from None
    try:
        rows, positions = store.search(compiled, limit + 1, after)
    except ValueError:
        raise JiraError(400, "The provided next page token is invalid or expired.") from None
    is_last = len(rows) <= limit
    rows, positions = rows[:limit], positions[:limit]
    issues = [r.issue(row, fields, expand, properties) for row in rows]
    out: dict[str, Any] = {"issues": issues}
    if "names" in expand or "schema" in expand:
        for issue in issues:
            names = issue.pop("names", None)
            schema = issue.pop("schema", None)
            if names is not None:
                out.setdefault("names", {}).update(names)
            if schema is not None:
                out.setdefault("schema", {}).update(schema)
    if not is_last:
        out["nextPageToken"] = encode_token(positions[-1], fp)
    out["isLast"] = is_last
    return out


def register_search(app: FastAPI, api: Api) -> None:
    """The search endpoints."""
    sim, store, version, prefix, v2 = api.sim, api.sim.store, api.version, api.prefix, api.v2
    ctx, issue_or_404, require_admin = api.ctx, api.issue_or_404, api.require_admin

    # --- search ------------------------------------------------------------------------
    @app.api_route(prefix + "/search", methods=["GET", "POST"])
    async def removed_search(request: Request) -> Any:
        raise JiraError(410, REMOVED_SEARCH.replace("/rest/api/3/", f"/rest/api/{version}/"))

    @app.get(prefix + "/search/jql")
    async def search_get(request: Request) -> Any:
        params = {
            "jql": request.query_params.get("jql"),
            "nextPageToken": request.query_params.get("nextPageToken"),
            "maxResults": q_int(request, "maxResults", 50),
            "fields": q_list(request, "fields"),
            "expand": request.query_params.get("expand"),
            "properties": q_list(request, "properties"),
        }
        return run_search(api, request, params)

    @app.post(prefix + "/search/jql")
    async def search_post(request: Request) -> Any:
        body = await body_json(request)
        if not isinstance(body, dict):
            raise JiraError(400, "Can not deserialize the request body: expected an object.")
        allowed = {"jql", "nextPageToken", "maxResults", "fields", "expand", "properties", "fieldsByKeys", "reconcileIssues"}
        unknown = sorted(set(body) - allowed)
        if unknown:
            raise JiraError(400, f"Unrecognized field \"{unknown[0]}\": not one of the known properties.")
        check_body_shapes(body, SEARCH_BODY_SHAPES)  # SearchAndReconcileRequestBean: expand is a string here
        return run_search(api, request, body)

    @app.post(prefix + "/search/approximate-count")
    async def approximate_count(request: Request) -> Any:
        caller, _ = ctx(request, version)
        body = await body_json(request)
        if not isinstance(body, dict):
            raise JiraError(400, "Can not deserialize the request body: expected an object.")
        unknown = sorted(set(body) - {"jql"})  # JQLCountRequestBean: additionalProperties false
        if unknown:
            raise JiraError(400, f"Unrecognized field \"{unknown[0]}\": not one of the known properties.")
        check_body_shapes(body, {"jql": "single"})
        compiled = compile_bounded(api, caller, str(body.get("jql") or ""))
        return {"count": store.count(compiled)}

    @app.post(prefix + "/issue/bulkfetch")
    async def bulkfetch(request: Request) -> Any:
        """Up to 100 issues per request, or up to 1,000 when ``fields`` names every field
        explicitly and none is multi-value (see :func:`bulkfetch_limit`). The OpenAPI in
        shared/ only says "up to 100"; the 1,000 is Atlassian's limit as issue 10 states it.
        An id or key no issue has is left out of the answer (neither in ``issues`` nor in
        ``issueErrors``), as the contract's ``BulkIssueResults`` says; the
        ``bulkfetch_missing_errors`` knob answers it in ``issueErrors`` instead."""
        caller, r = ctx(request, version)
        body = await body_json(request)
        if isinstance(body, dict):  # BulkFetchIssueRequestBean: additionalProperties false
            unknown = sorted(set(body) - {"expand", "fields", "fieldsByKeys", "issueIdsOrKeys", "properties"})
            if unknown:
                raise JiraError(400, f"Unrecognized field \"{unknown[0]}\": not one of the known properties.")
            check_body_shapes(body, BULKFETCH_BODY_SHAPES)  # expand is a list here (a string in search/jql)
        ids = (body or {}).get("issueIdsOrKeys") if isinstance(body, dict) else None
        if not ids or not isinstance(ids, list):
            raise JiraError(400, "At least one issue id or key must be provided.")
        if len(as_list(body.get("properties"))) > 5:
            raise JiraError(400, "You can request at most 5 issue properties.")
        limit, rule = bulkfetch_limit(sim, as_list(body.get("fields")))
        if len(ids) > limit and not sim.knobs.bulkfetch_silent:
            raise JiraError(400, f"The number of issue ids or keys must be between 1 and {limit}: {rule}")
        ids = ids[:limit]  # bulkfetch_silent: the rest is left out without an error, as a quiet cap would
        fields = resolve_fields(as_list(body.get("fields")), "*navigable")
        expand = {e.lower() for e in as_list(body.get("expand"))}
        properties = as_list(body.get("properties"))
        found: dict[int, Any] = {}
        errors = []
        for ident in ids:
            row = store.issue_row(str(ident))
            if row is not None:
                found[row["id"]] = row
            elif sim.knobs.bulkfetch_missing_errors:  # not the contract; a Jira might still answer so
                errors.append({"id": str(ident), "errorMessage": ISSUE_NOT_FOUND})
            # else left out, as the contract says: "Issues which aren't found or that the user
            # doesn't have permission to view won't be returned in this list" (issueErrors)
        issues = [r.issue(found[i], fields or [], expand, properties, envelope=True) for i in sorted(found)]
        return {"issues": issues, "issueErrors": errors}


def register_jql_match(app: FastAPI, api: Api) -> None:
    """``POST jql/match``."""
    prefix = api.prefix

    @app.post(prefix + "/jql/match")
    async def jql_match(request: Request) -> Any:
        """Which of ``issueIds`` each of ``jqls`` selects (``IssueMatches``: one entry per query,
        in order; a query Jira cannot read answers in its ``errors``, not as a 400). As the
        search index sees the issues (``search_lag_seconds``): nothing here is more current
        than search/jql."""
        caller, _ = api.ctx(request, api.version)
        body = await body_json(request)
        if not isinstance(body, dict):
            raise JiraError(400, "Can not deserialize the request body: expected an object.")
        unknown = sorted(set(body) - {"issueIds", "jqls"})  # IssuesAndJQLQueries: additionalProperties false
        if unknown:
            raise JiraError(400, f"Unrecognized field \"{unknown[0]}\": not one of the known properties.")
        ids, jqls = body.get("issueIds"), body.get("jqls")
        if not isinstance(ids, list) or not isinstance(jqls, list):
            raise JiraError(400, "'issueIds' and 'jqls' are required lists.")
        if any(isinstance(i, bool) or not isinstance(i, int) for i in ids) or any(not isinstance(j, str) for j in jqls):
            raise JiraError(400, "'issueIds' takes issue ids (numbers) and 'jqls' JQL queries (text).")
        if len(ids) > JQL_MATCH_MAX_IDS or len(jqls) > JQL_MATCH_MAX_JQLS:
            raise JiraError(400, f"At most {JQL_MATCH_MAX_IDS} issue ids and {JQL_MATCH_MAX_JQLS} JQL queries can be "
                                 "matched in one request.")
        matches = []
        for jql in jqls:
            try:
                compiled = indexed_only(api.sim, compile_query(parse(jql), api.sim.store, account_id=caller.account_id,
                                                           tz=caller.tz, now_ms=now_ms()))
            except JqlError as exc:
                matches.append({"matchedIssues": [], "errors": [str(exc)]})
                continue
            matches.append({"matchedIssues": api.sim.store.matching_ids(compiled, sorted(set(ids))), "errors": []})
        return {"matches": matches}
