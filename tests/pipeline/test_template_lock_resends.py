"""A write ESM refused with 429/503 + Retry-After is sent again after its wait only while the
writer still holds the template's write lock. The lock is checked between chunks; the waits
of one request (up to ``max_retry_after`` each, ``total`` of them: minutes) are within a
chunk. A worker whose state database did not answer for longer than the lock's TTL may have
lost the lock to another writer meanwhile: its resend would then write older data next to
(or over) the new holder's. Real ESM simulator (its error knob answers 429/503 with
Retry-After) and state store; short waits (retry policy, lock TTL)."""
from __future__ import annotations

import importlib
import itertools
import threading
import time
from datetime import datetime, timedelta, timezone
from types import SimpleNamespace
from typing import Callable

import pytest

from jira_esm_connector.http import RetryPolicy
from jira_esm_connector.pipeline import load, mark_removed
from jira_esm_connector.pipeline.template_lock import esm_identity
from jira_esm_connector.state import TemplateLockLostError
from jira_esm_connector.state.lease import template_lock_name

from .conftest import ISSUES_TASK, make_task
from .helpers import esm_stats, reset_esm_stats
from .test_parallel_load import _arm_after_the_emptiness_check, _cards_by_key, _keys, _record, _stage

retry_module = importlib.import_module("jira_esm_connector.http.retry")
removal_module = importlib.import_module("jira_esm_connector.pipeline.removal")

TTL = 0.6  # the write lock's heartbeat lifetime
SETTINGS = SimpleNamespace(lease_ttl_seconds=TTL)
FAST = RetryPolicy(total=6, backoff_base=0.01, backoff_cap=0.05, max_retry_after=0.3)  # Retry-After: 1 -> 0.3 s
PUT = "PUT /rest-api/itsm/v1/dc/{templateCode}/data"  # bulk PUTs ESM processed (refused ones are "injected error")
OTHER = "load on another worker"


def loaded_full_task(esm, state, tmp_path, count: int, prefix: str):
    """(a full task with removal whose ``count`` cards ``prefix``-n are loaded, their keys,
    the name of the template's write lock)."""
    task = make_task(ISSUES_TASK, name="test_issues_full", mode="full",
                     removed={"attribute": "status", "value": "06 - Closed"})
    keys = _keys(count, prefix)
    load(task, _stage(tmp_path / "d", [_record(k, "v1") for k in keys]), esm, state, settings=SETTINGS)
    return task, keys, template_lock_name(esm_identity(esm), task.template)


def _db_unreachable_past_the_ttl(state, monkeypatch, lock_name: str, *, taken_over: bool) -> None:
    """This worker's state database stops answering (the lock's heartbeat cannot renew it)
    for two TTLs; with ``taken_over`` another writer takes the expired lock meanwhile. Then
    the database answers again."""
    renew = state.renew_lease

    def unreachable(*args, **kwargs):
        raise ConnectionError("state database unreachable")

    monkeypatch.setattr(state, "renew_lease", unreachable)
    time.sleep(2 * TTL)
    if taken_over:
        now = datetime.now(timezone.utc)
        assert state.try_acquire_lease(
            lock_name, "test_issues_other|manual__9|x", OTHER, holder_expires_at=now + timedelta(minutes=5),
            run_expires_at=now, run_name="task 'test_issues_other' run 'manual__9'").acquired
    monkeypatch.setattr(state, "renew_lease", renew)


def _during_the_first_retry_waits(monkeypatch, writers: int, then: Callable[[], None]) -> None:
    """Run ``then`` once while the first retry waits of ``writers`` parallel chunk writers
    are all under way (the waits themselves are real)."""
    gate = threading.Barrier(writers, timeout=30)
    calls = itertools.count()

    def sleep(seconds: float) -> None:
        if next(calls) < writers:
            if gate.wait() == 0:
                then()
            gate.wait()  # every writer goes on once ``then`` is done
        time.sleep(seconds)

    monkeypatch.setattr(retry_module, "time", SimpleNamespace(sleep=sleep))


@pytest.mark.parametrize("status", [503, 429])
@pytest.mark.parametrize("taken_over", [True, False], ids=["taken-over", "kept"])
def test_a_bulk_put_waiting_to_be_resent_is_not_sent_once_the_write_lock_was_taken_over(
    esm_sim, esm_clients, state, tmp_path, monkeypatch, caplog, status, taken_over
):
    esm_sim.reset()
    esm = esm_clients(retry=FAST)
    task = make_task(ISSUES_TASK)
    keys = _keys(40, "RESEND")
    lock_name = template_lock_name(esm_identity(esm), task.template)
    # the two chunks' first PUTs (written at once, on two threads) are refused
    _arm_after_the_emptiness_check(monkeypatch, esm_sim, {"count": 2, "status": status,
                                                          "path_contains": "/dc/incident/data"})
    _during_the_first_retry_waits(monkeypatch, 2, lambda: _db_unreachable_past_the_ttl(
        state, monkeypatch, lock_name, taken_over=taken_over))
    reset_esm_stats(esm_sim)
    diffed = _stage(tmp_path / "d", [_record(k, "v1") for k in keys])

    if not taken_over:  # the database was away, but nobody took the template: the retries go on
        result = load(task, diffed, esm, state, chunk_size=20, concurrency=2, settings=SETTINGS)
        assert result["created"] == 40 and result["refused"] == 0
        assert esm_stats(esm_sim).get("injected error") == 2 and esm_stats(esm_sim).get(PUT) == 2
        cards = _cards_by_key(esm, task.name)
        assert sorted(cards) == sorted(keys) and all(len(c) == 1 for c in cards.values())
        assert state.get_lease(lock_name).released
        return

    with pytest.raises(TemplateLockLostError, match=r"lost its write lock \(task 'test_issues_other'"):
        load(task, diffed, esm, state, chunk_size=20, concurrency=2, settings=SETTINGS)

    stats = esm_stats(esm_sim)
    assert stats.get("injected error") == 2  # each chunk's PUT was refused once ...
    assert stats.get(PUT, 0) == 0  # ... and neither was sent again
    assert _cards_by_key(esm) == {}
    assert state.get_lease(lock_name).holder == OTHER  # the new writer's lock, untouched
    stopped = [r.getMessage() for r in caplog.records if "not sent again after the wait" in r.getMessage()]
    assert len(stopped) == 2 and all(f"ESM answered {status} " in m and "PUT /" in m for m in stopped)
    assert all("lost its write lock" in m for m in stopped)


def test_mark_removed_does_not_resend_its_marking_once_the_write_lock_was_taken_over(
    esm_sim, esm_clients, state, tmp_path, monkeypatch
):
    esm_sim.reset()
    esm = esm_clients(retry=FAST)
    task, keys, lock_name = loaded_full_task(esm, state, tmp_path, 3, "GONE")
    real_not_gone = removal_module._not_gone_from_jira

    def then_refuse_the_marking(*args, **kwargs):
        candidates = real_not_gone(*args, **kwargs)
        reset_esm_stats(esm_sim)
        esm_sim.admin("POST", "errors", {"count": 1, "status": 503, "path_contains": "/dc/incident/data"})
        return candidates

    monkeypatch.setattr(removal_module, "_not_gone_from_jira", then_refuse_the_marking)
    _during_the_first_retry_waits(monkeypatch, 1, lambda: _db_unreachable_past_the_ttl(
        state, monkeypatch, lock_name, taken_over=True))
    extracted = {**_stage(tmp_path / "e", [_record(keys[0], "v1")]), "fetched": 1}

    with pytest.raises(TemplateLockLostError, match="lost its write lock"):
        mark_removed(task, extracted, esm, state, allow_mass_removal=True, allow_shrink=True, settings=SETTINGS)

    stats = esm_stats(esm_sim)
    assert stats.get("injected error") == 1 and stats.get(PUT, 0) == 0  # refused once, not sent again
    assert {k: c[0].value("status") for k, c in _cards_by_key(esm, task.name).items()} == dict.fromkeys(keys, "01 - New")
    assert state.get_lease(lock_name).holder == OTHER
