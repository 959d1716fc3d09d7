"""Run exclusion across workers: expiries are written and judged by the state database's
clock (a worker whose clock runs ahead cannot take a live writer's lease), and a run that an
operator cleared after its last try was killed takes its own earlier instance's lease over."""
from __future__ import annotations

import shutil
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
import sqlalchemy as sa

from jira_esm_connector.state import LeaseBusyError, StateStore, TemplateBusyError, TemplateLock, hold_lease

# the DAG-test fixtures (Airflow metadata DB, connections to the simulators, a task folder)
from tests.dags.conftest import airflow_db, connector_env  # noqa: F401

REPO_ROOT = Path(__file__).resolve().parents[2]
EXAMPLES = REPO_ROOT / "include" / "mappings"
UTC = timezone.utc


# --------------------------------------------------------------------------- clock skew


def test_a_worker_whose_clock_runs_ahead_does_not_take_a_live_writers_template_lock(store, monkeypatch):
    """A CeleryExecutor worker whose clock runs ahead by more than the heartbeat lifetime
    (60 s) must not see a live writer's heartbeat as run out: both would write the template,
    and two loads of one new key would each create a card (the lock's whole purpose). The
    store writes and judges expiries by one clock (PostgreSQL: the database's), whatever the
    workers' clocks say."""
    import jira_esm_connector.state.lease as lease_module

    writer = TemplateLock(store, "esm.example/rest-api/itsm/v1", "incident", writer="task_a", run_id="run_a",
                          ttl_s=60, wait_s=0)
    writer.acquire()  # its heartbeat thread renews every 20 s; the next beat is 20 s away
    try:
        real = lease_module._utcnow
        monkeypatch.setattr(lease_module, "_utcnow", lambda: real() + timedelta(seconds=65))  # just renewed: > 60 s
        other = TemplateLock(store, "esm.example/rest-api/itsm/v1", "incident", writer="task_b", run_id="run_b",
                             ttl_s=60, wait_s=0)
        try:
            other.acquire()
            took_it = True
        except TemplateBusyError:
            took_it = False
        monkeypatch.setattr(lease_module, "_utcnow", real)
        if took_it:
            writer.check()  # no error: the first writer goes on writing too
            other.release()
        assert not took_it, "a worker with a fast clock took the write lock of a live writer: two writers at once"
    finally:
        writer.release()


def test_a_worker_whose_clock_runs_ahead_does_not_take_a_live_runs_task_lease(store, monkeypatch):
    import jira_esm_connector.state.lease as lease_module

    with hold_lease(store, "t", "run_a", "run_a|load|1", run_expires_at=datetime.now(UTC), ttl_s=60):
        real = lease_module._utcnow
        monkeypatch.setattr(lease_module, "_utcnow", lambda: real() + timedelta(minutes=10))
        with pytest.raises(LeaseBusyError) as info:
            with hold_lease(store, "t", "run_b", "run_b|extract|1", run_expires_at=real() + timedelta(hours=1),
                            wait_s=0, ttl_s=60):
                pass
        monkeypatch.setattr(lease_module, "_utcnow", real)
        assert "attempt run_a|load|1 is working" in str(info.value)


@pytest.mark.postgres
def test_a_worker_whose_clock_runs_ahead_does_not_take_a_live_events_claim(store_factory, monkeypatch):
    """An event's claim counts as crashed once not heard of for ``stale_after``. A worker whose
    clock ran ahead by more than that took a live try's claim (both acting: an issue created
    twice). Claims are stamped and judged by the database's clock on PostgreSQL, as leases are."""
    import jira_esm_connector.state.store as store_module

    store = store_factory()
    if store.dialect != "postgresql":
        pytest.skip("PostgreSQL only")
    first = store.begin_event("t", "e1", owner="run-a", stale_after=timedelta(minutes=10))
    assert first.claimed
    real = store_module._utcnow
    monkeypatch.setattr(store_module, "_utcnow", lambda: real() + timedelta(minutes=15))
    second = store.begin_event("t", "e1", owner="run-b", stale_after=timedelta(minutes=10))
    monkeypatch.setattr(store_module, "_utcnow", real)
    assert not second.claimed and second.status == "running", second


@pytest.mark.postgres
def test_on_postgresql_expiries_follow_the_database_clock(store_factory):
    """Claims and heartbeats without an explicit ``now`` take the database's clock."""
    store = store_factory()
    if store.dialect != "postgresql":
        pytest.skip("PostgreSQL only")
    with store.engine.connect() as conn:
        db_now = conn.execute(sa.select(sa.func.clock_timestamp())).scalar_one()
    claim = store.try_acquire_lease("t", "run_a", "run_a|x|1", holder_ttl_s=60, run_expires_at=None)
    assert claim.acquired and claim.now is not None
    assert abs((claim.now - db_now).total_seconds()) < 30
    assert claim.current.holder_expires_at == claim.now + timedelta(seconds=60) == claim.current.run_expires_at
    assert store.renew_lease("t", "run_a", "run_a|x|1", holder_ttl_s=60)
    assert store.get_lease("t").holder_expires_at >= claim.current.holder_expires_at


def test_busy_error_says_working_only_while_the_holders_heartbeat_lives(store):
    dead = datetime.now(UTC) - timedelta(minutes=5)
    assert store.try_acquire_lease("t", "run_a", "run_a|load|1", holder_expires_at=dead,
                                   run_expires_at=datetime.now(UTC) + timedelta(hours=3),
                                   now=dead - timedelta(minutes=1)).acquired
    with pytest.raises(LeaseBusyError) as info:
        with hold_lease(store, "t", "run_b", "run_b|extract|1", run_expires_at=datetime.now(UTC) + timedelta(hours=1),
                        wait_s=0, ttl_s=60):
            pass
    text = str(info.value)
    assert "is working" not in text and "stopped renewing its heartbeat" in text and "run_a|load|1" in text


# --------------------------------------------------------------------------- a re-run after a killed last try


def test_a_restarted_run_takes_over_the_lease_its_killed_earlier_instance_left(store):
    """Same run id (run_name), a new owner token (new start time): an earlier instance whose
    attempt's heartbeat ran out is over -- for the restarted run's first step and for a
    cleared later step alike. One whose attempt is alive, or that is between steps (a second
    deployment's run of the same slot), is not."""
    now = datetime.now(UTC)
    slot = "scheduled__2026-11-29T09:00:00+00:00"

    def leave(holder_expires_at):
        store.break_lease("t")
        assert store.try_acquire_lease("t", f"{slot} (started 1)", f"{slot}|load|try 1", run_name=slot,
                                       holder_expires_at=holder_expires_at, run_expires_at=now + timedelta(hours=3),
                                       now=now - timedelta(minutes=20)).acquired

    leave(now - timedelta(minutes=5))  # killed 5 min ago
    first = store.try_acquire_lease("t", f"{slot} (started 2)", f"{slot}|extract|try 1", run_name=slot, holder_ttl_s=60,
                                    run_expires_at=now + timedelta(hours=4))
    assert first.acquired and first.taken_over.owner_run == f"{slot} (started 1)"

    leave(now - timedelta(minutes=5))
    later = store.try_acquire_lease("t", f"{slot} (started 2)", f"{slot}|load|try 1", run_name=slot, holder_ttl_s=60,
                                    run_expires_at=now + timedelta(hours=4), first_step=False)
    assert later.acquired

    leave(now + timedelta(minutes=1))  # still working
    assert store.try_acquire_lease("t", f"{slot} (started 2)", f"{slot}|extract|try 1", run_name=slot, holder_ttl_s=60,
                                   run_expires_at=now + timedelta(hours=4)).outcome == "busy"
    assert store.release_lease("t", f"{slot} (started 1)", f"{slot}|load|try 1", keep_run=True)  # between steps
    assert store.try_acquire_lease("t", f"{slot} (started 2)", f"{slot}|extract|try 1", run_name=slot, holder_ttl_s=60,
                                   run_expires_at=now + timedelta(hours=4)).outcome == "busy"
    # another run id is not this run: the dead attempt's run lease still holds the task
    leave(now - timedelta(minutes=5))
    assert store.try_acquire_lease("t", "manual__x (started 3)", "manual__x|extract|try 1", run_name="manual__x",
                                   holder_ttl_s=60, run_expires_at=now + timedelta(hours=4)).outcome == "busy"


def test_a_cleared_run_whose_last_attempt_was_killed_is_not_refused_as_busy_with_itself(
    airflow_db, connector_env, tmp_path, monkeypatch  # noqa: F811
):
    """A worker is killed (OOM, node lost) during a step's last try: nothing releases the lease,
    Airflow fails the run. The operator fixes the cause and clears the run -- Airflow restarts
    the same run (same run id, new start time, so a new owner token). Its extract finds the
    lease of the run's own earlier instance, whose heartbeat ran out though its run lease
    (old start + the run deadline, 4 h) has not: that instance is over, and the restarted run
    takes the task and succeeds (asking Airflow about the run id would only say "running":
    it is this very run)."""
    from jira_esm_connector.dagfactory import build_all_dags

    from tests.dags.test_import_dags import _states

    monkeypatch.setenv("JIRA_ESM_LEASE_WAIT_SECONDS", "1")
    shutil.copy(EXAMPLES / "import_1_users_to_persons.yaml", connector_env)
    dag = build_all_dags()["jira_users_to_persons"]
    real_claim = StateStore.try_acquire_lease
    left: list[str] = []

    def claim_after_a_killed_last_try(self, task, run_id, holder, **kwargs):
        # dag.test cannot restart a run under its old run id: the first claim of the restarted
        # run finds the lease its own earlier instance (same run id, earlier start) left when
        # its load was killed on the last try 5 min ago -- exactly what a cleared run meets
        if task == "jira_users_to_persons" and not left:
            run_name, now = kwargs["run_name"], datetime.now(UTC)
            left.append(f"{run_name} (started {(now - timedelta(minutes=20)).isoformat()})")
            with self.engine.begin() as conn:
                conn.execute(sa.insert(self.tables.leases).values(
                    task=task, owner_run=left[0], run_name=run_name, holder=f"{run_name}|load|try 1",
                    holder_expires_at=now - timedelta(minutes=5), run_expires_at=now + timedelta(hours=3, minutes=40),
                    acquired_at=now - timedelta(minutes=20), updated_at=now - timedelta(minutes=6),
                ))
        return real_claim(self, task, run_id, holder, **kwargs)

    monkeypatch.setattr(StateStore, "try_acquire_lease", claim_after_a_killed_last_try)

    run = dag.test()  # the operator cleared the failed run: it starts again from extract

    state = StateStore(f"sqlite:///{tmp_path}/state.db")
    lease = state.get_lease("jira_users_to_persons")
    state.dispose()
    assert left and lease is not None and lease.run_name == run.run_id
    assert str(run.state) == "success", (
        f"the restarted run was refused by its own earlier instance's lease: {_states(run)}; lease {lease}"
    )
