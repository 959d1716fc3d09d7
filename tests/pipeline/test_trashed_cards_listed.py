"""An ESM whose listings include the cards in the trash can, marked ``deleted: true`` (the
contract is silent; the simulator's list_trashed knob answers so). The connector took a
trashed card for a live one: the load's key look-up found it for its key -- the record was
written to the trashed card (refused) every run and never got a live card again -- and
mark_removed counted it among the task's active cards and marked it. Real simulators."""
from __future__ import annotations

from contextlib import contextmanager

from jira_esm_connector.pipeline import mark_removed, run_import

from .conftest import USERS_TASK, make_task
from .helpers import run_id
from .test_removal_fast_path import _extracted, _keys, _load_people


@contextmanager
def trashed_cards_listed(esm_sim):
    esm_sim.admin("POST", "trash", {"list_trashed": True})
    try:
        yield
    finally:
        esm_sim.admin("POST", "trash", {"list_trashed": False})


def _cards_of(esm_sim, template: str, key_attr: str, key: str) -> list[dict]:
    """The stored cards (live and trashed) holding ``key``, as the simulator keeps them."""
    rows = esm_sim.admin("GET", f"cards?template={template}&limit=10000")["cards"]
    return [r for r in rows if [v.get("value") for v in r["data"].get(key_attr, [])] == [key]]


def test_a_record_whose_card_was_trashed_gets_a_new_card_and_the_trashed_one_stays_as_it_is(
    jira, jira_sim, esm, esm_sim, state, staging
):
    task = make_task(USERS_TASK, name="trashed_listed_users")
    run_import(task, jira, esm, state, staging, run_id(1))
    user = next(u for u in jira.iter_users() if u.get("active"))["accountId"]
    [card] = _cards_of(esm_sim, "person", "jira_account_id", user)
    esm.delete_card("person", card["id"])  # an agent moved it to the trash
    jira_sim.admin("PATCH", f"users/{user}", json={"displayName": "Renamed in Jira"})  # so the record is written

    with trashed_cards_listed(esm_sim):
        second = run_import(task, jira, esm, state, staging, run_id(2))

    cards = _cards_of(esm_sim, "person", "jira_account_id", user)
    live = [c for c in cards if not c["deleted"]]
    assert (second["created"], second["updated"], second["refused"]) == (1, 0, 0), second
    assert len(live) == 1 and live[0]["data"]["display_name"][0]["value"] == "Renamed in Jira"
    trashed = next(c for c in cards if c["id"] == card["id"])
    assert trashed["deleted"] and trashed["data"] == card["data"]  # untouched: not revived, not edited


def test_mark_removed_neither_counts_nor_marks_a_trashed_card(esm, esm_sim, state, tmp_path, run_log):
    task = make_task(USERS_TASK)
    keys = _keys(10)
    _load_people(task, esm, state, tmp_path / "load", keys)
    [gone] = _cards_of(esm_sim, "person", "jira_account_id", "acc-10")
    esm.delete_card("person", gone["id"])  # trashed in ESM; its record is not fetched any more
    fetched = keys[:9]

    with trashed_cards_listed(esm_sim):
        # the key map is complete after the load: the look-up way, then the paging way
        fast = mark_removed(task, _extracted(tmp_path / "e1", fetched), esm, state, logger=run_log)
        state.set_key_map_complete(task.name, "person", "jira_account_id", False)
        paged = mark_removed(task, _extracted(tmp_path / "e2", fetched), esm, state, logger=run_log)

    for result in (fast, paged):
        assert (result["active_cards"], result["marked_removed"], result["refused_removals"]) == (9, 0, 0), result
    [after] = _cards_of(esm_sim, "person", "jira_account_id", "acc-10")
    assert after["deleted"] and after["data"] == gone["data"]  # not marked
