"""The mapping engine: values a task file maps that reached ESM other than
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


# ---- numbers written with leading zeros in a task file -----------------------------------

CODES_YAML = """
name: departments
kind: scheduled
jira_conn_id: jira_default
esm_conn_id: esm_default
schedule: null
mode: full
mapping_type: user
template: person
folder: persons
key: {jira: accountId, esm: jira_account_id}
cache: {clear_hours: [06, 18]}
page_size: 0100
attributes:
  postal_code: {value: 00100}
  cost_centre:
    from: department
    map: {Finance: 0420, Sales: 0610, Support: 1200}
  department:
    from: costCentre
    map: {0420: Finance, 0610: Sales, 1:30: Support}
"""


def test_a_number_written_with_leading_zeros_stays_the_text_the_task_file_says():
    """YAML 1.1 (PyYAML's safe loader) reads 0420 as the octal number 272 and 1:30 as 90: a
    constant postal code 00100 went to ESM as 64, and a value map keyed by cost centres matched
    Jira's "0420" never (its default, or the value unmapped, silently) but "272" instead."""
    from jira_esm_connector.config import parse_task
    from jira_esm_connector.config.yamlio import load_yaml

    task = parse_task(load_yaml(CODES_YAML), "departments.yaml")
    apply = compile_attributes(task.effective_attributes, options=task.mapping_options())
    assert apply({"accountId": "a1", "department": "Finance", "costCentre": "0420"}) == {
        "postal_code": "00100", "cost_centre": "0420", "department": "Finance"}
    assert apply({"accountId": "a1", "department": "Sales", "costCentre": "272"})["department"] == "272"
    assert apply({"accountId": "a1", "department": "Support", "costCentre": "1:30"})["department"] == "Support"
    # keys that take a number still read such a text as the number it writes
    assert task.cache.clear_hours == [6, 18] and task.page_size == 100


def test_plain_numbers_are_still_numbers():
    from jira_esm_connector.config.yamlio import load_yaml

    assert load_yaml("a: [0, 7, -3, 1000, 0x1F, 1.5, 0.25]") == {"a": [0, 7, -3, 1000, 31, 1.5, 0.25]}


# ---- a value map's explicit null ---------------------------------------------------------

def test_a_value_mapped_to_null_clears_the_attribute_instead_of_taking_the_default():
    """``default`` is for the values the map does not name (docs/TASK_FILES.md): a value the map
    names with null ("Won't Do" has no resolution on the card) got the default all the same."""
    apply = compile_attributes({
        "resolution": {"from": "fields.resolution.name", "map": {"Won't Do": None, "Done": "Fixed"}, "default": "Other"},
        "due": {"from": "fields.duedate", "transform": "date", "map": {"2024-05-01": "May Day"}, "default": "none"},
    })
    def issue(resolution, due):
        return {"fields": {"resolution": {"name": resolution} if resolution else None, "duedate": due}}

    assert apply(issue("Won't Do", "2024-05-01")) == {"resolution": None, "due": "May Day"}
    assert apply(issue("Done", "2024-05-02")) == {"resolution": "Fixed", "due": "none"}  # not in the map
    assert apply(issue("Duplicate", None)) == {"resolution": "Other", "due": "none"}
    assert apply(issue(None, "")) == {"resolution": "Other", "due": "none"}  # no value, or none after the transform
