"""The health check reports each import's last successful run (counts and age, from the
state store's run records) and warns when it is older than its schedule allows."""
from __future__ import annotations

import logging
from datetime import datetime, timedelta, timezone

import pytest

from jira_esm_connector.config import parse_task
from jira_esm_connector.health import last_runs, overdue_after, run_health_check

BASE = {
    "kind": "scheduled",
    "jira_conn_id": "jira_health",
    "esm_conn_id": "esm_health",
    "mode": "full",
    "mapping_type": "user",
    "template": "person",
    "folder": "persons",
    "key": {"jira": "accountId", "esm": "jira_account_id"},
    "attributes": {"full_name": "displayName"},
}
COUNTS = {"fetched": 40, "transformed": 40, "unchanged": 30, "created": 4, "updated": 6, "refused": 1,
          "references_pending": 0, "marked_removed": 2}


def _task(name: str, schedule: str | None, after: list[str] | None = None):
    return parse_task({**BASE, "name": name, "schedule": schedule, **({"after": after} if after else {})})


def _tasks(*tasks) -> dict:
    return {t.name: t for t in tasks}


def test_the_limit_is_two_of_the_schedules_longest_gaps():
    hourly = _task("hourly", "0 * * * *")
    workdays = _task("workdays", "0 9 * * 1-5")
    by_hand = _task("by_hand", None)
    everything = _tasks(hourly, workdays, by_hand)
    assert overdue_after(hourly, everything) == timedelta(hours=2)
    assert overdue_after(workdays, everything) == timedelta(days=6)  # the weekend gap is 3 days
    assert overdue_after(by_hand, everything) is None


def test_a_follower_inherits_the_limit_of_what_it_follows():
    users = _task("users", "0 * * * *")
    daily = _task("daily", "0 3 * * *")
    by_hand = _task("by_hand", None)
    issues = _task("issues", None, ["users"])
    comments = _task("comments", None, ["issues"])
    both = _task("both", None, ["users", "daily"])  # runs once both succeeded: the slower one counts
    quick = _task("quick", "*/10 * * * *", ["daily"])  # a cron of its own as well: the shorter limit
    manual_chain = _task("manual_chain", None, ["by_hand"])
    tasks = _tasks(users, daily, by_hand, issues, comments, both, quick, manual_chain)

    assert overdue_after(issues, tasks) == overdue_after(comments, tasks) == timedelta(hours=2)
    assert overdue_after(both, tasks) == timedelta(days=2)
    assert overdue_after(quick, tasks) == timedelta(minutes=20)
    assert overdue_after(manual_chain, tasks) is None


def test_last_runs_report_counts_and_age_and_warn_when_overdue(sqlite_state, caplog):
    hourly, never, by_hand = _task("hourly", "0 * * * *"), _task("never", "0 * * * *"), _task("by_hand", None)
    sqlite_state.record_run("hourly", "scheduled__old", {**COUNTS, "created": 99}, volume=40)
    sqlite_state.record_run("hourly", "scheduled__new", COUNTS, volume=40)
    sqlite_state.record_run("by_hand", "manual__1", COUNTS, volume=40)
    recorded = sqlite_state.recent_runs("hourly", limit=1)[0]["recorded_at"]

    fresh = {r["task"]: r for r in last_runs([hourly, never, by_hand], sqlite_state, now=recorded + timedelta(minutes=90))}
    with caplog.at_level(logging.INFO, logger="jira_esm_connector.health"):
        late = {r["task"]: r for r in last_runs([hourly, by_hand], sqlite_state, now=recorded + timedelta(hours=3))}

    assert fresh["hourly"] == {
        "task": "hourly", "last_success": recorded.isoformat(), "run_id": "scheduled__new", "age_hours": 1.5,
        "counts": COUNTS, "overdue_after_hours": 2.0, "warning": None,
    }
    assert fresh["never"]["warning"].startswith("no successful run recorded yet") and fresh["never"]["counts"] == {}
    assert late["hourly"]["warning"] == (
        "the last successful run finished 3.0 h ago, more than 2.0 h (2 scheduled runs in a row did not "
        "succeed): see the DAG's recent runs"
    )
    assert late["by_hand"]["warning"] is None and late["by_hand"]["overdue_after_hours"] is None
    assert ("Task hourly: last successful run 3.0 h ago (scheduled__new). Import 'hourly' finished: fetched 40, "
            "transformed 40, unchanged 30, created 4, updated 6, already loaded 0, refused 1, references pending 0, "
            "marked removed 2.") in caplog.messages


def test_the_health_check_report_carries_the_last_runs(connections, sqlite_state):
    connections()
    hourly, never = _task("hourly", "0 * * * *"), _task("never", "0 * * * *")
    sqlite_state.record_run("hourly", "scheduled__1", COUNTS, volume=40)

    report = run_health_check([hourly, never], sqlite_state, now=datetime.now(timezone.utc) + timedelta(minutes=5))

    assert [r["task"] for r in report["last_runs"]] == ["hourly", "never"]
    assert report["last_runs"][0]["counts"] == COUNTS and report["last_runs"][0]["warning"] is None
    assert list(report["overdue_warnings"]) == ["never"]


@pytest.mark.parametrize("schedule, longest", [
    ("*/5 * * * *", timedelta(minutes=5)),
    ("0 0 1 * *", timedelta(days=31)),
    ("@weekly", timedelta(days=7)),
])
def test_longest_interval(schedule, longest):
    from jira_esm_connector.config.scheduling import longest_interval

    assert longest_interval(schedule) == longest
