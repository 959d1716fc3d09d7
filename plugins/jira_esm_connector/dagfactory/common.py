"""Helpers shared by the DAG builders: settings, retries, tags, start date, clients.

Nothing here does network or database I/O at import or DAG-parse time; clients and the
state store are opened inside task code only.
"""
from __future__ import annotations

import logging
import os
from contextlib import contextmanager
from datetime import datetime, timedelta, timezone
from typing import Any, Iterable, Iterator, Mapping

from ..bounded import unknown_keys
from ..state.store import StateStoreError  # SQLAlchemy only; no I/O at import

__all__ = [
    "START_DATE",
    "OWNER",
    "connector_settings",
    "default_args",
    "dag_tags",
    "open_clients",
    "open_state",
    "fail_without_retry",
    "refuse_unknown_conf",
    "cap_doc_md",
    "MAX_DOC_MD",
    "configured_executor",
    "refuse_sqlite_under_distributed_executor",
    "StateDbNotSharedError",
    "ASSET_GROUP",
    "import_asset_uri",
    "import_asset",
    "staging_root",
    "staging_description",
]

log = logging.getLogger("jira_esm_connector.pipeline")

# doc_md is stored with every serialized DAG and rendered in the UI: a task file with a
# huge JQL or mapping must not make it megabytes.
MAX_DOC_MD = 20_000

# Executors whose workers run on several machines: a SQLite file is not shared between them.
_DISTRIBUTED_EXECUTORS = ("celery", "kubernetes", "edge")

# A fixed start in the past; catchup is off, so only the latest interval ever runs.
START_DATE = datetime(2024, 1, 1, tzinfo=timezone.utc)


def connector_settings(settings: Any = None) -> Any:
    if settings is not None:
        return settings
    from ..config.settings import ConnectorSettings

    return ConnectorSettings()


def staging_root(settings: Any) -> Any:
    """The staging root of the running task: ``JIRA_ESM_STAGING_URL`` as an Airflow
    ``ObjectStoragePath`` (credentials from ``JIRA_ESM_STAGING_CONN_ID``), else the local
    folder ``JIRA_ESM_STAGING_DIR``. Returned as the pipeline's location
    (:func:`..pipeline.staging.location`): a ``Path`` for anything local (the fast path),
    else the store's file system and path, remembered in this process so that the dataset
    URLs the steps pass through XCom are read with the same credentials on any worker.

    Call it in task code only: with a connection id, building the path looks the
    connection up.
    """
    from ..pipeline.staging import location

    url = getattr(settings, "staging_url", None)
    if not url:
        return location(settings.staging_dir)
    from airflow.sdk import ObjectStoragePath

    conn_id = getattr(settings, "staging_conn_id", None) or None
    root = ObjectStoragePath(url, conn_id=conn_id)
    if (root.protocol or "file") not in ("file", "local") and root.conn_id is None:
        _attach_plain_fsspec(root.protocol)
    return location(root)


def _attach_plain_fsspec(protocol: str) -> None:
    """Let Airflow reach a file system no provider registers (``memory://``, fsspec's own
    implementations) with fsspec's defaults; one that a provider registers is left alone."""
    from airflow.sdk.io import attach, has_fs

    if not has_fs(protocol):
        import fsspec

        attach(protocol, fs=fsspec.filesystem(protocol))


def staging_description(settings: Any) -> str:
    """Where staged files go, for logs and docs (never credentials: the URL without any
    user part; the connection by its id)."""
    url = getattr(settings, "staging_url", None)
    if not url:
        return str(settings.staging_dir)
    scheme, _, rest = url.partition("://")
    shown = f"{scheme}://{rest.rpartition('@')[2]}"
    conn_id = getattr(settings, "staging_conn_id", None)
    return f"{shown} (connection {conn_id})" if conn_id else shown


def cap_doc_md(text: str, limit: int = MAX_DOC_MD) -> str:
    """``text`` cut to ``limit`` characters, saying so at the end when it was cut."""
    if len(text) <= limit:
        return text
    note = "\n\n… (cut: the full details are in the task file)"
    return text[: max(0, limit - len(note))] + note


OWNER = "jira-esm-connector"

# The Airflow Asset group of the ESM data the imports write (the UI groups assets by it).
ASSET_GROUP = "jira-esm-connector"


def import_asset_uri(task: Any) -> str:
    """``esm://<template>/<task name>``: the ESM cards of one template that one import
    writes. The template says what the data is; the task name makes it one import's output
    (two imports may fill the same template, and a follower waits for the one it names).
    Both parts are percent-quoted, so any template name gives a valid URI."""
    from urllib.parse import quote

    return f"esm://{quote(task.template, safe='')}/{quote(task.name, safe='')}"


def import_asset(task: Any) -> Any:
    """The Airflow Asset an import updates after each successful run (its ``finish`` outlet)
    and that the imports running ``after`` it are scheduled on."""
    from airflow.sdk import Asset

    return Asset(
        name=import_asset_uri(task), uri=import_asset_uri(task), group=ASSET_GROUP,
        extra={"template": task.template, "task": task.name},
    )


def default_args(settings: Any) -> dict[str, Any]:
    """Owner, retries with exponential backoff, the connector's shared pool: the defaults of
    every connector DAG (import and event DAGs; the event push and the on-demand DAGs
    override the retries for their task).

    ``settings.task_retries`` / ``settings.retry_delay_s`` (``JIRA_ESM_TASK_RETRIES``,
    default 3; ``JIRA_ESM_RETRY_DELAY_S``, default 60) tune them; errors a retry cannot fix
    (failed expectations, the removal safety limit, bad mappings) fail at once regardless.
    """
    return {
        "owner": OWNER,
        "pool": settings.pool,
        "retries": settings.task_retries,
        "retry_delay": timedelta(seconds=settings.retry_delay_s),
        "retry_exponential_backoff": True,
        "max_retry_delay": timedelta(minutes=30),
    }


def dag_tags(kind: str, *extra: str | None) -> list[str]:
    tags = ["jira-esm-connector", kind]
    tags += [t for t in extra if t]
    return list(dict.fromkeys(tags))


class StateDbNotSharedError(StateStoreError):
    """SQLite as the state database while Airflow runs tasks on several machines."""


def configured_executor() -> str:
    """Airflow's executor setting (``AIRFLOW__CORE__EXECUTOR`` first, then airflow.cfg);
    ``""`` when unknown. May be a comma-separated list (Airflow 3 multiple executors).

    Airflow's own variable, read as Airflow reads it -- not a connector setting, so not in
    :class:`~..config.settings.ConnectorSettings`."""
    value = os.environ.get("AIRFLOW__CORE__EXECUTOR")
    if value:
        return value
    try:
        from airflow.configuration import conf

        return str(conf.get("core", "executor", fallback="") or "")
    except Exception:  # noqa: BLE001 - no Airflow config: nothing to refuse
        return ""


def refuse_sqlite_under_distributed_executor(state_db_url: str, executor: str | None) -> None:
    """Raise :class:`StateDbNotSharedError` when the state DB is SQLite and ``executor``
    (e.g. ``CeleryExecutor``, ``LocalExecutor,KubernetesExecutor``, a module path) runs
    tasks on several machines: every worker would keep its own state file, so watermarks,
    the task cache and leases would not be shared -- duplicate cards, concurrent runs."""
    from sqlalchemy.engine import make_url

    try:
        url = make_url(state_db_url)
    except Exception:  # noqa: BLE001 - StateStore reports unparseable URLs (without echoing them)
        return
    if url.get_backend_name() != "sqlite":
        return
    names = [part.strip() for part in (executor or "").split(",") if part.strip()]
    distributed = [n for n in names if any(k in n.lower() for k in _DISTRIBUTED_EXECUTORS)]
    if distributed:
        raise StateDbNotSharedError(
            f"The connector's state database is a SQLite file ({url.render_as_string(hide_password=True)}), "
            f"but Airflow runs tasks with {distributed[0]}, on several machines: each worker would keep its "
            "own watermarks, task cache and run leases, so runs would push duplicates and could run at "
            "the same time. Set JIRA_ESM_STATE_DB_URL to a PostgreSQL database every worker can reach."
        )


@contextmanager
def open_state(settings: Any) -> Iterator[Any]:
    """The state store for one task; refused at once (no retry) for SQLite under a
    distributed executor."""
    from ..masking import mask_secret
    from ..state import StateStore
    from ..state.store import db_url_secrets

    try:
        refuse_sqlite_under_distributed_executor(settings.state_db_url, configured_executor())
    except StateDbNotSharedError as exc:
        raise fail_without_retry(exc) from exc
    for secret in db_url_secrets(settings.state_db_url):  # also a ?password= in the query string
        mask_secret(secret)
    store = StateStore(settings.state_db_url)
    try:
        yield store
    finally:
        store.dispose()


def open_jira(conn_id: str) -> Any:
    from ..hooks.jira import JiraCloudHook

    return JiraCloudHook(conn_id).get_client()


def open_esm(conn_id: str) -> Any:
    from ..hooks.esm import EsmHook

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


def refuse_unknown_conf(conf: Mapping[str, Any] | None, known: Iterable[str], *, what: str) -> None:
    """Fail the task at once (no retry), naming them, on conf keys that are not the DAG's run
    parameters ``known``: Airflow lets undeclared keys through, so a misspelt one
    (``clear_cach``) would be ignored. ``what`` names the DAG in the message."""
    known = list(known)
    shown = unknown_keys(conf or {}, known)
    if shown:
        exc = ValueError(f"The run's conf has keys {what} does not take: {shown} (it takes: {', '.join(known)})")
        log.error("%s", exc)
        raise fail_without_retry(exc)
