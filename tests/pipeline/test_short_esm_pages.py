"""An ESM page may hold fewer cards than asked -- none at all -- while its next link goes on
(the contract allows it; the simulator's filter_in_window knob answers so). The client took
an empty page for the end of the listing: the load's look-up of a key whose card sits below
such a page found nothing, and the import created a second card for the key."""
from __future__ import annotations

from jira_esm_connector.esm import CardInput
from jira_esm_connector.pipeline import run_import

from .conftest import USERS_TASK, make_task
from .helpers import esm_cards, run_id


def test_a_card_below_an_empty_filtered_page_is_edited_not_created_again(jira, jira_sim, esm, esm_sim, state, staging):
    task = make_task(USERS_TASK, name="short_pages_users")
    first = run_import(task, jira, esm, state, staging, run_id(1))
    user = next(u for u in jira.iter_users() if u.get("active"))["accountId"]
    # 200 newer person cards of another task: the look-up's first window holds none of the keys
    others = [CardInput({"jira_account_id": f"other-{i}", "task_id": "another_task"}) for i in range(200)]
    assert len(esm.bulk_import("person", others, folder="persons").created) == 200
    jira_sim.admin("PATCH", f"users/{user}", json={"displayName": "Renamed in Jira"})
    esm_sim.admin("POST", "paging", {"filter_in_window": True})
    try:
        second = run_import(task, jira, esm, state, staging, run_id(2))
    finally:
        esm_sim.admin("POST", "paging", {"filter_in_window": False})

    cards = [c for c in esm_cards(esm, "person", task.name).values() if c.value("jira_account_id") == user]
    assert (second["created"], second["updated"]) == (0, 1), second
    assert len(cards) == 1 and cards[0].value("display_name") == "Renamed in Jira"
    assert len(esm_cards(esm, "person", task.name)) == first["fetched"]
