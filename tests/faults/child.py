"""A child process that runs one import (or one event) and, when ``FAULT_KILL_AT`` names a
point, SIGKILLs itself there -- no cleanup, no finally blocks, like an OOM kill or a lost
worker. The kill points are test-side wrappers installed here, never code in the connector.

    python -m tests.faults.child SPEC.json      (SPEC: see FaultEnv.child_spec + "task"/"event")

Kill points:

* ``extract-fetch-2``: after the 2nd parallel bulk fetch of the listed records was staged
  (the ids listing itself is complete by then or still paging: the run is half extracted);
* ``load-after-esm-answer``: after ESM answered the 2nd bulk PUT, before the load step
  records card ids and fingerprints in the state store;
* ``finish-before-watermark``: everything loaded, the watermark not yet written;
* ``event-after-jira-answer``: Jira created the issue / comment, the event's outcome not
  yet recorded in the state store.
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
    original = getattr(obj, method)
    calls = [0]

    def wrapped(*a: Any, **kw: Any):
        calls[0] += 1
        if calls[0] >= nth:
            _die()
        return original(*a, **kw)

    setattr(obj, method, wrapped)


def main(spec_path: str) -> int:
    from jira_esm_connector.config import parse_task
    from jira_esm_connector.esm import EsmClient
    from jira_esm_connector.events import run_event
    from jira_esm_connector.jira import JiraClient
    from jira_esm_connector.state import StateStore

    from .harness import FAST_RETRY, run_steps

    with open(spec_path, encoding="utf-8") as fh:
        spec = json.load(fh)
    kill_at = os.environ.get(KILL_ENV, "")
    j, e = spec["jira"], spec["esm"]
    jira = JiraClient(j["base_url"], j["email"], j["token"], verify=j["ca"], retry=FAST_RETRY)
    esm = EsmClient(e["base_url"], e["user"], e["password"], verify=e["ca"], retry=FAST_RETRY)
    state = StateStore(spec["state_url"])
    task = parse_task(spec["task"], f"{spec['task']['name']}.yaml")

    if kill_at == "extract-fetch-2":
        _kill_after_items(jira, "iter_hydrated", 2)
    elif kill_at == "load-after-esm-answer":
        original = esm._put_cards
        calls = [0]

        def put_then_maybe_die(*a: Any, **kw: Any):
            out = original(*a, **kw)
            calls[0] += 1
            if calls[0] >= 2:  # ESM saved the chunk; the state store never hears of it
                _die()
            return out

        esm._put_cards = put_then_maybe_die
    elif kill_at == "finish-before-watermark":
        _kill_on_call(state, "set_watermark")
    elif kill_at == "event-after-jira-answer":
        _kill_on_call(state, "complete_event")
    elif kill_at:
        raise SystemExit(f"unknown kill point {kill_at!r}")

    if "event" in spec:
        result = run_event(task, spec["event"], jira, esm, state, owner=spec.get("owner"))
    else:
        result = run_steps(task, jira, esm, state, spec["staging"], spec["run_id"])
    print(json.dumps({"result": result}, default=str))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1]))
