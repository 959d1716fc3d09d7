"""Jira Cloud REST API v3 client on one reused ``requests`` session with basic auth.

Every method returns parsed JSON (or a generator of items/pages) and raises the typed
errors of :mod:`jira_esm_connector.http.errors` with plain messages. Retries follow
:class:`~jira_esm_connector.http.RetryPolicy`: reads (including the read-only POST
search endpoints) are retried on 429/5xx/resets; creating POSTs only on 429 -- a caller
that creates something must check whether it exists before repeating the call.

Every request of every client of one process to one site passes the site's
:class:`~jira_esm_connector.http.SiteLimiter` (a hard cap on requests per second, retries
included, and adaptive concurrency). The parallel readers -- :meth:`JiraClient.iter_hydrated`
(``issue/bulkfetch``), :meth:`JiraClient.iter_comments_of`,
:meth:`JiraClient.iter_group_members_of` -- run at most ``concurrency`` requests at once
through :func:`~jira_esm_connector.http.parallel.bounded_parallel` and yield results as
they arrive.
"""
from __future__ import annotations

import logging
import threading
import time
import unicodedata
from collections.abc import Callable, Generator, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timezone
from typing import Any
from urllib.parse import urlsplit

import requests

from ..http import (
    AuthenticationError,
    BadRequestError,
    BasicAuth,
    ConnectorHTTPError,
    HostUnreachableError,
    MalformedResponseError,
    NotFoundError,
    RetryPolicy,
    SiteLimiter,
    build_session,
    describe_json,
    error_for_exception,
    error_for_response,
    path_segment,
    redact,
    site_limiter,
    validate_base_url,
)
from ..http.parallel import bounded_parallel
from .jql import jql_list, jql_quote  # noqa: F401  (re-exported: escape values placed into JQL)
from .paginators import OffsetArrayPaginator, Paginator, PagingError, StartAtPaginator, TokenPaginator

SERVICE = "Jira"
USER_AGENT = "jira-esm-connector/0.1 (+Apache Airflow)"
EXPIRY_WARNING_DAYS = 30
# an expiry date at most this long is repeated in its error (a mistyped date: 2027-1-31, 31.01.2027)
_DATE_SHOWN = 12
# issue/bulkfetch: "up to 100 issues" per request (the published contract), or up to 1,000
# when the fields are named explicitly and none is multi-value (Atlassian's limit as issue 10
# states it). The batch size is chosen per call (JiraClient.bulk_fetch_size).
BULK_FETCH_MAX = 1000
BULK_FETCH_BASIC = 100
# schema types (GET /rest/api/3/field) of fields holding several values: "array" (labels,
# components, versions, links, attachments, worklogs, multi-selects) and the comment field's own
MULTI_VALUE_TYPES = frozenset({"array", "comments-page"})
ISSUE_IDENTITY_FIELDS = frozenset({"id", "key", "issuekey"})  # the issue's own id and key: one value
ID_PAGE_MAX = 5000  # search/jql pages of ids only: Jira returns up to 5,000 (fewer with fields)
DEFAULT_RATE_LIMIT = 50.0  # as ConnectorSettings.jira_rate_limit
DEFAULT_CONCURRENCY = 8  # as ConnectorSettings.jira_concurrency

# POST endpoints that only read: safe to retry like a GET.
READ_ONLY_POST_PATHS = (
    "/rest/api/3/search/jql",
    "/rest/api/3/search/approximate-count",
    "/rest/api/3/issue/bulkfetch",
    "/rest/api/3/jql/match",
)
JQL_MATCH_IDS = 1000  # issue ids per jql/match request (the contract names a maximum, not its value)


@dataclass
class SearchPage:
    """One page of ``/rest/api/3/search/jql``: ``number`` is 1-based."""

    issues: list[dict[str, Any]]
    number: int
    is_last: bool
    next_page_token: str | None = None
    names: dict[str, str] = field(default_factory=dict)


def parse_token_expiry(value: date | str | None) -> date | None:
    """``date``, ``"YYYY-MM-DD"`` or empty -> ``date | None``; clear error otherwise."""
    if value is None or value == "":
        return None
    if isinstance(value, datetime):
        return value.date()
    if isinstance(value, date):
        return value
    try:
        return date.fromisoformat(str(value).strip())
    except ValueError:
        # a date mistyped is shown; anything longer is not (the API token pasted into the
        # expiry field next to it would be repeated in the Test answer and the health report)
        text = str(value).strip()
        got = repr(text) if len(text) <= _DATE_SHOWN else f"a text of {len(text)} characters (not shown)"
        raise ValueError(f"The API token expiry date (connection extra expiry_date) must be a date written "
                         f"YYYY-MM-DD, got {got}") from None


def _is_jira_resource_404(response: requests.Response) -> bool:
    """True for Jira's own "this issue/user/... does not exist" 404s.

    False for 404s that mean the URL is not a Jira REST API at all: HTML or foreign JSON
    bodies, and Jira's "null for uri: ..." answer for a path it does not serve.
    """
    try:
        body = response.json()
    except ValueError:
        return False
    if not isinstance(body, dict) or not ("errorMessages" in body or "errors" in body):
        return False
    messages = body.get("errorMessages") or []
    return not any(isinstance(m, str) and m.startswith("null for uri") for m in messages)


def _malformed(method: str, path: str, problem: str, status: int | None = 200) -> MalformedResponseError:
    """Jira answered, but not as its REST API defines (``path`` never carries the query string)."""
    return MalformedResponseError(
        f"Jira's answer to {method} {path} is not what the Jira REST API returns: {problem}",
        status, SERVICE, method=method, path=path,
    )


def _objects(value: Any, method: str, path: str, what: str, *, required: tuple[str, ...] = ()) -> list[dict[str, Any]]:
    """``value`` as a list of objects (each with the ``required`` keys), or a typed error."""
    if not isinstance(value, list):
        raise _malformed(method, path, f"{what} is {describe_json(value)}, expected a list of objects")
    for n, item in enumerate(value):
        if not isinstance(item, dict):
            raise _malformed(method, path, f"item {n} of {what} is {describe_json(item)}, expected an object")
        for key in required:
            if item.get(key) in (None, ""):
                raise _malformed(method, path, f"item {n} of {what} has no '{key}'")
    return value


def _object(value: Any, method: str, path: str, *, required: tuple[str, ...] = ()) -> dict[str, Any]:
    """``value`` as an object with the ``required`` keys, or a typed error."""
    if not isinstance(value, dict):
        raise _malformed(method, path, f"the answer is {describe_json(value)}, expected an object")
    for key in required:
        if value.get(key) in (None, ""):
            raise _malformed(method, path, f"the answer has no '{key}'")
    return value


def _answered_by(issues: Iterable[Mapping[str, Any]]) -> set[str]:
    """The ids and keys these bulk fetch issues answer."""
    return {str(i.get("id")) for i in issues} | {str(i.get("key")) for i in issues}


def _proof_key(fields: Sequence[str] | None) -> tuple[str, ...] | None:
    """The key of a field list in the client's bulk fetch proofs (the cap depends on the fields)."""
    return tuple(fields) if fields is not None else None


def _each_once(issues: Iterable[Mapping[str, Any]]) -> list[Any]:
    """``issues`` with each issue once (by id): a moved issue answers its old keys and its own."""
    return list({str(i.get("id")): i for i in issues}.values())


# Jira's account id of every corrupted record of a deleted user (schema ``User``: "accountId
# returns *unknown*"): it names no one, and two such records are not one user listed twice
_NO_ACCOUNT = frozenset({"unknown"})


def _seg(value: str | int) -> str:
    """One URL path segment, fully escaped ("." and ".." refused: :func:`..http.path_segment`)."""
    return path_segment(value, what="a key or id in a Jira URL")


def _properties_list(properties: Mapping[str, Any] | Iterable[Mapping[str, Any]] | None) -> list[dict[str, Any]] | None:
    if properties is None:
        return None
    if isinstance(properties, Mapping):
        return [{"key": k, "value": v} for k, v in properties.items()]
    return [dict(p) for p in properties]


class AmbiguousGroupError(LookupError):
    """A group name that matches more than one of Jira's groups, none spelt exactly so
    (:meth:`JiraClient.find_group`)."""

    def __init__(self, name: str, matches: Sequence[str]) -> None:
        self.name, self.matches = name, list(matches)
        shown = ", ".join(repr(m) for m in self.matches)
        super().__init__(
            f"the group name {name!r} matches more than one group in Jira, none spelt exactly so "
            f"(case or Unicode form differ): {shown}; name the group by its id"
        )


def _drain(generator: Iterable[Any], into: list[Any]) -> Any:
    """Append what ``generator`` yields to ``into``; returns what it returns."""
    items = iter(generator)
    while True:
        try:
            into.append(next(items))
        except StopIteration as end:
            return end.value


def group_name(name: str) -> str:
    """A group name as the connector sends and compares it: composed (Unicode NFC), so
    "Café" typed decomposed (NFD, as macOS may) is the same name and no look-alike is made."""
    return unicodedata.normalize("NFC", name)


class JiraClient:
    """Client for one Jira Cloud site.

    ``base_url``: ``https://<site>.atlassian.net`` (http only with ``allow_insecure_http``).
    ``email`` / ``api_token``: the account that created the token (basic auth).
    ``verify``: ``True``, ``False`` or a CA bundle path. ``timeout``: (connect, read) seconds.
    ``token_expires``: the token's recorded expiry; from 30 days before it a WARNING naming
    the date is logged whenever a client is created, and a 401 after it says
    "API token expired or revoked".
    ``rate_limit`` / ``concurrency``: the site's request cap per second (retries included)
    and the most requests in flight (the hook passes ``ConnectorSettings``); the limiter is
    shared with every other client of this process for the same site. ``limiter``: use this
    one instead (tests).
    """

    def __init__(
        self,
        base_url: str,
        email: str,
        api_token: str,
        *,
        verify: bool | str = True,
        timeout: float | tuple[float, float] = (5, 60),
        retry: RetryPolicy | None = None,
        logger: logging.Logger | logging.LoggerAdapter | None = None,
        allow_insecure_http: bool = False,
        token_expires: date | str | None = None,
        rate_limit: float = DEFAULT_RATE_LIMIT,
        concurrency: int = DEFAULT_CONCURRENCY,
        limiter: SiteLimiter | None = None,
        warn_token_expiry: bool = True,
    ) -> None:
        self.base_url = validate_base_url(base_url, allow_insecure_http=allow_insecure_http, service=SERVICE)
        if not email:
            raise AuthenticationError("The Jira connection has no login: set it to the e-mail of the account that created the API token.", service=SERVICE)
        if not api_token:
            raise AuthenticationError("The Jira connection has no password: set it to the API token.", service=SERVICE)
        self.email = email
        self._api_token = api_token
        self.host = urlsplit(self.base_url).netloc
        self.timeout = timeout
        self.retry = retry or RetryPolicy()
        self.log = logger or logging.getLogger("jira_esm_connector.jira")
        self.token_expires = parse_token_expiry(token_expires)
        if concurrency < 1:
            raise ValueError("concurrency must be at least 1")
        self.concurrency = int(concurrency)
        self.limiter = limiter or site_limiter(self.base_url, rate=rate_limit, concurrency=self.concurrency, logger=self.log)
        self._session = build_session(
            user_agent=USER_AGENT,
            verify=verify,
            retry=self.retry,
            logger=self.log,
            service_name=SERVICE,
            base_url=self.base_url,
            read_only_post_paths=READ_ONLY_POST_PATHS,
            pool_maxsize=max(10, self.concurrency),  # a connection for every thread sending at once
            limiter=self.limiter,
        )
        self._session.auth = BasicAuth(email, api_token)
        # issue/bulkfetch: ids per request at most (lowered for good once Jira refuses a larger
        # batch, or proves it quietly cuts one) and the site's field schema types, read once
        self._bulk_cap = BULK_FETCH_MAX
        self._field_types: dict[str, str | None] | None = None
        # per field list: the ids of the bulkfetch answer that held the most issues -- as many as
        # Jira proved it grants at least (see _left_out: the only ground on which an answer that
        # left issues out counts), and the issues to prove it again with when a cap may have dropped
        self._bulk_proof: dict[tuple[str, ...] | None, list[str]] = {}
        # per field list: when (time.monotonic) the latest answer came that counted ids it left
        # out as missing on the proof alone, and no answer of the proof's issues came whole since
        # (see confirm_bulk_fetch: a cap lowered after the proof would have cut it)
        self._trusted_at: dict[tuple[str, ...] | None, float] = {}
        self._bulk_lock = threading.Lock()
        # user records with the account id 'unknown' left out of listings so far (all threads):
        # the removal of a user import compares a run's count with the last successful run's
        self.unnamed_users_left_out = 0
        self._unnamed_lock = threading.Lock()
        if warn_token_expiry:  # False: a caller that says it itself (the health check, the Test button)
            self.warn_if_token_expiring()

    # -- housekeeping --------------------------------------------------------------------------
    def __repr__(self) -> str:
        return f"JiraClient(base_url={self.base_url!r}, email={self.email!r})"

    def close(self) -> None:
        self._session.close()

    def __enter__(self) -> JiraClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def token_days_left(self, today: date | None = None) -> int | None:
        if self.token_expires is None:
            return None
        return (self.token_expires - (today or datetime.now(timezone.utc).date())).days

    def warn_if_token_expiring(self, today: date | None = None) -> str | None:
        """Log (WARNING) and return a message when the token expires within 30 days or has expired."""
        msg = self.token_expiry_message(today)
        if msg:
            self.log.warning(msg)
        return msg

    def token_expiry_message(self, today: date | None = None) -> str | None:
        """The message of :meth:`warn_if_token_expiring`, not logged."""
        days = self.token_days_left(today)
        if days is None or days > EXPIRY_WARNING_DAYS:
            return None
        when = self.token_expires.isoformat()  # type: ignore[union-attr]
        if days < 0:
            msg = (
                f"The Jira API token for {self.email} at {self.host} expired on {when} (recorded expiry). "
                "Create a new token and update the connection."
            )
        elif days == 0:
            msg = f"The Jira API token for {self.email} at {self.host} expires today, {when}. Create a new token and update the connection."
        else:
            msg = (
                f"The Jira API token for {self.email} at {self.host} expires on {when} "
                f"({days} day{'s' if days != 1 else ''} left). Create a new token and update the connection before then."
            )
        return msg

    # -- core request --------------------------------------------------------------------------
    def _auth_message(self) -> str:
        days = self.token_days_left()
        if days is not None and days < 0:
            return (
                f"Jira at {self.host} refused the credentials: API token expired or revoked "
                f"(recorded expiry {self.token_expires.isoformat()})"  # type: ignore[union-attr]
            )
        return (
            f"Jira at {self.host} refused the credentials (bad credentials): check the e-mail and API token "
            "of the connection; if they are right, the API token expired or revoked (tokens live at most a year: "
            "create a new one and record its expiry date in the connection's expiry_date)"
        )

    def _error(self, response: requests.Response) -> ConnectorHTTPError:
        secrets = [self._api_token]
        if response.status_code == 404 and not _is_jira_resource_404(response):
            # Jira answers its own 404s with {"errorMessages": [...], "errors": {...}}; any
            # other 404 means this host (or path prefix) does not serve the Jira REST API.
            method = response.request.method if response.request is not None else "GET"
            path = urlsplit(response.url or "").path
            return HostUnreachableError(
                f"Wrong host: {self.base_url} answered 404 for {method} {path}; it does not look like a Jira Cloud site. "
                "Check the connection's host (https://<site>.atlassian.net).",
                404, SERVICE, method=method, path=path,
            )
        return error_for_response(response, service=SERVICE, secrets=secrets, auth_message=self._auth_message())

    def request(
        self,
        method: str,
        path: str,
        *,
        params: Mapping[str, Any] | None = None,
        json: Any = None,
    ) -> Any:
        """Send one request to ``base_url + path``; return parsed JSON (None for empty bodies)."""
        url = self.base_url + path
        try:
            response = self._session.request(method, url, params=params, json=json, timeout=self.timeout)
        except requests.RequestException as exc:
            raise error_for_exception(exc, service=SERVICE, url=url, method=method) from None
        if response.status_code >= 400:
            raise self._error(response)
        if not response.content:
            return None
        try:
            return response.json()
        except ValueError as exc:
            ctype = response.headers.get("Content-Type", "?")
            if "json" in ctype.lower():
                # Jira's own content type, but cut off or corrupted (a proxy, a dropped stream)
                problem = getattr(exc, "msg", None) or "cannot be parsed"
                raise _malformed(method, path, f"the JSON body is cut off or invalid ({problem})", response.status_code) from None
            if method.upper() not in ("GET", "HEAD"):
                # a write answered by something else's page (a proxy's "accepted, please wait"):
                # Jira may have carried it out -- not a wrong host, and not a refusal
                raise _malformed(method, path, f"the answer is {ctype}, not JSON (a proxy's page?); the request may "
                                               "have taken effect", response.status_code) from None
            raise HostUnreachableError(
                f"Wrong host: {self.host} answered {method} {path} with {ctype}, not JSON; "
                "it does not look like a Jira Cloud site.",
                response.status_code, SERVICE, method=method, path=path,
            ) from None

    def paginate(
        self,
        method: str,
        path: str,
        paginator: Paginator,
        *,
        params: Mapping[str, Any] | None = None,
        json: Mapping[str, Any] | None = None,
    ) -> Iterator[tuple[Any, list[Any]]]:
        """Yield ``(page, items)`` for every page of a listing, driven by ``paginator``."""
        cursor: dict[str, Any] | None = paginator.first()
        while cursor is not None:
            if paginator.where == "json":
                page = self.request(method, path, params=params, json={**(json or {}), **cursor})
            else:
                page = self.request(method, path, params={**(params or {}), **cursor}, json=json)
            try:
                items = paginator.items(page)
                cursor = paginator.next(page, items)
            except PagingError as exc:
                raise PagingError(
                    f"Jira's answer to {method} {path} is not a page of the expected shape: {exc}",
                    200, SERVICE, method=method, path=path,
                ) from None
            if paginator.notice:
                self.log.warning("%s %s: %s.", method, path, paginator.notice)
                paginator.notice = None
            yield page, items

    # -- site ----------------------------------------------------------------------------------
    def myself(self) -> dict[str, Any]:
        return self.request("GET", "/rest/api/3/myself")

    def server_info(self) -> dict[str, Any]:
        return self.request("GET", "/rest/api/3/serverInfo")

    def live_project_keys(self, keys: Iterable[str]) -> set[str]:
        """Those of ``keys`` that are a project's key now (``GET /rest/api/3/project/search``
        filtered by ``keys``, 50 a request, as Jira allows): one request for most sites, where
        asking :meth:`project_key` for each would be one per project. When none of a request's
        keys is a project's key, Jira answers 404 ("no projects matching the search criteria",
        as the contract says) or an empty page: both mean none of them is live."""
        wanted = list(dict.fromkeys(str(k) for k in keys if k))
        live: set[str] = set()
        for start in range(0, len(wanted), 50):
            paginator = StartAtPaginator(50, items_key="values", id_keys=("id", "key"))
            params = {"keys": wanted[start:start + 50]}
            try:
                for _page, items in self.paginate("GET", "/rest/api/3/project/search", paginator, params=params):
                    live.update(str(p["key"]) for p in items if isinstance(p, Mapping) and p.get("key"))
            except NotFoundError:  # none (more) of these keys is live: the caller looks each up
                continue
        return live

    def project_key(self, key: str) -> str | None:
        """The key the project with ``key`` has now (``GET /rest/api/3/project/{key}``: Jira
        also answers to a key a project had before), or None: no project has or had it (or
        the connector's account cannot see it)."""
        path = f"/rest/api/3/project/{_seg(key)}"
        try:
            return str(_object(self.request("GET", path), "GET", path, required=("key",))["key"])
        except NotFoundError:
            return None

    def fields(self) -> list[dict[str, Any]]:
        path = "/rest/api/3/field"
        return _objects(self.request("GET", path), "GET", path, "the field list", required=("id",))

    # -- search --------------------------------------------------------------------------------
    def iter_search_pages(
        self,
        jql: str,
        *,
        fields: Iterable[str] | None = None,
        expand: str | Iterable[str] | None = None,
        properties: Iterable[str] | None = None,
        page_size: int = 100,
    ) -> Iterator[SearchPage]:
        """Pages of ``POST /rest/api/3/search/jql`` (``nextPageToken`` / ``isLast``).

        ``fields`` defaults to Jira's own default (id only); pass e.g. ``["*all"]`` or a list.
        """
        body: dict[str, Any] = {"jql": jql}
        field_list = list(fields) if fields is not None else None
        if field_list is not None:
            body["fields"] = field_list
        if expand:
            body["expand"] = expand if isinstance(expand, str) else ",".join(expand)
        if properties:
            body["properties"] = list(properties)
        self.log.info(
            "Running JQL on Jira %s: %s (fields: %s, page size %d)",
            self.host, jql, ",".join(field_list) if field_list else "id only", page_size,
        )
        paginator = TokenPaginator(page_size, items_key="issues", where="json")
        count = 0
        number = 0
        for page, items in self.paginate("POST", "/rest/api/3/search/jql", paginator, json=body):
            number += 1
            count += len(items)
            token = page.get("nextPageToken")
            is_last = page.get("isLast") is True or not token
            self.log.debug("JQL page %d: %d issues", number, len(items))
            names = page.get("names")
            yield SearchPage(
                issues=items, number=number, is_last=is_last, next_page_token=token,
                names=names if isinstance(names, dict) else {},
            )
        self.log.info("JQL returned %d issue%s in %d page%s", count, "" if count == 1 else "s", number, "" if number == 1 else "s")

    def search(
        self,
        jql: str,
        *,
        fields: Iterable[str] | None = None,
        expand: str | Iterable[str] | None = None,
        properties: Iterable[str] | None = None,
        page_size: int = 100,
    ) -> Iterator[dict[str, Any]]:
        """Every issue the JQL selects, page after page."""
        for page in self.iter_search_pages(jql, fields=fields, expand=expand, properties=properties, page_size=page_size):
            yield from page.issues

    def approximate_count(self, jql: str) -> int:
        path = "/rest/api/3/search/approximate-count"
        count = _object(self.request("POST", path, json={"jql": jql}), "POST", path).get("count")
        if not isinstance(count, int) or isinstance(count, bool):
            raise _malformed("POST", path, f"'count' is {describe_json(count)}, expected a whole number")
        return count

    def iter_bulk_fetch(
        self, keys: Iterable[str], fields: Iterable[str] | None = None
    ) -> Iterator[tuple[list[dict[str, Any]], list[str]]]:
        """``POST /rest/api/3/issue/bulkfetch`` in batches of :meth:`bulk_fetch_size` keys or
        ids, one after the other: yields ``(issues, not_found)`` per batch, ``not_found``
        being the requested keys Jira has no issue for (deleted, or not visible to the account):
        left out of its answer for certain, or answered 404 when read alone after an
        ``issueErrors`` entry (see :meth:`_hydrate`); a
        key in neither list answered under another key, or may have. Unlike ``key in (...)``
        in JQL, one missing key does not fail the request. :meth:`iter_hydrated` is the
        parallel form."""
        key_list = list(dict.fromkeys(str(k) for k in keys))
        field_list = list(fields) if fields is not None else None
        for batch in self._requests_of(key_list, self.bulk_fetch_size(field_list)):
            found, not_found = self._hydrate(batch, field_list)
            if not_found:  # one line per request, not per issue: a deleted project can miss thousands
                self.log.warning(
                    "Jira could not return %d issue(s) of a bulk fetch (deleted, or not visible): %s%s",
                    len(not_found), ", ".join(not_found[:20]), " ..." if len(not_found) > 20 else ".",
                )
            yield found, not_found

    def _requests_of(self, ids: list[str], size: int | Callable[[], int]) -> Iterator[list[str]]:
        """``ids`` in parts of ``size`` (a callable: read again for each part) -- or of 100, as
        soon as a fallback lowered this client (the parts not yet cut shrink with it)."""
        start = 0
        while start < len(ids):
            part = ids[start : start + min(size() if callable(size) else size, self._bulk_cap)]
            start += len(part)
            yield part

    def bulk_fetch_size(self, fields: Sequence[str] | None) -> int:
        """Ids per ``issue/bulkfetch`` request for these fields: 1,000 when every field is named
        and single-value by the site's field metadata (``GET /rest/api/3/field``, read once per
        client; a field missing from it counts as multi-value), else 100 -- and 100 for good
        once this client saw Jira refuse or quietly cut a larger batch."""
        if self._bulk_cap <= BULK_FETCH_BASIC or not fields or any(f.startswith(("*", "-")) for f in fields):
            return BULK_FETCH_BASIC
        types = self._field_schema_types()
        single = all(
            f in ISSUE_IDENTITY_FIELDS or (types.get(f) is not None and types[f] not in MULTI_VALUE_TYPES)
            for f in fields
        )
        return self._bulk_cap if single else BULK_FETCH_BASIC

    def _field_schema_types(self) -> dict[str, str | None]:
        """Field id -> its schema type, from ``GET /rest/api/3/field`` (asked once per client)."""
        with self._bulk_lock:
            if self._field_types is None:
                try:
                    listed = self.fields()
                except ConnectorHTTPError as exc:
                    # not worth failing the run for: 100 per request is always allowed
                    self.log.warning(
                        "Could not read Jira's field list (%s); bulk fetches send 100 issues per request.", exc
                    )
                    listed = []
                self._field_types = {
                    str(f["id"]): (f.get("schema") or {}).get("type") if isinstance(f.get("schema"), dict) else None
                    for f in listed
                }
            return self._field_types

    def _lower_bulk_cap(self, why: str, most: int = BULK_FETCH_BASIC) -> None:
        """From now on at most ``most`` ids per bulk fetch (logged once per lowering)."""
        with self._bulk_lock:
            if self._bulk_cap <= most:
                return
            self._bulk_cap = most
        self.log.warning(
            "%s. This Jira site does not grant more than %d issues per bulk fetch: sending %d per request "
            "from now on; the issues of that batch are asked for again (none is lost).", why, most, most,
        )

    def _proven(self, fields: list[str] | None, found: Sequence[Mapping[str, Any]] = ()) -> int:
        """The most issues one bulk fetch answer for these fields held, ``found`` (one more such
        answer's issues) included: the least cap Jira proved it grants for them (the cap
        depends on the fields). The ids of that answer are kept to prove it again with
        (:meth:`_still_grants`)."""
        key = _proof_key(fields)
        with self._bulk_lock:
            if len(found) > len(self._bulk_proof.get(key, ())):
                self._bulk_proof[key] = [str(i.get("id")) for i in found]
            return len(self._bulk_proof.get(key, ()))

    def _still_grants(self, k: int, found: list[dict[str, Any]], fields: list[str] | None) -> bool:
        """Whether Jira still answers ``k`` issues (no more than proven) in one bulk fetch for
        these fields, after an answer that held only ``found`` of them: ``k`` of the issues
        that proved the cap, sent again (one request) -- a cap may have been lowered quietly
        since the proof. When they do not all come back, the proof is lowered to what this
        answer (or ``found``) held, and logged."""
        held = self._resend_proof(k, fields)
        if held is None:  # lowered meanwhile by a request running in parallel
            return False
        if len(held) >= k:
            return True
        best = self._lower_proof(fields, held if len(held) > len(found) else found)
        self.log.info("Jira cut a bulk fetch of %d issues to %d, and answered %d of %d issues it had answered in one "
                      "request before (its cap is lower now, or some were deleted since): the ids left out are asked "
                      "again; an empty answer counts as all missing only up to %d ids now.",
                      k, len(found), len(held), k, best)
        return False

    def _resend_proof(self, k: int, fields: list[str] | None) -> list[dict[str, Any]] | None:
        """``k`` of the issues that proved the cap for these fields, sent again in one bulk
        fetch: the issues that came back (none when Jira refused that many with 400), or None
        when the proof holds fewer than ``k`` now. Whole, it also confirms every answer judged on
        the proof before it was sent (:meth:`confirm_bulk_fetch`)."""
        key = _proof_key(fields)
        with self._bulk_lock:
            ids = self._bulk_proof.get(key, [])[:k]
        if len(ids) < k:
            return None
        sent = time.monotonic()
        try:
            held = _each_once(self._bulk_fetch_batch(ids, fields)[0])
        except BadRequestError as exc:
            if exc.status != 400 or k <= BULK_FETCH_BASIC:
                raise
            held = []  # refused this many now: the cut answer's parts learn the new limit
        with self._bulk_lock:
            if len(held) >= k >= len(self._bulk_proof.get(key, ())) and self._trusted_at.get(key, sent) < sent:
                del self._trusted_at[key]
        return held

    def _lower_proof(self, fields: list[str] | None, issues: list[dict[str, Any]]) -> int:
        """The proof for these fields is now what ``issues`` (one answer) held: its size."""
        with self._bulk_lock:
            self._bulk_proof[_proof_key(fields)] = [str(i.get("id")) for i in issues]
        return len(issues)

    def confirm_bulk_fetch(self, fields: Iterable[str] | None = None) -> bool:
        """Whether the answers that counted ids they left out as missing on the proof alone
        (:meth:`_left_out`) still stand: a cap lowered quietly after the proof and before such
        an answer cut it, and live issues were taken for missing. The issues that proved the cap
        are sent again (one request) when such an answer came since they last came back whole:
        all back, the cap held over those answers (True); else the proof is lowered to what came
        back, logged, and the caller asks again (False). No request otherwise."""
        field_list = list(fields) if fields is not None else None
        key = _proof_key(field_list)
        with self._bulk_lock:
            trusted, k = key in self._trusted_at, len(self._bulk_proof.get(key, ()))
        if not trusted:
            return True
        held = self._resend_proof(k, field_list)
        if held is not None and len(held) >= k:
            return True
        with self._bulk_lock:  # the caller asks again what was judged on the proof
            self._trusted_at.pop(key, None)
        if held is None:  # lowered meanwhile by a request running in parallel
            return False
        proof = self._lower_proof(field_list, held)
        self.log.warning("Jira answered %d of the %d issues that proved its bulk fetch cap when sent again (its cap is "
                         "lower now, or some were deleted since): the answers judged on that proof are asked for "
                         "again; an empty answer counts as all missing only up to %d ids now.",
                         len(held), k, max(1, proof))
        return False

    def prove_bulk_fetch(self, ids: Iterable[str], fields: Iterable[str] | None = None) -> int:
        """One ``issue/bulkfetch`` of up to :meth:`bulk_fetch_size` of ``ids`` -- issues the
        caller knows Jira has (a run's listing) -- so that later answers for these fields can
        be judged: an empty answer counts as all not found only up to as many ids as one answer
        held (:meth:`_left_out`); without that proof its ids are asked again one by one. An
        answer holding some of up to that many ids has these issues sent again to confirm it
        (one request, instead of asking the ids left out again in parts of what it held). An
        answer holding fewer than asked is judged as any (a quiet cap is learnt). No request
        when an earlier answer proved as much. Returns the proof (logged)."""
        field_list = list(fields) if fields is not None else None
        asked = list(dict.fromkeys(str(i) for i in ids))[: self.bulk_fetch_size(field_list)]
        proven = self._proven(field_list)
        if len(asked) <= max(1, proven):  # proven already (one id needs no proof)
            return proven
        self._hydrate(asked, field_list)
        proof = self._proven(field_list)
        self.log.info("Jira answered %d of %d known issues in one bulk fetch: an empty answer to up to %d ids "
                      "counts as all missing.", proof, len(asked), proof)
        return proof

    def _hydrate(
        self, batch: Sequence[str], fields: list[str] | None,
    ) -> tuple[list[dict[str, Any]], list[str]]:
        """One batch through ``issue/bulkfetch``: ``(issues, ids or keys Jira has no issue for)``.
        Ids the answer lists in ``issueErrors`` are read alone (:meth:`_errored`). A batch over 100 that Jira refuses (400) is sent again in parts of 100 (and the client
        lowered to 100 per request). Jira's contract leaves an issue it cannot find or show out
        of the answer, with no error; a quietly lowered cap would leave issues out the same way.
        So ids left out count as not found only once that is conclusive (:meth:`_left_out`);
        those still in doubt (asked by an old key of a moved issue) are in neither list: the
        caller judges them."""
        asked = list(dict.fromkeys(str(k) for k in batch))
        try:
            found, errored = self._bulk_fetch_batch(asked, fields)
        except BadRequestError as exc:
            if exc.status != 400 or len(asked) <= BULK_FETCH_BASIC:
                raise
            self._lower_bulk_cap(f"Jira refused a bulk fetch of {len(asked)} issues ({'; '.join(exc.details) or exc})")
            return self._hydrate_parts(asked, BULK_FETCH_BASIC, fields)
        found = _each_once(found)  # an issue asked by id and key: once
        self._proven(fields, found)  # no cap is below what an answer held
        read_alone, not_found = self._errored(errored, fields)
        answered = _answered_by(found) | set(errored)  # once: asked runs to 1,000 ids
        left_out = [k for k in asked if k not in answered]
        more, gone = self._left_out(asked, found, len(errored), left_out, fields) if left_out else ([], [])
        return _each_once(found + read_alone + more), not_found + gone

    def _errored(self, ids: list[str], fields: list[str] | None) -> tuple[list[dict[str, Any]], list[str]]:
        """``(issues, not found)`` of the ids an answer listed in ``issueErrors``. The contract
        calls such an entry "a retriable error or payload constraint" -- an issue Jira cannot
        find is left out instead -- so an error is no proof that the issue is gone (taken for
        one, a full import marked a live issue's card removed). Each is read alone (``GET
        issue/{id}``): its issue, or not found on Jira's 404; any other answer fails the
        caller, as a failed bulk fetch would. Some Jira sites list missing issues there too:
        then this costs one request per missing issue."""
        found: list[dict[str, Any]] = []
        gone: list[str] = []
        for ident in dict.fromkeys(ids):
            try:
                found.append(self.get_issue(ident, fields))
            except NotFoundError:
                gone.append(ident)
        if ids:
            self.log.info("Jira's bulk fetch listed %d issue(s) as errors; read one by one: %d there, %d not found.",
                          len(ids), len(found), len(gone))
        return found, gone

    def _left_out(
        self, asked: list[str], found: list[dict[str, Any]], errors: int, left_out: list[str], fields: list[str] | None,
    ) -> tuple[list[dict[str, Any]], list[str]]:
        """``(issues, not found)`` of the ids an answer of ``len(found)`` issues to ``asked``
        left out without an error. An answer holding as many issues as asked was not cut:
        they are not found -- unless an issue answered under none of the asked ids or keys (a
        moved issue asked by its old key), then which one it answered is unknown: left out of
        both. An empty answer is conclusive for one id (no cap is below 1), or for no more ids
        than one answer for these fields held (:meth:`_proven`: any cap is at least that) --
        not for the contract's "up to 100" unproven: a Jira that quietly cuts lower answers a
        request whose first ids are all deleted empty, and the live issues behind them were
        taken for gone (mark_removed's re-check, whose candidates are mostly deleted, marked
        their cards removed; it proves the cap first: :meth:`prove_bulk_fetch`). An answer
        holding some, to no more ids than proven, is as conclusive once the issues that proved
        the cap come back whole when sent again (:meth:`_still_grants`: one request -- a cap
        lowered since the proof cut them too); asked again in parts of 1, one live candidate
        among 999 deleted ones cost 999 requests one after the other. Otherwise the left out
        ids are asked again in parts of what this answer held -- after an empty answer, of
        what one answer held by then, at least 1 -- (any cap is at least that, so no part is
        cut), each judged the same way; a part answered with issues the first answer left out
        proves a quiet cap, and the client lowers its requests to it."""
        k, f = len(asked), len(found)
        if f >= k or (f and k <= self._proven(fields) and self._still_grants(k, found, fields)):
            ours = set(asked)
            unasked = [i for i in found if not {str(i.get("id")), str(i.get("key"))} & ours]
            return [], [] if unasked else left_out
        if f == 0 and k <= max(1, self._proven(fields)):
            if k > 1:  # on the proof alone: confirm_bulk_fetch tells whether the cap held
                with self._bulk_lock:
                    self._trusted_at[_proof_key(fields)] = time.monotonic()
            return [], left_out
        # after an empty answer: what is proven by the time each part is cut (an answer running
        # in parallel may prove more meanwhile: fewer requests)
        more, gone = self._hydrate_parts(left_out, f or (lambda: max(1, self._proven(fields))), fields)
        cut_at = min(BULK_FETCH_BASIC, f or k - 1)
        if cut_at and _answered_by(more) & set(left_out):
            self._lower_bulk_cap(
                f"Jira answered a bulk fetch of {k} issues with {f} issue(s) and {errors} error(s), nothing for the "
                f"other {len(left_out)}, and some of those when asked again", cut_at,
            )
        return more, gone

    def _hydrate_parts(
        self, ids: Sequence[str], size: int | Callable[[], int], fields: list[str] | None,
    ) -> tuple[list[dict[str, Any]], list[str]]:
        """``ids`` through :meth:`_hydrate` in parts of ``size`` (or of the client's cap, once
        lowered), one request after the other."""
        found: list[dict[str, Any]] = []
        not_found: list[str] = []
        for part in self._requests_of(list(ids), size):
            part_found, part_missing = self._hydrate(part, fields)
            found += part_found
            not_found += part_missing
        return _each_once(found), not_found  # a moved issue answered in two parts: once

    def _bulk_fetch_batch(self, batch: Sequence[str], fields: list[str] | None) -> tuple[list[dict[str, Any]], list[str]]:
        """One ``issue/bulkfetch`` request: ``(issues, ids or keys Jira could not return)``."""
        if not 0 < len(batch) <= BULK_FETCH_MAX:
            raise ValueError(f"a bulk fetch takes 1 to {BULK_FETCH_MAX} issues, not {len(batch)}")
        body: dict[str, Any] = {"issueIdsOrKeys": [str(k) for k in batch]}
        if fields is not None:
            body["fields"] = fields
        path = "/rest/api/3/issue/bulkfetch"
        result = _object(self.request("POST", path, json=body), "POST", path)
        found = _objects(result.get("issues"), "POST", path, "'issues'")
        errors = _objects(result.get("issueErrors") or [], "POST", path, "'issueErrors'")
        return found, [str(e.get("id")) for e in errors if e.get("id") is not None]

    def matching_issue_ids(self, jql: str, ids: Iterable[str]) -> set[str]:
        """Of the issue ``ids``, those ``jql`` selects: ``POST /rest/api/3/jql/match``, one
        answer per :data:`JQL_MATCH_IDS` ids -- no paging, so no page of it can be lost. An id
        that is not a number cannot be asked and is not in the answer. A JQL Jira cannot read
        (say it names an issue that no longer exists) raises :class:`BadRequestError`."""
        asked = [int(i) for i in dict.fromkeys(str(i).strip() for i in ids) if i.isdigit()]
        path = "/rest/api/3/jql/match"
        matched: set[str] = set()
        for first in range(0, len(asked), JQL_MATCH_IDS):
            body = {"issueIds": asked[first:first + JQL_MATCH_IDS], "jqls": [jql]}
            matches = _objects(_object(self.request("POST", path, json=body), "POST", path).get("matches"),
                               "POST", path, "'matches'")
            if len(matches) != 1:
                raise _malformed("POST", path, f"{len(matches)} entries in 'matches' for one JQL query")
            errors = matches[0].get("errors") or []
            if errors:
                raise BadRequestError(f"Jira could not match issues against the JQL: {'; '.join(map(str, errors))}",
                                      400, SERVICE, details=[str(e) for e in errors], method="POST", path=path)
            found = matches[0].get("matchedIssues")
            if not isinstance(found, list):
                raise _malformed("POST", path, "'matchedIssues' is not a list")
            matched.update(str(i) for i in found)
        return matched

    def newest_updated(self, jql: str) -> Any:
        """``fields.updated`` of the first issue of ``jql`` (which orders newest change first),
        as the search index has it now, or None when the JQL matches nothing: one request --
        more only when a page comes back empty while it says more follow (taken for "nothing",
        a start or watermark would be set past changes the index still hides)."""
        for page in self.iter_search_pages(jql, fields=["updated"], page_size=1):
            for issue in page.issues:
                return (issue.get("fields") or {}).get("updated")
        return None

    def iter_issue_ids(
        self, jql: str, *, with_key: bool = False, page_size: int = ID_PAGE_MAX,
    ) -> Iterator[SearchPage]:
        """The JQL's issues as cheap listing pages: ``id`` only (with ``with_key`` also ``key``:
        still the cheapest listing), up to 5,000 per page. The parallel hydration
        (:meth:`iter_hydrated`) reads the records."""
        fields = ["id", "key"] if with_key else ["id"]
        for page in self.iter_search_pages(jql, fields=fields, page_size=max(1, min(page_size, ID_PAGE_MAX))):
            for n, issue in enumerate(page.issues):
                ident = issue.get("id")
                if isinstance(ident, bool) or not isinstance(ident, (str, int)) or not str(ident).strip():
                    # an issue that cannot be fetched would look deleted: a full import would
                    # mark its card removed
                    raise _malformed(
                        "POST", "/rest/api/3/search/jql",
                        f"issue {n} of page {page.number} has no usable 'id' ({describe_json(ident)})",
                    )
            yield page

    def iter_hydrated(
        self, batches: Iterable[Sequence[str]], fields: Iterable[str] | None = None
    ) -> Iterator[tuple[Sequence[str], list[dict[str, Any]], list[str]]]:
        """The issues of ``batches`` of ids or keys through ``POST /rest/api/3/issue/bulkfetch``,
        at most ``concurrency`` requests at once; yields ``(ids asked, issues, not_found)`` as
        the answers arrive (not in input order); ``not_found`` as in :meth:`iter_bulk_fetch`. A batch larger than Jira grants for these
        fields (:meth:`bulk_fetch_size`: 1,000 or 100) is split into requests of that size;
        batches are never merged. ``batches`` is drawn lazily: it may page a listing itself
        while the requests already sent proceed."""
        field_list = list(fields) if fields is not None else None
        size = self.bulk_fetch_size(field_list)

        def parts() -> Iterator[list[str]]:
            for batch in batches:
                yield from self._requests_of([str(k) for k in batch], size)

        def fetch(part: list[str]) -> tuple[list[dict[str, Any]], list[str]]:
            return self._hydrate(part, field_list)

        for part, (found, not_found) in bounded_parallel(fetch, parts(), self.concurrency, name="jira-bulkfetch"):
            yield part, found, not_found

    def bulk_fetch(self, keys: Iterable[str], fields: Iterable[str] | None = None) -> list[dict[str, Any]]:
        """Issues by key or id, 100 (or 1,000: :meth:`bulk_fetch_size`) per request. Keys Jira
        could not return are logged."""
        key_list = list(dict.fromkeys(keys))
        issues: list[dict[str, Any]] = []
        for found, _not_found in self.iter_bulk_fetch(key_list, fields):
            issues.extend(found)
        returned = {i.get("key") for i in issues} | {i.get("id") for i in issues}
        missing = [k for k in key_list if k not in returned]
        if missing:
            self.log.info(
                "Jira returned no issue for %d of %d requested keys (deleted or not visible): %s",
                len(missing), len(key_list), ", ".join(missing[:20]) + (" ..." if len(missing) > 20 else ""),
            )
        return issues

    # -- issues --------------------------------------------------------------------------------
    def get_issue(self, key: str, fields: Iterable[str] | None = None, *, expand: str | None = None) -> dict[str, Any]:
        params: dict[str, Any] = {}
        if fields is not None:
            params["fields"] = ",".join(fields)
        if expand:
            params["expand"] = expand
        path = f"/rest/api/3/issue/{_seg(key)}"
        return _object(self.request("GET", path, params=params or None), "GET", path, required=("key",))

    def create_issue(
        self, fields: Mapping[str, Any], properties: Mapping[str, Any] | Iterable[Mapping[str, Any]] | None = None
    ) -> dict[str, Any]:
        """``POST /rest/api/3/issue``; returns ``{"id", "key", "self"}``. Not retried except on 429."""
        body: dict[str, Any] = {"fields": dict(fields)}
        props = _properties_list(properties)
        if props:
            body["properties"] = props
        path = "/rest/api/3/issue"
        created = _object(self.request("POST", path, json=body), "POST", path, required=("key",))
        self.log.info("Created Jira issue %s", created["key"])
        return created

    def edit_issue(self, key: str, fields: Mapping[str, Any], *, notify_users: bool = True) -> None:
        params = None if notify_users else {"notifyUsers": "false"}
        self.request("PUT", f"/rest/api/3/issue/{_seg(key)}", params=params, json={"fields": dict(fields)})

    def get_transitions(self, key: str) -> list[dict[str, Any]]:
        path = f"/rest/api/3/issue/{_seg(key)}/transitions"
        result = _object(self.request("GET", path), "GET", path)
        return list(_objects(result.get("transitions"), "GET", path, "'transitions'", required=("id",)))

    def transition_issue(
        self,
        key: str,
        transition_id: str | int,
        fields: Mapping[str, Any] | None = None,
        comment_adf: Mapping[str, Any] | None = None,
    ) -> None:
        body: dict[str, Any] = {"transition": {"id": str(transition_id)}}
        if fields:
            body["fields"] = dict(fields)
        if comment_adf:
            body["update"] = {"comment": [{"add": {"body": dict(comment_adf)}}]}
        self.request("POST", f"/rest/api/3/issue/{_seg(key)}/transitions", json=body)

    def iter_comments(
        self, issue_key: str, page_size: int = 100, *, order_by: str | None = None, expand_properties: bool = False
    ) -> Iterator[dict[str, Any]]:
        """Every comment of an issue (``startAt`` paging); ``expand_properties`` embeds each
        comment's properties (``properties``: a list of ``{"key", "value"}``, empty when none)."""
        params: dict[str, str] = {}
        if expand_properties:
            params["expand"] = "properties"
        if order_by:
            params["orderBy"] = order_by
        paginator = StartAtPaginator(page_size, items_key="comments", id_keys=("id",))
        for _page, items in self.paginate(
            "GET", f"/rest/api/3/issue/{_seg(issue_key)}/comment", paginator, params=params or None
        ):
            yield from items

    def iter_comments_of(
        self, issue_keys: Iterable[str], *, expand_properties: bool = False, page_size: int = 100
    ) -> Iterator[tuple[str, list[dict[str, Any]] | None]]:
        """Every comment of each issue, issues in parallel (at most ``concurrency`` at once):
        yields ``(issue key, all its comments)`` as each issue's comments are complete. Each
        issue's own pages are read one after the other (``startAt`` paging). None instead of
        the comments: Jira has no such issue (404 -- deleted since the caller listed it, or
        hidden from the account); the caller says so, one issue does not fail the others."""

        def comments(key: str) -> list[dict[str, Any]] | None:
            try:
                return list(self.iter_comments(key, page_size, expand_properties=expand_properties))
            except NotFoundError:
                return None

        yield from bounded_parallel(comments, (str(k) for k in issue_keys), self.concurrency, name="jira-comments")

    def add_comment(
        self,
        key: str,
        body_adf: Mapping[str, Any],
        properties: Mapping[str, Any] | Iterable[Mapping[str, Any]] | None = None,
    ) -> dict[str, Any]:
        """``POST .../comment`` with an ADF body; ``properties`` e.g. ``{"esm_connector": {...}}``."""
        body: dict[str, Any] = {"body": dict(body_adf)}
        props = _properties_list(properties)
        if props:
            body["properties"] = props
        path = f"/rest/api/3/issue/{_seg(key)}/comment"
        return _object(self.request("POST", path, json=body), "POST", path, required=("id",))

    def comment_property_of(self, comment: Mapping[str, Any], property_key: str) -> Any:
        """The value of a listed comment's property, None when it has none: the embedded one
        when the listing embedded properties (``expand=properties``; an empty list: none),
        else read on its own -- the contract lists only ``renderedBody`` for that expand, so
        a listing may come without them. A comment deleted meanwhile raises NotFoundError."""
        props = comment.get("properties")
        if isinstance(props, list):
            for prop in props:
                if isinstance(prop, Mapping) and prop.get("key") == property_key:
                    return prop.get("value")
            return None
        return self.get_comment_property(comment["id"], property_key, missing_ok=True)

    def get_comment_property(self, comment_id: str | int, property_key: str, *, missing_ok: bool = False) -> Any:
        """The comment property's value; with ``missing_ok`` a missing property gives None (a
        missing comment still raises :class:`NotFoundError`)."""
        return self._get_property(f"/rest/api/3/comment/{_seg(comment_id)}/properties/{_seg(property_key)}", missing_ok)

    def get_issue_property(self, key: str, property_key: str, *, missing_ok: bool = False) -> Any:
        """The property's value; with ``missing_ok`` a missing property gives None (a missing issue still raises)."""
        return self._get_property(f"/rest/api/3/issue/{_seg(key)}/properties/{_seg(property_key)}", missing_ok)

    def _get_property(self, path: str, missing_ok: bool) -> Any:
        """An entity property's value (issue or comment): Jira answers 404 both for a missing
        property and a missing entity; only the former is None with ``missing_ok``."""
        try:
            result = self.request("GET", path)
        except NotFoundError as exc:
            if missing_ok and "propert" in " ".join(exc.details).lower():
                return None
            raise
        return _object(result, "GET", path).get("value")

    def set_issue_property(self, key: str, property_key: str, value: Any) -> None:
        self.request("PUT", f"/rest/api/3/issue/{_seg(key)}/properties/{_seg(property_key)}", json=value)

    # -- users ---------------------------------------------------------------------------------
    def iter_users(self, page_size: int = 100) -> Iterator[dict[str, Any]]:
        """Every user (``/rest/api/3/users/search``, bare arrays; only an empty page ends the listing:
        Jira may return fewer users per page than asked)."""
        paginator = OffsetArrayPaginator(page_size, max_page_size=1000, anonymous=_NO_ACCOUNT)
        listed = yield from self._named_users("/rest/api/3/users/search", paginator, "users/search")
        self.log.info("Listed %d Jira users in %d pages", listed, paginator.pages_read)

    def find_users(self, query: str, *, page_size: int = 100) -> list[dict[str, Any]]:
        """Users whose name or e-mail matches ``query`` (``/rest/api/3/user/search``)."""
        paginator = OffsetArrayPaginator(page_size, max_page_size=1000)
        found: list[dict[str, Any]] = []
        for _page, items in self.paginate("GET", "/rest/api/3/user/search", paginator, params={"query": query}):
            found.extend(items)
        return found

    def get_user(self, account_id: str) -> dict[str, Any]:
        # shape checked: an empty answer read as None would be "no such user" to an event
        path = "/rest/api/3/user"
        return _object(self.request("GET", path, params={"accountId": account_id}), "GET", path, required=("accountId",))

    def create_user(self, email: str, products: Iterable[str], display_name: str | None = None) -> dict[str, Any]:
        """``POST /rest/api/3/user``. Not retried except on 429: check with ``find_users`` before repeating."""
        body: dict[str, Any] = {"emailAddress": email, "products": list(products)}
        if display_name:
            body["displayName"] = display_name
        path = "/rest/api/3/user"
        return _object(self.request("POST", path, json=body), "POST", path, required=("accountId",))

    def delete_user(self, account_id: str) -> None:
        self.request("DELETE", "/rest/api/3/user", params={"accountId": account_id})

    # -- groups --------------------------------------------------------------------------------
    def iter_groups(
        self, page_size: int = 50, *, group_names: Iterable[str] | None = None, group_ids: Iterable[str] | None = None
    ) -> Iterator[dict[str, Any]]:
        """Every group (``/rest/api/3/group/bulk``, ``startAt`` / ``isLast``), or those named / with these ids."""
        params: dict[str, Any] = {}
        if group_names:
            params["groupName"] = list(group_names)
        if group_ids:
            params["groupId"] = list(group_ids)
        paginator = StartAtPaginator(page_size, items_key="values", id_keys=("groupId", "name"))
        for _page, items in self.paginate("GET", "/rest/api/3/group/bulk", paginator, params=params or None):
            yield from items

    def find_group(self, name: str) -> dict[str, Any] | None:
        """The group with this name, or None. Jira matches group names without regard to
        case (``groupName`` finds "Admins" for "admins") but says nothing of Unicode forms
        ("Café" composed or decomposed): asked for each form, names compared composed
        (:func:`group_name`). An exact spelling wins, else the one group with the same name
        in another form or case. :class:`AmbiguousGroupError` when no group has the exact
        spelling and several match (a look-alike made in the other form): taking one could
        delete, or change the members of, a group the caller did not mean."""
        wanted = group_name(name)
        forms = list(dict.fromkeys([name, wanted, unicodedata.normalize("NFD", name)]))
        matches: list[dict[str, Any]] = []  # the same name in another form or case
        for group in self.iter_groups(group_names=forms):
            got = group.get("name")
            if not isinstance(got, str):
                continue
            if got == name:
                return group
            if group_name(got).casefold() == wanted.casefold():
                matches.append(group)
        if len({str(g.get("groupId") or g.get("name")) for g in matches}) > 1:
            raise AmbiguousGroupError(name, [str(g.get("name")) for g in matches])
        return matches[0] if matches else None

    @staticmethod
    def _group_params(group_id: str | None, group_name: str | None) -> dict[str, str]:
        if bool(group_id) == bool(group_name):
            raise ValueError("give exactly one of group_id or group_name")
        return {"groupId": group_id} if group_id else {"groupname": group_name}  # type: ignore[dict-item]

    def iter_group_members(
        self, group_id: str | None = None, group_name: str | None = None, include_inactive: bool = True, page_size: int = 50
    ) -> Generator[dict[str, Any], None, int]:
        """Members of one group (``/rest/api/3/group/member``, ``startAt`` / ``isLast``); the
        generator returns how many records of the listing had the account id 'unknown' (left
        out: they name no one)."""
        params: dict[str, Any] = self._group_params(group_id, group_name)
        params["includeInactiveUsers"] = "true" if include_inactive else "false"
        paginator = StartAtPaginator(page_size, items_key="values", id_keys=("accountId",), anonymous=_NO_ACCOUNT)
        listing = f"the members of group {group_id or group_name}"
        yield from self._named_users("/rest/api/3/group/member", paginator, listing, params=params)
        return paginator.unnamed_read

    def _named_users(
        self, path: str, paginator: Paginator, listing: str, **kwargs: Any,
    ) -> Generator[dict[str, Any], None, int]:
        """The users of a listing (``GET path``), less the records with the account id 'unknown'
        (Jira's corrupted records of deleted users, which name no one; the contract's fallback
        records of users its directory could not give in an outage look the same): counted in
        :attr:`unnamed_users_left_out` and logged; returns how many users it yielded."""
        named = unnamed = 0
        for _page, items in self.paginate("GET", path, paginator, **kwargs):
            for user in items:
                if str(user.get("accountId")) in _NO_ACCOUNT:
                    unnamed += 1
                else:
                    named += 1
                    yield user
        # told apart by their place alone, such records are handed out again by a pass that
        # restarts the listing: the last pass says how many the listing holds
        unnamed = getattr(paginator, "unnamed_read", unnamed)
        if unnamed:
            with self._unnamed_lock:
                self.unnamed_users_left_out += unnamed
            self.log.info("Left out %d user record(s) of %s with the account id 'unknown' (Jira's corrupted records "
                          "of deleted users, or the fallback records of users its directory could not give).",
                          unnamed, listing)
        return named

    def iter_group_members_of(
        self, groups: Iterable[dict[str, Any]], include_inactive: bool = True, *, unnamed: dict[str, int] | None = None,
    ) -> Iterator[tuple[dict[str, Any], list[dict[str, Any]] | None]]:
        """Every member of each group (by ``groupId``, else ``name``), groups in parallel (at
        most ``concurrency`` at once): yields ``(group, its members)`` as each group is done.
        The members are ``None`` for a group deleted since it was listed: group/member answers
        404 and group/bulk no longer shows it (a 404 for a group it still shows is raised).

        ``unnamed``, when given, gets for each group whose listing held records with the account
        id 'unknown' (left out of its members: Jira's fallback record of a user its directory
        could not give looks so, and that user is still a member) how many, under the group's
        ``groupId`` (else its ``name``), before the group is yielded."""

        def members(group: dict[str, Any]) -> list[dict[str, Any]] | None:
            group_id = group.get("groupId")
            found: list[dict[str, Any]] = []
            try:
                left_out = _drain(self.iter_group_members(
                    group_id=group_id, group_name=None if group_id else group.get("name"),
                    include_inactive=include_inactive,
                ), found)
            except NotFoundError:
                if self._group_listed(group):
                    raise
                return None
            if left_out and unnamed is not None:
                unnamed[str(group_id or group.get("name"))] = left_out  # a key per group: no lock needed
            return found

        yield from bounded_parallel(members, groups, self.concurrency, name="jira-members")

    def has_group(self, group_id: str | None = None, group_name: str | None = None) -> bool:
        """Does Jira have this group, asked for it alone? ``group/member`` (one member) answers
        404 only for a group it does not have ("group is not found"); a 404 counts only when
        ``group/bulk`` does not show the group either (a 404 of anything else on the way is no
        proof). Names are matched as Jira matches them (without regard to case); a name several
        groups answer to is a group Jira has. Other errors are raised."""
        params = {**self._group_params(group_id, group_name), "startAt": 0, "maxResults": 1}
        try:
            self.request("GET", "/rest/api/3/group/member", params=params)
        except NotFoundError:
            try:
                return self._group_listed({"groupId": group_id} if group_id else {"name": group_name})
            except AmbiguousGroupError:
                return True
        return True

    def _group_listed(self, group: Mapping[str, Any]) -> bool:
        """Does ``group/bulk`` show this group (by ``groupId``, else ``name``)?"""
        if group.get("groupId"):
            return next(self.iter_groups(group_ids=[str(group["groupId"])]), None) is not None
        return self.find_group(str(group.get("name"))) is not None

    def create_group(self, name: str) -> dict[str, Any]:
        """``POST /rest/api/3/group``. Not retried except on 429: check with ``find_group`` before repeating."""
        path = "/rest/api/3/group"
        return _object(self.request("POST", path, json={"name": name}), "POST", path, required=("groupId",))

    def delete_group(self, group_id: str | None = None, name: str | None = None) -> None:
        self.request("DELETE", "/rest/api/3/group", params=self._group_params(group_id, name))

    def add_user_to_group(self, account_id: str, group_id: str | None = None, group_name: str | None = None) -> dict[str, Any]:
        return self.request(
            "POST", "/rest/api/3/group/user", params=self._group_params(group_id, group_name), json={"accountId": account_id}
        )

    def remove_user_from_group(self, account_id: str, group_id: str | None = None, group_name: str | None = None) -> None:
        params = {**self._group_params(group_id, group_name), "accountId": account_id}
        self.request("DELETE", "/rest/api/3/group/user", params=params)

    # -- connection test -----------------------------------------------------------------------
    def test_connection(self) -> tuple[bool, str]:
        """``GET /rest/api/3/myself`` -> ``(True, "Connected to ... as ...")`` or ``(False, plain reason)``."""
        try:
            me = self.myself() or {}
        except ConnectorHTTPError as exc:
            return False, redact(str(exc), [self._api_token])
        if not isinstance(me, dict) or "accountId" not in me:
            return False, (
                f"Wrong host: {self.base_url} answered GET /rest/api/3/myself, but not like Jira Cloud "
                "(no accountId). Check the connection's host (https://<site>.atlassian.net)."
            )
        who = me.get("emailAddress") or me.get("displayName") or me.get("accountId") or self.email
        msg = f"Connected to Jira at {self.host} as {who}"
        if me.get("timeZone"):
            msg += f" (time zone {me['timeZone']})"
        days = self.token_days_left()
        if days is not None and days <= EXPIRY_WARNING_DAYS:
            msg += f". Warning: the API token {'expired' if days < 0 else 'expires'} on {self.token_expires.isoformat()}"  # type: ignore[union-attr]
        return True, msg
