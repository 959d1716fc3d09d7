"""The full run's next start is min(Jira's clock, the newest ``updated``
the search shows). ``JiraClient.newest_updated`` asks for one issue (page size 1) and takes
an empty first page for "the JQL matches nothing" -- even when the page says more follow
(isLast false, a nextPageToken), which Jira may answer (tests/pipeline/test_removal_index_lag.py
injects the same). plan_carry then records Jira's clock alone: the very loss the commit
fixes (a change a lagging index hid from the run falls before the next run's window, and
every later run carries the issue until a cache clear) comes back on such an answer, as soon
as any other issue of the JQL changes after it. Now the newest change is read past such a page."""
from __future__ import annotations

from datetime import datetime, timedelta, timezone
from types import SimpleNamespace

from jira_esm_connector.pipeline import run_import

from .conftest import ISSUES_TASK, make_task
from .helpers import by_attr, esm_cards, jira_issues, run_id

TASK = dict(ISSUES_TASK, name="test_newest", mode="full", removed=False, overlap_minutes=0)
NO_CLEAR = SimpleNamespace(cache_clear_hours=[])


def _subjects(esm, task) -> dict[str, str]:
    return {k: c.value("subject") for k, c in by_attr(esm_cards(esm, "incident", task.name), "jira_key").items()}


def test_a_hidden_change_is_read_although_the_newest_query_met_an_empty_page(jira, jira_sim, esm, state, staging):
    task = make_task(TASK)
    run_import(task, jira, esm, state, staging, run_id(1), settings=NO_CLEAR)
    since, digest = state.get_full_sync(task.name)
    state.set_full_sync(task.name, since - timedelta(minutes=5), digest)  # run 1 ran five minutes ago
    key = sorted(jira_issues(jira, "project = SUP"))[7]
    changed_at = datetime.now(timezone.utc) - timedelta(seconds=90)
    jira_sim.admin("PATCH", f"issues/{key}", json={"summary": "Hidden by the index", "updated": changed_at.isoformat()})
    jira_sim.admin("PUT", "config", json={"search_lag_seconds": 120})
    # run 2's first search (the newest-change query) comes back empty, handing on to a next page
    jira_sim.admin("POST", "faults", json={"type": "empty", "count": 1, "path": "/rest/api/3/search/jql"})
    try:
        run_import(task, jira, esm, state, staging, run_id(2), settings=NO_CLEAR)
    finally:
        jira_sim.admin("DELETE", "faults")
        jira_sim.admin("PUT", "config", json={"search_lag_seconds": 0})
    assert _subjects(esm, task)[key] != "Hidden by the index"  # run 2's listings did not show it

    # the project moves on: a later change to another issue (the newest the search shows from now on)
    other = sorted(jira_issues(jira, "project = SUP"))[9]
    jira_sim.admin("PATCH", f"issues/{other}", json={"summary": "A later change"})
    for n in (3, 4, 5):
        run_import(task, jira, esm, state, staging, run_id(n), settings=NO_CLEAR)
    assert _subjects(esm, task)[key] == "Hidden by the index"


def test_the_next_start_stays_the_index_lag_behind_jiras_clock(jira, jira_sim, esm, state, staging):
    """With changes as new as Jira's clock shown, the next full run's start is Jira's clock less
    JIRA_ESM_INDEX_LAG_SECONDS (as the incremental watermark is), not the clock itself: an older
    change a lag longer than the overlap still hides must fall inside the next run's window."""
    task = make_task(TASK)
    key = sorted(jira_issues(jira, "project = SUP"))[3]
    jira_sim.admin("PATCH", f"issues/{key}", json={"summary": "Changed just now"})  # the newest change: now
    settings = SimpleNamespace(cache_clear_hours=[], index_lag_seconds=300.0)
    before = datetime.now(timezone.utc)
    run_import(task, jira, esm, state, staging, run_id(1), settings=settings)
    start, _digest = state.get_full_sync(task.name)
    assert start <= before - timedelta(seconds=290), start
    assert start >= before - timedelta(seconds=400), start
