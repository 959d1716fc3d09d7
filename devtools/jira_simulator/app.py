"""The FastAPI application: Jira Cloud REST v3 (and v2) endpoints plus the /_admin/ API."""
from __future__ import annotations

import asyncio
import base64
import binascii
import dataclasses
import datetime as _dt
import json
import math
import re
import socket
import struct
from dataclasses import dataclass
from html import escape as html_escape
from typing import Any, Awaitable, Callable

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.responses import JSONResponse as _StarletteJSONResponse, Response
from starlette.routing import Match

from . import model
from .jql import CompiledQuery, JqlError, compile_query, parse
from .knobs import Fault, Knobs, Stats
from .render import Renderer, is_adf_value, rich_input_to_storage
from .store import (
    Account, Conflict, NotFound, Store, adf_to_text, decode_token, encode_token, fingerprint,
    now_ms, text_to_adf,
)


class JSONResponse(_StarletteJSONResponse):
    """JSON the way Jira (Jersey) labels it: ``application/json;charset=UTF-8``.

    Some clients compare the header verbatim (atlassian-python-api reads a 401's Jira message
    only under exactly this type).
    """

    media_type = "application/json;charset=UTF-8"


SEARCH_MAX = 5000  # search/jql: "It returns max 5000 issues" (id/key only)
SEARCH_MAX_WITH_FIELDS = 100  # fewer per page when fields are requested, as Jira does
UNBOUNDED = "Unbounded JQL queries are not allowed here. Please add a search restriction to your query."
REMOVED_SEARCH = (
    "The requested API has been removed. Please migrate to the /rest/api/3/search/jql API. "
    "A full migration guideline is available at https://developer.atlassian.com/changelog/#CHANGE-2046"
)
ISSUE_NOT_FOUND = "Issue does not exist or you do not have permission to see it."
USER_NOT_FOUND = "Specified user does not exist or you do not have required permissions"
GROUP_NOT_FOUND = "Specified group does not exist."
BULK_CREATE_MAX = 50  # issue/bulk: "Creates upto 50 issues"
GROUP_USERS_PAGE = 50  # deprecated GET group: "A maximum of 50 users is returned"
GROUP_PICKER_DEFAULT = 20  # groups/picker: jira.ajax.autocomplete.limit's default
GROUP_PICKER_LIMIT = 1000
_USERS_EXPAND = re.compile(r"(?:^|,)\s*users(?:\[(\d+):(\d+)\])?\s*(?:,|$)")


def _change(field: str, fid: str, frm: Any, frm_s: Any, to: Any, to_s: Any, custom: bool = False) -> dict:
    # ChangeDetails: ids in from/to (left out when there is none: the document types them as
    # strings), display values in fromString/toString ("" for nothing)
    item: dict[str, Any] = {"field": field, "fieldtype": "custom" if custom else "jira", "fieldId": fid}
    if frm is not None:
        item["from"] = str(frm)
    item["fromString"] = "" if frm_s is None else str(frm_s)
    if to is not None:
        item["to"] = str(to)
    item["toString"] = "" if to_s is None else str(to_s)
    return item


def change_items(store: Store, row: Any, values: dict[str, Any], labels: list[str] | None) -> list[dict]:
    """The changelog items of applying column ``values`` (and ``labels``) to issue ``row``."""
    items: list[dict] = []
    refs = {
        "status": lambda n: model.STATUS_BY_NAME[n].id,
        "resolution": lambda n: model.RESOLUTION_BY_NAME[n]["id"],
        "priority": lambda n: model.PRIORITY_BY_NAME[n]["id"],
        "issuetype": lambda n: model.ISSUE_TYPE_BY_NAME[n]["id"],
    }
    for col, fid in (("issuetype", "issuetype"), ("summary", "summary"), ("description_text", "description"),
                     ("environment", "environment"), ("priority", "priority"), ("assignee", "assignee"),
                     ("reporter", "reporter"), ("status", "status"), ("resolution", "resolution")):
        if col not in values or values[col] == row[col]:
            continue
        old, new = row[col], values[col]
        if col in refs:
            items.append(_change(fid, fid, old and refs[col](old), old, new and refs[col](new), new))
        elif col in ("assignee", "reporter"):
            name = lambda a: (store.user(a) or {"display_name": a})["display_name"] if a else None  # noqa: E731
            items.append(_change(fid, fid, old, name(old), new, name(new)))
        else:
            items.append(_change(fid, fid, None, old, None, new))
    if labels is not None:
        before = store.labels_of(row["id"])
        if sorted(before) != sorted(labels):
            items.append(_change("labels", "labels", None, " ".join(before), None, " ".join(sorted(labels))))
    if "extra" in values:
        old_extra = json.loads(row["extra"]) if row["extra"] else {}
        new_extra = json.loads(values["extra"]) if values["extra"] else {}
        for fid in sorted(set(old_extra) | set(new_extra)):
            if old_extra.get(fid) != new_extra.get(fid):
                items.append(_change(model.field_name(fid), fid, None, old_extra.get(fid), None, new_extra.get(fid), custom=True))
    return items


def _user_matches(u: Any, query: str) -> bool:
    """user/search's `query`: a prefix of the e-mail, the display name or one of its words."""
    q = query.lower()
    name = u["display_name"].lower()
    return (u["email"] or "").lower().startswith(q) or name.startswith(q) or any(w.startswith(q) for w in name.split())


def _users_expand_window(expand: str) -> tuple[int, int] | None:
    """``users`` -> (0, 49); ``users[51:100]`` -> (51, 100) (inclusive); absent -> None."""
    m = _USERS_EXPAND.search(expand or "")
    if m is None:
        return None
    if m.group(1) is None:
        return 0, GROUP_USERS_PAGE - 1
    return int(m.group(1)), int(m.group(2))


class JiraError(Exception):
    def __init__(
        self, status: int, messages: list[str] | str | None = None,
        errors: dict[str, str] | None = None, headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(status)
        self.status = status
        self.messages = [messages] if isinstance(messages, str) else list(messages or [])
        self.errors = errors or {}
        self.headers = headers or {}

    def response(self) -> JSONResponse:
        return JSONResponse(
            {"errorMessages": self.messages, "errors": self.errors},
            status_code=self.status, headers=self.headers,
        )


def jira_error_response(status: int, message: str, headers: dict[str, str] | None = None) -> JSONResponse:
    return JiraError(status, message, headers=headers).response()


@dataclass
class Caller:
    account: Account | None

    @property
    def account_id(self) -> str | None:
        return self.account.account_id if self.account else None

    @property
    def tz(self) -> str:
        return self.account.time_zone if self.account else "UTC"


class Simulator:
    """Shared state of a running simulator: data, accounts, knobs, statistics."""

    def __init__(self, store: Store, accounts: list[Account], latency_ms: int = 0, rate_limit: int = 0) -> None:
        self.store = store
        self.accounts = {a.email.lower(): a for a in accounts}
        self.knobs = Knobs()
        self.default_knobs = (latency_ms, rate_limit)
        self.knobs.reset(latency_ms, rate_limit)
        self.stats = Stats()
        self.transports: dict[tuple[str, int], Any] = {}  # client address -> transport (resets)

    def authenticate(self, header: str | None) -> Account | None:
        """The account of a Basic auth header, or None when absent; raises on bad credentials."""
        if not header:
            return None
        scheme, _, value = header.partition(" ")
        if scheme.lower() != "basic":
            raise JiraError(401, "Client must be authenticated to access this resource.")
        try:
            email, _, token = base64.b64decode(value.strip(), validate=True).decode().partition(":")
        except (binascii.Error, UnicodeDecodeError):
            raise JiraError(401, "Client must be authenticated to access this resource.") from None
        account = self.accounts.get(email.lower())
        if account is None or account.token != token:
            raise JiraError(401, "Client must be authenticated to access this resource.")
        return account


# --- helpers ---------------------------------------------------------------------------------


def q_int(request: Request, name: str, default: int) -> int:
    raw = request.query_params.get(name)
    if raw is None or raw == "":
        return default
    try:
        return int(raw)
    except ValueError:
        raise JiraError(400, f"The '{name}' parameter must be an integer, got '{raw}'.") from None


def q_bool(request: Request, name: str, default: bool) -> bool:
    raw = request.query_params.get(name)
    return default if raw is None else raw.lower() == "true"


def q_list(request: Request, name: str) -> list[str]:
    out: list[str] = []
    for v in request.query_params.getlist(name):
        out.extend(p.strip() for p in v.split(",") if p.strip())
    return out


def as_list(value: Any) -> list[str]:
    if value is None:
        return []
    if isinstance(value, str):
        return [p.strip() for p in value.split(",") if p.strip()]
    out: list[str] = []
    for v in value:
        out.extend(p.strip() for p in str(v).split(",") if p.strip())
    return out


async def body_json(request: Request, required: bool = True) -> Any:
    raw = await request.body()
    if not raw.strip():
        if required:
            raise JiraError(400, "No content to map due to end-of-input")
        return None
    try:
        return json.loads(raw)
    except ValueError as exc:
        raise JiraError(400, f"Unexpected character in the request body: {exc.msg} (line {exc.lineno}, column {exc.colno})") from None


def resolve_fields(spec: list[str], default: str) -> list[str] | None:
    """Field ids to render from a `fields` parameter; None means id only."""
    items = list(spec) or [default]
    if all(i.startswith("-") for i in items):
        items = [default if default != "id" else "*navigable", *items]
    all_ids = model.all_field_ids()
    base: list[str] = []
    include: list[str] = []
    exclude: set[str] = set()
    for item in items:
        if item == "*all":
            base = all_ids
        elif item == "*navigable":
            if base != all_ids:
                base = model.navigable_field_ids()
        elif item.startswith("-"):
            exclude.add(item[1:])
        elif item in ("id", "key", "issuekey") or item in all_ids:
            include.append(item)
    fields = [f for f in dict.fromkeys(base + include) if f not in exclude]
    if not fields or set(fields) <= {"id"}:
        return None
    return fields


def parse_time(value: Any) -> int:
    """Epoch ms from ms, or an ISO 8601 string (admin API convenience)."""
    if isinstance(value, (int, float)):
        return int(value)
    text = str(value).strip()
    if text.isdigit():
        return int(text)
    if text.endswith("Z"):
        text = text[:-1] + "+00:00"
    if len(text) > 5 and text[-5] in "+-" and text[-3] != ":" and "T" in text:
        text = text[:-2] + ":" + text[-2:]
    d = _dt.datetime.fromisoformat(text)
    if d.tzinfo is None:
        d = d.replace(tzinfo=_dt.timezone.utc)
    return int(d.timestamp() * 1000)


# --- issue field input -----------------------------------------------------------------------


def _ref_name(value: Any, items: list[dict]) -> str | None:
    if isinstance(value, dict):
        if "id" in value:
            return next((i["name"] for i in items if i["id"] == str(value["id"])), None)
        if "name" in value:
            return next((i["name"] for i in items if i["name"].lower() == str(value["name"]).lower()), None)
    if isinstance(value, str):
        return next((i["name"] for i in items if i["name"].lower() == value.lower() or i["id"] == value), None)
    return None


def apply_issue_input(
    sim: Simulator, body: dict, *, v2: bool, creating: bool, row: Any = None,
) -> tuple[dict[str, Any], list[str] | None, list[dict]]:
    """Turn an IssueUpdateDetails body into column values, new labels and comments to add."""
    store = sim.store
    if not isinstance(body, dict):
        raise JiraError(400, "Can not deserialize the request body: expected an object.")
    fields = body.get("fields") or {}
    update = body.get("update") or {}
    if not isinstance(fields, dict) or not isinstance(update, dict):
        raise JiraError(400, "Can not deserialize the request body: 'fields' and 'update' must be objects.")
    errors: dict[str, str] = {}
    values: dict[str, Any] = {}
    labels: list[str] | None = None
    comments: list[dict] = []
    extra = json.loads(row["extra"]) if row is not None and row["extra"] else {}
    extra_changed = False

    for fid, value in fields.items():
        if fid == "project":
            if not creating:
                errors["project"] = "Field 'project' cannot be set. It is not on the appropriate screen, or unknown."
                continue
            ref = value.get("key") or value.get("id") if isinstance(value, dict) else value
            p = store.project(str(ref)) if ref is not None else None
            if p is None:
                errors["project"] = "Specify a valid project ID or key"
            else:
                values["project_key"] = p["key"]
        elif fid == "issuetype":
            name = _ref_name(value, model.ISSUE_TYPES)
            if name is None:
                errors["issuetype"] = "The issue type selected is invalid." if value else "Specify an issue type"
            else:
                values["issuetype"] = name
        elif fid == "summary":
            if not isinstance(value, str) or not value.strip():
                errors["summary"] = "You must specify a summary of the issue."
            elif len(value) > 255:
                errors["summary"] = "Summary must be less than 255 characters."
            else:
                values["summary"] = value
        elif fid in ("description", "environment"):
            try:
                adf, text = rich_input_to_storage(value, v2)
            except ValueError as exc:
                errors[fid] = str(exc)
                continue
            if fid == "description":
                values["description_adf"], values["description_text"] = adf, text
            else:
                values["environment"] = text
        elif fid == "priority":
            name = _ref_name(value, model.PRIORITIES)
            if value is not None and name is None:
                errors["priority"] = "The priority selected is invalid."
            else:
                values["priority"] = name
        elif fid in ("assignee", "reporter"):
            if value is None:
                values[fid] = None
                continue
            account_id = value.get("accountId") if isinstance(value, dict) else None
            u = store.user(account_id)
            if u is None or not u["active"]:
                errors[fid] = (f"User '{account_id}' cannot be assigned issues." if fid == "assignee"
                               else "Specify a valid value for reporter")
            else:
                values[fid] = account_id
        elif fid == "labels":
            if not isinstance(value, list) or not all(isinstance(l, str) for l in value):
                errors["labels"] = "Labels must be a list of strings."
            elif any(" " in l for l in value):
                bad = next(l for l in value if " " in l)
                errors["labels"] = f"The label '{bad}' contains spaces which is invalid."
            else:
                labels = list(dict.fromkeys(value))
        elif fid == "resolution":
            name = _ref_name(value, model.RESOLUTIONS)
            if value is not None and name is None:
                errors["resolution"] = "The resolution selected is invalid."
            else:
                values["resolution"] = name
        elif fid in model.CUSTOM_FIELDS:
            kind = model.CUSTOM_FIELDS[fid][2]
            if value is None:
                extra.pop(fid, None)
            elif kind == "number" and isinstance(value, (int, float)) and not isinstance(value, bool):
                extra[fid] = value
            elif kind == "string" and isinstance(value, str):
                extra[fid] = value
            elif kind == "option" and isinstance(value, dict):
                opt = next((o for o in model.TEAM_OPTIONS if o["id"] == str(value.get("id")) or o["value"] == value.get("value")), None)
                if opt is None:
                    errors[fid] = f"Option value '{value.get('value', value.get('id'))}' is not valid"
                    continue
                extra[fid] = opt["value"]
            elif kind == "datetime" and isinstance(value, str):
                try:
                    extra[fid] = parse_time(value)
                except ValueError:
                    errors[fid] = "Invalid date format. Please enter the date in the format \"yyyy-MM-dd'T'HH:mm:ss.SSSZ\"."
                    continue
            else:
                errors[fid] = f"Operation value must be a {kind}"
                continue
            extra_changed = True
        else:
            errors[fid] = f"Field '{fid}' cannot be set. It is not on the appropriate screen, or unknown."

    for fid, ops in update.items():
        if not isinstance(ops, list):
            errors[fid] = "Operations must be a list."
            continue
        if fid == "labels":
            current = labels if labels is not None else (store.labels_of(row["id"]) if row is not None else [])
            for op in ops:
                if "set" in op:
                    current = list(op["set"] or [])
                elif "add" in op:
                    if op["add"] not in current:
                        current.append(op["add"])
                elif "remove" in op:
                    current = [l for l in current if l != op["remove"]]
            labels = current
        elif fid == "summary":
            for op in ops:
                if "set" in op:
                    values["summary"] = op["set"]
        elif fid == "comment":
            for op in ops:
                add = op.get("add") if isinstance(op, dict) else None
                if not isinstance(add, dict):
                    errors["comment"] = "Comment operation must be {\"add\": {\"body\": ...}}."
                    continue
                try:
                    adf, text = rich_input_to_storage(add.get("body"), v2)
                except ValueError as exc:
                    errors["comment"] = str(exc)
                    continue
                comments.append({"adf": json.loads(adf) if adf else text_to_adf(text), "properties": add.get("properties")})
        else:
            errors[fid] = f"Field '{fid}' cannot be set. It is not on the appropriate screen, or unknown."

    if creating:
        if "project_key" not in values and "project" not in errors:
            errors["project"] = "Specify a valid project ID or key"
        if "issuetype" not in values and "issuetype" not in errors:
            errors["issuetype"] = "Specify an issue type"
        if "summary" not in values and "summary" not in errors:
            errors["summary"] = "You must specify a summary of the issue."
    if errors:
        raise JiraError(400, [], errors)
    if extra_changed:
        values["extra"] = json.dumps(extra) if extra else None
    return values, labels, comments


# --- application -----------------------------------------------------------------------------


def create_app(sim: Simulator) -> FastAPI:
    app = FastAPI(title="Jira Cloud simulator", docs_url=None, redoc_url=None, openapi_url=None,
                  default_response_class=JSONResponse)
    app.state.sim = sim
    store = sim.store

    @app.exception_handler(JiraError)
    async def _jira_error(request: Request, exc: JiraError) -> Response:
        return exc.response()

    @app.exception_handler(StarletteHTTPException)
    async def _http_error(request: Request, exc: StarletteHTTPException) -> Response:
        message = {404: "null for uri: " + str(request.url), 405: "Method Not Allowed"}.get(exc.status_code, str(exc.detail))
        return jira_error_response(exc.status_code, message)

    @app.exception_handler(RequestValidationError)
    async def _validation_error(request: Request, exc: RequestValidationError) -> Response:
        return jira_error_response(400, "Invalid request: " + "; ".join(str(e.get("msg")) for e in exc.errors()))

    def endpoint_name(request: Request) -> tuple[str, bool]:
        """"METHOD /route/{template}" and whether a route serves it (False: 404/405)."""
        for route in app.router.routes:
            match, _ = route.matches(request.scope)
            if match == Match.FULL:
                return f"{request.method} {getattr(route, 'path', request.url.path)}", True
        return f"{request.method} {request.url.path}", False

    @app.middleware("http")
    async def _knobs(request: Request, call_next: Callable[[Request], Awaitable[Response]]) -> Response:
        path = request.url.path
        if path.startswith("/_admin"):
            return await call_next(request)
        name, routed = endpoint_name(request)
        status: int | str = "reset"
        try:
            # authentication first: a bad token is a 401 whatever else happens
            try:
                account = sim.authenticate(request.headers.get("authorization"))
            except JiraError as exc:
                status = exc.status
                return exc.response()
            # documented as anonymous: serverInfo; groups/picker (an empty list for anonymous)
            anonymous_ok = request.method == "GET" and path.endswith(("/serverInfo", "/groups/picker"))
            if account is None and not anonymous_ok and path.startswith("/rest/"):
                status = 401
                return jira_error_response(401, "Client must be authenticated to access this resource.")
            request.state.caller = Caller(account)
            if sim.knobs.latency_ms:
                await asyncio.sleep(sim.knobs.latency_ms / 1000)
            decision = sim.knobs.rate(account.email if account else "anonymous")
            if decision is not None and not decision.allowed:
                status = 429
                return JiraError(429, "Rate limit exceeded.", headers=decision.headers()).response()
            fault = sim.knobs.take_fault(request.method, path)
            if fault is not None and fault.type == "reset":
                _reset_connection(sim, request)
                status = "reset"
                return Response(status_code=500)  # never delivered: the socket is gone
            if fault is not None and fault.type == "slow":
                await asyncio.sleep(fault.delay_ms / 1000)
            if fault is not None and fault.type == "drop_after":
                await call_next(request)  # the endpoint runs: the change is made ...
                _reset_connection(sim, request)  # ... but the answer never arrives
                status = "dropped"
                return Response(status_code=500)  # never delivered: the socket is gone
            if fault is not None and fault.type == "status":
                headers = {}
                if fault.retry_after is not None:
                    headers["Retry-After"] = str(max(0, math.ceil(fault.retry_after)))
                status = fault.status
                return jira_error_response(fault.status, _status_text(fault.status), headers)
            response = await call_next(request)
            if decision is not None:
                for k, v in decision.headers().items():
                    response.headers[k] = v
            status = response.status_code
            return response
        finally:
            sim.stats.record(name, status, routed)

    def ctx(request: Request, version: str) -> tuple[Caller, Renderer]:
        caller: Caller = getattr(request.state, "caller", Caller(None))
        base = str(request.base_url).rstrip("/")
        return caller, Renderer(store, base, version, caller.tz, caller.account_id)

    def issue_or_404(id_or_key: str) -> Any:
        row = store.issue_row(id_or_key)
        if row is None:
            raise JiraError(404, ISSUE_NOT_FOUND)
        return row

    def require_admin(caller: Caller, what: str) -> None:
        if caller.account is None or not caller.account.admin:
            raise JiraError(403, f"You do not have the permission to {what}.")

    for version in ("3", "2"):
        _register_api(app, sim, version, ctx, issue_or_404, require_admin)
    _register_admin(app, sim)
    app.add_middleware(LatestApiAlias)  # outermost: runs before routing and the knobs
    return app


class LatestApiAlias:
    """Serve ``/rest/api/latest/...`` as ``/rest/api/2/...``, as Jira Cloud does.

    Jira keeps ``latest`` as an alias of REST v2 (plain-text rich fields); long-lived clients
    (e.g. the ``jira`` package's group and user administration) still call it.
    """

    PREFIX = "/rest/api/latest/"

    def __init__(self, app: Any) -> None:
        self.app = app

    async def __call__(self, scope: dict, receive: Any, send: Any) -> None:
        if scope["type"] == "http" and scope["path"].startswith(self.PREFIX):
            scope = dict(scope)
            scope["path"] = "/rest/api/2/" + scope["path"][len(self.PREFIX):]
            raw = scope.get("raw_path")
            if raw and raw.startswith(self.PREFIX.encode()):
                scope["raw_path"] = b"/rest/api/2/" + raw[len(self.PREFIX):]
        await self.app(scope, receive, send)


def _status_text(status: int) -> str:
    return {500: "Internal server error", 502: "Bad Gateway", 503: "Service Unavailable", 504: "Gateway Timeout"}.get(status, "Injected error")


def _reset_connection(sim: Simulator, request: Request) -> None:
    client = request.scope.get("client")
    transport = sim.transports.get(tuple(client)) if client else None
    if transport is None:
        return
    sock = transport.get_extra_info("socket")
    if sock is not None:
        try:  # RST instead of FIN: the client sees "connection reset by peer"
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        except OSError:
            pass
    transport.abort()


def _register_api(app: FastAPI, sim: Simulator, version: str, ctx: Any, issue_or_404: Any, require_admin: Any) -> None:
    store = sim.store
    prefix = f"/rest/api/{version}"
    v2 = version == "2"

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

    # --- site metadata (what clients look up before creating or transitioning) ---------
    def project_full(r: Renderer, p: Any) -> dict:
        out = r.project(p["key"])
        out.update({
            "description": "", "style": "classic" if not out["simplified"] else "next-gen",
            "isPrivate": False, "lead": r.user(store.user(p["lead"]), details=True) or {},
            "issueTypes": [r.issuetype(t["name"]) for t in model.ISSUE_TYPES],
        })
        return out

    @app.get(prefix + "/project")
    async def projects(request: Request) -> Any:
        caller, r = ctx(request, version)
        return [r.project(p["key"]) for p in store.project_rows()]

    @app.get(prefix + "/project/search")
    async def project_search(request: Request) -> Any:
        caller, r = ctx(request, version)
        start = max(0, q_int(request, "startAt", 0))
        limit = max(1, sim.knobs.page_limit(q_int(request, "maxResults", 50), 100))
        rows = store.project_rows()
        keys = set(q_list(request, "keys"))
        query = (request.query_params.get("query") or "").lower()
        rows = [p for p in rows if (not keys or p["key"] in keys) and (query in p["key"].lower() or query in p["name"].lower())]
        page = rows[start : start + limit]
        out: dict[str, Any] = {"self": str(request.url), "maxResults": limit, "startAt": start, "total": len(rows),
                               "isLast": start + len(page) >= len(rows), "values": [r.project(p["key"]) for p in page]}
        if not out["isLast"]:
            out["nextPage"] = str(request.url.include_query_params(startAt=start + len(page)))
        return out

    @app.get(prefix + "/project/{projectIdOrKey}")
    async def project(request: Request, projectIdOrKey: str) -> Any:
        caller, r = ctx(request, version)
        p = store.project(projectIdOrKey)
        if p is None:
            raise JiraError(404, f"No project could be found with key '{projectIdOrKey}'.")
        return project_full(r, p)

    @app.get(prefix + "/project/{projectIdOrKey}/components")
    async def project_components(request: Request, projectIdOrKey: str) -> Any:
        if store.project(projectIdOrKey) is None:
            raise JiraError(404, f"No project could be found with key '{projectIdOrKey}'.")
        return []  # the simulator's projects have no components

    @app.get(prefix + "/project/{projectIdOrKey}/versions")
    async def project_versions(request: Request, projectIdOrKey: str) -> Any:
        if store.project(projectIdOrKey) is None:
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

    # --- search ------------------------------------------------------------------------
    @app.api_route(prefix + "/search", methods=["GET", "POST"])
    async def removed_search(request: Request) -> Any:
        raise JiraError(410, REMOVED_SEARCH.replace("/rest/api/3/", f"/rest/api/{version}/"))

    def indexed_only(compiled: CompiledQuery) -> CompiledQuery:
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

    def run_search(request: Request, params: dict[str, Any]) -> dict:
        caller, r = ctx(request, version)
        jql = params.get("jql") or ""
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
        try:
            query = parse(jql)
            if query.where is None:
                raise JiraError(400, UNBOUNDED)
            compiled = indexed_only(compile_query(query, store, account_id=caller.account_id, tz=caller.tz, now_ms=now_ms()))
        except JqlError as exc:
            raise JiraError(400, str(exc)) from None
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
        return run_search(request, params)

    @app.post(prefix + "/search/jql")
    async def search_post(request: Request) -> Any:
        body = await body_json(request)
        if not isinstance(body, dict):
            raise JiraError(400, "Can not deserialize the request body: expected an object.")
        allowed = {"jql", "nextPageToken", "maxResults", "fields", "expand", "properties", "fieldsByKeys", "reconcileIssues"}
        unknown = sorted(set(body) - allowed)
        if unknown:
            raise JiraError(400, f"Unrecognized field \"{unknown[0]}\": not one of the known properties.")
        return run_search(request, body)

    @app.post(prefix + "/search/approximate-count")
    async def approximate_count(request: Request) -> Any:
        caller, _ = ctx(request, version)
        body = await body_json(request)
        jql = (body or {}).get("jql") or ""
        try:
            query = parse(jql)
            if query.where is None:
                raise JiraError(400, UNBOUNDED)
            compiled = indexed_only(compile_query(query, store, account_id=caller.account_id, tz=caller.tz, now_ms=now_ms()))
        except JqlError as exc:
            raise JiraError(400, str(exc)) from None
        return {"count": store.count(compiled)}

    @app.post(prefix + "/issue/bulkfetch")
    async def bulkfetch(request: Request) -> Any:
        caller, r = ctx(request, version)
        body = await body_json(request)
        ids = (body or {}).get("issueIdsOrKeys") if isinstance(body, dict) else None
        if not ids or not isinstance(ids, list):
            raise JiraError(400, "At least one issue id or key must be provided.")
        if len(ids) > 100:
            raise JiraError(400, "The number of issue ids or keys must be between 1 and 100.")
        fields = resolve_fields(as_list(body.get("fields")), "*navigable")
        expand = {e.lower() for e in as_list(body.get("expand"))}
        properties = as_list(body.get("properties"))
        found: dict[int, Any] = {}
        errors = []
        for ident in ids:
            row = store.issue_row(str(ident))
            if row is None:
                errors.append({"id": str(ident), "errorMessage": ISSUE_NOT_FOUND})
            else:
                found[row["id"]] = row
        issues = [r.issue(found[i], fields or [], expand, properties, envelope=True) for i in sorted(found)]
        return {"issues": issues, "issueErrors": errors}

    # --- issues ------------------------------------------------------------------------
    def record_history(row: Any, values: dict[str, Any], labels: list[str] | None, author: str | None) -> None:
        items = change_items(store, row, values, labels)
        if items:
            store.add_history(row["id"], author, items)

    @app.get(prefix + "/issue/{issueIdOrKey}/changelog")
    async def get_changelog(request: Request, issueIdOrKey: str) -> Any:
        caller, r = ctx(request, version)
        row = issue_or_404(issueIdOrKey)
        start = q_int(request, "startAt", 0)
        limit = q_int(request, "maxResults", 100)
        if start < 0 or limit < 0:
            raise JiraError(400, "startAt and maxResults must not be negative.")
        limit = sim.knobs.page_limit(limit, 100)
        page = store.histories(row["id"], start, limit)
        total = store.history_count(row["id"])
        out: dict[str, Any] = {"self": str(request.url), "maxResults": limit, "startAt": start, "total": total,
                               "isLast": start + len(page) >= total, "values": [r.history(h) for h in page]}
        if not out["isLast"]:
            out["nextPage"] = str(request.url.include_query_params(startAt=start + len(page), maxResults=limit))
        return out

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
        record_history(row, values, labels, caller.account_id)
        store.update_issue(row["id"], values)
        if labels is not None:
            store.set_labels(row["id"], labels)
        for c in comments:
            store.add_comment(row["id"], caller.account_id, c["adf"], c["properties"])
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
        record_history(row, {"assignee": account_id}, None, caller.account_id)
        store.update_issue(row["id"], {"assignee": account_id})
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

    # --- attachments -------------------------------------------------------------------
    def attachment_or_404(attachment_id: str) -> Any:
        a = store.attachment(attachment_id)
        if a is None:
            raise JiraError(404, f"The attachment with id '{attachment_id}' does not exist.")
        return a

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

    # --- issue links -------------------------------------------------------------------
    @app.get(prefix + "/issueLinkType")
    async def link_types(request: Request) -> Any:
        caller, r = ctx(request, version)
        return {"issueLinkTypes": [r.link_type(t["id"]) for t in model.ISSUE_LINK_TYPES]}

    @app.get(prefix + "/issueLinkType/{issueLinkTypeId}")
    async def link_type(request: Request, issueLinkTypeId: str) -> Any:
        caller, r = ctx(request, version)
        if issueLinkTypeId not in model.LINK_TYPE_BY_ID:
            raise JiraError(404, f"No issue link type with id '{issueLinkTypeId}' found.")
        return r.link_type(issueLinkTypeId)

    def link_or_404(link_id: str) -> Any:
        link = store.link(link_id)
        if link is None:
            raise JiraError(404, f"No issue link with id '{link_id}' exists.")
        return link

    @app.post(prefix + "/issueLink")
    async def create_link(request: Request) -> Any:
        caller, r = ctx(request, version)
        body = await body_json(request)
        if not isinstance(body, dict):
            raise JiraError(400, "Can not deserialize the request body: expected an object.")
        ref = body.get("type") if isinstance(body.get("type"), dict) else {}
        t = next((t for t in model.ISSUE_LINK_TYPES if t["id"] == str(ref.get("id")) or t["name"] == ref.get("name")), None)
        if t is None:
            raise JiraError(404, f"No issue link type with name '{ref.get('name', ref.get('id'))}' found.")
        ends = []
        for side in ("inwardIssue", "outwardIssue"):
            issue = body.get(side) if isinstance(body.get(side), dict) else {}
            ident = issue.get("key") or issue.get("id")
            row = store.issue_row(str(ident)) if ident else None
            if row is None:
                raise JiraError(404, f"Issue Does Not Exist: {side} '{ident}'." if ident else f"The {side} must be given by key or id.")
            ends.append(row)
        if ends[0]["id"] == ends[1]["id"]:
            raise JiraError(400, "You cannot link an issue to itself.")
        comment = body.get("comment")
        if isinstance(comment, dict) and comment.get("body") not in (None, "", {}):
            try:  # to the "from" issue: the one the request names inwardIssue (see model)
                adf, text = rich_input_to_storage(comment["body"], v2)
            except ValueError as exc:
                raise JiraError(400, [], {"comment": str(exc)}) from None
            store.add_comment(ends[0]["id"], caller.account_id, json.loads(adf) if adf else text_to_adf(text), None)
        store.add_link(t["id"], ends[0]["id"], ends[1]["id"])
        return Response(status_code=201)  # Jira returns no body (nor the new link's id)

    @app.get(prefix + "/issueLink/{linkId}")
    async def get_link(request: Request, linkId: str) -> Any:
        caller, r = ctx(request, version)
        return r.link(link_or_404(linkId))

    @app.delete(prefix + "/issueLink/{linkId}")
    async def delete_link(request: Request, linkId: str) -> Any:
        store.delete_link(link_or_404(linkId)["id"])
        return Response(status_code=204)

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
        w = store.worklog(row["id"], worklog_id)
        if w is None:
            raise JiraError(404, f"Cannot find worklog with id: '{worklog_id}'.")
        return w

    @app.get(prefix + "/issue/{issueIdOrKey}/worklog")
    async def get_worklogs(request: Request, issueIdOrKey: str) -> Any:
        caller, r = ctx(request, version)
        row = issue_or_404(issueIdOrKey)
        start = q_int(request, "startAt", 0)
        limit = q_int(request, "maxResults", 5000)
        if start < 0 or limit < 0:
            raise JiraError(400, "startAt and maxResults must not be negative.")
        after = request.query_params.get("startedAfter")
        before = request.query_params.get("startedBefore")
        return r.worklog_page(row["id"], start, sim.knobs.page_limit(limit, 5000),
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
        record_history(row, values, labels, caller.account_id)
        store.update_issue(row["id"], values)
        if labels is not None:
            store.set_labels(row["id"], labels)
        for c in comments:
            store.add_comment(row["id"], caller.account_id, c["adf"], c["properties"])
        return Response(status_code=204)

    # --- comments ----------------------------------------------------------------------
    @app.get(prefix + "/issue/{issueIdOrKey}/comment")
    async def get_comments(request: Request, issueIdOrKey: str) -> Any:
        caller, r = ctx(request, version)
        row = issue_or_404(issueIdOrKey)
        start = q_int(request, "startAt", 0)
        limit = q_int(request, "maxResults", 100)
        if start < 0:
            raise JiraError(400, "startAt must be greater than or equal to 0.")
        limit = max(0, sim.knobs.page_limit(limit, 100))
        order = request.query_params.get("orderBy", "created")
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
        c = store.comment(row["id"], comment_id)
        if c is None:
            raise JiraError(404, f"Can not find a comment for the id: {comment_id}.")
        return c

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
            store.delete_user(account_id)
        except NotFound:
            raise JiraError(404, USER_NOT_FOUND) from None
        return Response(status_code=204)

    async def list_users(request: Request) -> Any:
        caller, r = ctx(request, version)
        start = q_int(request, "startAt", 0)
        limit = q_int(request, "maxResults", 50)
        if start < 0 or limit < 0:
            raise JiraError(400, "startAt and maxResults must not be negative.")
        limit = sim.knobs.page_limit(limit, 1000)
        return [r.user(u) for u in store.users_page(start, limit)]

    app.add_api_route(prefix + "/users/search", list_users, methods=["GET"])
    app.add_api_route(prefix + "/users", list_users, methods=["GET"])

    @app.get(prefix + "/user/search")
    async def user_search(request: Request) -> Any:
        caller, r = ctx(request, version)
        query = request.query_params.get("query")
        account_id = request.query_params.get("accountId")
        if not query and not account_id:
            raise JiraError(400, "One of 'accountId' or 'query' query parameters must be provided.")
        start = q_int(request, "startAt", 0)
        limit = sim.knobs.page_limit(q_int(request, "maxResults", 50), 1000)
        found = []
        for u in store.users_page(0, 10**9):
            if account_id and u["account_id"] != account_id:
                continue
            if query and not _user_matches(u, query):
                continue
            if not u["active"] and not account_id:
                continue
            found.append(u)
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
        start = max(0, q_int(request, "startAt", 0))
        limit = max(0, sim.knobs.page_limit(q_int(request, "maxResults", 50), 1000))
        found = [
            u for u in store.users_page(0, 10**9)
            if u["active"] and u["account_type"] == "atlassian"
            and (not account_id or u["account_id"] == account_id)
            and (not query or _user_matches(u, query))
        ]
        return [r.user(u) for u in found[start : start + limit]]

    # --- groups ------------------------------------------------------------------------
    def group_from_params(request: Request, required: bool = True) -> Any:
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

    @app.get(prefix + "/group")
    async def get_group(request: Request) -> Any:
        """Deprecated (use group/member) but still served by Jira Cloud: the group with its
        members as a PagedList, 50 at most, more through ``expand=users[start:end]``."""
        caller, r = ctx(request, version)
        g = group_from_params(request)
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
        g = group_from_params(request)
        store.delete_group(g["group_id"])
        return Response(status_code=200)

    @app.get(prefix + "/group/bulk")
    async def group_bulk(request: Request) -> Any:
        caller, r = ctx(request, version)
        start = q_int(request, "startAt", 0)
        limit = q_int(request, "maxResults", 50)
        if start < 0 or limit < 1:
            raise JiraError(400, "startAt must be >= 0 and maxResults must be > 0.")
        limit = sim.knobs.page_limit(limit, 1000)
        ids = request.query_params.getlist("groupId")
        names = request.query_params.getlist("groupName")
        rows, total = store.groups_page(start, limit, ids, names)
        is_last = start + len(rows) >= total
        out: dict[str, Any] = {
            "self": str(request.url), "maxResults": limit, "startAt": start, "total": total,
            "isLast": is_last, "values": [{"name": g["name"], "groupId": g["group_id"]} for g in rows],
        }
        if not is_last:
            out["nextPage"] = str(request.url.include_query_params(startAt=start + len(rows), maxResults=limit))
        return out

    @app.get(prefix + "/group/member")
    async def group_members(request: Request) -> Any:
        caller, r = ctx(request, version)
        g = group_from_params(request)
        start = q_int(request, "startAt", 0)
        limit = q_int(request, "maxResults", 50)
        if start < 0 or limit < 1:
            raise JiraError(400, "startAt must be >= 0 and maxResults must be between 1 and 50.")
        limit = sim.knobs.page_limit(limit, 50)
        members = store.members(g["group_id"], q_bool(request, "includeInactiveUsers", False))
        page = members[start : start + limit]
        is_last = start + len(page) >= len(members)
        out: dict[str, Any] = {
            "self": str(request.url), "maxResults": limit, "startAt": start, "total": len(members),
            "isLast": is_last, "values": [r.user(u, details=True) for u in page],
        }
        if not is_last:
            out["nextPage"] = str(request.url.include_query_params(startAt=start + len(page), maxResults=limit))
        return out

    @app.post(prefix + "/group/user")
    async def add_group_user(request: Request) -> Any:
        caller, r = ctx(request, version)
        require_admin(caller, "add users to groups")
        g = group_from_params(request)
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
        g = group_from_params(request)
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


# --- admin API -------------------------------------------------------------------------------


def _register_admin(app: FastAPI, sim: Simulator) -> None:
    store = sim.store

    def admin_issue_values(body: dict, creating: bool) -> tuple[dict[str, Any], list[str] | None]:
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

    @app.get("/_admin/health")
    async def health() -> Any:
        return {"status": "ok", "issues": store.conn.execute("SELECT COUNT(*) FROM issues").fetchone()[0]}

    @app.get("/_admin/config")
    async def get_config() -> Any:
        return sim.knobs.config()

    @app.put("/_admin/config")
    async def put_config(request: Request) -> Any:
        body = await body_json(request)
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
        return sim.knobs.config()

    @app.get("/_admin/faults")
    async def get_faults() -> Any:
        return [f.as_dict() for f in sim.knobs.faults]

    @app.post("/_admin/faults")
    async def add_fault(request: Request) -> Any:
        body = await body_json(request)
        ftype = body.get("type", "status")
        if ftype not in ("status", "reset", "slow", "drop_after"):
            raise JiraError(400, "type must be one of status, reset, slow, drop_after")
        fault = Fault(
            type=ftype, count=int(body.get("count", 1)), status=int(body.get("status", 503)),
            retry_after=body.get("retry_after"), delay_ms=int(body.get("delay_ms", 0)),
            path=body.get("path"), method=body.get("method"),
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

    @app.post("/_admin/issues")
    async def admin_create_issue(request: Request) -> Any:
        body = await body_json(request)
        values, labels = admin_issue_values(body, creating=True)
        row = store.insert_issue(values, labels or [])
        for c in body.get("comments") or []:
            store.add_comment(row["id"], c.get("author"), c["body"] if is_adf_value(c.get("body")) else text_to_adf(str(c.get("body", ""))), None, created=parse_time(c["created"]) if c.get("created") else None)
        if "updated" in values:  # comments touch `updated`; an explicit value wins
            store.update_issue(row["id"], {"updated": values["updated"]}, touch=False)
        return JSONResponse(issue_ref(store.issue_row(str(row["id"]))), status_code=201)

    @app.patch("/_admin/issues/{key}")
    async def admin_update_issue(request: Request, key: str) -> Any:
        row = store.issue_row(key)
        if row is None:
            raise JiraError(404, ISSUE_NOT_FOUND)
        body = await body_json(request)
        values, labels = admin_issue_values(body, creating=False)
        values.pop("project_key", None)
        items = change_items(store, row, values, labels)
        if items:  # Jira changed "by someone else": the changelog shows it
            store.add_history(row["id"], body.get("author"), items)
        store.update_issue(row["id"], values)
        if labels is not None:
            store.set_labels(row["id"], labels)
        return issue_ref(store.issue_row(str(row["id"])))

    @app.delete("/_admin/issues/{key}")
    async def admin_delete_issue(key: str) -> Any:
        row = store.issue_row(key)
        if row is None:
            raise JiraError(404, ISSUE_NOT_FOUND)
        store.delete_issue(row["id"])
        return Response(status_code=204)

    @app.post("/_admin/users")
    async def admin_create_user(request: Request) -> Any:
        body = await body_json(request)
        u = store.create_user(
            body.get("email"), body.get("displayName") or (body.get("email") or "user").split("@")[0],
            account_id=body.get("accountId"), active=bool(body.get("active", True)),
            account_type=body.get("accountType", "atlassian"), time_zone=body.get("timeZone", "Europe/Helsinki"),
            products=body.get("products", ["jira-software"]),
        )
        return JSONResponse({"accountId": u["account_id"]}, status_code=201)

    @app.patch("/_admin/users/{account_id}")
    async def admin_update_user(request: Request, account_id: str) -> Any:
        body = await body_json(request)
        mapping = {"email": "email", "displayName": "display_name", "active": "active", "timeZone": "time_zone", "accountType": "account_type"}
        values = {mapping[k]: (int(v) if k == "active" else v) for k, v in body.items() if k in mapping}
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
