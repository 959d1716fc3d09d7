"""The per-site limiter's logic on a fake clock (nothing sleeps for real): the sliding-window
cap, pauses, AIMD concurrency and its log lines, the registry, and where it sits in the
session (every attempt, retries included, passes it)."""
from __future__ import annotations

import logging
import random

import pytest

from jira_esm_connector.http import RetryPolicy, SiteLimiter, build_session, site_limiter
from jira_esm_connector.http.ratelimit import site_key
from devtools.jira_simulator.knobs import peak_in_window


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0
        self.slept: list[float] = []

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        assert seconds > 0
        self.slept.append(seconds)
        self.now += seconds


class Lines(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.lines: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(record.getMessage())


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def lines() -> Lines:
    return Lines()


def limiter(clock: FakeClock, lines: Lines | None = None, *, rate: float = 5, concurrency: int = 8, guard: float = 0.0) -> SiteLimiter:
    log = logging.getLogger(f"tests.ratelimit.{id(clock)}")
    log.propagate = False
    log.setLevel(logging.DEBUG)
    if lines is not None:
        log.addHandler(lines)
    return SiteLimiter("jira.example:443", rate=rate, concurrency=concurrency, window_guard=guard,
                       clock=clock, sleep=clock.sleep, logger=log)


def test_the_cap_holds_in_every_sliding_window_not_only_per_second(clock):
    lim = limiter(clock, rate=5)
    clock.now = 1000.9  # late in a calendar second
    sent = [lim.before_send() for _ in range(5)]
    assert sent == [1000.9] * 5 and clock.slept == []  # a burst up to the rate is allowed
    # a new calendar second starts: a fixed window or a full token bucket would let five more
    # through now (ten within 0.2 s); the sliding log waits until the first burst is a second old
    clock.now = 1001.05
    assert lim.before_send() == pytest.approx(1001.9)
    times = sent + [clock.now]
    rng = random.Random(7)
    for _ in range(300):  # senders arriving at random moments
        clock.now += rng.choice([0.0, 0.0, 0.01, 0.05, 0.3, 1.2])
        times.append(lim.before_send())
    assert peak_in_window(times) <= 5 and lim.sent_total == len(times)
    assert peak_in_window(times, 0.999) == 5  # and it does use the rate it is given
    # its own measurement of the send log agrees with the one computed from the send times
    assert lim.peak_per_second == peak_in_window(times)
    lim.reset_peak()
    assert lim.peak_per_second == 0


def test_the_peak_counts_a_closed_second_of_the_send_log(clock):
    lim = limiter(clock, rate=10, guard=0.0)
    for moment in (1000.0, 1000.5, 1001.0, 1001.01):  # three in [1000.0, 1001.0], three in [1000.01, 1001.01]
        clock.now = moment
        lim.before_send()
    assert lim.peak_per_second == 3
    clock.now = 1003.0
    lim.before_send()
    assert lim.peak_per_second == 3


def test_rates_below_one_and_fractional_rates(clock):
    slow = limiter(clock, rate=0.5)
    times = [slow.before_send() for _ in range(4)]
    assert [b - a for a, b in zip(times, times[1:])] == pytest.approx([2.0, 2.0, 2.0])
    frac = limiter(clock, rate=2.5)
    times = [frac.before_send() for _ in range(20)]
    assert peak_in_window(times) <= 2


def test_the_guard_lengthens_the_window_for_network_jitter(clock):
    lim = limiter(clock, rate=2, guard=0.05)
    times = [lim.before_send() for _ in range(6)]
    assert peak_in_window(times, 1.05) <= 2


def test_a_429_burst_halves_once_and_pauses_every_sender_until_retry_after(clock, lines):
    lim = limiter(clock, lines, rate=100, concurrency=8)
    for _ in range(8):
        lim.before_send()  # eight requests sent at the same moment ...
    clock.now += 0.1
    for _ in range(8):  # ... all come back 429: one decrease, not eight
        lim.observe(429, {"Retry-After": "3", "RateLimit-Reason": "jira-burst-based"})
    assert lim.limit == 4
    assert lim.paused_until == pytest.approx(clock.now + 3)
    assert len(lines.lines) == 1, lines.lines
    assert "answered 429 (jira-burst-based): now at most 4 requests in flight (was 8)" in lines.lines[0]
    assert "Every request waits 3.0 s as Retry-After asks" in lines.lines[0]
    # every sender waits out the pause, not only the one urllib3 retries
    start = clock.now
    assert lim.before_send() >= start + 3 - 1e-9
    # a 429 to a request sent after the decrease is news: halve again
    lim.observe(429, {"Retry-After": "1"})
    assert lim.limit == 2 and len(lines.lines) == 2


def test_pause_respects_the_callers_cap_and_has_a_default(clock):
    lim = limiter(clock, rate=100)
    lim.before_send()
    lim.observe(429, {"Retry-After": "3600"}, max_pause=2.0)
    assert lim.paused_until == pytest.approx(clock.now + 2.0)
    lim2 = limiter(clock, rate=100)
    lim2.before_send()
    lim2.observe(429, {})
    assert lim2.paused_until == pytest.approx(clock.now + 1.0)  # no header: one window


def test_rate_limit_reason_alone_or_a_503_with_retry_after_count_as_limiting(clock):
    lim = limiter(clock, rate=100, concurrency=8)
    lim.before_send()
    lim.observe(200, {"RateLimit-Reason": "jira-quota-based"})
    assert lim.limit == 4
    lim.before_send()
    lim.observe(503, {"Retry-After": "1"})
    assert lim.limit == 2
    lim.before_send()
    lim.observe(503, {})  # a plain 503 says nothing about rates
    assert lim.limit == 2 and lim.paused_until < clock.now + 1


def test_near_limit_slows_down_by_one_and_successes_grow_back_slowly(clock, lines):
    lim = limiter(clock, lines, rate=100, concurrency=4)
    lim.before_send()
    lim.observe(200, {"X-RateLimit-NearLimit": "true"})
    assert lim.limit == 3
    lim.before_send()
    lim.observe(200, {"X-RateLimit-Remaining": "1", "X-RateLimit-Limit": "10"})  # under 20 % left
    assert lim.limit == 2
    lim.before_send()
    lim.observe(200, {"X-RateLimit-Remaining": "5", "X-RateLimit-Limit": "10"})  # plenty left: a success
    assert lim.limit == 2
    assert any("near its limit: now at most 3" in l for l in lines.lines)
    before = len(lines.lines)
    lim.observe(200, {})  # limit 2: two successes in a row grow it by one
    assert lim.limit == 3
    for _ in range(3):
        lim.observe(204, {})
    assert lim.limit == 4
    for _ in range(50):
        lim.observe(200, {})
    assert lim.limit == 4  # never above the configured concurrency
    assert len(lines.lines) == before + 2  # one line per change, none per request
    assert "now at most 4 requests in flight (up to 4)" in lines.lines[-1]


def test_slots_follow_the_current_limit(clock):
    lim = limiter(clock, rate=100, concurrency=3)
    assert [lim.try_acquire() for _ in range(4)] == [True, True, True, False]
    lim.before_send()
    lim.observe(429, {})
    assert lim.limit == 1
    lim.release()
    lim.release()
    assert not lim.try_acquire()  # two still in flight, limit 1
    lim.release()
    assert lim.try_acquire() and lim.in_flight == 1


def test_registry_shares_one_limiter_per_site_and_process():
    a = site_limiter("https://Site-RL.example", rate=7, concurrency=3)
    b = site_limiter("https://site-rl.example:443/", rate=7, concurrency=3)
    assert a is b
    assert site_limiter("https://site-rl.example:8443", rate=7, concurrency=3) is not a
    assert site_key("http://x.example") == "http://x.example:80"
    c = site_limiter("https://site-rl.example", rate=9, concurrency=2)  # settings changed: reconfigured
    assert c is a and (a.rate, a.max_concurrency, a.limit) == (9.0, 2, 2)
    with pytest.raises(ValueError):
        SiteLimiter("x", rate=0, concurrency=1)


def test_every_attempt_passes_the_limiter_retries_included(scripted):
    """A request answered 429, 429, 200 is three sends and three answers for the limiter."""
    scripted.script("/x", [(429, {"Retry-After": "0"}, b"{}"), (429, {"Retry-After": "0"}, b"{}")])
    lim = SiteLimiter("local", rate=1000, concurrency=4, window_guard=0)
    session = build_session(
        user_agent="t", verify=False, retry=RetryPolicy(total=3, backoff_base=0, jitter=0),
        logger=None, service_name="Jira", limiter=lim,
    )
    assert session.get(scripted.base_url + "/x", timeout=5).status_code == 200
    assert scripted.hits["/x"] == 3 == lim.sent_total and lim.in_flight == 0
    assert lim.limit == 2  # the two 429s: the second was sent after the first decrease
