"""What every part of the Jira simulator shares: JSON responses and errors, the simulator's
state, the caller, and the parsing of query parameters and bodies."""
from __future__ import annotations

import base64
import binascii
import datetime as _dt
import json
from dataclasses import dataclass
from typing import Any, Callable

from fastapi import Request
from starlette.responses import JSONResponse as _StarletteJSONResponse

from . import model
from .knobs import Knobs, Stats
from .render import Renderer
from .store import Account, Store


class JSONResponse(_StarletteJSONResponse):
    """JSON the way Jira (Jersey) labels it: ``application/json;charset=UTF-8``.

    Some clients compare the header verbatim (atlassian-python-api reads a 401's Jira message
    only under exactly this type).
    """

    media_type = "application/json;charset=UTF-8"


SEARCH_MAX = 5000  # search/jql: "It returns max 5000 issues" (id/key only)
SEARCH_MAX_WITH_FIELDS = 100  # fewer per page when fields are requested, as Jira does
BULK_FETCH_BASIC = 100  # issue/bulkfetch: "up to 100 issues" (the OpenAPI's word)
BULK_FETCH_MAX = 1000  # ... up to 1,000 when every field is named and single-value (issue 10)
# jql/match: the contract answers 400 past "the maximum number of" issue ids / JQL queries
# without naming them; this simulator grants 1,000 ids and 100 queries per request
JQL_MATCH_MAX_IDS = 1000
JQL_MATCH_MAX_JQLS = 100
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


def check_body_shapes(body: dict, shapes: dict[str, str]) -> None:
    """400 for a value of ``body`` whose JSON shape no reading of its request bean takes
    (``shapes``: field -> ``"list"`` of single values, or ``"single"`` value): Jira reads bodies
    with Jackson, which refuses an array or object where the bean holds one value, and an
    object (or nested arrays) where it holds a list. One value where a list belongs is left
    to the endpoint (Jackson may be told to take it as a list of one); ``null`` fits any field."""
    for name, shape in shapes.items():
        value = body.get(name)
        if value is None:
            continue
        if shape == "list":
            items = value if isinstance(value, list) else [value]
            fits = not any(isinstance(v, (list, dict)) for v in items)
        else:
            fits = not isinstance(value, (list, dict))
        if not fits:
            expected = "an array of single values" if shape == "list" else "a single value, not an array or object"
            raise JiraError(400, f"Can not deserialize the request body: '{name}' must be {expected}.")


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


def page_window(
    request: Request, knobs: Knobs, default: int, endpoint_max: int, *,
    invalid: str | None = None, min_limit: int | None = 0, clamp_start: bool = False, floor: int | None = None,
) -> tuple[int, int]:
    """``startAt`` and the page size of a listing from its ``startAt``/``maxResults`` parameters.

    ``invalid``: the 400 message when ``startAt`` < 0 or ``maxResults`` < ``min_limit`` (None:
    ``maxResults`` is not checked); without it a negative ``startAt`` is taken as given, or as 0
    with ``clamp_start``. The page size is ``maxResults`` within ``endpoint_max`` and the
    ``max_results_cap`` knob (:meth:`Knobs.page_limit`), at least ``floor`` when given.
    """
    start = q_int(request, "startAt", 0)
    limit = q_int(request, "maxResults", default)
    if invalid is not None and (start < 0 or (min_limit is not None and limit < min_limit)):
        raise JiraError(400, invalid)
    if clamp_start:
        start = max(0, start)
    limit = knobs.page_limit(limit, endpoint_max)
    return start, limit if floor is None else max(floor, limit)


def found_or_404(found: Any, message: str) -> Any:
    """``found``, or a 404 with ``message`` when it is None."""
    if found is None:
        raise JiraError(404, message)
    return found


def page_bean(request: Request, start: int, limit: int, total: int, values: list, *, next_with_limit: bool = True) -> dict:
    """A PageBean of ``values`` (the page at ``start`` of ``total``), with ``nextPage`` unless it
    is the last page (its URL carries ``maxResults`` too unless ``next_with_limit`` is False)."""
    is_last = start + len(values) >= total
    out: dict[str, Any] = {"self": str(request.url), "maxResults": limit, "startAt": start, "total": total,
                           "isLast": is_last, "values": values}
    if not is_last:
        params = {"startAt": start + len(values), **({"maxResults": limit} if next_with_limit else {})}
        out["nextPage"] = str(request.url.include_query_params(**params))
    return out


@dataclass
class Api:
    """What the endpoints of one REST version (``3`` or ``2``) share."""

    sim: Simulator
    version: str
    ctx: Callable[[Request, str], tuple[Caller, Renderer]]
    issue_or_404: Callable[[str], Any]
    require_admin: Callable[[Caller, str], None]

    @property
    def prefix(self) -> str:
        return f"/rest/api/{self.version}"

    @property
    def v2(self) -> bool:
        """REST v2: rich text fields are plain text (v3: ADF)."""
        return self.version == "2"
