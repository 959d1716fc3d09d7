"""A child process that runs one import (or one event) and, when ``FAULT_KILL_AT`` names a
point, SIGKILLs itself there -- no cleanup, no finally blocks, like an OOM kill or a lost
worker. The kill points are test-side wrappers installed here, never code in the connector.

    python -m tests.faults.child SPEC.json      (SPEC: see FaultEnv.child_spec + "task"/"event")

Kill points:

* ``extract-fetch-2``: after the 2nd parallel bulk fetch of the listed records was staged
  (the ids listing itself is complete by then or still paging: the run is half extracted);
* ``cache-after-clear``: diff cleared the task cache, nothing staged or loaded yet;
* ``load-after-esm-answer``: after ESM answered the 2nd bulk PUT, before the load step
  records card ids and fingerprints in the state store;
* ``comment-after-esm-answer``: ESM appended the 2nd comment to a worklog, the comment
  load's fingerprints of that chunk not yet written;
* ``removal-before-mark``: mark_removed found its candidates and forgot their fingerprints,
  ESM not yet asked to mark them;
* ``removal-after-esm-answer``: ESM marked the candidates, the step has not returned;
* ``finish-before-watermark``: everything loaded, the watermark not yet written;
* ``finish-before-run-record``: a full run's starting point for the next one (carry) is
  written, the run's counts and volume not yet;
* ``event-after-jira-answer``: Jira created the issue / comment, the event's outcome not
  yet recorded in the state store;
* ``event-before-write-back``: Jira created the object, its key not yet written back to
  the originating ESM card.

``chunk_size`` in the spec: the ESM bulk chunk size of the run (a few groups need small
chunks to be loaded in more than one).
"""
from __future__ import annotations

import json
import os
import signal
import sys
from typing import Any

KILL_ENV = "FAULT_KILL_AT"


def _die() -> None:
    sys.stdout.flush()
    os.kill(os.getpid(), signal.SIGKILL)


def _kill_after_items(obj: Any, method: str, n: int) -> None:
    original = getattr(obj, method)

    def wrapped(*a: Any, **kw: Any):
        count = 0
        for item in original(*a, **kw):
            yield item
            count += 1
            if count >= n:
                _die()

    setattr(obj, method, wrapped)


def _kill_on_call(obj: Any, method: str, nth: int = 1) -> None:
    """Die at the ``nth`` call, before it does anything."""
    original = getattr(obj, method)
    calls = [0]

    def wrapped(*a: Any, **kw: Any):
        calls[0] += 1
        if calls[0] >= nth:
            _die()
        return original(*a, **kw)

    setattr(obj, method, wrapped)


def _kill_after_call(obj: Any, method: str, nth: int = 1) -> None:
    """Die right after the ``nth`` call returned: it took effect, its caller never hears of it."""
    original = getattr(obj, method)
    calls = [0]

    def wrapped(*a: Any, **kw: Any):
        out = original(*a, **kw)
        calls[0] += 1
        if calls[0] >= nth:
            _die()
        return out

    setattr(obj, method, wrapped)


# kill point -> installs it on (jira, esm, state); mark_removed is the only caller of bulk_import
# (load sends its chunks through iter_bulk_import), so those two points hit only the removal
KILL_POINTS: dict[str, Any] = {
    "extract-fetch-2": lambda jira, esm, state: _kill_after_items(jira, "iter_hydrated", 2),
    "cache-after-clear": lambda jira, esm, state: _kill_after_call(state, "clear_cache"),
    "load-after-esm-answer": lambda jira, esm, state: _kill_after_call(esm, "_put_cards", 2),
    "comment-after-esm-answer": lambda jira, esm, state: _kill_after_call(esm, "add_attribute_value", 2),
    "removal-before-mark": lambda jira, esm, state: _kill_on_call(esm, "bulk_import"),
    "removal-after-esm-answer": lambda jira, esm, state: _kill_after_call(esm, "bulk_import"),
    "finish-before-watermark": lambda jira, esm, state: _kill_on_call(state, "set_watermark"),
    "finish-before-run-record": lambda jira, esm, state: _kill_on_call(state, "record_run"),
    "event-after-jira-answer": lambda jira, esm, state: _kill_on_call(state, "complete_event"),
    "event-before-write-back": lambda jira, esm, state: _kill_on_call(esm, "patch_card"),
}


def main(spec_path: str) -> int:
    from jira_esm_connector.config import parse_task
    from jira_esm_connector.esm import EsmClient
    from jira_esm_connector.events import run_event
    from jira_esm_connector.jira import JiraClient
    from jira_esm_connector.state import StateStore

    from .harness import CHUNK, FAST_RETRY, run_steps

    with open(spec_path, encoding="utf-8") as fh:
        spec = json.load(fh)
    kill_at = os.environ.get(KILL_ENV, "")
    j, e = spec["jira"], spec["esm"]
    jira = JiraClient(j["base_url"], j["email"], j["token"], verify=j["ca"], retry=FAST_RETRY)
    esm = EsmClient(e["base_url"], e["user"], e["password"], verify=e["ca"], retry=FAST_RETRY)
    state = StateStore(spec["state_url"])
    task = parse_task(spec["task"], f"{spec['task']['name']}.yaml")

    if kill_at:
        if kill_at not in KILL_POINTS:
            raise SystemExit(f"unknown kill point {kill_at!r}")
        KILL_POINTS[kill_at](jira, esm, state)

    if "event" in spec:
        result = run_event(task, spec["event"], jira, esm, state, owner=spec.get("owner"))
    else:
        result = run_steps(task, jira, esm, state, spec["staging"], spec["run_id"],
                           chunk_size=spec.get("chunk_size", CHUNK), clear_cache=spec.get("clear_cache", False))
    print(json.dumps({"result": result}, default=str))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1]))
