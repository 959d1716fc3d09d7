"""Session building, base-URL validation and mapping failures to typed errors."""
from __future__ import annotations

import json
import logging
import os
import time
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from typing import Any
from urllib.parse import quote, urljoin, urlsplit, urlunsplit

import requests
from requests.adapters import HTTPAdapter
from urllib3.response import HTTPResponse

from .errors import (
    AuthenticationError,
    BadRequestError,
    ConflictError,
    ConnectorHTTPError,
    HostUnreachableError,
    InsecureURLError,
    NotFoundError,
    PermissionDeniedError,
    RateLimitedError,
    RequestTimeoutError,
    ServiceUnavailableError,
    TLSError,
)
from .ratelimit import MAX_PAUSE, SiteLimiter
from .redact import hide_urllib3_query_strings, redact, safe_path
from .retry import IDEMPOTENT_METHODS, LoggingRetry, RetryPolicy, is_tls_connection_cut


def _shown_url(raw: str) -> str:
    """An unusable base URL as an error message may show it. A password holding '/', '?' or '#'
    hides where the authority ends, so everything up to the last '@' after the scheme goes
    (a path's own '@' too: better too little shown than a password), then the rest is redacted."""
    scheme, sep, rest = raw.partition("://")
    if not sep:
        scheme, rest = "", raw
    if "@" in rest:
        rest = "***@" + rest.rsplit("@", 1)[1]
    return redact(scheme + sep + rest)


def validate_base_url(url: str, *, allow_insecure_http: bool = False, service: str = "service") -> str:
    """Check and normalise a service base URL; return it without a trailing slash.

    Only ``https://`` is accepted, unless ``allow_insecure_http`` (an explicit opt-in for
    local testing) is set, which also allows ``http://``. User-info, query strings and
    fragments are refused: credentials belong in the connection's login/password.
    """
    if not isinstance(url, str) or not url.strip():
        raise InsecureURLError(f"The {service} base URL is empty; set the connection's host to a full https:// URL.", service=service)
    raw = url.strip()
    if "@" in raw.partition("://")[2]:
        # user-info -- or a password holding '/', '?' or '#', which would read as host, port and
        # path (https://bob:2024/pass@site: host 'bob'): never used, never repeated
        raise InsecureURLError(
            f"The {service} base URL must not contain a user name or password (an '@'); put them in the "
            "connection's login and password fields.", service=service,
        )
    try:
        parts = urlsplit(raw)
        port = parts.port  # raises ValueError on a bad port
    except ValueError:
        raise InsecureURLError(f"The {service} base URL {_shown_url(raw)!r} is not a valid URL.", service=service) from None
    scheme = parts.scheme.lower()
    if scheme not in ("https", "http") or not parts.hostname:
        raise InsecureURLError(
            f"The {service} base URL {_shown_url(raw)!r} is not a full URL; write it as https://host[/path].",
            service=service,
        )
    if parts.query or parts.fragment:
        raise InsecureURLError(f"The {service} base URL must not contain a query string or fragment.", service=service)
    if scheme == "http" and not allow_insecure_http:
        raise InsecureURLError(
            f"Refusing plain http for {service} at {parts.hostname}: credentials would travel unencrypted. "
            "Use https://, or set allow_insecure_http only for local testing against a simulator.",
            service=service,
        )
    host = parts.hostname
    if ":" in host:  # IPv6 literal
        host = f"[{host}]"
    netloc = f"{host}:{port}" if port else host
    return urlunsplit((scheme, netloc, parts.path.rstrip("/"), "", ""))


class UnsafeRedirect(requests.exceptions.InvalidURL):
    """A redirect away from the configured origin (another scheme, host or port): not followed,
    since a 307/308 would carry the request body (e.g. a login form) along."""


DEFAULT_PORTS = {"http": 80, "https": 443}
# path steps, not names: escaped or not, the HTTP client and the server resolve them
DOT_SEGMENTS = (".", "..")


def _origin(parts: Any) -> tuple[str, str | None, int | None]:
    """(scheme, host, port) of a split URL; the scheme's default port whether written or not."""
    scheme = parts.scheme.lower()
    return scheme, parts.hostname, parts.port or DEFAULT_PORTS.get(scheme)


def path_segment(value: Any, *, what: str) -> str:
    """One URL path segment, fully escaped. "." and ".." are refused (``what`` names what the
    segment should have been, e.g. "a key or id in a Jira URL"): they would name another endpoint."""
    text = quote(str(value), safe="")
    if text in DOT_SEGMENTS:
        raise ValueError(f"{text!r} cannot be sent as {what}: it would name another endpoint")
    return text


class _NamedSession(requests.Session):
    """A requests.Session whose repr never shows auth or headers."""

    service_name: str = "service"
    whole_path_mounts: frozenset[str] = frozenset()  # mounts that take their exact path only

    def get_adapter(self, url: str) -> Any:
        # requests takes any mount that is a prefix of the URL, compared in lower case: the
        # read-only mount ".../issue/bulkfetch" would also take ".../issue/BULKFETCH-7/comment"
        # and repeat that POST after a 502 (two comments). Such a mount takes its path only.
        low = url.lower()
        for prefix, adapter in self.adapters.items():
            if low.startswith(prefix.lower()) and (
                prefix not in self.whole_path_mounts or low[len(prefix):][:1] in ("", "?", "#")
            ):
                return adapter
        return super().get_adapter(url)  # no mount: requests' own error

    def get_redirect_target(self, resp):  # type: ignore[no-untyped-def]
        target = super().get_redirect_target(resp)
        if target is None:
            return None
        old, new = urlsplit(resp.url), urlsplit(urljoin(resp.url, target))
        if _origin(old) != _origin(new):
            raise UnsafeRedirect(f"{self.service_name} redirected to another origin; not followed")
        return target

    def __repr__(self) -> str:
        return f"<{type(self).__name__} for {self.service_name}>"

    def merge_environment_settings(self, url, proxies, stream, verify, cert):  # type: ignore[no-untyped-def]
        # requests lets REQUESTS_CA_BUNDLE / CURL_CA_BUNDLE override a session's own CA bundle
        # (psf/requests#3829). The connection's CA bundle (or verify=False) must win; the
        # environment still applies when the session simply trusts the system CAs.
        if verify is None and self.verify is not True:
            verify = self.verify
        return super().merge_environment_settings(url, proxies, stream, verify, cert)


# An answer's body must have arrived within this many read timeouts: requests applies the
# read timeout to each socket read, so a server (or a broken proxy) that sends a byte now and
# then could otherwise hold a request -- and the task -- for as long as it likes.
BODY_DEADLINE_READ_TIMEOUTS = 4
_BODY_CHUNK = 64 * 1024


class AnswerTooSlow(requests.exceptions.ReadTimeout):
    """The answer's body did not arrive within :data:`BODY_DEADLINE_READ_TIMEOUTS` read
    timeouts. A read timeout: a write may have taken effect (the service answered)."""

    def __init__(self, seconds: float, *args: Any, **kwargs: Any) -> None:
        self.seconds = seconds
        super().__init__(f"the answer's body did not arrive within {seconds:g} s", *args, **kwargs)


def _read_timeout(timeout: Any) -> float | None:
    """The read timeout of a requests ``timeout`` (a number, ``(connect, read)``, or None)."""
    if isinstance(timeout, tuple):
        timeout = timeout[1] if len(timeout) > 1 else None
    return float(timeout) if isinstance(timeout, (int, float)) and not isinstance(timeout, bool) else None


def _read_body(response: requests.Response, deadline: float) -> None:
    """Read the whole body now, as requests would after the adapter (``Response.content``),
    but give up once ``deadline`` seconds have passed: ``read1`` waits for one socket read at
    most (itself bounded by the read timeout), so the deadline is checked between reads."""
    from urllib3.exceptions import DecodeError, ProtocolError, ReadTimeoutError, SSLError

    chunks: list[bytes] = []
    end = time.monotonic() + deadline
    try:
        while True:
            chunk = response.raw.read1(_BODY_CHUNK, decode_content=True)
            if not chunk:
                break
            chunks.append(chunk)
            if time.monotonic() > end:
                response.close()  # the connection is dropped, not handed on with a half-read answer
                raise AnswerTooSlow(deadline, request=response.request, response=response)
    # the same exceptions requests raises when it reads the body (models.Response.iter_content)
    except ProtocolError as e:
        raise requests.exceptions.ChunkedEncodingError(e) from e
    except DecodeError as e:
        raise requests.exceptions.ContentDecodingError(e) from e
    except ReadTimeoutError as e:
        raise requests.exceptions.ConnectionError(e) from e
    except SSLError as e:
        raise requests.exceptions.SSLError(e) from e
    response._content = b"".join(chunks)
    response._content_consumed = True


class _LimitedAdapter(HTTPAdapter):
    """An adapter whose requests go through a :class:`SiteLimiter`: a slot for the whole
    request (its retries included), a send permit for its first attempt (the Retry takes
    one for each retry), and its final answer reported. Without a limiter: a plain adapter.
    Unless the caller streams, the body is read here, within :data:`BODY_DEADLINE_READ_TIMEOUTS`
    read timeouts (:class:`AnswerTooSlow` when it takes longer)."""

    def __init__(self, *args: Any, limiter: SiteLimiter | None = None, **kwargs: Any) -> None:
        self.limiter = limiter
        super().__init__(*args, **kwargs)

    def send(self, request: requests.PreparedRequest, *args: Any, **kwargs: Any) -> requests.Response:  # type: ignore[override]
        response = self._send(request, *args, **kwargs)
        read = _read_timeout(kwargs.get("timeout"))
        if not kwargs.get("stream") and read is not None and isinstance(response.raw, HTTPResponse):
            _read_body(response, read * BODY_DEADLINE_READ_TIMEOUTS)
        return response

    def _send(self, request: requests.PreparedRequest, *args: Any, **kwargs: Any) -> requests.Response:
        if self.limiter is None:
            return super().send(request, *args, **kwargs)
        with self.limiter.slot():
            self.limiter.before_send()
            response = super().send(request, *args, **kwargs)
            policy = getattr(self.max_retries, "policy", None)
            cap = policy.max_retry_after if policy is not None else MAX_PAUSE
            self.limiter.observe(response.status_code, response.headers, max_pause=cap)
            return response


def build_session(
    *,
    user_agent: str,
    verify: bool | str,
    retry: RetryPolicy,
    logger: logging.Logger | logging.LoggerAdapter | None,
    service_name: str,
    base_url: str | None = None,
    read_only_post_paths: Iterable[str] = (),
    pool_maxsize: int = 10,
    idempotent_methods: Iterable[str] = IDEMPOTENT_METHODS,
    limiter: SiteLimiter | None = None,
) -> requests.Session:
    """A ``requests.Session`` with retrying adapters mounted for http and https.

    ``verify`` is ``True`` (system CAs), ``False`` (no verification; local testing only) or
    the path of a CA bundle (PEM). ``read_only_post_paths`` (needs ``base_url``) are POST
    endpoints that only read (e.g. ``/rest/api/3/search/jql``): they get the idempotent
    retry rules. Every other POST is retried only on 429 -- see :mod:`.retry`; a caller
    that creates something must check whether it exists before repeating the request.
    ``idempotent_methods`` are the methods retried on 5xx / resets (default
    :data:`IDEMPOTENT_METHODS`); e.g. without ``PUT`` for ESM's bulk import that creates cards.
    ``limiter``: the site's :class:`SiteLimiter`; every attempt, retries included, passes it.
    ``pool_maxsize`` must be at least the number of threads sending at once.
    urllib3's own log lines lose their query strings (:class:`.redact.QueryStringFilter`).
    """
    log = logger or logging.getLogger("jira_esm_connector.http")
    hide_urllib3_query_strings()  # urllib3 logs whole URLs; a query string may hold personal data
    if isinstance(verify, str):
        if not os.path.isfile(verify):
            raise TLSError(
                f"The CA bundle {verify} for {service_name} does not exist or is not a file.",
                service=service_name,
            )
    session = _NamedSession()
    session.service_name = service_name
    session.headers["User-Agent"] = user_agent
    session.headers["Accept"] = "application/json"
    session.verify = verify

    idempotent = frozenset(m.upper() for m in idempotent_methods)
    adapter = _LimitedAdapter(
        max_retries=retry.to_retry(logger=log, service_name=service_name, idempotent_methods=idempotent, limiter=limiter),
        pool_connections=4,
        pool_maxsize=pool_maxsize,
        limiter=limiter,
    )
    session.mount("https://", adapter)
    session.mount("http://", adapter)

    paths = list(read_only_post_paths)
    if paths:
        if not base_url:
            raise ValueError("read_only_post_paths needs base_url")
        read_adapter = _LimitedAdapter(
            max_retries=retry.to_retry(
                logger=log, service_name=service_name, idempotent_methods=idempotent | {"POST"}, limiter=limiter
            ),
            pool_connections=4,
            pool_maxsize=pool_maxsize,
            limiter=limiter,
        )
        root = base_url.rstrip("/")
        mounts = frozenset(root + "/" + path.lstrip("/") for path in paths)
        for mount in mounts:
            # requests picks the adapter with the longest matching URL prefix
            session.mount(mount, read_adapter)
        session.whole_path_mounts = mounts
    return session


@contextmanager
def resends_checked(sessions: Iterable[requests.Session], check: Callable[[], None]) -> Iterator[None]:
    """While the block runs, a write that one of ``sessions`` is about to send again after a
    retry wait (429, 503 with Retry-After, a connect failure, ...) is sent only if ``check()``
    returns; what it raises stops the request and reaches the caller (logged by the retry,
    :meth:`.retry.LoggingRetry.sleep`). Reads are resent as before. It holds for the requests
    started in the block, on every thread (the retries of one session are shared); the checks
    in place before are put back at the end."""
    retries = [adapter.max_retries for session in sessions for adapter in session.adapters.values()
               if isinstance(adapter.max_retries, LoggingRetry)]
    before = [retry.before_resend for retry in retries]
    for retry in retries:
        retry.before_resend = check
    try:
        yield
    finally:
        for retry, previous in zip(reversed(retries), reversed(before)):
            retry.before_resend = previous


# -- response and exception mapping ------------------------------------------------------------

def service_messages(response: requests.Response, *, secrets: Iterable[str | None] = ()) -> list[str]:
    """The service's own error messages from a response body, verbatim (secrets redacted).

    Understands Jira's ``{"errorMessages": [...], "errors": {field: msg}}``, ESM's
    ``{"message": ..., "error": ...}`` (also as a list), and ``title``/``detail`` shapes;
    falls back to a short piece of the text body.
    """
    secrets = list(secrets)
    messages: list[str] = []
    try:
        body: Any = response.json()
    except (ValueError, json.JSONDecodeError):
        body = None

    def add(value: Any) -> None:
        if value is None:
            return
        text = value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)
        text = redact(text.strip(), secrets)
        if text and text not in messages:
            messages.append(text)

    def walk(obj: Any) -> None:
        if isinstance(obj, list):
            for item in obj:
                walk(item)
            return
        if not isinstance(obj, dict):
            add(obj)
            return
        for m in obj.get("errorMessages") or []:
            add(m)
        errors = obj.get("errors")
        if isinstance(errors, dict):
            for fld, msg in errors.items():
                add(f"{fld}: {msg}")
        elif isinstance(errors, list):
            walk(errors)
        for key in ("message", "detail", "errorMessage"):
            if obj.get(key):
                attr = obj.get("attributeCode")
                add(f"{attr}: {obj[key]}" if attr else obj[key])
        if not messages and obj.get("title"):
            add(obj["title"])

    if body is not None:
        walk(body)
    elif response.text:
        snippet = response.text.strip()
        if snippet and not snippet.lstrip().startswith("<"):  # skip HTML error pages
            # redacted before it is cut: a secret across the cut would no longer be found whole
            add(redact(snippet[:4000], secrets)[:300])
    return messages


_STATUS_ERRORS: dict[int, type[ConnectorHTTPError]] = {
    400: BadRequestError,
    401: AuthenticationError,
    403: PermissionDeniedError,
    404: NotFoundError,
    409: ConflictError,
    429: RateLimitedError,
}


NOT_REPEATED = "it may already have taken effect"


def _attempts_text(attempts: int | None) -> str:
    """" after 4 attempts (3 retries)", or nothing for a single attempt or an unknown count."""
    if not attempts or attempts < 2:
        return ""
    retries = attempts - 1
    return f" after {attempts} attempts ({retries} {'retry' if retries == 1 else 'retries'})"


def _answer_tries(response: requests.Response, method: str) -> tuple[int | None, bool]:
    """(attempts, a write not repeated after this answer) from the urllib3 retry state the
    answer carries: its history holds one entry per retry before it. A write whose answer the
    retry would not repeat (POST/PATCH on a 5xx) may have taken effect."""
    retries = getattr(getattr(response, "raw", None), "retries", None)
    history = getattr(retries, "history", None)
    if not isinstance(history, tuple):
        return None, False
    idempotent = getattr(retries, "idempotent_methods", IDEMPOTENT_METHODS)
    not_repeated = False
    if method.upper() not in idempotent:
        has_retry_after = bool(response.headers.get("Retry-After"))
        try:
            not_repeated = not retries.is_retry(method, response.status_code, has_retry_after)
        except Exception:  # noqa: BLE001 - a stranger's Retry: assume the worst, say so
            not_repeated = True
    return len(history) + 1, not_repeated


def error_for_response(
    response: requests.Response,
    *,
    service: str,
    secrets: Iterable[str | None] = (),
    auth_message: str | None = None,
) -> ConnectorHTTPError:
    """Build the typed error for a non-2xx response (does not raise it)."""
    status = response.status_code
    method = (response.request.method if response.request is not None else None) or "?"
    path = safe_path(response.url or "/")
    where = f"{method} {path}"
    msgs = service_messages(response, secrets=secrets)
    said = f": {'; '.join(msgs)}" if msgs else ""
    host = urlsplit(response.url or "").hostname or "?"

    if status == 401:
        text = auth_message or f"{service} at {host} refused the credentials (bad credentials)"
        return AuthenticationError(f"{text} [{where} -> 401]{said}", status, service, details=msgs, method=method, path=path)
    if status == 403:
        return PermissionDeniedError(
            f"{service} says the account lacks permission for {where} (403){said}", status, service,
            details=msgs, method=method, path=path,
        )
    if status == 404:
        return NotFoundError(f"{service} found nothing at {where} (404){said}", status, service, details=msgs, method=method, path=path)
    if status == 409:
        return ConflictError(f"{service} reports a conflict for {where} (409){said}", status, service, details=msgs, method=method, path=path)
    attempts, not_repeated = _answer_tries(response, method)
    if status == 429:
        tried = f" ({attempts} attempt{'' if attempts == 1 else 's'})" if attempts else ""
        return RateLimitedError(
            f"{service} is still rate limiting {where} (429 Too Many Requests) after every retry{tried}{said}", status, service,
            details=msgs, method=method, path=path,
        )
    if status >= 500:
        tried = _attempts_text(attempts)
        if not_repeated:
            # a write the service may have carried out before failing: the caller must check
            # before sending it again (what the reset branch of error_for_exception says too)
            if tried:
                tried = f"{tried[:-1]}; not repeated after this answer: {NOT_REPEATED})"
            else:
                tried = f" (sent once and not repeated automatically: {NOT_REPEATED})"
        return ServiceUnavailableError(
            f"{service} at {host} failed with {status} for {where}{tried}{said}", status, service,
            details=msgs, method=method, path=path,
        )
    cls = _STATUS_ERRORS.get(status, BadRequestError)
    return cls(f"{service} refused {where} ({status}){said}", status, service, details=msgs, method=method, path=path)


def _chain(exc: BaseException) -> list[BaseException]:
    """The exception, its args that are exceptions (urllib3 nests them), causes and contexts."""
    seen: list[BaseException] = []
    stack = [exc]
    while stack:
        e = stack.pop()
        if e is None or any(e is s for s in seen):
            continue
        seen.append(e)
        reason = getattr(e, "reason", None)
        if isinstance(reason, BaseException):
            stack.append(reason)
        for arg in getattr(e, "args", ()):
            if isinstance(arg, BaseException):
                stack.append(arg)
        if e.__cause__ is not None:
            stack.append(e.__cause__)
        if e.__context__ is not None:
            stack.append(e.__context__)
    return seen


def _transport_tries(
    chain: list[BaseException], method: str, idempotent: Iterable[str] | None = None,
) -> tuple[str, str]:
    """(" after N attempts (...)", " It was not repeated ...") for a transport failure. A
    MaxRetryError means urllib3 gave up after retrying (LoggingRetry notes the count); without
    one, a read failure was not retried at all: a write (POST/PATCH, and a PUT the session does
    not repeat -- ``idempotent``, the session's own methods) is then never repeated."""
    from urllib3.exceptions import MaxRetryError

    gave_up = [e for e in chain if isinstance(e, MaxRetryError)]
    tried = _attempts_text(getattr(gave_up[0], "attempts", None) if gave_up else None)
    if gave_up or method.upper() in (IDEMPOTENT_METHODS if idempotent is None else frozenset(idempotent)):
        return tried, ""
    return tried, f" It was not repeated automatically because {NOT_REPEATED}."


def error_for_exception(
    exc: requests.RequestException, *, service: str, url: str, method: str = "GET",
    idempotent: Iterable[str] | None = None,
) -> ConnectorHTTPError:
    """Map a requests transport exception to a typed error naming the host (never credentials).
    ``idempotent``: the methods the session repeats (default :data:`IDEMPOTENT_METHODS`)."""
    from urllib3.exceptions import (
        ConnectTimeoutError,
        NameResolutionError,
        NewConnectionError,
        ProtocolError,
        ReadTimeoutError,
    )

    parts = urlsplit(url)
    host = parts.hostname or "?"
    if parts.port:
        host = f"{host}:{parts.port}"
    where = f"{method.upper()} {parts.path or '/'}"
    if isinstance(exc, UnsafeRedirect):
        return InsecureURLError(
            f"{service} at {host} redirected {where} to another scheme, host or port; the redirect was not "
            "followed (credentials could leave the configured https origin). Check the connection's host.",
            service=service, method=method, path=parts.path,
        )
    chain = _chain(exc)
    cut = any(is_tls_connection_cut(e) for e in chain)  # a dropped connection, not a TLS problem
    tried, not_repeated = _transport_tries(chain, method, idempotent)

    if isinstance(exc, requests.exceptions.SSLError) and not cut:
        detail = "the certificate is not trusted"
        text = " ".join(str(e) for e in chain).lower()
        if "hostname mismatch" in text or "doesn't match" in text or "not valid for" in text:
            detail = "the certificate does not match the host name"
        elif "expired" in text:
            detail = "the certificate has expired"
        elif "wrong version number" in text or "unsupported protocol" in text or "record layer failure" in text:
            detail = "the server does not speak TLS on that port (http instead of https?)"
        elif "certificate verify failed" not in text and "self-signed" not in text and "self signed" not in text:
            detail = "the TLS handshake failed"
        return TLSError(
            f"TLS failure talking to {service} at {host}: {detail}. "
            "Check the host, or set the connection's CA bundle to the certificate authority that signed it.",
            service=service, method=method, path=parts.path,
        )
    if isinstance(exc, requests.exceptions.ConnectTimeout) or any(
        isinstance(e, ConnectTimeoutError) and not isinstance(e, NewConnectionError) for e in chain
    ):
        return RequestTimeoutError(
            f"Timed out connecting to {service} at {host} for {where} (timeout). Check the host and the network.",
            service=service, method=method, path=parts.path,
        )
    if isinstance(exc, AnswerTooSlow):
        return RequestTimeoutError(
            f"{service} at {host} was still sending its answer to {where} after {exc.seconds:g} s "
            f"({BODY_DEADLINE_READ_TIMEOUTS} x the read timeout); gave up (timeout).{not_repeated}",
            service=service, method=method, path=parts.path,
        )
    if isinstance(exc, requests.exceptions.ReadTimeout) or any(isinstance(e, ReadTimeoutError) for e in chain):
        return RequestTimeoutError(
            f"{service} at {host} did not answer {where} within the read timeout (timeout){tried}.{not_repeated}",
            service=service, method=method, path=parts.path,
        )
    if any(isinstance(e, NameResolutionError) for e in chain) or any(
        "name or service not known" in str(e).lower() or "nodename nor servname" in str(e).lower()
        or "temporary failure in name resolution" in str(e).lower()
        for e in chain
    ):
        return HostUnreachableError(
            f"Wrong host: the {service} host name {parts.hostname} could not be resolved (DNS).",
            service=service, method=method, path=parts.path,
        )
    if any(isinstance(e, ConnectionRefusedError) for e in chain) or any(
        isinstance(e, NewConnectionError) and "refused" in str(e).lower() for e in chain
    ):
        return HostUnreachableError(
            f"Wrong host or service down: {host} refused the connection to {service}.",
            service=service, method=method, path=parts.path,
        )
    if any(isinstance(e, NewConnectionError) for e in chain):
        return HostUnreachableError(
            f"Could not connect to {service} at {host} (wrong host or network problem).",
            service=service, method=method, path=parts.path,
        )
    if cut or any(isinstance(e, (ProtocolError, ConnectionResetError)) for e in chain):
        how = "the connection was cut in the middle of TLS" if cut else "connection reset"
        return ServiceUnavailableError(
            f"{service} at {host} dropped the connection during {where} ({how}){tried}.{not_repeated}",
            service=service, method=method, path=parts.path,
        )
    if isinstance(exc, requests.exceptions.RetryError):
        return ServiceUnavailableError(
            f"{service} at {host} kept failing {where}{tried or ' after every retry'}.",
            service=service, method=method, path=parts.path,
        )
    return ConnectorHTTPError(
        f"Request {where} to {service} at {host} failed: {type(exc).__name__}.",
        service=service, method=method, path=parts.path,
    )
