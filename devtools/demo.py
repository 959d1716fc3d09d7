"""`make demo`: the connector end to end on this machine.

Starts the seeded Jira Cloud simulator and ESM simulator over HTTPS (local CA in
.demo/ca.pem), stores the `jira_default` and `esm_default` connections pointing at them in
Airflow's metadata database (Admin -> Connections lists and tests them), starts Airflow with
the project's DAGs, runs every example import once and one example event of each kind
through the REST API, prints what happened, and keeps everything running until Ctrl-C.

``DEMO_EXECUTOR=standalone`` (default): `airflow standalone`, SQLite under .demo/.
``DEMO_EXECUTOR=celery``: CeleryExecutor as separate processes with two workers
(devtools/airflow_celery.py), PostgreSQL on 127.0.0.1:5432 for Airflow's metadata and the
connector's state (databases DEMO_AIRFLOW_DB, DEMO_STATE_DB), Redis on 127.0.0.1:6379
(database number DEMO_REDIS_DB) as the broker.

Everything persists under .demo/ (the Celery demo: .demo/celery/, and its PostgreSQL
databases): the simulators' data, the connector state, Airflow's metadata, so a second
`make demo` continues from the first. When the folder is new, the PostgreSQL databases and the
Redis database are emptied too, so all of it starts fresh together.
Every default can be overridden by an environment variable (see DEFAULTS).
"""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path


from devtools.airflow_celery import POSTGRES_SERVER, AirflowCelery, ensure_database
from devtools.airflow_standalone import REPO_ROOT, AirflowStandalone, LocalAirflow, connection_json
from devtools.processes import exit_code, start_module, stop_process_groups
from devtools.tls import ensure_tls_material

DEFAULTS = {
    "DEMO_DIR": str(REPO_ROOT / ".demo"),
    "DEMO_EXECUTOR": "standalone",
    "DEMO_AIRFLOW_DB": "jira_esm_demo_airflow",
    "DEMO_STATE_DB": "jira_esm_demo_state",
    "DEMO_REDIS_DB": "5",
    "DEMO_AIRFLOW_PORT": "8080",
    "DEMO_AIRFLOW_USER": "admin",
    "DEMO_AIRFLOW_PASSWORD": "admin",
    "DEMO_JIRA_PORT": "8443",
    "DEMO_JIRA_EMAIL": "demo@example.com",
    "DEMO_JIRA_TOKEN": "demo-token",
    "DEMO_JIRA_SEED": "42",
    "DEMO_ESM_PORT": "8444",
    "DEMO_ESM_USER": "demo",
    "DEMO_ESM_PASSWORD": "demo-password",  # 5+ characters: Airflow masks no shorter secret in logs
}


def setting(name: str) -> str:
    return os.environ.get(name, DEFAULTS[name])


@dataclass
class Service:
    name: str
    proc: subprocess.Popen
    log: Path

    def stop(self) -> None:
        stop_process_groups([self.proc], signal.SIGTERM, timeout=15)


def start_service(name: str, args: list[str], log: Path, ready: str, timeout: float = 120) -> Service:
    """Start `python -m <args>` in its own session and wait for its readiness line in the log."""
    return Service(name, start_module(args, log, ready, name=name, timeout=timeout, new_session=True).proc, log)


def jira_simulator_args(demo_dir: Path) -> list[str]:
    # --parent-pid: the simulators run in their own session (so Ctrl-C reaches only the
    # demo, which stops them in order); if the demo is killed instead, they exit by themselves
    return [
        "devtools.jira_simulator",
        "--host", "127.0.0.1",
        "--port", setting("DEMO_JIRA_PORT"),
        "--seed", setting("DEMO_JIRA_SEED"),
        "--tls-dir", str(demo_dir),
        "--account", f"{setting('DEMO_JIRA_EMAIL')}:{setting('DEMO_JIRA_TOKEN')}",
        # kept like ESM's: a second demo continues with the same issues (seeded only when new)
        "--db", str(demo_dir / "jira-simulator.sqlite"),
        "--parent-pid", str(os.getpid()),
    ]


def esm_simulator_args(demo_dir: Path) -> list[str]:
    return [
        "devtools.esm_simulator",
        "--host", "127.0.0.1",
        "--port", setting("DEMO_ESM_PORT"),
        "--db", str(demo_dir / "esm-simulator.sqlite"),
        "--tls-dir", str(demo_dir),
        "--user", f"{setting('DEMO_ESM_USER')}:{setting('DEMO_ESM_PASSWORD')}",
        "--seed", "42",
        # as many incident cards (keyed SUP-1 ...) as the demo's Jira has SUP issues: a card
        # holding a key Jira has not given yet would be a second card for the issue the demo's
        # create event makes next (SUP-101)
        "--persons", "60", "--groups", "12", "--incidents", "100",
        "--parent-pid", str(os.getpid()),
    ]


def connections(ca_pem: Path) -> dict[str, dict]:
    """`jira_default` and `esm_default` as stored in Airflow's metadata database."""
    return {
        "jira_default": json.loads(connection_json(
            "jira_cloud", f"https://localhost:{setting('DEMO_JIRA_PORT')}", setting("DEMO_JIRA_EMAIL"),
            setting("DEMO_JIRA_TOKEN"), ca_pem=str(ca_pem), expiry_date="2027-11-01",
        )),
        "esm_default": json.loads(connection_json(
            "efecte_esm", f"https://localhost:{setting('DEMO_ESM_PORT')}/rest-api/itsm/v1", setting("DEMO_ESM_USER"),
            setting("DEMO_ESM_PASSWORD"), ca_pem=str(ca_pem),
        )),
    }


def connector_env(demo_dir: Path, ca_pem: Path, *, fresh: bool) -> dict[str, str]:
    """The connector's settings for every Airflow process: its state DB (SQLite under
    standalone; PostgreSQL, which every Celery worker reaches, under Celery) and staging.
    ``fresh``: the simulators start empty, so the PostgreSQL state starts over too (a state
    that remembers cards the new ESM does not have would skip writing them)."""
    if setting("DEMO_EXECUTOR") == "celery":
        state_db_url = ensure_database(POSTGRES_SERVER, setting("DEMO_STATE_DB"), fresh=fresh)
    else:
        state_db_url = f"sqlite:///{demo_dir / 'connector_state.db'}"
    return {
        "JIRA_ESM_STATE_DB_URL": state_db_url,
        "JIRA_ESM_STAGING_DIR": str(demo_dir / "staging"),
        "REQUESTS_CA_BUNDLE": str(ca_pem),
    }


def make_airflow(demo_dir: Path, env: dict[str, str], *, fresh: bool) -> LocalAirflow:
    """The Airflow deployment DEMO_EXECUTOR asks for (standalone or celery); ``fresh``: its
    PostgreSQL metadata DB and Redis broker DB start over with the simulators."""
    common = dict(
        port=int(setting("DEMO_AIRFLOW_PORT")),
        username=setting("DEMO_AIRFLOW_USER"),
        password=setting("DEMO_AIRFLOW_PASSWORD"),
        extra_env=env,
    )
    executor = setting("DEMO_EXECUTOR")
    if executor == "celery":
        return AirflowCelery(
            home=demo_dir / "airflow", log_dir=demo_dir / "logs", metadata_db=setting("DEMO_AIRFLOW_DB"),
            broker_db=int(setting("DEMO_REDIS_DB")), log_path=demo_dir / "logs", fresh=fresh, **common,
        )
    if executor != "standalone":
        raise SystemExit(f"DEMO_EXECUTOR must be 'standalone' or 'celery', not {executor!r}")
    return AirflowStandalone(home=demo_dir / "airflow", log_path=demo_dir / "logs" / "airflow-standalone.log", **common)


def run_examples(airflow: LocalAirflow, ca_pem: Path, since: datetime) -> None:
    """Trigger each example DAG once through the REST API and print the outcome (and that of
    the runs Airflow started itself that had not ended before ``since``, when this demo
    started Airflow).

    Imports that run `after` others are not triggered: as in production, Airflow starts
    them when the imports they follow succeed (Assets), so the demo triggers the head of
    the chain and shows the runs Airflow started -- comments only after the issue cards
    exist. The runs come in file order, so each follower's predecessors have run by then."""
    from devtools.demo_runs import esm_card_resolver, example_runs
    from jira_esm_connector.config import load_task_dir
    from jira_esm_connector.esm import EsmClient

    esm = EsmClient(
        f"https://localhost:{setting('DEMO_ESM_PORT')}/rest-api/itsm/v1",
        setting("DEMO_ESM_USER"),
        setting("DEMO_ESM_PASSWORD"),
        verify=str(ca_pem),
    )
    try:
        runs = example_runs(REPO_ROOT / "include" / "mappings", esm_card_resolver(esm))
    finally:
        esm.close()
    tasks = load_task_dir(REPO_ROOT / "include" / "mappings").tasks
    followers = {name for name, task in tasks.items() if getattr(task, "after", None)}
    for dag_id, conf in runs:
        airflow.wait_for_dag(dag_id)
        # Unpaused import DAGs start their latest scheduled interval on their own: show
        # that first run (it creates the cards), then the manual one (mostly unchanged).
        dag_runs = _own_runs(airflow, dag_id, follower=dag_id in followers, since=since)
        for run in dag_runs:
            result = airflow.last_task_result(dag_id, run["dag_run_id"])
            print(f"  {dag_id} ({run['run_type'].replace('_', ' ')} run): {run['state']}  {_summary(result)}", flush=True)
        if dag_id in followers:
            after = ", ".join(tasks[dag_id].after)
            print(f"  {dag_id}: not triggered by the demo; Airflow runs it after {after}" + ("" if dag_runs else " (no run yet)"), flush=True)
            continue
        resp = airflow.trigger(dag_id, conf)
        if resp.status_code != 200:
            print(f"  {dag_id}: trigger refused: HTTP {resp.status_code} {resp.text[:300]}", flush=True)
            continue
        run_id = resp.json()["dag_run_id"]
        run = airflow.wait_for_run(dag_id, run_id)
        result = airflow.last_task_result(dag_id, run_id)
        print(f"  {dag_id}: {run['state']}  {_summary(result)}", flush=True)


def _own_runs(airflow: LocalAirflow, dag_id: str, *, follower: bool, since: datetime) -> list[dict]:
    """The DAG's runs Airflow started itself (scheduled; for a follower also those its Assets
    started) that had not ended before ``since``, each waited for. A follower is watched until
    Airflow has started it and no further run appeared for 5 s (at most 5 minutes)."""
    deadline, dag_runs, previous = time.monotonic() + 300, [], None
    while True:
        listed = airflow.api("GET", f"/dags/{dag_id}/dagRuns", params={"run_type": "scheduled"}).json().get("dag_runs", [])
        if follower:
            listed += airflow.api("GET", f"/dags/{dag_id}/dagRuns", params={
                "run_type": "asset_triggered", "run_after_gte": since.isoformat()}).json().get("dag_runs", [])
        listed = [r for r in listed if not (r.get("end_date") and datetime.fromisoformat(r["end_date"]) < since)]
        listed.sort(key=lambda run: run.get("run_after") or "")
        dag_runs = [airflow.wait_for_run(dag_id, run["dag_run_id"]) for run in listed]
        if not follower or (dag_runs and len(dag_runs) == previous) or time.monotonic() > deadline:
            return dag_runs
        previous = len(dag_runs)
        time.sleep(5)


def _summary(result: object) -> str:
    """The run's own summary line when it has one, else its result as JSON."""
    if isinstance(result, dict) and isinstance(result.get("summary"), str):
        return result["summary"]
    return json.dumps(result) if result is not None else ""


def _stop_on_sigterm(signum: int, frame: object) -> None:
    raise KeyboardInterrupt  # `kill <pid>` stops everything too, like Ctrl-C


def main() -> int:
    signal.signal(signal.SIGTERM, _stop_on_sigterm)
    demo_dir = Path(setting("DEMO_DIR")).resolve()
    if setting("DEMO_EXECUTOR") == "celery":
        # its own simulators' data and connector state: never mixed with the standalone demo's
        demo_dir = demo_dir / "celery"
    # the databases outside the folder (PostgreSQL, Redis) start over when the folder does
    fresh = not (demo_dir / "esm-simulator.sqlite").exists()
    demo_dir.mkdir(parents=True, exist_ok=True)
    tls = ensure_tls_material(demo_dir)
    services: list[Service] = []
    airflow = make_airflow(demo_dir, connector_env(demo_dir, Path(tls.ca_pem), fresh=fresh), fresh=fresh)
    try:
        print("Starting the Jira Cloud simulator ...", flush=True)
        services.append(
            start_service(
                "Jira simulator",
                jira_simulator_args(demo_dir),
                demo_dir / "logs" / "jira-simulator.log",
                ready=r"Jira simulator ready",
            )
        )
        print("Starting the ESM simulator ...", flush=True)
        services.append(
            start_service(
                "ESM simulator",
                esm_simulator_args(demo_dir),
                demo_dir / "logs" / "esm-simulator.log",
                ready=r"ESM simulator ready",
            )
        )
        print(f"Preparing Airflow's metadata database ({setting('DEMO_EXECUTOR')}): migration, "
              "connections, pool (the first time takes about a minute) ...", flush=True)
        # before any Airflow process starts, so no scheduled run starts without its connections
        airflow.prepare(connections(Path(tls.ca_pem)))
        started = datetime.now(timezone.utc)
        print(f"Starting Airflow ({type(airflow).__name__}) ...", flush=True)
        airflow.start(timeout=300)
        for conn_id in ("jira_default", "esm_default"):
            ok, message = airflow.test_connection_cli(conn_id)
            print(f"  connection {conn_id}: {'OK' if ok else 'FAILED'} - {message}", flush=True)
        print("Running the examples once through the REST API ...", flush=True)
        run_examples(airflow, Path(tls.ca_pem), started)
        print(
            "\nThe demo is running:\n"
            f"  Airflow UI and REST API  {airflow.base_url}   login {airflow.username} / {airflow.password}\n"
            f"  Jira Cloud simulator     https://localhost:{setting('DEMO_JIRA_PORT')}   "
            f"{setting('DEMO_JIRA_EMAIL')} / API token {setting('DEMO_JIRA_TOKEN')}\n"
            f"  ESM simulator            https://localhost:{setting('DEMO_ESM_PORT')}/rest-api/itsm/v1   "
            f"{setting('DEMO_ESM_USER')} / {setting('DEMO_ESM_PASSWORD')}\n"
            f"  local CA certificate     {tls.ca_pem}\n"
            f"  logs                     {demo_dir / 'logs'}\n"
            "Press Ctrl-C to stop everything.",
            flush=True,
        )
        if os.environ.get("DEMO_EXIT_AFTER_EXAMPLES") == "1":
            return 0
        while all(exit_code(s.proc) is None for s in services) and not airflow.exited():
            time.sleep(1)
        print(f"Stopped unexpectedly: {airflow.exited() or 'a simulator'}; shutting down.", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("\nStopping ...", flush=True)
        return 0
    finally:
        airflow.stop()
        for service in services:
            service.stop()


if __name__ == "__main__":
    sys.exit(main())
