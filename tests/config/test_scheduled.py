"""ScheduledTask validation rules and derived values."""
from __future__ import annotations

import copy

import pytest

from jira_esm_connector.config import (
    ConnectorSettings,
    ScheduledTask,
    TaskFileError,
    load_task_file,
    parse_task,
)
from jira_esm_connector.mapping import Reference, compile_attributes

BASE = {
    "name": "imp",
    "kind": "scheduled",
    "jira_conn_id": "jira_default",
    "esm_conn_id": "esm_default",
    "schedule": "@hourly",
    "mode": "full",
    "mapping_type": "user",
    "template": "person",
    "folder": "persons",
    "key": {"jira": "accountId", "esm": "jira_account_id"},
    "attributes": {"name": "displayName"},
}


def task(**changes) -> ScheduledTask:
    data = copy.deepcopy(BASE)
    for k, v in changes.items():
        if v is ...:
            data.pop(k, None)
        else:
            data[k] = v
    return parse_task(data, "t.yaml")  # type: ignore[return-value]


def problem(**changes) -> TaskFileError:
    with pytest.raises(TaskFileError) as info:
        task(**changes)
    return info.value


@pytest.mark.parametrize("kind", ["user", "group"])
def test_incremental_refused_for_users_and_groups(kind):
    err = problem(mode="incremental", mapping_type=kind)
    assert err.key == "mode"
    assert err.message == (
        f"incremental imports need a change timestamp, which Jira does not keep for {kind}s; use mode: full"
    )


@pytest.mark.parametrize("name", ["has space", "ümlaut", "a/b", "x" * 251, ""])
def test_name_must_be_a_dag_id(name):
    err = problem(name=name)
    assert err.key == "name"


@pytest.mark.parametrize("schedule", ["*/30 * * * *", "@hourly", "@daily", "0 6,12 * * 1-5", None])
def test_valid_schedules(schedule):
    assert task(schedule=schedule).schedule == schedule


@pytest.mark.parametrize("schedule,words", [
    ("61 * * * *", "not a valid cron"),
    ("every hour", "5 fields"),
    ("@sometimes", "unknown preset"),
    ("@once", "unknown preset"),
    (30, "must be a cron expression"),
])
def test_invalid_schedules(schedule, words):
    err = problem(schedule=schedule)
    assert err.key == "schedule" and words in err.message


def test_jql_rules():
    assert problem(mapping_type="generic", template="incident", removed=False).key == "jql"
    assert "only for generic and comment" in problem(jql="project = X").message


def test_generic_full_requires_removal_choice():
    base = dict(mapping_type="generic", template="incident", jql="project = SUP",
                key={"jira": "key", "esm": "jira_key"}, attributes={"subject": "fields.summary"})
    err = problem(**base)
    assert err.key == "removed" and "removed: false" in err.message
    assert task(**base, removed=False).removal is None
    t = task(**base, removed={"attribute": "status", "value": "07 - Removed"})
    assert (t.removal.attribute, t.removal.value, t.removal.max_share) == ("status", "07 - Removed", 0.5)
    assert problem(**base, removed={"attribute": "status"}).key == "removed.value"


def test_removal_defaults_per_mapping_type():
    assert (task().removal.attribute, task().removal.value) == ("accountStatus", "Deleted")
    g = task(mapping_type="group", template="group", key={"jira": "groupId", "esm": "jira_group_id"})
    assert (g.removal.attribute, g.removal.value) == ("status", "5 - Removed")
    t = task(removed={"max_share": 0.2})
    assert t.removal.max_share == 0.2 and t.removal.value == "Deleted"
    assert problem(removed={"max_share": 1.5}).key == "removed.max_share"
    assert problem(removed="yes").key == "removed"


def test_max_share_of_one_is_refused_because_it_switches_the_safety_limit_off():
    # a share can never exceed 1: `max_share: 1` used to disable the removal safety net silently
    err = problem(removed={"max_share": 1})
    assert err.key == "removed.max_share"
    assert "less than 1" in err.message and "allow_mass_removal" in err.message
    assert problem(removed={"max_share": 0}).key == "removed.max_share"
    assert task(removed={"max_share": 0.99}).removal.max_share == 0.99


def test_max_shrink_default_and_bounds():
    assert task().removal.max_shrink == 0.10
    assert task(removed={"max_shrink": 0}).removal.max_shrink == 0
    assert task(removed={"max_shrink": 0.25, "max_share": 0.3}).removal.max_shrink == 0.25
    err = problem(removed={"max_shrink": 1})
    assert err.key == "removed.max_shrink" and "allow_shrink" in err.message
    assert problem(removed={"max_shrink": -0.1}).key == "removed.max_shrink"


def test_reactivate_needs_an_active_value_unless_the_mapping_sets_the_attribute():
    assert task().removal.reactivate is False  # the vendor never re-enables: opt-in only
    # the mapping does not set accountStatus: where would the card go back to?
    err = problem(removed={"reactivate": True})
    assert err.key == "removed.active_value" and "accountStatus" in err.message
    t = task(removed={"reactivate": True, "active_value": "Active"})
    assert (t.removal.reactivate, t.removal.active_value, t.removal.value) == (True, "Active", "Deleted")
    mapped = task(removed={"reactivate": True},
                  attributes={"name": "displayName", "accountStatus": {"from": "active", "map": {True: "Active"}}})
    assert mapped.removal.reactivate and mapped.removal.active_value is None
    assert problem(removed={"reactivate": True, "active_value": "Deleted"}).key == "removed.active_value"


def test_incremental_does_not_mark_removed():
    gen = dict(mapping_type="generic", template="incident", jql="project = SUP", mode="incremental",
               attributes={"name": "fields.summary"}, key={"jira": "key", "esm": "jira_key"})
    assert task(**gen).removal is None
    err = problem(**gen, removed={"attribute": "status", "value": "x"})
    assert err.key == "removed" and "only full imports" in err.message


def test_key_folder_attributes_required_except_for_comments():
    assert problem(key=...).key == "key"
    assert problem(folder=...).key == "folder"
    assert problem(attributes={}).key == "attributes"


def test_task_id_attribute_must_not_be_mapped():
    err = problem(attributes={"task_id": "accountId"})
    assert err.key == "attributes.task_id"
    assert task(task_id_attribute="source_task").task_id_attribute == "source_task"


def test_cache_hours_override_and_default():
    assert task().clear_hours() == [0]
    assert task().clear_hours([6, 12]) == [6, 12]
    assert task(cache={"clear_hours": "6,12"}).clear_hours([0]) == [6, 12]
    assert task(cache={"clear_hours": []}).clear_hours([0]) == []
    assert problem(cache={"clear_hours": [24]}).key == "cache.clear_hours"


def test_quality_expectations_validated():
    t = task(quality=[{"expect_column_values_to_not_be_null": {"column": "name"}},
                      "expect_table_row_count_to_be_between"])
    assert t.quality[0].class_name == "ExpectColumnValuesToNotBeNull"
    assert t.quality[0].kwargs == {"column": "name"}
    assert t.quality[1].kwargs == {}
    err = problem(quality=[{"expect_column_values_to_be_nul": {"column": "x"}}])
    assert err.key == "quality[0]" and "did you mean 'expect_column_values_to_be_null'" in err.message
    assert problem(quality=[{"expect_column_values_to_be_null": [1]}]).key == "quality[0].expect_column_values_to_be_null"


def test_attribute_spec_errors_name_the_subkey():
    assert problem(attributes={"s": {"from": "x", "transform": "rot13"}}).key == "attributes.s.transform"
    assert problem(attributes={"s": {"from": "x", "map": []}}).key == "attributes.s.map"
    assert problem(attributes={"s": {"from": "x", "format": "%Y"}}).key == "attributes.s.format"
    assert problem(attributes={"s": {"value": 1, "default": 2}}).key == "attributes.s.default"
    assert problem(attributes={"s": {"from": "x", "reference": {"template": "p"}}}).key == "attributes.s.reference.by"
    assert problem(attributes={"s": {"map": {"a": "b"}}}).key == "attributes.s"
    assert problem(attributes={"s": ["a", {"from": "b", "joinx": 1}]}).key == "attributes.s[1].joinx"
    err = problem(attributes={"s": {"from": "x", "transform": "datetime", "timezone": "Mars/Base"}})
    assert err.key == "attributes.s.timezone" and "IANA" in err.message
    assert problem(attributes={"s": "{{ key "}).key == "attributes.s"


def test_comment_import(examples):
    t = load_task_file(examples / "jira_comments_to_worklog.yaml")
    assert t.mapping_type == "comment" and t.removal is None and t.record_key_path == "id"
    assert set(t.effective_attributes) == {"value", "author", "date"}
    assert t.comments.card_key_attribute == "jira_key"
    entry = compile_attributes(t.effective_attributes)({
        "id": "10001", "author": {"displayName": "Ann"}, "created": "2024-05-01T10:15:30.123+0300",
        "body": {"type": "doc", "version": 1, "content": [{"type": "paragraph", "content": [{"type": "text", "text": "hi"}]}]},
    })
    assert entry == {"value": "hi", "author": "Ann", "date": "2024-05-01T07:15:30Z"}
    base = dict(mapping_type="comment", template="incident", jql="project = SUP", mode="incremental",
                key=..., folder=...)
    assert problem(**base, attributes={}).key == "comments"
    comments = {"card_key_attribute": "jira_key", "worklog_attribute": "worklog"}
    assert problem(**base, comments=comments, attributes={"subject": "x"}).key == "attributes.subject"
    assert problem(**base, comments=comments, attributes={}, removed={"attribute": "a", "value": "b"}).key == "removed"


def test_a_comment_import_maps_the_entry_text_and_reads_only_what_the_listing_carries():
    """Entries without text, or read from what the comment listing does not carry, would be
    written empty for good (the marker keeps a comment from being appended again)."""
    base = dict(mapping_type="comment", template="incident", jql="project = SUP", mode="incremental",
                key=..., folder=..., comments={"card_key_attribute": "jira_key", "worklog_attribute": "worklog"})
    err = problem(**base, attributes={"author": "author.displayName"})
    assert err.key == "attributes" and "'value'" in err.message
    err = problem(**base, attributes={"value": "renderedBody"})
    assert err.key == "attributes.value" and "'renderedBody'" in err.message
    err = problem(**base, attributes={"value": {"from": "body", "transform": "adf_to_text"},
                                      "author": "issue.fields.assignee.displayName"})
    assert err.key == "attributes.author" and "issue.fields.summary" in err.message
    err = problem(**base, attributes={"value": {"template": "{{ body }} for {{ issue.fields.assignee.displayName }}"}})
    assert err.key == "attributes.value" and "issue.fields.assignee.displayName" in err.message
    assert task(**base, attributes={"value": {"template": "{{ issue.key }} {{ issue.fields.summary }}: {{ body }}"},
                                    "date": {"from": "issue.fields.updated", "transform": "datetime"}})


def test_group_members_detection(examples):
    g = load_task_file(examples / "jira_groups_to_groups.yaml")
    assert g.fetch_members is True
    assert [(a, r.template, r.by) for a, r in g.references()] == [("members", "person", "jira_account_id")]
    assert task().fetch_members is False
    assert problem(include_members=True).key == "include_members"


GROUP = {"mapping_type": "group", "template": "group", "folder": "groups", "key": {"jira": "groupId", "esm": "jira_group_id"}}


def test_group_members_read_by_a_template_are_listed():
    """A template reading `members` is an attribute reading them: without the listing the
    record has no `members` and the template fails (an undefined name) on every group."""
    counted = task(**GROUP, attributes={"name": "name", "size": {"template": "{{ members | length }} members"}})
    assert counted.fetch_members is True
    assert task(**GROUP, attributes={"name": {"template": "{{ name }}"}}).fetch_members is False


def test_include_members_false_is_refused_when_an_attribute_reads_members():
    """Unlisted, `members` is empty on every record: a members reference would be written as
    no members at all, clearing every group's memberships in ESM on each run."""
    members = {"from": "members", "each": "accountId", "reference": {"template": "person", "by": "jira_account_id"}}
    err = problem(**GROUP, include_members=False, attributes={"name": "name", "members": members})
    assert err.key == "include_members" and "members" in str(err)
    assert problem(**GROUP, include_members=False, attributes={"n": {"template": "{{ members | length }}"}}).key \
        == "include_members"
    assert task(**GROUP, include_members=False, attributes={"name": "name"}).fetch_members is False


def test_example_issue_mapping_end_to_end(examples):
    t = load_task_file(examples / "jira_issues_to_incidents.yaml")
    assert t.clear_hours() == [0, 12] and t.mode == "incremental" and t.removal is None
    fn = compile_attributes(t.attributes, options=t.mapping_options(ConnectorSettings()))
    out = fn({
        "key": "SUP-1",
        "fields": {
            "summary": "Printer on fire", "status": {"name": "Waiting"}, "priority": {"name": "High"},
            "created": "2024-05-01T00:15:30.000+0300", "duedate": "2024-05-03",
            "labels": ["hw", "urgent"], "components": [{"name": "Printers"}, {"name": "Floor 2"}],
            "reporter": {"accountId": "5b10a"}, "description": None,
        },
    })
    assert out == {
        "subject": "Printer on fire", "description": None, "status": "01 - New", "priority": "2 - High",
        "created": "2024-04-30T21:15:30Z", "due_date": "2024-05-03", "labels": "hw, urgent",
        "components": "Printers, Floor 2", "reporter": Reference("person", "jira_account_id", ("5b10a",)),
        "source": "Jira",
    }


def test_mapping_options_precedence(monkeypatch):
    monkeypatch.setenv("JIRA_ESM_TIMEZONE", "Europe/Helsinki")
    s = ConnectorSettings()
    assert task().mapping_options(s).timezone == "Europe/Helsinki"
    assert task(timezone="UTC").mapping_options(s).timezone == "UTC"
    assert problem(timezone="Nowhere/Land").key == "timezone"


def test_model_dump_round_trips_raw_specs(examples):
    t = load_task_file(examples / "jira_issues_to_incidents.yaml")
    dumped = t.model_dump(mode="json")
    assert dumped["attributes"]["subject"] == "fields.summary"
    assert ScheduledTask.model_validate(dumped).attributes["status"].mapping == t.attributes["status"].mapping


def test_an_issue_import_reads_only_what_an_issue_holds_unexpanded():
    gen = dict(mapping_type="generic", template="incident", jql="project = SUP", removed=False,
               key={"jira": "key", "esm": "jira_key"})
    err = problem(**gen, attributes={"name": "fields.summary", "body": "renderedFields.description"})
    assert err.key == "attributes.body" and "'renderedFields'" in err.message and "expand" in err.message
    err = problem(**gen, attributes={"name": {"template": "{{ changelog.total }} changes"}})
    assert err.key == "attributes.name" and "'changelog'" in err.message
    assert task(**gen, attributes={"name": {"template": "{{ key }}: {{ fields.summary }}"}, "ref": "id"})


def test_jql_must_not_order():
    gen = dict(mapping_type="generic", template="incident", removed=False, attributes={"name": "fields.summary"},
               key={"jira": "key", "esm": "jira_key"})
    err = problem(**gen, jql="project = SUP ORDER BY created DESC")
    assert err.key == "jql" and "ORDER BY" in err.message
    assert task(**gen, jql='project = SUP AND summary ~ "order by"').jql.endswith('"order by"')


def test_timeouts_override_the_global_deadlines_and_are_validated():
    from datetime import timedelta

    settings = ConnectorSettings(task_timeout_minutes=30, run_timeout_minutes=120)
    assert task().deadlines() == (timedelta(minutes=60), timedelta(hours=4))  # built-in defaults
    assert task().deadlines(settings) == (timedelta(minutes=30), timedelta(minutes=120))
    assert task(timeouts={"task_minutes": 90}).deadlines(settings) == (timedelta(minutes=90), timedelta(minutes=120))
    assert task(timeouts={"task_minutes": 10, "run_minutes": 20}).deadlines(settings) == (
        timedelta(minutes=10), timedelta(minutes=20))
    err = problem(timeouts={"task_minutes": 90, "run_minutes": 30})
    assert err.key == "timeouts.run_minutes" and "at least task_minutes (90)" in err.message
    assert problem(timeouts={"task_minute": 5}).key.startswith("timeouts")
    assert problem(timeouts={"task_minutes": 0}).key == "timeouts.task_minutes"
    # a task step longer than the global run deadline: refused when the DAG is built, naming the key
    with pytest.raises(ValueError, match=r"key 'timeouts'.*JIRA_ESM_RUN_TIMEOUT_MINUTES.*at least 180"):
        task(timeouts={"task_minutes": 180}).deadlines(settings)


def test_member_removal_share_is_a_group_setting_below_one():
    members = {"from": "members", "each": "accountId", "reference": {"template": "person", "by": "jira_account_id"}}
    groups = dict(GROUP, attributes={"name": "name", "members": members})
    assert task(**groups).member_share == 0.5 and task(**groups).membership_attributes == ["members"]
    assert task(**groups, member_removal={"max_share": 0.2}).member_share == 0.2
    err = problem(**groups, member_removal={"max_share": 1})
    assert err.key == "member_removal.max_share" and "allow_member_removal" in str(err)
    assert problem(member_removal={"max_share": 0.2}).key == "member_removal"  # a user import has no members
    assert task(**GROUP, attributes={"name": "name"}).membership_attributes == []  # members not listed
