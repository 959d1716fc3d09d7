"""A task file may not take the DAG id of one of the connector's own DAGs."""
from __future__ import annotations

from pathlib import Path

import pytest

from jira_esm_connector.config import TaskFileError, load_task_dir
from jira_esm_connector.dagfactory import build_all_dags, task_file_errors
from jira_esm_connector.dagfactory.health import HEALTH_DAG_ID
from jira_esm_connector.dagfactory.reconcile import RECONCILE_DAG_ID

EXAMPLES = Path(__file__).resolve().parents[2] / "include" / "mappings"


@pytest.mark.parametrize("example, old_name", [
    ("event_add_comment.yaml", "add_jira_comment_from_incident"),
    ("import_1_users_to_persons.yaml", "jira_users_to_persons"),
])
@pytest.mark.parametrize("dag_id", [HEALTH_DAG_ID, RECONCILE_DAG_ID])
def test_task_named_like_a_connector_dag_is_a_task_file_error(tmp_path, dag_id, example, old_name):
    """dags/jira_esm_connector_dags.py would define a DAG with the same id as
    dags/jira_esm_connector_health.py / _reconcile.py. Airflow 3 parses each file on its
    own (no duplicate-id check across files): the two definitions would overwrite each other
    on every parse. The file is refused instead, by file and key 'name'."""
    text = (EXAMPLES / example).read_text()
    assert f"\nname: {old_name}" in text
    (tmp_path / "task.yaml").write_text(text.replace(f"\nname: {old_name}", f"\nname: {dag_id}", 1))
    result = load_task_dir(tmp_path)
    assert not result.tasks
    [err] = result.errors
    assert isinstance(err, TaskFileError)
    assert (err.file, err.key) == ("task.yaml", "name")
    assert dag_id in err.message and "choose another name" in err.message
    assert dag_id not in build_all_dags(tmp_path)  # no second definition of the connector's DAG
    problems = task_file_errors(tmp_path)
    assert problems == [str(err)] and str(err).startswith("task.yaml: key 'name': ")
