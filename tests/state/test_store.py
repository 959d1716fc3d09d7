"""StateStore on SQLite and PostgreSQL."""
from __future__ import annotations

import multiprocessing
import threading
from datetime import datetime, timedelta, timezone

import pytest
import sqlalchemy as sa

from jira_esm_connector.state import StateStore, StateStoreError, hour_boundary_crossed
from jira_esm_connector.state.schema import SCHEMA_VERSION

UTC = timezone.utc


def dt(*args) -> datetime:
    return datetime(*args, tzinfo=UTC)


def test_schema_created_and_reopen_is_idempotent(store_factory):
    a = store_factory()
    assert a.schema_version() == SCHEMA_VERSION
    a.set_watermark("t", dt(2024, 1, 1))
    b = store_factory()  # second open: no error, data kept
    assert b.schema_version() == SCHEMA_VERSION
    assert b.get_watermark("t") == dt(2024, 1, 1)


def test_newer_schema_refused(store_factory):
    s = store_factory()
    with s.engine.begin() as conn:
        conn.execute(sa.update(s.tables.schema_version).values(version=SCHEMA_VERSION + 5))
    with pytest.raises(StateStoreError, match="newer than this connector"):
        store_factory()


def test_watermarks(store):
    assert store.get_watermark("t") is None
    helsinki = timezone(timedelta(hours=3))
    store.set_watermark("t", datetime(2024, 5, 1, 10, 15, 30, 123000, tzinfo=helsinki))
    got = store.get_watermark("t")
    assert got == dt(2024, 5, 1, 7, 15, 30, 123000) and got.tzinfo == UTC
    store.set_watermark("t", dt(2024, 6, 1))
    assert store.get_watermark("t") == dt(2024, 6, 1)
    assert store.get_watermark("other") is None
    with pytest.raises(ValueError, match="time-zone aware"):
        store.set_watermark("t", datetime(2024, 1, 1))
    store.clear_cache("t", "test")
    assert store.get_watermark("t") == dt(2024, 6, 1)  # cache clears never touch watermarks
    assert store.reset_watermark("t") and store.get_watermark("t") is None


def test_fingerprints(store):
    store.put_fingerprints("t", {"A-1": "f1", "A-2": "f2", 3: "f3"})
    store.put_fingerprints("other", {"A-1": "zz"})
    assert store.get_fingerprints("t", ["A-1", "A-2", "3", "missing"]) == {"A-1": "f1", "A-2": "f2", "3": "f3"}
    store.put_fingerprints("t", {"A-1": "new"})
    assert store.get_fingerprints("t", ["A-1"]) == {"A-1": "new"}
    assert store.delete_fingerprints("t", ["A-2", "nope"]) == 1
    assert dict(store.iter_fingerprints("t")) == {"A-1": "new", "3": "f3"}
    assert store.count_fingerprints("t") == 2
    assert store.get_fingerprints("other", ["A-1"]) == {"A-1": "zz"}


def test_fingerprints_bulk(store):
    many = {f"SUP-{i}": f"{i:064x}" for i in range(3000)}
    store.put_fingerprints("bulk", many)
    got = store.get_fingerprints("bulk", list(many) + ["x"])
    assert got == many
    assert store.clear_cache("bulk", "operator request") == 3000
    assert store.count_fingerprints("bulk") == 0


def test_cache_clear_bookkeeping(store):
    assert store.last_cache_clear("t") is None
    assert store.cache_due_for_clear("t", dt(2024, 5, 1, 12), [0]) is True  # never cleared
    assert store.cache_due_for_clear("t", dt(2024, 5, 1, 12), []) is False  # clearing switched off
    store.put_fingerprints("t", {"k": "f"})
    store.clear_cache("t", "scheduled clear at 00 UTC", now=dt(2024, 5, 1, 0, 5))
    assert store.last_cache_clear("t") == (dt(2024, 5, 1, 0, 5), "scheduled clear at 00 UTC")
    assert store.get_fingerprints("t", ["k"]) == {}
    assert store.cache_due_for_clear("t", dt(2024, 5, 1, 23, 59), [0]) is False
    assert store.cache_due_for_clear("t", dt(2024, 5, 2, 0, 0), [0]) is True
    assert store.cache_due_for_clear("t", dt(2024, 5, 1, 11, 59), [6, 12]) is True
    assert store.cache_due_for_clear("t", dt(2024, 5, 1, 5, 59), [6, 12]) is False
    assert store.cache_due_for_clear("t", dt(2024, 5, 1, 6, 0), ["6", "12"]) is True


def test_hour_boundary_crossed_cases():
    assert hour_boundary_crossed(dt(2024, 5, 1, 23, 30), dt(2024, 5, 2, 0, 10), [0])
    assert not hour_boundary_crossed(dt(2024, 5, 1, 0, 0), dt(2024, 5, 1, 23, 59), [0])  # exactly at 00:00 = done
    assert hour_boundary_crossed(dt(2024, 5, 1, 0, 0), dt(2024, 5, 3, 0, 0), [5])  # >1 day
    assert not hour_boundary_crossed(dt(2024, 5, 1, 1), dt(2024, 5, 1, 1), [1])
    helsinki = timezone(timedelta(hours=3))
    # 02:30 Helsinki = 23:30 UTC the previous day; 03:10 Helsinki = 00:10 UTC: the UTC midnight was crossed
    assert hour_boundary_crossed(datetime(2024, 5, 2, 2, 30, tzinfo=helsinki), datetime(2024, 5, 2, 3, 10, tzinfo=helsinki), [0])


def test_key_map(store):
    store.put_card_ids("incident", {"SUP-1": 101, "SUP-2": "102"})
    assert store.get_card_ids("incident", ["SUP-1", "SUP-2", "SUP-3"]) == {"SUP-1": "101", "SUP-2": "102"}
    store.put_card_ids("incident", {"SUP-1": "201"})
    assert store.all_card_ids("incident") == {"SUP-1": "201", "SUP-2": "102"}
    assert store.forget_card_ids("incident", ["SUP-2"]) == 1
    assert store.all_card_ids("incident") == {"SUP-1": "201"}
    assert store.all_card_ids("person") == {}


def test_run_stats(store):
    assert store.last_volume("t") is None
    store.record_run("t", "r1", {"fetched": 10, "created": 10}, 10)
    store.record_run("t", "r2", {"fetched": 0}, None)
    assert store.last_volume("t") == 10
    store.record_run("t", "r3", {"fetched": 1200}, 1200)
    assert store.last_volume("t") == 1200
    store.record_run("t", "r3", {"fetched": 1300}, 1300)  # same run recorded again (task retry)
    runs = store.recent_runs("t")
    assert [r["run_id"] for r in runs][0] == "r3" and len(runs) == 3
    assert runs[0]["counts"] == {"fetched": 1300}


def test_event_lifecycle(store):
    first = store.begin_event("create_issue", "inc-1", owner="run-a")
    assert first.claimed and not first.resumed and first.status == "running" and first.attempts == 1
    busy = store.begin_event("create_issue", "inc-1", owner="run-b")
    assert not busy.claimed and busy.status == "running"
    store.complete_event("create_issue", "inc-1", {"key": "SUP-7"})
    again = store.begin_event("create_issue", "inc-1", owner="run-c")
    assert not again.claimed and again.done and again.result == {"key": "SUP-7"}
    assert store.get_event("create_issue", "inc-1").result == {"key": "SUP-7"}
    assert store.get_event("create_issue", "nope") is None
    # same event id under another task is a different event
    assert store.begin_event("add_comment", "inc-1").claimed


def test_event_failure_and_retries(store):
    store.begin_event("t", "e1", owner="run-a")
    store.fail_event("t", "e1", "Jira answered 503" + "x" * 5000)
    rec = store.get_event("t", "e1")
    assert rec.status == "failed" and len(rec.error) == 2000
    retry = store.begin_event("t", "e1", owner="run-a")
    assert retry.claimed and retry.resumed and retry.attempts == 2
    # crash while running: the same Airflow run (task retry) takes over at once ...
    crash = store.begin_event("t", "e1", owner="run-a")
    assert crash.claimed and crash.resumed and crash.attempts == 3
    # ... another run only once the claim is stale
    t0 = crash.claimed_at
    assert not store.begin_event("t", "e1", owner="run-b", now=t0 + timedelta(minutes=5)).claimed
    late = store.begin_event("t", "e1", owner="run-b", now=t0 + timedelta(minutes=11))
    assert late.claimed and late.resumed and late.owner == "run-b"
    # run-b succeeds; run-a, still at work when its claim was taken, fails late: the event stays done
    store.complete_event("t", "e1", {"issue_key": "SUP-9"})
    store.fail_event("t", "e1", "Jira answered 503")
    done = store.get_event("t", "e1")
    assert done.status == "done" and done.result == {"issue_key": "SUP-9"} and done.error is None
    assert not store.begin_event("t", "e1", owner="run-c").claimed
    # a failure recorded for an event never claimed (no row) is still recorded
    store.fail_event("t", "e2", "refused")
    assert store.get_event("t", "e2").status == "failed"


def test_event_notes_survive_failed_attempts_and_end_with_success(store):
    """Notes (e.g. when a create of unknown outcome was sent) live in the result column of an
    unfinished event: kept by fail_event and by the next claim, replaced by the result."""
    store.begin_event("t", "n1", owner="run-a")
    assert store.get_event("t", "n1").notes == {}
    assert store.note_event("t", "n1", {"ambiguous_create_at": "2026-01-02T03:04:05+00:00"})
    store.note_event("t", "n1", {"other": 1})
    store.fail_event("t", "n1", "could not confirm")
    failed = store.get_event("t", "n1")
    assert failed.status == "failed"
    assert failed.notes == {"ambiguous_create_at": "2026-01-02T03:04:05+00:00", "other": 1}
    retry = store.begin_event("t", "n1", owner="run-a")
    assert retry.resumed and retry.notes["ambiguous_create_at"] == "2026-01-02T03:04:05+00:00"
    store.note_event("t", "n1", {"other": None})  # None removes a note
    assert store.get_event("t", "n1").notes == {"ambiguous_create_at": "2026-01-02T03:04:05+00:00"}
    store.complete_event("t", "n1", {"issue_key": "SUP-1"})
    done = store.get_event("t", "n1")
    assert done.result == {"issue_key": "SUP-1"} and done.notes == {}
    assert not store.note_event("t", "n1", {"late": 1})  # a done event's result is never touched
    assert store.get_event("t", "n1").result == {"issue_key": "SUP-1"}
    assert not store.note_event("t", "no-such-event", {"x": 1})


def test_event_origin_is_offered_to_imports_until_the_event_is_done(store):
    """The card an event writes back to is noted with its claim: offered (for its template and
    attribute only) while the event runs, crashed or failed, and no longer once it is done."""
    origin = {"template": "incident", "attribute": "jira_key", "card_id": "4711"}
    t0 = store.begin_event("t", "o1", owner="run-a", origin=origin).claimed_at
    store.begin_event("t", "o2", owner="run-a")  # no write-back: nothing to offer
    assert store.event_origins("incident", "jira_key") == [("t", "o1", origin)]
    assert store.event_origins("incident", "other") == [] and store.event_origins("person", "jira_key") == []
    store.note_event("t", "o1", {"ambiguous_create_at": "2026-01-02T03:04:05+00:00"})
    store.fail_event("t", "o1", "ESM answered 503")
    assert store.event_origins("incident", "jira_key") == [("t", "o1", origin)]
    assert store.begin_event("t", "o1", owner="run-a", origin=origin).notes == {
        "ambiguous_create_at": "2026-01-02T03:04:05+00:00", "origin": origin}
    assert store.event_origins("incident", "jira_key", now=t0 + timedelta(days=8)) == []  # left to the operator
    store.complete_event("t", "o1", {"issue_key": "SUP-1"})
    assert store.event_origins("incident", "jira_key") == []


def test_noted_event_cards_of_events_done_long_ago_are_pruned_and_no_others(store):
    """note_event_card drops the cards of events done over a week ago (their write-back put the
    key on the card); an unfinished event's card stays however old, a recently done one's too."""
    for event_id, key in (("old-done", "SUP-1"), ("old-failed", "SUP-2"), ("new-done", "SUP-3")):
        store.begin_event("t", event_id, owner="run-a")
        store.note_event_card("incident", "jira_key", key, f"card-{key}", task="t", event_id=event_id)
    store.fail_event("t", "old-failed", "ESM answered 503")
    store.complete_event("t", "old-done", {"issue_key": "SUP-1"})
    store.complete_event("t", "new-done", {"issue_key": "SUP-3"})
    events, cards = store.tables.events, store.tables.event_cards
    with store.engine.begin() as conn:  # a week and a day pass for the old ones (a note is never younger than its end)
        conn.execute(sa.update(events).where(events.c.event_id.in_(["old-done", "old-failed"]))
                     .values(finished_at=datetime.now(UTC) - timedelta(days=8)))
        conn.execute(sa.update(cards).where(cards.c.event_id.in_(["old-done", "old-failed"]))
                     .values(created_at=datetime.now(UTC) - timedelta(days=8, minutes=1)))
    keys = ["SUP-1", "SUP-2", "SUP-3", "SUP-4"]
    assert len(store.event_cards("incident", "jira_key", keys)) == 3  # nothing pruned before a note
    store.note_event_card("incident", "jira_key", "SUP-4", "card-SUP-4", task="t", event_id="another")
    assert store.event_cards("incident", "jira_key", keys) == {
        "SUP-2": "card-SUP-2", "SUP-3": "card-SUP-3", "SUP-4": "card-SUP-4"}


def test_a_note_without_an_issue_id_keeps_the_note_of_the_event_that_created_the_issue(store):
    """A create event noted SUP-1's card with the issue's id; a later update event's refused
    write-back notes SUP-1 again, from another card and without an id (it created nothing):
    the creating event's note stays, or an import meeting the moved issue finds no card."""
    store.note_event_card("incident", "jira_key", "SUP-1", "card-1", task="create", event_id="e1", object_id="10001")
    store.note_event_card("incident", "jira_key", "SUP-1", "card-2", task="update", event_id="e2")
    assert store.event_cards_of_objects("incident", "jira_key", ["10001"]) == {"10001": ("SUP-1", "card-1")}
    assert store.event_cards("incident", "jira_key", ["SUP-1"]) == {"SUP-1": "card-1"}
    # a key noted without an id is noted again as before
    store.note_event_card("incident", "jira_key", "SUP-2", "card-3", task="update", event_id="e3")
    store.note_event_card("incident", "jira_key", "SUP-2", "card-4", task="update", event_id="e4")
    assert store.event_cards("incident", "jira_key", ["SUP-2"]) == {"SUP-2": "card-4"}


def test_a_record_of_a_card_an_event_wrote_an_old_key_to_since_its_look_up_is_fetched_again(store):
    """The import wrote issue 10001 under OPS-1 to card-1, looked up when card-1 held no key; an
    event's write-back of the issue's old key SUP-1 landed and the event succeeded before the
    import recorded its write: the record is kept pending (written again next run), not cached.
    Not when the card held SUP-1 at the look-up (the write overwrote it), nor for a write-back
    that failed (the event not done), nor for a note older than the look-up."""
    looked_up = datetime.now(UTC)
    card = {"template": "incident", "attribute": "jira_key", "card_id": "card-1", "object_id": "10001"}
    store.begin_event("create_issue", "e1")
    store.complete_event("create_issue", "e1", {"issue_key": "SUP-1"}, card={**card, "key": "SUP-1"})
    store.begin_event("create_issue", "e2")
    store.fail_event("create_issue", "e2", "ESM refused the write-back")
    store.note_event_card("incident", "jira_key", "SUP-2", "card-2", task="create_issue", event_id="e2",
                          object_id="10002")

    def record(key: str, ident: str, card_id: str, **kwargs) -> None:
        store.record_loaded("t", card_ids={key: card_id}, fingerprints={key: "fp"}, pending={},
                            object_ids={key: ident}, written_since=looked_up - timedelta(seconds=1), **kwargs)

    record("OPS-1", "10001", "card-1", held_before={"OPS-1": ""})
    assert store.pending_keys("t") == ["OPS-1"] and store.get_fingerprints("t", ["OPS-1"]) == {}
    assert "SUP-1" in store.pending_records("t")[0]["reason"]
    record("OPS-3", "10001", "card-1", held_before={"OPS-3": "SUP-1"})
    record("OPS-2", "10002", "card-2", held_before={"OPS-2": ""})
    assert store.pending_keys("t") == ["OPS-1"]
    store.record_loaded("t", card_ids={"OPS-4": "card-1"}, fingerprints={"OPS-4": "fp"}, pending={},
                        object_ids={"OPS-4": "10001"}, written_since=looked_up + timedelta(minutes=1))
    assert store.pending_keys("t") == ["OPS-1"]
    assert store.get_fingerprints("t", ["OPS-2", "OPS-3", "OPS-4"]) == {"OPS-2": "fp", "OPS-3": "fp", "OPS-4": "fp"}


def test_a_pending_record_written_over_by_an_event_since_its_look_up_stays_pending(store):
    """OPS-1 was pending (saved without a reference); this run writes it in full, so the load
    asks its pending entry resolved -- but an event's write-back of the issue's old key SUP-1
    landed on its card since the look-up: it stays pending (fetched again next run, which
    re-keys the card), not resolved and forgotten with its fingerprint gone."""
    looked_up = datetime.now(UTC)
    store.put_pending("t", {"OPS-1": "reference REF-9 not found"})
    store.begin_event("create_issue", "e1")
    store.complete_event("create_issue", "e1", {"issue_key": "SUP-1"},
                         card={"template": "incident", "attribute": "jira_key", "card_id": "card-1",
                               "object_id": "10001", "key": "SUP-1"})
    store.put_pending("t", {"OPS-9": "assignee: no person card with jira_account_id = 'acc-9'"})
    held = store.record_loaded("t", card_ids={"OPS-1": "card-1"}, fingerprints={"OPS-1": "fp"}, pending={},
                               resolved=["OPS-1"], object_ids={"OPS-1": "10001"},
                               written_since=looked_up - timedelta(seconds=1), held_before={"OPS-1": ""})
    assert held == ["OPS-1"]  # the load counts it apart, not resolved
    assert store.get_fingerprints("t", ["OPS-1"]) == {}
    assert store.pending_keys("t") == ["OPS-1", "OPS-9"]
    assert "SUP-1" in store.pending_records("t")[0]["reason"]
    # the two kinds of pending record: held to re-key the card, waiting for a reference
    assert (store.count_pending("t"), store.count_pending("t", rekey=True), store.count_pending("t", rekey=False)) \
        == (2, 1, 1)
    assert [r["record_key"] for r in store.pending_records("t", rekey=True)] == ["OPS-1"]
    assert [r["record_key"] for r in store.pending_records("t", limit=5, rekey=False)] == ["OPS-9"]


def test_migration_9_indexes_unfinished_events_and_a_later_merged_8_still_runs(store_factory, monkeypatch):
    """A database at 7 migrated to 9 holds the index of unfinished events; a migration 8 that
    a parallel branch brings later (below the stored version) still runs, once."""
    from jira_esm_connector.state import schema

    s = store_factory()
    t = s.tables
    index = next(ix.name for ix in t.events.indexes if ix.name.endswith("ix_events_unfinished"))
    monkeypatch.delitem(schema.MIGRATIONS, 8, raising=False)  # this branch's 9 came first
    with s.engine.begin() as conn:  # a database made by a connector at schema version 7
        conn.execute(sa.text(f"DROP INDEX {t.metadata.schema + '.' if t.metadata.schema else ''}{index}"))
        t.schema_migrations.drop(conn)
        conn.execute(sa.update(t.schema_version).values(version=7))
    s.dispose()

    def indexes(store):
        return {ix["name"] for ix in sa.inspect(store.engine).get_indexes(t.events.name, schema=t.metadata.schema)}

    at9 = store_factory()
    assert at9.schema_version() == SCHEMA_VERSION >= 9 and index in indexes(at9)
    ran: list[int] = []
    monkeypatch.setitem(schema.MIGRATIONS, 8, lambda conn, tables: ran.append(8))
    store_factory()
    assert ran == [8]
    assert store_factory().schema_version() == SCHEMA_VERSION and ran == [8]  # recorded: not again


def test_threads_claim_each_event_once(store):
    results: list[bool] = []
    lock = threading.Lock()

    def worker(n: int) -> None:
        for e in range(20):
            rec = store.begin_event("t", f"ev{e}", owner=f"w{n}")
            with lock:
                results.append(rec.claimed)

    threads = [threading.Thread(target=worker, args=(n,)) for n in range(4)]
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    assert results.count(True) == 20 and len(results) == 80


def test_two_processes_write_different_tasks_at_once(store_factory):
    store_factory()  # create the schema first, like the scheduler's first task would
    ctx = multiprocessing.get_context("spawn")
    from tests.state._workers import hammer

    with ctx.Pool(2) as pool:
        jobs = [pool.apply_async(hammer, (store_factory.url, store_factory.kwargs, task, 8, 5)) for task in ("ta", "tb")]
        outs = [j.get(timeout=60) for j in jobs]
    check = store_factory()
    for task in ("ta", "tb"):
        assert check.count_fingerprints(task) == 800
        assert check.get_watermark(task) == dt(2024, 1, 1, 0, 7)
        assert check.last_volume(task) == 107
        assert len(check.all_card_ids(task)) == 8
    claimed = outs[0]["claimed"] + outs[1]["claimed"]
    assert sorted(claimed) == sorted(f"ev-{r}-{e}" for r in range(8) for e in range(5))  # each exactly once


def test_no_password_in_errors_or_repr():
    url = "postgresql+psycopg2://svc:s3cret-pw@127.0.0.1:1/state"
    with pytest.raises(StateStoreError) as info:
        StateStore(url, connect_backoff_s=0.01)  # every retry, without 7.5 s of waiting
    assert "s3cret-pw" not in str(info.value) and "127.0.0.1" in str(info.value)
    with pytest.raises(StateStoreError) as info:
        StateStore("::not a url s3cret")
    assert "s3cret" not in str(info.value)


def test_repr_hides_password(tmp_path):
    s = StateStore(f"sqlite:///{tmp_path}/x.db")
    assert "sqlite" in repr(s)
    s.dispose()


def test_in_memory_sqlite_works():
    s = StateStore("sqlite://")
    s.put_fingerprints("t", {"a": "b"})
    assert s.get_fingerprints("t", ["a"]) == {"a": "b"}
    s.dispose()


def test_table_prefix_isolates(tmp_path):
    url = f"sqlite:///{tmp_path}/p.db"
    a, b = StateStore(url, table_prefix="a_"), StateStore(url, table_prefix="b_")
    a.set_watermark("t", dt(2024, 1, 1))
    assert b.get_watermark("t") is None
    assert "a_watermarks" in sa.inspect(a.engine).get_table_names()
    a.dispose(), b.dispose()


def test_iter_fingerprints_pages_in_key_order(store):
    keys = {f"K{i:03d}": f"f{i}" for i in range(23)}
    store.put_fingerprints("t", keys)
    seen = list(store.iter_fingerprints("t", page_size=5))
    assert seen == sorted(keys.items())


def test_open_reader_does_not_block_writers(store):
    store.put_fingerprints("t", {"a": "1"})
    with store.engine.connect() as reader:  # a long-running read transaction elsewhere
        assert reader.execute(sa.select(store.tables.task_cache.c.record_key)).all()
        done = threading.Event()

        def write() -> None:
            store.put_fingerprints("t2", {"b": "2"})
            done.set()

        th = threading.Thread(target=write)
        th.start()
        assert done.wait(10), "writer blocked by an open reader"
        th.join()
    assert store.get_fingerprints("t2", ["b"]) == {"b": "2"}


def test_open_state_store_from_env(monkeypatch, tmp_path):
    from jira_esm_connector.state import open_state_store

    monkeypatch.setenv("JIRA_ESM_STATE_DB_URL", f"sqlite:///{tmp_path}/sub/dir/state.db")
    s = open_state_store()
    s.set_watermark("t", dt(2024, 1, 1))
    assert (tmp_path / "sub" / "dir" / "state.db").exists()
    s.dispose()


def test_pending_records(store):
    store.put_pending("t", {"SUP-1": "assignee: no person card with jira_account_id = 'a1'", "SUP-2": "x" * 5000})
    store.put_pending("other", {"SUP-1": "elsewhere"})
    first = {r["record_key"]: r for r in store.pending_records("t")}
    assert set(first) == {"SUP-1", "SUP-2"} and store.count_pending("t") == 2
    assert len(first["SUP-2"]["reason"]) == 1000  # bounded: a long list of missing keys is cut
    assert first["SUP-1"]["first_seen"].tzinfo == UTC

    store.put_pending("t", {"SUP-1": "still missing"})  # seen again: first_seen stays
    again = {r["record_key"]: r for r in store.pending_records("t")}
    assert again["SUP-1"]["reason"] == "still missing"
    assert again["SUP-1"]["first_seen"] == first["SUP-1"]["first_seen"]
    assert again["SUP-1"]["updated_at"] >= first["SUP-1"]["updated_at"]
    assert store.pending_keys("t") == ["SUP-1", "SUP-2"]

    assert store.delete_pending("t", ["SUP-1", "nope"]) == 1
    assert store.pending_keys("t") == ["SUP-2"] and store.pending_keys("other") == ["SUP-1"]
    assert store.count_pending("nobody") == 0 and store.pending_keys("nobody") == []


def test_migration_2_adds_pending_records_to_a_version_1_database(store_factory):
    """A state database created by the previous release (schema 1, no pending_records)
    is migrated on first use and keeps its data."""
    old = store_factory()
    old.set_watermark("t", dt(2024, 1, 1))
    with old.engine.begin() as conn:
        old.tables.pending_records.drop(conn)
        conn.execute(sa.update(old.tables.schema_version).values(version=1))
    assert not sa.inspect(old.engine).has_table(old.tables.pending_records.name, schema=old.tables.metadata.schema)
    old.dispose()

    new = store_factory()
    assert new.schema_version() == SCHEMA_VERSION >= 2
    assert new.get_watermark("t") == dt(2024, 1, 1)
    new.put_pending("t", {"SUP-1": "reporter missing"})
    assert new.pending_keys("t") == ["SUP-1"]


def test_stores_opened_at_once_on_a_new_sqlite_file_all_open(tmp_path):
    """Two tasks opening a brand-new state database at the same moment: switching the file
    to WAL needs a lock SQLite does not wait for by itself ("database is locked")."""
    import threading

    errors: list[str] = []
    for trial in range(20):
        url = f"sqlite:///{tmp_path}/new-{trial}.db"

        def open_store() -> None:
            try:
                StateStore(url).dispose()
            except Exception as exc:  # noqa: BLE001 - collected and asserted below
                errors.append(str(exc))

        threads = [threading.Thread(target=open_store) for _ in range(6)]
        for th in threads:
            th.start()
        for th in threads:
            th.join(60)
    assert errors == []


def test_key_map_coverage_is_per_task_template_and_key_and_a_v3_database_gets_its_table(store_factory):
    store = store_factory()
    assert not store.key_map_complete("t", "person", "jira_account_id")  # unknown until a step knows
    store.set_key_map_complete("t", "person", "jira_account_id")
    assert store.key_map_complete("t", "person", "jira_account_id")
    assert not store.key_map_complete("t", "person", "email")  # another key attribute: not known
    assert not store.key_map_complete("t", "incident", "jira_account_id")
    assert not store.key_map_complete("u", "person", "jira_account_id")
    store.set_key_map_complete("t", "person", "jira_account_id", False)
    assert not store.key_map_complete("t", "person", "jira_account_id")
    store.set_key_map_complete("t", "person", "jira_account_id", False)  # twice: harmless

    store.put_card_ids("t", {f"k{i:03d}": str(i) for i in range(12)})
    assert list(store.iter_card_ids("t", page_size=5)) == [(f"k{i:03d}", str(i)) for i in range(12)]
    assert list(store.iter_card_ids("nobody")) == []

    store.set_key_map_complete("t", "person", "jira_account_id")
    with store.engine.begin() as conn:  # a database made by a connector with schema version 3
        store.tables.key_map_coverage.drop(conn)
        conn.execute(sa.update(store.tables.schema_version).values(version=3))
    again = store_factory()
    assert again.schema_version() == SCHEMA_VERSION >= 4
    assert not again.key_map_complete("t", "person", "jira_account_id")  # after a migration: unknown


def test_record_loaded_writes_a_chunks_answer_in_one_transaction(store, monkeypatch):
    store.put_card_ids("t", {"GONE-1": "7", "KEEP-1": "8"})
    store.put_pending("t", {"P-1": "manager: nobody@x", "P-2": "manager: other@x"})
    store.record_loaded("t", card_ids={"A-1": 11, "P-2": 12}, fingerprints={"A-1": "fa"},
                        pending={"P-2": "manager: still missing"}, resolved=["P-1"], forgotten=["GONE-1"])
    assert store.get_card_ids("t", ["A-1", "P-2", "GONE-1", "KEEP-1"]) == {"A-1": "11", "P-2": "12", "KEEP-1": "8"}
    assert store.get_fingerprints("t", ["A-1", "P-2"]) == {"A-1": "fa"}
    assert store.pending_keys("t") == ["P-2"]

    # a failure part-way leaves nothing of that answer behind: no card id without its fingerprint
    def broken(*args, **kwargs):
        raise RuntimeError("state database went away")

    monkeypatch.setattr(store, "_put_fingerprints", broken)
    with pytest.raises(RuntimeError, match="went away"):
        store.record_loaded("t", card_ids={"B-1": 21}, fingerprints={"B-1": "fb"}, pending={},
                            resolved=["P-2"], forgotten=["KEEP-1"])
    assert store.get_card_ids("t", ["B-1", "KEEP-1"]) == {"KEEP-1": "8"}
    assert store.pending_keys("t") == ["P-2"]


def test_record_loaded_moves_a_rekeyed_records_state_and_a_cache_clear_keeps_the_object_map(store_factory):
    """A moved Jira issue (SUP-5 is now OPS-12, same id 10005): its card's state follows the new
    key in the same transaction; the id -> key map survives a cache clear; a v7 database gets it."""
    store = store_factory()
    store.record_loaded("t", card_ids={"SUP-5": 7, "SUP-6": 8}, fingerprints={"SUP-6": "f6"},
                        pending={"SUP-5": "reporter: missing"}, object_ids={"SUP-5": "10005", "SUP-6": "10006"})
    assert store.object_keys("t", ["10005", "10006", "404"]) == {"10005": ("SUP-5", "7"), "10006": ("SUP-6", "8")}
    assert store.object_keys("other", ["10005"]) == {} and store.object_keys("t", []) == {}
    assert store.clear_cache("t", "daily") == 1
    assert store.object_keys("t", ["10005"]) == {"10005": ("SUP-5", "7")}

    store.record_loaded("t", card_ids={"OPS-12": 7}, fingerprints={"OPS-12": "f12"}, pending={},
                        object_ids={"OPS-12": "10005"}, rekeyed=["SUP-5"])
    assert store.object_keys("t", ["10005"]) == {"10005": ("OPS-12", "7")}
    assert store.get_card_ids("t", ["SUP-5", "OPS-12"]) == {"OPS-12": "7"}
    assert store.get_fingerprints("t", ["SUP-5", "OPS-12"]) == {"OPS-12": "f12"}
    assert store.pending_keys("t") == []

    with store.engine.begin() as conn:  # a database made by a connector with schema version 7
        store.tables.object_keys.drop(conn)
        conn.execute(sa.update(store.tables.schema_version).values(version=7))
    again = store_factory()
    assert again.schema_version() == SCHEMA_VERSION >= 8
    assert again.object_keys("t", ["10005"]) == {}  # not known: a move then does as before
    assert again.get_card_ids("t", ["OPS-12"]) == {"OPS-12": "7"}


def test_a_late_failure_of_an_attempt_whose_claim_was_taken_over_leaves_the_new_claim_running(store):
    """Run A's claim went stale (its worker stalled) and run B took the event over; A then
    wakes up and fails. That failure is A's, not the event's: B is still acting, so a third
    delivery must not be able to claim the event as well (two pushes acting at once create
    two issues)."""
    a = store.begin_event("t", "e1", owner="run-a")
    b = store.begin_event("t", "e1", owner="run-b", now=a.claimed_at + timedelta(minutes=11))
    assert b.claimed and b.attempts == 2
    store.fail_event("t", "e1", "Jira answered 503", attempt=a.attempts)
    current = store.get_event("t", "e1")
    assert (current.status, current.owner) == ("running", "run-b")
    c = store.begin_event("t", "e1", owner="run-c", now=b.claimed_at + timedelta(seconds=1))
    assert not c.claimed and c.owner == "run-b"
    store.fail_event("t", "e1", "ESM answered 503", attempt=b.attempts)  # B's own failure counts
    assert store.get_event("t", "e1").status == "failed"


def test_a_late_success_of_an_attempt_whose_claim_was_taken_over_keeps_the_new_attempts_result(store):
    """Run A's claim went stale and run B took the event over and finished it. A then wakes
    and records its own success (a resumed try that found the work done): the recorded
    result stays B's, the one that acted last. While B is still acting, A's success does not
    end B's claim either: a third delivery must still wait for B."""
    a = store.begin_event("t", "e1", owner="run-a")
    b = store.begin_event("t", "e1", owner="run-b", now=a.claimed_at + timedelta(minutes=11))
    store.complete_event("t", "e1", {"issue_key": "SUP-1", "status": "Done"}, attempt=a.attempts)
    current = store.get_event("t", "e1")
    assert (current.status, current.owner) == ("running", "run-b")
    store.complete_event("t", "e1", {"issue_key": "SUP-1", "status": "In Progress"}, attempt=b.attempts)
    store.complete_event("t", "e1", {"issue_key": "SUP-1", "status": "Done"}, attempt=a.attempts)
    done = store.get_event("t", "e1")
    assert done.status == "done" and done.result == {"issue_key": "SUP-1", "status": "In Progress"}


def test_a_note_of_an_attempt_whose_claim_was_taken_over_leaves_the_new_attempts_notes(store):
    """Run A's claim went stale and run B took the event over and sent a create whose outcome
    is unknown (noted). A then wakes and clears or rewrites the same note: that is A's view,
    not the event's -- B's note must stay, or the next attempt creates again too early."""
    a = store.begin_event("t", "e1", owner="run-a")
    assert store.note_event("t", "e1", {"ambiguous_create_at": "2026-01-02T03:00:00+00:00"}, attempt=a.attempts)
    b = store.begin_event("t", "e1", owner="run-b", now=a.claimed_at + timedelta(minutes=11))
    assert store.note_event("t", "e1", {"ambiguous_create_at": "2026-01-02T03:11:00+00:00"}, attempt=b.attempts)
    assert not store.note_event("t", "e1", {"ambiguous_create_at": None}, attempt=a.attempts)
    assert not store.note_event("t", "e1", {"ambiguous_create_at": "2026-01-02T03:12:00+00:00"}, attempt=a.attempts)
    assert store.get_event("t", "e1").notes == {"ambiguous_create_at": "2026-01-02T03:11:00+00:00"}
    store.complete_event("t", "e1", {"issue_key": "SUP-1"})
    assert not store.note_event("t", "e1", {"late": 1}, attempt=b.attempts)  # done: never touched
    assert store.get_event("t", "e1").result == {"issue_key": "SUP-1"}


def test_migration_10_adds_the_issue_id_to_the_noted_event_cards_and_keeps_the_notes(store_factory):
    """A database at 9 (event cards noted without the issue id) migrated to 10: the notes
    stay, and new ones carry the id an import finds a moved issue's event card by."""
    s = store_factory()
    t = s.tables
    s.note_event_card("incident", "jira_key", "SUP-1", "card-1", task="t", event_id="e1")
    name = s.engine.dialect.identifier_preparer.format_table(t.event_cards)
    prefix = f"{t.metadata.schema}." if t.metadata.schema else ""
    with s.engine.begin() as conn:  # a database made by a connector at schema version 9
        for index in t.event_cards.indexes:  # migration 12's, on the column
            conn.execute(sa.text(f"DROP INDEX {prefix}{index.name}"))
        conn.execute(sa.text(f"ALTER TABLE {name} DROP COLUMN object_id"))
        conn.execute(sa.delete(t.schema_migrations).where(t.schema_migrations.c.version.in_([10, 12])))
        conn.execute(sa.update(t.schema_version).values(version=9))
    s.dispose()

    at10 = store_factory()
    assert at10.schema_version() == SCHEMA_VERSION >= 10
    assert at10.event_cards("incident", "jira_key", ["SUP-1"]) == {"SUP-1": "card-1"}
    at10.note_event_card("incident", "jira_key", "SUP-2", "card-2", task="t", event_id="e2", object_id="10002")
    assert at10.event_cards_of_objects("incident", "jira_key", ["10002", "10001"]) == {"10002": ("SUP-2", "card-2")}
    assert store_factory().schema_version() == SCHEMA_VERSION  # applied once


def test_migration_13_indexes_the_key_map_by_card_and_keys_of_cards_uses_it(store_factory):
    """``keys_of_cards`` reads the key map backwards (card id -> key): key_map's key starts
    with (scope, record_key), so without an index of its own every chunk of card ids scanned
    the whole scope (6.4 s for 50,000 ids against 300,000 keys). A fresh database has the
    index, a database at 12 gets it; on SQLite the look-up's plan uses it."""
    s = store_factory()
    t = s.tables
    prefix = f"{t.metadata.schema}." if t.metadata.schema else ""
    index = "ix_key_map_card"  # no table prefix here

    def indexes(store):
        return {ix["name"] for ix in sa.inspect(store.engine).get_indexes(t.key_map.name, schema=t.metadata.schema)}

    assert index in indexes(s)
    s.put_card_ids("t", {"SUP-1": "1", "SUP-2": "2"})
    with s.engine.begin() as conn:  # a database made by a connector at schema version 12
        conn.execute(sa.text(f"DROP INDEX {prefix}{index}"))
        conn.execute(sa.delete(t.schema_migrations).where(t.schema_migrations.c.version == 13))
        conn.execute(sa.update(t.schema_version).values(version=12))
    s.dispose()

    at13 = store_factory()
    assert at13.schema_version() == SCHEMA_VERSION >= 13 and index in indexes(at13)
    assert at13.keys_of_cards("t", ["2", "3"]) == {"SUP-2": "2"}
    if at13.dialect == "sqlite":
        km = at13.tables.key_map
        query = sa.select(km.c.record_key, km.c.card_id).where(km.c.scope == "t", km.c.card_id.in_(["2", "3"]))
        with at13.engine.connect() as conn:
            plan = " ".join(str(row[-1]) for row in conn.execute(
                sa.text("EXPLAIN QUERY PLAN " + str(query.compile(conn, compile_kwargs={"literal_binds": True})))))
        assert "ix_key_map_card" in plan, plan
    assert store_factory().schema_version() == SCHEMA_VERSION  # applied once


def test_key_prefixes_and_the_renamed_projects_a_task_listed(store_factory):
    """An issue import's project keys, read from its key map in one query (both dialects),
    and the project key changes a successful run listed in full (kept by a cache clear)."""
    s = store_factory()
    s.put_card_ids("issues", {"SUP-1": "1", "SUP-22": "2", "OPS-3": "3", "A_B-4": "4", "plain": "5"})
    s.put_card_ids("other", {"ZED-1": "6"})
    assert s.key_prefixes("issues") == ["A_B", "OPS", "SUP"]
    assert s.renamed_projects_listed("issues") == set()
    s.note_renamed_projects_listed("issues", {"SUP": "HELP"})
    s.note_renamed_projects_listed("issues", {"SUP": "HELP", "OPS": "OPS2"})
    s.clear_cache("issues", "a cache clear keeps them")
    assert s.renamed_projects_listed("issues") == {("SUP", "HELP"), ("OPS", "OPS2")}
    assert s.renamed_projects_listed("other") == set()


def test_migration_12_indexes_issue_ids_across_tasks_and_the_lookup_uses_it(store_factory):
    """Every create_issue push with a write-back asks which import tasks wrote its issue id
    (``complete_event``), whatever the task -- object_keys' key starts with the task, so
    without an index of its own that is a scan of every task's ids (100,000s) per push. A
    database at 11 gets the indexes; on SQLite the look-up's plan uses it."""
    s = store_factory()
    t = s.tables
    prefix = f"{t.metadata.schema}." if t.metadata.schema else ""
    names = {(table.name, index.name) for table in (t.object_keys, t.event_cards) for index in table.indexes}
    assert len(names) == 3  # the issue id in both, and event_cards' created_at (its pruning)
    with s.engine.begin() as conn:  # a database made by a connector at schema version 11
        for _table, index in names:
            conn.execute(sa.text(f"DROP INDEX {prefix}{index}"))
        conn.execute(sa.delete(t.schema_migrations).where(t.schema_migrations.c.version == 12))
        conn.execute(sa.update(t.schema_version).values(version=11))
    s.dispose()

    def indexes(store, table):
        return {ix["name"] for ix in sa.inspect(store.engine).get_indexes(table, schema=t.metadata.schema)}

    at12 = store_factory()
    assert at12.schema_version() == SCHEMA_VERSION >= 12
    assert all(index in indexes(at12, table) for table, index in names)
    if at12.dialect == "sqlite":
        ok = at12.tables.object_keys
        query = sa.select(ok.c.task).where(ok.c.object_id == "10001", ok.c.card_id == "5")
        with at12.engine.connect() as conn:
            plan = " ".join(str(row[-1]) for row in conn.execute(
                sa.text("EXPLAIN QUERY PLAN " + str(query.compile(conn, compile_kwargs={"literal_binds": True})))))
        assert "ix_object_keys_object" in plan, plan
        # the pruning every noting push runs reads only the notes old enough to go
        prune = at12._prune_event_cards().compile(dialect=at12.engine.dialect)
        with at12.engine.connect() as conn:
            plan = " ".join(str(row[-1]) for row in conn.exec_driver_sql(
                "EXPLAIN QUERY PLAN " + str(prune), ("2026-01-01 00:00:00",) * len(prune.positiontup)))
        assert "ix_event_cards_created" in plan, plan
