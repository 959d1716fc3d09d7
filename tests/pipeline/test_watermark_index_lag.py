"""An incremental run's watermark never passes Jira's clock before the listing less how long the
search index may lag (``JIRA_ESM_INDEX_LAG_SECONDS``). Jira's search is eventually consistent:
a change the index shows may have overtaken an older one it does not show yet; a watermark at
the newest change listed would make the next run's ``updated >=`` leave that older change
behind for good (the overlap is one minute). Real simulators over HTTPS."""
from __future__ import annotations

from datetime import datetime, timedelta, timezone

from jira_esm_connector.mapping.dates import parse_jira_datetime
from jira_esm_connector.pipeline import run_import

from .conftest import ISSUES_TASK, make_task
from .helpers import run_id


def _server_time(jira) -> datetime:
    return parse_jira_datetime(jira.server_info()["serverTime"]).astimezone(timezone.utc)


def test_the_watermark_stops_an_index_lag_before_jiras_clock(jira, jira_sim, esm, state, staging, run_log):
    task = make_task(ISSUES_TASK, name="watermark_index_lag")
    run_import(task, jira, esm, state, staging, run_id(1))
    first = state.get_watermark(task.name)
    key = jira_sim.admin("POST", "issues", json={"project": "SUP", "summary": "changed just now"}).json()["key"]
    before = _server_time(jira)

    second = run_import(task, jira, esm, state, staging, run_id(2), logger=run_log)

    stored = state.get_watermark(task.name)
    assert second["fetched"] >= 1
    assert stored <= before - timedelta(seconds=60) + timedelta(seconds=1), (stored, before)
    assert stored >= first
    assert any("held at" in m and "index" in m for m in run_log.messages), run_log.messages
    # the next run lists the new issue again (read twice at worst: the cache writes nothing)
    third = run_import(task, jira, esm, state, staging, run_id(3))
    assert third["fetched"] >= 1 and third["created"] == 0 and third["updated"] == 0, (key, third)


def test_without_jiras_clock_the_watermark_stays(jira, jira_sim, esm, state, staging, run_log):
    task = make_task(ISSUES_TASK, name="watermark_no_clock")
    run_import(task, jira, esm, state, staging, run_id(1))
    first = state.get_watermark(task.name)
    jira_sim.admin("POST", "issues", json={"project": "SUP", "summary": "changed, clock unread",
                                           "updated": (first + timedelta(minutes=5)).isoformat()})
    jira_sim.admin("POST", "faults", json={"type": "status", "status": 404, "count": 5, "path": "/rest/api/3/serverInfo"})
    try:
        second = run_import(task, jira, esm, state, staging, run_id(2), logger=run_log)
    finally:
        jira_sim.admin("DELETE", "faults")
    assert second["created"] == 1
    assert state.get_watermark(task.name) == first
    assert any("server time" in m and "not moved" in m for m in run_log.messages), run_log.messages
