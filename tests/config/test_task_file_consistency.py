"""Task files and settings that would load although they cannot work are refused (or, for
blank settings, read as "not set")."""
from __future__ import annotations

import pytest

from jira_esm_connector.config import TaskFileError, parse_task
from .test_scheduled import BASE

USER_IMPORT = BASE  # a full user import (tests/config/test_scheduled.py)
GROUP_IMPORT = {**USER_IMPORT, "mapping_type": "group", "template": "group",
                "key": {"jira": "groupId", "esm": "jira_group_id"}}
GENERIC_IMPORT = {**USER_IMPORT, "mapping_type": "generic", "template": "incident", "jql": "project = SUP",
                  "key": {"jira": "key", "esm": "jira_key"}, "attributes": {"subject": "fields.summary"},
                  "removed": {"attribute": "status", "value": "05 - Removed"}}


def refused(data) -> TaskFileError:
    with pytest.raises(TaskFileError) as info:
        parse_task(data, "imp.yaml")
    assert info.value.file == "imp.yaml"
    return info.value


# ---- key.esm / task_id_attribute / removal attribute -------------------------------------

@pytest.mark.parametrize("base, changes, key, named", [
    # the key attribute is overwritten by the task-id stamp (load stamps the card after the
    # transform put the key there): no card is ever found by its key, every run creates all again
    (USER_IMPORT, {"key": {"jira": "accountId", "esm": "task_id"}}, "key.esm", ("key.esm", "task_id_attribute")),
    (USER_IMPORT, {"task_id_attribute": "jira_account_id"}, "task_id_attribute", ("key.esm", "task_id_attribute")),
    # marking a card removed overwrites its key (or its task-id stamp): the card is then no
    # longer found by its key / no longer counted as this task's
    (USER_IMPORT, {"removed": {"attribute": "jira_account_id", "value": "Deleted"}}, "removed.attribute",
     ("key.esm", "removed.attribute")),
    (USER_IMPORT, {"removed": {"attribute": "task_id", "value": "Deleted"}}, "removed.attribute",
     ("task_id_attribute", "removed.attribute")),
    # the default removal attribute counts too (users: accountStatus, groups: status)
    (USER_IMPORT, {"key": {"jira": "accountId", "esm": "accountStatus"}}, "key.esm", ("key.esm", "removed.attribute")),
    (GROUP_IMPORT, {"task_id_attribute": "status"}, "task_id_attribute", ("task_id_attribute", "removed.attribute")),
    # both set in the file: the later key is named
    (GENERIC_IMPORT, {"task_id_attribute": "status"}, "removed.attribute", ("task_id_attribute", "removed.attribute")),
    # incremental imports mark nothing removed, but still stamp the card
    ({**GENERIC_IMPORT, "mode": "incremental", "removed": None}, {"key": {"jira": "key", "esm": "task_id"}},
     "key.esm", ("key.esm", "task_id_attribute")),
])
def test_key_stamp_and_removal_attributes_must_differ(base, changes, key, named):
    err = refused({**base, **changes})
    assert err.key == key, str(err)
    assert all(n in err.message for n in named), err.message
    assert "must be different ESM attributes" in err.message


@pytest.mark.parametrize("data", [
    USER_IMPORT,
    {**USER_IMPORT, "task_id_attribute": "connector_task", "removed": {"attribute": "status", "value": "Gone"}},
    # no removal (removed: false): the default removal attribute is not written, so it is free
    {**USER_IMPORT, "removed": False, "key": {"jira": "accountId", "esm": "accountStatus"}},
    GENERIC_IMPORT,
])
def test_distinct_key_stamp_and_removal_attributes_load(data):
    parse_task(data, "imp.yaml")


# ---- removed.attribute without removed.value ---------------------------------------------

@pytest.mark.parametrize("base, attribute, default_value", [
    (USER_IMPORT, "status", "Deleted"),
    (GROUP_IMPORT, "groupStatus", "5 - Removed"),
])
def test_removal_attribute_without_value_does_not_borrow_another_attributes_default(base, attribute, default_value):
    """``removed: {attribute: status}`` on a user import: the SPEC default value belongs to
    the default attribute (accountStatus = Deleted); it must not be written to another one."""
    err = refused({**base, "removed": {"attribute": attribute}})
    assert err.key == "removed.value"
    assert attribute in err.message and repr(default_value) in err.message


@pytest.mark.parametrize("base, removed, expected", [
    (USER_IMPORT, {"attribute": "accountStatus"}, ("accountStatus", "Deleted")),  # the default attribute: its value
    (USER_IMPORT, {"value": "Gone"}, ("accountStatus", "Gone")),
    (USER_IMPORT, {"attribute": "status", "value": "Gone"}, ("status", "Gone")),
    (GROUP_IMPORT, {"attribute": "status"}, ("status", "5 - Removed")),
    (GROUP_IMPORT, {"max_share": 0.2}, ("status", "5 - Removed")),
])
def test_removal_defaults_fill_in_for_their_own_attribute(base, removed, expected):
    task = parse_task({**base, "removed": removed}, "imp.yaml")
    assert (task.removal.attribute, task.removal.value) == expected


# ---- cache.clear_hours ---------------------------------------------------------------------

@pytest.mark.parametrize("hours", [[6.5], 6.5, [0, 12.25], "6.5"])
def test_fractional_cache_clear_hour_is_refused(hours):
    """``clear_hours: [6.5]`` was silently read as 6 (int(6.5))."""
    err = refused({**USER_IMPORT, "cache": {"clear_hours": hours}})
    assert err.key == "cache.clear_hours"
    assert "whole hours" in err.message


@pytest.mark.parametrize("hours, expected", [([6.0], [6]), (12.0, [12]), ([6.0, 12], [6, 12])])
def test_integer_valued_float_clear_hour_is_the_hour(hours, expected):
    task = parse_task({**USER_IMPORT, "cache": {"clear_hours": hours}}, "imp.yaml")
    assert task.clear_hours() == expected


# ---- event payload fields --------------------------------------------------------------------

COMMENT = {
    "name": "comment_from_esm",
    "kind": "event",
    "operation": "add_comment",
    "jira_conn_id": "jira_default",
    "esm_conn_id": "esm_default",
    "issue": "{{ issue_key }}",
    "comment": "{{ text }}",
}


def comment_task(text_field):
    return {**COMMENT, "payload": {"issue_key": {"required": True}, "text": text_field}}


@pytest.mark.parametrize("text_field, key, reason", [
    # an optional field whose default breaks the field's own rules: every trigger that
    # leaves the field out would be refused (Airflow validates the default; run_event too)
    ({"max_length": 3, "default": "abcdef"}, "default", "6 characters, more than max_length 3"),
    ({"format": "email", "default": "not-an-email"}, "default", "not a valid email"),
    ({"format": "date", "default": "2024-13-01"}, "default", "not a valid date"),
    ({"pattern": "^[A-Z]+$", "default": "lower"}, "default", "does not match pattern '^[A-Z]+$'"),
    ({"min_length": 2, "default": "x"}, "default", "1 character, fewer than min_length 2"),
    # a required field no value can satisfy: the DAG could never run
    ({"required": True, "min_length": 5, "max_length": 3}, "min_length", "must be at most max_length (3)"),
    # an enum value the field's own rules refuse: offered in the trigger form, never accepted
    ({"enum": ["abc", "abcdef"], "max_length": 3}, "enum[1]", "6 characters, more than max_length 3"),
])
def test_payload_field_that_no_trigger_can_satisfy_is_refused_at_load(text_field, key, reason):
    with pytest.raises(TaskFileError) as info:
        parse_task(comment_task(text_field), "comment_from_esm.yaml")
    err = info.value
    assert (err.file, err.key) == ("comment_from_esm.yaml", f"payload.text.{key}")
    assert reason in err.message, err.message


@pytest.mark.parametrize("text_field", [
    {"max_length": 3, "default": "abc"},
    {"format": "email", "default": "ops@example.com"},
    {"pattern": "^[A-Z]+$", "default": "UPPER"},
    {"min_length": 2, "max_length": 2, "default": "xy"},
    {"required": True, "min_length": 3, "max_length": 3},
    {"enum": ["a", "b"], "max_length": 1, "default": "b"},
])
def test_payload_field_default_that_passes_its_own_rules_is_what_an_empty_trigger_gets(text_field):
    from jira_esm_connector.events.runner import check_payload

    task = parse_task(comment_task(text_field), "comment_from_esm.yaml")
    payload = check_payload(task, {"event_id": "e-1", "issue_key": "SUP-1", **({"text": "abc"} if text_field.get("required") else {})})
    assert payload["text"] == text_field.get("default", "abc")


@pytest.mark.parametrize("sent, expected", [(5.0, 5), (5, 5), (-3.0, -3), (10.0**20, 10**20)])
def test_integer_payload_sent_as_float_is_passed_on_as_int(sent, expected):
    """JSON schema's "integer" accepts 5.0, so the trigger and run_event accept it; the value
    is passed on as 5, so "{{ count }}" writes '5' to Jira, not '5.0'."""
    from jira_esm_connector.config import event_renderer
    from jira_esm_connector.events.runner import check_payload

    data = {**COMMENT, "payload": {"issue_key": {"required": True}, "count": {"type": "integer", "required": True}},
            "comment": "Affected users: {{ count }}"}
    task = parse_task(data, "comment_from_esm.yaml")
    payload = check_payload(task, {"event_id": "e-1", "issue_key": "SUP-1", "count": sent})
    assert payload["count"] == expected and type(payload["count"]) is int
    assert event_renderer(task)(payload).comment == f"Affected users: {expected}"


def test_number_payload_keeps_its_float_and_fractional_integer_is_refused():
    from jira_esm_connector.events.errors import PayloadError
    from jira_esm_connector.events.runner import check_payload

    data = {**COMMENT, "payload": {"issue_key": {"required": True}, "count": {"type": "integer"}, "ratio": {"type": "number"}},
            "comment": "{{ count }} {{ ratio }}"}
    task = parse_task(data, "comment_from_esm.yaml")
    payload = check_payload(task, {"event_id": "e-1", "issue_key": "SUP-1", "ratio": 2.0})
    assert payload["ratio"] == 2.0 and type(payload["ratio"]) is float and payload["count"] is None
    with pytest.raises(PayloadError, match="count"):
        check_payload(task, {"event_id": "e-1", "issue_key": "SUP-1", "count": 5.5})


# ---- blank settings ----------------------------------------------------------------------------

@pytest.mark.parametrize("blank", ["", "  "])
def test_empty_path_variables_are_not_set_not_the_current_directory(monkeypatch, tmp_path, blank):
    """``JIRA_ESM_MAPPINGS_DIR=`` (e.g. ``${VAR:-}`` in a compose file) was read as Path(''),
    the process's working directory: the DAG files then read task files from wherever the
    DAG processor happens to run (usually none -> every connector DAG vanishes, with no
    import error). Like JIRA_ESM_STAGING_URL=, an empty value means "not set"."""
    from jira_esm_connector.config import ConnectorSettings

    monkeypatch.setenv("AIRFLOW_HOME", str(tmp_path))
    monkeypatch.setenv("JIRA_ESM_MAPPINGS_DIR", blank)
    monkeypatch.setenv("JIRA_ESM_STAGING_DIR", blank)
    s = ConnectorSettings()
    default = tmp_path / "dags" / ".." / "include" / "mappings"
    assert s.mappings_dir is None
    assert s.task_folder(default) == default
    assert s.task_folder() == tmp_path / "include" / "mappings"
    assert s.staging_dir == tmp_path / "jira_esm_staging"


@pytest.mark.parametrize("var, attr, expected", [
    ("JIRA_ESM_POOL", "pool", "jira_esm_connector"),
    ("JIRA_ESM_TIMEZONE", "timezone", "UTC"),
    ("JIRA_ESM_DATE_FORMAT", "date_format", "%Y-%m-%d"),
    ("JIRA_ESM_DATETIME_FORMAT", "datetime_format", "%Y-%m-%dT%H:%M:%SZ"),
])
def test_empty_text_variables_are_not_set(monkeypatch, var, attr, expected):
    from jira_esm_connector.config import ConnectorSettings

    monkeypatch.setenv(var, "")
    assert getattr(ConnectorSettings(), attr) == expected


def test_empty_state_db_url_is_the_default_sqlite_file(monkeypatch, tmp_path):
    from jira_esm_connector.config import ConnectorSettings

    monkeypatch.setenv("AIRFLOW_HOME", str(tmp_path))
    monkeypatch.setenv("JIRA_ESM_STATE_DB_URL", "")
    assert ConnectorSettings().state_db_url == f"sqlite:///{tmp_path}/jira_esm_state.db"
