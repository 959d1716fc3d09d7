"""mark_removed added the "N.0" form of every fetched key that is a
whole number to the fetched set (``earlier_key_forms``) for every task whose key path is not
one of key/id/accountId/groupId/name -- also a task keyed by a *text* field, where "13" and
"13.0" are two different records (version numbers, asset tags, ...). Record "13.0" gone
from Jira while record "13" stays: the card of "13.0" is never marked removed. Now "13.0" counts as record 13's only while record 13 has no card of its own."""
from __future__ import annotations

from jira_esm_connector.pipeline import run_import

from .conftest import ISSUES_TASK, make_task
from .helpers import by_attr, esm_cards, run_id

REMOVAL = {"attribute": "status", "value": "07 - Cancelled", "max_share": 0.5, "max_shrink": 0.9}


def test_the_card_of_a_gone_text_keyed_record_13_0_is_marked_removed(jira, jira_sim, esm, state, staging):
    keys = {}
    for text in ("13", "13.0", "14"):  # a text field: three distinct records
        keys[text] = jira_sim.admin("POST", "issues", {"project": "SUP", "summary": text,
                                                       "labels": ["text-keys"]}).json()["key"]
    task = make_task(
        # selected by a label: Jira refuses a JQL naming a key no issue has (one is deleted below)
        ISSUES_TASK, name="text_keys", mode="full", removed=REMOVAL,
        jql="labels = text-keys", key={"jira": "fields.summary", "esm": "jira_key"},
        attributes={"subject": "fields.summary",
                    "status": {"from": "fields.status.name", "map": {"Done": "05 - Solved"}, "default": "01 - New"}},
    )
    first = run_import(task, jira, esm, state, staging, run_id(1))
    assert first["created"] == 3, first
    jira_sim.admin("DELETE", f"issues/{keys['13.0']}")  # record "13.0" is gone

    second = run_import(task, jira, esm, state, staging, run_id(2))

    cards = by_attr(esm_cards(esm, "incident", task.name), "jira_key")
    assert cards["13.0"].value("status") == "07 - Cancelled", (
        f"the card of record '13.0', gone from Jira, was not marked removed: {second}")
    assert second["marked_removed"] == 1
