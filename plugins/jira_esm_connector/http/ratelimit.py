"""One request-rate limiter per Jira site and process: a hard cap plus adaptive concurrency.

Atlassian's burst limits are per site (tenant) and shared by every token, so every
``JiraClient`` of a process that talks to one site shares one :class:`SiteLimiter`
(:func:`site_limiter`, keyed by scheme, host and port). It has two parts:

* **A hard cap**: never more than ``rate`` requests in ANY sliding one-second window,
  counting every attempt that goes on the wire, retries included. It is a sliding-window
  log (the send times of the last second), not a token bucket: a full bucket lets twice
  the rate through across a window boundary. The window is a little longer than a
  second (``window_guard``, 0.1 s) because the site counts arrivals, and the network and
  a busy server can bunch requests sent exactly one second apart (the latency benchmark
  saw 51 arrivals in one second at a cap of 50 with a 0.05 s guard on a loaded machine).
* **Adaptive concurrency (AIMD)**: at most ``limit`` requests in flight. A 429, a
  ``RateLimit-Reason`` header or a 503 with ``Retry-After`` halves it and pauses every
  sender until ``Retry-After`` (else ``X-RateLimit-Reset``, else one second) has passed --
  urllib3 already sleeps for the request that is retried; the others must wait too.
  ``X-RateLimit-NearLimit: true``, or ``X-RateLimit-Remaining`` under 20 % of
  ``X-RateLimit-Limit`` (Atlassian's "near limit" threshold), lowers it by one. After
  ``limit`` answers in a row without either, it grows by one, up to the configured
  concurrency. Answers to requests sent before the last decrease do not decrease it again:
  they tell nothing new, and a burst of eight 429s must not drop eight to one.

Every change is logged once, in plain words, never per request.

Where it sits (see :func:`.session.build_session`): the session's adapter takes a slot and
a send permit for a request's first attempt and reports its final answer; the
:class:`~.retry.LoggingRetry` reports each answer that is retried and takes a new send
permit after its backoff sleep, so retries inside urllib3 are counted too.
"""
from __future__ import annotations

import email.utils
import logging
import math
import threading
import time
from collections import deque
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from datetime import datetime, timezone
from typing import Any
from urllib.parse import urlsplit

__all__ = ["SiteLimiter", "retry_after_seconds", "site_limiter", "site_limiters", "site_key"]

NEAR_LIMIT_FRACTION = 0.2  # Atlassian: X-RateLimit-NearLimit means "less than 20 % of a budget remains"
DEFAULT_PAUSE = 1.0  # a 429 without Retry-After or X-RateLimit-Reset: one window
MAX_PAUSE = 120.0  # like RetryPolicy.max_retry_after: a broken header must not stall a run for hours


def _header(headers: Mapping[str, str] | None, name: str) -> str | None:
    if not headers:
        return None
    value = headers.get(name)
    return value.strip() if isinstance(value, str) else None


def retry_after_seconds(value: str | None) -> float | None:
    """Seconds from a ``Retry-After`` value: delta-seconds or an HTTP-date (RFC 9110, e.g.
    ``Wed, 21 Oct 2026 07:28:00 GMT``); None when there is none or it cannot be read."""
    value = (value or "").strip()
    if not value:
        return None
    try:
        seconds = float(value)
    except ValueError:
        parsed = email.utils.parsedate_tz(value)
        if parsed is None:
            return None
        seconds = email.utils.mktime_tz(parsed) - time.time()
    return max(0.0, seconds)


def _retry_after(headers: Mapping[str, str] | None) -> float | None:
    """Seconds to wait from ``Retry-After`` (seconds or an HTTP-date) or ``X-RateLimit-Reset`` (ISO 8601)."""
    seconds = retry_after_seconds(_header(headers, "Retry-After"))
    if seconds is not None:
        return seconds
    reset = _header(headers, "X-RateLimit-Reset")
    if reset:
        try:
            moment = datetime.fromisoformat(reset.replace("Z", "+00:00"))
        except ValueError:
            return None
        if moment.tzinfo is None:
            moment = moment.replace(tzinfo=timezone.utc)
        return max(0.0, (moment - datetime.now(timezone.utc)).total_seconds())
    return None


def _near_limit(headers: Mapping[str, str] | None) -> bool:
    if (_header(headers, "X-RateLimit-NearLimit") or "").lower() == "true":
        return True
    try:
        remaining = float(_header(headers, "X-RateLimit-Remaining") or "")
        limit = float(_header(headers, "X-RateLimit-Limit") or "")
    except ValueError:
        return False
    return limit > 0 and remaining < NEAR_LIMIT_FRACTION * limit


class SiteLimiter:
    """The shared limiter of one site; thread-safe. ``clock`` / ``sleep`` are injectable
    (tests drive them by hand: nothing sleeps for real)."""

    def __init__(
        self,
        site: str,
        *,
        rate: float,
        concurrency: int,
        window_guard: float = 0.1,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
        logger: logging.Logger | logging.LoggerAdapter | None = None,
        service: str = "Jira",
    ) -> None:
        self.site = site
        self.service = service
        self.log = logger or logging.getLogger("jira_esm_connector.http")
        self._clock = clock
        self._sleep = sleep
        self._guard = max(0.0, float(window_guard))
        self._cond = threading.Condition()
        self._sent: deque[float] = deque()  # send times inside the current window
        self._local = threading.local()  # per thread: when its last attempt was sent
        self._in_flight = 0
        self._paused_until = -math.inf
        self._last_decrease = -math.inf
        self._successes = 0
        self.sent_total = 0
        self.peak_per_second = 0  # most sends in any closed 1-second span of the send log (a measurement)
        self._configure(rate, concurrency)
        self.limit = self.max_concurrency

    def __repr__(self) -> str:
        return f"SiteLimiter({self.site!r}, rate={self.rate:g}/s, limit={self.limit}/{self.max_concurrency})"

    # -- configuration -------------------------------------------------------------------------
    def _configure(self, rate: float, concurrency: int) -> None:
        if rate <= 0 or concurrency < 1:
            raise ValueError("the request rate must be above zero and the concurrency at least 1")
        self.rate = float(rate)
        self.max_concurrency = int(concurrency)
        # at most `capacity` sends per `window` seconds: `rate` per second, never more
        self.capacity = max(1, int(self.rate))
        self.window = (1.0 if self.rate >= 1 else 1.0 / self.rate) + self._guard

    def configure(self, rate: float, concurrency: int) -> None:
        """New settings (a client made with other values for the same site)."""
        with self._cond:
            if (float(rate), int(concurrency)) == (self.rate, self.max_concurrency):
                return
            self._configure(rate, concurrency)
            self.limit = self.max_concurrency
            self._cond.notify_all()
        self.log.info(
            "%s at %s: now at most %g requests per second and %d in flight.", self.service, self.site, self.rate, self.limit
        )

    # -- the hard cap --------------------------------------------------------------------------
    def _send_wait(self, now: float) -> float:
        """Seconds until one more send is allowed (0: allowed now). Caller holds the lock."""
        while self._sent and self._sent[0] + self.window < now:
            self._sent.popleft()  # a send exactly one window ago still counts: closed windows hold too
        wait = self._paused_until - now
        if len(self._sent) >= self.capacity:
            wait = max(wait, self._sent[0] + self.window - now, 1e-6)
        return max(0.0, wait)

    def before_send(self) -> float:
        """Block until the cap and any pause allow one more request on the wire; record it.
        Called for every attempt (first ones by the adapter, retries by the Retry)."""
        while True:
            with self._cond:
                now = self._clock()
                wait = self._send_wait(now)
                if wait <= 0:
                    self._sent.append(now)
                    self.sent_total += 1
                    self._note_peak(now)
                    self._local.sent_at = now
                    return now
            self._sleep(min(wait, 1.0))  # re-check: a pause may start or end meanwhile

    def _note_peak(self, now: float) -> None:
        """Count the sends of the closed second ending now (caller holds the lock)."""
        recent = 0
        for sent in reversed(self._sent):
            if sent < now - 1.0:
                break
            recent += 1
        self.peak_per_second = max(self.peak_per_second, recent)

    def reset_peak(self) -> None:
        with self._cond:
            self.peak_per_second = 0

    # -- concurrency ---------------------------------------------------------------------------
    def try_acquire(self) -> bool:
        """Take a slot for one request in flight if the current limit allows it."""
        with self._cond:
            if self._in_flight >= self.limit:
                return False
            self._in_flight += 1
            return True

    def acquire(self) -> None:
        with self._cond:
            while self._in_flight >= self.limit:
                self._cond.wait(timeout=1.0)
            self._in_flight += 1

    def release(self) -> None:
        with self._cond:
            self._in_flight = max(0, self._in_flight - 1)
            self._cond.notify()

    @contextmanager
    def slot(self) -> Iterator[None]:
        self.acquire()
        try:
            yield
        finally:
            self.release()

    @property
    def in_flight(self) -> int:
        return self._in_flight

    @property
    def paused_until(self) -> float:
        return self._paused_until

    # -- feedback ------------------------------------------------------------------------------
    def observe(self, status: int, headers: Mapping[str, str] | None, *, max_pause: float = MAX_PAUSE) -> None:
        """Adapt to one answer (the status and headers of any attempt, retried or final).
        ``max_pause``: the caller's own cap on Retry-After (its retry policy's): the others
        never wait longer than the request that is retried."""
        reason = _header(headers, "RateLimit-Reason")
        wait = _retry_after(headers)
        congested = status == 429 or bool(reason) or (status == 503 and wait is not None)
        with self._cond:
            now = self._clock()
            sent_at = getattr(self._local, "sent_at", now)
            if congested:
                message = self._congested(now, sent_at, status, reason, wait, min(MAX_PAUSE, max_pause))
            elif status < 500 and _near_limit(headers):
                message = self._decrease(sent_at, max(1, self.limit - 1), "near its limit")
            elif status < 500:
                message = self._succeeded()
            else:
                message = None
        if message:
            self.log.log(logging.WARNING if congested else logging.INFO, message)

    def _congested(
        self, now: float, sent_at: float, status: int, reason: str | None, wait: float | None, max_pause: float
    ) -> str | None:
        pause = min(max_pause, DEFAULT_PAUSE if wait is None else wait)
        was_paused = self._paused_until > now
        self._paused_until = max(self._paused_until, now + pause)
        why = f"answered {status}" + (f" ({reason})" if reason else "")
        message = self._decrease(sent_at, max(1, self.limit // 2), why)
        if message or not was_paused:
            message = (message or f"{self.service} at {self.site} {why}.") + (
                f" Every request waits {pause:.1f} s" + (" as Retry-After asks." if wait is not None else ".")
            )
        return message

    def _decrease(self, sent_at: float, new_limit: int, why: str) -> str | None:
        self._successes = 0
        if sent_at < self._last_decrease or new_limit >= self.limit:
            return None  # sent before the last decrease: nothing new; or already at 1
        old, self.limit = self.limit, new_limit
        self._last_decrease = self._clock()
        return f"{self.service} at {self.site} {why}: now at most {new_limit} requests in flight (was {old})."

    def _succeeded(self) -> str | None:
        if self.limit >= self.max_concurrency:
            return None
        self._successes += 1
        if self._successes < self.limit:
            return None
        self._successes = 0
        self.limit += 1
        self._cond.notify_all()
        return (
            f"{self.service} at {self.site} answered {self.limit - 1} requests in a row without limiting: "
            f"now at most {self.limit} requests in flight (up to {self.max_concurrency})."
        )


def site_key(base_url: str) -> str:
    """``scheme://host:port`` of a URL (the default port made explicit)."""
    parts = urlsplit(base_url)
    scheme = (parts.scheme or "https").lower()
    port = parts.port or (443 if scheme == "https" else 80)
    return f"{scheme}://{(parts.hostname or '').lower()}:{port}"


_REGISTRY: dict[str, SiteLimiter] = {}
_REGISTRY_LOCK = threading.Lock()


def site_limiters() -> list[SiteLimiter]:
    """Every site limiter this process made (benchmarks read their send logs' peaks)."""
    with _REGISTRY_LOCK:
        return list(_REGISTRY.values())


def site_limiter(
    base_url: str, *, rate: float, concurrency: int, logger: Any = None, service: str = "Jira"
) -> SiteLimiter:
    """The process's limiter for the site of ``base_url`` (made on first use; later callers
    with other settings reconfigure it: in one process they all come from the same settings)."""
    key = site_key(base_url)
    with _REGISTRY_LOCK:
        limiter = _REGISTRY.get(key)
        if limiter is None:
            limiter = _REGISTRY[key] = SiteLimiter(
                urlsplit(key).netloc, rate=rate, concurrency=concurrency, logger=logger, service=service
            )
            return limiter
    limiter.configure(rate, concurrency)
    return limiter
