"""The scheduling table judges an import by how often it really runs (its cron and every
import it follows with ``after``), and a task file's yes/no value is refused where a number
is meant."""
from __future__ import annotations


import pytest
import yaml

from jira_esm_connector.config import load_task_dir
from jira_esm_connector.state import StateStore

from tests.fixtures.examples import EXAMPLES, copy_import_examples


# --------------------------------------------------------------------------- scheduling table


def test_import_started_after_an_hourly_import_is_checked_against_the_scheduling_table(tmp_path):
    """The shipped group import has ``schedule: null`` and ``after: [jira_users_to_persons]``
    (hourly), so it runs every hour. With 2,500 groups the vendor's table allows a full group
    import only every 4 h: the health check's schedule warnings name it, although it has no
    cron of its own."""
    from jira_esm_connector.health import schedule_warnings

    result = load_task_dir(EXAMPLES)
    assert not result.errors, result.errors
    groups = result.tasks["jira_groups_to_groups"]
    assert groups.schedule is None and groups.after == ["jira_users_to_persons"] and groups.mode == "full"
    state = StateStore(f"sqlite:///{tmp_path}/state.db")
    try:
        state.record_run("jira_users_to_persons", "scheduled__1", {"fetched": 300}, volume=300)
        state.record_run("jira_groups_to_groups", "scheduled__1", {"fetched": 2500}, volume=2500)
        warnings = schedule_warnings(result.tasks.values(), state)
    finally:
        state.dispose()
    assert "jira_groups_to_groups" in warnings, (
        "a full import of 2,500 groups runs hourly (after the hourly user import) but gets no "
        f"scheduling warning: {warnings}"
    )
    assert "after" in warnings["jira_groups_to_groups"] and "jira_users_to_persons" in warnings["jira_groups_to_groups"]


def test_import_with_a_cron_and_after_is_judged_by_how_often_it_really_runs(tmp_path):
    """A task with both ``after`` and a cron runs on either (AssetOrTimeSchedule): the shipped
    issue import ("30 * * * *" plus after the hourly user import) runs every 30 min -- its own
    file says "every 30 min in all". A full import of 1,500 issues (table: at most hourly) run
    that often gets a scheduling warning, though its cron alone runs hourly."""
    from jira_esm_connector.config.scheduling import schedule_warning

    folder = tmp_path / "mappings"
    folder.mkdir()
    copy_import_examples(folder)
    issues_file = folder / "import_3_issues_to_incidents.yaml"
    data = yaml.safe_load(issues_file.read_text())
    data.update(mode="full", removed={"attribute": "status", "value": "07 - Removed"})
    issues_file.write_text(yaml.safe_dump(data, sort_keys=False))
    result = load_task_dir(folder)
    assert not result.errors, result.errors
    issues = result.tasks["jira_issues_to_incidents"]
    assert issues.schedule == "30 * * * *" and issues.after == ["jira_users_to_persons"]

    warning = schedule_warning(issues, 1500, result.tasks)

    assert warning is not None, "runs every 30 min in all (cron + after an hourly import); 1,500 records need 1 h"
    assert "30 min" in warning, warning


def test_import_after_a_rare_import_is_judged_by_its_own_cron(tmp_path):
    """An hourly cron plus ``after`` a daily import runs at least hourly: 300 records a run
    fit the table (full: every 30 min), so no warning; without the tasks it follows, the cron
    alone is judged as before."""
    from jira_esm_connector.config.scheduling import schedule_warning

    result = load_task_dir(EXAMPLES)
    assert not result.errors, result.errors
    users = result.tasks["jira_users_to_persons"]
    assert schedule_warning(users, 300, result.tasks) is None
    assert schedule_warning(users, 3000, result.tasks) is not None  # full, 3,000 users: every 4 h


# --------------------------------------------------------------------------- task-file values


@pytest.mark.parametrize("key, value, read_as", [
    ("page_size", True, "page_size"),
    ("overlap_minutes", True, "overlap_minutes"),
    ("overlap_minutes", False, "overlap_minutes"),
    ("timeouts", {"task_minutes": True}, "timeouts.task_minutes"),
    ("timeouts", {"run_minutes": True}, "timeouts.run_minutes"),
])
def test_a_yes_no_value_is_refused_where_a_number_is_meant(tmp_path, key, value, read_as):
    """YAML reads ``yes``/``true``/``on`` as a boolean. Where a number is meant (``page_size``,
    ``overlap_minutes``, ``timeouts.task_minutes``) it is refused with an error naming the
    file and the key -- not taken as 1 (one issue per bulkfetch request, every step killed
    after one minute)."""
    folder = tmp_path / "mappings"
    folder.mkdir()
    data = yaml.safe_load((EXAMPLES / "import_3_issues_to_incidents.yaml").read_text())
    data.pop("after", None)
    data[key] = value
    (folder / "issues.yaml").write_text(yaml.safe_dump(data, sort_keys=False))

    result = load_task_dir(folder)

    accepted = result.tasks.get("jira_issues_to_incidents")
    assert accepted is None, f"{key}: {value!r} was accepted as {accepted and getattr(accepted, key)!r}"
    assert any(read_as in str(e) and "issues.yaml" in str(e) for e in result.errors), result.errors
    assert any("number" in str(e) for e in result.errors), result.errors


def test_numbers_are_still_read_as_numbers(tmp_path):
    folder = tmp_path / "mappings"
    folder.mkdir()
    data = yaml.safe_load((EXAMPLES / "import_3_issues_to_incidents.yaml").read_text())
    data.pop("after", None)
    data.update(page_size=250, overlap_minutes=0, timeouts={"task_minutes": 30, "run_minutes": 120})
    (folder / "issues.yaml").write_text(yaml.safe_dump(data, sort_keys=False))

    result = load_task_dir(folder)

    assert not result.errors, result.errors
    task = result.tasks["jira_issues_to_incidents"]
    assert (task.page_size, task.overlap_minutes, task.timeouts.task_minutes, task.timeouts.run_minutes) == (250, 0, 30, 120)


@pytest.mark.parametrize("key", ["max_length", "min_length"])
def test_an_event_fields_length_limit_refuses_a_yes_no_value(key):
    """An event task file's payload field limit ``max_length: true`` would have allowed one
    character: refused, naming the key."""
    from pydantic import ValidationError

    from jira_esm_connector.config.event import PayloadField

    with pytest.raises(ValidationError) as err:
        PayloadField.model_validate({"type": "string", key: True})
    assert key in str(err.value) and "number" in str(err.value)
    assert getattr(PayloadField.model_validate({"type": "string", key: 3}), key) == 3
