"""Connector health check: are the connections usable, do all task files load, are API
tokens about to expire, are tasks scheduled more often than their measured volume allows,
and when did each import last succeed, with what counts?

Plain functions; the `jira_esm_connector_health` DAG (dagfactory/health.py) only calls
:func:`run_health_check` once a day so the answers show up in the Airflow UI and logs
before a token runs out, not on the night it does.
"""
from __future__ import annotations

import logging
from dataclasses import asdict, dataclass
from datetime import date, datetime, timedelta, timezone
from typing import Any, Iterable, Mapping

log = logging.getLogger("jira_esm_connector.health")


class HealthCheckFailed(Exception):
    """A connection cannot be used (bad credentials, expired token, wrong host, TLS, ...),
    or a task file is broken (its DAG is gone until it is fixed)."""


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
        client = hook.get_client()  # logs the token expiry warning, once
    except Exception as exc:  # unknown connection id, bad extras: the hook words it plainly
        return ConnectionHealth(conn_id, "jira", False, f"{type(exc).__name__}: {exc}")
    try:
        warning = client.token_expiry_message(today)  # (the Test below says it in its message, not in the log)
    finally:
        client.close()
    ok, message = hook.test_connection()
    return ConnectionHealth(conn_id, "jira", ok, message, warning)


def check_esm_connection(conn_id: str) -> ConnectionHealth:
    from .hooks.esm import EsmHook

    ok, message = EsmHook(conn_id).test_connection()
    return ConnectionHealth(conn_id, "esm", ok, message)


def schedule_warnings(tasks: Iterable[Any], state: Any) -> dict[str, str]:
    """Vendor scheduling table vs each scheduled task's last measured volume, by how often
    the task really runs (its cron and the imports it runs ``after``)."""
    from .config.scheduling import schedule_warning

    imports = {t.name: t for t in tasks if getattr(t, "kind", None) == "scheduled"}
    warnings: dict[str, str] = {}
    for task in imports.values():
        warning = schedule_warning(task, state.last_volume(task.name), imports)
        if warning:
            warnings[task.name] = warning
    return warnings


# A task is overdue when its last success is older than this many of its schedule's longest
# gaps: two scheduled runs in a row did not succeed (one late or slow run is not an alarm).
MISSED_RUNS = 2


def overdue_after(task: Any, tasks: Mapping[str, Any]) -> timedelta | None:
    """How old the last successful run of ``task`` may be before the health check warns:
    ``MISSED_RUNS`` x the longest gap between its runs (:func:`..config.scheduling.run_interval`:
    its cron's; a task that runs ``after`` others runs when all of them have succeeded, so
    their longest gap counts; with a cron as well, whichever is shorter). ``None``: only run
    by hand, no limit."""
    from .config.scheduling import longest_interval, run_interval

    gap = run_interval(task, tasks, longest_interval)
    return MISSED_RUNS * gap if gap is not None else None


def _hours(value: timedelta) -> str:
    hours = value.total_seconds() / 3600
    return f"{hours:.1f} h" if hours < 48 else f"{hours / 24:.1f} days"


def last_runs(tasks: Iterable[Any], state: Any, *, now: datetime | None = None) -> list[dict[str, Any]]:
    """The last successful run of every import (the state store records a run when its
    ``finish`` step succeeds): when, its counts, its age, and a warning when it is overdue."""
    from .pipeline.finish import summary_line

    now = now or datetime.now(timezone.utc)
    imports = {t.name: t for t in tasks if getattr(t, "kind", None) == "scheduled"}
    report = []
    for name, task in imports.items():
        limit = overdue_after(task, imports)
        [last] = state.recent_runs(name, limit=1) or [None]
        entry: dict[str, Any] = {
            "task": name, "last_success": None, "run_id": None, "age_hours": None, "counts": {},
            "overdue_after_hours": round(limit.total_seconds() / 3600, 2) if limit else None, "warning": None,
        }
        if last is None:
            entry["warning"] = "no successful run recorded yet (a new task, or every run so far failed)"
        else:
            age = now - last["recorded_at"]
            entry.update(last_success=last["recorded_at"].isoformat(), run_id=last["run_id"],
                         age_hours=round(age.total_seconds() / 3600, 2), counts=dict(last["counts"] or {}))
            if limit is not None and age > limit:
                entry["warning"] = (
                    f"the last successful run finished {_hours(age)} ago, more than {_hours(limit)} "
                    f"({MISSED_RUNS} scheduled runs in a row did not succeed): see the DAG's recent runs"
                )
            log.info("Task %s: last successful run %s ago (%s). %s", name, _hours(age), last["run_id"],
                     summary_line(name, entry["counts"]))
        if entry["warning"]:
            log.warning("Task %s: %s", name, entry["warning"])
        report.append(entry)
    return report


def run_health_check(
    tasks: Iterable[Any], state: Any | None = None, *, today: date | None = None, now: datetime | None = None,
    task_file_errors: Iterable[Any] = (),
) -> dict[str, Any]:
    """Check every connection the tasks use (and their schedules, given a state store).

    ``task_file_errors``: the task files of the folder that did not load (the loader's
    errors). A broken file's DAG is gone -- its import stopped, with only an import error in
    the Airflow UI -- and its task's connections and last run cannot be checked, so each is
    listed in the report (``task_file_errors``) and fails the check.

    Logs one line per connection, per broken file and per warning; raises
    :class:`HealthCheckFailed` naming each unusable connection and broken task file after
    all have been checked. Returns a JSON-able report.
    """
    tasks = list(tasks)
    broken = [str(e) for e in task_file_errors]
    for problem in broken:
        log.error("Task file broken (its DAG does not run until it is fixed): %s", problem)
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
    runs = last_runs(tasks, state, now=now) if state is not None else []
    report = {
        "connections": [asdict(r) for r in results],
        "token_warnings": [r.token_warning for r in results if r.token_warning],
        "schedule_warnings": warnings,
        "last_runs": runs,
        "overdue_warnings": {r["task"]: r["warning"] for r in runs if r["warning"]},
        "task_file_errors": broken,
    }
    failed = [r for r in results if not r.ok]
    reasons = []
    if failed:
        reasons.append(f"{len(failed)} of {len(results)} connections cannot be used: "
                       + "; ".join(f"{r.conn_id}: {r.message}" for r in failed))
    if broken:
        reasons.append(f"{len(broken)} task file(s) are broken, so their imports do not run (the Airflow UI "
                       "shows them as DAG import errors; the other imports were checked): " + "; ".join(broken))
    if reasons:
        raise HealthCheckFailed(". ".join(reasons))
    log.info(
        "Health check passed: %d connections OK, %d token warnings, %d schedule warnings, %d imports overdue.",
        len(results), len(report["token_warnings"]), len(warnings), len(report["overdue_warnings"]),
    )
    return report
