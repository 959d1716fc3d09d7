"""Jira field shapes as Jira Cloud sends them (select options, user pickers, component
lists, number fields) through specs that turn values into text: what reaches ESM is the
value, or the record is refused naming the attribute -- never the Python repr of a Jira
object."""
from __future__ import annotations

import pytest

from jira_esm_connector.mapping import MappingError, compile_attributes

ISSUE = {
    "key": "SUP-7",
    "fields": {
        # select option, user picker, components: objects and lists of objects in Jira's JSON
        "customfield_10020": {"self": "https://x.atlassian.net/rest/api/3/customFieldOption/10001",
                              "value": "Red team", "id": "10001"},
        "reporter": {"accountId": "5b10ac8d82e05b22cc7d4ef5", "displayName": "Ann Admin"},
        "components": [{"id": "1", "name": "Network"}, {"id": "2", "name": "Remote access"}],
    },
}


@pytest.mark.parametrize("spec", [
    {"from": "fields.components", "join": ", "},                  # each: name forgotten
    {"from": "fields.customfield_10020", "transform": "upper"},     # .value forgotten
    {"from": "fields.customfield_10020", "transform": "string"},
    {"from": "fields.reporter", "reference": {"template": "person", "by": "jira_account_id"}},
])
def test_a_jira_object_is_never_written_as_its_python_repr(spec):
    # str() of the object went to ESM: "{'id': '1', 'name': 'Network'}, {'id': '2', ...}" as
    # the text, or as the reference key no card ever has (pending for ever)
    fn = compile_attributes({"team": spec})
    with pytest.raises(MappingError, match="attribute 'team': Jira gave an? (object|list) .*not a single value"):
        fn(ISSUE)


def test_the_values_of_those_objects_still_map():
    fn = compile_attributes({
        "components": {"from": "fields.components", "each": "name", "join": ", "},
        "team": {"from": "fields.customfield_10020.value", "transform": "upper"},
        "reporter": {"from": "fields.reporter.accountId", "reference": {"template": "person", "by": "jira_account_id"}},
    })
    out = fn(ISSUE)
    assert out["components"] == "Network, Remote access"
    assert out["team"] == "RED TEAM"
    assert out["reporter"].keys == ("5b10ac8d82e05b22cc7d4ef5",)


def test_a_template_renders_a_field_this_issue_lacks_as_empty():
    # an unassigned issue (assignee null), a custom field Jira leaves out of this issue's
    # fields: missing data, as for a path -- it stopped the whole run ("template refers to an
    # unknown value: 'None' has no attribute 'displayName'"), so nothing was loaded
    fn = compile_attributes({"title": {"template": "{{ key }} for {{ fields.assignee.displayName }}"
                                                   "{{ fields.customfield_10050 }}"}})
    assert fn({"key": "SUP-8", "fields": {"assignee": None}})["title"] == "SUP-8 for "
    assert fn({"key": "SUP-9", "fields": {"assignee": {"displayName": "Ann"}, "customfield_10050": "!"}})["title"] \
        == "SUP-9 for Ann!"


def test_a_template_name_no_record_has_still_fails():
    # a typo at the top (kye for key) is no missing data
    fn = compile_attributes({"title": {"template": "{{ kye }}"}})
    with pytest.raises(MappingError, match="attribute 'title': template refers to an unknown value: 'kye'"):
        fn(ISSUE)


@pytest.mark.parametrize("template", [
    "{{ key }}: {{ fields.customfield_10020 }}",   # "SUP-7: {'self': ..., 'value': 'Red team', ...}"
    "{{ key }} [{{ fields.components }}]",         # "SUP-7 [[{'id': '1', 'name': 'Network'}, ...]]"
])
def test_a_template_does_not_write_the_python_repr_of_a_jira_object(template):
    fn = compile_attributes({"title": {"template": template}})
    with pytest.raises(MappingError, match="attribute 'title': template writes an? (object|list) .*not a single value"):
        fn(ISSUE)


def test_a_template_still_writes_values_and_joined_lists():
    fn = compile_attributes({"title": {"template": (
        "{{ key }}: {{ fields.customfield_10020.value }} ({{ fields.components | map(attribute='name') | join(', ') }})"
        "{{ fields.nothing }}")}})
    assert fn(ISSUE)["title"] == "SUP-7: Red team (Network, Remote access)"


def test_a_value_map_matches_a_jira_number_sent_as_a_whole_float():
    # Jira Cloud sends number fields as JSON floats (story points 3.0); the task file's text
    # key "3" missed it, so every issue silently got the default
    fn = compile_attributes({"size": {"from": "fields.customfield_10016", "map": {"3": "M", "5.5": "L"}, "default": "S"}})
    assert fn({"fields": {"customfield_10016": 3.0}})["size"] == "M"
    assert fn({"fields": {"customfield_10016": 3}})["size"] == "M"
    assert fn({"fields": {"customfield_10016": 5.5}})["size"] == "L"
    assert fn({"fields": {"customfield_10016": 3.5}})["size"] == "S"


def test_a_jira_number_sent_as_a_whole_float_becomes_the_text_of_the_whole_number():
    # as text (a transform, a join, a template, a reference key) 3.0 is "3", as ESM and people
    # write it: "3.0" matched no card and read oddly; 3.5 stays "3.5"
    fn = compile_attributes({
        "points": {"from": "fields.customfield_10016", "transform": "string"},
        "both": {"from": "fields.customfield_10017", "transform": "join"},
        "title": "{{ fields.summary }} ({{ fields.customfield_10016 }} points)",
        "team": {"from": "fields.customfield_10016", "reference": {"template": "group", "by": "number"}},
    })
    out = fn({"fields": {"summary": "Printer", "customfield_10016": 3.0, "customfield_10017": [3.0, 3.5]}})
    assert (out["points"], out["both"], out["title"]) == ("3", "3, 3.5", "Printer (3 points)")
    assert out["team"].keys == ("3",)


@pytest.mark.parametrize("text", ["nan", "NaN", "inf", "-Infinity", "1e999"])
def test_a_number_transform_refuses_text_that_is_no_finite_number(text):
    # float() reads these: NaN made ESM's bulk PUT unsendable (requests refuses NaN in JSON), so
    # the load failed for the whole chunk on every run; infinity failed the transform step with
    # a bare "Out of range float values are not JSON compliant" naming no record
    fn = compile_attributes({"points": {"from": "fields.customfield_10031", "transform": "number"}})
    with pytest.raises(MappingError, match="attribute 'points': not a finite number"):
        fn({"fields": {"customfield_10031": text}})
    assert fn({"fields": {"customfield_10031": " 2.5 "}})["points"] == 2.5


def test_an_integer_transform_takes_a_whole_number_written_as_text_with_decimals():
    # 3.0 as a JSON number was taken, the same number as text "3.0" (a text field, a number
    # as a string) stopped the run: "invalid literal for int() with base 10: '3.0'"
    fn = compile_attributes({"n": {"from": "v", "transform": "integer"}})
    assert fn({"v": "3.0"})["n"] == 3 and fn({"v": " 7200.00 "})["n"] == 7200 and fn({"v": 3.0})["n"] == 3
    with pytest.raises(MappingError, match="attribute 'n': not a whole number: '1.5'"):
        fn({"v": "1.5"})
    with pytest.raises(MappingError, match="attribute 'n': invalid literal for int"):
        fn({"v": "abc"})
