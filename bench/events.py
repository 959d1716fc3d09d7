"""Benchmark 4: event push latency of ``create_issue`` against the simulators, not through Airflow.

Three figures, p50 / p95 over ``--event-runs`` pushes each, every push a new event id:

* the operation function alone: :func:`jira_esm_connector.events.create_issue` with ready
  Jira fields (one ``POST /rest/api/3/issue`` carrying the event property and label);
* the whole event as the DAG's task runs it: :func:`jira_esm_connector.events.run_event`
  with the example task file ``include/mappings/event_create_issue.yaml`` -- payload check,
  exactly-once claim in the state store (SQLite), field mapping incl. resolving the custom
  field by name (``GET /rest/api/3/field``), the create, the write-back of the issue key to
  the ESM incident (``PATCH``), recording the outcome;
* a replay of an already handled event (same event id): answered from the state store.

This is the connector's share of an event push; Airflow's own trigger-to-success floor
(about 2 s on ``airflow standalone``, SPEC section 5) comes on top.
"""
from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Any

from .common import (
    REPO_ROOT,
    BenchResult,
    Budget,
    esm_client,
    jira_client,
    no_ca_bundle_env,
    state_store,
    running,
    start_esm_simulator,
    start_jira_simulator,
    summary_ms,
    workspace,
)

NAME = "events"
TITLE = "4. Event push latency: create_issue (operation function and run_event), no Airflow"

TASK_FILE = REPO_ROOT / "include" / "mappings" / "event_create_issue.yaml"


def _reset_stats(jira_sim: Any, esm_sim: Any) -> None:
    import requests

    requests.delete(f"{jira_sim.base_url}/_admin/stats", verify=jira_sim.ca_pem, timeout=30).raise_for_status()
    requests.post(f"{esm_sim.root_url}/_admin/stats/reset", verify=esm_sim.ca_pem, timeout=30).raise_for_status()


def _request_counts(jira_sim: Any, esm_sim: Any) -> tuple[dict[str, int], dict[str, int]]:
    """API requests each simulator served since the reset (admin calls left out)."""
    import requests

    jira = requests.get(f"{jira_sim.base_url}/_admin/stats", verify=jira_sim.ca_pem, timeout=30).json()["endpoints"]
    esm = requests.get(f"{esm_sim.root_url}/_admin/stats", verify=esm_sim.ca_pem, timeout=30).json()["requests"]
    return ({k: n for k, n in jira.items() if "/_admin" not in k},
            {k: n for k, n in esm.items() if "/rest-api/" in k})


def _fmt(s: dict[str, float]) -> str:
    return f"{s['p50']:.1f} / {s['p95']:.1f}"


def run(opts: Any) -> BenchResult:
    runs = int(opts.event_runs)
    budget = Budget(float(opts.budget))
    result = BenchResult(NAME, TITLE, params={
        "pushes per figure": runs, "Jira issues seeded": int(opts.event_seed_issues),
        "task file": str(TASK_FILE.relative_to(REPO_ROOT)), "state store": "SQLite", "TLS": bool(opts.tls),
    })
    no_ca_bundle_env()
    from jira_esm_connector.config import load_task_file
    from jira_esm_connector.events import create_issue, run_event
    from jira_esm_connector.markers import EventRef

    task = load_task_file(TASK_FILE)
    prefix = f"bench-{os.getpid()}-{int(time.time())}"
    started = time.perf_counter()
    with workspace("events", keep=opts.keep) as work:
        jira_sim = start_jira_simulator(work / "jira", issues=int(opts.event_seed_issues), projects=3, tls=opts.tls)
        with running(jira_sim):
            esm_sim = start_esm_simulator(work / "esm", incidents=max(runs, 10), persons=10, tls=opts.tls)
            with running(esm_sim), jira_client(jira_sim) as jira, esm_client(esm_sim) as esm:
                state = state_store(Path(work) / "state.db")
                try:
                    jira.myself()  # warm the connection pool: every figure is on a warm session
                    # 1. the operation function alone
                    op_samples: list[float] = []
                    keys: set[str] = set()
                    for i in range(runs):
                        if budget.over():
                            break
                        fields = {
                            "project": {"key": "SUP"}, "issuetype": {"name": "Bug"},
                            "summary": f"Benchmark event {i}",
                            "priority": {"name": "High"},
                        }
                        t0 = time.perf_counter()
                        out = create_issue(jira, EventRef(task.name, f"{prefix}-op-{i}"), fields)
                        op_samples.append(time.perf_counter() - t0)
                        keys.add(out["issue_key"])
                    if len(keys) != len(op_samples):
                        raise RuntimeError("create_issue returned the same issue key twice")
                    op = summary_ms(op_samples)

                    # 2. the whole event, as the DAG's task runs it
                    incident_ids = [c.data_card_id for c in esm.iter_cards("incident", data_cards=False, page_size=200)]
                    _reset_stats(jira_sim, esm_sim)
                    ev_samples: list[float] = []
                    conf_of: list[dict[str, Any]] = []
                    for i in range(runs):
                        if budget.over():
                            break
                        conf = {
                            "event_id": f"{prefix}-ev-{i}", "datacard_id": incident_ids[i % len(incident_ids)],
                            "subject": f"Benchmark incident {i}", "description": "Printer on fire.\n\nSecond paragraph.",
                            "priority": "2 - High",
                        }
                        t0 = time.perf_counter()
                        out = run_event(task, conf, jira, esm, state, owner=f"bench__{i}")
                        ev_samples.append(time.perf_counter() - t0)
                        if out.get("replayed") or not out.get("issue_key"):
                            raise RuntimeError(f"run_event did not create an issue: {out}")
                        conf_of.append(conf)
                    ev = summary_ms(ev_samples)
                    jira_calls, esm_calls = _request_counts(jira_sim, esm_sim)
                    written = esm.get_card("incident", conf_of[-1]["datacard_id"]).value("jira_key") if conf_of else None

                    # 3. replays of handled events
                    rp_samples: list[float] = []
                    for conf in conf_of[: max(1, min(len(conf_of), runs))]:
                        t0 = time.perf_counter()
                        out = run_event(task, conf, jira, esm, state, owner="bench__replay")
                        rp_samples.append(time.perf_counter() - t0)
                        if not out.get("replayed"):
                            raise RuntimeError("a replayed event acted again")
                    rp = summary_ms(rp_samples)
                finally:
                    state.dispose()
    result.add("create_issue operation function: p50 / p95", _fmt(op), f"ms (n={op['n']}, max {op['max']:.1f})")
    result.add("run_event create_issue incl. state, /field, write-back: p50 / p95", _fmt(ev), f"ms (n={ev['n']}, max {ev['max']:.1f})")
    result.add("replay of a handled event (same event id): p50 / p95", _fmt(rp), f"ms (n={rp['n']})")
    n = max(1, ev["n"])
    result.add("run_event: Jira requests per push", sum(jira_calls.values()) / n,
               "; ".join(f"{c / n:g} x {k}" for k, c in sorted(jira_calls.items())))
    result.add("run_event: ESM requests per push", sum(esm_calls.values()) / n,
               "; ".join(f"{c / n:g} x {k.replace('/rest-api/itsm/v1', '')}" for k, c in sorted(esm_calls.items())))
    result.data.update({"op_ms": op, "run_event_ms": ev, "replay_ms": rp, "written_back": written,
                        "jira_requests": jira_calls, "esm_requests": esm_calls})
    if op["n"] < runs or ev["n"] < runs:
        result.notes.append("time budget reached: fewer pushes than asked for")
    result.seconds = time.perf_counter() - started
    return result
