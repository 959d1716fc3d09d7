"""Parallel loading (issue 10, item 3): bulk chunks at ESM at once, one look-up per chunk,
none on a first import; exactly one card per key whatever happens. Real ESM simulator over
HTTPS; the diff datasets are staged by hand so keys, duplicates and chunk borders are known."""
from __future__ import annotations

import gc
import hashlib
import importlib
import weakref
from collections import Counter
from pathlib import Path
from typing import Any

import pytest

from jira_esm_connector.esm import eql
from jira_esm_connector.http import RetryPolicy, ServiceUnavailableError
from jira_esm_connector.pipeline import diff, load
from jira_esm_connector.pipeline.staging import DatasetWriter
from jira_esm_connector.pipeline.transform import TRANSFORM_COLUMNS, encode_data

from .conftest import ISSUES_TASK, make_task
from .helpers import esm_stats, esm_writes, reset_esm_stats

load_module = importlib.import_module("jira_esm_connector.pipeline.load")
LISTING = "GET /rest-api/itsm/v1/dc/{templateCode}/data"


def _record(key: str, subject: str, object_id: str | None = None) -> dict[str, Any]:
    """A transformed issue record as diff stages it (``object_id``: the Jira issue id recorded with it)."""
    data = encode_data({"jira_key": key, "subject": subject, "status": "01 - New"})
    return {"key": key, "fingerprint": hashlib.sha256(data.encode()).hexdigest(), "data": data,
            "issue_key": None, "updated": "2026-01-01T00:00:00+00:00", "object_id": object_id}


def _stage(path: Path, records: list[dict[str, Any]], page: int = 50) -> dict[str, Any]:
    """A diff result whose dataset holds ``records`` in pages of ``page`` rows."""
    writer = DatasetWriter(path, TRANSFORM_COLUMNS)
    for start in range(0, len(records), page):
        writer.write_page(records[start:start + page])
    return {"dataset": str(writer.close().path), "changed": len(records), "unchanged": 0, "cache_cleared": False}


def _cards_by_key(esm, task_name: str | None = None) -> dict[str, list[Any]]:
    flt = eql.eq("task_id", task_name) if task_name else None
    out: dict[str, list[Any]] = {}
    for card in esm.iter_cards("incident", filter=flt):
        out.setdefault(str(card.value("jira_key")), []).append(card)
    return out


def _keys(n: int, prefix: str = "PAR") -> list[str]:
    return [f"{prefix}-{i}" for i in range(1, n + 1)]


def _lookups(esm_sim) -> int:
    return esm_stats(esm_sim).get(LISTING, 0)


def test_parallel_uneven_chunks_one_card_per_key_the_last_record_wins_and_a_rerun_writes_nothing(
    esm, esm_sim, state, tmp_path
):
    task = make_task(ISSUES_TASK)
    keys = _keys(317)
    # 23 keys come twice, on different pages (changed while Jira paged): the last one counts
    records = [_record(k, f"first {k}") for k in keys] + [_record(k, f"second {k}") for k in keys[100:123]]
    transformed = _stage(tmp_path / "transformed", records, page=41)
    assert diff(task, transformed, state, tmp_path / "run1")["changed"] == 317  # diff keeps each key's last record
    # load does not rely on it: given both copies of a key, it still writes one card, the last record
    diffed = _stage(tmp_path / "diffed", records, page=41)

    result = load(task, diffed, esm, state, chunk_size=37, concurrency=4)

    cards = _cards_by_key(esm, task.name)
    assert sorted(cards) == sorted(keys) and all(len(c) == 1 for c in cards.values())
    assert result["created"] == 317 and result["updated"] == 0 and result["refused"] == 0
    assert {k: cards[k][0].value("subject") for k in keys[100:123]} == {k: f"second {k}" for k in keys[100:123]}
    assert state.get_card_ids(task.name, keys) == {k: c[0].data_card_id for k, c in cards.items()}
    last = {r["key"]: r["fingerprint"] for r in records}
    assert state.get_fingerprints(task.name, keys) == last

    # the next run (each record once, as last seen): diff finds nothing changed, nothing is written
    rerun = _stage(tmp_path / "transformed2", list({r["key"]: r for r in records}.values()), page=41)
    reset_esm_stats(esm_sim)
    again = load(task, diff(task, rerun, state, tmp_path / "run2"), esm, state, chunk_size=37, concurrency=4)
    assert again["created"] == again["updated"] == 0
    assert esm_writes(esm_sim) == 0


def test_first_import_sends_no_lookups_a_second_one_sends_one_per_chunk(esm, esm_sim, state, sqlite_state, tmp_path):
    task = make_task(ISSUES_TASK)
    keys = _keys(230)
    diffed = _stage(tmp_path / "diff", [_record(k, "v1") for k in keys])
    reset_esm_stats(esm_sim)

    first = load(task, diffed, esm, state, chunk_size=50, concurrency=3)

    assert first["created"] == 230
    assert _lookups(esm_sim) == 1  # "is the template empty?" only
    assert state.key_map_complete(task.name, "incident", "jira_key")  # it started empty, recorded all

    # same records, another task's state (nothing mapped): every chunk asks ESM once and
    # finds the cards, so nothing is created twice
    other = make_task(ISSUES_TASK, name="test_issues_again")
    reset_esm_stats(esm_sim)
    second = load(other, _stage(tmp_path / "diff2", [_record(k, "v2") for k in keys]), esm, state,
                  chunk_size=50, concurrency=3)
    assert second["created"] == 0 and second["updated"] == 230
    assert _lookups(esm_sim) == 1 + 5  # the emptiness check, then one look-up per chunk of 50
    assert all(len(c) == 1 for c in _cards_by_key(esm).values()) and len(_cards_by_key(esm)) == 230
    assert not state.key_map_complete(other.name, "incident", "jira_key")  # the template had cards


def test_mapped_keys_are_verified_in_bulk_and_a_card_gone_from_esm_is_created_again(esm, esm_sim, state, tmp_path):
    task = make_task(ISSUES_TASK)
    keys = _keys(120)
    load(task, _stage(tmp_path / "d1", [_record(k, "v1") for k in keys]), esm, state, chunk_size=60)
    gone = _cards_by_key(esm, task.name)["PAR-7"][0].data_card_id
    esm.delete_card("incident", gone)
    reset_esm_stats(esm_sim)

    result = load(task, _stage(tmp_path / "d2", [_record(k, "v2") for k in keys]), esm, state, chunk_size=60)

    assert _lookups(esm_sim) == 1 + 2  # no look-up per mapped card: one per chunk
    assert result["updated"] == 119 and result["created"] == 1
    cards = _cards_by_key(esm, task.name)
    assert len(cards) == 120 and all(len(c) == 1 for c in cards.values())
    assert state.get_card_ids(task.name, ["PAR-7"])["PAR-7"] == cards["PAR-7"][0].data_card_id != gone


def test_a_failed_state_write_between_chunks_then_a_retry_leaves_no_duplicate(esm, state, tmp_path, monkeypatch):
    task = make_task(ISSUES_TASK)
    keys = _keys(260)
    diffed = _stage(tmp_path / "diff", [_record(k, "v1") for k in keys])
    real_record = state.record_loaded
    calls = Counter()

    def crash_on_the_third(task_name, **answer):
        calls["record"] += 1
        if calls["record"] == 3:
            raise RuntimeError("state database went away")
        return real_record(task_name, **answer)

    monkeypatch.setattr(state, "record_loaded", crash_on_the_third)
    with pytest.raises(RuntimeError, match="went away"):
        load(task, diffed, esm, state, chunk_size=30, concurrency=4)
    written = _cards_by_key(esm, task.name)
    assert 0 < len(written) < 260  # it stopped part-way, with chunks already saved in ESM
    assert not state.key_map_complete(task.name, "incident", "jira_key")
    monkeypatch.setattr(state, "record_loaded", real_record)

    retry = load(task, diffed, esm, state, chunk_size=30, concurrency=4)

    cards = _cards_by_key(esm, task.name)
    assert sorted(cards) == sorted(keys) and all(len(c) == 1 for c in cards.values())
    assert retry["created"] == 260 - len(written)
    assert retry["updated"] + retry["already_loaded"] == len(written)


def _arm_after_the_emptiness_check(monkeypatch, esm_sim, knob: dict[str, Any]) -> None:
    """Arm an error knob right after load asked whether the template is empty, so the
    errors hit the chunks' requests (look-ups, bulk PUTs), not that first question."""
    real_check = load_module._template_is_empty

    def check_then_arm(*args, **kwargs):
        empty = real_check(*args, **kwargs)
        esm_sim.admin("POST", "errors", knob)
        return empty

    monkeypatch.setattr(load_module, "_template_is_empty", check_then_arm)


def test_an_ambiguous_failure_of_a_creating_put_is_not_repeated_and_the_retry_loads_everything_once(
    esm_sim, esm_clients, state, tmp_path, monkeypatch
):
    """500 on a bulk PUT that creates cards: ESM may have saved them, so the client does not
    send it again (an edit would be repeated); the load fails, and its retry loads every
    record exactly once."""
    esm_sim.reset()
    esm = esm_clients(retry=RetryPolicy(backoff_base=0.01, backoff_cap=0.05, max_retry_after=1))
    task = make_task(ISSUES_TASK)
    keys = _keys(90)
    diffed = _stage(tmp_path / "diff", [_record(k, "v1") for k in keys])
    _arm_after_the_emptiness_check(monkeypatch, esm_sim, {"count": 1, "status": 500, "path_contains": "/dc/incident/data"})
    with pytest.raises(ServiceUnavailableError):
        load(task, diffed, esm, state, chunk_size=30, concurrency=1)
    assert esm_stats(esm_sim).get("injected error") == 1  # one 500, and the PUT was not sent again
    assert _cards_by_key(esm, task.name) == {}
    monkeypatch.undo()

    retry = load(task, diffed, esm, state, chunk_size=30, concurrency=1)

    cards = _cards_by_key(esm, task.name)
    assert sorted(cards) == sorted(keys) and all(len(c) == 1 for c in cards.values())
    assert retry["created"] == 90


def test_an_edit_only_put_is_repeated_after_a_500(esm_sim, esm_clients, state, tmp_path):
    """The same 500 on a PUT that only edits cards is retried: repeating an edit is harmless."""
    esm_sim.reset()
    esm = esm_clients(retry=RetryPolicy(backoff_base=0.01, backoff_cap=0.05, max_retry_after=1))
    task = make_task(ISSUES_TASK)
    keys = _keys(30)
    load(task, _stage(tmp_path / "d1", [_record(k, "v1") for k in keys]), esm, state, chunk_size=30)
    reset_esm_stats(esm_sim)
    # the look-up (a GET, retried anyway) and the PUT share the path: two errors cover both
    esm_sim.admin("POST", "errors", {"count": 2, "status": 500, "path_contains": "/dc/incident/data"})

    result = load(task, _stage(tmp_path / "d2", [_record(k, "v2") for k in keys]), esm, state, chunk_size=30)

    assert result["updated"] == 30 and esm_stats(esm_sim).get("injected error") == 2
    assert {c[0].value("subject") for c in _cards_by_key(esm, task.name).values()} == {"v2"}


@pytest.mark.parametrize("status", [429, 503])
def test_a_storm_of_refusals_with_retry_after_ends_complete_without_duplicates(
    esm_sim, esm_clients, state, tmp_path, monkeypatch, status
):
    """429 and 503 come with Retry-After (the simulator, like ESM, refuses before doing
    anything): PUTs that create cards are repeated after the wait, and nothing is created
    twice -- on a first import (only PUTs) and on a second (look-ups and PUTs)."""
    esm_sim.reset()
    esm = esm_clients(retry=RetryPolicy(total=10, backoff_base=0.01, backoff_cap=0.05, max_retry_after=1))
    task = make_task(ISSUES_TASK)
    keys = _keys(250)
    knob = {"count": 8, "status": status, "path_contains": "/dc/incident/data"}
    _arm_after_the_emptiness_check(monkeypatch, esm_sim, knob)

    first = load(task, _stage(tmp_path / "d1", [_record(k, "v1") for k in keys[:200]]), esm, state,
                 chunk_size=40, concurrency=4)
    assert esm_stats(esm_sim).get("injected error") == 8  # all spent on the creating PUTs
    reset_esm_stats(esm_sim)
    second = load(task, _stage(tmp_path / "d2", [_record(k, "v2") for k in keys]), esm, state,
                  chunk_size=40, concurrency=4)

    assert esm_stats(esm_sim).get("injected error") == 8
    assert first["created"] == 200 and second["created"] == 50 and second["updated"] == 200
    assert first["refused"] == second["refused"] == 0
    cards = _cards_by_key(esm, task.name)
    assert sorted(cards) == sorted(keys) and all(len(c) == 1 for c in cards.values())


def test_an_esm_rate_limit_slows_the_parallel_load_down_but_loses_nothing(esm_sim, esm_clients, state, tmp_path):
    esm_sim.reset()
    esm = esm_clients(retry=RetryPolicy(total=12, backoff_base=0.01, backoff_cap=0.05, max_retry_after=1))
    task = make_task(ISSUES_TASK)
    keys = _keys(160)
    load(task, _stage(tmp_path / "d1", [_record(k, "v1") for k in keys[:40]]), esm, state, chunk_size=20)
    esm_sim.admin("POST", "ratelimit", {"per_second": 4})
    try:
        result = load(task, _stage(tmp_path / "d2", [_record(k, "v2") for k in keys]), esm, state,
                      chunk_size=20, concurrency=4)
    finally:
        esm_sim.admin("POST", "ratelimit", {"per_second": 0})
    assert esm_stats(esm_sim).get("rate limited", 0) > 0  # the limit was really hit
    assert result["created"] == 120 and result["updated"] == 40
    cards = _cards_by_key(esm, task.name)
    assert sorted(cards) == sorted(keys) and all(len(c) == 1 for c in cards.values())
    assert all(c[0].value("subject") == "v2" for c in cards.values())


class _Cycle:
    pass


def test_the_older_heap_is_left_out_of_gc_only_while_the_chunks_stream(esm, state, tmp_path, monkeypatch):
    """The load keeps the objects older than itself out of the collector's full passes while
    it writes (they made those passes slow), and hands them back after, also on a failure:
    garbage made before the load is still collected."""
    task = make_task(ISSUES_TASK)
    before = gc.get_freeze_count()
    assert before == 0  # the test process does not freeze its heap (see the next test for one that does)
    garbage = _Cycle()
    garbage.me = garbage
    gone = weakref.ref(garbage)
    del garbage
    frozen_while_writing = []
    real_write = load_module._write_chunk

    def spy(*args, **kwargs):
        frozen_while_writing.append(gc.get_freeze_count())
        return real_write(*args, **kwargs)

    monkeypatch.setattr(load_module, "_write_chunk", spy)
    result = load(task, _stage(tmp_path / "d1", [_record(k, "v1") for k in _keys(60)]), esm, state, chunk_size=20)

    assert result["created"] == 60 and len(frozen_while_writing) == 3
    assert all(n > before for n in frozen_while_writing)
    assert gc.get_freeze_count() == before
    gc.collect()
    assert gone() is None

    def broken(*args, **kwargs):
        raise RuntimeError("ESM went away")

    monkeypatch.setattr(load_module, "_write_chunk", broken)
    with pytest.raises(RuntimeError, match="went away"):
        load(task, _stage(tmp_path / "d2", [_record(k, "v2") for k in _keys(60)]), esm, state, chunk_size=20)
    assert gc.get_freeze_count() == before


def test_a_heap_the_process_froze_itself_stays_frozen(esm, state, tmp_path):
    """Airflow's LocalExecutor freezes its heap before forking workers (their pages stay
    shared); the load must not undo that."""
    task = make_task(ISSUES_TASK)
    gc.freeze()
    try:
        frozen = gc.get_freeze_count()
        assert frozen > 0
        load(task, _stage(tmp_path / "d", [_record(k, "v1") for k in _keys(20)]), esm, state, chunk_size=20)
        assert gc.get_freeze_count() >= frozen
    finally:
        gc.unfreeze()
