"""The `jira_esm_connector_reconcile` DAG: on demand, compare one scheduled task's Jira
selection with its ESM cards and report what is missing, extra, wrongly removed,
duplicated or stale (:func:`jira_esm_connector.pipeline.reconcile.reconcile`).

* ``schedule=None``: runs only when triggered (UI "Trigger DAG", or
  ``POST /api/v2/dags/jira_esm_connector_reconcile/dagRuns`` with ``{"conf": {"task": ...}}``);
* the required param ``task`` is an enum of the scheduled task files' names, so the UI's
  trigger form offers a drop-down and a wrong name is refused at trigger time (HTTP 400);
  ``sample_size`` (default 200) sizes the stale-value sample;
* any other conf key fails the run, naming it (Airflow lets undeclared keys through);
* deadlines: the task and the run end after ``JIRA_ESM_RUN_TIMEOUT_MINUTES``, as an import run;
* one task, ``reconcile``, whose return value (XCom) is the report -- counts and the first
  keys of each kind, never records -- and which logs one summary line;
* read-only: it writes nothing to Jira, ESM or the connector's state store.

Parsing reads the task files only: no network, no database.
"""
from __future__ import annotations

import logging
from datetime import timedelta
from pathlib import Path
from typing import Any

from airflow.sdk import DAG, Param, get_current_context, task as task_decorator

from ..bounded import cut
from ..config.common import RECONCILE_DAG_ID
from .common import START_DATE, connector_settings, dag_tags, fail_without_retry, refuse_unknown_conf

__all__ = ["RECONCILE_DAG_ID", "RECONCILE_TASK_ID", "build_reconcile_dag", "reconcile_params", "run_reconcile"]

RECONCILE_TASK_ID = "reconcile"
MAX_SAMPLE_SIZE = 10_000
RECONCILE_PARAMS = ("task", "sample_size")  # the run parameters (reconcile_params)
log = logging.getLogger("jira_esm_connector.pipeline")

DOC_MD = """\
### Reconciliation: proving nothing is lost

Trigger this DAG with the **name of a scheduled task** (the drop-down lists them) to compare
what that task selects in Jira (its JQL, or the user / group listing) with the ESM cards that
carry its id in `task_id_attribute`. It is **read-only**: nothing is written to Jira, ESM or
the connector's state store.

The result (XCom `return_value` of task `reconcile`) and one log line give:

| count | meaning |
|---|---|
| `missing_in_esm` | records Jira selects that have no card of this task (cards owned by another task are counted apart: `owned_by_other_task`) |
| `not_in_jira` | active cards of this task whose record Jira no longer selects (should have been marked removed) |
| `wrongly_removed` | cards marked removed whose record **is** in Jira |
| `duplicate_keys` | keys with more than one card of this task (`duplicate_cards`: the extra cards) |
| `stale` of `stale_sampled` | a random sample of records mapped with the task's mapping and compared with their cards (references by card id) |

Each count comes with the first keys (`*_keys`, `stale_examples` with the differing attributes),
and `notes` explain what to do, e.g. "run the task once with clear_cache = true" when the task
cache would make the next import skip a missing or stale record. For comment imports, each
comment of the selected issues is compared with the `[Jira comment N]` markers in its issue
card's worklog (missing, deleted in Jira, entered twice).

Scheduled tasks: {tasks}
"""


def _scheduled_names(mappings_dir: str | Path | None, settings: Any) -> list[str]:
    from ..config import ScheduledTask
    from . import load_tasks

    _settings, result = load_tasks(mappings_dir, settings)
    return sorted(name for name, t in result.tasks.items() if isinstance(t, ScheduledTask))


def reconcile_params(names: list[str]) -> dict[str, Param]:
    """``task`` (required; an enum of ``names``) and ``sample_size``."""
    task_schema: dict[str, Any] = {"type": "string", "title": "Scheduled task",
                                   "description": "The task file (its name) whose Jira records and ESM cards are compared."}
    if names:
        task_schema["enum"] = list(names)
    else:  # an empty enum is not valid JSON schema; the run then says that there are no tasks
        task_schema["minLength"] = 1
    description = task_schema.pop("description")
    return {
        "task": Param(description=description, **task_schema),
        "sample_size": Param(
            200, type="integer", minimum=0, maximum=MAX_SAMPLE_SIZE, title="Stale-value sample size",
            description="How many records (chosen at random among those with an active card) are mapped "
                        "and compared attribute by attribute with their ESM card; 0 skips the check.",
        ),
    }


def run_reconcile(
    task_name: str, sample_size: int, *, mappings_dir: str | Path | None = None, settings: Any = None,
) -> dict[str, Any]:
    """The ``reconcile`` task's body: find the task file, open the clients (and the state
    store, only read), run :func:`~jira_esm_connector.pipeline.reconcile.reconcile`."""
    from ..config import ScheduledTask
    from ..pipeline.reconcile import reconcile
    from . import load_tasks
    from .common import open_clients, open_state

    settings, result = load_tasks(mappings_dir, settings)
    task = result.tasks.get(task_name)
    if not isinstance(task, ScheduledTask):
        known = sorted(n for n, t in result.tasks.items() if isinstance(t, ScheduledTask))
        broken = (f"; {len(result.errors)} task file(s) could not be read, it may be one of them: "
                  + "; ".join(cut(str(e), 300) for e in result.errors[:3])) if result.errors else ""
        raise fail_without_retry(ValueError(
            f"There is no scheduled task '{task_name}' in the task folder (anymore); "
            f"scheduled tasks: {', '.join(known) or 'none'}{broken}."
        ))
    with open_state(settings) as state, open_clients(
        jira_conn_id=task.jira_conn_id, esm_conn_id=task.esm_conn_id
    ) as (jira, esm):
        return reconcile(task, jira, esm, state, settings=settings, sample_size=int(sample_size), logger=log)


def build_reconcile_dag(
    mappings_dir: str | Path | None = None, settings: Any = None, *, default_mappings_dir: str | Path | None = None
) -> DAG:
    from . import task_folder

    settings = connector_settings(settings)
    folder = str(task_folder(mappings_dir, settings, default_mappings_dir))
    names = _scheduled_names(folder, settings)

    with DAG(
        dag_id=RECONCILE_DAG_ID,
        schedule=None,
        start_date=START_DATE,
        catchup=False,
        max_active_runs=1,
        tags=dag_tags("reconcile"),
        doc_md=DOC_MD.replace("{tasks}", ", ".join(f"`{n}`" for n in names) or "none yet"),
        description="Compare a scheduled task's Jira records with its ESM cards (read-only)",
        params=reconcile_params(names),
        # SPEC: every task has a deadline; a reconciliation reads as much as a whole full run
        dagrun_timeout=timedelta(minutes=settings.run_timeout_minutes),
        default_args={"owner": "jira-esm-connector", "pool": settings.pool, "retries": 0,
                      "execution_timeout": timedelta(minutes=settings.run_timeout_minutes)},
        is_paused_upon_creation=False,  # nothing runs until someone triggers it
        auto_register=False,
    ) as dag:

        @task_decorator(task_id=RECONCILE_TASK_ID, multiple_outputs=False)
        def reconcile_step() -> dict[str, Any]:
            context = get_current_context()
            refuse_unknown_conf(getattr(context.get("dag_run"), "conf", None), RECONCILE_PARAMS, what="reconciliation")
            params = dict(context.get("params") or {})
            return run_reconcile(
                str(params.get("task") or ""), int(params.get("sample_size") or 0),
                mappings_dir=folder, settings=settings,
            )

        reconcile_step()
    return dag
