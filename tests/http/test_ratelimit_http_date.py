"""Retry-After in its HTTP-date form (RFC 9110 allows it; the retry honours it) was not
understood by the site limiter, so the other senders paused 1 s instead of the asked time
-- and a 503 with a dated Retry-After was not even seen as limiting."""
from __future__ import annotations

import time
from email.utils import formatdate

import pytest

from jira_esm_connector.http import RetryPolicy
from jira_esm_connector.http.retry import LoggingRetry

from .test_ratelimit import FakeClock, limiter


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


def _in(seconds: float) -> str:
    return formatdate(time.time() + seconds, usegmt=True)


def test_the_retry_itself_understands_the_http_date_form():
    class R:  # the bits of a urllib3 response the retry reads
        status = 429
        headers = {"Retry-After": _in(30)}

    wait = LoggingRetry.from_policy(RetryPolicy())._retry_after_seconds(R())
    assert 25 <= wait <= 31


def test_a_429_with_an_http_date_retry_after_pauses_every_sender_until_then(clock):
    lim = limiter(clock, rate=100, concurrency=8)
    lim.before_send()
    lim.observe(429, {"Retry-After": _in(30)})
    # the retried request waits ~30 s (see above); the others must not resume after 1 s
    assert lim.paused_until - clock.now >= 25, f"others pause only {lim.paused_until - clock.now:.1f} s"


def test_a_503_with_an_http_date_retry_after_counts_as_limiting(clock):
    lim = limiter(clock, rate=100, concurrency=8)
    lim.before_send()
    lim.observe(503, {"Retry-After": _in(30)})
    assert lim.limit == 4 and lim.paused_until - clock.now >= 25
