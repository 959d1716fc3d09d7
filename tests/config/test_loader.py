"""Loading task files: every example loads; broken files are reported by file and key."""
from __future__ import annotations

import shutil
import textwrap

import pytest

from jira_esm_connector.config import (
    EventTask,
    ScheduledTask,
    TaskFileError,
    load_task_dir,
    load_task_file,
)

GOOD = textwrap.dedent(
    """\
    name: jira_issues
    kind: scheduled
    jira_conn_id: jira_default
    esm_conn_id: esm_default
    schedule: "*/30 * * * *"
    mode: incremental
    mapping_type: generic
    jql: project = SUP
    template: incident
    folder: incident_management
    key: {jira: key, esm: jira_key}
    attributes:
      subject: fields.summary
      status: {from: fields.status.name, map: {"To Do": "01 - New"}, default: "01 - New"}
    """
)


def error_of(path) -> TaskFileError:
    with pytest.raises(TaskFileError) as info:
        load_task_file(path)
    return info.value


def test_all_examples_load(examples):
    result = load_task_dir(examples)
    assert result.errors == []
    names = set(result.tasks)
    assert {"jira_issues_to_incidents", "jira_users_to_persons", "jira_groups_to_groups",
            "jira_comments_to_worklog", "create_jira_issue_from_incident"} <= names
    assert isinstance(result.tasks["jira_issues_to_incidents"], ScheduledTask)
    assert isinstance(result.tasks["create_jira_issue_from_incident"], EventTask)
    assert result.files["jira_users_to_persons"].name == "jira_users_to_persons.yaml"


def test_wrong_literal_names_file_key_and_value(write):
    err = error_of(write("jira_issues.yaml", GOOD.replace("mode: incremental", "mode: ful")))
    assert str(err) == "jira_issues.yaml: key 'mode': must be 'full' or 'incremental', got 'ful'"
    assert err.file == "jira_issues.yaml" and err.key == "mode"


def test_unknown_key_inside_attribute_spec_has_full_path_and_hint(write):
    text = GOOD.replace('map: {"To Do"', 'mapp: {"To Do"')
    err = error_of(write("t.yaml", text))
    assert err.key == "attributes.status.mapp"
    assert "did you mean 'map'" in str(err)


def test_unknown_top_level_key_suggests_spelling(write):
    err = error_of(write("t.yaml", GOOD + "shedule_x: 1\ntemplat: x\n"))
    assert err.key in ("shedule_x", "templat")
    err = error_of(write("t.yaml", GOOD + "templat: x\n"))
    assert str(err) == "t.yaml: key 'templat': unknown key; did you mean 'template'?"


def test_missing_key_is_required(write):
    err = error_of(write("t.yaml", GOOD.replace("esm_conn_id: esm_default\n", "")))
    assert str(err) == "t.yaml: key 'esm_conn_id': is required"


def test_several_problems_are_all_listed(write):
    text = GOOD.replace("mode: incremental", "mode: ful").replace("esm_conn_id: esm_default\n", "")
    err = error_of(write("t.yaml", text))
    keys = {k for k, _ in err.problems}
    assert {"mode", "esm_conn_id"} <= keys
    assert str(err).count("t.yaml:") == 2


def test_yaml_syntax_error_has_line_number(write):
    err = error_of(write("broken.yaml", GOOD + "attributes2: [a, b\nx: 1\n"))
    assert err.line is not None and err.line >= 15
    assert str(err).startswith(f"broken.yaml: line {err.line}: YAML syntax error")


def test_duplicate_key_in_yaml_is_an_error(write):
    err = error_of(write("dup.yaml", GOOD + "mode: full\n"))
    assert "'mode' appears twice (lines 6 and 15)" in str(err)


def test_not_a_mapping_and_empty_and_missing_kind(write):
    assert "must be a mapping" in str(error_of(write("a.yaml", "- 1\n- 2\n")))
    assert str(error_of(write("b.yaml", ""))) == "b.yaml: is empty"
    err = error_of(write("c.yaml", GOOD.replace("kind: scheduled\n", "")))
    assert err.key == "kind" and "scheduled" in err.message
    err = error_of(write("d.yaml", GOOD.replace("kind: scheduled", "kind: sheduled")))
    assert str(err) == "d.yaml: key 'kind': must be 'scheduled' or 'event', got 'sheduled'"


def test_broken_file_does_not_affect_others_and_duplicates_are_reported(tmp_path, examples):
    for p in examples.glob("*.yaml"):
        shutil.copy(p, tmp_path / p.name)
    (tmp_path / "aaa_broken.yaml").write_text(GOOD.replace("mode: incremental", "mode: sometimes"))
    (tmp_path / "zzz_copy.yaml").write_text((examples / "jira_users_to_persons.yaml").read_text())
    (tmp_path / "notes.txt").write_text("not a task")
    (tmp_path / ".hidden.yaml").write_text("garbage: [")
    result = load_task_dir(tmp_path)
    assert len(result.tasks) == len(list(examples.glob("*.yaml")))
    messages = sorted(str(e) for e in result.errors)
    assert len(messages) == 2
    assert messages[0].startswith("aaa_broken.yaml: key 'mode'")
    assert messages[1] == (
        "zzz_copy.yaml: key 'name': name 'jira_users_to_persons' is already used by "
        "jira_users_to_persons.yaml; task names must be unique"
    )


def test_missing_folder_is_an_error(tmp_path):
    result = load_task_dir(tmp_path / "nope")
    assert result.tasks == {} and "does not exist" in str(result.errors[0])


def test_yes_no_stay_text_in_value_maps(write):
    text = GOOD.replace('{"To Do": "01 - New"}', "{Yes: ok, No: nok}")
    task = load_task_file(write("t.yaml", text))
    assert task.attributes["status"].mapping == {"Yes": "ok", "No": "nok"}


def test_a_tag_airflow_would_refuse_is_a_task_file_error_naming_the_key(write):
    # Airflow refuses a DAG tag over 100 characters: the DAG could not be built, with a traceback
    err = error_of(write("t.yaml", GOOD + "tags: [ok, " + "x" * 101 + "]\n"))
    assert err.key == "tags[1]", err.key
    assert "at most 100" in str(err)
    assert load_task_file(write("t.yaml", GOOD + "tags: [" + "x" * 100 + "]\n")).tags == ["x" * 100]
