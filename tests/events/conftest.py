"""Fixtures for the event tests: clients on the running simulators, a fresh state store,
task models built from the example task files (include/mappings/event_*.yaml)."""
from __future__ import annotations

import itertools
import os
import uuid
from pathlib import Path
from typing import Any

import pytest

from jira_esm_connector.config import load_task_file, parse_task
from jira_esm_connector.events import clear_field_cache
from jira_esm_connector.http import RetryPolicy
from jira_esm_connector.http.errors import NotFoundError, ServiceUnavailableError
from jira_esm_connector.jira import JiraClient

REPO_ROOT = Path(__file__).resolve().parents[2]
MAPPINGS = REPO_ROOT / "include" / "mappings"
FAST_RETRY = RetryPolicy(total=3, backoff_base=0.05, backoff_cap=0.2, jitter=0.0, connect_retries=1, read_retries=1)
_COUNTER = itertools.count(1)


def delete_group_if_there(jira, group_id: str) -> None:
    """A test's clean-up: the group goes, unless the test deleted it already."""
    try:
        jira.delete_group(group_id=group_id)
    except NotFoundError:
        pass


def unique(prefix: str = "evt") -> str:
    return f"{prefix}-{os.getpid()}-{next(_COUNTER)}-{uuid.uuid4().hex[:6]}"


class EsmDownOnce:
    """The ESM client, but the first write-back answers 503 (ESM briefly down): the event
    fails retriably after Jira acted."""

    def __init__(self, esm):
        self._esm, self.calls = esm, 0

    def __getattr__(self, name):
        return getattr(self._esm, name)

    def patch_card(self, *a, **kw):
        self.calls += 1
        if self.calls == 1:
            raise ServiceUnavailableError("ESM answered 503", status=503)
        return self._esm.patch_card(*a, **kw)


class FirstCallFails:
    """The Jira client, but the first call of ``method`` raises ``error`` (and never reached Jira)."""

    def __init__(self, jira, method: str, error: Exception):
        self._jira, self._method, self._error = jira, method, error
        self.failed = False

    def __getattr__(self, name):
        real = getattr(self._jira, name)
        if name != self._method:
            return real

        def first_fails(*args, **kwargs):
            if not self.failed:
                self.failed = True
                raise self._error
            return real(*args, **kwargs)

        return first_fails


class CommentsDown:
    """The Jira client, but adding a comment answers 503 (Jira did not act; a transition works)."""

    def __init__(self, jira):
        self._jira = jira

    def __getattr__(self, name):
        return getattr(self._jira, name)

    def add_comment(self, *a, **kw):
        raise ServiceUnavailableError("Jira answered 503", status=503)


def issue_status(jira, key: str) -> str:
    return jira.get_issue(key, fields=["status"])["fields"]["status"]["name"]


@pytest.fixture(autouse=True)
def fresh_field_cache():
    """Each test starts without cached Jira field lists (they are per process)."""
    clear_field_cache()
    yield
    clear_field_cache()


@pytest.fixture
def jira(jira_clients):
    return jira_clients(retry=FAST_RETRY)


@pytest.fixture
def esm(esm_clients):
    return esm_clients(retry=FAST_RETRY)


@pytest.fixture
def state(sqlite_state):
    return sqlite_state


@pytest.fixture
def proxied_jira(jira_sim, proxy):
    """A JiraClient that reaches the simulator through the fault-injecting proxy (plain http)."""
    client = JiraClient(
        proxy.url, jira_sim.email, jira_sim.token, retry=FAST_RETRY, allow_insecure_http=True
    )
    yield client
    client.close()


def example_task(file_name: str, **changes: Any):
    """An example task file from include/mappings, optionally with top-level keys changed."""
    task = load_task_file(MAPPINGS / file_name)
    if not changes:
        return task
    raw = _raw(MAPPINGS / file_name)
    raw.update(changes)
    return parse_task(raw, file_name)


def _raw(path: Path) -> dict[str, Any]:
    import yaml

    return yaml.safe_load(path.read_text())


def make_task(**doc: Any):
    base = {"kind": "event", "jira_conn_id": "jira_default", "esm_conn_id": "esm_default"}
    base.update(doc)
    return parse_task(base, f"{doc.get('name', 'test')}.yaml")


SEEDED_PROJECTS = ("SUP", "ENG", "OPS")  # the simulator's first three projects (fixture seeds 3)
_PROJECT_STATUSES: dict[str, dict[str, set[str]]] = {}


def project_statuses(jira) -> dict[str, set[str]]:
    """``{project key: statuses its workflow's transitions lead to}`` for the seeded projects
    (read from Jira through a probe issue per project, so tests do not hard-code workflows)."""
    cached = _PROJECT_STATUSES.get(jira.base_url)
    if cached is None:
        cached = {}
        for key in SEEDED_PROJECTS:
            created = jira.create_issue({"project": {"key": key}, "issuetype": {"name": "Task"}, "summary": "workflow probe"})
            cached[key] = {t["to"]["name"] for t in jira.get_transitions(created["key"])}
        _PROJECT_STATUSES[jira.base_url] = cached
    return cached


def project_with(jira, status: str, *, without: str | None = None) -> str:
    for key, statuses in project_statuses(jira).items():
        if status in statuses and (without is None or without not in statuses):
            return key
    raise LookupError(f"no seeded project whose workflow leads to {status!r}")
