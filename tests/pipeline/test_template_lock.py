"""One writer per ESM template: two DIFFERENT tasks writing the same template (overlapping
selections -- documented: "if several tasks fetch the same record, the last one to write it
owns it") take turns. ESM's bulk PUT has no upsert: a load looks its keys up and creates
the cards it did not find, so two loads at once each create a card for a shared key; the
first-import shortcut (one "is the template empty?" question, then no look-ups at all) made
the window the whole load. The per-task lease does not help: the tasks differ.
Real ESM simulator; diff datasets staged by hand (the helpers of test_parallel_load)."""
from __future__ import annotations

import importlib
import logging
import multiprocessing
import os
import signal
import threading
import time
from types import SimpleNamespace

import pytest

from jira_esm_connector.pipeline import load, mark_removed
from jira_esm_connector.pipeline.template_lock import esm_identity, writing_template
from jira_esm_connector.state import TemplateBusyError
from jira_esm_connector.state.lease import template_lock_name

from .conftest import ISSUES_TASK, make_task
from .test_parallel_load import _cards_by_key, _keys, _record, _stage

load_module = importlib.import_module("jira_esm_connector.pipeline.load")
lock_module = importlib.import_module("jira_esm_connector.pipeline.template_lock")


class _Load(threading.Thread):
    """A load of another task in a thread (another worker); ``error`` if it raised."""

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(daemon=True)
        self.args_, self.kwargs_, self.result, self.error = args, kwargs, None, None

    def run(self) -> None:
        try:
            self.result = load(*self.args_, **self.kwargs_)
        except BaseException as exc:  # noqa: BLE001 - reported by the test
            self.error = exc


def _no_duplicates(esm) -> dict[str, list]:
    cards = _cards_by_key(esm)
    duplicated = sorted(k for k, c in cards.items() if len(c) > 1)
    assert duplicated == [], f"{len(duplicated)} key(s) have two cards, e.g. {duplicated[:3]}"
    return cards


def test_two_tasks_on_one_template_first_import_no_duplicate_cards(esm, state, tmp_path, monkeypatch):
    task_a = make_task(ISSUES_TASK, name="test_issues_sup")
    task_b = make_task(ISSUES_TASK, name="test_issues_all")  # an overlapping JQL, same template
    keys = _keys(60)
    real_is_empty = load_module._template_is_empty
    calls = []
    other: list[_Load] = []

    def is_empty_then_the_other_task_loads(esm_, template):
        empty = real_is_empty(esm_, template)
        calls.append(empty)
        if len(calls) == 1:
            # task B's run (its own lease, its own key map) loads while A's is under way
            b = _Load(task_b, _stage(tmp_path / "b", [_record(k, "from B") for k in keys]), esm, state, chunk_size=20)
            other.append(b)
            b.start()
            b.join(1.5)  # long enough for B to load all 60 records, were it let in
            assert b.is_alive(), "task B loaded while task A held the template"
        return empty

    monkeypatch.setattr(load_module, "_template_is_empty", is_empty_then_the_other_task_loads)
    a_result = load(task_a, _stage(tmp_path / "a", [_record(k, "from A") for k in keys]), esm, state, chunk_size=20)
    other[0].join(60)
    assert not other[0].is_alive() and other[0].error is None, other[0].error

    cards = _no_duplicates(esm)
    assert calls[0] is True and calls[1] is False  # B asked after A had written: not empty any more
    assert a_result["created"] == 60 and other[0].result["created"] == 0 and other[0].result["updated"] == 60
    assert len(cards) == 60
    # B wrote last: it owns the records ("the last one to write it owns it")
    assert {c[0].value("task_id") for c in cards.values()} == {"test_issues_all"}


def test_a_second_load_waits_while_the_template_is_held_and_proceeds_after(esm, state, tmp_path, caplog):
    holder = make_task(ISSUES_TASK, name="test_issues_sup")
    waiter = make_task(ISSUES_TASK, name="test_issues_all")
    keys = _keys(10, "WAIT")
    caplog.set_level(logging.INFO, logger="jira_esm_connector")
    with writing_template(holder, esm, state, step="load", run_id="scheduled__1") as lock:
        row = state.get_lease(lock.task)
        assert row.holder and row.run_name == "task 'test_issues_sup' run 'scheduled__1'"
        b = _Load(waiter, _stage(tmp_path / "b", [_record(k, "from B") for k in keys]), esm, state,
                  run_id="manual__2")
        b.start()
        b.join(1.5)
        assert b.is_alive() and _cards_by_key(esm) == {}  # waiting, nothing written
        waiting = [r.getMessage() for r in caplog.records if "waits up to" in r.getMessage()]
        assert len(waiting) == 1  # at most one line per 30 s
        assert "task 'test_issues_sup' run 'scheduled__1'" in waiting[0] and "Task 'test_issues_all'" in waiting[0]
        assert "heartbeat until" in waiting[0]
    b.join(30)
    assert not b.is_alive() and b.error is None, b.error
    assert b.result["created"] == 10 and len(_no_duplicates(esm)) == 10
    messages = [r.getMessage() for r in caplog.records]
    assert any("write lock taken by Task 'test_issues_all'" in m for m in messages)
    assert any("write lock released by Task 'test_issues_all'" in m for m in messages)
    assert not any("http://" in m or "https://" in m for m in messages if "write lock" in m or "waits up to" in m)
    lease = state.get_lease(template_lock_name(esm_identity(esm), "incident"))
    assert lease.released  # free for the next writer at once


def test_a_load_gives_up_after_its_wait_and_writes_nothing(esm, state, tmp_path, monkeypatch):
    holder = make_task(ISSUES_TASK, name="test_issues_sup")
    waiter = make_task(ISSUES_TASK, name="test_issues_all")
    monkeypatch.setattr(lock_module, "lock_wait_seconds", lambda task, settings=None: 0.5)
    with writing_template(holder, esm, state, step="load"):
        with pytest.raises(TemplateBusyError, match="test_issues_sup"):
            load(waiter, _stage(tmp_path / "b", [_record(k, "x") for k in _keys(3, "GIVEUP")]), esm, state)
    assert _cards_by_key(esm) == {}


def test_mark_removed_waits_for_another_tasks_load_of_the_template(esm, state, tmp_path, monkeypatch):
    users = make_task(ISSUES_TASK, name="test_issues_full", mode="full",
                      removed={"attribute": "status", "value": "06 - Closed"})
    other = make_task(ISSUES_TASK, name="test_issues_other")
    monkeypatch.setattr(lock_module, "lock_wait_seconds", lambda task, settings=None: 0.5)
    extracted = {**_stage(tmp_path / "e", [_record(k, "x") for k in _keys(3, "RM")]), "fetched": 3}
    with writing_template(other, esm, state, step="load"):
        with pytest.raises(TemplateBusyError, match="test_issues_other"):
            mark_removed(users, extracted, esm, state)
    assert mark_removed(users, extracted, esm, state)["skipped"] is False  # free again


def test_templates_and_esm_instances_are_locked_apart(esm, state, tmp_path, monkeypatch):
    monkeypatch.setattr(lock_module, "lock_wait_seconds", lambda task, settings=None: 0.2)
    issues = make_task(ISSUES_TASK, name="test_issues_sup")
    with writing_template(issues, esm, state, step="load"):
        other_template = make_task(ISSUES_TASK, name="test_issues_x", template="problem")
        with writing_template(other_template, esm, state, step="load"):
            pass
        other_esm = SimpleNamespace(base_url="https://esm2.example.com/rest-api/itsm/v1")
        with writing_template(make_task(ISSUES_TASK, name="test_issues_y"), other_esm, state, step="load"):
            pass
    assert esm_identity(other_esm) == "esm2.example.com/rest-api/itsm/v1"
    assert esm_identity(object(), "esm_default") == "conn esm_default"
    name = template_lock_name("esm2.example.com/rest-api/itsm/v1", "incident")
    assert name == "esm-template:esm2.example.com/rest-api/itsm/v1/incident"
    assert len(template_lock_name("h" * 300, "incident")) == 250


def test_a_killed_writer_frees_the_template_within_the_ttl(esm, state, tmp_path, monkeypatch):
    from tests.state._workers import hold_template_lock_forever

    url = str(state.engine.url)
    waiter = make_task(ISSUES_TASK, name="test_issues_all")
    settings = SimpleNamespace(lease_ttl_seconds=1.0)
    ctx = multiprocessing.get_context("spawn")
    ready = ctx.Event()
    proc = ctx.Process(target=hold_template_lock_forever,
                       args=(url, {}, esm_identity(esm), "incident", "test_issues_sup", 1.0, ready))
    proc.start()
    try:
        assert ready.wait(60)
        time.sleep(2.5)  # > 2 TTLs: only the child's heartbeat keeps the template
        monkeypatch.setattr(lock_module, "lock_wait_seconds", lambda task, settings=None: 0.3)
        with pytest.raises(TemplateBusyError, match="test_issues_sup"):
            load(waiter, _stage(tmp_path / "a", [_record("KILL-1", "x")]), esm, state, settings=settings)
        assert _cards_by_key(esm) == {}
        os.kill(proc.pid, signal.SIGKILL)
        proc.join(10)
        monkeypatch.setattr(lock_module, "lock_wait_seconds", lambda task, settings=None: 20)
        began = time.monotonic()
        result = load(waiter, _stage(tmp_path / "b", [_record("KILL-1", "x")]), esm, state, settings=settings)
        assert time.monotonic() - began < 4  # about one TTL after the kill, not the 20 s wait
        assert result["created"] == 1
    finally:
        if proc.is_alive():
            proc.kill()
            proc.join(10)
