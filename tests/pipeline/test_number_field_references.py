"""Jira Cloud sends number custom fields as doubles (``3.0`` for 3). A reference keyed by one
-- an ESM card found by the whole number its attribute holds -- looked for a card whose
attribute is "13.0", found none and stayed pending for ever: the reference was never
written. Real simulators over HTTPS (the Jira simulator sends doubles as Jira does)."""
from __future__ import annotations

from jira_esm_connector.pipeline import run_import

from .conftest import ISSUES_TASK, make_task
from .helpers import by_attr, esm_cards, run_id

TEAM = {"from": "fields.customfield_10016", "reference": {"template": "group", "by": "jira_group_id"}}


def test_a_reference_keyed_by_a_number_field_finds_its_card(jira, jira_sim, esm, state, staging):
    key = jira_sim.admin("POST", "issues", {"project": "SUP", "summary": "Team 13's printer",
                                            "fields": {"customfield_10016": 13}}).json()["key"]
    assert jira.get_issue(key, ["customfield_10016"])["fields"]["customfield_10016"] == 13.0
    group_card = esm.create_card("group", {"name": "Team 13", "jira_group_id": "13"}, folder="groups")
    task = make_task(ISSUES_TASK, jql=f"key = {key}", attributes=dict(ISSUES_TASK["attributes"], support_group=TEAM))

    result = run_import(task, jira, esm, state, staging, run_id(1))

    assert (result["created"], result["references_pending"]) == (1, 0)
    card = by_attr(esm_cards(esm, "incident", task.name), "jira_key")[key]
    assert str(card.value("support_group")) == str(group_card)


def test_a_record_key_read_from_a_number_field_matches_the_card_holding_the_whole_number(jira, jira_sim, esm, state, staging):
    """The same for a task keyed by a number field (e.g. the number of an ESM record kept in
    Jira): the key "13.0" matched no card with "13", and the import made a second card."""
    key = jira_sim.admin("POST", "issues", {"project": "SUP", "summary": "Numbered incident",
                                            "fields": {"customfield_10016": 13}}).json()["key"]
    existing = esm.create_card("incident", {"jira_key": "13", "subject": "before"}, folder="incident_management")
    task = make_task(ISSUES_TASK, jql=f"key = {key}", key={"jira": "fields.customfield_10016", "esm": "jira_key"})

    result = run_import(task, jira, esm, state, staging, run_id(1))

    assert (result["created"], result["updated"], result["refused"]) == (0, 1, 0)
    cards = esm_cards(esm, "incident")
    assert [c.value("jira_key") for c in cards.values()] == ["13"]
    assert cards[existing].value("subject") == "Numbered incident"


def test_a_card_an_earlier_version_keyed_with_the_double_is_written_not_doubled(jira, jira_sim, esm, state, staging):
    """Before, the import itself wrote the key as Jira sent it ("13.0"): after an upgrade the
    key reads "13", and each card the task wrote before must be found and written (its key
    now "13") -- not doubled by a second card, with the first one a removal candidate."""
    key = jira_sim.admin("POST", "issues", {"project": "SUP", "summary": "Numbered incident",
                                            "fields": {"customfield_10016": 13}}).json()["key"]
    task = make_task(ISSUES_TASK, jql=f"key = {key}", key={"jira": "fields.customfield_10016", "esm": "jira_key"})
    earlier = esm.create_card("incident", {"jira_key": "13.0", "subject": "before", task.task_id_attribute: task.name},
                              folder="incident_management")

    result = run_import(task, jira, esm, state, staging, run_id(1))

    assert (result["created"], result["updated"], result["refused"]) == (0, 1, 0), result
    cards = esm_cards(esm, "incident")
    assert [c.value("jira_key") for c in cards.values()] == ["13"]
    assert cards[earlier].value("subject") == "Numbered incident"
