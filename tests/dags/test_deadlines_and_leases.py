"""Import DAGs: deadlines (issue 8 item 4), the per-task lease held by the DAG's tasks
(item 3) and the SQLite-under-a-distributed-executor refusal (small item)."""
from __future__ import annotations

import shutil
from datetime import datetime, timedelta, timezone
from pathlib import Path
from types import SimpleNamespace

import pytest

from jira_esm_connector.dagfactory import build_all_dags
from jira_esm_connector.dagfactory.common import (
    StateDbNotSharedError,
    configured_executor,
    open_state,
    refuse_sqlite_under_distributed_executor,
)
from jira_esm_connector.state import RunLease, StateStore

from .test_import_dags import EXAMPLES, REPO_ROOT, _states

USERS_FILE = EXAMPLES / "import_1_users_to_persons.yaml"


def _with_timeouts(target: Path, text: str) -> None:
    (target / "users.yaml").write_text(USERS_FILE.read_text() + text)


# --------------------------------------------------------------------------- deadlines


def test_dagbag_built_import_dags_have_step_and_run_deadlines(monkeypatch, tmp_path):
    from airflow.dag_processing.dagbag import DagBag

    mappings = tmp_path / "mappings"
    mappings.mkdir()
    shutil.copy(EXAMPLES / "import_3_issues_to_incidents.yaml", mappings)
    _with_timeouts(mappings, "\ntimeouts: {task_minutes: 20, run_minutes: 50}\n")
    monkeypatch.setenv("JIRA_ESM_MAPPINGS_DIR", str(mappings))
    monkeypatch.setenv("JIRA_ESM_STAGING_DIR", str(tmp_path / "staging"))
    monkeypatch.setenv("JIRA_ESM_TASK_TIMEOUT_MINUTES", "45")
    monkeypatch.setenv("JIRA_ESM_RUN_TIMEOUT_MINUTES", "180")

    bag = DagBag(dag_folder=str(REPO_ROOT / "dags"))

    assert bag.import_errors == {}
    issues, users = bag.dags["jira_issues_to_incidents"], bag.dags["jira_users_to_persons"]
    assert issues.dagrun_timeout == timedelta(minutes=180)  # global settings
    assert {t.execution_timeout for t in issues.tasks} == {timedelta(minutes=45)}
    assert users.dagrun_timeout == timedelta(minutes=50)  # the task file's override
    assert {t.execution_timeout for t in users.tasks} == {timedelta(minutes=20)}
    assert "each step 20 min, whole run 50 min" in users.doc_md


def test_default_deadlines_are_one_hour_per_step_and_four_hours_per_run(monkeypatch):
    for var in ("TASK_TIMEOUT_MINUTES", "RUN_TIMEOUT_MINUTES"):
        monkeypatch.delenv(f"JIRA_ESM_{var}", raising=False)
    dag = build_all_dags(EXAMPLES)["jira_issues_to_incidents"]
    assert dag.dagrun_timeout == timedelta(hours=4)
    assert all(t.execution_timeout == timedelta(hours=1) for t in dag.tasks)


def test_step_deadline_longer_than_the_run_deadline_is_an_import_error_naming_file_and_key(monkeypatch, tmp_path):
    from jira_esm_connector.dagfactory import task_file_errors

    _with_timeouts(tmp_path, "\ntimeouts: {task_minutes: 300}\n")  # global run deadline: 240
    monkeypatch.delenv("JIRA_ESM_RUN_TIMEOUT_MINUTES", raising=False)
    errors = task_file_errors(tmp_path)
    assert len(errors) == 1 and errors[0].startswith("users.yaml:")
    assert "key 'timeouts'" in errors[0] and "at least 300" in errors[0]
    assert build_all_dags(tmp_path) == {}


# --------------------------------------------------------------------------- SQLite under a distributed executor


@pytest.mark.parametrize("executor", ["CeleryExecutor", "KubernetesExecutor", "LocalExecutor,CeleryExecutor",
                                      "airflow.providers.celery.executors.celery_executor.CeleryExecutor"])
def test_sqlite_state_db_is_refused_under_a_distributed_executor(executor):
    with pytest.raises(StateDbNotSharedError, match="JIRA_ESM_STATE_DB_URL to a PostgreSQL database"):
        refuse_sqlite_under_distributed_executor("sqlite:////var/lib/airflow/jira_esm_state.db", executor)


@pytest.mark.parametrize("url, executor", [
    ("sqlite:////tmp/s.db", "LocalExecutor"),
    ("sqlite:////tmp/s.db", ""),
    ("postgresql+psycopg2://svc:s3cret@db/state", "CeleryExecutor"),
])
def test_shared_databases_and_single_machine_executors_pass(url, executor):
    refuse_sqlite_under_distributed_executor(url, executor)


def test_open_state_fails_the_task_without_retry_and_without_touching_the_file(monkeypatch, tmp_path):
    from airflow.sdk.exceptions import AirflowFailException

    monkeypatch.setenv("AIRFLOW__CORE__EXECUTOR", "CeleryExecutor")
    assert configured_executor() == "CeleryExecutor"
    settings = SimpleNamespace(state_db_url=f"sqlite:///{tmp_path}/state.db")
    with pytest.raises(AirflowFailException, match="CeleryExecutor, on several machines"):
        with open_state(settings):
            pass
    assert not (tmp_path / "state.db").exists()
    monkeypatch.setenv("AIRFLOW__CORE__EXECUTOR", "LocalExecutor")
    with open_state(settings) as store:
        assert store.schema_version() > 0


# --------------------------------------------------------------------------- the lease in DAG runs


def test_dag_run_holds_the_lease_and_frees_it_at_the_end(airflow_db, connector_env, tmp_path):
    shutil.copy(USERS_FILE, connector_env)
    dag = build_all_dags()["jira_users_to_persons"]

    run = dag.test()

    assert str(run.state) == "success", _states(run)
    lease = StateStore(f"sqlite:///{tmp_path}/state.db").get_lease("jira_users_to_persons")
    assert lease.run_name == run.run_id and lease.owner_run.startswith(f"{run.run_id} (started ")
    assert lease.free(datetime.now(timezone.utc))


def test_lease_left_by_a_run_airflow_already_ended_is_not_waited_out(airflow_db, connector_env, tmp_path, monkeypatch):
    """A run marked failed by an operator between two steps keeps its lease until its
    deadline; the next run asks Airflow, learns that run is over and takes the task."""
    import sqlalchemy as sa

    monkeypatch.setenv("JIRA_ESM_LEASE_WAIT_SECONDS", "1")
    shutil.copy(USERS_FILE, connector_env)
    dag = build_all_dags()["jira_users_to_persons"]
    first = dag.test()
    assert str(first.state) == "success"
    state = StateStore(f"sqlite:///{tmp_path}/state.db")
    with state.engine.begin() as conn:  # as if `first` had been marked failed between extract and transform
        leases = state.tables.leases  # the task's lease only (not the ESM template's write lock)
        conn.execute(sa.update(leases).where(leases.c.task == "jira_users_to_persons").values(
            holder=None, holder_expires_at=None, run_expires_at=datetime.now(timezone.utc) + timedelta(hours=4),
        ))
    assert not state.get_lease("jira_users_to_persons").free(datetime.now(timezone.utc))

    second = dag.test()

    assert str(second.state) == "success", _states(second)
    assert state.get_lease("jira_users_to_persons").run_name == second.run_id
    state.dispose()


def test_dag_run_beside_a_running_one_fails_at_extract_naming_the_other_run(airflow_db, connector_env, esm_sim, tmp_path, monkeypatch):
    monkeypatch.setenv("JIRA_ESM_LEASE_WAIT_SECONDS", "1")
    shutil.copy(USERS_FILE, connector_env)
    dag = build_all_dags()["jira_users_to_persons"]
    state = StateStore(f"sqlite:///{tmp_path}/state.db")
    other = RunLease(state, "jira_users_to_persons", "scheduled__other_deployment", "scheduled__other_deployment|load|try 1",
                     run_expires_at=datetime.now(timezone.utc) + timedelta(hours=1), ttl_s=30)
    other.acquire()
    try:
        run = dag.test()
        states = _states(run)
        assert str(run.state) == "failed" and states["extract"] == "failed", states
        assert states["load"] == "upstream_failed"
        lease = state.get_lease("jira_users_to_persons")
        assert lease.owner_run == "scheduled__other_deployment" and not lease.free(datetime.now(timezone.utc))
        from jira_esm_connector.esm import EsmClient

        esm = EsmClient(esm_sim.base_url, esm_sim.username, esm_sim.password, verify=esm_sim.ca_pem)
        assert list(esm.iter_cards("person")) == []  # nothing written by the refused run
        esm.close()
    finally:
        other.release(run_over=True)
        state.dispose()


def test_a_failure_airflow_will_retry_keeps_the_runs_claim_the_last_one_frees_it():
    from airflow.sdk.exceptions import AirflowFailException, AirflowTaskTerminated, AirflowTaskTimeout

    from jira_esm_connector.dagfactory.imports import _will_not_retry

    ti = SimpleNamespace(task=SimpleNamespace(retries=3), try_number=1, max_tries=3)
    assert not _will_not_retry(ti, RuntimeError("ESM 503"))
    assert not _will_not_retry(ti, AirflowTaskTimeout())  # a step past its deadline is retried
    assert _will_not_retry(ti, AirflowFailException("quality"))
    assert _will_not_retry(ti, AirflowTaskTerminated("SIGTERM"))
    assert _will_not_retry(SimpleNamespace(task=SimpleNamespace(retries=3), try_number=4, max_tries=3), RuntimeError())
    assert _will_not_retry(SimpleNamespace(task=SimpleNamespace(retries=0), try_number=1, max_tries=0), RuntimeError())


def test_later_step_of_a_superseded_run_fails_without_retry_and_writes_nothing(
    airflow_db, connector_env, esm_sim, tmp_path, monkeypatch
):
    import sqlalchemy as sa

    import jira_esm_connector.pipeline as pipeline

    monkeypatch.setenv("JIRA_ESM_TASK_RETRIES", "2")
    monkeypatch.setenv("JIRA_ESM_RETRY_DELAY_S", "1")
    shutil.copy(USERS_FILE, connector_env)
    dag = build_all_dags()["jira_users_to_persons"]
    state = StateStore(f"sqlite:///{tmp_path}/state.db")
    real_extract = pipeline.extract

    def extract_then_lose_the_task(*args, **kwargs):
        result = real_extract(*args, **kwargs)
        # meanwhile this run's lease expired and a newer run (another scheduler) took it over
        with state.engine.begin() as conn:
            conn.execute(sa.update(state.tables.leases).values(
                owner_run="scheduled__newer", run_name="scheduled__newer", holder="scheduled__newer|load|try 1",
                holder_expires_at=datetime.now(timezone.utc) + timedelta(minutes=5),
                run_expires_at=datetime.now(timezone.utc) + timedelta(hours=1),
            ))
        return result

    monkeypatch.setattr(pipeline, "extract", extract_then_lose_the_task)

    run = dag.test()

    states = _states(run)
    assert states["extract"] == "success" and states["transform"] == "failed", states
    ti = next(t for t in run.get_task_instances() if t.task_id == "transform")
    assert ti.try_number == 1  # no retry: it would meet the same answer
    assert state.get_lease("jira_users_to_persons").owner_run == "scheduled__newer"  # untouched
    from jira_esm_connector.esm import EsmClient

    esm = EsmClient(esm_sim.base_url, esm_sim.username, esm_sim.password, verify=esm_sim.ca_pem)
    assert list(esm.iter_cards("person")) == []
    esm.close()
    state.dispose()


@pytest.mark.parametrize("holder", ["between two steps", "in a long load"])
def test_a_run_refused_at_extract_leaves_the_staged_data_of_the_run_holding_the_task(
    holder, airflow_db, connector_env, esm_sim, tmp_path, monkeypatch
):
    """A run that still holds the task (e.g. waiting in the pool between two steps longer
    than the staging retention, or in a load -- or its wait for the ESM template's write
    lock -- that outlasts the retention and even the run's deadline: its heartbeat is live)
    keeps its staged data: another run's extract cleans old run folders only once it holds
    the task itself, so load need not refresh the retention clock."""
    import os
    import time

    from jira_esm_connector.pipeline.staging import Dataset, DatasetWriter, run_dir

    monkeypatch.setenv("JIRA_ESM_LEASE_WAIT_SECONDS", "1")
    shutil.copy(USERS_FILE, connector_env)
    dag = build_all_dags()["jira_users_to_persons"]
    state = StateStore(f"sqlite:///{tmp_path}/state.db")
    loading = holder == "in a long load"
    other = RunLease(state, "jira_users_to_persons", "scheduled__other_deployment", "scheduled__other_deployment|load|try 1",
                     run_expires_at=datetime.now(timezone.utc) + (timedelta(hours=-1) if loading else timedelta(hours=12)),
                     ttl_s=30)
    other.acquire()
    if not loading:
        other.release(run_over=False)  # between two steps: the run keeps the task, no attempt works
    folder = run_dir(tmp_path / "staging", "jira_users_to_persons", "scheduled__other_deployment")
    writer = DatasetWriter(folder / "extract", ["key", "record"])
    writer.write_page([{"key": "1", "record": "{}"}])
    staged = writer.close()
    seven_hours_ago = time.time() - 7 * 3600  # idle beyond the 6 h retention
    os.utime(folder, (seven_hours_ago, seven_hours_ago))
    try:
        run = dag.test()

        states = _states(run)
        assert str(run.state) == "failed" and states["extract"] == "failed", states
        assert Dataset(staged.path).count() == 1  # the holder's next step still finds it

        if not loading:
            other.acquire()
        other.release(run_over=True)  # that run is over: its folder goes with the next run's extract
        os.utime(folder, (seven_hours_ago, seven_hours_ago))
        assert str(dag.test().state) == "success"
        assert not folder.exists()
    finally:
        other.release(run_over=True)  # a no-op unless an assertion failed first
        state.dispose()
