"""finish reported a watermark it never stored when refused records held it back.

A record ESM refuses holds an incremental watermark just before its ``updated``. When that
record was fetched through the overlap -- ``updated`` a little below the stored watermark --
the held value lies below the watermark too; the stored watermark rightly stays where it
was (moving it back gains nothing: the overlap fetches the record again), but the run's
result and its log named the held value as the watermark ("stays at <held>"), a time the
state store never held.
"""
from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest

from devtools.jira_simulator.model import STATUSES
from jira_esm_connector.pipeline import run_import

from .conftest import ISSUES_TASK, make_task
from .helpers import jira_issues, run_id


@pytest.mark.parametrize("newer", [False, True], ids=["nothing-newer", "a-newer-change"])
def test_a_refusal_inside_the_overlap_reports_the_watermark_that_is_kept(
    jira, jira_sim, esm, state, staging, run_log, newer,
):
    # a status no issue has yet, mapped to a value ESM refuses (the same task file in both runs:
    # a changed one would make the second run fetch everything)
    used = {i["fields"]["status"]["name"] for i in jira_issues(jira, "project = SUP").values()}
    status = next(s.name for s in STATUSES if s.name not in used)
    bad_map = dict(ISSUES_TASK["attributes"]["status"], map={status: "99 - No such status"})
    task = make_task(ISSUES_TASK, attributes=dict(ISSUES_TASK["attributes"], status=bad_map))
    assert run_import(task, jira, esm, state, staging, run_id(1))["refused"] == 0
    watermark = state.get_watermark(task.name)
    # an issue the next run fetches through the overlap, which ESM refuses (no such status)
    jira_sim.admin("POST", "issues", json={
        "project": "SUP", "summary": "Refused in the overlap", "status": status,
        "updated": (watermark - timedelta(seconds=30)).isoformat(),
    })
    if newer:  # and a newer change ESM takes: the hold, not a lack of changes, keeps the watermark
        jira_sim.admin("POST", "issues", json={"project": "SUP", "summary": "A newer change",
                                               "updated": (watermark + timedelta(hours=1)).isoformat()})

    second = run_import(task, jira, esm, state, staging, run_id(2), logger=run_log)

    assert second["refused"] == 1 and second["created"] == int(newer)
    assert state.get_watermark(task.name) == watermark  # not moved back, not past the refused record
    assert second["watermark"] == watermark.isoformat(), "the result names a watermark that was never stored"
    [said] = [m for m in run_log.messages if m.startswith(f"Watermark of '{task.name}'")]
    if not newer:
        assert said == f"Watermark of '{task.name}' stays at {watermark.isoformat()} (nothing newer in this run)."
    else:  # it said "nothing newer in this run" although the run had seen a newer change
        assert said.startswith(f"Watermark of '{task.name}' stays at {watermark.isoformat()} (held back by the record(s)")
        assert (watermark + timedelta(hours=1)).isoformat() in said


def test_a_watermark_held_by_a_refusal_is_reported_in_utc(jira, esm, state, staging, run_log):
    # Jira writes `updated` in the account's time zone (the simulator's: +02:00); the held
    # watermark is an instant like any other and is reported in UTC, as the store keeps it
    bad_map = dict(ISSUES_TASK["attributes"]["status"], map={"Resolved": "99 - No such status"})
    broken = make_task(ISSUES_TASK, attributes=dict(ISSUES_TASK["attributes"], status=bad_map))

    first = run_import(broken, jira, esm, state, staging, run_id(1), logger=run_log)

    assert first["refused"] >= 1
    stored = state.get_watermark(broken.name)
    assert first["watermark"] == stored.isoformat()
    # held before the refused record: the line says so and names the newest change the run saw
    # (it named the held value "the newest 'updated' in this run's data", which it is not)
    newest = max(datetime.strptime(i["fields"]["updated"], "%Y-%m-%dT%H:%M:%S.%f%z")
                 for i in jira_issues(jira, "project = SUP").values()).astimezone(timezone.utc)
    assert stored < newest
    [line] = [m for m in run_log.messages if m.startswith(f"Watermark of '{broken.name}'")]
    assert line.startswith(f"Watermark of '{broken.name}' advanced to {stored.isoformat()} (UTC, held 1 min before")
    assert newest.isoformat() in line and "newest 'updated' in this run's data" not in line
