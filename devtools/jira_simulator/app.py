"""The FastAPI application: Jira Cloud REST v3 (and v2) endpoints plus the /_admin/ API.

The endpoints live one module per resource in :mod:`.routes` (issues, search, users, groups,
comments, worklogs, attachments, links, properties, site metadata), the /_admin/ API in
:mod:`.admin`; this module puts them together behind the middleware that authenticates callers
and applies the knobs (latency, rate limits, injected faults) and statistics.
"""
from __future__ import annotations

import asyncio
import json
import math
import socket
import struct
import time
from typing import Any, Awaitable, Callable

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.responses import Response
from starlette.routing import Match

from .admin import register_admin
from .base import ISSUE_NOT_FOUND, Api, Caller, JiraError, JSONResponse, Simulator, found_or_404, jira_error_response
from .render import Renderer
from .routes import register_api

__all__ = ["JiraError", "JSONResponse", "Simulator", "create_app"]


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
        arrived = time.time()  # before the latency knob: when the client's request came in
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
            if fault is not None and fault.type == "empty":
                response = await _emptied(response)
            if decision is not None:
                for k, v in decision.headers().items():
                    response.headers[k] = v
            status = response.status_code
            return response
        finally:
            sim.stats.record(name, status, routed, arrived=arrived)

    def ctx(request: Request, version: str) -> tuple[Caller, Renderer]:
        caller: Caller = getattr(request.state, "caller", Caller(None))
        base = str(request.base_url).rstrip("/")
        return caller, Renderer(store, base, version, caller.tz, caller.account_id)

    def issue_or_404(id_or_key: str) -> Any:
        return found_or_404(store.issue_row(id_or_key), ISSUE_NOT_FOUND)

    def require_admin(caller: Caller, what: str) -> None:
        if caller.account is None or not caller.account.admin:
            raise JiraError(403, f"You do not have the permission to {what}.")

    for version in ("3", "2"):
        register_api(app, Api(sim, version, ctx, issue_or_404, require_admin))
    register_admin(app, sim)
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


async def _emptied(response: Response) -> Response:
    """The endpoint's answer with its items left out -- a bare array, or a page's ``values``,
    ``issues`` or ``comments`` -- and everything else (``total``, ``isLast``) as it was: a
    page that came back empty although it says more follow."""
    body = b"".join([chunk async for chunk in response.body_iterator])  # type: ignore[attr-defined]
    data = json.loads(body) if body else None
    if isinstance(data, list):
        data = []
    elif isinstance(data, dict):
        data = {k: [] if k in ("values", "issues", "comments") and isinstance(v, list) else v for k, v in data.items()}
    headers = {k: v for k, v in response.headers.items() if k.lower() != "content-length"}
    return Response(json.dumps(data).encode(), status_code=response.status_code, headers=headers)


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


