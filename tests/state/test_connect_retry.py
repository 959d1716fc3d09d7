"""A state database that is unreachable for a few seconds does not fail a run (issue 8,
small item): new connections are retried with backoff and a log line, never leaking the
password."""
from __future__ import annotations

import logging
import socket

import pytest

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
