"""Helpers shared by the DAG builders: settings, retries, tags, start date, clients.

Nothing here does network or database I/O at import or DAG-parse time; clients and the
state store are opened inside task code only.
"""
from __future__ import annotations

import os
from contextlib import contextmanager
from datetime import datetime, timedelta, timezone
from typing import Any, Iterator

__all__ = [
    "START_DATE",
    "connector_settings",
    "default_args",
    "dag_tags",
    "open_clients",
    "open_state",
    "fail_without_retry",
    "cap_doc_md",
    "MAX_DOC_MD",
]

# doc_md is stored with every serialized DAG and rendered in the UI: a task file with a
# huge JQL or mapping must not make it megabytes.
MAX_DOC_MD = 20_000

# A fixed start in the past; catchup is off, so only the latest interval ever runs.
START_DATE = datetime(2024, 1, 1, tzinfo=timezone.utc)


def connector_settings(settings: Any = None) -> Any:
    if settings is not None:
        return settings
    from ..config.settings import ConnectorSettings

    return ConnectorSettings()


def cap_doc_md(text: str, limit: int = MAX_DOC_MD) -> str:
    """``text`` cut to ``limit`` characters, saying so at the end when it was cut."""
    if len(text) <= limit:
        return text
    note = "\n\n… (cut: the full details are in the task file)"
    return text[: max(0, limit - len(note))] + note


def _int_env(name: str, default: int) -> int:
    try:
        return int(os.environ.get(name, default))
    except ValueError:
        return default


def default_args(settings: Any) -> dict[str, Any]:
    """Retries with exponential backoff, in the connector's shared pool.

    ``JIRA_ESM_TASK_RETRIES`` (default 3) and ``JIRA_ESM_RETRY_DELAY_S`` (default 60) tune
    them; errors a retry cannot fix (failed expectations, the removal safety limit, bad
    mappings) fail at once regardless.
    """
    return {
        "owner": "jira-esm-connector",
        "pool": settings.pool,
        "retries": _int_env("JIRA_ESM_TASK_RETRIES", 3),
        "retry_delay": timedelta(seconds=_int_env("JIRA_ESM_RETRY_DELAY_S", 60)),
        "retry_exponential_backoff": True,
        "max_retry_delay": timedelta(minutes=30),
    }


def dag_tags(kind: str, *extra: str | None) -> list[str]:
    tags = ["jira-esm-connector", kind]
    tags += [t for t in extra if t]
    return list(dict.fromkeys(tags))


@contextmanager
def open_state(settings: Any) -> Iterator[Any]:
    from ..masking import mask_secret
    from ..state import StateStore
    from ..state.store import db_url_secrets

    for secret in db_url_secrets(settings.state_db_url):  # also a ?password= in the query string
        mask_secret(secret)
    store = StateStore(settings.state_db_url)
    try:
        yield store
    finally:
        store.dispose()


def open_jira(conn_id: str) -> Any:
    from ..jira.hook import JiraCloudHook

    return JiraCloudHook(conn_id).get_client()


def open_esm(conn_id: str) -> Any:
    from ..esm.hook import EsmHook

    return EsmHook(conn_id).get_client()


@contextmanager
def open_clients(*, jira_conn_id: str | None = None, esm_conn_id: str | None = None) -> Iterator[tuple[Any, Any]]:
    """(jira client or None, esm client or None), closed afterwards."""
    jira = open_jira(jira_conn_id) if jira_conn_id else None
    try:
        esm = open_esm(esm_conn_id) if esm_conn_id else None
        try:
            yield jira, esm
        finally:
            if esm is not None:
                esm.close()
    finally:
        if jira is not None:
            jira.close()


def fail_without_retry(exc: BaseException) -> BaseException:
    """An exception that makes Airflow fail the task at once (no retry), same message."""
    from airflow.sdk.exceptions import AirflowFailException

    return AirflowFailException(str(exc))
