"""What an operator reads in a task log at 3 a.m., pinned where it was wrong or a flood.

* A watermark held back by refused records was logged as "advanced to <held> (UTC, newest
  'updated' in this run's data)" -- the held value is a minute before the oldest refused
  record, not the newest change -- and, when the hold kept it where it was, as "stays at ...
  (nothing newer in this run)" although the run had seen newer changes.
"""
from __future__ import annotations

from datetime import datetime, timedelta, timezone

from devtools.jira_simulator.model import STATUSES
from jira_esm_connector.pipeline import run_import

from .conftest import ISSUES_TASK, make_task
from .helpers import jira_issues, run_id


def _watermark_lines(run_log, task) -> list[str]:
    return [m for m in run_log.messages if m.startswith(f"Watermark of '{task.name}'")]


def test_a_watermark_held_by_a_refusal_is_not_called_the_newest_change(jira, esm, state, staging, run_log):
    bad_map = dict(ISSUES_TASK["attributes"]["status"], map={"Resolved": "99 - No such status"})
    task = make_task(ISSUES_TASK, attributes=dict(ISSUES_TASK["attributes"], status=bad_map))

    first = run_import(task, jira, esm, state, staging, run_id(1), logger=run_log)

    assert first["refused"] >= 1
    stored = state.get_watermark(task.name)
    newest = max(datetime.strptime(i["fields"]["updated"], "%Y-%m-%dT%H:%M:%S.%f%z")
                 for i in jira_issues(jira, "project = SUP").values()).astimezone(timezone.utc)
    assert stored < newest  # held before the oldest refused record
    [line] = _watermark_lines(run_log, task)
    assert line.startswith(f"Watermark of '{task.name}' advanced to {stored.isoformat()} (UTC, held 1 min before")
    assert "newest 'updated' in this run's data" not in line
    assert newest.isoformat() in line  # what the run saw, so the operator sees how far it is held back


def test_a_watermark_kept_by_a_refusal_is_not_said_to_have_seen_nothing_newer(jira, jira_sim, esm, state, staging, run_log):
    used = {i["fields"]["status"]["name"] for i in jira_issues(jira, "project = SUP").values()}
    status = next(s.name for s in STATUSES if s.name not in used)
    bad_map = dict(ISSUES_TASK["attributes"]["status"], map={status: "99 - No such status"})
    task = make_task(ISSUES_TASK, attributes=dict(ISSUES_TASK["attributes"], status=bad_map))
    assert run_import(task, jira, esm, state, staging, run_id(1))["refused"] == 0
    watermark = state.get_watermark(task.name)
    # one issue ESM refuses, fetched through the overlap, and one newer change ESM takes
    jira_sim.admin("POST", "issues", json={"project": "SUP", "summary": "Refused in the overlap", "status": status,
                                           "updated": (watermark - timedelta(seconds=30)).isoformat()})
    jira_sim.admin("POST", "issues", json={"project": "SUP", "summary": "A newer change",
                                           "updated": (watermark + timedelta(hours=1)).isoformat()})

    second = run_import(task, jira, esm, state, staging, run_id(2), logger=run_log)

    assert second["refused"] == 1 and second["created"] == 1
    assert state.get_watermark(task.name) == watermark
    [line] = _watermark_lines(run_log, task)
    assert line.startswith(f"Watermark of '{task.name}' stays at {watermark.isoformat()} (held back by the record(s)")
    assert "nothing newer" not in line
    assert (watermark + timedelta(hours=1)).isoformat() in line

