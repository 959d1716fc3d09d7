"""Retry policy and a urllib3 ``Retry`` that logs every retry in plain words.

Rules (SPEC §6, Atlassian's rate-limit guidance):

* Idempotent methods (GET, HEAD, OPTIONS, PUT, DELETE) are retried on 429 and 503, and on
  500/502/504, on connect failures and on read failures (timeout, connection reset).
* Non-idempotent methods (POST, PATCH) are retried **only on 429** -- the service refused
  the request before processing it -- and on connect failures (the request never left
  this machine). Never on 5xx, read timeouts or connection resets: the request may have
  taken effect. Callers that create things (event operations) must check whether the
  object exists before repeating such a request themselves.
  Read-only POST endpoints (e.g. Jira's ``POST /rest/api/3/search/jql``) can be declared
  idempotent per path through :func:`jira_esm_connector.http.build_session`.
  A caller that knows its service answers a status *with* ``Retry-After`` only when it
  refused the request before processing it (ESM's 503 "come back later") lists that status
  in ``RetryPolicy.refusals_with_retry_after``: then, and only with the header, it is
  retried for non-idempotent methods too. Without the header it is not (the service may
  have failed half-way).
* ``Retry-After`` is honoured (seconds or HTTP date), capped at ``max_retry_after``;
  a 429 without it waits until Jira's ``X-RateLimit-Reset``; otherwise the wait is capped
  exponential backoff with jitter (Atlassian's guidance: a random factor of 0.7-1.3).
* DNS failures and TLS failures are never retried: they will not fix themselves. A TLS
  session cut in the middle (:func:`is_tls_connection_cut`) is no TLS failure but a dropped
  connection, retried -- or not -- as a connection reset.
* With a :class:`~.ratelimit.SiteLimiter`, each retried answer is reported to it and each
  retry waits for a send permit after its own sleep: retries count against the site's rate.
* A write (any method but GET, HEAD, OPTIONS) is sent again after its wait only if the
  retry's ``before_resend`` check -- none by default -- lets it: a writer that holds a lock
  (the ESM template's write lock, see :func:`.session.resends_checked`) installs the lock's
  check, so a wait of minutes that outlived the lock stops the write instead of resending it
  next to the lock's new holder. What the check raises goes to the caller, logged.
"""
from __future__ import annotations

import logging
import random
import ssl
import time
from dataclasses import dataclass, field, replace
from datetime import datetime, timezone
from http import HTTPStatus
from typing import Any, Callable

from urllib3.exceptions import (
    ConnectTimeoutError,
    MaxRetryError,
    NameResolutionError,
    NewConnectionError,
    ProtocolError,
    ReadTimeoutError,
    SSLError,
)
from urllib3.util.retry import Retry

from .ratelimit import SiteLimiter, retry_after_seconds
from .redact import safe_path

IDEMPOTENT_METHODS: frozenset[str] = frozenset({"GET", "HEAD", "OPTIONS", "PUT", "DELETE", "TRACE"})
# requests that only read: sent again without asking the ``before_resend`` check
READ_METHODS: frozenset[str] = frozenset({"GET", "HEAD", "OPTIONS"})

# What Python raises when a connection is closed in the middle of a TLS session: on a
# handshake or a write (a read turns it into an empty answer instead). Seen when a server, a
# load balancer or a proxy cuts a connection while a request body is still going out.
_TLS_CONNECTION_CUT: tuple[type[BaseException], ...] = (ssl.SSLEOFError, ssl.SSLZeroReturnError)


def is_tls_connection_cut(error: BaseException | None) -> bool:
    """Is this urllib3 ``SSLError`` a connection cut inside TLS (:data:`_TLS_CONNECTION_CUT`),
    not a certificate or protocol problem? urllib3 wraps the ``ssl`` error as its argument."""
    return isinstance(error, SSLError) and any(
        isinstance(e, _TLS_CONNECTION_CUT) for e in (*error.args, error.__cause__, error.__context__)
    )


@dataclass(frozen=True)
class RetryPolicy:
    """How hard to try before giving up. All durations in seconds.

    ``total``: retries (not attempts) per request across all causes.
    ``backoff_base`` / ``backoff_cap``: wait ``base * 2**(n-1)`` before retry n, at most ``cap``.
    ``jitter``: the backoff is multiplied by a random factor in ``[1 - jitter, 1 + jitter]``.
    ``statuses``: retried for idempotent methods; of these only 429 is retried for POST/PATCH.
    ``idempotent_statuses``: additionally retried for idempotent methods only.
    ``refusals_with_retry_after``: retried for non-idempotent methods too, but only when the
    answer carries ``Retry-After`` (a refusal before processing; empty by default).
    ``respect_retry_after`` / ``max_retry_after``: honour the server's ``Retry-After``, capped.
    ``connect_retries``: retries after failing to connect (request never sent).
    ``read_retries``: retries after a read timeout / reset (idempotent methods only).
    """

    total: int = 6
    backoff_base: float = 1.0
    backoff_cap: float = 30.0
    jitter: float = 0.3
    statuses: frozenset[int] = field(default_factory=lambda: frozenset({429, 503}))
    idempotent_statuses: frozenset[int] = field(default_factory=lambda: frozenset({500, 502, 504}))
    refusals_with_retry_after: frozenset[int] = frozenset()
    respect_retry_after: bool = True
    max_retry_after: float = 120.0
    connect_retries: int = 3
    read_retries: int = 2

    def __post_init__(self) -> None:
        if self.total < 0 or self.connect_retries < 0 or self.read_retries < 0:
            raise ValueError("retry counts must be zero or more")
        if self.backoff_base < 0 or self.backoff_cap < 0 or self.max_retry_after < 0:
            raise ValueError("retry wait times must be zero or more")
        if not 0 <= self.jitter <= 1:
            raise ValueError("retry jitter must be between 0 and 1")
        # accept any iterable of ints for convenience
        object.__setattr__(self, "statuses", frozenset(int(s) for s in self.statuses))
        object.__setattr__(self, "idempotent_statuses", frozenset(int(s) for s in self.idempotent_statuses))
        object.__setattr__(self, "refusals_with_retry_after", frozenset(int(s) for s in self.refusals_with_retry_after))

    def with_(self, **changes: Any) -> RetryPolicy:
        """A copy with some fields changed."""
        return replace(self, **changes)

    def backoff(self, retry_number: int) -> float:
        """Wait before retry ``retry_number`` (1-based) when the server gives no Retry-After."""
        raw = self.backoff_base * (2 ** max(retry_number - 1, 0))
        capped = min(self.backoff_cap, raw)
        if self.jitter:
            capped *= random.uniform(1 - self.jitter, 1 + self.jitter)
        return max(0.0, min(self.backoff_cap, capped))

    def to_retry(
        self,
        *,
        logger: logging.Logger | logging.LoggerAdapter | None = None,
        service_name: str = "the service",
        idempotent_methods: frozenset[str] = IDEMPOTENT_METHODS,
        limiter: SiteLimiter | None = None,
    ) -> LoggingRetry:
        return LoggingRetry.from_policy(
            self, logger=logger, service_name=service_name, idempotent_methods=idempotent_methods, limiter=limiter
        )


def _phrase(status: int) -> str:
    try:
        return HTTPStatus(status).phrase
    except ValueError:
        return ""


def describe_transport_error(error: BaseException | None) -> str:
    """Plain words for a low-level failure (no URLs, no headers)."""
    if error is None:
        return "no response"
    if isinstance(error, NameResolutionError):
        return "the host name could not be resolved (DNS)"
    if isinstance(error, NewConnectionError):
        text = str(error).lower()
        if "refused" in text:
            return "the connection was refused"
        return "no connection could be made"
    if isinstance(error, ConnectTimeoutError):
        return "connecting timed out"
    if isinstance(error, ReadTimeoutError):
        return "no answer within the read timeout"
    if isinstance(error, SSLError):
        return "the TLS handshake failed"
    if isinstance(error, ProtocolError):
        text = str(error).lower()
        if "reset" in text:
            return "the connection was reset"
        return "the connection closed without an answer"
    return type(error).__name__


class LoggingRetry(Retry):
    """``urllib3.Retry`` following :class:`RetryPolicy`, logging each retry and its reason.

    Example log line::

        Jira answered 429 Too Many Requests for GET /rest/api/3/search/jql; waiting 3.0 s as
        Retry-After asks (retry 2 of 6)

    Only the method and URL path are logged -- never query strings or headers (urllib3's own
    lines lose theirs too: :class:`.redact.QueryStringFilter`, added by the session).

    ``before_resend``: called after a write's retry wait, before it is sent again (see the
    module docs); raising stops the request. None: resent as urllib3 would.
    """

    def __init__(
        self,
        *args: Any,
        policy: RetryPolicy | None = None,
        logger: logging.Logger | logging.LoggerAdapter | None = None,
        service_name: str = "the service",
        idempotent_methods: frozenset[str] = IDEMPOTENT_METHODS,
        limiter: SiteLimiter | None = None,
        before_resend: Callable[[], None] | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(*args, **kwargs)
        self.policy = policy or RetryPolicy()
        self.logger = logger or logging.getLogger("jira_esm_connector.http")
        self.service_name = service_name
        self.idempotent_methods = frozenset(m.upper() for m in idempotent_methods)
        self.limiter = limiter
        self.before_resend = before_resend

    @classmethod
    def from_policy(
        cls,
        policy: RetryPolicy,
        *,
        logger: logging.Logger | logging.LoggerAdapter | None = None,
        service_name: str = "the service",
        idempotent_methods: frozenset[str] = IDEMPOTENT_METHODS,
        limiter: SiteLimiter | None = None,
    ) -> LoggingRetry:
        return cls(
            total=policy.total,
            connect=policy.connect_retries,
            read=policy.read_retries,
            redirect=0,
            status=None,
            other=0,  # TLS and other unexpected failures are not retried
            allowed_methods=frozenset(m.upper() for m in idempotent_methods),
            status_forcelist=policy.statuses | policy.idempotent_statuses | policy.refusals_with_retry_after,
            backoff_factor=policy.backoff_base,
            backoff_max=policy.backoff_cap,
            raise_on_redirect=False,
            raise_on_status=False,  # hand the last 429/5xx back so the client maps it to a typed error
            respect_retry_after_header=policy.respect_retry_after,
            retry_after_max=int(policy.max_retry_after),
            policy=policy,
            logger=logger,
            service_name=service_name,
            idempotent_methods=idempotent_methods,
            limiter=limiter,
        )

    # urllib3 rebuilds the object on every increment through new(): carry our extras along.
    def new(self, **kw: Any) -> LoggingRetry:
        fresh = super().new(**kw)
        fresh.policy = self.policy
        fresh.logger = self.logger
        fresh.service_name = self.service_name
        fresh.idempotent_methods = self.idempotent_methods
        fresh.limiter = self.limiter
        fresh.before_resend = self.before_resend
        return fresh

    # -- decisions -------------------------------------------------------------------------
    def _is_method_retryable(self, method: str) -> bool:
        return method.upper() in self.idempotent_methods

    def is_retry(self, method: str, status_code: int, has_retry_after: bool = False) -> bool:
        idempotent = self._is_method_retryable(method)
        if status_code == 429 and 429 in self.policy.statuses:
            return True  # the request was not processed: safe for every method
        if status_code in self.policy.refusals_with_retry_after and has_retry_after:
            return True  # the caller's service refuses before processing when it says when to come back
        if not idempotent:
            return False
        return status_code in self.policy.statuses or status_code in self.policy.idempotent_statuses

    def increment(
        self,
        method: str | None = None,
        url: str | None = None,
        response: Any = None,
        error: Exception | None = None,
        _pool: Any = None,
        _stacktrace: Any = None,
    ) -> LoggingRetry:
        if is_tls_connection_cut(error):
            # a dropped connection, not a TLS problem: retried -- or not, when the request may
            # have taken effect -- exactly as a connection reset
            error = ProtocolError("Connection aborted.", error)
        # Failures that will not fix themselves are not retried.
        if error is not None and isinstance(error, (NameResolutionError, SSLError)):
            raise MaxRetryError(_pool, url or "", error) from error
        try:
            fresh = super().increment(method, url, response, error, _pool, _stacktrace)
        except MaxRetryError as exc:
            what = self._what(method, url, response, error)
            done = len(self.history)
            exc.attempts = done + 1  # type: ignore[attr-defined]  # for the caller's error message
            self.logger.warning(
                "%s; giving up after %d %s.", what, done, "retry" if done == 1 else "retries"
            )
            raise  # the answer goes back to the adapter, which reports it to the limiter
        if self.limiter is not None and response is not None and getattr(response, "status", None):
            # an answer that is retried: the others pause no longer than this request waits
            self.limiter.observe(response.status, response.headers, max_pause=self.policy.max_retry_after)
        return fresh

    # -- waiting ---------------------------------------------------------------------------
    def _rate_limit_reset_seconds(self, response: Any) -> float | None:
        """Jira's ``X-RateLimit-Reset`` (ISO 8601 timestamp) on a 429 without Retry-After."""
        value = response.headers.get("X-RateLimit-Reset")
        if not value or response.status != 429:
            return None
        try:
            reset = datetime.fromisoformat(value.strip().replace("Z", "+00:00"))
        except ValueError:
            return None
        if reset.tzinfo is None:
            reset = reset.replace(tzinfo=timezone.utc)
        return max(0.0, (reset - datetime.now(timezone.utc)).total_seconds())

    def _retry_after_seconds(self, response: Any) -> float | None:
        if response is None or not self.respect_retry_after_header:
            return None
        if response.status not in self.RETRY_AFTER_STATUS_CODES:
            return None
        return retry_after_seconds(response.headers.get("Retry-After"))  # unreadable: None, backoff

    def _consecutive_failures(self) -> int:
        n = 0
        for entry in reversed(self.history):
            if entry.redirect_location is not None:
                break
            n += 1
        return n

    def get_backoff_time(self) -> float:
        n = self._consecutive_failures()
        if n <= 0:
            return 0.0
        return self.policy.backoff(n)

    def _what(self, method: str | None, url: str | None, response: Any, error: BaseException | None) -> str:
        target = f"{(method or '?').upper()} {safe_path(url or '/')}"
        if response is not None and getattr(response, "status", None):
            status = response.status
            return f"{self.service_name} answered {status} {_phrase(status)}".rstrip() + f" for {target}"
        return f"{self.service_name} request {target} failed: {describe_transport_error(error)}"

    def sleep(self, response: Any = None) -> None:
        last = self.history[-1] if self.history else None
        method = last.method if last else None
        url = last.url if last else None
        error = last.error if last else None
        what = self._what(method, url, response, error)
        number = len(self.history)
        of = f"(retry {number} of {self.policy.total})"

        retry_after = self._retry_after_seconds(response)
        reset_wait = None if retry_after is not None or response is None else self._rate_limit_reset_seconds(response)
        if reset_wait is not None:
            wait = min(reset_wait, self.policy.max_retry_after)
            how = f"waiting {wait:.1f} s until X-RateLimit-Reset"
        elif retry_after is not None:
            if retry_after > self.policy.max_retry_after:
                wait = self.policy.max_retry_after
                how = (
                    f"Retry-After asks for {retry_after:.1f} s; waiting the configured maximum "
                    f"{wait:.1f} s"
                )
            else:
                wait = retry_after
                how = f"waiting {wait:.1f} s as Retry-After asks"
        else:
            wait = self.get_backoff_time()
            how = f"waiting {wait:.1f} s (exponential backoff)"
        self.logger.warning("%s; %s %s", what, how, of)
        if wait > 0:
            time.sleep(wait)
        self._check_before_resend(method, what, of)
        if self.limiter is not None:
            self.limiter.before_send()  # the retry goes on the wire: it counts against the rate

    def _check_before_resend(self, method: str | None, what: str, of: str) -> None:
        """After the wait, before a write goes out again: ``before_resend`` may stop it."""
        if self.before_resend is None or (method or "").upper() in READ_METHODS:
            return
        try:
            self.before_resend()
        except Exception as exc:
            self.logger.error("%s; not sent again after the wait %s: %s", what, of, exc)
            raise
