"""Removed records are only marked when the listing can be trusted (issue 8, item 2):
capped pages, a run that fetched markedly fewer records than the last one, and the opt-in
re-activation of a card whose record comes back. Real simulators over HTTPS."""
from __future__ import annotations

import pytest

from jira_esm_connector.pipeline import RemovalLimitError, ShrinkLimitError, run_import

from .conftest import USERS_TASK, make_task
from .helpers import by_attr, esm_cards, run_id


def _people(jira, jira_sim) -> list[dict]:
    """Jira users other than the simulator's login account (which must keep existing)."""
    return [u for u in jira.iter_users() if u.get("emailAddress") != jira_sim.email]


def _delete_users(jira_sim, users) -> list[str]:
    for user in users:
        jira_sim.admin("DELETE", f"users/{user['accountId']}")
    return [u["accountId"] for u in users]


def test_capped_pages_fetch_every_user_and_mark_none_removed(jira, jira_sim, esm, state, staging):
    """The reported case: the server capped pages at 12 while the task asked for 20; with
    21 live users the listing ended after the first (short) page and 9 were marked Deleted."""
    total = len(list(jira.iter_users()))
    _delete_users(jira_sim, _people(jira, jira_sim)[: total - 21])
    assert len(list(jira.iter_users())) == 21
    task = make_task(USERS_TASK, page_size=20)
    first = run_import(task, jira, esm, state, staging, run_id(1))
    assert first["created"] == 21

    jira_sim.admin("PUT", "config", json={"max_results_cap": 12})
    second = run_import(task, jira, esm, state, staging, run_id(2))

    assert second["fetched"] == 21 and second["marked_removed"] == 0
    cards = esm_cards(esm, "person", task.name)
    assert len(cards) == 21 and all(c.value("accountStatus") != "Deleted" for c in cards.values())


def test_markedly_smaller_fetch_marks_nothing_unless_allowed(jira, jira_sim, esm, state, staging, run_log):
    task = make_task(USERS_TASK)  # removed.max_shrink: default 0.10
    first = run_import(task, jira, esm, state, staging, run_id(1))
    gone = _delete_users(jira_sim, _people(jira, jira_sim)[:6])  # 15 % fewer, but within max_share 50 %

    with pytest.raises(ShrinkLimitError) as err:
        run_import(task, jira, esm, state, staging, run_id(2), logger=run_log)
    message = str(err.value)
    assert isinstance(err.value, RemovalLimitError)  # fails at once in Airflow, no retry
    assert f"fetched {first['fetched'] - 6} record(s)" in message and f"the {first['fetched']} of the last" in message
    assert "Nothing was marked" in message and "allow_shrink" in message and "10%" in message
    cards = by_attr(esm_cards(esm, "person", task.name), "jira_account_id")
    assert all(c.value("accountStatus") != "Deleted" for c in cards.values())
    assert state.last_volume(task.name) == first["fetched"]  # the refused run is not the new baseline
    assert any("refusing to mark 6 'person' card(s)" in m for m in run_log.messages)

    # ... and again on the next run: the comparison is with the last *successful* run
    with pytest.raises(ShrinkLimitError):
        run_import(task, jira, esm, state, staging, run_id(3))

    allowed = run_import(task, jira, esm, state, staging, run_id(4), allow_shrink=True)
    assert allowed["marked_removed"] == 6
    cards = by_attr(esm_cards(esm, "person", task.name), "jira_account_id")
    assert sorted(k for k, c in cards.items() if c.value("accountStatus") == "Deleted") == sorted(gone)
    assert state.last_volume(task.name) == first["fetched"] - 6
    assert run_import(task, jira, esm, state, staging, run_id(5))["marked_removed"] == 0


def test_a_listing_cut_short_marks_nothing_when_the_state_has_no_earlier_volume(jira, jira_sim, esm, state, staging,
                                                                                tmp_path):
    """A new state database (lost, migrated) has no earlier run's volume to compare with: a
    user listing that stops early must not de-provision the users it did not reach. The
    task's active cards in ESM are the baseline then."""
    from jira_esm_connector.state import StateStore

    task = make_task(USERS_TASK)
    total = run_import(task, jira, esm, state, staging, run_id(1))["fetched"]
    new_state = StateStore(f"sqlite:///{tmp_path / 'new-state.db'}")
    jira_sim.admin("PUT", "config", json={"users_listing_max": total - 8})  # 20 % cut: within max_share
    try:
        with pytest.raises(ShrinkLimitError) as err:
            run_import(task, jira, esm, new_state, staging, run_id(2))
        assert f"fetched {total - 8} record(s)" in str(err.value) and f"{total} active" in str(err.value)
        cards = esm_cards(esm, "person", task.name)
        assert len(cards) == total and all(c.value("accountStatus") != "Deleted" for c in cards.values())
        # let through once, the run still asks Jira about each user the listing left out: it
        # has them all, so none is marked
        assert run_import(task, jira, esm, new_state, staging, run_id(3), allow_shrink=True)["marked_removed"] == 0
        cards = esm_cards(esm, "person", task.name)
        assert all(c.value("accountStatus") != "Deleted" for c in cards.values())
    finally:
        jira_sim.admin("PUT", "config", json={"users_listing_max": 0})
        new_state.dispose()


def test_max_shrink_setting_is_the_threshold(jira, jira_sim, esm, state, staging):
    task = make_task(USERS_TASK, removed={"max_shrink": 0.2})
    run_import(task, jira, esm, state, staging, run_id(1))
    _delete_users(jira_sim, _people(jira, jira_sim)[:6])  # 15 %: within 20 %
    assert run_import(task, jira, esm, state, staging, run_id(2))["marked_removed"] == 6


@pytest.mark.parametrize("variant", ["mapped", "active_value"])
def test_reactivate_puts_a_removed_card_back_when_its_record_reappears(jira, jira_sim, esm, state, staging, run_log, variant):
    if variant == "mapped":  # the mapping sets accountStatus: its value is the active one
        task = make_task(USERS_TASK, removed={"reactivate": True})
    else:  # the mapping does not set it: removed.active_value is used
        attributes = {k: v for k, v in USERS_TASK["attributes"].items() if k != "accountStatus"}
        task = make_task(USERS_TASK, attributes=attributes, removed={"reactivate": True, "active_value": "Active"})
    run_import(task, jira, esm, state, staging, run_id(1))
    user = next(u for u in _people(jira, jira_sim) if u.get("active"))
    gone = user["accountId"]
    _delete_users(jira_sim, [user])
    assert run_import(task, jira, esm, state, staging, run_id(2))["marked_removed"] == 1
    assert by_attr(esm_cards(esm, "person", task.name), "jira_account_id")[gone].value("accountStatus") == "Deleted"

    jira_sim.admin("POST", "users", json={"accountId": gone, "email": user.get("emailAddress"),
                                          "displayName": user["displayName"]})
    back = run_import(task, jira, esm, state, staging, run_id(3), logger=run_log)

    card = by_attr(esm_cards(esm, "person", task.name), "jira_account_id")[gone]
    assert card.value("accountStatus") == "Active"
    assert back["reactivated"] == 1 and back["updated"] == 1 and back["marked_removed"] == 0
    assert any(m.startswith(f"Re-activated card {card.data_card_id} ({gone})") and "from Deleted to Active" in m
               for m in run_log.messages), run_log.messages


class _AnswerLostAfterMarking:
    """The ESM client, except that the marking bulk write's answer is lost: ESM applied it, the
    step fails (a dropped connection, a killed worker)."""

    def __init__(self, esm):
        self._esm = esm

    def __getattr__(self, name):
        return getattr(self._esm, name)

    def bulk_import(self, *args, **kwargs):
        self._esm.bulk_import(*args, **kwargs)
        raise ConnectionError("the connection dropped before ESM's answer arrived")


def test_a_record_back_after_a_marking_whose_answer_was_lost_is_still_re_activated(jira, jira_sim, esm, state, staging):
    """The fingerprint of a record about to be marked is forgotten before ESM is asked, not
    after: otherwise, once the answer is lost, the record coming back unchanged would be
    skipped as unchanged and its card would stay disabled despite removed.reactivate."""
    task = make_task(USERS_TASK, removed={"reactivate": True})
    run_import(task, jira, esm, state, staging, run_id(1))
    user = next(u for u in _people(jira, jira_sim) if u.get("active"))
    gone = user["accountId"]
    _delete_users(jira_sim, [user])
    with pytest.raises(ConnectionError):
        run_import(task, jira, _AnswerLostAfterMarking(esm), state, staging, run_id(2))
    assert by_attr(esm_cards(esm, "person", task.name), "jira_account_id")[gone].value("accountStatus") == "Deleted"

    jira_sim.admin("POST", "users", json={"accountId": gone, "email": user.get("emailAddress"),
                                          "displayName": user["displayName"]})
    back = run_import(task, jira, esm, state, staging, run_id(3))
    assert back["reactivated"] == 1 and back["updated"] == 1 and back["marked_removed"] == 0
    assert by_attr(esm_cards(esm, "person", task.name), "jira_account_id")[gone].value("accountStatus") == "Active"
