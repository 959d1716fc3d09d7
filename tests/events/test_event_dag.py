"""The event DAG builder (no scheduler needed) and the push task's body with real Airflow
connections (AIRFLOW_CONN_* pointing at the simulators)."""
from __future__ import annotations

import pytest
from airflow.sdk.exceptions import AirflowFailException

from devtools.airflow_standalone import connection_json
from jira_esm_connector.config import ConnectorSettings
from jira_esm_connector.dagfactory.events import PUSH_TASK_ID, build_event_dag, execute_event
from tests.fixtures.airflow_e2e import connection_env

from .conftest import example_task, unique


@pytest.fixture
def settings(tmp_path):
    return ConnectorSettings(state_db_url=f"sqlite:///{tmp_path / 'state.db'}", pool="jira_esm_connector", pool_slots=4)


@pytest.fixture
def connections(monkeypatch, jira_sim, esm_sim):
    for name, value in connection_env(jira_sim, esm_sim).items():
        monkeypatch.setenv(name, value)


def test_event_dag_shape(settings):
    dag = build_event_dag(example_task("event_create_issue.yaml"), settings)
    assert dag.dag_id == "create_jira_issue_from_incident"
    assert dag.schedule is None and type(dag.timetable).__name__ == "NullTimetable"  # triggered only
    assert dag.max_active_runs == 1  # SPEC: pushes of a task never overlap
    assert [t.task_id for t in dag.tasks] == [PUSH_TASK_ID]
    assert dag.tasks[0].pool == "jira_esm_connector"
    assert dag.tasks[0].priority_weight > 1  # served before queued import tasks in the pool
    assert "event" in dag.tags and "create_issue" in dag.tags
    params = dag.params
    assert params.get_param("subject").schema["maxLength"] == 255
    assert params.get_param("subject").description == "Incident subject"
    assert None in params.get_param("priority").schema["enum"]  # optional: may be null
    assert "subject" in dag.doc_md and "write" in dag.doc_md.lower()


def test_params_refuse_a_bad_payload_naming_the_field(settings):
    from airflow.sdk.definitions.param import ParamsDict
    from airflow.sdk.exceptions import ParamValidationError

    dag = build_event_dag(example_task("event_create_issue.yaml"), settings)
    params = ParamsDict(dag.params)
    with pytest.raises(ParamValidationError, match="param subject"):
        params.update({"event_id": "e", "datacard_id": "1", "subject": "x" * 300})
        params.validate()
    ok = ParamsDict(dag.params)
    ok.update({"event_id": "e", "datacard_id": "1", "subject": "fine"})
    assert ok.validate()["subject"] == "fine"


def test_push_body_acts_writes_back_and_replays(settings, connections, jira, esm):
    task = example_task("event_create_issue.yaml")
    card = esm.create_card("incident", {"subject": "via hooks"}, folder="incident_management")
    conf = {"event_id": unique(), "datacard_id": card, "subject": "via hooks"}
    first = execute_event(task, conf, owner="manual__1", settings=settings)
    again = execute_event(task, conf, owner="manual__2", settings=settings)
    assert first["replayed"] is False and again == {**first, "replayed": True}
    assert esm.get_card("incident", card).value("jira_key") == first["issue_key"]


def test_push_body_fails_without_retry_on_refusals_and_bad_payloads(settings, connections):
    task = example_task("event_update_issue.yaml")
    with pytest.raises(AirflowFailException, match="SUP-999999"):
        execute_event(task, {"event_id": unique(), "issue_key": "SUP-999999", "subject": "x"}, owner="r1", settings=settings)
    with pytest.raises(AirflowFailException, match="does not take: surprise"):
        execute_event(task, {"event_id": unique(), "issue_key": "SUP-1", "surprise": 1}, owner="r2", settings=settings)


def test_a_wrong_token_fails_at_once_and_never_shows_the_token(settings, monkeypatch, jira_sim):
    secret = "wrong-token-5f1c9a7e"
    monkeypatch.setenv("AIRFLOW_CONN_JIRA_DEFAULT", connection_json(
        "jira_cloud", jira_sim.base_url, jira_sim.email, secret, ca_pem=jira_sim.ca_pem,
    ))
    task = example_task("event_create_issue.yaml", write_back=None)
    with pytest.raises(AirflowFailException) as err:
        execute_event(task, {"event_id": unique(), "subject": "x"}, owner="r1", settings=settings)
    assert "credentials" in str(err.value)
    assert secret not in str(err.value) and secret not in repr(err.value)


def test_push_with_a_sqlite_state_db_under_a_distributed_executor_fails_at_once(tmp_path, monkeypatch, connections):
    # the exactly-once records live in the state DB: one SQLite file per worker would let a
    # re-trigger on another worker create a second issue -- refused as the import steps are
    monkeypatch.setenv("AIRFLOW__CORE__EXECUTOR", "CeleryExecutor")
    settings = ConnectorSettings(state_db_url=f"sqlite:///{tmp_path / 'state.db'}")
    task = example_task("event_create_issue.yaml", write_back=None)
    with pytest.raises(AirflowFailException, match="JIRA_ESM_STATE_DB_URL to a PostgreSQL database"):
        execute_event(task, {"event_id": unique(), "subject": "x"}, owner="r1", settings=settings)
    assert not (tmp_path / "state.db").exists()
