"""SIGKILL at named points (tests/faults/child.py), then the re-run an Airflow retry or the
next scheduled run would make."""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys

import pytest

from .check import check_import, check_issue_events
from .harness import (
    CREATE_TASK,
    ISSUES_FULL,
    ISSUES_INCREMENTAL,
    REPO_ROOT,
    create_payload,
    event_task,
    import_until_done,
    make_task,
    new_run_id,
    touch_every_issue,
)

KILL_ENV = "FAULT_KILL_AT"


def run_child(env, spec: dict, kill_at: str) -> subprocess.CompletedProcess:
    path = env.workdir / f"spec-{kill_at}.json"
    path.write_text(json.dumps({**env.child_spec(), **spec}))
    pythonpath = os.pathsep.join([str(REPO_ROOT / "plugins"), str(REPO_ROOT), os.environ.get("PYTHONPATH", "")])
    return subprocess.run(
        [sys.executable, "-m", "tests.faults.child", str(path)], cwd=REPO_ROOT, capture_output=True, text=True,
        env={**os.environ, "PYTHONPATH": pythonpath, KILL_ENV: kill_at}, timeout=120,
    )


def _assert_killed(proc: subprocess.CompletedProcess) -> None:
    assert proc.returncode == -signal.SIGKILL, f"child was not killed ({proc.returncode}):\n{proc.stderr[-3000:]}"


@pytest.mark.parametrize(
    "kill_at, base",
    [
        ("extract-fetch-2", ISSUES_FULL),
        ("load-after-esm-answer", ISSUES_FULL),
        ("finish-before-watermark", ISSUES_INCREMENTAL),
    ],
)
def test_sigkill_import_then_rerun(env, report, kill_at, base):
    task = make_task(base)
    if base is ISSUES_FULL and kill_at == "extract-fetch-2":
        import_until_done(env, task, attempts=1)  # cards exist: a half listing must not remove any
        touch_every_issue(env, task)  # the killed run must read them (unchanged ones it would carry)
    run_id = new_run_id(task.name)
    _assert_killed(run_child(env, {"task": base, "run_id": run_id}, kill_at))
    # Airflow's retry of the killed task: the same run, taking over once the dead worker's
    # lease heartbeat has run out
    runs = 1 + import_until_done(env, task, attempts=2, run_id=run_id).runs
    env.calm()
    report(f"SIGKILL import at {kill_at}", runs, check_import(task, env.jira_sim, env.esm()))


def test_sigkill_event_between_jira_answer_and_state_write(env, report):
    """Jira created the issue; the worker dies before the outcome is recorded. The task
    retry (same run id, so it takes the event over at once) must not create a second."""
    raw, task = event_task(CREATE_TASK)
    event_ids = ["kill-1"]
    runs = 0
    for event_id in event_ids:
        owner = f"manual__{event_id}"
        payload = create_payload(event_id)
        _assert_killed(run_child(env, {"task": raw, "event": payload, "owner": owner}, "event-after-jira-answer"))
        from jira_esm_connector.events import run_event

        result = run_event(task, payload, env.jira(), env.esm(), env.state(), owner=owner)
        assert result["issue_key"]
        runs += 2
    env.calm()
    report("SIGKILL event after Jira answered", runs, check_issue_events(env.jira_sim, task.name, event_ids))
