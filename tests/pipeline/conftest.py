"""Fixtures for the import pipeline tests: real clients on the running simulators, a
fresh state store per test (SQLite; PostgreSQL where a test asks for ``pg_state``), and
task models built from plain dicts exactly as task files would declare them."""
from __future__ import annotations

import copy
import logging
import os
import uuid
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from jira_esm_connector.config import parse_task
from jira_esm_connector.state import StateStore

REPO_ROOT = Path(__file__).resolve().parents[2]
PG_URL = os.environ.get("JIRA_ESM_TEST_PG_URL", "postgresql+psycopg2://postgres@127.0.0.1:5432/test")

ISSUES_TASK: dict[str, Any] = {
    "name": "test_issues",
    "kind": "scheduled",
    "jira_conn_id": "jira_default",
    "esm_conn_id": "esm_default",
    "schedule": "*/30 * * * *",
    "mode": "incremental",
    "mapping_type": "generic",
    "jql": "project = SUP",
    "template": "incident",
    "folder": "incident_management",
    "key": {"jira": "key", "esm": "jira_key"},
    "attributes": {
        "subject": "fields.summary",
        "description": {"from": "fields.description", "transform": "adf_to_text"},
        "status": {
            "from": "fields.status.name",
            "map": {"In Progress": "02 - Solving", "Done": "05 - Solved", "Resolved": "05 - Solved", "Closed": "06 - Closed"},
            "default": "01 - New",
        },
        "labels": "fields.labels",
        "created": {"from": "fields.created", "transform": "datetime"},
    },
}

USERS_TASK: dict[str, Any] = {
    "name": "test_users",
    "kind": "scheduled",
    "jira_conn_id": "jira_default",
    "esm_conn_id": "esm_default",
    "schedule": "0 * * * *",
    "mode": "full",
    "mapping_type": "user",
    "template": "person",
    "folder": "persons",
    "key": {"jira": "accountId", "esm": "jira_account_id"},
    "attributes": {
        "email": "emailAddress",
        "display_name": "displayName",
        "accountStatus": {"from": "active", "map": {True: "Active", False: "Disabled"}, "default": "Active"},
    },
}


def comment_task(name: str, jql: str, mode: str = "full"):
    """A comment import into the incident cards' worklog (the issue import's jira_key)."""
    return make_task({
        "name": name, "kind": "scheduled", "jira_conn_id": "jira_default", "esm_conn_id": "esm_default",
        "schedule": "*/30 * * * *", "mode": mode, "mapping_type": "comment", "jql": jql, "template": "incident",
        "comments": {"card_key_attribute": "jira_key", "worklog_attribute": "worklog"},
    })


def make_task(base: dict[str, Any], **changes: Any):
    data = copy.deepcopy(base)
    data.update(changes)
    return parse_task(data, f"{data['name']}.yaml")


@pytest.fixture
def jira(jira_sim, jira_clients):
    jira_sim.reset()
    return jira_clients()


@pytest.fixture
def esm(esm_sim, esm_clients):
    esm_sim.reset()
    return esm_clients()


@pytest.fixture
def state(sqlite_state):
    return sqlite_state


@pytest.fixture
def pg_state():
    schema = f"jesm_pipe_{uuid.uuid4().hex[:10]}"
    store = StateStore(PG_URL, schema=schema)
    yield store
    store.dispose()
    engine = sa.create_engine(PG_URL)
    with engine.begin() as conn:
        conn.execute(sa.text(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE'))
    engine.dispose()


@pytest.fixture
def staging(tmp_path):
    path = tmp_path / "staging"
    path.mkdir()
    return path


@pytest.fixture
def quiet_log():
    return logging.getLogger("tests.pipeline")


class _ListHandler(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.messages: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.messages.append(record.getMessage())


@pytest.fixture
def run_log():
    """A logger to pass as ``logger=`` plus the messages it received (independent of how
    Airflow, once imported, reconfigures logging)."""
    logger = logging.getLogger(f"tests.pipeline.{uuid.uuid4().hex[:8]}")
    logger.propagate = False
    logger.setLevel(logging.DEBUG)
    handler = _ListHandler()
    logger.addHandler(handler)
    logger.messages = handler.messages  # type: ignore[attr-defined]
    return logger
