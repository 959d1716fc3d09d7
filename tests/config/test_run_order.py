"""``after``: a task runs after other imports. Names, self-references and circles are checked
when the folder is loaded; refused tasks get no DAG and an error naming file and key."""
from __future__ import annotations

import shutil
import textwrap
from pathlib import Path

import pytest

from jira_esm_connector.config import TaskFileError, load_task_dir, load_task_file
from jira_esm_connector.config.ordering import find_cycles

USERS = textwrap.dedent(
    """\
    name: {name}
    kind: scheduled
    jira_conn_id: jira_default
    esm_conn_id: esm_default
    schedule: {schedule}
    mode: full
    mapping_type: user
    template: person
    folder: persons
    key: {{jira: accountId, esm: jira_account_id}}
    attributes: {{email: emailAddress}}
    """
)
EXAMPLES = Path(__file__).parent / "examples"


def _task(folder, file: str, name: str, after=None, schedule: str = "null") -> None:
    text = USERS.format(name=name, schedule=schedule)
    if after is not None:
        text += f"after: {after}\n"
    (folder / file).write_text(text)


def _errors(result) -> dict[str, TaskFileError]:
    return {e.file: e for e in result.errors}


def test_a_chain_loads_and_keeps_its_order(tmp_path):
    _task(tmp_path, "a.yaml", "users", schedule='"0 * * * *"')
    _task(tmp_path, "b.yaml", "groups", after="[users]")
    _task(tmp_path, "c.yaml", "issues", after="users")  # one name without brackets is a list of one
    _task(tmp_path, "d.yaml", "comments", after="[issues, groups]")

    result = load_task_dir(tmp_path)

    assert result.errors == []
    assert result.tasks["users"].after == []
    assert result.tasks["issues"].after == ["users"]
    assert result.tasks["comments"].after == ["issues", "groups"]


def test_an_unknown_name_is_refused_with_did_you_mean_and_the_others_load(tmp_path):
    _task(tmp_path, "a.yaml", "jira_users_to_persons")
    _task(tmp_path, "b.yaml", "groups", after="[jira_users_to_person]")

    result = load_task_dir(tmp_path)

    assert set(result.tasks) == {"jira_users_to_persons"} and "groups" not in result.files
    [err] = result.errors
    assert str(err).startswith("b.yaml: key 'after[0]': there is no import task named 'jira_users_to_person'")
    assert "(did you mean 'jira_users_to_persons'?); if its file has an error, fix that first" in str(err)


def test_an_event_task_cannot_be_followed(tmp_path):
    shutil.copy(EXAMPLES / "create_jira_user.yaml", tmp_path / "e.yaml")
    _task(tmp_path, "b.yaml", "groups", after="[create_jira_user]")

    result = load_task_dir(tmp_path)

    assert set(result.tasks) == {"create_jira_user"}
    assert str(_errors(result)["b.yaml"]) == (
        "b.yaml: key 'after[0]': 'create_jira_user' is an event task (kind: event); a task can only run "
        "after imports (kind: scheduled)"
    )


def test_a_self_reference_is_refused_by_the_model(tmp_path):
    _task(tmp_path, "a.yaml", "users", after="[users]")
    with pytest.raises(TaskFileError) as info:
        load_task_file(tmp_path / "a.yaml")
    assert str(info.value) == "a.yaml: key 'after[0]': 'users' is this task itself; a task cannot run after itself"


@pytest.mark.parametrize(
    "value, message",
    [
        ("[users, users]", "key 'after[1]': 'users' is listed twice"),
        ("{users: 1}", "key 'after': must be a list of import task names"),
        ("[12]", "key 'after[0]': must be text, got 12"),
        ("['no spaces']", "key 'after[0]': 'no spaces' is not a valid Airflow DAG id"),
    ],
)
def test_malformed_after_values_name_the_key(tmp_path, value, message):
    _task(tmp_path, "a.yaml", "groups", after=value)
    with pytest.raises(TaskFileError) as info:
        load_task_file(tmp_path / "a.yaml")
    assert message in str(info.value), str(info.value)


def test_a_circle_refuses_every_task_on_it_and_those_after_them(tmp_path):
    _task(tmp_path, "a.yaml", "users", schedule='"0 * * * *"')
    _task(tmp_path, "b.yaml", "issues", after="[users, comments]")
    _task(tmp_path, "c.yaml", "comments", after="[worklogs]")
    _task(tmp_path, "d.yaml", "worklogs", after="[issues]")
    _task(tmp_path, "e.yaml", "reports", after="[worklogs]")  # not on the circle, but after it

    result = load_task_dir(tmp_path)

    assert set(result.tasks) == {"users"}
    errors = _errors(result)
    assert set(errors) == {"b.yaml", "c.yaml", "d.yaml", "e.yaml"}
    circle = "comments -> worklogs -> issues -> comments"
    assert str(errors["b.yaml"]) == (
        "b.yaml: key 'after[1]': these tasks run after each other in a circle, so none of them would ever "
        f"start: {circle} (each runs after the next); remove one of these names from 'after'"
    )
    assert errors["c.yaml"].key == "after[0]" and circle in str(errors["c.yaml"])
    assert errors["d.yaml"].key == "after[0]" and circle in str(errors["d.yaml"])
    assert str(errors["e.yaml"]).startswith(
        "e.yaml: key 'after[0]': 'worklogs' (d.yaml) has a problem of its own (see its error)"
    )


def test_a_task_after_a_broken_file_is_refused_too_never_run_out_of_order(tmp_path):
    _task(tmp_path, "a.yaml", "users")
    (tmp_path / "a.yaml").write_text((tmp_path / "a.yaml").read_text().replace("mode: full", "mode: ful"))
    _task(tmp_path, "b.yaml", "groups", after="[users]")
    _task(tmp_path, "c.yaml", "issues", after="[groups]")

    result = load_task_dir(tmp_path)

    assert result.tasks == {}
    errors = _errors(result)
    assert errors["a.yaml"].key == "mode"
    assert str(errors["b.yaml"]).startswith("b.yaml: key 'after[0]': there is no import task named 'users'")
    assert "if its file has an error, fix that first" in str(errors["b.yaml"])
    assert str(errors["c.yaml"]).startswith("c.yaml: key 'after[0]': 'groups' (b.yaml) has a problem of its own")


def test_find_cycles_walks_long_chains_without_recursion():
    chain = {f"t{i}": [f"t{i + 1}"] for i in range(5000)}
    assert find_cycles(chain) == []
    chain["t5000"] = ["t0"]
    [cycle] = find_cycles(chain)
    assert len(cycle) == 5001 and cycle[0] == "t0"
    assert find_cycles({"a": ["b"], "b": ["a"], "c": ["c"]}) == [["a", "b"], ["c"]]
