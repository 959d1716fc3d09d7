"""transform and diff check the run's lease page by page, as extract does: an attempt whose
task another attempt took over (its heartbeat lapsed: a frozen worker, a state-database blip)
stops before its next page instead of mapping or comparing the rest of the run for nothing,
and never closes its dataset."""
from __future__ import annotations

import time
from datetime import datetime, timedelta, timezone

import pytest

from jira_esm_connector.pipeline import diff, transform
from jira_esm_connector.pipeline.staging import FILE_ROWS, DatasetWriter
from jira_esm_connector.pipeline.transform import TRANSFORM_COLUMNS
from jira_esm_connector.state import LeaseLostError, RunLease

from .conftest import ISSUES_TASK, make_task
from .test_transform_pins import stage_extract

RUN = "scheduled__2026-01-01T00:00:00+00:00"
ROWS = 3 * FILE_ROWS


def _issues(n):
    return [{"key": f"SUP-{i}", "fields": {"summary": f"issue {i}", "status": {"name": "Done"}, "labels": [],
                                           "created": "2026-01-01T00:00:00.000+0000"}} for i in range(1, n + 1)]


def _transformed(path):
    writer = DatasetWriter(path / "transform", TRANSFORM_COLUMNS)
    for start in range(0, ROWS, FILE_ROWS):
        writer.write_page([{"key": f"SUP-{i}", "fingerprint": f"{i:064d}", "data": "{}"}
                           for i in range(start, start + FILE_ROWS)])
    return {"dataset": str(writer.close().path), "carried": 0}


def _check_taken_over_at(state, monkeypatch, task_name, step, call):
    """The step's real lease (state store, heartbeat thread); at the ``call``-th check the
    database stops answering its heartbeat past the TTL and a retry of the step takes over."""
    now = datetime.now(timezone.utc)
    lease = RunLease(state, task_name, RUN, f"{RUN}|{step}|try 1", run_expires_at=now + timedelta(hours=1), ttl_s=0.6)
    lease.acquire()
    renew = state.renew_lease
    calls: list[int] = []

    def blip(*args, **kwargs):
        raise ConnectionError("state database unreachable")

    def check():
        calls.append(1)
        if len(calls) == call:
            monkeypatch.setattr(state, "renew_lease", blip)
            time.sleep(1.0)
            assert state.try_acquire_lease(
                task_name, RUN, f"{RUN}|{step}|try 2", first_step=False,
                holder_expires_at=datetime.now(timezone.utc) + timedelta(minutes=5),
                run_expires_at=datetime.now(timezone.utc) + timedelta(hours=1)).acquired
            monkeypatch.setattr(state, "renew_lease", renew)  # the database is back
        lease.check()

    return lease, check, calls


@pytest.mark.parametrize("step", ["transform", "diff"])
def test_a_step_whose_lease_was_taken_over_stops_before_its_next_page(step, state, tmp_path, monkeypatch):
    task = make_task(ISSUES_TASK)
    run_path = tmp_path / "run"
    if step == "transform":
        source = {**stage_extract(run_path, _issues(ROWS), FILE_ROWS // 2), "fetched": ROWS}
        # checks: one per extracted page; the 3rd finds the lease gone (two pages mapped)
        lease, check, calls = _check_taken_over_at(state, monkeypatch, task.name, step, 3)
        run = lambda: transform(task, source, run_path, guard=check)  # noqa: E731
    else:
        source = _transformed(tmp_path)
        # checks: before the cache clear, one per group of LOOKUP_ROWS rows; the 3rd finds it gone
        lease, check, calls = _check_taken_over_at(state, monkeypatch, task.name, step, 3)
        run = lambda: diff(task, source, state, run_path, guard=check)  # noqa: E731
    try:
        with pytest.raises(LeaseLostError, match=r"another attempt of this run .*try 2.* took the task over"):
            run()
    finally:
        lease.release(run_over=False)
    assert len(calls) == 3  # not one more page read after that
    written = list((run_path / step).glob("attempt-*/*"))
    assert [f.name for f in written if f.name == "_pages.json"] == []  # never closed: no later step reads it
    assert len([f for f in written if f.name.startswith("page-")]) <= 1
    assert state.get_lease(task.name).holder == f"{RUN}|{step}|try 2"  # the retry's, untouched
