"""The connector on a real distributed Airflow: CeleryExecutor with two workers (separate
processes, each with its own hostname), PostgreSQL for Airflow's metadata, Celery's results
and the connector's state, Redis as the broker (devtools/airflow_celery.py, as
`DEMO_EXECUTOR=celery make demo` runs it), against simulators of its own.

Shown here, everything through the REST API: the example imports and an event push succeed,
their tasks ran on both workers, and ESM and Jira end up as after the single-machine run
(tests/e2e/test_imports.py, test_events.py); a worker killed with SIGKILL in the middle of a
load (ESM made slow with the simulator's latency knob) ends, after Airflow notices the dead
task (heartbeat timeout) and retries it on the other worker, with every issue in ESM exactly
once.

Needs PostgreSQL (127.0.0.1:5432, trust) and Redis (127.0.0.1:6379); skipped with the reason
when Redis or PostgreSQL cannot be reached. Fresh databases every session (dropped, created).
"""
from __future__ import annotations

import json
import socket
import time
import uuid
from collections import Counter

import pytest

from devtools.airflow_celery import POSTGRES_SERVER, AirflowCelery, ensure_database, redis_reachable
from devtools.airflow_standalone import REPO_ROOT, connection_json, free_port
from tests.fixtures.esm_simulator import EsmSimulatorProcess
from tests.fixtures.jira_simulator import start_jira_simulator, stop_jira_simulator

pytestmark = [pytest.mark.airflow_e2e, pytest.mark.celery, pytest.mark.postgres]

IMPORTS = ("jira_users_to_persons", "jira_groups_to_groups", "jira_issues_to_incidents", "jira_comments_to_worklog")
KILLED_LOAD = "jira_issues_to_incidents"
METADATA_DB = "jira_esm_test_celery_airflow"
STATE_DB = "jira_esm_test_celery_state"
BROKER_DB = 7


@pytest.fixture(scope="module")
def services() -> None:
    """Skip (before any simulator starts) without Redis or PostgreSQL."""
    if not redis_reachable():
        pytest.skip("Redis is not reachable on 127.0.0.1:6379 (the Celery broker); CI provides it")
    try:
        ensure_database(POSTGRES_SERVER, STATE_DB, fresh=True)
    except Exception as exc:  # noqa: BLE001 - any connection failure means: no PostgreSQL here
        pytest.skip(f"PostgreSQL is not reachable on 127.0.0.1:5432: {type(exc).__name__}")


@pytest.fixture(scope="module")
def sims(services, tmp_path_factory):
    # more issues than one ESM bulk write (200 cards) takes: the load writes several chunks
    jira = start_jira_simulator(tmp_path_factory.mktemp("celery-jira"), ["--issues", "700"])
    esm = EsmSimulatorProcess(tmp_path_factory.mktemp("celery-esm"))
    try:
        esm.start()
        yield jira, esm
    finally:
        esm.stop()
        stop_jira_simulator(jira)


@pytest.fixture(scope="module")
def celery(sims, tmp_path_factory):
    jira, esm = sims
    root = tmp_path_factory.mktemp("celery-airflow")
    airflow = AirflowCelery(
        home=root / "airflow", port=free_port(), metadata_db=METADATA_DB, broker_db=BROKER_DB, fresh=True,
        worker_concurrency=2,
        # kept in the work tree (git-ignored) so a failed CI run can show them
        log_dir=REPO_ROOT / ".test-logs" / "celery", log_path=REPO_ROOT / ".test-logs" / "celery",
        extra_env={
            "JIRA_ESM_STATE_DB_URL": f"{POSTGRES_SERVER}/{STATE_DB}",
            "JIRA_ESM_STAGING_DIR": str(root / "staging"),
            "JIRA_ESM_MAPPINGS_DIR": str(REPO_ROOT / "include" / "mappings"),
            "JIRA_ESM_RETRY_DELAY_S": "1",
            "JIRA_ESM_LEASE_TTL_SECONDS": "10",
            "JIRA_ESM_ESM_CONCURRENCY": "1",  # one chunk after the other: a kill lands between them
            # nothing runs before the test asks: each import is unpaused when its turn comes
            "AIRFLOW__CORE__DAGS_ARE_PAUSED_AT_CREATION": "True",
            # a task whose worker died is noticed in seconds, not the default 5 minutes
            "AIRFLOW__SCHEDULER__TASK_INSTANCE_HEARTBEAT_TIMEOUT": "20",
            "AIRFLOW__SCHEDULER__TASK_INSTANCE_HEARTBEAT_TIMEOUT_DETECTION_INTERVAL": "2",
        },
    )
    for log in airflow.log_dir.glob("airflow-*.log"):
        log.unlink()
    try:
        airflow.prepare({
            "jira_default": json.loads(connection_json("jira_cloud", jira.base_url, jira.email, jira.token,
                                                       ca_pem=jira.ca_pem)),
            "esm_default": json.loads(connection_json("efecte_esm", esm.base_url, esm.username, esm.password,
                                                      ca_pem=esm.ca_pem)),
        })
        airflow.start(timeout=300)
        yield airflow
    finally:
        airflow.stop()


def _run_import(airflow: AirflowCelery, dag_id: str, conf: dict | None = None, timeout: float = 240) -> dict:
    """Unpause the import and wait for its run: Airflow starts the latest scheduled interval
    of an import with a cron; one that only runs ``after`` others (Assets) is triggered by
    hand at once -- Airflow queues no asset runs for a paused DAG, so none is coming -- and
    any other when Airflow has not started it within 30 s."""
    details = airflow.wait_for_dag(dag_id, timeout=180)
    airflow.api("PATCH", f"/dags/{dag_id}", json={"is_paused": False}).raise_for_status()
    deadline = time.monotonic() + (0 if details.get("timetable_summary") == "Asset" else 30)
    runs: list = []
    while not runs and time.monotonic() < deadline:
        runs = airflow.api("GET", f"/dags/{dag_id}/dagRuns").json().get("dag_runs", [])
        time.sleep(0.5)
    if not runs:
        triggered = airflow.trigger(dag_id, conf or {})
        assert triggered.status_code == 200, f"{dag_id}: no run started after unpausing, trigger refused: {triggered.text}"
        runs = [triggered.json()]
    assert runs, f"{dag_id}: no run started after unpausing"
    run = airflow.wait_for_run(dag_id, runs[0]["dag_run_id"], timeout=timeout)
    airflow.api("PATCH", f"/dags/{dag_id}", json={"is_paused": True})
    return run


def _task_instances(airflow: AirflowCelery, dag_id: str, run_id: str) -> dict[str, dict]:
    tis = airflow.api("GET", f"/dags/{dag_id}/dagRuns/{run_id}/taskInstances").json()["task_instances"]
    return {ti["task_id"]: ti for ti in tis}


def _incident_keys(esm) -> list[str]:
    """The jira_key of every incident card the import made, duplicates included."""
    cards = esm.admin("GET", "cards?template=incident&limit=10000")["cards"]
    return [str(_attr(c, "jira_key")) for c in cards if not c["deleted"] and _attr(c, "task_id") == KILLED_LOAD]


def _attr(card: dict, name: str):
    data = card.get("data") or card.get("attributes") or {}
    value = data.get(name)
    if isinstance(value, dict):
        value = value.get("value")
    if isinstance(value, list) and value:
        value = value[0].get("value") if isinstance(value[0], dict) else value[0]
    return value


@pytest.mark.timeout(600)
def test_a_worker_killed_mid_load_ends_with_esm_complete_and_free_of_duplicates(celery, sims):
    jira, esm = sims
    for conn_id in ("jira_default", "esm_default"):  # stored in the metadata DB: Admin -> Connections
        stored = celery.api("GET", f"/connections/{conn_id}")
        assert stored.status_code == 200, stored.text
        # what the UI's Test button sends: the form without the password (the API server
        # takes the stored one)
        form = {k: stored.json()[k] for k in ("connection_id", "conn_type", "host", "login", "extra")}
        tested = celery.api("POST", "/connections/test", json=form).json()
        assert tested["status"] is True, tested
    assert _run_import(celery, "jira_users_to_persons")["state"] == "success"
    client = jira.client()
    try:
        issue_keys = {i["key"] for i in client.search("project in (SUP, OPS)", fields=["summary"])}
    finally:
        client.close()
    assert len(issue_keys) > 400  # three chunks

    esm.admin("POST", "latency", {"seconds": 1.0})  # every ESM request slow: each chunk takes seconds
    dag_id = KILLED_LOAD
    celery.wait_for_dag(dag_id)
    celery.api("PATCH", f"/dags/{dag_id}", json={"is_paused": False}).raise_for_status()
    load, run_id = None, None
    deadline = time.monotonic() + 240
    while time.monotonic() < deadline:
        runs = celery.api("GET", f"/dags/{dag_id}/dagRuns").json().get("dag_runs", [])
        run_id = runs[0]["dag_run_id"] if runs else None
        load = _task_instances(celery, dag_id, run_id).get("load") if run_id else None
        loaded_before_kill = len(_incident_keys(esm)) if load and load["state"] == "running" else 0
        if loaded_before_kill and load.get("hostname"):
            break
        time.sleep(0.5)
    assert load and load["state"] == "running", f"the load never ran mid-way: {load}"
    assert loaded_before_kill < len(issue_keys), "the load finished before the kill: make ESM slower"

    celery.kill_worker(load["hostname"])  # after the first chunk is in ESM, before the last
    esm.admin("POST", "latency", {"seconds": 0})
    run = celery.wait_for_run(dag_id, run_id, timeout=300)
    celery.api("PATCH", f"/dags/{dag_id}", json={"is_paused": True})

    assert run["state"] == "success", run
    retried = _task_instances(celery, dag_id, run_id)["load"]
    assert retried["try_number"] >= 2, retried  # the dead try was noticed and retried ...
    assert retried["hostname"] != load["hostname"], retried  # ... by the worker that lives
    keys = _incident_keys(esm)
    duplicates = {k: n for k, n in Counter(keys).items() if n > 1}
    assert not duplicates, f"duplicate incident cards after the retry: {duplicates}"
    assert set(keys) == issue_keys  # complete: every issue exactly once
    celery.start_worker(int(load["hostname"].split("@")[0].removeprefix("worker")))  # back to two


@pytest.mark.timeout(600)
def test_imports_and_an_event_run_on_both_workers_as_on_one_machine(celery, sims):
    jira, esm = sims
    ran_on: set[str] = set()
    for dag_id in IMPORTS:
        run = _run_import(celery, dag_id)
        assert run["state"] == "success", (dag_id, run)
        ran_on |= {ti["hostname"] for ti in _task_instances(celery, dag_id, run["dag_run_id"]).values()}
        result = celery.last_task_result(dag_id, run["dag_run_id"])
        assert result["summary"].startswith(f"Import '{dag_id}' finished"), result

    event_id = f"celery-{uuid.uuid4().hex[:8]}"
    celery.wait_for_dag("add_jira_comment_from_incident")
    celery.api("PATCH", "/dags/add_jira_comment_from_incident", json={"is_paused": False}).raise_for_status()
    resp = celery.trigger("add_jira_comment_from_incident",
                          {"event_id": event_id, "issue_key": "SUP-1", "text": f"From a Celery worker {event_id}"})
    assert resp.status_code == 200, resp.text
    run = celery.wait_for_run("add_jira_comment_from_incident", resp.json()["dag_run_id"], timeout=240)
    assert run["state"] == "success", run
    ran_on |= {ti["hostname"] for ti in _task_instances(celery, "add_jira_comment_from_incident",
                                                         run["dag_run_id"]).values()}

    assert {celery.worker_name(1), celery.worker_name(2)} <= ran_on, ran_on

    client = jira.client()
    esm_client = esm.client()
    try:
        comments = [c for c in client.iter_comments("SUP-1") if event_id in json.dumps(c.get("body"))]
        assert len(comments) == 1  # the event landed once
        from jira_esm_connector.esm import eql

        users = {u["accountId"] for u in client.iter_users()}
        persons = [c.value("jira_account_id")
                   for c in esm_client.iter_cards("person", filter=eql.eq("task_id", "jira_users_to_persons"))]
        assert users <= set(persons) and len(persons) == len(set(persons))
        groups = {g["groupId"] for g in client.iter_groups()}
        esm_groups = [c.value("jira_group_id")
                      for c in esm_client.iter_cards("group", filter=eql.eq("task_id", "jira_groups_to_groups"))]
        assert groups <= set(esm_groups) and len(esm_groups) == len(set(esm_groups))
        issues = {i["key"] for i in client.search("project in (SUP, OPS)", fields=["summary"])}
        incident_keys = _incident_keys(esm)
        assert set(incident_keys) == issues and len(incident_keys) == len(issues)
    finally:
        client.close()
        esm_client.close()


def _non_loopback_address() -> str | None:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        try:
            sock.connect(("192.0.2.1", 9))  # UDP: nothing is sent, the route picks the address
        except OSError:
            return None
        address = sock.getsockname()[0]
    return None if address.startswith("127.") else address


def test_the_api_server_listens_on_loopback_only(celery):
    address = _non_loopback_address()
    if address is None:
        pytest.skip("this machine has no non-loopback IPv4 address to try")
    assert celery.api("GET", "/version").status_code == 200  # up, on 127.0.0.1
    with socket.socket() as sock:
        sock.settimeout(5)
        assert sock.connect_ex((address, celery.port)) != 0, f"the API server answers on {address}"
