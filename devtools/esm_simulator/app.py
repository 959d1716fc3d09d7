"""FastAPI application of the ESM simulator: the REST API under /rest-api/itsm/v1 and /_admin/.

The endpoints live one module per resource in :mod:`.routes` (login, templates, reading and
writing cards, attributes), the /_admin/ API in :mod:`.admin`; this module puts them together
behind :class:`KnobsMiddleware` (latency, rate limit, injected errors and resets, statistics).
"""
from __future__ import annotations

import asyncio
import math
import time
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from .admin import register_admin
from .core import API_PREFIX, Api, ApiError, Knobs, SimState, api_exception
from .routes import register_api

__all__ = ["API_PREFIX", "ApiError", "Knobs", "SimState", "create_app"]


# --- knobs middleware (pure ASGI so a reset can happen before any byte is sent) -----------

class KnobsMiddleware:
    def __init__(self, app: Any, state: SimState):
        self.app = app
        self.state = state

    async def __call__(self, scope: dict, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        path = scope["path"]
        st = self.state
        if path.startswith(API_PREFIX):
            k = st.knobs
            if k.latency > 0:
                await asyncio.sleep(k.latency)
            action = None
            retry_after = 1
            with st.lock:
                if k.rate_limit > 0:  # token bucket: burst of max(1, rate), refilled at rate/s
                    now = time.monotonic()
                    capacity = max(1.0, k.rate_limit)
                    if st.bucket_at == 0.0:
                        st.bucket, st.bucket_at = capacity, now
                    st.bucket = min(capacity, st.bucket + (now - st.bucket_at) * k.rate_limit)
                    st.bucket_at = now
                    if st.bucket >= 1.0:
                        st.bucket -= 1.0
                    else:
                        action = "rate"
                        retry_after = max(1, math.ceil((1.0 - st.bucket) / k.rate_limit))
                if action:
                    pass
                elif k.reset_count > 0 and (not k.reset_path or k.reset_path in path):
                    k.reset_count -= 1
                    action = "reset"
                elif k.error_count > 0 and (not k.error_path or k.error_path in path):
                    k.error_count -= 1
                    action = "error"
            if action == "reset":
                with st.lock:
                    st.stats["injected connection reset"] += 1
                if st.abort_connection and st.abort_connection(scope.get("client")):
                    return
                # no access to the socket (in-process use): break the response half-way instead
                await send({"type": "http.response.start", "status": 200,
                            "headers": [(b"content-type", b"application/json"), (b"content-length", b"1000")]})
                await send({"type": "http.response.body", "body": b"{", "more_body": True})
                raise ConnectionResetError("injected connection reset")
            if action == "rate":
                with st.lock:
                    st.stats["rate limited"] += 1
                    st.statuses[429] += 1
                resp = api_exception(429, f"Too many requests, try again in {retry_after} seconds", path)
                resp.headers["Retry-After"] = str(retry_after)
                await resp(scope, receive, send)
                return
            if action == "error":
                status = k.error_status
                with st.lock:
                    st.stats["injected error"] += 1
                    st.statuses[status] += 1
                resp = api_exception(status, f"Injected error {status} (simulator knob)", path)
                if status in (429, 503):
                    resp.headers["Retry-After"] = "1"
                await resp(scope, receive, send)
                return

        status_box: list[int] = []

        async def send_wrapper(message: dict) -> None:
            if message["type"] == "http.response.start":
                status_box.append(message["status"])
            await send(message)

        try:
            await self.app(scope, receive, send_wrapper)
        finally:
            route = scope.get("route")
            key = f"{scope['method']} {getattr(route, 'path', path)}"
            with st.lock:
                st.stats[key] += 1
                if status_box:
                    st.statuses[status_box[0]] += 1


# --- application ------------------------------------------------------------------------

def create_app(state: SimState) -> Any:
    app = FastAPI(title="Efecte ESM simulator", docs_url="/_admin/docs", openapi_url="/_admin/openapi.json",
                  redoc_url=None)
    state.secret = state.store.secret()

    @app.exception_handler(ApiError)
    async def _api_error(request: Request, exc: ApiError) -> JSONResponse:
        return api_exception(exc.status, exc.message, str(request.url))

    @app.exception_handler(StarletteHTTPException)
    async def _http_error(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        msg = "Resource not found" if exc.status_code == 404 else str(exc.detail)
        return api_exception(exc.status_code, msg, str(request.url))

    @app.exception_handler(RequestValidationError)
    async def _validation(request: Request, exc: RequestValidationError) -> JSONResponse:
        parts = [f"{'.'.join(str(p) for p in e.get('loc', []))}: {e.get('msg')}" for e in exc.errors()]
        return api_exception(400, "Invalid request: " + "; ".join(parts), str(request.url))

    register_api(app, Api(state))
    register_admin(app, state)
    return KnobsMiddleware(app, state)
