"""DAG tests: the Airflow metadata DB of the test session (``airflow db migrate`` in the
session's own AIRFLOW_HOME, see tests/conftest.py), connections to the simulators as
``AIRFLOW_CONN_*`` environment variables, and a task folder per test."""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.fixtures.airflow_e2e import connection_env

REPO_ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="session")
def airflow_db():
    airflow = Path(sys.executable).with_name("airflow")
    out = subprocess.run([str(airflow), "db", "migrate"], capture_output=True, text=True, timeout=300, env=dict(os.environ))
    assert out.returncode == 0, out.stdout[-2000:] + out.stderr[-2000:]
    return os.environ["AIRFLOW_HOME"]


@pytest.fixture
def connector_env(monkeypatch, tmp_path, jira_sim, esm_sim):
    """Environment the DAGs read: connections, state DB, staging, task folder; no retries."""
    jira_sim.reset()
    esm_sim.reset()
    mappings = tmp_path / "mappings"
    mappings.mkdir()
    for key, value in connection_env(jira_sim, esm_sim).items():
        monkeypatch.setenv(key, value)
    monkeypatch.setenv("JIRA_ESM_STATE_DB_URL", f"sqlite:///{tmp_path}/state.db")
    monkeypatch.setenv("JIRA_ESM_STAGING_DIR", str(tmp_path / "staging"))
    monkeypatch.setenv("JIRA_ESM_MAPPINGS_DIR", str(mappings))
    monkeypatch.setenv("JIRA_ESM_TASK_RETRIES", "0")
    return mappings


@pytest.fixture
def no_io_at_parse_time(monkeypatch, tmp_path):
    """Sockets refuse to connect and the state DB URL points at a file that must not appear:
    building DAGs (what the DAG processor does) may read task files, nothing else. Returns
    that file's path."""
    import socket

    def refuse(*args, **kwargs):
        raise AssertionError("network I/O at DAG parse time")

    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(socket, "create_connection", refuse)
    db = tmp_path / "must-not-exist.db"
    monkeypatch.setenv("JIRA_ESM_STATE_DB_URL", f"sqlite:///{db}")
    return db
