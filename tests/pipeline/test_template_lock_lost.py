"""A writer that loses the ESM template's write lock (its state database did not answer for
longer than the lock's TTL, another writer took the template over) stops writing and records
nothing that claims it wrote alone: mark_removed checks the lock before each bulk chunk (as
the load does); a load that lost the lock after its last chunk, or a removal that lost it
while it read the task's cards, does not note the task's key map complete, and the step fails. Real ESM simulator and state store; short lock TTL (the
takeover is staged as in test_template_lock_resends)."""
from __future__ import annotations

import importlib
import logging

import pytest

from jira_esm_connector.pipeline import load, mark_removed
from jira_esm_connector.pipeline.template_lock import esm_identity
from jira_esm_connector.state import TemplateLockLostError
from jira_esm_connector.state.lease import template_lock_name

from .conftest import ISSUES_TASK, make_task
from .test_parallel_load import _cards_by_key, _keys, _record, _stage
from .test_template_lock_resends import OTHER, SETTINGS, _db_unreachable_past_the_ttl, loaded_full_task

load_module = importlib.import_module("jira_esm_connector.pipeline.load")


def test_mark_removed_checks_the_write_lock_before_each_chunk_and_stops_once_it_was_taken_over(
    esm_sim, esm_clients, state, tmp_path, monkeypatch, caplog
):
    esm_sim.reset()
    esm = esm_clients()
    task, keys, lock_name = loaded_full_task(esm, state, tmp_path, 251, "GONE")
    real_put_cards = esm._put_cards
    puts: list[int] = []

    def then_the_lock_is_taken_over(template, cards, *args, **kwargs):
        outcomes = real_put_cards(template, cards, *args, **kwargs)
        puts.append(len(cards))
        if len(puts) == 1:  # the first chunk of 200 is marked, then another writer takes the template
            _db_unreachable_past_the_ttl(state, monkeypatch, lock_name, taken_over=True)
        return outcomes

    monkeypatch.setattr(esm, "_put_cards", then_the_lock_is_taken_over)
    extracted = {**_stage(tmp_path / "e", [_record(keys[0], "v1")]), "fetched": 1}
    caplog.set_level(logging.INFO, logger="jira_esm_connector")

    with pytest.raises(TemplateLockLostError, match=r"lost its write lock \(task 'test_issues_other'"):
        mark_removed(task, extracted, esm, state, allow_mass_removal=True, allow_shrink=True, settings=SETTINGS)

    assert puts == [200]  # the second chunk (50 cards) was not sent next to the new holder's writes
    statuses = [c[0].value("status") for c in _cards_by_key(esm, task.name).values()]
    assert statuses.count("06 - Closed") == 200 and statuses.count("01 - New") == 51
    messages = [r.getMessage() for r in caplog.records]
    assert sum(m.startswith("Marked GONE-") for m in messages) == 200  # what was marked is logged card by card
    assert any("stopped after 200 of 250 candidate(s) were marked" in m for m in messages)
    assert state.get_lease(lock_name).holder == OTHER  # the new writer's lock, untouched


def test_a_load_that_lost_the_write_lock_after_its_last_chunk_fails_and_does_not_note_the_key_map_complete(
    esm_sim, esm_clients, state, tmp_path, monkeypatch
):
    esm_sim.reset()
    esm = esm_clients()
    task = make_task(ISSUES_TASK)
    keys = _keys(30, "LATE")
    lock_name = template_lock_name(esm_identity(esm), task.template)
    real_write_all = load_module._write_all

    def then_the_lock_is_taken_over(*args, **kwargs):
        real_write_all(*args, **kwargs)
        _db_unreachable_past_the_ttl(state, monkeypatch, lock_name, taken_over=True)

    monkeypatch.setattr(load_module, "_write_all", then_the_lock_is_taken_over)

    with pytest.raises(TemplateLockLostError, match=r"lost its write lock \(task 'test_issues_other'"):
        load(task, _stage(tmp_path / "d", [_record(k, "v1") for k in keys]), esm, state, chunk_size=10,
             settings=SETTINGS)

    # the template was empty: complete, were the run known to have written alone
    assert not state.key_map_complete(task.name, task.template, task.key.esm)
    cards = _cards_by_key(esm, task.name)  # what it wrote is there and recorded: nothing lost
    assert sorted(cards) == sorted(keys) and all(len(c) == 1 for c in cards.values())
    assert state.get_card_ids(task.name, keys) == {k: c[0].data_card_id for k, c in cards.items()}
    assert state.get_lease(lock_name).holder == OTHER


def test_mark_removed_that_lost_the_write_lock_while_paging_does_not_note_the_key_map_complete(
    esm_sim, esm_clients, state, tmp_path, monkeypatch
):
    esm_sim.reset()
    esm = esm_clients()
    task, keys, lock_name = loaded_full_task(esm, state, tmp_path, 5, "PAGED")
    state.set_key_map_complete(task.name, task.template, task.key.esm, False)  # e.g. a crashed load: pages
    real_put_card_ids = state.put_card_ids

    def then_the_lock_is_taken_over(*args, **kwargs):  # the cards were read, then another writer took over
        real_put_card_ids(*args, **kwargs)
        _db_unreachable_past_the_ttl(state, monkeypatch, lock_name, taken_over=True)

    monkeypatch.setattr(state, "put_card_ids", then_the_lock_is_taken_over)
    extracted = {**_stage(tmp_path / "e", [_record(keys[0], "v1")]), "fetched": 1}

    with pytest.raises(TemplateLockLostError, match=r"lost its write lock \(task 'test_issues_other'"):
        mark_removed(task, extracted, esm, state, allow_mass_removal=True, allow_shrink=True, settings=SETTINGS)

    assert not state.key_map_complete(task.name, task.template, task.key.esm)
    assert {k: c[0].value("status") for k, c in _cards_by_key(esm, task.name).items()} == dict.fromkeys(keys, "01 - New")
    assert state.get_lease(lock_name).holder == OTHER
