"""compile_attributes over realistic Jira JSON."""
from __future__ import annotations

import pytest

from jira_esm_connector.mapping import (
    MappingError,
    MappingOptions,
    Reference,
    SpecError,
    compile_attributes,
    compile_fields,
    compile_spec,
    text_to_adf,
)

ISSUE = {
    "id": "10042",
    "key": "SUP-42",
    "self": "https://example.atlassian.net/rest/api/3/issue/10042",
    "fields": {
        "summary": "VPN drops every 10 minutes",
        "description": text_to_adf("Users in Espoo report drops.\n\nSince Monday."),
        "status": {"name": "In Progress", "statusCategory": {"key": "indeterminate"}},
        "priority": {"name": "High", "id": "2"},
        "issuetype": {"name": "Incident"},
        "created": "2024-05-01T10:15:30.123+0300",
        "updated": "2024-05-02T08:00:00.000+0000",
        "duedate": "2024-05-10",
        "resolution": None,
        "labels": ["network", "vpn"],
        "components": [{"id": "1", "name": "Network"}, {"id": "2", "name": "Remote access"}],
        "reporter": {"accountId": "5b10ac8d82e05b22cc7d4ef5", "displayName": "Ann Admin"},
        "assignee": None,
        "watchers": {"watchers": [{"accountId": "a1"}, {"accountId": "a2"}]},
        "customfield_10010": {"value": "Gold"},
        "customfield_10020": 3.0,
    },
}


def test_full_issue_mapping():
    fn = compile_attributes({
        "subject": "fields.summary",
        "description": {"from": "fields.description", "transform": "adf_to_text"},
        "status": {"from": "fields.status.name",
                   "map": {"To Do": "01 - New", "In Progress": "02 - Solving", "Done": "05 - Solved"},
                   "default": "01 - New"},
        "resolution": {"from": "fields.resolution.name", "default": "Unresolved"},
        "created": {"from": "fields.created", "transform": "datetime"},
        "due": {"from": "fields.duedate", "transform": "date", "format": "dd.MM.yyyy"},
        "labels": {"from": "fields.labels", "transform": "join", "separator": "; "},
        "components": {"from": "fields.components", "each": "name", "join": ", "},
        "component_list": {"from": "fields.components", "each": "name"},
        "reporter": {"from": "fields.reporter.accountId", "reference": {"template": "person", "by": "jira_account_id"}},
        "assignee": {"from": "fields.assignee.accountId", "reference": {"template": "person", "by": "jira_account_id"}},
        "watchers": {"from": "fields.watchers.watchers", "each": "accountId",
                     "reference": {"template": "person", "by": "jira_account_id"}},
        "sla": {"from": "fields.customfield_10010.value", "transform": "upper"},
        "points": {"from": "fields.customfield_10020", "transform": "integer"},
        "source": {"value": "Jira"},
        "title": {"template": "[{{ key }}] {{ fields.summary }}"},
        "tags": ["fields.issuetype.name", {"from": "fields.labels"}, {"value": "imported"}, "fields.nothing"],
    })
    assert fn(ISSUE) == {
        "subject": "VPN drops every 10 minutes",
        "description": "Users in Espoo report drops.\n\nSince Monday.",
        "status": "02 - Solving",
        "resolution": "Unresolved",
        "created": "2024-05-01T07:15:30Z",
        "due": "10.05.2024",
        "labels": "network; vpn",
        "components": "Network, Remote access",
        "component_list": ["Network", "Remote access"],
        "reporter": Reference("person", "jira_account_id", ("5b10ac8d82e05b22cc7d4ef5",)),
        "assignee": None,
        "watchers": Reference("person", "jira_account_id", ("a1", "a2")),
        "sla": "GOLD",
        "points": 3,
        "source": "Jira",
        "title": "[SUP-42] VPN drops every 10 minutes",
        "tags": ["Incident", "network", "vpn", "imported"],
    }


def test_map_without_default_passes_value_through_and_handles_lists_and_bools():
    fn = compile_spec({"from": "v", "map": {"a": "A"}})
    assert fn({"v": "a"}) == "A" and fn({"v": "zz"}) == "zz" and fn({}) is None
    fn = compile_spec({"from": "v", "map": {"a": "A", "b": "B"}, "default": "?"})
    assert fn({"v": ["a", "b", "c"]}) == ["A", "B", "?"]
    assert fn({}) == "?"
    fn = compile_spec({"from": "active", "map": {True: "Active", False: "Inactive"}})
    assert fn({"active": True}) == "Active" and fn({"active": False}) == "Inactive"
    fn = compile_spec({"from": "n", "map": {"1": "one"}})
    assert fn({"n": 1}) == "one"  # numbers match their text form


def test_empty_list_reference_clears():
    fn = compile_spec({"from": "members", "each": "accountId", "reference": {"template": "person", "by": "jira_account_id"}})
    assert fn({"members": []}) == Reference("person", "jira_account_id", ())
    assert fn({}) is None


def test_reference_dict_round_trip():
    ref = Reference("person", "jira_account_id", ("a",))
    assert Reference.is_reference_dict(ref.to_dict())
    assert Reference.from_dict(ref.to_dict()) == ref


def test_conversion_errors_name_the_attribute():
    fn = compile_attributes({"created": {"from": "fields.created", "transform": "datetime"}})
    with pytest.raises(MappingError) as info:
        fn({"fields": {"created": "last tuesday"}})
    assert str(info.value) == "attribute 'created': not a Jira date/time: 'last tuesday'"
    fn = compile_attributes({"n": {"from": "x", "transform": "integer"}})
    with pytest.raises(MappingError, match="attribute 'n'"):
        fn({"x": "1.5"})


def test_template_with_unknown_name_fails_clearly():
    fn = compile_attributes({"t": {"template": "{{ nope.x }}"}})
    with pytest.raises(MappingError, match="attribute 't': template refers to an unknown value"):
        fn({"key": "A"})


def test_options_apply_and_spec_overrides():
    opts = MappingOptions(datetime_format="%d.%m.%Y %H:%M", timezone="Europe/Helsinki")
    fn = compile_attributes({
        "a": {"from": "c", "transform": "datetime"},
        "b": {"from": "c", "transform": "datetime", "timezone": "UTC"},
    }, options=opts)
    assert fn({"c": "2024-05-01T10:15:30.123+0300"}) == {"a": "01.05.2024 10:15", "b": "01.05.2024 07:15"}


def test_compile_fields_for_events_drops_empty_and_renders_templates():
    fn = compile_fields({
        "summary": "{{ subject }}",
        "labels": {"value": ["esm"]},
        "description": {"from": "description", "transform": "text_to_adf"},
        "customfield_10010": "{{ datacard_id }}",
        "priority": {"from": "priority", "map": {"2 - High": {"name": "High"}}},
    })
    out = fn({"subject": "S", "description": None, "datacard_id": None, "priority": "2 - High"})
    assert out == {"summary": "S", "labels": ["esm"], "priority": {"name": "High"}}


def test_bad_specs_raise_spec_errors():
    with pytest.raises(SpecError):
        compile_spec({"from": "x", "transform": "explode"})
    with pytest.raises(SpecError):
        compile_spec({"from": "x", "reference": {"template": "p", "by": "b"}, "join": ","})
    with pytest.raises(SpecError):
        compile_spec(42)


def test_many_records_fast():
    import time

    fn = compile_attributes({
        "subject": "fields.summary",
        "status": {"from": "fields.status.name", "map": {"In Progress": "02"}, "default": "01"},
        "created": {"from": "fields.created", "transform": "datetime"},
        "components": {"from": "fields.components", "each": "name", "join": ", "},
    })
    start = time.perf_counter()
    for _ in range(20000):
        fn(ISSUE)
    assert time.perf_counter() - start < 5  # ~20k records/s on a slow shared core
