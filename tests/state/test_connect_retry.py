"""A state database that is unreachable for a few seconds does not fail a run (issue 8,
small item): new connections are retried with backoff and a log line, never leaking the
password."""
from __future__ import annotations

import logging
import socket
import time

import pytest
import sqlalchemy as sa

from jira_esm_connector.state import StateStore, StateStoreError
from jira_esm_connector.state.store import connect_with_retry

from .conftest import PG_URL


class Flaky:
    """Stands in for ``psycopg2.connect``: fails the first ``failures`` calls like a
    database that is restarting, then connects for real."""

    def __init__(self, real, failures: int, error: type[Exception]) -> None:
        self.real, self.failures, self.error, self.calls = real, failures, error, 0

    def __call__(self, *args, **kwargs):
        self.calls += 1
        if self.calls <= self.failures:
            raise self.error('connection to server at "db" (10.0.0.5), port 5432 failed: Connection refused')
        return self.real(*args, **kwargs)


def test_connect_with_retry_backs_off_and_gives_up_after_the_last_try(caplog):
    calls, sleeps = [], []

    def connect():
        calls.append(1)
        raise ConnectionError("refused for user svc with password s3cret")

    with caplog.at_level(logging.WARNING, logger="jira_esm_connector.state"):
        with pytest.raises(ConnectionError):
            connect_with_retry(connect, retriable=(ConnectionError,), retries=3, backoff_s=0.5,
                               where="postgresql://svc:***@db/state", secrets=["s3cret"], sleep=sleeps.append)
    assert len(calls) == 4 and sleeps == [0.5, 1.0, 2.0]
    assert "retry 1 of 3 in 0.5 s" in caplog.text and "giving up" in caplog.text
    assert "s3cret" not in caplog.text and "postgresql://svc:***@db/state" in caplog.text
    # other errors are not retried
    with pytest.raises(ValueError):
        connect_with_retry(lambda: (_ for _ in ()).throw(ValueError("bad")), retriable=(ConnectionError,),
                           retries=3, backoff_s=0, where="x", sleep=sleeps.append)


@pytest.mark.postgres
# pg_schema before monkeypatch: the schema is dropped after psycopg2.connect is restored
def test_postgres_down_for_a_few_attempts_is_retried_at_open_and_on_reconnect(pg_schema, monkeypatch, caplog):
    import psycopg2

    flaky = Flaky(psycopg2.connect, failures=2, error=psycopg2.OperationalError)
    monkeypatch.setattr(psycopg2, "connect", flaky)
    with caplog.at_level(logging.WARNING, logger="jira_esm_connector.state"):
        store = StateStore(PG_URL, schema=pg_schema, connect_backoff_s=0.01)  # opening: 2 failures, then fine
        assert flaky.calls == 3
        store.engine.dispose()  # the database restarts: every pooled connection is gone
        flaky.calls, flaky.failures = 0, 3
        assert store.get_watermark("t") is None
        assert flaky.calls == 4
    store.dispose()
    assert caplog.text.count("unreachable (OperationalError") == 5
    assert "retry 3 of 4" in caplog.text


@pytest.mark.postgres
def test_postgres_down_longer_than_the_retries_fails_without_retrying_forever(pg_schema, monkeypatch):
    import psycopg2

    flaky = Flaky(psycopg2.connect, failures=100, error=psycopg2.OperationalError)
    monkeypatch.setattr(psycopg2, "connect", flaky)
    with pytest.raises(StateStoreError, match="cannot open the state database"):
        StateStore(PG_URL, schema=pg_schema, connect_retries=2, connect_backoff_s=0.01)
    assert flaky.calls == 3


def test_closed_port_is_retried_then_reported_without_the_password(caplog):
    with socket.socket() as s:  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    url = f"postgresql+psycopg2://svc:s3cret@127.0.0.1:{port}/state"
    with caplog.at_level(logging.WARNING, logger="jira_esm_connector.state"):
        with pytest.raises(StateStoreError) as info:
            StateStore(url, connect_retries=2, connect_backoff_s=0.01)
    assert caplog.text.count("unreachable (OperationalError") == 2 and "giving up" in caplog.text
    assert "s3cret" not in str(info.value) and "s3cret" not in caplog.text
    assert "***" in str(info.value)


# ---- a connection that dies under a transaction --------------------------------------------
# The pool checks a connection when it hands it out; a database restart, a failover or a
# proxy closing connections can still end it between that check and the query (the fault
# test of a 3 s outage mid load failed that way once in CI). Every store method is one
# transaction, and runs again on a new connection -- unless the commit itself was cut off
# and running the method twice is not safe.

class KillSession:
    """Terminates the store's own database session (``pg_terminate_backend``, as a restart
    or an administrator would) just before each of the first ``times`` statements for which
    ``when(statement)`` holds, or just before the COMMIT (``at_commit``)."""

    def __init__(self, store: StateStore, when=lambda statement: True, *, at_commit: bool = False,
                 times: int = 1) -> None:
        self.fired, self.times = 0, times
        self._admin = sa.create_engine(PG_URL)
        if at_commit:
            sa.event.listen(store.engine, "commit", lambda conn: self._kill(conn))
        else:
            def before(conn, _cursor, statement, *_args):
                if when(statement):
                    self._kill(conn)
            sa.event.listen(store.engine, "before_cursor_execute", before)

    def _kill(self, conn) -> None:
        if self.fired >= self.times:
            return
        self.fired += 1
        pid = conn.connection.dbapi_connection.get_backend_pid()
        with self._admin.connect() as admin:
            assert admin.execute(sa.text("SELECT pg_terminate_backend(:p)"), {"p": pid}).scalar()
            for _ in range(100):  # the session is gone before the statement is sent
                if not admin.execute(sa.text("SELECT 1 FROM pg_stat_activity WHERE pid = :p"), {"p": pid}).first():
                    break
                time.sleep(0.02)


def _store(pg_schema) -> StateStore:
    store = StateStore(PG_URL, schema=pg_schema, connect_backoff_s=0.01)
    store.get_watermark("warm-up")  # a pooled connection that the pool believes alive
    return store


@pytest.mark.postgres
def test_session_killed_before_a_read_reads_again(pg_schema, caplog):
    store = _store(pg_schema)
    store.put_fingerprints("t", {f"K-{i}": f"fp{i}" for i in range(1200)})  # more than one page of 500
    kill = KillSession(store, lambda sql: "task_cache" in sql and "SELECT" in sql)
    with caplog.at_level(logging.WARNING, logger="jira_esm_connector.state"):
        assert store.get_fingerprints("t", [f"K-{i}" for i in range(1200)]) == {f"K-{i}": f"fp{i}" for i in range(1200)}
    assert kill.fired == 1
    assert "the connection dropped in get_fingerprints" in caplog.text and "retry 1 of 4" in caplog.text
    store.dispose()


@pytest.mark.postgres
def test_session_killed_between_pages_of_a_paged_read_pages_on(pg_schema):
    store = _store(pg_schema)
    store.put_fingerprints("t", {f"K-{i:04d}": "fp" for i in range(25)})
    kill = KillSession(store, lambda sql: "task_cache.record_key >" in sql)  # the second page's query
    assert [k for k, _ in store.iter_fingerprints("t", page_size=10)] == [f"K-{i:04d}" for i in range(25)]
    assert kill.fired == 1
    store.dispose()


@pytest.mark.postgres
def test_session_killed_inside_a_write_transaction_writes_it_once_again(pg_schema, caplog):
    store = _store(pg_schema)
    store.put_fingerprints("t", {"A-2": "f2-complete-earlier"})
    kill = KillSession(store, lambda sql: "INSERT INTO" in sql and "key_map" in sql)  # after a statement ran
    with caplog.at_level(logging.WARNING, logger="jira_esm_connector.state"):
        # A-2 saved without a reference: pending, and its earlier fingerprint forgotten
        store.record_loaded("t", card_ids={"A-1": "c1", "A-2": "c2"}, fingerprints={"A-1": "f1"},
                            pending={"A-2": "waits for B-9"})
    assert kill.fired == 1
    assert store.get_card_ids("t", ["A-1", "A-2"]) == {"A-1": "c1", "A-2": "c2"}
    assert store.get_fingerprints("t", ["A-1", "A-2"]) == {"A-1": "f1"}
    assert store.pending_keys("t") == ["A-2"]
    assert "the connection dropped in record_loaded" in caplog.text
    store.dispose()


@pytest.mark.postgres
def test_commit_cut_off_runs_again_only_what_is_safe_to_run_twice(pg_schema, caplog):
    store = _store(pg_schema)
    KillSession(store, at_commit=True)
    store.put_fingerprints("t", {"A-1": "f1"})  # an upsert: running it twice is harmless
    assert store.get_fingerprints("t", ["A-1"]) == {"A-1": "f1"}

    store2 = _store(pg_schema)
    KillSession(store2, at_commit=True)
    with caplog.at_level(logging.ERROR, logger="jira_esm_connector.state"):
        with pytest.raises(sa.exc.OperationalError):
            store2.begin_event("t", "ev-1", owner="run-1")  # a claim: a second run could see its own claim
    assert "while committing begin_event" in caplog.text and "not run again" in caplog.text
    # the claim did not reach the database here; the task's retry claims it as new
    record = store2.begin_event("t", "ev-1", owner="run-1")
    assert record.claimed and record.attempts == 1
    store.dispose()
    store2.dispose()


@pytest.mark.postgres
def test_a_connection_that_keeps_dropping_is_given_up_after_the_retries(pg_schema):
    store = StateStore(PG_URL, schema=pg_schema, connect_retries=2, connect_backoff_s=0.01)
    kill = KillSession(store, lambda sql: "watermarks" in sql, times=10)
    with pytest.raises(sa.exc.OperationalError):
        store.get_watermark("t")
    assert kill.fired == 3  # the first run and two more
    store.dispose()


def test_every_store_method_that_opens_a_connection_is_one_retried_transaction():
    """A new method that opens a connection without ``@transaction`` would fail a run on the
    first dropped connection: keep them all marked."""
    import inspect

    unmarked = []
    for name, member in vars(StateStore).items():
        if not inspect.isfunction(member) or name in ("_migrate", "_write", "drop_all"):
            continue  # opening (retried by connect), the transaction itself, and a test/operator reset
        source = inspect.getsource(member)
        if ("self._write()" in source or "self.engine.connect()" in source) and not hasattr(member, "__wrapped__"):
            unmarked.append(name)
    assert unmarked == []
