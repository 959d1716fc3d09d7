"""The on-demand reconciliation DAG: found by Airflow's DagBag in dags/, the ``task`` param is
an enum of the scheduled task files (a wrong name is refused when the run is created), and a
run returns the report as its result."""
from __future__ import annotations

import copy
import shutil

import pytest

from jira_esm_connector.dagfactory.reconcile import RECONCILE_DAG_ID, RECONCILE_TASK_ID, build_reconcile_dag

from .test_import_dags import EXAMPLES, IMPORT_EXAMPLES, REPO_ROOT, _result, _states

def _validated(dag, conf):
    params = copy.deepcopy(dag.params)
    params.update(conf)
    return params.validate()


SCHEDULED = ["jira_comments_to_worklog", "jira_groups_to_groups", "jira_issues_to_incidents", "jira_users_to_persons"]


def test_dagbag_has_the_reconcile_dag_with_an_enum_of_the_scheduled_tasks(monkeypatch, tmp_path):
    from airflow.dag_processing.dagbag import DagBag
    from airflow.sdk.exceptions import ParamValidationError

    monkeypatch.setenv("JIRA_ESM_MAPPINGS_DIR", str(EXAMPLES))
    monkeypatch.setenv("JIRA_ESM_STAGING_DIR", str(tmp_path / "staging"))
    bag = DagBag(dag_folder=str(REPO_ROOT / "dags"))

    assert bag.import_errors == {}
    dag = bag.dags.get(RECONCILE_DAG_ID)
    assert dag is not None and dag.schedule is None and dag.max_active_runs == 1
    assert [t.task_id for t in dag.tasks] == [RECONCILE_TASK_ID]
    assert "reconcile" in dag.tags and "proving nothing is lost" in dag.doc_md
    schema = dag.params.get_param("task").schema
    assert schema["enum"] == SCHEDULED  # event tasks are not offered
    assert dag.params["sample_size"] == 200
    assert _validated(dag, {"task": "jira_users_to_persons"}) == {"task": "jira_users_to_persons", "sample_size": 200}
    for bad in ({"task": "no_such_task"}, {}, {"task": "jira_users_to_persons", "sample_size": -1}):
        with pytest.raises(ParamValidationError):
            _validated(dag, bad)  # what Airflow answers with HTTP 400 when the run is triggered


def test_parsing_does_no_network_or_database_io(no_io_at_parse_time):
    dag = build_reconcile_dag(EXAMPLES)
    assert dag.dag_id == RECONCILE_DAG_ID
    assert not no_io_at_parse_time.exists()


def test_an_empty_task_folder_still_gives_a_valid_dag(tmp_path):
    dag = build_reconcile_dag(tmp_path)
    assert "enum" not in dag.params.get_param("task").schema


def test_a_triggered_run_returns_the_report_and_refuses_an_unknown_task(airflow_db, connector_env, esm_sim, jira_sim):
    from airflow.sdk.exceptions import ParamValidationError

    for path in IMPORT_EXAMPLES:
        if "users" in path.name:
            shutil.copy(path, connector_env / path.name)
    from jira_esm_connector.dagfactory import build_all_dags

    assert str(build_all_dags()["jira_users_to_persons"].test().state) == "success"
    dag = build_reconcile_dag()

    run = dag.test(run_conf={"task": "jira_users_to_persons", "sample_size": 10})

    assert str(run.state) == "success", _states(run)
    report = _result(run, RECONCILE_TASK_ID)
    assert report["task"] == "jira_users_to_persons" and report["jira_records"] == report["esm_active_cards"] > 0
    assert (report["missing_in_esm"], report["not_in_jira"], report["wrongly_removed"], report["duplicate_keys"],
            report["stale"], report["stale_sampled"]) == (0, 0, 0, 0, 0, 10)
    assert report["summary"].startswith("Reconciliation of 'jira_users_to_persons': Jira ")
    with pytest.raises(ParamValidationError):
        dag.test(run_conf={"task": "jira_groups_to_groups_typo"})
    # a key the DAG does not take (Airflow lets it through) fails the run instead of being ignored
    misspelt = dag.test(run_conf={"task": "jira_users_to_persons", "sampel_size": 10})
    assert str(misspelt.state) == "failed", _states(misspelt)


def test_a_missing_task_is_told_apart_from_a_task_file_that_cannot_be_read(tmp_path):
    from jira_esm_connector.config.settings import ConnectorSettings
    from jira_esm_connector.dagfactory.reconcile import run_reconcile

    (tmp_path / "broken.yaml").write_text("name: jira_users_to_persons\nkind: scheduled\nmode: sometimes\n")
    with pytest.raises(Exception) as err:
        run_reconcile("jira_users_to_persons", 0, mappings_dir=tmp_path,
                      settings=ConnectorSettings(state_db_url=f"sqlite:///{tmp_path / 'state.db'}"))
    assert "There is no scheduled task 'jira_users_to_persons'" in str(err.value)
    assert "1 task file(s) could not be read" in str(err.value) and "broken.yaml" in str(err.value)


def test_the_reconcile_and_health_dags_have_deadlines(tmp_path):
    from datetime import timedelta

    from jira_esm_connector.config.settings import ConnectorSettings
    from jira_esm_connector.dagfactory.health import build_health_dag

    settings = ConnectorSettings(state_db_url=f"sqlite:///{tmp_path / 'state.db'}", task_timeout_minutes=30,
                                 run_timeout_minutes=90)
    reconcile_dag = build_reconcile_dag(tmp_path, settings)
    health_dag = build_health_dag(tmp_path, settings)
    assert reconcile_dag.dagrun_timeout == timedelta(minutes=90)
    assert all(t.execution_timeout == timedelta(minutes=90) for t in reconcile_dag.tasks)
    assert health_dag.dagrun_timeout == timedelta(minutes=30)
    assert all(t.execution_timeout == timedelta(minutes=30) for t in health_dag.tasks)
