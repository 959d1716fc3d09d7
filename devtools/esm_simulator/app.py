"""FastAPI application of the ESM simulator: the REST API under /rest-api/itsm/v1 and /_admin/."""
from __future__ import annotations

import asyncio
import dataclasses
import json
import math
import threading
import time
import uuid
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlencode

import jwt
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, StreamingResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from . import cards as card_rules
from .eql import EqlError, compile_filter
from .store import Store
from .store import card_values as card_values_table
from .store import cards as cards_table
from .templates import Catalog, Template, now_iso

API_PREFIX = "/rest-api/itsm/v1"
DEFAULT_TOKEN_TTL = 3600
MAX_BULK_CARDS = 10_000

_REASONS = {400: "Bad Request", 401: "Unauthorized", 403: "Forbidden", 404: "Not Found", 409: "Conflict",
            500: "Internal Server Error", 502: "Bad Gateway", 503: "Service Unavailable",
            504: "Gateway Timeout", 429: "Too Many Requests"}


@dataclass
class Knobs:
    """Operational knobs (start-up flags and /_admin/)."""
    latency: float = 0.0                # seconds added to every API request
    error_count: int = 0                # the next N API requests answer error_status
    error_status: int = 503
    error_path: str = ""                # only requests whose path contains this (empty: all)
    reset_count: int = 0                # the next N API requests get their connection reset
    reset_path: str = ""
    rate_limit: float = 0.0             # API requests per second before 429 (0: no limit)
    token_ttl: int = DEFAULT_TOKEN_TTL  # lifetime of newly issued tokens, seconds
    tokens_not_before_ms: int = 0       # tokens issued at or before this instant are expired

    def as_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


@dataclass
class SimState:
    catalog: Catalog
    store: Store
    users: dict[str, str]
    knobs: Knobs = field(default_factory=Knobs)
    stats: Counter = field(default_factory=Counter)
    statuses: Counter = field(default_factory=Counter)
    lock: threading.Lock = field(default_factory=threading.Lock)
    secret: str = ""
    start_knobs: Knobs | None = None  # what /_admin/reset returns to (default: the initial knobs)

    def __post_init__(self) -> None:
        if self.start_knobs is None:
            # one-shot injections are not re-armed by /_admin/reset
            self.start_knobs = dataclasses.replace(self.knobs, error_count=0, reset_count=0)
    bucket: float = 0.0       # rate limit token bucket (tokens, last refill)
    bucket_at: float = 0.0
    # set by the server: aborts the TCP connection of a client (host, port) with a RST
    abort_connection: Callable[[Any], bool] | None = None


class ApiError(Exception):
    def __init__(self, status: int, message: str):
        super().__init__(message)
        self.status = status
        self.message = message


def _ts() -> str:
    return now_iso()


def api_exception(status: int, message: str, url: str) -> JSONResponse:
    """ApiException body."""
    return JSONResponse(
        {"code": status, "message": message, "error": _REASONS.get(status, "Error"), "url": url,
         "timestamp": _ts()},
        status_code=status,
    )


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
    catalog, store = state.catalog, state.store

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

    # --- auth ---------------------------------------------------------------------------
    def issue_token(login: str) -> tuple[str, int]:
        now = time.time()
        ttl = state.knobs.token_ttl
        payload = {"sub": login, "iat": int(now), "exp": math.ceil(now + ttl), "iat_ms": int(now * 1000),
                   "jti": uuid.uuid4().hex, "iss": "esm-simulator"}
        return jwt.encode(payload, state.secret, algorithm="HS256"), ttl

    def current_user(request: Request) -> str:
        header = request.headers.get("authorization", "")
        token = header[7:].strip() if header.lower().startswith("bearer ") else header.strip()
        if not token:
            raise ApiError(401, "Authorization header with a Bearer JWT is missing")
        try:
            payload = jwt.decode(token, state.secret, algorithms=["HS256"], options={"require": ["exp", "sub"]})
        except jwt.ExpiredSignatureError:
            raise ApiError(401, "JWT token has expired; log in again") from None
        except jwt.PyJWTError:
            raise ApiError(401, "JWT token is invalid") from None
        if int(payload.get("iat_ms", 0)) <= state.knobs.tokens_not_before_ms:
            raise ApiError(401, "JWT token has expired; log in again")
        if payload["sub"] not in state.users:
            raise ApiError(401, "JWT token is invalid")
        return str(payload["sub"])

    def template_or_404(code: str) -> Template:
        tpl = catalog.templates.get(code)
        if tpl is None:
            raise ApiError(404, f"Template '{code}' not found")
        return tpl

    def card_or_404(tpl: Template, card_id: str) -> Any:
        row = store.get(int(card_id)) if card_id.isdigit() and len(card_id) < 19 else None
        if row is None or row.template != tpl.code:
            raise ApiError(404, f"Data card {card_id} not found in template '{tpl.code}'")
        return row

    def selected_attributes(tpl: Template, raw: str | None) -> list[str] | None:
        if raw is None or not raw.strip():
            return None
        names = [n.strip() for n in raw.split(",") if n.strip()]
        unknown = [n for n in names if n not in tpl.attributes]
        if unknown:
            raise ApiError(400, f"Template '{tpl.code}' has no attribute(s): {', '.join(unknown)}")
        return names

    def parse_bool(raw: str | None, name: str) -> bool:
        if raw is None or raw == "":
            return False
        if raw.lower() in ("true", "1"):
            return True
        if raw.lower() in ("false", "0"):
            return False
        raise ApiError(400, f"Query parameter '{name}' must be true or false")

    async def json_body(request: Request) -> Any:
        raw = await request.body()
        try:
            return json.loads(raw or b"null")
        except ValueError:
            raise ApiError(400, "Invalid JSON.") from None

    # --- login / echo -------------------------------------------------------------------
    @app.post(API_PREFIX + "/users/login")
    async def login(request: Request) -> JSONResponse:
        ctype = request.headers.get("content-type", "")
        if "application/x-www-form-urlencoded" not in ctype and "multipart/form-data" not in ctype:
            raise ApiError(400, "Login expects a form (application/x-www-form-urlencoded) with 'login' and 'password'")
        form = await request.form()
        user, password = form.get("login"), form.get("password")
        if not user or password is None:
            raise ApiError(400, "Login form needs both 'login' and 'password'")
        if state.users.get(str(user)) != str(password):
            return api_exception(401, "Wrong credentials provided.", str(request.url))
        token, ttl = issue_token(str(user))
        body = {"code": 200, "message": "Authenticated", "timestamp": _ts(), "token": f"Bearer {token}"}
        return JSONResponse(body, headers={"Authorization": f"Bearer {token}", "X-Token-Expires-In": str(ttl)})

    @app.get(API_PREFIX + "/echo")
    async def echo(message: str | None = None) -> dict:
        return {"code": 200, "message": message or "", "timestamp": _ts()}

    @app.get(API_PREFIX + "/echo/jwt")
    def echo_jwt(request: Request, message: str | None = None) -> dict:
        current_user(request)
        return {"code": 200, "message": message or "", "timestamp": _ts()}

    # --- templates ----------------------------------------------------------------------
    @app.get(API_PREFIX + "/dc")
    def list_templates(request: Request) -> list:
        current_user(request)
        return [{"name": t.name, "templateCode": t.code, "url": f"/dc/{t.code}"} for t in catalog.templates.values()]

    @app.get(API_PREFIX + "/dc/{templateCode}")
    def get_template(request: Request, templateCode: str) -> dict:
        current_user(request)
        return template_or_404(templateCode).info(catalog.folders)

    # --- reading cards ------------------------------------------------------------------
    def read_params(request: Request, tpl: Template) -> tuple[Any, bool, list[str] | None]:
        q = request.query_params
        flt = q.get("filter")
        cond = None
        if flt is not None and flt.strip():
            try:
                cond = compile_filter(flt, tpl, cards_table, card_values_table, store.estimate_values)
            except EqlError as exc:
                raise ApiError(400, str(exc)) from None
        selected = selected_attributes(tpl, q.get("selectedAttributes"))
        full = parse_bool(q.get("dataCards"), "dataCards") or selected is not None
        return cond, full, selected

    def render_rows(rows: list, full: bool, selected: list[str] | None) -> list[dict]:
        if not full:
            return [card_rules.info_element(r.template, r.id, r.name) for r in rows]
        refs = store.brief(card_rules.reference_ids_of(rows, catalog))
        return [card_rules.render_card(store, catalog, r, selected, refs) for r in rows]

    @app.get(API_PREFIX + "/dc/{templateCode}/data")
    def list_cards(request: Request, templateCode: str) -> dict:
        current_user(request)
        tpl = template_or_404(templateCode)
        q = request.query_params
        raw_limit = q.get("limit")
        if raw_limit is None or raw_limit == "":
            raise ApiError(400, "Query parameter 'limit' is required (1-200)")
        if not raw_limit.isdigit() or not 1 <= int(raw_limit) <= 200:
            raise ApiError(400, f"Query parameter 'limit' must be between 1 and 200, got '{raw_limit}'")
        limit = int(raw_limit)
        raw_fid = q.get("filterId") or "0"
        if not raw_fid.isdigit():
            raise ApiError(400, f"Query parameter 'filterId' must be a data card id, got '{raw_fid}'")
        before = min(int(raw_fid), 2**63 - 1)
        cond, full, selected = read_params(request, tpl)
        rows = store.page(tpl.code, limit + 1, before or None, cond)
        more = len(rows) > limit
        rows = rows[:limit]
        links: dict[str, str] = {"self": str(request.url)}
        if more and rows:
            params = [(k, v) for k, v in q.multi_items() if k not in ("filterId", "limit")]
            params += [("limit", str(limit)), ("filterId", str(rows[-1].id))]
            links["next"] = f"{request.url.scheme}://{request.url.netloc}{API_PREFIX}/dc/{tpl.code}/data?{urlencode(params)}"
        return {"meta": {"count": len(rows), "limit": limit, "links": links},
                "data": render_rows(rows, full, selected)}

    @app.get(API_PREFIX + "/dc/{templateCode}/data/stream")
    def stream_cards(request: Request, templateCode: str) -> StreamingResponse:
        current_user(request)
        tpl = template_or_404(templateCode)
        cond, full, selected = read_params(request, tpl)

        def generate():
            # one chunk per batch of cards: every chunk of a sync iterator costs a thread hop
            yield b'{"data":['
            count = 0
            for rows in store.iter_batches(tpl.code, cond, batch=1000):
                items = render_rows(rows, full, selected)
                chunk = b",".join(json.dumps(item, separators=(",", ":")).encode() for item in items)
                yield (b"," if count else b"") + chunk
                count += len(items)
            yield b'],"meta":' + json.dumps({"count": count}).encode() + b"}"

        return StreamingResponse(generate(), media_type="application/json")

    @app.get(API_PREFIX + "/dc/{templateCode}/data/{dataCardId}")
    def get_card(request: Request, templateCode: str, dataCardId: str) -> dict:
        current_user(request)
        tpl = template_or_404(templateCode)
        row = card_or_404(tpl, dataCardId)
        selected = selected_attributes(tpl, request.query_params.get("selectedAttributes"))
        return card_rules.render_card(store, catalog, row, selected)

    # --- writing cards ------------------------------------------------------------------
    def response_meta(request: Request, **extra: Any) -> dict:
        return {"timestamp": _ts(), "url": str(request.url), **extra}

    @app.put(API_PREFIX + "/dc/{templateCode}/data")
    async def bulk_import(request: Request, templateCode: str) -> dict:
        user = current_user(request)
        tpl = template_or_404(templateCode)
        body = await json_body(request)
        if not isinstance(body, list):
            raise ApiError(400, "Bulk import expects a JSON array of data cards")
        if len(body) > MAX_BULK_CARDS:
            raise ApiError(400, f"Bulk import takes at most {MAX_BULK_CARDS} data cards per request, got {len(body)}")
        return await asyncio.to_thread(_bulk_import_sync, request, tpl, body, user)

    def _bulk_import_sync(request: Request, tpl: Template, body: list, user: str) -> dict:
        ref_ids: set[int] = set()
        target_ids: set[int] = set()
        for card in body:
            ref_ids |= card_rules.referenced_ids(card)
            if isinstance(card, dict) and str(card.get("dataCardId", "")).isdigit() and len(str(card["dataCardId"])) < 19:
                target_ids.add(int(card["dataCardId"]))
        refs = store.brief(ref_ids)
        existing = {i: store.get(i) for i in target_ids}
        plans: list[tuple[str, Any, Any]] = []  # (kind, prepared, row)
        for card in body:
            row = None
            if isinstance(card, dict) and card.get("dataCardId") not in (None, ""):
                cid = str(card["dataCardId"])
                row = existing.get(int(cid)) if cid.isdigit() and len(cid) < 19 else None
                if row is None or row.template != tpl.code:
                    plans.append(("refused", card_rules.Prepared(errors=[card_rules.error(
                        "dataCardId", "card", f"Data card {cid} not found in template '{tpl.code}'")]), None))
                    continue
                if row.deleted:
                    plans.append(("refused", card_rules.Prepared(errors=[card_rules.error(
                        "dataCardId", "card", f"Data card {cid} is in the trash can")]), row))
                    continue
            prepared = card_rules.prepare(catalog, tpl, card, row, user, refs)
            kind = "refused" if prepared.errors else ("update" if row else "create")
            if kind == "update":
                row.data, row.folder, row.name = prepared.data, prepared.folder, prepared.name  # later duplicates build on it
            plans.append((kind, prepared, row))
        creates = [{"template": tpl.code, "folder": p.folder, "name": p.name, "data": p.data}
                   for kind, p, _ in plans if kind == "create"]
        updates = {}
        for kind, p, row in plans:
            if kind == "update":
                updates[row.id] = {"id": row.id, "template": tpl.code, "folder": p.folder, "name": p.name, "data": p.data}
        new_ids = iter(store.save(creates, list(updates.values())))
        data = []
        saved = refused = 0
        for kind, p, row in plans:
            if kind == "refused":
                refused += 1
                item: dict[str, Any] = {"errors": p.errors}
                if row is not None:
                    item["dataCard"] = card_rules.info_element(tpl.code, row.id, row.name)
                data.append(item)
                continue
            saved += 1
            cid = next(new_ids) if kind == "create" else row.id
            data.append({"dataCard": card_rules.info_element(tpl.code, cid, p.name)})
        meta = response_meta(request, importResult={
            "handledDataCards": len(body), "savedDataCards": saved, "notSavedDataCards": refused})
        return {"meta": meta, "data": data}

    def write_one(request: Request, tpl: Template, body: Any, row: Any, user: str,
                  append_multi: bool = False) -> tuple[int, card_rules.Prepared]:
        refs = store.brief(card_rules.referenced_ids(body))
        prepared = card_rules.prepare(catalog, tpl, body, row, user, refs, append_multi=append_multi)
        if prepared.errors:
            raise ApiError(400, "; ".join(
                f"{e['attributeCode']}: {e['message']}" for e in prepared.errors))
        if row is None:
            (cid,) = store.save([{"template": tpl.code, "folder": prepared.folder, "name": prepared.name,
                                  "data": prepared.data}], [])
            return cid, prepared
        store.save([], [{"id": row.id, "template": tpl.code, "folder": prepared.folder, "name": prepared.name,
                         "data": prepared.data}])
        return row.id, prepared

    def written_card(request: Request, cid: int) -> dict:
        """``{dataCardId}``, or with ``dataCards=true`` the whole card as now stored."""
        if parse_bool(request.query_params.get("dataCards"), "dataCards"):
            row = store.get(cid)
            if row is not None:
                return card_rules.render_card(store, catalog, row, None)
        return {"dataCardId": str(cid)}

    @app.post(API_PREFIX + "/dc/{templateCode}/data", status_code=201)
    async def create_card(request: Request, templateCode: str) -> JSONResponse:
        user = current_user(request)
        tpl = template_or_404(templateCode)
        body = await json_body(request)
        if not isinstance(body, dict):
            raise ApiError(400, "Create expects one data card as a JSON object")
        cid, _ = await asyncio.to_thread(write_one, request, tpl, body, None, user)
        return JSONResponse({"meta": response_meta(request), "dataCard": written_card(request, cid)}, status_code=201)

    @app.patch(API_PREFIX + "/dc/{templateCode}/data/{dataCardId}")
    async def modify_card(request: Request, templateCode: str, dataCardId: str) -> dict:
        user = current_user(request)
        tpl = template_or_404(templateCode)
        row = card_or_404(tpl, dataCardId)
        body = await json_body(request)
        if not isinstance(body, dict):
            raise ApiError(400, "Modify expects one data card as a JSON object")
        if body.get("dataCardId") not in (None, "", dataCardId):
            raise ApiError(400, f"dataCardId {body['dataCardId']} in the body does not match {dataCardId} in the path")
        if row.deleted:
            raise ApiError(400, f"Data card {dataCardId} is in the trash can")
        cid, _ = await asyncio.to_thread(write_one, request, tpl, body, row, user)
        return {"meta": response_meta(request), "dataCard": written_card(request, cid)}

    @app.delete(API_PREFIX + "/dc/{templateCode}/data/{dataCardId}")
    def delete_card(request: Request, templateCode: str, dataCardId: str) -> dict:
        current_user(request)
        tpl = template_or_404(templateCode)
        row = card_or_404(tpl, dataCardId)
        if row.deleted or not store.trash(row.id):
            raise ApiError(409, f"Data card {dataCardId} is already in the trash can")
        return {"code": 200, "message": f"Data card {dataCardId} moved to the trash can", "timestamp": _ts()}

    # --- attribute endpoints ------------------------------------------------------------
    def attribute_or_404(tpl: Template, code: str) -> Any:
        attr = tpl.attributes.get(code)
        if attr is None:
            raise ApiError(404, f"Template '{tpl.code}' has no attribute '{code}'")
        return attr

    @app.get(API_PREFIX + "/dc/{templateCode}/data/{dataCardId}/{attributeCode}")
    def get_attribute(request: Request, templateCode: str, dataCardId: str, attributeCode: str) -> dict:
        current_user(request)
        tpl = template_or_404(templateCode)
        row = card_or_404(tpl, dataCardId)
        attribute_or_404(tpl, attributeCode)
        refs = store.brief(card_rules.reference_ids_of([row], catalog))
        return card_rules.render_element(catalog, tpl, attributeCode, row, refs)

    async def attribute_write(request: Request, templateCode: str, dataCardId: str, attributeCode: str,
                              mode: str) -> dict:
        user = current_user(request)
        tpl = template_or_404(templateCode)
        row = card_or_404(tpl, dataCardId)
        attr = attribute_or_404(tpl, attributeCode)
        if row.deleted:
            raise ApiError(400, f"Data card {dataCardId} is in the trash can")
        if mode == "delete":
            values: Any = []
            if attr.type == "worklog":
                row.data.pop(attributeCode, None)  # clearing a worklog empties it
        else:
            body = await json_body(request)
            if not isinstance(body, dict) or not isinstance(body.get("values"), list):
                raise ApiError(400, "Expected a JSON object {\"values\": [...]}")
            values = body["values"]
        card_body = {"data": {attributeCode: {"values": values}}}
        await asyncio.to_thread(write_one, request, tpl, card_body, row, user, mode == "add")
        verb = {"replace": "updated", "add": "added to", "delete": "cleared"}[mode]
        return {"code": 200, "message": f"Attribute '{attributeCode}' {verb}", "timestamp": _ts()}

    @app.put(API_PREFIX + "/dc/{templateCode}/data/{dataCardId}/{attributeCode}")
    async def put_attribute(request: Request, templateCode: str, dataCardId: str, attributeCode: str) -> dict:
        return await attribute_write(request, templateCode, dataCardId, attributeCode, "replace")

    @app.post(API_PREFIX + "/dc/{templateCode}/data/{dataCardId}/{attributeCode}")
    async def post_attribute(request: Request, templateCode: str, dataCardId: str, attributeCode: str) -> dict:
        return await attribute_write(request, templateCode, dataCardId, attributeCode, "add")

    @app.delete(API_PREFIX + "/dc/{templateCode}/data/{dataCardId}/{attributeCode}")
    async def delete_attribute(request: Request, templateCode: str, dataCardId: str, attributeCode: str) -> dict:
        return await attribute_write(request, templateCode, dataCardId, attributeCode, "delete")

    # --- admin --------------------------------------------------------------------------
    from .admin import register_admin  # late import: admin uses ApiError / Knobs from here

    register_admin(app, state)
    return KnobsMiddleware(app, state)

