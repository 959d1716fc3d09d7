"""A card whose key attribute a person changed in ESM *after* a load noted the key map
complete. The next time the task writes that record, the load finds no card holding the key,
reads the mapped card by its id, sees another key on it, forgets it and creates a new card --
and noted the key map complete again, although the old card still carries this task's id and
is in the map under no key. mark_removed's fast path (key map) then never saw that card, while
the paging (the reference) marks it: the record had two active cards for good. Likewise a
mapped key the fast path no longer finds was forgotten, though its card was still the task's
under another key. Now both leave the map noted incomplete, and the step pages. Real ESM
simulator; datasets staged by hand as in test_removal_fast_path."""
from __future__ import annotations

from jira_esm_connector.pipeline import mark_removed

from .conftest import USERS_TASK, make_task
from .test_removal_fast_path import _deleted, _extracted, _keys, _load_people, _people

FAST = "Removal check from the key map"


def gone_and_rekeyed_by_hand(task, esm, state, tmp_path) -> list[str]:
    """20 people loaded (the load notes the key map complete), then acc-7's card re-keyed by
    hand in ESM and acc-7 deleted in Jira: the keys a run fetches now."""
    keys = _keys(20)
    _load_people(task, esm, state, tmp_path / "load", keys)
    assert state.key_map_complete(task.name, "person", "jira_account_id")
    card = _people(esm)["acc-7"][0].data_card_id
    esm.patch_card("person", card, {"jira_account_id": "acc-7 (old account)"})
    return [k for k in keys if k != "acc-7"]


def test_a_card_rekeyed_by_hand_after_a_load_is_marked_once_its_record_has_a_new_card(esm, state, tmp_path, run_log):
    task = make_task(USERS_TASK, name="rekeyed_users")
    keys = _keys(20)
    _load_people(task, esm, state, tmp_path / "load", keys)
    assert state.key_map_complete(task.name, "person", "jira_account_id")  # noted by the load (empty template)
    old = _people(esm)["acc-3"][0].data_card_id
    esm.patch_card("person", old, {"jira_account_id": "acc-3 (old account)"})  # a person edits the key in ESM

    # the task writes acc-3 again (changed in Jira, or after a cache clear): it gets a card of its own
    state.clear_cache(task.name, "cleared by the test")
    _load_people(task, esm, state, tmp_path / "load2", ["acc-3"])
    assert len(_people(esm)["acc-3"]) == 1 and _people(esm)["acc-3"][0].data_card_id != old

    # every record is still in Jira; the old card's key "acc-3 (old account)" was not fetched
    result = mark_removed(task, _extracted(tmp_path / "e1", keys), esm, state, logger=run_log)

    # what the paging does (see test_removal_esm_side): the hand-edited card, a duplicate of
    # acc-3's new card that carries this task's id and an unfetched key, is marked removed
    assert (result["marked_removed"], _deleted(esm)) == (1, {"acc-3 (old account)"}), (
        result, any(FAST in m for m in run_log.messages))


def test_the_paging_marks_it_the_reference_behaviour(esm, state, tmp_path, run_log):
    """Same scenario with the note cleared: the paging marks the card (the reference)."""
    task = make_task(USERS_TASK, name="rekeyed_users_paged")
    keys = _keys(20)
    _load_people(task, esm, state, tmp_path / "load", keys)
    old = _people(esm)["acc-3"][0].data_card_id
    esm.patch_card("person", old, {"jira_account_id": "acc-3 (old account)"})
    state.clear_cache(task.name, "cleared by the test")
    _load_people(task, esm, state, tmp_path / "load2", ["acc-3"])
    state.set_key_map_complete(task.name, "person", "jira_account_id", False)

    result = mark_removed(task, _extracted(tmp_path / "e1", keys), esm, state, logger=run_log)

    assert (result["marked_removed"], _deleted(esm)) == (1, {"acc-3 (old account)"}), result


def test_a_card_rekeyed_by_hand_whose_record_left_jira_is_marked_on_the_fast_path_too(esm, state, tmp_path, run_log):
    """The record acc-7 is gone from Jira; its card's key was edited in ESM meanwhile. The card
    carries this task's id and a key this run did not fetch: the paging marks it. The fast path
    looked acc-7 up, found no card holding it, forgot acc-7 from the map ("trashed, taken over")
    and kept the map noted complete -- the card was never a candidate again. Now it reads the
    card by its id, finds it still the task's, and pages."""
    task = make_task(USERS_TASK, name="rekeyed_gone_users")
    fetched = gone_and_rekeyed_by_hand(task, esm, state, tmp_path)

    first = mark_removed(task, _extracted(tmp_path / "e1", fetched), esm, state, logger=run_log)
    second = mark_removed(task, _extracted(tmp_path / "e2", fetched), esm, state, logger=run_log)

    assert _deleted(esm) == {"acc-7 (old account)"}, (first, second)
    assert first["marked_removed"] == 1 and any("now holds 'acc-7 (old account)'" in m for m in run_log.messages)
