"""Operational knobs: latency, rate limit, injected faults, request statistics."""
from __future__ import annotations

import datetime as _dt
import math
import threading
import time
from array import array
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any


@dataclass
class Fault:
    """One injected fault, used for the next ``count`` matching requests."""

    # "status": answer with that status instead of handling the request; "reset": drop the
    # connection instead; "slow": wait delay_ms, then handle it; "drop_after": handle the
    # request (it takes effect), then drop the connection instead of answering -- the
    # ambiguous failure a client must not blindly repeat; "empty": handle it, then answer
    # with its items left out (total / isLast as they were).
    type: str  # "status" | "reset" | "slow" | "drop_after" | "empty"
    count: int = 1
    status: int = 503
    retry_after: float | None = None
    delay_ms: int = 0
    path: str | None = None  # path prefix the fault applies to (default: every /rest/ call)
    method: str | None = None
    after: int = 0  # matching requests to let through untouched first

    def matches(self, method: str, path: str) -> bool:
        if self.method and self.method.upper() != method.upper():
            return False
        return path.startswith(self.path) if self.path else path.startswith("/rest/")

    def as_dict(self) -> dict[str, Any]:
        return {
            "type": self.type, "count": self.count, "status": self.status,
            "retry_after": self.retry_after, "delay_ms": self.delay_ms, "path": self.path,
            "method": self.method, "after": self.after,
        }


@dataclass
class RateDecision:
    allowed: bool
    limit: int
    remaining: int
    reset_epoch: float

    def headers(self) -> dict[str, str]:
        reset = _dt.datetime.fromtimestamp(self.reset_epoch, _dt.timezone.utc)
        h = {
            "X-RateLimit-Limit": str(self.limit),
            "X-RateLimit-Remaining": str(max(0, self.remaining)),
            "X-RateLimit-Reset": reset.strftime("%Y-%m-%dT%H:%M:%S.") + f"{reset.microsecond // 1000:03d}Z",
        }
        if not self.allowed:
            h["Retry-After"] = str(max(1, math.ceil(self.reset_epoch - time.time())))
            h["RateLimit-Reason"] = "jira-burst-based"
        return h


@dataclass
class Knobs:
    latency_ms: int = 0
    rate_limit_per_second: int = 0  # 0 = no rate limit
    # Largest page any listing endpoint returns, whatever the client asked (0 = no cap):
    # Atlassian lowers maxResults silently, so clients must not take a short page for the end.
    max_results_cap: int = 0
    # Jira's search index lags behind writes (search/jql is eventually consistent): issues
    # created or changed less than this many seconds ago are missing from JQL search results
    # and counts. GET /issue/{key} stays consistent. 0 = search sees every write at once.
    # (Real Jira shows a changed issue with its old values for a while; leaving it out is the
    # simple, stricter stand-in. reconcileIssues is not modelled.)
    search_lag_seconds: float = 0.0
    # issue/bulkfetch: the most ids one request may carry (0 = Jira's rule: 1,000 with
    # explicit single-value fields, else 100); e.g. 100 for a Jira that does not grant 1,000.
    # More ids than this: 400 -- or, with bulkfetch_silent, an answer holding only the first
    # this many issues and no error for the others (a cap lowered quietly).
    bulkfetch_max: int = 0
    bulkfetch_silent: bool = False
    # issue/bulkfetch: an id or key no issue has is left out of the answer, as the contract
    # says; True answers it in issueErrors ("Issue does not exist...") instead, as a Jira might.
    bulkfetch_missing_errors: bool = False
    # project/search: no project matches the filters (e.g. ``keys`` a project no longer has):
    # 404, as the contract says; True answers an empty page instead, as a Jira might.
    project_search_empty_page: bool = False
    # users/search (and /users) list nobody past this position (0 = everyone): a user listing
    # that stops early with an empty page, as Jira's user searches do past their first 1,000.
    users_listing_max: int = 0
    # Jira's clock this many seconds ahead of (negative: behind) the machine's: serverTime,
    # created / updated stamps and relative JQL dates all follow it. Set it, then set it back
    # to 0, and Jira's clock went back between two runs (a wrong server clock corrected).
    clock_offset_seconds: float = 0.0
    faults: list[Fault] = field(default_factory=list)
    _windows: dict[str, tuple[int, int]] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def config(self) -> dict[str, Any]:
        return {
            "latency_ms": self.latency_ms,
            "rate_limit_per_second": self.rate_limit_per_second,
            "max_results_cap": self.max_results_cap,
            "search_lag_seconds": self.search_lag_seconds,
            "bulkfetch_max": self.bulkfetch_max,
            "bulkfetch_silent": self.bulkfetch_silent,
            "bulkfetch_missing_errors": self.bulkfetch_missing_errors,
            "project_search_empty_page": self.project_search_empty_page,
            "users_listing_max": self.users_listing_max,
            "clock_offset_seconds": self.clock_offset_seconds,
            "faults": [f.as_dict() for f in self.faults],
        }

    def reset(self, latency_ms: int = 0, rate_limit_per_second: int = 0) -> None:
        with self._lock:
            self.latency_ms = latency_ms
            self.rate_limit_per_second = rate_limit_per_second
            self.max_results_cap = 0
            self.search_lag_seconds = 0.0
            self.bulkfetch_max = 0
            self.bulkfetch_silent = False
            self.bulkfetch_missing_errors = False
            self.project_search_empty_page = False
            self.users_listing_max = 0
            self.set_clock_offset(0.0)
            self.faults.clear()
            self._windows.clear()

    def set_clock_offset(self, seconds: float) -> None:
        from .store import set_clock_offset

        self.clock_offset_seconds = float(seconds)
        set_clock_offset(self.clock_offset_seconds)

    def page_limit(self, asked: int, endpoint_max: int) -> int:
        """Items a listing page holds at most: what the client asked, within the endpoint's
        documented maximum and the ``max_results_cap`` knob (applied silently, as Atlassian
        does). Every listing endpoint computes its page size here."""
        limit = min(asked, endpoint_max)
        cap = self.max_results_cap
        return min(limit, cap) if cap > 0 else limit

    def take_fault(self, method: str, path: str) -> Fault | None:
        with self._lock:
            for f in self.faults:
                if f.count > 0 and f.matches(method, path):
                    if f.after > 0:
                        f.after -= 1
                        continue
                    f.count -= 1
                    if f.count <= 0:
                        self.faults.remove(f)
                    return f
        return None

    def rate(self, who: str) -> RateDecision | None:
        """Fixed one-second windows per account; None when rate limiting is off."""
        limit = self.rate_limit_per_second
        if limit <= 0:
            return None
        now = time.time()
        window = int(now)
        with self._lock:
            start, used = self._windows.get(who, (window, 0))
            if start != window:
                start, used = window, 0
            allowed = used < limit
            if allowed:
                used += 1
            self._windows[who] = (start, used)
        return RateDecision(allowed, limit, limit - used, start + 1)


def peak_in_window(times: Iterable[float], window: float = 1.0) -> int:
    """The most events in any closed window ``[t, t + window]`` (both ends count: the stricter
    reading, and the one the connector's rate limiter guarantees), times in any order."""
    ordered = sorted(times)
    best = first = 0
    for last, t in enumerate(ordered):
        while ordered[first] < t - window:
            first += 1
        best = max(best, last - first + 1)
    return best


class Stats:
    """Request counts per endpoint (method + route template) and per status code.

    ``unrouted`` counts the calls no endpoint serves (answered 404 / 405): what a client
    needs that the simulator does not implement.

    ``arrivals``: when each counted request arrived (epoch seconds, before any latency is
    added), for request rates over time (the benchmarks' peak requests per second). Kept in
    a compact array of 8-byte floats, at most ``max_arrivals`` (8 MB at the default);
    later requests are still counted, but only as ``arrivals_dropped``.
    """

    MAX_ARRIVALS = 1_000_000

    def __init__(self, max_arrivals: int = MAX_ARRIVALS) -> None:
        self._lock = threading.Lock()
        self.max_arrivals = max_arrivals
        self.reset()

    def reset(self) -> None:
        with self._lock:
            self.total = 0
            self.endpoints: dict[str, int] = defaultdict(int)
            self.statuses: dict[str, dict[str, int]] = defaultdict(lambda: defaultdict(int))
            self.unrouted: dict[str, int] = defaultdict(int)
            self.arrivals = array("d")
            self.arrivals_dropped = 0

    def record(self, endpoint: str, status: int | str, routed: bool = True, *, arrived: float | None = None) -> None:
        with self._lock:
            self.total += 1
            self.endpoints[endpoint] += 1
            self.statuses[endpoint][str(status)] += 1
            if not routed:
                self.unrouted[endpoint] += 1
            if arrived is not None:
                if len(self.arrivals) < self.max_arrivals:
                    self.arrivals.append(arrived)
                else:
                    self.arrivals_dropped += 1

    def arrival_times(self) -> dict[str, Any]:
        """``{"arrivals": [epoch seconds, in arrival order], "dropped": n, "peak_per_second": n}``
        (the most arrivals in any closed one-second window)."""
        with self._lock:
            arrivals = sorted(self.arrivals)
            return {"arrivals": arrivals, "dropped": self.arrivals_dropped, "peak_per_second": peak_in_window(arrivals)}

    def snapshot(self) -> dict[str, Any]:
        with self._lock:
            return {
                "total": self.total,
                "endpoints": dict(self.endpoints),
                "responses": {k: dict(v) for k, v in self.statuses.items()},
                "unrouted": dict(self.unrouted),
                "arrivals_kept": len(self.arrivals),
                "arrivals_dropped": self.arrivals_dropped,
            }
