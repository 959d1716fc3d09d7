"""Client for the Efecte / Matrix42 ESM REST API v1 (``.../rest-api/itsm/v1``).

* Logs in with ``POST /users/login`` (form fields ``login`` / ``password``), keeps the
  returned JWT and sends it as ``Authorization: Bearer ...``. Before a request it logs in
  again when the token's ``exp`` is near; and when ESM answers 401 to a request that
  carried a token (expired or revoked early), it logs in once more and repeats the
  request once -- the log says so. Bad credentials on login raise
  :class:`~.errors.EsmBadCredentialsError` ("bad credentials for ESM user 'x' ...").
* Reads: keyset paging (``limit`` <= 200, ``filterId`` from ``meta.links.next``, ids
  strictly decreasing) with :meth:`EsmClient.iter_cards`, with optional EQL filters
  (build them with :mod:`.eql` so values are escaped).
* Writes: bulk import in chunks with per-card outcomes (:meth:`EsmClient.bulk_import`),
  single-card create / patch / delete, attribute get / set, worklog append.
* One :meth:`EsmClient.request` sends, parses the JSON answer and raises the typed
  errors; a caller that handles a status itself (409 "already in the trash", a bulk
  chunk's 400 or 403) names it and gets a :class:`Refusal` instead. Keyset paging is
  :class:`~.paginators.KeysetPaginator`.
* Errors are the typed errors of :mod:`jira_esm_connector.http.errors`, refined in
  :mod:`.errors` (unknown template, unknown attribute, refused value, card not found).
  No message, log line or repr carries the password or the token.
"""
from __future__ import annotations

import base64
import json
import logging
import re
import threading
import time
from collections.abc import Collection, Iterable, Iterator, Mapping, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass
from typing import Any, Callable
from urllib.parse import urlsplit

import requests

from ..http.auth import BearerAuth, NoAuth
from ..http import (
    IDEMPOTENT_METHODS,
    AuthenticationError,
    BadRequestError,
    ConnectorHTTPError,
    PermissionDeniedError,
    RetryPolicy,
    build_session,
    describe_json,
    error_for_exception,
    error_for_response,
    path_segment,
    redact,
    resends_checked,
    service_messages,
    validate_base_url,
)
from . import eql
from .errors import (
    SERVICE,
    CardNotFoundError,
    EsmBadCredentialsError,
    EsmProtocolError,
    NotAnEsmApiError,
    RefusedValueError,
    TemplateWriteForbiddenError,
    UnknownAttributeError,
    UnknownTemplateError,
    malformed_answer,
)
from .models import (
    AttributeInfo,
    BulkImportResult,
    BulkWrites,
    CardInput,
    CardOutcome,
    EsmCard,
    TemplateInfo,
    TemplateSummary,
    as_card_input,
    card_from_answer,
    encode_card_data,
    encode_values,
)
from .paginators import MAX_PAGE_SIZE, KeysetPaginator

__all__ = ["EsmClient", "MAX_PAGE_SIZE", "MAX_CHUNK_SIZE", "Refusal"]

MAX_CHUNK_SIZE = 200  # cards per bulk PUT; keeps each request well inside ESM's limits
# kept-alive connections per session: the load step sends up to settings.esm_concurrency
# (at most 32) requests at once from threads sharing this client
MAX_CONNECTIONS = 32
_EXPIRY_SKEW = 30.0  # log in again this many seconds before the token's exp
_USER_AGENT = "jira-esm-connector/0.1 (+Airflow; Efecte ESM REST v1)"
# a bulk PUT refused as a whole, before anything was saved: 400 (a bad card) and 403 (a card
# the user may not update, e.g. one in a read-only folder; the contract documents 403 for it)
_CHUNK_REFUSALS = (400, 403)
# cards of the write's own folder sent alone after a 403 while ESM accepted none of the
# template yet: all refused with 403 too, ESM refuses the template (the account lost its role)
_TEMPLATE_PROBES = 3
# ESM's words for a missing attribute, e.g. "Template 'incident' has no attribute 'foo'"
_NO_ATTRIBUTE = re.compile(r"has no attribute(?:\(s\))?:?\s*'?([A-Za-z_][A-Za-z0-9_.\-]*)")


def _jwt_expiry(token: str) -> float | None:
    """The ``exp`` claim of a JWT (unverified; only used to log in again in time)."""
    try:
        payload = token.split(".")[1]
        payload += "=" * (-len(payload) % 4)
        exp = json.loads(base64.urlsafe_b64decode(payload)).get("exp")
        return float(exp) if exp is not None else None
    except (IndexError, ValueError, TypeError, AttributeError):
        return None


def _q(segment: str) -> str:
    """One URL path segment, fully escaped ("." and ".." refused: :func:`..http.path_segment`)."""
    return path_segment(segment, what="a code or id in an ESM URL")


@dataclass(frozen=True)
class Refusal:
    """A failed answer whose status the caller of :meth:`EsmClient.request` handles itself:
    the status and ESM's own messages (secrets redacted)."""

    status: int
    messages: tuple[str, ...]


class EsmClient:
    """One ESM environment, one local ESM user.

    ``base_url`` is the REST root, e.g. ``https://esm.example.com/rest-api/itsm/v1``.
    ``verify`` is ``True`` (system CAs), a CA bundle path, or ``False`` (local testing only).
    ``timeout`` is ``(connect, read)`` seconds. ``allow_insecure_http`` opts in to plain
    http for local simulators; otherwise only https is accepted.
    """

    def __init__(
        self,
        base_url: str,
        username: str,
        password: str,
        *,
        verify: bool | str = True,
        timeout: float | tuple[float, float] = (5, 60),
        retry: RetryPolicy | None = None,
        logger: logging.Logger | logging.LoggerAdapter | None = None,
        allow_insecure_http: bool = False,
        on_secret: Callable[[str], None] | None = None,
    ) -> None:
        if not username:
            raise ValueError("ESM connection has no login (user name)")
        if not password:
            raise ValueError(f"ESM connection for user '{username}' has no password")
        self.base_url = validate_base_url(base_url, allow_insecure_http=allow_insecure_http, service=SERVICE)
        self.username = username
        self.__password = password
        # told about every secret this client holds (the password now, each new JWT at
        # login): the Airflow hook registers them with Airflow's log masker
        self._on_secret = on_secret
        self.timeout = timeout
        # Passed with every request: requests lets REQUESTS_CA_BUNDLE override session.verify.
        self.verify = verify
        self.retry = retry or RetryPolicy()
        self.log = logger or logging.getLogger("jira_esm_connector.esm")
        self._report_secret(password)
        self._session = build_session(
            user_agent=_USER_AGENT, verify=verify, retry=self.retry, logger=self.log, service_name=SERVICE,
            pool_maxsize=MAX_CONNECTIONS,
        )
        # Bulk PUTs that create cards are not idempotent: repeated blindly after ESM may have
        # saved them, they would create every card twice. Their session retries PUT like POST:
        # on connect failures (nothing was sent), on 429 (ESM refuses before processing), and
        # on 503 only WITH Retry-After -- ESM (and the proxy in front of it) answer that when
        # they turn a request away unprocessed (overload, maintenance). Never on 500/502/504,
        # a 503 without Retry-After, read timeouts or resets: the cards may exist; the load
        # step then fails and its retry finds them by key before writing.
        self._create_session = build_session(
            user_agent=_USER_AGENT, verify=verify, retry=self.retry.with_(refusals_with_retry_after={503}),
            logger=self.log, service_name=SERVICE, idempotent_methods=IDEMPOTENT_METHODS - {"PUT"},
            pool_maxsize=MAX_CONNECTIONS,
        )
        self._token: str | None = None
        self._token_expiry: float | None = None
        self._login_lock = threading.Lock()
        self._worklogs: dict[str, frozenset[str] | None] = {}  # template -> its worklog attributes
        self._worklogs_lock = threading.Lock()
        self.logins = 0  # how many times this client logged in (visible in tests and logs)

    # ------------------------------------------------------------------ plumbing
    def __repr__(self) -> str:
        return f"EsmClient(base_url={self.base_url!r}, username={self.username!r})"

    def close(self) -> None:
        self._session.close()
        self._create_session.close()

    def resends_checked(self, check: Callable[[], None]) -> AbstractContextManager[None]:
        """While the block runs, a write of this client (a bulk PUT, ...) that ESM answered
        with a retry -- 429, 503 with Retry-After: waits of up to ``RetryPolicy.max_retry_after``
        each -- is sent again only if ``check()`` returns; what it raises (the template write
        lock's check: lost meanwhile) stops the write. Every thread's writes, see
        :func:`..http.resends_checked`."""
        return resends_checked((self._session, self._create_session), check)

    def __enter__(self) -> EsmClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _report_secret(self, value: str | None) -> None:
        if value and self._on_secret is not None:
            try:
                self._on_secret(value)
            except Exception as exc:  # noqa: BLE001 - masking must never break a login
                self.log.debug("secret callback failed: %s", type(exc).__name__)

    def _secrets(self) -> list[str | None]:
        return [self.__password, self._token]

    def _url(self, path: str) -> str:
        return self.base_url + "/" + path.lstrip("/")

    def _send(
        self,
        method: str,
        path: str,
        *,
        session: requests.Session | None = None,
        auth: bool = True,
        **kwargs: Any,
    ) -> requests.Response:
        url = self._url(path)
        # an auth object, never a bare header: requests reads ~/.netrc for a request without one,
        # and Basic credentials found there would replace the Bearer header
        signed = BearerAuth(self._token) if auth and self._token else NoAuth()
        try:
            return (session or self._session).request(
                method, url, headers=kwargs.pop("headers", None), auth=signed, timeout=self.timeout,
                verify=self.verify, **kwargs
            )
        except requests.RequestException as exc:
            # the create session never repeats a PUT: the error must say it may have taken effect
            repeats = IDEMPOTENT_METHODS - {"PUT"} if session is self._create_session else None
            raise error_for_exception(exc, service=SERVICE, url=url, method=method, idempotent=repeats) from None

    def login(self) -> None:
        """Log in (again) and keep the new JWT."""
        resp = self._send(
            "POST",
            "users/login",
            auth=False,
            data={"login": self.username, "password": self.__password},
            headers={"Content-Type": "application/x-www-form-urlencoded"},
        )
        if resp.status_code in (401, 403):
            raise EsmBadCredentialsError.for_user(self.username, self.base_url)
        if resp.status_code in (404, 405):
            raise NotAnEsmApiError(
                f"Wrong host or path: there is no ESM REST API at {self.base_url} "
                f"(POST /users/login answered {resp.status_code}); the base URL should end with /rest-api/itsm/v1",
                resp.status_code,
                SERVICE,
            )
        if not resp.ok:
            raise error_for_response(resp, service=SERVICE, secrets=self._secrets())
        token = None
        try:
            body = resp.json()
            token = body.get("token") if isinstance(body, Mapping) else None
        except ValueError:
            body = None
        token = token or resp.headers.get("Authorization")
        if not token or not isinstance(token, str):
            raise NotAnEsmApiError(
                f"Wrong host or path: {self.base_url} answered the login but sent no ESM token; "
                "the base URL should end with /rest-api/itsm/v1",
                resp.status_code,
                SERVICE,
            )
        if token.lower().startswith("bearer "):
            token = token[7:].strip()
        self._report_secret(token)  # before anything can log it
        self._token = token
        self._token_expiry = _jwt_expiry(token)
        if self._token_expiry is not None and self._token_expiry - _EXPIRY_SKEW <= time.time():
            # a fresh token that already looks expired means the clocks disagree: rely on 401s
            self.log.debug("ESM token expiry is not usable (clock skew?); renewing on 401 only.")
            self._token_expiry = None
        self.logins += 1
        self.log.info("Logged in to ESM at %s as '%s'.", self.base_url, self.username)

    def _ensure_token(self) -> None:
        with self._login_lock:
            if self._token is None:
                self.login()
            elif self._token_expiry is not None and time.time() > self._token_expiry - _EXPIRY_SKEW:
                self.log.info("ESM session token for '%s' is about to expire; logging in again.", self.username)
                self.login()

    def _relogin_after_401(self, used_token: str | None) -> None:
        with self._login_lock:
            if self._token != used_token:
                return  # another thread logged in meanwhile
            self.log.info(
                "ESM rejected the session token of '%s' (expired or revoked); logging in again and repeating the request.",
                self.username,
            )
            self.login()

    def _authorized(self, method: str, path: str, **kwargs: Any) -> requests.Response:
        """An authenticated request; one transparent re-login on 401. Returns any status."""
        self._ensure_token()
        used = self._token
        resp = self._send(method, path, **kwargs)
        if resp.status_code == 401:
            resp.close()
            self._relogin_after_401(used)
            resp = self._send(method, path, **kwargs)
            if resp.status_code == 401:
                raise AuthenticationError(
                    f"ESM refused a fresh session token of user '{self.username}' for "
                    f"{method} {urlsplit(self._url(path)).path} right after logging in (401); "
                    "the user may lack REST API rights",
                    401,
                    SERVICE,
                )
        return resp

    def request(
        self,
        method: str,
        path: str,
        *,
        what: str | None = None,
        refusals: Collection[int] = (),
        parse: bool = True,
        auth: bool = True,
        template: str | None = None,
        card_id: str | None = None,
        attribute: str | None = None,
        attribute_403: bool = False,
        **kwargs: Any,
    ) -> Any:
        """Send one request to ``base_url/path`` and return ESM's parsed JSON answer.

        With ``auth`` it logs in first when needed, and once more on a 401. A status in
        ``refusals`` comes back as a :class:`Refusal`; any other failure raises the most
        specific typed error, told by ``template`` / ``card_id`` / ``attribute`` what the
        request was about (``attribute_403``: a 403 naming an attribute means it does not
        exist). ``what`` names the endpoint in errors about the answer's shape (default
        ``"METHOD /path"``); ``parse=False`` leaves the body unread and returns None.
        Other keywords (``params``, ``json``, ``session``, ...) go to the HTTP request.
        """
        resp = self._authorized(method, path, **kwargs) if auth else self._send(method, path, auth=False, **kwargs)
        if resp.status_code in refusals:
            return Refusal(resp.status_code, tuple(service_messages(resp, secrets=self._secrets())))
        if not resp.ok:
            raise self._error(resp, template=template, card_id=card_id, attribute=attribute, attribute_403=attribute_403)
        return self._json(resp, what or f"{method} /{path}") if parse else None

    def _error(
        self,
        resp: requests.Response,
        *,
        template: str | None = None,
        card_id: str | None = None,
        attribute: str | None = None,
        attribute_403: bool = False,
    ) -> ConnectorHTTPError:
        """The most specific typed error for a failed ESM response."""
        if attribute_403 and resp.status_code == 403 and "attribute" in " ".join(service_messages(resp)).lower():
            # the spec documents 403 as "Resource not found" for the attribute endpoints
            return UnknownAttributeError.for_attribute(str(template), str(attribute))
        msgs = service_messages(resp, secrets=self._secrets())
        detail = "; ".join(msgs) or None
        low = (detail or "").lower()
        status = resp.status_code
        if "json" not in resp.headers.get("Content-Type", "").lower():
            # not ESM's own words (a proxy's or web server's error page): no guessing about
            # templates or cards, just the endpoint and the status
            return error_for_response(resp, service=SERVICE, secrets=self._secrets())
        if template and status in (400, 403, 404):
            if "static-value" in low or "static value" in low:
                return RefusedValueError(
                    f"ESM refused a value for template '{template}'"
                    + (f", attribute '{attribute}'" if attribute else "")
                    + f": {detail}",
                    status,
                    SERVICE,
                    details=msgs,
                )
            missing = _NO_ATTRIBUTE.search(detail or "")
            # a 403 is "forbidden" (the attribute read's "not found" 403 was told apart above)
            if missing or (attribute and status == 404 and "attribute" in low):
                return UnknownAttributeError.for_attribute(
                    template, missing.group(1) if missing else str(attribute), detail=detail
                )
        if status == 404 and template:
            if card_id and ("template" not in low or "card" in low):
                return CardNotFoundError.for_card(template, card_id, detail)
            return UnknownTemplateError.for_template(template, detail)
        return error_for_response(resp, service=SERVICE, secrets=self._secrets())

    def _json(self, resp: requests.Response, what: str) -> Any:
        try:
            return resp.json()
        except ValueError:
            method, _, path = what.partition(" ")
            raise EsmProtocolError(
                f"ESM answered {what} with something that is not JSON (status {resp.status_code}; "
                f"{'an empty body' if not resp.content else 'cut off, or an error page'})",
                resp.status_code,
                SERVICE,
                method=method or None,
                path=path or None,
            ) from None

    # ------------------------------------------------------------------ health
    def echo(self, message: str = "ping") -> str:
        """``GET /echo`` (no login needed): the message ESM echoes back."""
        body = self.request("GET", "echo", auth=False, refusals=(404,), params={"message": message})
        if isinstance(body, Refusal):
            raise NotAnEsmApiError(
                f"Wrong host or path: there is no ESM REST API at {self.base_url} (GET /echo answered 404)",
                404,
                SERVICE,
            )
        return str(body.get("message", "")) if isinstance(body, Mapping) else str(body)

    def echo_jwt(self, message: str = "ping") -> str:
        """``GET /echo/jwt``: proves that login works and the token is accepted."""
        body = self.request("GET", "echo/jwt", params={"message": message})
        return str(body.get("message", "")) if isinstance(body, Mapping) else str(body)

    # ------------------------------------------------------------------ templates
    def templates(self) -> list[TemplateSummary]:
        """``GET /dc``: every template the user can see."""
        body = self.request("GET", "dc")
        if not isinstance(body, list):
            raise EsmProtocolError("ESM's template list (GET /dc) is not a JSON array", 200, SERVICE)
        return [
            TemplateSummary(code=str(t.get("templateCode")), name=str(t.get("name") or t.get("templateCode")), url=t.get("url"))
            for t in body
            if isinstance(t, Mapping)
        ]

    def template(self, code: str) -> TemplateInfo:
        """``GET /dc/{code}``: attributes (types, multi-value, static values, reference targets) and folders."""
        what = f"GET /dc/{code}"
        body = self.request("GET", f"dc/{_q(code)}", what=what, template=code)
        if not isinstance(body, Mapping):
            raise malformed_answer(what, f"the description of template '{code}' is {describe_json(body)}, expected an object")
        for key, kind, expected in (("attributes", Mapping, "an object"), ("allowedFolders", list, "a list")):
            if body.get(key) is not None and not isinstance(body[key], kind):
                raise malformed_answer(what, f"'{key}' is {describe_json(body[key])}, expected {expected}")
        info = TemplateInfo.from_json(body)
        if not info.code:
            info = TemplateInfo(code=code, name=info.name or code, folders=info.folders, attributes=info.attributes, raw=info.raw)
        return info

    # ------------------------------------------------------------------ reads
    @staticmethod
    def _read_params(filter: str | None, selected_attributes: Sequence[str] | str | None, data_cards: bool) -> dict[str, Any]:
        params: dict[str, Any] = {"dataCards": "true" if data_cards else "false"}
        if filter:
            params["filter"] = filter
        if selected_attributes:
            if isinstance(selected_attributes, str):
                selected_attributes = [a.strip() for a in selected_attributes.split(",") if a.strip()]
            for a in selected_attributes:
                eql.eql_attr(a)  # same rules as filter attribute codes: no commas or spaces
            params["selectedAttributes"] = ",".join(selected_attributes)
        return params

    def iter_pages(
        self,
        template: str,
        *,
        filter: str | None = None,
        selected_attributes: Sequence[str] | str | None = None,
        page_size: int = MAX_PAGE_SIZE,
        data_cards: bool = True,
    ) -> Iterator[list[EsmCard]]:
        """Pages of cards (newest id first), following ``meta.links.next`` by its ``filterId``.

        Cards in the trash (``deleted: true``) are left out, so every listing means the live
        cards, as the read-by-id paths do: the contract does not say whether ESM lists them,
        and a trashed card taken for a key's card would be edited (refused) every run while
        the record never got a live card again; removal and reconcile would count it. No
        caller wants them from a listing (none revives one). An info element
        (``data_cards=False``) carries no ``deleted`` in the contract, so a trashed one cannot
        be told and stays in: its only reader asks "is the template empty?", where a card too
        many errs on the safe side (look-ups stay on). Left out here, after the paginator:
        its cursor still sees every card of the page."""
        paginator = KeysetPaginator(page_size, template=template)
        params = self._read_params(filter, selected_attributes, data_cards)
        trashed = 0
        for page in self.paginate(f"dc/{_q(template)}/data", paginator, params=params):
            live = [card for card in page if not card.deleted]
            trashed += len(page) - len(live)
            if live:
                yield live
        self.log.log(
            logging.INFO if paginator.pages_read > 1 or trashed else logging.DEBUG,
            "Read %d page(s), %d card(s), of ESM template '%s'%s%s.",
            paginator.pages_read, paginator.items_read, template, " (filtered)" if filter else "",
            f"; left out {trashed} card(s) in the trash" if trashed else "",
        )

    def paginate(
        self, path: str, paginator: KeysetPaginator, *, params: Mapping[str, Any] | None = None
    ) -> Iterator[list[EsmCard]]:
        """Yield every non-empty page of cards of a listing, driven by ``paginator``."""
        cursor: dict[str, Any] | None = paginator.first()
        while cursor is not None:
            page = self.request(
                "GET", path, params={**(params or {}), **cursor}, what=paginator.what, template=paginator.template
            )
            cards = paginator.items(page)
            if cards:
                yield cards
            cursor = paginator.next(page, cards)

    def iter_cards(
        self,
        template: str,
        *,
        filter: str | None = None,
        selected_attributes: Sequence[str] | str | None = None,
        page_size: int = MAX_PAGE_SIZE,
        data_cards: bool = True,
    ) -> Iterator[EsmCard]:
        """Every live card of ``template`` matching the EQL ``filter``, newest id first, by keyset
        paging (none in the trash: see :meth:`iter_pages`).

        ``data_cards=False`` returns short info elements (id, name) only, which is much
        lighter when only ids are needed.
        """
        for page in self.iter_pages(
            template, filter=filter, selected_attributes=selected_attributes, page_size=page_size, data_cards=data_cards
        ):
            yield from page

    def get_card(self, template: str, card_id: str | int, *, selected_attributes: Sequence[str] | str | None = None) -> EsmCard:
        """``GET /dc/{template}/data/{id}``; :class:`CardNotFoundError` when there is none."""
        params = {}
        if selected_attributes:
            params = {"selectedAttributes": self._read_params(None, selected_attributes, True)["selectedAttributes"]}
        what = f"GET /dc/{template}/data/{card_id}"
        body = self.request(
            "GET", f"dc/{_q(template)}/data/{_q(str(card_id))}", params=params, what=what, template=template, card_id=str(card_id)
        )
        return card_from_answer(body, template, what)

    def find_cards(self, template: str, attribute: str, value: Any, *, data_cards: bool = True) -> list[EsmCard]:
        """Every card whose ``attribute`` equals ``value`` (value escaped)."""
        return list(self.iter_cards(template, filter=eql.eq(attribute, value), data_cards=data_cards))

    def find_card(self, template: str, attribute: str, value: Any) -> EsmCard | None:
        """The card whose ``attribute`` equals ``value``, or ``None``.

        When several match (the key is not unique in ESM) the newest is returned and a
        warning names the others.
        """
        cards = self.find_cards(template, attribute, value)
        if len(cards) > 1:
            self.log.warning(
                "%d ESM '%s' cards have %s = %r (ids %s); using the newest, %s.",
                len(cards), template, attribute, value, ", ".join(c.data_card_id for c in cards), cards[0].data_card_id,
            )
        return cards[0] if cards else None

    # ------------------------------------------------------------------ writes
    def create_card(self, template: str, data: Mapping[str, Any], *, folder: str) -> str:
        """``POST /dc/{template}/data``: create one card; returns its id."""
        body = {"folderCode": folder, "data": encode_card_data(data)}
        out = self.request(
            "POST", f"dc/{_q(template)}/data", json=body, what=f"POST /dc/{template}/data", template=template, attribute=_only(data)
        )
        errors = _errors_of(out.get("meta") if isinstance(out, Mapping) else None)
        card_id = ((out.get("dataCard") or {}) if isinstance(out, Mapping) else {}).get("dataCardId")
        if errors or not card_id:
            raise self._refusal(template, errors or ["ESM did not return the new card's id"])
        return str(card_id)

    def patch_card(self, template: str, card_id: str | int, data: Mapping[str, Any], *, folder: str | None = None) -> None:
        """``PATCH /dc/{template}/data/{id}``: change the given attributes only."""
        body: dict[str, Any] = {"dataCardId": str(card_id), "data": encode_card_data(data)}
        if folder:
            body["folderCode"] = folder
        out = self.request(
            "PATCH", f"dc/{_q(template)}/data/{_q(str(card_id))}", json=body,
            what=f"PATCH /dc/{template}/data/{card_id}", template=template, card_id=str(card_id), attribute=_only(data),
        )
        errors = _errors_of(out.get("meta") if isinstance(out, Mapping) else None)
        if errors:
            raise self._refusal(template, errors)

    def delete_card(self, template: str, card_id: str | int, *, missing_ok: bool = True) -> bool:
        """Move a card to the trash. ``False`` when it already was there (409) and ``missing_ok``."""
        out = self.request(
            "DELETE", f"dc/{_q(template)}/data/{_q(str(card_id))}",
            refusals=(409,) if missing_ok else (), parse=False, template=template, card_id=str(card_id),
        )
        if isinstance(out, Refusal):
            self.log.info("ESM '%s' card %s is already in the trash.", template, card_id)
            return False
        return True

    def get_attribute(self, template: str, card_id: str | int, attribute: str) -> list[Any]:
        """The value elements of one attribute of one card.

        This read documents no 404: ESM answers a template, card or attribute it cannot find
        with 403 ("Resource not found"). A 403 that does not name the attribute is told apart
        by reading the card (documented 404 when it is missing): a missing card or template
        raises :class:`CardNotFoundError` / :class:`UnknownTemplateError`, a card that is there
        leaves the 403 a :class:`PermissionDeniedError`."""
        try:
            body = self.request(
                "GET", f"dc/{_q(template)}/data/{_q(str(card_id))}/{_q(attribute)}", what=f"GET attribute {attribute}",
                template=template, card_id=str(card_id), attribute=attribute, attribute_403=True,
            )
        except PermissionDeniedError:
            self.get_card(template, card_id, selected_attributes=[attribute])  # raises when it is missing
            raise
        # the comment load decides from this read which comments a worklog holds and adds the
        # rest (not safe to repeat): an answer it cannot read is no empty attribute
        if not isinstance(body, Mapping) or not isinstance(body.get("values"), list):
            raise malformed_answer(f"GET /dc/{template}/data/{card_id}/{attribute}",
                                   f"the attribute is {describe_json(body)}, expected an "
                                   "object with a 'values' list (RESTDataCardElement)")
        return list(body["values"])

    def set_attribute(self, template: str, card_id: str | int, attribute: str, value: Any) -> None:
        """Replace the value(s) of one attribute (``PUT``); ``None`` or ``[]`` clears it."""
        self._attribute_write("PUT", template, card_id, attribute, encode_values(value))

    def add_attribute_value(self, template: str, card_id: str | int, attribute: str, value: Any) -> None:
        """Add value(s) to an empty or multi-value attribute (``POST``)."""
        self._attribute_write("POST", template, card_id, attribute, encode_values(value))

    def clear_attribute(self, template: str, card_id: str | int, attribute: str) -> None:
        self.request(
            "DELETE", f"dc/{_q(template)}/data/{_q(str(card_id))}/{_q(attribute)}",
            parse=False, template=template, card_id=str(card_id), attribute=attribute,
        )

    def append_worklog(self, template: str, card_id: str | int, attribute: str, text: str) -> None:
        """Append one entry to a worklog attribute (ESM stamps author and date)."""
        if not isinstance(text, str) or not text.strip():
            raise ValueError("a worklog entry needs some text")
        self._attribute_write("POST", template, card_id, attribute, {"values": [{"value": text}]})

    def _attribute_write(self, method: str, template: str, card_id: str | int, attribute: str, body: Mapping[str, Any]) -> None:
        # a 403 here is "User is forbidden to update the resource" (contract), not "not found"
        self.request(
            method, f"dc/{_q(template)}/data/{_q(str(card_id))}/{_q(attribute)}", json=body,
            parse=False, template=template, card_id=str(card_id), attribute=attribute,
        )

    def _refusal(self, template: str, errors: list[Mapping[str, Any]]) -> ConnectorHTTPError:
        reasons = [_reason(e) for e in errors]
        text = "; ".join(redact(r, self._secrets()) for r in reasons)
        kinds = {str(e.get("attributeType") or "") for e in errors if isinstance(e, Mapping)}
        low = text.lower()
        if "static-value" in kinds or "static value" in low or "static-value" in low:
            return RefusedValueError(f"ESM refused a value for template '{template}': {text}", 400, SERVICE, details=reasons)
        attrs = [str(e.get("attributeCode")) for e in errors if isinstance(e, Mapping) and e.get("attributeCode")]
        if attrs and ("unknown" in low or "not found" in low or "no attribute" in low or "does not exist" in low):
            return UnknownAttributeError.for_attribute(template, attrs[0], detail=text)
        return BadRequestError(f"ESM refused the card for template '{template}': {text}", 400, SERVICE, details=reasons)

    # ------------------------------------------------------------------ bulk import
    def iter_bulk_import(
        self,
        template: str,
        cards: Iterable[CardInput | Mapping[str, Any]],
        *,
        folder: str | None = None,
        chunk_size: int = MAX_CHUNK_SIZE,
        writes: BulkWrites | None = None,
    ) -> Iterator[list[CardOutcome]]:
        """Like :meth:`bulk_import`, but yields each chunk's outcomes as soon as ESM answered.

        A caller can record progress chunk by chunk, so a failure later in the run loses
        nothing that was already saved. A caller writing one run in several calls passes the
        run's ``writes`` to each (default: one per call).
        """
        if not 1 <= int(chunk_size) <= MAX_CHUNK_SIZE:
            raise ValueError(f"bulk import chunk size must be between 1 and {MAX_CHUNK_SIZE}, not {chunk_size}")
        writes = writes if writes is not None else BulkWrites()
        chunk: list[tuple[int, CardInput]] = []
        for index, raw in enumerate(cards):
            chunk.append((index, as_card_input(raw)))
            if len(chunk) >= chunk_size:
                yield self._import_chunk(template, chunk, folder, writes)
                chunk = []
        if chunk:
            yield self._import_chunk(template, chunk, folder, writes)

    def bulk_import(
        self,
        template: str,
        cards: Iterable[CardInput | Mapping[str, Any]],
        *,
        folder: str | None = None,
        chunk_size: int = MAX_CHUNK_SIZE,
        writes: BulkWrites | None = None,
    ) -> BulkImportResult:
        """Create and edit cards with ``PUT /dc/{template}/data``, ``chunk_size`` cards per request.

        A card with ``data_card_id`` edits that card (it stays in its folder unless it
        names its own ``folder``); one without creates a card in its own ``folder`` or else
        the ``folder`` given here. Returns one
        :class:`CardOutcome` per input card, in input order: ``created`` / ``updated``
        with the card id, or ``refused`` with ESM's reasons (the rest of the chunk is still
        saved). When ESM rejects a whole chunk with 400 (or 403, a card the user may not
        update), the chunk is split and retried until the refused cards are isolated, so one
        bad card never sinks the others. A 403 before ESM accepted any card of the template
        may mean the account lost its rights to the whole template: up to three cards of the
        ``folder`` (new ones, or edits the caller knows are there: ``CardInput.in_folder``)
        are sent alone first; one accepted, the split goes on; every one refused with 403
        raises :class:`TemplateWriteForbiddenError` (a few requests, not two per card).
        ``writes``: as for :meth:`iter_bulk_import` (a caller writing one run in several calls).
        """
        result = BulkImportResult()
        for outcomes in self.iter_bulk_import(template, cards, folder=folder, chunk_size=chunk_size, writes=writes):
            result.outcomes.extend(outcomes)
            result.chunks += 1
        counts = result.counts()
        self.log.info(
            "ESM bulk import into '%s': %d card(s) in %d chunk(s): %d created, %d updated, %d refused.",
            template, counts["handled"], result.chunks, counts["created"], counts["updated"], counts["refused"],
        )
        for o in result.refused:
            self.log.warning(
                "ESM refused '%s' card #%d%s%s: %s",
                template, o.index, f" ({o.ref})" if o.ref is not None else "",
                f" [id {o.data_card_id}]" if o.data_card_id else "", o.reason,
            )
        return result

    def _import_chunk(
        self, template: str, chunk: list[tuple[int, CardInput]], folder: str | None, writes: BulkWrites,
    ) -> list[CardOutcome]:
        outcomes: dict[int, CardOutcome] = {}
        sendable: list[tuple[int, CardInput]] = []
        for index, card in chunk:
            if not card.data_card_id and not (card.folder or folder):
                outcomes[index] = CardOutcome(
                    index, "refused", None, ("a new card needs a folder, and none was given",), card.ref, card
                )
            else:
                sendable.append((index, card))
        if sendable:
            for o in self._put_cards(template, sendable, folder, writes):
                outcomes[o.index] = o
        return [outcomes[i] for i, _ in chunk]

    def _appends_worklog(self, template: str, cards: list[tuple[int, CardInput]]) -> bool:
        """Does the chunk write a worklog attribute? Every write of one adds entries, an edit
        too, so such a PUT is not repeated blindly either (a lost answer would add them twice).
        The template's worklog attributes are read once per client; unknown (the description
        could not be read) counts as yes."""
        with self._worklogs_lock:  # the load's worker threads ask at once: read the template once
            if template not in self._worklogs:
                try:
                    info = self.template(template)
                    self._worklogs[template] = frozenset(c for c, a in info.attributes.items() if a.type == "worklog")
                except ConnectorHTTPError as exc:
                    self.log.info("Could not read which attributes of '%s' are worklogs (%s): its bulk edits are "
                                  "not repeated after a lost answer.", template, type(exc).__name__)
                    self._worklogs[template] = None
        worklogs = self._worklogs[template]
        if worklogs is None:
            return True
        return any(code in worklogs and value not in (None, "", []) for _, c in cards for code, value in c.data.items())

    def _put_cards(
        self, template: str, cards: list[tuple[int, CardInput]], folder: str | None, writes: BulkWrites,
    ) -> list[CardOutcome]:
        out = self._bulk_put(template, cards, folder)
        if isinstance(out, Refusal) and out.status == 403 and not writes.accepted:
            probed = self._probe_template(template, cards, folder, writes, out)
            if probed is not None:
                return probed
        if isinstance(out, Refusal) and len(cards) > 1:
            # ESM refused the chunk as a whole: isolate the culprit(s) by halves.
            self.log.info(
                "ESM refused a bulk chunk of %d '%s' cards as a whole (%d); splitting it to find the refused card(s).",
                len(cards), template, out.status,
            )
            mid = len(cards) // 2
            return self._put_cards(template, cards[:mid], folder, writes) + self._put_cards(
                template, cards[mid:], folder, writes)
        if isinstance(out, Refusal):
            return [_refused_alone(cards[0], out)]
        return self._accepted(self._match_outcomes(template, cards, out), writes)

    def _bulk_put(self, template: str, cards: list[tuple[int, CardInput]], folder: str | None) -> Any:
        """One ``PUT /dc/{template}/data`` of ``cards``: ESM's answer, or a :class:`Refusal` (400, 403)."""
        body = []
        for _, card in cards:
            item: dict[str, Any] = {"data": encode_card_data(card.data)}
            if card.data_card_id:
                item["dataCardId"] = str(card.data_card_id)
            # the default folder is for new cards: sent with an edit, it would move the card
            # back from wherever someone put it in ESM
            folder_code = card.folder or (None if card.data_card_id else folder)
            if folder_code:
                item["folderCode"] = folder_code
            body.append(item)
        creates = any(not c.data_card_id for _, c in cards)
        once = creates or self._appends_worklog(template, cards)
        return self.request(
            "PUT", f"dc/{_q(template)}/data", json=body, session=self._create_session if once else self._session,
            refusals=_CHUNK_REFUSALS, what=f"PUT /dc/{template}/data", template=template,
        )

    @staticmethod
    def _accepted(outcomes: list[CardOutcome], writes: BulkWrites) -> list[CardOutcome]:
        if any(o.ok for o in outcomes):
            writes.accepted = True
        return outcomes

    def _probe_template(
        self, template: str, cards: list[tuple[int, CardInput]], folder: str | None, writes: BulkWrites,
        refusal: Refusal,
    ) -> list[CardOutcome] | None:
        """ESM refused ``cards`` with 403 and accepted no card of the template in this run yet:
        a card in a folder the account may not update, or no right to the template at all.
        Cards of the write's own ``folder`` are sent alone; the first one ESM accepts proves
        the template writable and the rest is written as before. When every one is refused
        with 403 too, ESM refuses the template: :class:`TemplateWriteForbiddenError`. None:
        no such card to ask with (the caller splits the chunk as before)."""
        probes = [c for c in cards if _in_folder(c[1], folder)][:_TEMPLATE_PROBES]
        if not probes:
            return None
        if writes.refused is not None:  # another chunk found it out already
            raise TemplateWriteForbiddenError.for_template(template, str(folder), *writes.refused)
        done: list[CardOutcome] = []
        for probe in probes:
            answer = refusal if len(cards) == 1 else self._bulk_put(template, [probe], folder)
            if isinstance(answer, Refusal) and answer.status == 403 and not writes.accepted:
                done.append(_refused_alone(probe, answer))
                refusal = answer
                continue
            # accepted, refused for a reason of its own, or another chunk was accepted meanwhile
            done += [_refused_alone(probe, answer)] if isinstance(answer, Refusal) else self._accepted(
                self._match_outcomes(template, [probe], answer), writes)
            sent = {o.index for o in done}
            rest = [c for c in cards if c[0] not in sent]
            return done + (self._put_cards(template, rest, folder, writes) if rest else [])
        self.log.error(
            "ESM refused %d '%s' card(s) of folder '%s' one by one with 403 and accepted none in this run: "
            "it refuses the template; stopping here.", len(done), template, folder,
        )
        writes.refused = (len(done), refusal.messages)
        raise TemplateWriteForbiddenError.for_template(template, str(folder), *writes.refused)

    def _match_outcomes(self, template: str, cards: list[tuple[int, CardInput]], out: Any) -> list[CardOutcome]:
        """ESM's per-card results for ``cards``, in the order sent when the answer keeps it
        (every edit's result names the card sent), else matched by card id."""
        what = f"PUT /dc/{template}/data"
        if not isinstance(out, Mapping):
            raise malformed_answer(what, f"the bulk import answer for '{template}' is {describe_json(out)}, expected an object")
        if out.get("data") is not None and not isinstance(out["data"], list):
            raise malformed_answer(what, f"'data' is {describe_json(out['data'])}, expected a list of per-card results")
        items = [i if isinstance(i, Mapping) else {} for i in (out.get("data") or [])]
        meta = out.get("meta") if isinstance(out.get("meta"), Mapping) else {}
        outcomes: list[CardOutcome] = []
        if len(items) == len(cards) and all(_same_card(card, item) for (_, card), item in zip(cards, items)):
            pairs = list(zip(cards, items))
        else:
            # ESM did not answer card by card in order (the contract does not promise it): match
            # edits by id; creates stay unknown -- paired by position, a new card's id could go
            # to another key, and later edits with it
            self.log.warning(
                "ESM answered a bulk import of %d '%s' cards with %d results%s; matching them by card id.",
                len(cards), template, len(items), "" if len(items) != len(cards) else ", not in the order sent",
            )
            by_id = {str((i.get("dataCard") or {}).get("dataCardId")): i for i in items if i.get("dataCard")}
            pairs = [(c, by_id.get(str(c[1].data_card_id)) if c[1].data_card_id else None) for c in cards]
        for (index, card), item in pairs:
            if item is None:
                outcomes.append(
                    CardOutcome(
                        index, "refused", card.data_card_id,
                        ("ESM's answer did not say what happened to this card; it is tried again next time",),
                        card.ref, card, uncertain=True,
                    )
                )
                continue
            errors = _errors_of(item)
            dc = item.get("dataCard") if isinstance(item.get("dataCard"), Mapping) else {}
            card_id = dc.get("dataCardId") if dc else None
            if errors or not card_id:
                reasons = tuple(redact(_reason(e), self._secrets()) for e in errors) or ("ESM did not save the card",)
                outcomes.append(CardOutcome(index, "refused", str(card_id) if card_id else card.data_card_id, reasons, card.ref, card))
            else:
                status = "updated" if card.data_card_id else "created"
                outcomes.append(CardOutcome(index, status, str(card_id), (), card.ref, card))
        result = meta.get("importResult") if isinstance(meta, Mapping) else None
        if isinstance(result, Mapping) and result.get("savedDataCards") is not None:
            saved = sum(1 for o in outcomes if o.ok)
            if int(result.get("savedDataCards") or 0) != saved:
                self.log.warning(
                    "ESM's import result for '%s' says %s card(s) saved, its per-card answers say %d.",
                    template, result.get("savedDataCards"), saved,
                )
        # the contract's answer has room for errors outside the per-card results (meta.errors)
        loose = _errors_of(meta)
        if loose:
            self.log.warning(
                "ESM's answer to a bulk import of %d '%s' card(s) lists %d error(s) not tied to a card: %s",
                len(cards), template, len(loose), "; ".join(redact(_reason(e), self._secrets()) for e in loose[:5]),
            )
        return outcomes

    # ------------------------------------------------------------------ helpers for callers
    def check_static_value(self, template: str | TemplateInfo, attribute: str, value: Any) -> AttributeInfo:
        """Raise :class:`RefusedValueError` when ``value`` is not one of the attribute's static values."""
        info = template if isinstance(template, TemplateInfo) else self.template(template)
        attr = info.attribute(attribute)
        if attr.is_static_value and attr.static_values and not attr.allows_static_value(value):
            allowed = ", ".join(repr(str(v.value)) for v in attr.static_values)
            raise RefusedValueError(
                f"'{value}' is not an allowed value of ESM attribute '{attribute}' of template '{info.code}' "
                f"(allowed: {allowed})",
                400,
                SERVICE,
            )
        return attr


def _in_folder(card: CardInput, folder: str | None) -> bool:
    """Does the write put ``card`` into, or edit it in, ``folder`` (the write's own folder)?"""
    if not folder:
        return False
    if card.data_card_id:
        return card.in_folder == folder and card.folder in (None, folder)
    return (card.folder or folder) == folder


def _refused_alone(item: tuple[int, CardInput], refusal: Refusal) -> CardOutcome:
    index, card = item
    reasons = refusal.messages or (f"ESM refused the card ({refusal.status})",)
    return CardOutcome(index, "refused", card.data_card_id, reasons, card.ref, card)


def _same_card(card: CardInput, item: Mapping[str, Any]) -> bool:
    """Does a result paired by position belong to ``card``? An edit's result must name the
    card sent (a result without a card, a refusal, says nothing against it)."""
    if not card.data_card_id:
        return True
    dc = item.get("dataCard") if isinstance(item.get("dataCard"), Mapping) else None
    returned = dc.get("dataCardId") if dc else None
    return returned in (None, "") or str(returned) == str(card.data_card_id)


def _errors_of(obj: Any) -> list[Mapping[str, Any]]:
    if not isinstance(obj, Mapping):
        return []
    errs = obj.get("errors")
    if not isinstance(errs, list):
        return []
    return [e if isinstance(e, Mapping) else {"message": str(e)} for e in errs]


def _reason(error: Mapping[str, Any]) -> str:
    msg = str(error.get("message") or error.get("error") or "refused")
    attr = error.get("attributeCode")
    return f"{attr}: {msg}" if attr and attr not in msg else msg


def _only(data: Mapping[str, Any]) -> str | None:
    return next(iter(data)) if len(data) == 1 else None

