"""Benchmark 5: event push latency through Airflow -- trigger to DAG run success on a real
``airflow standalone``, for a no-op one-task DAG (Airflow's floor) and for the
``create_jira_issue_from_incident`` event DAG, and the difference (SPEC section 5: an event
push should finish within about 1 s of the floor).

It starts the Jira and ESM simulators and ``airflow standalone`` (own home, metadata DB,
connector state DB and staging folder under a temporary directory; connections as
``AIRFLOW_CONN_*`` environment variables, as in the end-to-end tests). The DAGs folder is a
temporary folder holding symlinks to the project's ``dags/*.py`` plus the no-op DAG below.

Runs alternate (no-op, event, no-op, event, ...) so that load from elsewhere hits both
alike; the first run of each DAG is a warm-up and not counted. The project's other DAGs
(scheduled imports) are paused before measuring. Each run is triggered with
``POST /api/v2/dags/{dag_id}/dagRuns`` and its state polled every ``POLL_S``; two figures:

* *observed*: from the trigger request to the first poll that sees ``success`` (what a
  waiting ESM workflow sees; includes up to ``POLL_S`` of polling delay);
* *server*: from the trigger request to the run's ``end_date`` (no polling delay).

A breakdown per DAG (medians) tells where the time goes: trigger -> task start (scheduling,
queueing, starting the task process), task start -> end (DAG parse in the task process,
imports, the push itself), task end -> run end (the scheduler marking the run done).
"""
from __future__ import annotations

import os
import time
from datetime import datetime
from pathlib import Path
from typing import Any

from .common import (
    ESM_PASSWORD,
    ESM_USER,
    JIRA_EMAIL,
    JIRA_TOKEN,
    REPO_ROOT,
    BenchResult,
    Budget,
    esm_client,
    no_ca_bundle_env,
    running,
    start_esm_simulator,
    start_jira_simulator,
    summary_ms,
    workspace,
)

NAME = "airflow"
TITLE = "5. Event push latency through Airflow: trigger -> run success, no-op DAG (floor) vs event DAG"

NOOP_DAG_ID = "bench_noop_one_task"
EVENT_DAG_ID = "create_jira_issue_from_incident"
POLL_S = 0.1

NOOP_DAG = f'''"""Benchmark only: Airflow's floor, one task that does nothing."""
from airflow.sdk import DAG, task

with DAG(dag_id="{NOOP_DAG_ID}", schedule=None, catchup=False, is_paused_upon_creation=False):

    @task(task_id="noop")
    def noop():
        return None

    noop()
'''


def _dags_folder(work: Path) -> Path:
    folder = work / "dags"
    folder.mkdir(parents=True, exist_ok=True)
    for path in sorted((REPO_ROOT / "dags").glob("*.py")):
        (folder / path.name).symlink_to(path)
    (folder / "bench_noop_dag.py").write_text(NOOP_DAG)
    return folder


def _connection_env(jira_sim: Any, esm_sim: Any) -> dict[str, str]:
    from devtools.airflow_standalone import connection_json

    return {
        "AIRFLOW_CONN_JIRA_DEFAULT": connection_json("jira_cloud", jira_sim.base_url, JIRA_EMAIL, JIRA_TOKEN,
                                                     ca_pem=jira_sim.ca_pem),
        "AIRFLOW_CONN_ESM_DEFAULT": connection_json("efecte_esm", esm_sim.base_url, ESM_USER, ESM_PASSWORD,
                                                    ca_pem=esm_sim.ca_pem),
    }


def _reset_jira_stats(jira_sim: Any) -> None:
    import requests

    requests.delete(f"{jira_sim.base_url}/_admin/stats", verify=jira_sim.ca_pem, timeout=30).raise_for_status()


def _jira_request_counts(jira_sim: Any) -> dict[str, int]:
    import requests

    stats = requests.get(f"{jira_sim.base_url}/_admin/stats", verify=jira_sim.ca_pem, timeout=30).json()["endpoints"]
    return {k: n for k, n in stats.items() if "/_admin" not in k}


def _quiet(airflow: Any, timeout: float = 120) -> None:
    """Pause every other DAG (the scheduled imports would run now and then, on the same 2
    cores) and wait until none of their tasks is running (the scheduler leaves the runs of a
    paused DAG as they are: they take no resources)."""
    dags = airflow.api("GET", "/dags", params={"limit": 100}).json().get("dags", [])
    for dag in dags:
        if dag["dag_id"] not in (NOOP_DAG_ID, EVENT_DAG_ID) and not dag.get("is_paused"):
            airflow.api("PATCH", f"/dags/{dag['dag_id']}", json={"is_paused": True})
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        busy = airflow.api("GET", "/dags/~/dagRuns/~/taskInstances", params={"state": ["running", "queued"]}).json()
        if not busy.get("total_entries"):
            return
        time.sleep(1)


def _ts(value: str | None) -> float | None:
    return datetime.fromisoformat(value.replace("Z", "+00:00")).timestamp() if value else None


def _one_run(airflow: Any, dag_id: str, conf: dict[str, Any], timeout: float = 300) -> dict[str, Any]:
    """Trigger ``dag_id`` and poll until the run ends; timings in seconds."""
    t_wall = time.time()
    t0 = time.perf_counter()
    resp = airflow.trigger(dag_id, conf)
    if resp.status_code >= 300:
        raise RuntimeError(f"triggering {dag_id} failed: HTTP {resp.status_code} {resp.text[:300]}")
    run_id = resp.json()["dag_run_id"]
    deadline = time.monotonic() + timeout
    while True:
        run = airflow.api("GET", f"/dags/{dag_id}/dagRuns/{run_id}").json()
        if run.get("state") in ("success", "failed"):
            observed = time.perf_counter() - t0
            break
        if time.monotonic() > deadline:
            raise TimeoutError(f"run {run_id} of {dag_id} not finished after {timeout:.0f} s")
        time.sleep(POLL_S)
    if run["state"] != "success":
        raise RuntimeError(f"run {run_id} of {dag_id} ended {run['state']}")
    tis = airflow.api("GET", f"/dags/{dag_id}/dagRuns/{run_id}/taskInstances").json().get("task_instances", [])
    ti = tis[0] if tis else {}
    run_end = _ts(run.get("end_date"))
    ti_start, ti_end = _ts(ti.get("start_date")), _ts(ti.get("end_date"))
    return {
        "run_id": run_id,
        "observed": observed,
        "server": (run_end - t_wall) if run_end else observed,
        "to_task_start": (ti_start - t_wall) if ti_start else None,
        "task": (ti_end - ti_start) if ti_start and ti_end else None,
        "task_end_to_run_end": (run_end - ti_end) if run_end and ti_end else None,
        **_task_log_phases(airflow.home, dag_id, run_id, ti.get("task_id", "")),
    }


def _task_log_phases(home: Path, dag_id: str, run_id: str, task_id: str) -> dict[str, float]:
    """Phases of the task process from its log (JSON lines): DAG file parse, execute (imports,
    connections, clients, the work), post-execute (XCom pushes, state); seconds."""
    import json

    path = home / "logs" / f"dag_id={dag_id}" / f"run_id={run_id}" / f"task_id={task_id}" / "attempt=1.log"
    try:
        lines = [json.loads(line) for line in path.read_text().splitlines() if line.startswith("{")]
    except (OSError, ValueError):
        return {}
    ts = [(_ts(e.get("timestamp")), e) for e in lines if e.get("timestamp")]
    out: dict[str, float] = {}
    parsed = next(((t, e) for t, e in ts if e.get("event") == "Worker startup parse complete"), None)
    if parsed is not None and parsed[1].get("dag_file_parse_ms") is not None:
        out["parse"] = float(parsed[1]["dag_file_parse_ms"]) / 1000
    pre_end = next((t for t, e in ts if parsed and t >= parsed[0] and e.get("event") == "::endgroup::"), None)
    done = next((t for t, e in ts if str(e.get("event", "")).startswith("Done. Returned value")), None)
    if pre_end and done:
        out["execute"] = done - pre_end
    if done and ts:
        out["post_execute"] = ts[-1][0] - done
    return out


def _median_ms(runs: list[dict[str, Any]], key: str) -> float:
    values = [r[key] for r in runs if r.get(key) is not None]
    return summary_ms(values)["p50"]


def _fmt(s: dict[str, float]) -> str:
    return f"{s['p50']:.0f} / {s['p95']:.0f}"


def run(opts: Any) -> BenchResult:
    from devtools.airflow_standalone import AirflowStandalone, free_port

    runs = int(opts.airflow_runs)
    result = BenchResult(NAME, TITLE, params={
        "runs per DAG": runs, "warm-up runs per DAG": 1, "poll interval": f"{POLL_S:g} s",
        "event DAG": EVENT_DAG_ID, "no-op DAG": NOOP_DAG_ID, "TLS": bool(opts.tls),
        "Airflow": "standalone, SQLite metadata DB, LocalExecutor",
    })
    no_ca_bundle_env()
    prefix = f"bench-af-{os.getpid()}-{int(time.time())}"
    started = time.perf_counter()
    noop_runs: list[dict[str, Any]] = []
    jira_calls: dict[str, int] = {}
    event_runs: list[dict[str, Any]] = []
    with workspace("airflow", keep=opts.keep) as work:
        jira_sim = start_jira_simulator(work / "jira", issues=50, projects=3, tls=opts.tls)
        with running(jira_sim):
            esm_sim = start_esm_simulator(work / "esm", incidents=max(runs + 2, 10), persons=10, tls=opts.tls)
            with running(esm_sim):
                with esm_client(esm_sim) as esm:
                    incident_ids = [c.data_card_id for c in esm.iter_cards("incident", data_cards=False, page_size=200)]
                env = _connection_env(jira_sim, esm_sim)
                env.update({
                    "JIRA_ESM_STATE_DB_URL": f"sqlite:///{work / 'connector_state.db'}",
                    "JIRA_ESM_STAGING_DIR": str(work / "staging"),
                    "JIRA_ESM_MAPPINGS_DIR": str(REPO_ROOT / "include" / "mappings"),
                })
                airflow = AirflowStandalone(home=work / "airflow", port=free_port(), dags_folder=_dags_folder(work),
                                            extra_env=env, log_path=work / "airflow-standalone.log")
                t_start = time.perf_counter()
                try:
                    airflow.start(timeout=600)
                    startup_s = time.perf_counter() - t_start
                    airflow.ensure_pool()
                    airflow.wait_for_dag(NOOP_DAG_ID, timeout=300)
                    airflow.wait_for_dag(EVENT_DAG_ID, timeout=300)
                    _quiet(airflow)
                    budget = Budget(float(opts.budget))  # measuring starts here, not start-up

                    def event_conf(i: int) -> dict[str, Any]:
                        return {"event_id": f"{prefix}-{i}", "datacard_id": incident_ids[i % len(incident_ids)],
                                "subject": f"Airflow benchmark incident {i}",
                                "description": "Printer on fire.\n\nSecond paragraph.", "priority": "2 - High"}

                    for i in range(runs + 1):  # run 0 of each DAG is the warm-up
                        if i == 1:
                            _reset_jira_stats(jira_sim)
                        if i > 0 and budget.over():
                            result.notes.append(f"time budget reached: {i - 1} of {runs} runs per DAG timed")
                            break
                        a = _one_run(airflow, NOOP_DAG_ID, {})
                        b = _one_run(airflow, EVENT_DAG_ID, event_conf(i))
                        if i > 0:
                            noop_runs.append(a)
                            event_runs.append(b)
                    jira_calls = _jira_request_counts(jira_sim)
                    last = event_runs[-1] if event_runs else None
                    pushed = airflow.xcom(EVENT_DAG_ID, last["run_id"], "push") if last else None
                    if last and not (isinstance(pushed, dict) and pushed.get("issue_key")):
                        raise RuntimeError(f"the event DAG's result has no issue key: {pushed!r}")
                finally:
                    airflow.stop()
    noop = summary_ms([r["server"] for r in noop_runs])
    event = summary_ms([r["server"] for r in event_runs])
    noop_obs = summary_ms([r["observed"] for r in noop_runs])
    event_obs = summary_ms([r["observed"] for r in event_runs])
    result.add("airflow standalone start-up to healthy", startup_s, "s")
    result.add("no-op DAG (floor): trigger -> run end_date, p50 / p95", _fmt(noop), f"ms (n={noop['n']}, max {noop['max']:.0f})")
    result.add("event DAG: trigger -> run end_date, p50 / p95", _fmt(event), f"ms (n={event['n']}, max {event['max']:.0f})")
    result.add("event DAG above the floor: p50 / p95", f"{event['p50'] - noop['p50']:.0f} / {event['p95'] - noop['p95']:.0f}",
               "ms (target: within about 1,000 ms)")
    result.add("no-op DAG: trigger -> success seen by polling, p50 / p95", _fmt(noop_obs), f"ms (poll every {POLL_S * 1000:.0f} ms)")
    result.add("event DAG: trigger -> success seen by polling, p50 / p95", _fmt(event_obs), f"ms (poll every {POLL_S * 1000:.0f} ms)")
    for label, rs in (("no-op DAG", noop_runs), ("event DAG", event_runs)):
        result.add(f"{label}: medians trigger -> task start / task run / task end -> run end",
                   f"{_median_ms(rs, 'to_task_start'):.0f} / {_median_ms(rs, 'task'):.0f} / {_median_ms(rs, 'task_end_to_run_end'):.0f}",
                   "ms (task run = task process incl. DAG parse, imports, the push)")
    for label, rs in (("no-op DAG", noop_runs), ("event DAG", event_runs)):
        result.add(f"{label}: task log medians DAG file parse / execute / post-execute",
                   f"{_median_ms(rs, 'parse'):.0f} / {_median_ms(rs, 'execute'):.0f} / {_median_ms(rs, 'post_execute'):.0f}",
                   "ms (execute = imports, connections, clients, the push; post-execute = XCom pushes)")
    n = max(1, len(event_runs))
    result.add("event DAG: Jira requests per push", sum(jira_calls.values()) / n,
               "; ".join(f"{c / n:g} x {k}" for k, c in sorted(jira_calls.items())) + " (each task is a new process)")
    result.data.update({
        "jira_requests": jira_calls,
        "noop_ms": noop, "event_ms": event, "noop_observed_ms": noop_obs, "event_observed_ms": event_obs,
        "above_floor_p50_ms": event["p50"] - noop["p50"], "startup_s": startup_s,
        "noop_runs": noop_runs, "event_runs": event_runs,
    })
    result.seconds = time.perf_counter() - started
    return result
