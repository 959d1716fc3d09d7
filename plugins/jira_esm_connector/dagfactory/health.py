"""The `jira_esm_connector_health` DAG: once a day, test every connection the task files
use, warn from 30 days before a Jira API token's recorded expiry, compare each import's
schedule with the vendor's scheduling table, and report each import's last successful run
(counts and age; a warning when it is overdue) (jira_esm_connector.health)."""
from __future__ import annotations

import logging
from datetime import timedelta
from pathlib import Path
from typing import Any

from airflow.sdk import DAG, task

from ..config.common import HEALTH_DAG_ID
from .common import START_DATE, connector_settings, dag_tags, fail_without_retry, staging_description, staging_root

log = logging.getLogger("jira_esm_connector.health")

DOC_MD = """\
### Connector health check

Once a day (and whenever you press *Trigger*), for every connection id the task files in
the mappings folder use:

* **Jira Cloud** connections: `GET /rest/api/3/myself` with the stored e-mail and API token;
  a **warning from 30 days before** the token expiry recorded in the connection's
  `expiry_date` field (still a warning once that date has passed, while Jira accepts the
  token), and a failure once Jira refuses it ("API token expired or revoked").
* **ESM** connections: login + `echo/jwt`.
* **Schedules**: how often each import runs (its cron and the runs `after` starts) against
  the vendor's scheduling table for the volume its last run measured.
* **Last runs**: for each import, its last successful run -- when, how long ago, and its
  counts (fetched, created, updated, refused, marked removed, ...) -- with a **warning when
  it is overdue**: older than two of its schedule's longest gaps (an import that runs
  `after` others: theirs; with a cron as well, those of both together). Failed runs are not recorded
  by the connector: the DAG's grid shows them.
* **Staging**: the staged files of tasks whose task file was deleted are removed (only
  when every task file loads, and once unused for `JIRA_ESM_STAGING_RETENTION_HOURS`).

* **Task files**: a task file that does not load (a typo in an edit) has no DAG any more, so
  its import has stopped; each broken file is named with its problem.

The task fails (red in the grid) when a connection cannot be used or a task file is broken;
its log names each one and why (the other imports are still checked). Warnings appear in the log and in the task's result (XCom).
"""


def _remove_staging_of_deleted_tasks(result: Any, settings: Any = None) -> list[str]:
    """Staged files (Jira data) of tasks whose file was deleted; only when every task file
    loaded, since a broken file's task is unknown, not gone. Never fails the check."""
    from ..pipeline.staging import cleanup_unknown_tasks

    settings = connector_settings(settings)
    if result.errors:
        return []
    try:
        removed = cleanup_unknown_tasks(
            staging_root(settings), result.tasks, retention_hours=settings.staging_retention_hours
        )
    except Exception as exc:  # noqa: BLE001 - housekeeping; an object store may fail in its own ways
        log.warning("Could not clean the staging root %s: %s", staging_description(settings), exc)
        return []
    if removed:
        log.info("Removed the staged files of deleted tasks: %s", ", ".join(removed))
    return removed


def build_health_dag(
    mappings_dir: str | Path | None = None, settings: Any = None, *, default_mappings_dir: str | Path | None = None
) -> DAG:
    from . import task_folder

    settings = connector_settings(settings)
    folder = str(task_folder(mappings_dir, settings, default_mappings_dir))

    with DAG(
        dag_id=HEALTH_DAG_ID,
        schedule="0 6 * * *",
        start_date=START_DATE,
        catchup=False,
        max_active_runs=1,
        tags=dag_tags("health"),
        doc_md=DOC_MD,
        description="Connections, API token expiry and schedules of the Jira <-> ESM connector",
        # SPEC: every task has a deadline (a hung connection must not hold a pool slot for ever)
        dagrun_timeout=timedelta(minutes=settings.task_timeout_minutes),
        # one retry: a failed check (problems found) fails at once, but a worker or API server
        # too busy to start the task (Airflow kills it) should not leave a red run for the day
        default_args={"owner": "jira-esm-connector", "pool": settings.pool, "retries": 1,
                      "retry_delay": timedelta(minutes=2),
                      "execution_timeout": timedelta(minutes=settings.task_timeout_minutes)},
        auto_register=False,
    ) as dag:

        @task(task_id="check")
        def check() -> dict[str, Any]:
            from ..config import load_task_dir
            from ..health import HealthCheckFailed, run_health_check
            from .common import open_state

            result = load_task_dir(folder)
            _remove_staging_of_deleted_tasks(result, settings)
            with open_state(settings) as state:
                try:
                    # a broken file's import has stopped: named, and the check fails
                    return run_health_check(result.tasks.values(), state, task_file_errors=result.errors)
                except HealthCheckFailed as exc:
                    raise fail_without_retry(exc) from exc

        check()
    return dag
