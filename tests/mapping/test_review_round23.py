"""Review round 23 of the mapping engine: values a task file maps that reached ESM other than
Jira and the task file say they are."""
from __future__ import annotations

import pytest

from jira_esm_connector.mapping import MappingError, compile_attributes

# A "Yes/No" select list custom field as Jira Cloud sends it: an option object, not its text.
OPTION_NO = {"self": "https://x.atlassian.net/rest/api/3/customFieldOption/10021", "value": "No", "id": "10021"}
ISSUE = {"key": "SUP-9", "fields": {"customfield_10030": OPTION_NO, "labels": [["nested"]]}}


@pytest.mark.parametrize("spec", [
    # '.value' forgotten: bool() of any object is True, so every "No" became true on the card
    {"from": "fields.customfield_10030", "transform": "boolean"},
    # a map's keys are texts: an object matched none of them and silently got the default
    {"from": "fields.customfield_10030", "map": {"Yes": "1 - Yes", "No": "2 - No"}, "default": "2 - No"},
    # ... or, without a default, went through unmapped, the whole object
    {"from": "fields.customfield_10030", "map": {"Yes": "1 - Yes", "No": "2 - No"}},
    # integer and number refused it already, but in int()'s words, with the object's repr
    {"from": "fields.customfield_10030", "transform": "integer"},
    {"from": "fields.customfield_10030", "transform": "number"},
])
def test_a_jira_object_is_refused_by_boolean_and_value_maps_not_taken_for_a_value(spec):
    apply = compile_attributes({"vip": spec})
    with pytest.raises(MappingError, match=r"attribute 'vip': Jira gave an object .*not a single value"):
        apply(ISSUE)


def test_the_value_of_that_object_still_maps():
    apply = compile_attributes({
        "vip": {"from": "fields.customfield_10030.value", "transform": "boolean"},
        "answer": {"from": "fields.customfield_10030.value", "map": {"Yes": "1 - Yes", "No": "2 - No"}},
        "flag": {"from": "fields.flag", "transform": "boolean"},
        "points": {"from": "fields.points", "map": {"3": "small"}},
    })
    out = apply({"key": "SUP-9", "fields": {"customfield_10030": OPTION_NO, "flag": True, "points": 3.0}})
    assert out == {"vip": False, "answer": "2 - No", "flag": True, "points": "small"}


def test_a_list_inside_a_list_is_refused_by_a_boolean_and_a_map():
    for spec in ({"from": "fields.labels", "transform": "boolean"}, {"from": "fields.labels", "map": {"a": "b"}}):
        with pytest.raises(MappingError, match="Jira gave a list"):
            compile_attributes({"x": spec})(ISSUE)
