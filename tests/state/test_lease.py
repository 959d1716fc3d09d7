"""Per-task run leases (issue 8 item 3): one run of a task at a time, on SQLite and PostgreSQL."""
from __future__ import annotations

import multiprocessing
import os
import signal
import threading
import time
from datetime import datetime, timedelta, timezone

import pytest
import sqlalchemy as sa

from jira_esm_connector.state import (
    LeaseBusyError, LeaseLostError, RunLease, TemplateBusyError, TemplateLock, TemplateLockLostError, hold_lease,
    hold_template_lock,
)
from jira_esm_connector.state.schema import MIGRATIONS, SCHEMA_VERSION

UTC = timezone.utc
T0 = datetime(2030, 1, 1, 8, 0, tzinfo=UTC)  # after the real clock: release() stamps real "now"


def at(seconds: float) -> datetime:
    return T0 + timedelta(seconds=seconds)


def claim(store, run, holder, now_s, *, ttl=60, run_s=3600, first=True, task="t", **kw):
    return store.try_acquire_lease(
        task, run, holder, holder_expires_at=at(now_s + ttl), run_expires_at=at(run_s), first_step=first, now=at(now_s),
        **kw,
    )


def future(hours: float = 1) -> datetime:
    return datetime.now(UTC) + timedelta(hours=hours)


# --------------------------------------------------------------------------- the table's rules


def test_a_second_run_is_refused_while_the_first_holds_the_task(store):
    first = claim(store, "run_a", "run_a|extract|1", 0)
    assert first.acquired and first.current.owner_run == "run_a"
    other = claim(store, "run_b", "run_b|extract|1", 1)
    assert other.outcome == "busy" and other.current.owner_run == "run_a"
    # between steps (no holder) the run still owns the task
    assert store.release_lease("t", "run_a", "run_a|extract|1", keep_run=True)
    assert claim(store, "run_b", "run_b|extract|1", 2).outcome == "busy"
    assert claim(store, "run_a", "run_a|transform|1", 3, first=False).acquired
    # other tasks are independent
    assert claim(store, "run_b", "run_b|extract|1", 4, task="other").acquired


def test_same_run_retry_takes_over_only_after_the_dead_attempts_heartbeat_expired(store):
    assert claim(store, "run_a", "run_a|load|1", 0, ttl=60).acquired
    assert claim(store, "run_a", "run_a|load|2", 30, first=False).outcome == "busy"  # attempt 1 may still be writing
    retry = claim(store, "run_a", "run_a|load|2", 61, first=False)
    assert retry.acquired and retry.current.holder == "run_a|load|2"
    # the first attempt, if it comes back, can no longer heartbeat
    assert not store.renew_lease("t", "run_a", "run_a|load|1", at(200))
    assert store.renew_lease("t", "run_a", "run_a|load|2", at(200))


def test_expired_lease_of_a_dead_run_is_taken_over_and_its_later_steps_are_superseded(store):
    assert claim(store, "run_a", "run_a|extract|1", 0, ttl=60, run_s=600).acquired
    # holder dead (no heartbeat since 0 s), run lease still valid: wait
    assert claim(store, "run_b", "run_b|extract|1", 300).outcome == "busy"
    taken = claim(store, "run_b", "run_b|extract|1", 601)
    assert taken.acquired and taken.taken_over.owner_run == "run_a"
    late = claim(store, "run_a", "run_a|load|1", 602, first=False)
    assert late.outcome == "lost" and late.current.owner_run == "run_b"
    assert not store.release_lease("t", "run_a")  # never removes another run's lease
    assert store.get_lease("t").owner_run == "run_b"


def test_a_live_heartbeat_protects_the_run_even_past_its_run_expiry(store):
    assert claim(store, "run_a", "run_a|load|1", 0, ttl=60, run_s=100).acquired
    assert store.renew_lease("t", "run_a", "run_a|load|1", at(160))
    assert claim(store, "run_b", "run_b|extract|1", 130).outcome == "busy"


def test_release_frees_the_task_and_a_rerun_step_of_an_older_run_is_refused(store):
    assert claim(store, "run_a", "run_a|extract|1", 0).acquired
    assert store.release_lease("t", "run_a")
    assert store.get_lease("t").free(datetime.now(UTC))
    # an operator re-runs run_a's load: fine while nobody ran since (its data is the newest) ...
    assert claim(store, "run_a", "run_a|load|1", 1, first=False).acquired
    assert store.release_lease("t", "run_a")
    assert claim(store, "run_b", "run_b|extract|1", 1).acquired
    # ... refused once run_b has run: run_a's staged data is older than what run_b wrote
    assert store.release_lease("t", "run_b")
    late = claim(store, "run_a", "run_a|load|2", 2, first=False)
    assert late.outcome == "lost" and late.current.owner_run == "run_b"
    assert store.break_lease("t").owner_run == "run_b" and store.get_lease("t") is None
    assert claim(store, "run_b", "run_b|load|2", 3, first=False).outcome == "lost"  # broken by hand


def test_same_scheduled_run_id_on_two_deployments_is_two_runs(store):
    """Both deployments name the 09:00 slot `scheduled__...09:00`: the owner token (run id +
    start time) keeps them apart, even while the first is between two steps."""
    slot = "scheduled__2026-11-29T09:00:00+00:00"
    a, b = f"{slot} (started 09:00:01.1)", f"{slot} (started 09:00:02.7)"
    assert claim(store, a, f"{slot}|extract|try 1", 0, run_name=slot).acquired
    assert store.release_lease("t", a, f"{slot}|extract|try 1", keep_run=True)
    assert claim(store, b, f"{slot}|extract|try 1", 5, run_name=slot).outcome == "busy"
    assert claim(store, b, f"{slot}|transform|try 1", 5, first=False, run_name=slot).outcome == "lost"
    assert claim(store, a, f"{slot}|transform|try 1", 6, first=False, run_name=slot).acquired


def test_cleared_step_of_an_ended_run_continues_only_while_nobody_ran_since(store):
    """Clearing a failed step restarts the Airflow run (new start time, same run id)."""
    run = "scheduled__2026-11-29T09:00:00+00:00"
    assert claim(store, f"{run} (started 1)", f"{run}|load|try 4", 0, run_name=run).acquired
    assert store.release_lease("t", f"{run} (started 1)")  # failed on its last try
    again = claim(store, f"{run} (started 2)", f"{run}|load|try 5", 10, first=False, run_name=run)
    assert again.acquired and store.get_lease("t").owner_run == f"{run} (started 2)"


def test_owner_known_to_be_over_is_not_waited_out_unless_an_attempt_is_alive(store):
    assert claim(store, "run_a", "run_a|extract|1", 0, run_s=4 * 3600).acquired
    assert claim(store, "run_b", "run_b|extract|1", 10, dead_owner="run_a").outcome == "busy"  # extract alive
    assert store.release_lease("t", "run_a", "run_a|extract|1", keep_run=True)  # then marked failed
    assert claim(store, "run_b", "run_b|extract|1", 20).outcome == "busy"
    assert claim(store, "run_b", "run_b|extract|1", 20, dead_owner="run_a").acquired


def test_lease_asks_whether_the_owner_is_over_instead_of_waiting_it_out(store, caplog):
    dead = datetime.now(UTC) - timedelta(minutes=1)  # run_a's extract died a minute ago
    assert store.try_acquire_lease("t", "run_a", "run_a|extract|1", holder_expires_at=dead,
                                   run_expires_at=future(4), now=dead - timedelta(minutes=1)).acquired
    asked = []

    def owner_is_over(lease):
        asked.append(lease.run_name)
        return True

    caplog.set_level("INFO", logger="jira_esm_connector.lease")
    with hold_lease(store, "t", "run_b", "run_b|extract|1", run_expires_at=future(), wait_s=0, ttl_s=1,
                    owner_is_over=owner_is_over):
        assert store.get_lease("t").owner_run == "run_b"
    assert asked == ["run_a"]
    # said once, in the words that fit: run_a's run lease (4 h) had not run out
    warnings = [r.getMessage() for r in caplog.records if r.levelname == "WARNING"]
    assert len(warnings) == 1 and "Run 'run_a' still held the lease of task 't' but has ended" in warnings[0]


def test_run_expiry_only_moves_forward(store):
    assert claim(store, "run_a", "a|extract|1", 0, run_s=1000).acquired
    store.release_lease("t", "run_a", "a|extract|1", keep_run=True)
    diff = claim(store, "run_a", "a|diff|1", 10, run_s=500, first=False)
    assert diff.acquired and diff.current.run_expires_at == at(1000)
    store.release_lease("t", "run_a", "a|diff|1", keep_run=True)
    load = claim(store, "run_a", "a|load|1", 20, run_s=2000, first=False)
    assert load.acquired and load.current.run_expires_at == at(2000) == store.get_lease("t").run_expires_at


def test_concurrent_first_claims_give_exactly_one_owner(store_factory):
    stores = [store_factory() for _ in range(6)]
    barrier = threading.Barrier(len(stores))
    results: list[str] = []

    def go(n: int) -> None:
        barrier.wait()
        c = stores[n].try_acquire_lease(
            "race", f"run_{n}", f"run_{n}|extract|1",
            holder_expires_at=future(), run_expires_at=future(), first_step=True,
        )
        results.append(c.outcome)

    threads = [threading.Thread(target=go, args=(n,)) for n in range(len(stores))]
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    assert sorted(results) == ["acquired"] + ["busy"] * (len(stores) - 1)


# --------------------------------------------------------------------------- waiting, heartbeat, messages


def test_second_run_waits_then_fails_naming_the_holder_and_its_expiry(store):
    deadline = future(2)
    with hold_lease(store, "t", "scheduled__1", "scheduled__1|extract|1", run_expires_at=deadline, ttl_s=1):
        began = time.monotonic()
        with pytest.raises(LeaseBusyError) as info:
            with hold_lease(store, "t", "manual__2", "manual__2|extract|1", run_expires_at=future(), wait_s=0.6, poll_s=0.1):
                pass
        assert 0.5 <= time.monotonic() - began < 5
    text = str(info.value)
    assert "Task 't' is already running" in text and "run 'scheduled__1'" in text
    assert deadline.strftime("%Y-%m-%d %H:%M:%S UTC") in text and "duplicate" in text
    assert store.get_lease("t").free(datetime.now(UTC))  # the first run finished and released


def test_second_run_that_waits_long_enough_gets_the_task_when_the_first_finishes(store):
    first = RunLease(store, "t", "run_a", "run_a|x|1", run_expires_at=future(), ttl_s=1)
    first.acquire()
    threading.Timer(0.5, lambda: first.release(run_over=True)).start()
    with hold_lease(store, "t", "run_b", "run_b|x|1", run_expires_at=future(), wait_s=10, poll_s=0.1, ttl_s=1):
        assert store.get_lease("t").owner_run == "run_b"
    assert store.get_lease("t").free(datetime.now(UTC))


def test_a_released_lease_is_told_apart_from_one_that_ran_out(store):
    assert claim(store, "run_a", "run_a|extract|1", 0, run_s=600).acquired
    assert not store.get_lease("t").released  # held
    assert store.release_lease("t", "run_a", "run_a|extract|1", keep_run=True)
    assert not store.get_lease("t").released  # between steps: the run goes on
    taken = claim(store, "run_b", "run_b|extract|1", 700)  # run_a died; its run lease ran out at 600 s
    assert taken.acquired and not taken.taken_over.released and not taken.current.released
    assert store.release_lease("t", "run_b", "run_b|extract|1")  # run_b is over
    assert store.get_lease("t").released
    after = store.try_acquire_lease("t", "run_c", "run_c|extract|1", holder_expires_at=future(), run_expires_at=future())
    assert after.acquired and after.taken_over.owner_run == "run_b" and after.taken_over.released
    assert not store.get_lease("t").released


def test_the_next_run_after_a_finished_one_logs_no_takeover_warning_but_after_a_dead_one_does(store, caplog):
    caplog.set_level("INFO", logger="jira_esm_connector.lease")
    with hold_lease(store, "t", "run_a", "run_a|extract|1", run_expires_at=future(), ttl_s=1):
        pass  # a whole run that finished: it released the task
    caplog.clear()
    with hold_lease(store, "t", "run_b", "run_b|extract|1", run_expires_at=future(), ttl_s=1, last_step=False):
        pass  # run_b keeps the task for its next step ... and dies there
    assert not [r for r in caplog.records if r.levelname == "WARNING"]
    assert "the last run 'run_a' released it at" in caplog.text
    with store.engine.begin() as conn:  # ... until its run lease runs out
        conn.execute(sa.update(store.tables.leases).values(run_expires_at=datetime.now(UTC) - timedelta(seconds=1)))
    caplog.clear()
    with hold_lease(store, "t", "run_c", "run_c|extract|1", run_expires_at=future(), ttl_s=1):
        pass
    warnings = [r.getMessage() for r in caplog.records if r.levelname == "WARNING"]
    assert len(warnings) == 1 and "took over the expired lease of task 't' from run 'run_b'" in warnings[0]
    assert "released it" not in caplog.text


def test_heartbeat_keeps_a_long_step_alive_beyond_its_ttl(store):
    with hold_lease(store, "t", "run_a", "run_a|load|1", run_expires_at=datetime.now(UTC), ttl_s=0.6):
        time.sleep(2.0)  # > 3 TTLs: without renewals the retry below would take over
        with pytest.raises(LeaseBusyError, match="another attempt of this run"):
            with hold_lease(store, "t", "run_a", "run_a|load|2", run_expires_at=future(), first_step=False, wait_s=0.3, poll_s=0.1):
                pass


def test_step_error_keeps_the_run_for_its_retry_or_frees_the_task_when_no_retry_comes(store):
    with pytest.raises(RuntimeError):
        with hold_lease(store, "t", "run_a", "run_a|load|1", run_expires_at=future(), last_step=True,
                        run_over_on_error=lambda exc: False, ttl_s=1):
            raise RuntimeError("ESM down, Airflow retries")
    kept = store.get_lease("t")
    assert kept.owner_run == "run_a" and kept.holder is None
    with pytest.raises(RuntimeError):
        with hold_lease(store, "t", "run_a", "run_a|load|2", run_expires_at=future(), first_step=False, ttl_s=1):
            raise RuntimeError("last try")
    assert store.get_lease("t").free(datetime.now(UTC))


def test_lease_taken_over_mid_step_is_noticed_and_the_step_ends_superseded(store):
    with pytest.raises(LeaseLostError, match="superseded by run 'run_b'"):
        with hold_lease(store, "t", "run_a", "run_a|load|1", run_expires_at=datetime.now(UTC), ttl_s=0.6) as lease:
            # simulate run_a's process being frozen past both expiries: run_b takes over
            with store.engine.begin() as conn:
                past = datetime.now(UTC) - timedelta(seconds=1)
                conn.execute(sa.update(store.tables.leases).values(run_expires_at=past, holder_expires_at=past))
            assert store.try_acquire_lease("t", "run_b", "run_b|extract|1", holder_expires_at=future(),
                                           run_expires_at=future(), first_step=True).acquired
            time.sleep(0.8)  # the heartbeat finds out
            assert lease.lost
    assert store.get_lease("t").owner_run == "run_b"  # untouched by run_a's exit


def test_killed_holder_frees_the_step_within_the_ttl_for_a_same_run_retry(store_factory):
    store = store_factory()
    ctx = multiprocessing.get_context("spawn")
    from tests.state._workers import hold_lease_forever

    ready = ctx.Event()
    proc = ctx.Process(target=hold_lease_forever, args=(store_factory.url, store_factory.kwargs, "t", "run_a", "run_a|load|1", 1.0, ready))
    proc.start()
    try:
        assert ready.wait(60)
        time.sleep(2.5)  # > 2 TTLs: only the child's heartbeat keeps it
        with pytest.raises(LeaseBusyError):
            with hold_lease(store, "t", "run_a", "run_a|load|2", run_expires_at=future(), first_step=False, wait_s=0.2, poll_s=0.1):
                pass
        os.kill(proc.pid, signal.SIGKILL)
        proc.join(10)
        began = time.monotonic()
        with hold_lease(store, "t", "run_a", "run_a|load|2", run_expires_at=future(), first_step=False, wait_s=10, poll_s=0.1, ttl_s=1):
            took = time.monotonic() - began
        assert took < 2.5  # within ~1 TTL of the kill
        # a different run would still have to wait for the dead run's run lease (until its deadline)
    finally:
        if proc.is_alive():
            proc.kill()
            proc.join(10)


# --------------------------------------------------------------------------- ESM template write lock


def test_template_lock_one_writer_at_a_time_and_free_at_once_after_release(store):
    with hold_template_lock(store, "esm.example.com/v1", "incident", writer="task_a", run_id="r1", ttl_s=1) as lock:
        assert lock.task == "esm-template:esm.example.com/v1/incident"
        with pytest.raises(TemplateBusyError, match=r"task 'task_a' run 'r1' \(load on .* pid \d+\) is writing it"):
            with hold_template_lock(store, "esm.example.com/v1", "incident", writer="task_b", wait_s=0.3, poll_s=0.1):
                pass
        # another template, another ESM: independent
        with hold_template_lock(store, "esm.example.com/v1", "person", writer="task_b", wait_s=0):
            pass
        with hold_template_lock(store, "esm2.example.com/v1", "incident", writer="task_b", wait_s=0):
            pass
    began = time.monotonic()
    with hold_template_lock(store, "esm.example.com/v1", "incident", writer="task_b", wait_s=5, poll_s=0.1):
        assert time.monotonic() - began < 1
    # the same writer again (load, then mark_removed of one run) is no re-entry problem either
    with hold_template_lock(store, "esm.example.com/v1", "incident", writer="task_b", run_id="r2", wait_s=0):
        pass


def test_template_lock_released_on_error_and_a_stalled_holder_is_taken_over_after_its_ttl(store, caplog):
    with pytest.raises(RuntimeError):
        with hold_template_lock(store, "esm", "incident", writer="task_a", ttl_s=1):
            raise RuntimeError("ESM down")
    assert store.get_lease("esm-template:esm/incident").released
    stalled = TemplateLock(store, "esm", "incident", writer="task_a", run_id="r1", ttl_s=0.5)
    stalled.acquire()
    stalled._stop_heartbeat()  # a killed process: nobody renews it
    began = time.monotonic()
    with hold_template_lock(store, "esm", "incident", writer="task_b", wait_s=10, poll_s=0.1, ttl_s=0.5):
        assert 0.2 < time.monotonic() - began < 2
    assert any("was not released" in r.getMessage() and "task 'task_a' run 'r1'" in r.getMessage()
               for r in caplog.records)


def test_template_lock_lost_is_noticed_and_check_stops_the_writer(store):
    with pytest.raises(TemplateLockLostError, match="lost its write lock"):  # at the block's end as well
        with hold_template_lock(store, "esm", "incident", writer="task_a", ttl_s=0.6) as lock:
            lock.check()
            store.break_lease("esm-template:esm/incident")  # an operator removed it
            time.sleep(0.8)  # the heartbeat finds out
            assert lock.lost
            with pytest.raises(TemplateLockLostError, match="lost its write lock"):
                lock.check()
    assert store.get_lease("esm-template:esm/incident") is None  # not recreated by the exit


def test_template_lock_lost_after_the_last_write_fails_the_block(store):
    """As hold_lease: a block whose writes all went out fails when the lock was lost meanwhile
    (the last write may have gone out next to another writer's): its step does not count as done."""
    with pytest.raises(TemplateLockLostError, match=r"lost its write lock \(task 'task_b'"):
        with hold_template_lock(store, "esm", "incident", writer="task_a", ttl_s=0.6) as lock:
            lock.check()  # the last write
            store.break_lease("esm-template:esm/incident")  # an operator removed it; task_b takes the template
            other = TemplateLock(store, "esm", "incident", writer="task_b", wait_s=0, ttl_s=60)
            other.acquire()
            time.sleep(0.8)  # the heartbeat finds out
    assert store.get_lease("esm-template:esm/incident").holder == other.holder  # untouched by the exit
    other.release()


# --------------------------------------------------------------------------- migration


def test_migration_runner_applies_versions_with_gaps_and_a_v1_database_gets_the_lease_table(store_factory):
    assert SCHEMA_VERSION == max(MIGRATIONS) and 3 in MIGRATIONS
    s = store_factory()
    with s.engine.begin() as conn:  # a database made by a connector with schema version 1
        s.tables.leases.drop(conn)
        conn.execute(sa.update(s.tables.schema_version).values(version=1))
    again = store_factory()
    assert again.schema_version() == SCHEMA_VERSION
    assert sa.inspect(again.engine).has_table(again.tables.leases.name, schema=again.tables.leases.schema)
    assert claim(again, "run_a", "h", 0).acquired
