"""Two runs of one task at once, and the state database going away for a few seconds."""
from __future__ import annotations

import os
import threading
import uuid

import pytest
import sqlalchemy as sa

from .check import check_import
from .harness import ISSUES_FULL, TcpForwarder, before_put, import_until_done, make_task, new_run_id, run_steps

PG_URL = os.environ.get("JIRA_ESM_TEST_PG_URL", "postgresql+psycopg2://postgres@127.0.0.1:5432/test")


def test_two_concurrent_runs_of_one_task(env, report):
    """Two workers run the same import at the same moment (a manual trigger next to the
    scheduled run, or a zombie worker): only one may work; the next run converges."""
    task = make_task(ISSUES_FULL)
    start, first_put = threading.Barrier(2), threading.Barrier(2)
    outcomes: list[str] = []

    def both_at_the_first_put() -> None:
        # the race made certain: both workers looked up chunk 1 in ESM before either writes
        # (with a lease the other worker never gets here: wait a little, then go on alone)
        try:
            first_put.wait(timeout=3)
        except threading.BrokenBarrierError:
            pass

    def worker(n: int) -> None:
        jira, esm, state = env.jira(), env.esm(), env.state()
        before_put(esm, 1, both_at_the_first_put)
        start.wait()
        try:
            run_steps(task, jira, esm, state, env.staging, new_run_id(f"{task.name}_w{n}"))
            outcomes.append("done")
        except Exception as exc:  # noqa: BLE001 - the loser of the lease is expected to refuse
            outcomes.append(f"{type(exc).__name__}: {exc}"[:200])

    threads = [threading.Thread(target=worker, args=(n,)) for n in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    assert "done" in outcomes, outcomes
    env.calm()
    runs = 2 + import_until_done(env, task, attempts=1).runs  # the next scheduled run
    report("two concurrent runs of one task", runs, check_import(task, env.jira_sim, env.esm()))


@pytest.fixture
def pg_behind_forwarder():
    """A state-store URL on PostgreSQL (own schema) reached through a forwarder that a test
    can take down and bring back."""
    url = sa.engine.make_url(PG_URL)
    forwarder = TcpForwarder((url.host or "127.0.0.1", url.port or 5432))
    schema = f"jesm_faults_{uuid.uuid4().hex[:10]}"
    yield url.set(host="127.0.0.1", port=forwarder.port).render_as_string(hide_password=False), schema, forwarder
    forwarder.close()
    engine = sa.create_engine(PG_URL)
    with engine.begin() as conn:
        conn.execute(sa.text(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE'))
    engine.dispose()


class _InsideStateTransaction:
    """Runs ``action`` once, just before the state store's first statement writing
    ``table``: the database goes away under an open transaction, after the pool handed
    out a connection it had checked."""

    def __init__(self, state, table: str, action) -> None:
        self.fired = False

        def before(_conn, _cursor, statement, *_args):
            if not self.fired and statement.startswith("INSERT") and f".{table} " in statement:
                self.fired = True
                action()

        sa.event.listen(state.engine, "before_cursor_execute", before)


def _outage_mid_load(env, pg_behind_forwarder, *, attempts: int, inside_transaction: bool = False):
    url, schema, forwarder = pg_behind_forwarder
    task = make_task(ISSUES_FULL)
    state = env.state(url, schema=schema)
    esm = env.esm()
    if inside_transaction:  # while load records what ESM saved of chunk 1
        hook = _InsideStateTransaction(state, "task_cache", lambda: forwarder.outage(3.0))
    else:  # ESM saves chunk 2 while the state database is gone: the load cannot record it
        hook = before_put(esm, 2, lambda: forwarder.outage(3.0))
    try:
        runs = import_until_done(env, task, esm=esm, state=state, attempts=attempts, delay=3.5).runs
    except AssertionError:
        if attempts == 1:  # the run itself must ride out the outage (ESM may hold every card anyway)
            raise
        runs = attempts  # no attempt succeeded: what ESM holds now is what the table shows
    assert hook.fired
    forwarder.up()
    env.calm()
    return runs, check_import(task, env.jira_sim, env.esm())


@pytest.mark.postgres
def test_state_db_outage_mid_load_then_retry(env, report, pg_behind_forwarder):
    runs, counts = _outage_mid_load(env, pg_behind_forwarder, attempts=3)
    report("state DB (PostgreSQL) down 3 s mid load, retried", runs, counts)


@pytest.mark.postgres
def test_state_db_outage_mid_load_single_run_survives(env, report, pg_behind_forwarder):
    """With retries on the state database, the run itself rides out a 3 s outage."""
    runs, counts = _outage_mid_load(env, pg_behind_forwarder, attempts=1)
    report("state DB (PostgreSQL) down 3 s mid load, one run", runs, counts)


@pytest.mark.postgres
def test_state_db_outage_inside_a_state_transaction_single_run_survives(env, report, pg_behind_forwarder):
    """The database goes away under a transaction the load has open (its connection passed
    the pool's check): the store runs that transaction again once the database is back."""
    runs, counts = _outage_mid_load(env, pg_behind_forwarder, attempts=1, inside_transaction=True)
    report("state DB (PostgreSQL) down 3 s inside a state transaction, one run", runs, counts)
