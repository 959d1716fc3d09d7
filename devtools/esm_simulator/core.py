"""What the parts of the ESM simulator share: its state and knobs, ApiException errors, and
the checks every endpoint makes (token, template, card, query parameters)."""
from __future__ import annotations

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

import jwt
from fastapi import Request
from fastapi.responses import JSONResponse

from .store import Store
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
    tokens_expired_through: int = 0     # tokens numbered up to this one are expired (/_admin/tokens/expire)
    filter_in_window: bool = False      # a filtered page: the matches among the next `limit` cards
    list_trashed: bool = False          # listings (data, data/stream) include trashed cards (deleted: true)
    read_only_folders: tuple[str, ...] = ()  # writes to cards in these folders answer 403
    read_only_attributes: tuple[str, ...] = ()  # "template.attribute": writes of it answer 403
    read_only_templates: tuple[str, ...] = ()  # every write to these templates answers 403 (reads work)

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
    # the number of the last token issued (a token's "seq"); counted on from the clock's
    # microseconds, so a token from before a restart (the secret survives it) numbers lower
    tokens_issued: int = field(default_factory=lambda: time.time_ns() // 1000)
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


class Api:
    """The checks the REST endpoints share, over the simulator's state."""

    def __init__(self, state: SimState) -> None:
        self.state = state

    def issue_token(self, login: str) -> tuple[str, int]:
        now = time.time()
        ttl = self.state.knobs.token_ttl
        with self.state.lock:
            # numbered, not timed: an expiry ends exactly the tokens issued before it, never one
            # a client gets right after (in the same millisecond)
            self.state.tokens_issued += 1
            seq = self.state.tokens_issued
        payload = {"sub": login, "iat": int(now), "exp": math.ceil(now + ttl), "seq": seq,
                   "jti": uuid.uuid4().hex, "iss": "esm-simulator"}
        return jwt.encode(payload, self.state.secret, algorithm="HS256"), ttl

    def current_user(self, request: Request) -> str:
        header = request.headers.get("authorization", "")
        token = header[7:].strip() if header.lower().startswith("bearer ") else header.strip()
        if not token:
            raise ApiError(401, "Authorization header with a Bearer JWT is missing")
        try:
            payload = jwt.decode(token, self.state.secret, algorithms=["HS256"], options={"require": ["exp", "sub"]})
        except jwt.ExpiredSignatureError:
            raise ApiError(401, "JWT token has expired; log in again") from None
        except jwt.PyJWTError:
            raise ApiError(401, "JWT token is invalid") from None
        if int(payload.get("seq", 0)) <= self.state.knobs.tokens_expired_through:
            raise ApiError(401, "JWT token has expired; log in again")
        if payload["sub"] not in self.state.users:
            raise ApiError(401, "JWT token is invalid")
        return str(payload["sub"])

    def template_or_404(self, code: str) -> Template:
        tpl = self.state.catalog.templates.get(code)
        if tpl is None:
            raise ApiError(404, f"Template '{code}' not found")
        return tpl

    def card_or_404(self, tpl: Template, card_id: str) -> Any:
        row = self.state.store.get(int(card_id)) if card_id.isdigit() and len(card_id) < 19 else None
        if row is None or row.template != tpl.code:
            raise ApiError(404, f"Data card {card_id} not found in template '{tpl.code}'")
        return row

    def check_writable(self, tpl: Template, folders: Any = (), codes: Any = ()) -> None:
        """403, as every write documents it, when the user may not update the template at all,
        or the write touches a card in a folder or an attribute the user may not update (the
        ``read_only_templates`` / ``_folders`` / ``_attributes`` knobs)."""
        knobs = self.state.knobs
        if tpl.code in knobs.read_only_templates:
            raise ApiError(403, f"User is forbidden to update data cards of template '{tpl.code}'")
        locked = [f for f in folders if isinstance(f, str) and f in knobs.read_only_folders]
        if locked:
            raise ApiError(403, f"User is forbidden to update data cards of template '{tpl.code}' in folder '{locked[0]}'")
        locked = [c for c in codes if f"{tpl.code}.{c}" in knobs.read_only_attributes]
        if locked:
            raise ApiError(403, f"User is forbidden to update attribute '{locked[0]}' of template '{tpl.code}'")

    def selected_attributes(self, tpl: Template, raw: str | None) -> list[str] | None:
        if raw is None or not raw.strip():
            return None
        names = [n.strip() for n in raw.split(",") if n.strip()]
        unknown = [n for n in names if n not in tpl.attributes]
        if unknown:
            raise ApiError(400, f"Template '{tpl.code}' has no attribute(s): {', '.join(unknown)}")
        return names
