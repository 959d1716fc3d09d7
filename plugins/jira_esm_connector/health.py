"""Connector health check: are the connections usable, are API tokens about to expire, are
tasks scheduled more often than their measured volume allows?

Plain functions; the `jira_esm_connector_health` DAG (dagfactory/health.py) only calls
:func:`run_health_check` once a day so the answers show up in the Airflow UI and logs
before a token runs out, not on the night it does.
"""
from __future__ import annotations

import logging
from dataclasses import asdict, dataclass
from datetime import date
from typing import Any, Iterable

log = logging.getLogger("jira_esm_connector.health")


class HealthCheckFailed(Exception):
    """A connection cannot be used (bad credentials, expired token, wrong host, TLS, ...)."""


@dataclass
class ConnectionHealth:
    conn_id: str
    service: str  # "jira" | "esm"
    ok: bool
    message: str
    token_warning: str | None = None


def connection_ids(tasks: Iterable[Any]) -> tuple[list[str], list[str]]:
    """The Jira and ESM connection ids the task files use, each once, in a stable order."""
    jira: dict[str, None] = {}
    esm: dict[str, None] = {}
    for task in tasks:
        if getattr(task, "jira_conn_id", None):
            jira[task.jira_conn_id] = None
        if getattr(task, "esm_conn_id", None):
            esm[task.esm_conn_id] = None
    return list(jira), list(esm)


def check_jira_connection(conn_id: str, *, today: date | None = None) -> ConnectionHealth:
    from .hooks.jira import JiraCloudHook

    hook = JiraCloudHook(conn_id)
    try:
        client = hook.get_client()
    except Exception as exc:  # unknown connection id, bad extras: the hook words it plainly
        return ConnectionHealth(conn_id, "jira", False, f"{type(exc).__name__}: {exc}")
    try:
        warning = client.warn_if_token_expiring(today)
    finally:
        client.close()
    ok, message = hook.test_connection()
    return ConnectionHealth(conn_id, "jira", ok, message, warning)


def check_esm_connection(conn_id: str) -> ConnectionHealth:
    from .hooks.esm import EsmHook

    ok, message = EsmHook(conn_id).test_connection()
    return ConnectionHealth(conn_id, "esm", ok, message)


def schedule_warnings(tasks: Iterable[Any], state: Any) -> dict[str, str]:
    """Vendor scheduling table vs each scheduled task's last measured volume."""
    from .config.scheduling import schedule_warning

    warnings: dict[str, str] = {}
    for task in tasks:
        if getattr(task, "kind", None) != "scheduled":
            continue
        warning = schedule_warning(task, state.last_volume(task.name))
        if warning:
            warnings[task.name] = warning
    return warnings


def run_health_check(tasks: Iterable[Any], state: Any | None = None, *, today: date | None = None) -> dict[str, Any]:
    """Check every connection the tasks use (and their schedules, given a state store).

    Logs one line per connection and per warning; raises :class:`HealthCheckFailed` naming
    each unusable connection after all have been checked. Returns a JSON-able report.
    """
    tasks = list(tasks)
    jira_ids, esm_ids = connection_ids(tasks)
    results = [check_jira_connection(c, today=today) for c in jira_ids] + [check_esm_connection(c) for c in esm_ids]
    for r in results:
        if r.ok:
            log.info("Connection %s (%s): OK - %s", r.conn_id, r.service, r.message)
        else:
            log.error("Connection %s (%s): FAILED - %s", r.conn_id, r.service, r.message)
    warnings = schedule_warnings(tasks, state) if state is not None else {}
    for name, warning in warnings.items():
        log.warning("Task %s: %s", name, warning)
    report = {
        "connections": [asdict(r) for r in results],
        "token_warnings": [r.token_warning for r in results if r.token_warning],
        "schedule_warnings": warnings,
    }
    failed = [r for r in results if not r.ok]
    if failed:
        raise HealthCheckFailed(
            f"{len(failed)} of {len(results)} connections cannot be used: "
            + "; ".join(f"{r.conn_id}: {r.message}" for r in failed)
        )
    log.info(
        "Health check passed: %d connections OK, %d token warnings, %d schedule warnings.",
        len(results), len(report["token_warnings"]), len(warnings),
    )
    return report
