"""Values written to ESM that differed from what the task file (and Jira's data) say they
should be: value maps with number keys, date-only values through datetime, Java-style date
patterns, ADF cards and task items."""
from __future__ import annotations

from jira_esm_connector.config import parse_task
from jira_esm_connector.config.yamlio import load_yaml
from jira_esm_connector.mapping import adf_to_text, compile_attributes, to_esm_date, to_esm_datetime


# ---- value maps: YAML number keys never match Jira's text ids ----------------------------

TASK_YAML = """
name: priorities
kind: scheduled
jira_conn_id: jira_default
esm_conn_id: esm_default
schedule: null
mode: incremental
mapping_type: generic
jql: project = SUP
template: incident
folder: incident_management
key: {jira: key, esm: jira_key}
attributes:
  priority:
    from: fields.priority.id        # Jira sends ids as text: "1", "2", ...
    map: {1: "1 - Critical", 2: "2 - High"}
    default: "3 - Normal"
"""


def test_value_map_with_number_keys_matches_jira_text_ids():
    task = parse_task(load_yaml(TASK_YAML), "priorities.yaml")
    apply = compile_attributes(task.effective_attributes, options=task.mapping_options())
    issue = {"key": "SUP-1", "fields": {"priority": {"id": "1", "name": "Highest"}}}
    # the engine matches a number value against text keys ("numbers match their text form"),
    # but not a text value against number keys: the Highest issue silently gets the default
    assert apply(issue)["priority"] == "1 - Critical"


# ---- date-only values through the datetime transform ---------------------------------------

def test_datetime_of_a_date_only_value_keeps_its_calendar_day_in_the_zone():
    # Jira date fields (duedate, date pickers) are plain days. to_esm_date keeps such a value
    # "as that calendar day" in every zone; the datetime transform takes it as midnight UTC and
    # then converts, so west of UTC the day written to ESM is the day before.
    assert to_esm_datetime("2024-05-01", "yyyy-MM-dd HH:mm", "America/New_York") == "2024-05-01 00:00"
    fn = compile_attributes({"due": {"from": "fields.duedate", "transform": "datetime", "timezone": "America/Chicago"}})
    assert fn({"fields": {"duedate": "2024-05-01"}})["due"].startswith("2024-05-01T00:00:00")


# ---- Java-style format patterns ------------------------------------------------------------

def test_java_style_patterns_mean_what_they_mean_in_java():
    value = "2024-05-01T10:15:30.123+0300"
    # SSS is milliseconds (3 digits), XXX the ISO offset with a colon
    assert to_esm_datetime(value, "yyyy-MM-dd'T'HH:mm:ss.SSSXXX", "Europe/Helsinki") == "2024-05-01T10:15:30.123+03:00"


def test_java_style_single_letter_tokens_are_not_written_literally():
    # "d.M.yyyy" (the Finnish day format) -- 'd' and 'M' were not converted and ended up as letters
    out = to_esm_datetime("2024-05-01T10:15:30.123+0300", "d.M.yyyy H:mm", "Europe/Helsinki")
    assert out == "1.5.2024 10:15"
    assert to_esm_datetime("2024-05-01T10:15:30.123+0000", "yyyy-MM-dd'T'HH:mm:ssX", None) == "2024-05-01T10:15:30Z"
    assert to_esm_datetime("2024-01-05T21:05:00.000+0000", "EEE d MMM yy, h:mm a", "UTC") == "Fri 5 Jan 24, 9:05 PM"
    assert to_esm_date("2024-05-01", "d.M.yyyy 'klo' ''") == "1.5.2024 klo '"


def test_an_unknown_pattern_letter_is_refused_where_the_task_file_says_it():
    import pytest

    from jira_esm_connector.config import TaskFileError

    data = load_yaml(TASK_YAML)
    data["attributes"]["due"] = {"from": "fields.duedate", "transform": "date", "format": "dd.MM.yyyy Q"}
    with pytest.raises(TaskFileError, match="'Q'") as err:
        parse_task(data, "priorities.yaml")
    assert "due" in str(err.value) and "format" in str(err.value)
    with pytest.raises(TaskFileError, match="datetime_format"):
        parse_task({**load_yaml(TASK_YAML), "datetime_format": "yyyy-MM-dd'T'HH:mm:ss 'open"}, "priorities.yaml")


# ---- ADF -> text -------------------------------------------------------------------------

def test_block_and_embed_cards_keep_their_url():
    doc = {"type": "doc", "version": 1, "content": [
        {"type": "paragraph", "content": [{"type": "text", "text": "Runbook:"}]},
        {"type": "blockCard", "attrs": {"url": "https://wiki.example.com/runbook"}},
        {"type": "embedCard", "attrs": {"url": "https://example.com/dashboard", "layout": "center"}},
    ]}
    text = adf_to_text(doc)
    assert "https://wiki.example.com/runbook" in text
    assert "https://example.com/dashboard" in text


def test_task_item_text_stays_on_its_line():
    doc = {"type": "doc", "version": 1, "content": [{"type": "taskList", "attrs": {"localId": "l"}, "content": [
        {"type": "taskItem", "attrs": {"localId": "a", "state": "TODO"}, "content": [
            {"type": "text", "text": "Call "},
            {"type": "mention", "attrs": {"id": "557058:1", "text": "@Ann"}},
            {"type": "text", "text": " today", "marks": [{"type": "strong"}]},
        ]},
        {"type": "taskItem", "attrs": {"localId": "b", "state": "DONE"}, "content": [{"type": "text", "text": "Order parts"}]},
    ]}]}
    assert adf_to_text(doc) == "[ ] Call @Ann today\n[x] Order parts"


def test_an_empty_reference_key_is_no_reference():
    """A reference whose Jira value is "" named no card, yet was reported missing on every
    run: the record stayed pending for ever and was fetched and written again each time."""
    from jira_esm_connector.mapping import Reference

    fn = compile_attributes({
        "owner": {"from": "fields.owner", "reference": {"template": "person", "by": "jira_account_id"}},
        "watchers": {"from": "fields.watchers", "reference": {"template": "person", "by": "jira_account_id"}},
    })
    out = fn({"fields": {"owner": " ", "watchers": ["w1", "", "w2"]}})
    assert out["owner"] is None
    assert out["watchers"] == Reference("person", "jira_account_id", ("w1", "w2"))
    assert fn({"fields": {"owner": "acc-1", "watchers": []}})["watchers"] == Reference("person", "jira_account_id", ())
