"""Task files that are valid YAML yet cannot work, refused by file and key without touching the
other tasks:

* a mapping nested hundreds of levels deep (PyYAML's constructor ran out of stack, and the
  DAG file that builds every connector DAG failed: every task's DAG disappeared);
* a cron schedule that never fires (31 February: a DAG that never runs, and the health
  check's interval reckoning failed for every task: refused, such a task never reaches it);
* a quality expectation naming a column the mapping does not produce (every run read all of
  Jira and then failed at the quality gate).
"""
from __future__ import annotations

import re
import shutil
from pathlib import Path

import pytest

from jira_esm_connector.config import TaskFileError, load_task_dir, load_task_file
from jira_esm_connector.dagfactory import build_all_dags, task_file_errors

REPO_ROOT = Path(__file__).resolve().parents[2]
EXAMPLES = REPO_ROOT / "include" / "mappings"
USERS_FILE = EXAMPLES / "import_1_users_to_persons.yaml"
ISSUES_FILE = EXAMPLES / "import_3_issues_to_incidents.yaml"


def _renamed(text: str, name: str) -> str:
    return re.sub(r"(?m)^name: \S+", f"name: {name}", text, count=1)


def _deeply_nested_users_file(depth: int = 400) -> str:
    """The users example under another name, with one attribute written as a mapping nested
    ``depth`` levels deep (well below libyaml's own nesting limit of 1000, and a 3 KiB file)."""
    nested = "{from: " * depth + "displayName" + "}" * depth
    text = _renamed(USERS_FILE.read_text(), "deeply_nested_users")
    return text.replace("display_name: displayName", f"display_name: {nested}", 1)


# ---------------------------------------------------------------------------


def test_a_deeply_nested_task_file_is_reported_and_does_not_take_the_other_tasks_down(tmp_path):
    mappings = tmp_path / "mappings"
    mappings.mkdir()
    shutil.copy(USERS_FILE, mappings / USERS_FILE.name)
    (mappings / "zz_nested.yaml").write_text(_deeply_nested_users_file())

    # the broken file is one error naming it; the good task keeps loading
    result = load_task_dir(mappings)
    assert "jira_users_to_persons" in result.tasks
    assert [e.file for e in result.errors] == ["zz_nested.yaml"]

    # and the DAG factory (what dags/jira_esm_connector_dags.py runs) keeps the good DAG
    assert "jira_users_to_persons" in build_all_dags(mappings)
    assert any("zz_nested.yaml" in p for p in task_file_errors(mappings))


def test_a_deeply_nested_task_file_leaves_the_other_dags_in_airflows_dagbag(monkeypatch, tmp_path):
    from airflow.dag_processing.dagbag import DagBag

    mappings = tmp_path / "mappings"
    mappings.mkdir()
    shutil.copy(USERS_FILE, mappings / USERS_FILE.name)
    (mappings / "zz_nested.yaml").write_text(_deeply_nested_users_file())
    monkeypatch.setenv("JIRA_ESM_MAPPINGS_DIR", str(mappings))
    monkeypatch.setenv("JIRA_ESM_STAGING_DIR", str(tmp_path / "staging"))

    bag = DagBag(dag_folder=str(REPO_ROOT / "dags"))

    errors = {Path(k).name: v for k, v in bag.import_errors.items()}
    # SPEC §4: invalid files are reported by file and key, "and no other task is affected"
    assert "jira_users_to_persons" in bag.dag_ids, errors
    assert set(errors) == {"jira_esm_connector_task_file_errors.py"}, errors
    assert "zz_nested.yaml" in errors["jira_esm_connector_task_file_errors.py"]


# ---------------------------------------------------------------------------

NEVER_FIRES = ["0 0 31 2 *", "0 0 30 2 *", "0 12 31 4,6,9,11 *"]


@pytest.mark.parametrize("cron", NEVER_FIRES)
def test_a_schedule_that_never_fires_is_refused_naming_the_key(tmp_path, cron):
    text = USERS_FILE.read_text().replace('schedule: "0 * * * *"', f'schedule: "{cron}"', 1)
    assert f'schedule: "{cron}"' in text
    path = tmp_path / "users.yaml"
    path.write_text(text)
    # loaded, Airflow would build a DAG that can never run (its next run date
    # cannot be computed), without any error anywhere
    with pytest.raises(TaskFileError) as err:
        load_task_file(path)
    assert err.value.key == "schedule"


# ---------------------------------------------------------------------------


def test_a_quality_expectation_on_a_column_the_mapping_does_not_produce_is_refused(tmp_path):
    text = ISSUES_FILE.read_text().replace(
        "expect_column_values_to_not_be_null: {column: subject}",
        "expect_column_values_to_not_be_null: {column: subjet}", 1,
    )
    assert "{column: subjet}" in text
    path = tmp_path / "issues.yaml"
    path.write_text(text)
    # loaded, every run of the import would extract everything from Jira and
    # fail at the quality gate: 'The column "subjet" in BatchData does not exist.'
    with pytest.raises(TaskFileError) as err:
        load_task_file(path)
    assert (err.value.key or "").startswith("quality[0]")
    assert "subjet" in str(err.value)


def test_quality_columns_of_the_examples_are_still_accepted():
    # the key attribute (key.esm) is a column of the batch too
    for path in (USERS_FILE, ISSUES_FILE):
        load_task_file(path)
