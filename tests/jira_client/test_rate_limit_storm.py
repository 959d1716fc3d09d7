"""The per-site limiter under a 429 storm (issue 10, item 2), against the real Jira simulator:
a parallel hydration with 8 requests at once and a cap of R per second, while the simulator
answers a run of 429s with Retry-After. The simulator logs when each request arrived; no
sliding one-second window of those arrivals -- retries included -- may hold more than R,
and every issue must come back exactly once. Without the cap the same run sends dozens per
second (each request takes milliseconds), so the window check is what the cap decides."""
from __future__ import annotations

import logging
from collections import Counter

from jira_esm_connector.http import RetryPolicy, SiteLimiter
from devtools.jira_simulator.knobs import peak_in_window

R = 5  # the connector's cap, requests per second
STORM = 6  # 429s with Retry-After: 1 the simulator answers in a row
PATIENT = RetryPolicy(total=25, backoff_base=0.05, backoff_cap=0.5, jitter=0.2, max_retry_after=3.0)


class _Lines(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.lines: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(record.getMessage())


def test_limiter_never_exceeds_its_rate_under_a_429_storm(jira_sim_fresh, jira_clients):
    sim = jira_sim_fresh
    log = logging.getLogger("tests.jira_client.storm")
    log.setLevel(logging.DEBUG)
    lines = _Lines()
    log.addHandler(lines)
    try:
        limiter = SiteLimiter("storm-test", rate=R, concurrency=8, logger=log)
        jira = jira_clients(retry=PATIENT, concurrency=8, limiter=limiter)
        ids = [str(i["id"]) for page in jira.iter_issue_ids("project in (SUP, ENG, OPS)") for i in page.issues]
        wanted = ids[:80]
        sim.admin("POST", "faults", json={"type": "status", "status": 429, "retry_after": 1, "count": STORM,
                                          "path": "/rest/api/3/issue/bulkfetch"})
        sim.admin("DELETE", "stats")
        sent_before = limiter.sent_total

        batches = [wanted[n : n + 5] for n in range(0, len(wanted), 5)]
        got = Counter(str(issue["id"]) for _, issues, _ in jira.iter_hydrated(batches, ["summary"]) for issue in issues)
        arrivals = sim.admin("GET", "stats/arrivals").json()["arrivals"]  # API requests only, since the reset
        stats = sim.stats()
        responses = stats["responses"]["POST /rest/api/3/issue/bulkfetch"]
        field_reads = stats["endpoints"].get("GET /rest/api/3/field", 0)  # the batch size's field metadata
    finally:
        log.removeHandler(lines)

    assert set(got) == set(wanted) and set(got.values()) == {1}  # every issue, once
    assert responses.get("429", 0) == STORM and responses.get("200") == len(batches), responses
    assert field_reads == 1 and len(arrivals) == sum(responses.values()) + 1 > len(batches)  # retries arrived, counted
    assert peak_in_window(arrivals) <= R, sorted(arrivals)
    assert limiter.sent_total - sent_before == len(arrivals)  # it saw every attempt the server saw
    # the limiter slowed down (logged once per change, not per request) and paused everyone
    decreases = [l for l in lines.lines if "answered 429" in l and "requests in flight" in l]
    assert decreases and len(lines.lines) < len(arrivals)
