"""A task file that no longer loads stops its import (its DAG is gone): the health check
names the broken file and fails, after checking everything else."""
from __future__ import annotations


import pytest

from jira_esm_connector.config import load_task_dir
from jira_esm_connector.health import HealthCheckFailed, run_health_check
from jira_esm_connector.state import StateStore

# the DAG-test fixtures (Airflow metadata DB, connections to the simulators, a task folder)
from tests.dags.conftest import airflow_db, connector_env  # noqa: F401

from tests.fixtures.examples import EXAMPLES, copy_import_examples


def test_health_dag_fails_naming_a_broken_task_file(airflow_db, connector_env, tmp_path):  # noqa: F811
    """An import that ran fine stops for good when its task file is broken by an edit: its DAG
    disappears (only an import error is left in the Airflow UI). The health DAG, whose job is
    to notice what stopped working, names the broken file and its problem in its report and
    fails."""
    from jira_esm_connector.dagfactory.health import build_health_dag

    from tests.dags.test_import_dags import _result, _states

    copy_import_examples(connector_env)
    users_file = connector_env / "import_1_users_to_persons.yaml"
    users_file.write_text(users_file.read_text().replace("mode: full", "mode: ful", 1))  # a typo in an edit
    state = StateStore(f"sqlite:///{tmp_path}/state.db")
    counts = {"fetched": 12, "created": 12}
    for name in ("jira_users_to_persons", "jira_groups_to_groups", "jira_issues_to_incidents", "jira_comments_to_worklog"):
        state.record_run(name, "scheduled__2026-01-01T00:00:00+00:00", counts, volume=12)
    state.dispose()
    problems = load_task_dir(connector_env).errors
    assert problems and "import_1_users_to_persons.yaml" in str(problems[0])

    run = build_health_dag(connector_env).test()

    report = _result(run, "check") or {}
    said = str(report)
    assert str(run.state) != "success" or "import_1_users_to_persons" in said or "jira_users_to_persons" in said, (
        f"the health check passed ({_states(run)}) without a word about the broken task file: {report}"
    )
    assert str(run.state) != "success", f"the health check passed with a broken task file: {_states(run)}"


def test_the_health_check_lists_broken_task_files_and_fails_after_checking_the_rest(tmp_path, caplog):
    (tmp_path / "users.yaml").write_text((EXAMPLES / "import_1_users_to_persons.yaml").read_text().replace(
        "mode: full", "mode: ful", 1))
    result = load_task_dir(tmp_path)
    assert not result.tasks and len(result.errors) == 1

    with caplog.at_level("ERROR", logger="jira_esm_connector.health"), pytest.raises(HealthCheckFailed) as info:
        run_health_check(result.tasks.values(), task_file_errors=result.errors)

    assert "1 task file(s) are broken" in str(info.value) and "users.yaml: key 'mode'" in str(info.value)
    assert any("Task file broken" in m and "users.yaml" in m for m in caplog.messages)


def test_the_health_check_passes_when_every_task_file_loads():
    report = run_health_check([], task_file_errors=[])
    assert report["task_file_errors"] == []
