"""Full imports read again only what changed since ESM accepted it (pipeline/carry.py).

Real simulators over HTTPS. Each test checks what ESM holds afterwards and how many issues
were read from Jira (``issue/bulkfetch`` requests on the simulator), so a carried issue that
should have been read -- a change lost -- fails the test, and so does a run that still reads
everything."""
from __future__ import annotations

import time
from datetime import datetime, timedelta, timezone
from types import SimpleNamespace

from jira_esm_connector.pipeline import diff, extract, finish, load, mark_removed, run_dir, run_import, transform

from jira_esm_connector.pipeline.watermark import watermark_jql

from .conftest import ISSUES_TASK, make_task
from .helpers import by_attr, esm_cards, esm_writes, jira_issues, reset_esm_stats, run_id

REMOVAL = {"attribute": "status", "value": "07 - Cancelled", "max_share": 0.5}
FULL = dict(ISSUES_TASK, name="test_issues_carry", mode="full", removed=REMOVAL)
NO_CLEAR = SimpleNamespace(cache_clear_hours=[])  # no clock-driven cache clear in the middle of a test


def _bulkfetches(jira_sim) -> int:
    """issue/bulkfetch requests since the last stats reset."""
    return jira_sim.stats()["endpoints"].get("POST /rest/api/3/issue/bulkfetch", 0)


def _read(summary) -> int:
    """Issues this run read from Jira (listed and not carried)."""
    return summary["fetched"] - summary["carried"]


def _window(jira, state, task) -> set[str]:
    """The issues the next full run reads again: those its JQL selects that changed since the
    recorded start (the earlier of Jira's clock and the newest change the search showed
    before the last full run's listing) less the overlap -- changed ones, and the few changed
    within the overlap before that newest change."""
    since, _digest = state.get_full_sync(task.name)
    return set(jira_issues(jira, watermark_jql(task.jql, since, task.overlap_minutes)))


def _run(task, jira, esm, state, staging, n, **kwargs):
    return run_import(task, jira, esm, state, staging, run_id(n), settings=kwargs.pop("settings", NO_CLEAR), **kwargs)


def _subjects(esm, task) -> dict[str, str]:
    return {k: c.value("subject") for k, c in by_attr(esm_cards(esm, "incident", task.name), "jira_key").items()}


def test_unchanged_full_rerun_reads_only_the_newest_changes_again_and_writes_nothing(jira, jira_sim, esm, esm_sim, state, staging):
    task = make_task(FULL)
    jira_sim.admin("DELETE", "stats")
    first = _run(task, jira, esm, state, staging, 1)
    total = first["fetched"]
    assert total > 50 and first["created"] == total and _read(first) == total
    assert _bulkfetches(jira_sim) == -(-total // 100)
    assert state.get_full_sync(task.name) is not None

    jira_sim.admin("DELETE", "stats")
    reset_esm_stats(esm_sim)
    window = _window(jira, state, task)  # the newest seeded issues: within the overlap before the newest change
    assert 0 < len(window) < total / 10
    second = _run(task, jira, esm, state, staging, 2)
    assert _bulkfetches(jira_sim) == 1 and _read(second) == len(window)
    assert esm_writes(esm_sim) == 0
    assert (second["fetched"], second["unchanged"], second["created"], second["updated"]) == (total, total, 0, 0)
    assert second["marked_removed"] == 0
    assert len(_subjects(esm, task)) == total


def test_changed_new_and_deleted_issues_are_read_written_and_removed(jira, jira_sim, esm, state, staging):
    task = make_task(FULL)
    first = _run(task, jira, esm, state, staging, 1)
    keys = sorted(jira_issues(jira, "project = SUP"))
    changed, deleted = keys[:3], keys[3]
    for key in changed:
        jira_sim.admin("PATCH", f"issues/{key}", json={"summary": f"Changed after the first run ({key})"})
    jira_sim.admin("DELETE", f"issues/{deleted}")
    new_key = jira_sim.admin("POST", "issues", json={"project": "SUP", "summary": "Born after the first run"}).json()["key"]

    jira_sim.admin("DELETE", "stats")
    window = _window(jira, state, task)
    assert set(changed) | {new_key} <= window and deleted not in window
    second = _run(task, jira, esm, state, staging, 2)
    assert _read(second) == len(window)  # the changed ones, the new one, and the newest before run 1
    # one read; one asking Jira whether the deleted issue is gone (not only missing from the index)
    assert _bulkfetches(jira_sim) == 2
    assert (second["updated"], second["created"], second["marked_removed"]) == (len(changed), 1, 1)
    assert second["fetched"] == first["fetched"]  # one gone, one new
    subjects = _subjects(esm, task)
    assert all(subjects[k] == f"Changed after the first run ({k})" for k in changed)
    assert subjects[new_key] == "Born after the first run"
    cards = by_attr(esm_cards(esm, "incident", task.name), "jira_key")
    assert cards[deleted].value("status") == "07 - Cancelled"
    assert sum(c.value("status") == "07 - Cancelled" for c in cards.values()) == 1


def test_a_mapping_change_reads_every_issue_again(jira, jira_sim, esm, state, staging):
    task = make_task(FULL)
    first = _run(task, jira, esm, state, staging, 1)
    renamed = make_task(FULL, attributes=dict(FULL["attributes"], subject={"from": "fields.summary", "transform": "upper"}))
    jira_sim.admin("DELETE", "stats")
    second = _run(renamed, jira, esm, state, staging, 2)
    assert _read(second) == first["fetched"] and _bulkfetches(jira_sim) == -(-first["fetched"] // 100)
    assert second["updated"] == first["fetched"]
    assert all(s == s.upper() for s in _subjects(esm, renamed).values())


def test_a_connector_upgrade_reads_every_issue_again(jira, jira_sim, esm, state, staging, monkeypatch):
    """The digest holds the installed connector's version: a new version may map a record
    differently, so its first full run must not carry what the old one wrote."""
    import importlib.metadata

    task = make_task(FULL)
    first = _run(task, jira, esm, state, staging, 1)
    installed = importlib.metadata.version

    def upgraded(name: str) -> str:
        return "99.0.0" if name == "airflow-jira-esm-connector" else installed(name)

    monkeypatch.setattr(importlib.metadata, "version", upgraded)
    jira_sim.admin("DELETE", "stats")
    second = _run(task, jira, esm, state, staging, 2)
    assert _read(second) == first["fetched"] and _bulkfetches(jira_sim) == -(-first["fetched"] // 100)
    assert second["updated"] == 0  # read again, mapped the same: nothing to write


def test_clear_cache_reads_and_pushes_every_issue(jira, jira_sim, esm, state, staging):
    task = make_task(FULL)
    first = _run(task, jira, esm, state, staging, 1)
    jira_sim.admin("DELETE", "stats")
    second = _run(task, jira, esm, state, staging, 2, clear_cache=True)
    assert _read(second) == first["fetched"] and _bulkfetches(jira_sim) == -(-first["fetched"] // 100)
    assert second["updated"] == first["fetched"] and second["unchanged"] == 0


def test_a_due_scheduled_cache_clear_reads_every_issue(jira, jira_sim, esm, state, staging):
    task = make_task(FULL)
    state.clear_cache(task.name, "long ago", now=datetime(2000, 1, 1, tzinfo=timezone.utc))
    first = _run(task, jira, esm, state, staging, 1)
    every_hour = SimpleNamespace(cache_clear_hours=list(range(24)))  # due: an hour has begun since 2000
    jira_sim.admin("DELETE", "stats")
    second = _run(task, jira, esm, state, staging, 2, settings=every_hour)
    assert second["cache_cleared"] and _read(second) == first["fetched"]
    assert second["updated"] == first["fetched"]


def test_a_clear_hour_passing_between_extract_and_diff_is_left_to_the_next_run(jira, jira_sim, esm, state, staging):
    # In the DAG, extract and diff are tasks of their own, each reading the clock: the clear
    # hour can pass between them. Extract then carried the unchanged issues (no clear due); a
    # clear in diff would not push them, although the run reports the cache cleared.
    task = make_task(FULL)
    midnight = datetime.now(timezone.utc).replace(hour=0, minute=0, second=0, microsecond=0) + timedelta(days=1)
    state.clear_cache(task.name, "earlier today", now=midnight - timedelta(hours=2))
    first = _run(task, jira, esm, state, staging, 1, now=midnight - timedelta(hours=1))
    total = first["fetched"]
    assert not first["cache_cleared"] and first["created"] == total

    path = run_dir(staging, task.name, run_id(2))  # run 2, step by step as the DAG runs it
    window = _window(jira, state, task)
    extracted = extract(task, jira, state, path, settings=NO_CLEAR, default_clear_hours=[0],
                        now=midnight - timedelta(minutes=1))
    assert extracted["carried"] == total - len(window)
    transformed = transform(task, extracted, path)
    diffed = diff(task, transformed, state, path, default_clear_hours=[0], now=midnight + timedelta(minutes=1))
    second = finish(task, state, run_id(2), extracted, transformed, diffed, load(task, diffed, esm, state),
                    mark_removed(task, extracted, esm, state))
    assert not second["cache_cleared"] and second["unchanged"] == total  # nothing pushed: no clear claimed
    assert state.count_fingerprints(task.name) == total

    third = _run(task, jira, esm, state, staging, 3, settings=SimpleNamespace(cache_clear_hours=[0]),
                 now=midnight + timedelta(minutes=5))
    assert third["cache_cleared"] and _read(third) == total and third["updated"] == total


def test_whole_column_expectations_make_full_runs_read_everything(jira, jira_sim, esm, state, staging):
    task = make_task(FULL, quality=[{"expect_column_values_to_be_unique": {"column": "jira_key"}}])
    first = _run(task, jira, esm, state, staging, 1)
    jira_sim.admin("DELETE", "stats")
    second = _run(task, jira, esm, state, staging, 2)
    assert _read(second) == first["fetched"] and second["unchanged"] == first["fetched"]
    assert _bulkfetches(jira_sim) == -(-first["fetched"] // 100)


def test_a_run_that_did_not_finish_does_not_move_the_starting_point(jira, jira_sim, esm, state, staging):
    task = make_task(FULL)
    _run(task, jira, esm, state, staging, 1)
    recorded = state.get_full_sync(task.name)
    key = sorted(jira_issues(jira, "project = SUP"))[5]
    jira_sim.admin("PATCH", f"issues/{key}", json={"summary": "Changed before a run that died"})
    # a run that stopped after extract (it carried nothing it should not; it recorded nothing)
    window = _window(jira, state, task)
    assert key in window
    died = extract(task, jira, state, staging / "died", settings=NO_CLEAR, default_clear_hours=[])
    assert died["carried"] == died["fetched"] - len(window)
    assert state.get_full_sync(task.name) == recorded

    second = _run(task, jira, esm, state, staging, 2)
    assert second["updated"] == 1
    assert _subjects(esm, task)[key] == "Changed before a run that died"


def test_a_change_the_search_index_did_not_show_yet_is_read_by_the_next_run(jira, jira_sim, esm, state, staging):
    task = make_task(FULL, removed=False)  # the lagging index hides the issue from run 2's listing
    _run(task, jira, esm, state, staging, 1)
    key = sorted(jira_issues(jira, "project = SUP"))[7]
    time.sleep(1.1)
    jira_sim.admin("PATCH", f"issues/{key}", json={"summary": "Changed while the index lagged"})
    # the search hides changes younger than 2 s: run 2's listings miss this one
    jira_sim.admin("PUT", "config", json={"search_lag_seconds": 2})
    try:
        _run(task, jira, esm, state, staging, 2)
    finally:
        jira_sim.admin("PUT", "config", json={"search_lag_seconds": 0})
    window = _window(jira, state, task)
    assert key in window  # the overlap (1 min) reaches back over the change
    third = _run(task, jira, esm, state, staging, 3)
    assert _subjects(esm, task)[key] == "Changed while the index lagged"
    assert third["updated"] == 1 and _read(third) == len(window)


def test_a_change_the_index_hid_for_longer_than_the_overlap_is_read_by_a_later_run(jira, jira_sim, esm, state, staging):
    """The next run's start was Jira's clock before this run's listing alone: a change made
    90 s before run 2 (overlap 0 here) that an index 120 s behind hid from run 2 fell before
    run 3's window, and every later run carried the issue until a cache clear. The start is
    now never later than the newest change the search showed, as the incremental watermark."""
    task = make_task(FULL, removed=False, overlap_minutes=0)
    _run(task, jira, esm, state, staging, 1)
    since, digest = state.get_full_sync(task.name)
    state.set_full_sync(task.name, since - timedelta(minutes=5), digest)  # as if run 1 ran five minutes ago
    key = sorted(jira_issues(jira, "project = SUP"))[7]
    changed_at = datetime.now(timezone.utc) - timedelta(seconds=90)
    jira_sim.admin("PATCH", f"issues/{key}", json={"summary": "Hidden by the index", "updated": changed_at.isoformat()})
    jira_sim.admin("PUT", "config", json={"search_lag_seconds": 120})
    try:
        _run(task, jira, esm, state, staging, 2)
    finally:
        jira_sim.admin("PUT", "config", json={"search_lag_seconds": 0})
    assert _subjects(esm, task)[key] != "Hidden by the index"  # run 2's listings did not show it
    assert key in _window(jira, state, task)
    third = _run(task, jira, esm, state, staging, 3)
    assert _subjects(esm, task)[key] == "Hidden by the index" and third["updated"] == 1


def test_a_run_with_refused_records_does_not_move_the_starting_point(jira, jira_sim, esm, state, staging):
    """A refused record keeps its older fingerprint in the task cache (ESM accepted it before
    and refuses it now): were the starting point moved past its change, the next full run
    would carry it and never retry it. So a run with refusals records nothing."""
    issues = jira_issues(jira, "project = SUP")
    unused = next(s for s in ("In Review", "Backlog", "Selected for Development", "Waiting for customer")
                  if s not in {i["fields"]["status"]["name"] for i in issues.values()})
    bad_map = dict(FULL["attributes"]["status"], map={unused: "99 - No such status"})
    task = make_task(FULL, attributes=dict(FULL["attributes"], status=bad_map))
    first = _run(task, jira, esm, state, staging, 1)
    assert first["refused"] == 0
    recorded = state.get_full_sync(task.name)
    key = sorted(issues)[2]
    jira_sim.admin("PATCH", f"issues/{key}", json={"status": unused})  # ESM will refuse its new status

    second = _run(task, jira, esm, state, staging, 2)
    assert [r["key"] for r in second["refused_records"]] == [key]
    assert state.get_full_sync(task.name) == recorded  # not moved

    window = _window(jira, state, task)
    third = _run(task, jira, esm, state, staging, 3)  # reads everything changed since run 1: the refused one again
    assert [r["key"] for r in third["refused_records"]] == [key]
    assert key in window and _read(third) == len(window)
