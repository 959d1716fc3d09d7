"""A task keyed by a Jira number field. Earlier versions wrote such a key as Jira sends it
("13.0"); the load treats a card holding "13.0" as the card of record "13" (found, written,
its key becomes "13": test_number_field_references). mark_removed did not: when the run's
write of record 13 was refused by ESM (a value ESM does not take -- the card is left as it
was, still holding "13.0"), the same full run marked that card removed, although record 13
was fetched and is still in Jira; later runs kept it disabled (the connector never
re-enables a card on its own). Now the "13.0" form of a fetched key counts as fetched.
Real simulators over HTTPS."""
from __future__ import annotations

from jira_esm_connector.pipeline import run_import

from .conftest import ISSUES_TASK, make_task
from .helpers import esm_cards, run_id

REMOVAL = {"attribute": "status", "value": "07 - Cancelled", "max_share": 0.5}


def _legacy_setup(jira_sim, esm, name: str):
    """Issues with number keys 13, 14, 15 (ESM refuses 13's summary as a date) and a card an
    earlier version keyed "13.0": ``(task, Jira keys by number, that card's id)``."""
    keys = {}
    for number, summary in ((13, "not a date"), (14, "2024-01-14"), (15, "2024-01-15")):
        keys[number] = jira_sim.admin("POST", "issues", {"project": "SUP", "summary": summary,
                                                         "fields": {"customfield_10016": number}}).json()["key"]
    task = make_task(
        ISSUES_TASK, name=name, mode="full", removed=REMOVAL,
        jql=f"key in ({', '.join(keys.values())})", key={"jira": "fields.customfield_10016", "esm": "jira_key"},
        attributes={"subject": "fields.summary", "due_date": "fields.summary",
                    "status": {"from": "fields.status.name", "map": {"Done": "05 - Solved"}, "default": "01 - New"}},
    )
    legacy = esm.create_card("incident", {"jira_key": "13.0", "subject": "before", "status": "01 - New",
                                          task.task_id_attribute: task.name}, folder="incident_management")
    return task, keys, legacy


def test_a_fetched_record_whose_legacy_double_keyed_card_was_not_rewritten_is_not_marked_removed(
    jira, jira_sim, esm, state, staging
):
    task, _keys, legacy = _legacy_setup(jira_sim, esm, "double_keys")

    result = run_import(task, jira, esm, state, staging, run_id(1))

    assert result["fetched"] == 3 and result["refused"] == 1, result  # issue 13's write was refused
    card = esm_cards(esm, "incident")[legacy]
    assert card.value("status") != "07 - Cancelled", (
        f"card {legacy} (jira_key {card.value('jira_key')!r}) of record 13, which this run fetched, was marked "
        f"removed: marked_removed={result['marked_removed']}")


def test_once_its_value_is_fixed_the_record_has_one_active_card(jira, jira_sim, esm, state, staging):
    """Marked removed in the first run, the next run (its value fixed in Jira) found the "13.0"
    card as record 13's card -- disabled -- and kept it disabled: record 13, alive in Jira all
    along, had no active card. Now it has its one card, active, keyed "13"."""
    task, keys, _legacy = _legacy_setup(jira_sim, esm, "double_keys_after")
    run_import(task, jira, esm, state, staging, run_id(1))
    jira_sim.admin("PATCH", f"issues/{keys[13]}", json={"summary": "2024-01-13"})

    second = run_import(task, jira, esm, state, staging, run_id(2))

    cards = [c for c in esm_cards(esm, "incident").values() if c.value("jira_key") == "13"]
    assert second["refused"] == 0 and len(cards) == 1, second
    assert cards[0].value("status") != "07 - Cancelled", (
        f"record 13 (in Jira throughout) has only card {cards[0].data_card_id}, kept disabled: {second}")
