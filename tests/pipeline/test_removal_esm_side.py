"""mark_removed and what the ESM side may hold besides the task's own cards: a card whose key
attribute someone changed by hand (the task wrote a record it fetched to that card, as the
state's key map says: a person still in Jira, not one gone), and the cards of another task that
ESM's filter on the task id returns as well. Real ESM simulator; datasets staged by hand, as in
test_removal_fast_path."""
from __future__ import annotations

from jira_esm_connector.esm import eql
from jira_esm_connector.pipeline import mark_removed

from .conftest import USERS_TASK, make_task
from .test_removal_fast_path import _deleted, _extracted, _keys, _load_people, _people

EDITED = "is the card of"


def test_a_card_whose_key_was_edited_by_hand_is_not_marked_removed_by_the_paging_or_later(
    esm, state, tmp_path, run_log
):
    task = make_task(USERS_TASK)
    keys = _keys(20)
    _load_people(task, esm, state, tmp_path / "load", keys)
    card = _people(esm)["acc-3"][0].data_card_id
    esm.patch_card("person", card, {"jira_account_id": "acc-3 (old account)"})  # edited by hand
    stranger = esm.create_card("person", {"jira_account_id": "acc-99", "task_id": task.name}, folder="persons")
    state.set_key_map_complete(task.name, "person", "jira_account_id", False)  # e.g. a load that crashed

    paged = mark_removed(task, _extracted(tmp_path / "e1", keys), esm, state, logger=run_log)

    # the card of acc-99, which no record of this run has, is marked; acc-3's card is not
    assert paged["marked_removed"] == 1 and _deleted(esm) == {"acc-99"}
    assert any(EDITED in m and card in m and "acc-3" in m for m in run_log.messages)
    assert state.get_card_ids(task.name, ["acc-99"]) == {"acc-99": stranger}

    # the next run takes the fast path (the paging noted the map complete): still not marked
    fast = mark_removed(task, _extracted(tmp_path / "e2", keys), esm, state, logger=run_log)
    assert fast["marked_removed"] == 0 and _deleted(esm) == {"acc-99"}
    assert _people(esm)["acc-3 (old account)"][0].value("accountStatus") == "Active"

    # once the task writes acc-3 again (here after a cache clear), acc-3 has a card of its own:
    # the edited card goes
    state.clear_cache(task.name, "cleared by the test")
    _load_people(task, esm, state, tmp_path / "load2", ["acc-3"])
    again = mark_removed(task, _extracted(tmp_path / "e3", keys), esm, state, logger=run_log)
    assert again["marked_removed"] == 1 and _deleted(esm) == {"acc-99", "acc-3 (old account)"}
    assert [c.value("accountStatus") for c in _people(esm)["acc-3"]] == ["Active"]


def test_a_card_of_a_record_this_run_did_not_fetch_is_marked_whatever_key_it_holds(esm, state, tmp_path):
    task = make_task(USERS_TASK)
    keys = _keys(20)
    _load_people(task, esm, state, tmp_path / "load", keys)
    esm.patch_card("person", _people(esm)["acc-3"][0].data_card_id, {"jira_account_id": "acc-3 (old account)"})
    state.set_key_map_complete(task.name, "person", "jira_account_id", False)

    result = mark_removed(task, _extracted(tmp_path / "e1", [k for k in keys if k != "acc-3"]), esm, state)

    assert result["marked_removed"] == 1 and _deleted(esm) == {"acc-3 (old account)"}


def test_the_paging_marks_no_card_another_task_stamped_when_esm_compares_without_case(
    esm, state, tmp_path, run_log, monkeypatch
):
    """ESM's ``=`` is ESM's to define: on a database that compares text without regard to case,
    a filter on this task's id also returns the cards of a task whose name differs only in case.
    The paging checks the stamp of every card it reads, as the key-map path does: a card of
    another task is never this task's to mark."""
    task = make_task(USERS_TASK)
    other = make_task(USERS_TASK, name="TEST_USERS")
    keys = _keys(10)
    _load_people(task, esm, state, tmp_path / "load", keys)
    _load_people(other, esm, state, tmp_path / "load2", ["other-1", "other-2"])
    state.record_run(task.name, "manual__earlier", {"fetched": 10}, 10)
    state.set_key_map_complete(task.name, "person", "jira_account_id", False)
    own, loose = eql.eq("task_id", task.name), eql.any_of("task_id", [task.name, other.name])
    real = esm.iter_cards
    monkeypatch.setattr(esm, "iter_cards", lambda template, *, filter=None, **kw: real(
        template, filter=filter.replace(own, loose) if filter else filter, **kw))

    result = mark_removed(task, _extracted(tmp_path / "e1", keys), esm, state, logger=run_log)

    assert result["marked_removed"] == 0 and _deleted(esm) == set()
    assert result["active_cards"] == 10
