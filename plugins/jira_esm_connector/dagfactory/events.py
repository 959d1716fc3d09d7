"""Event DAGs: one ``kind: event`` task file -> one triggered DAG with a single ``push`` task.

* ``schedule=None``: runs only when triggered (``POST /api/v2/dags/{dag_id}/dagRuns`` with
  the event payload as ``conf``);
* Params from the task file's payload schema (type, enum, maxLength, format, pattern,
  title, description), so Airflow answers a bad payload with HTTP 400 naming the field
  and the UI's trigger form shows the fields. Undeclared conf keys, which Airflow lets
  through, are refused by the task;
* one task, so a push finishes close to Airflow's own floor; ``max_active_runs=1`` as for
  every connector DAG (SPEC): the pushes of one task never overlap (Airflow starts queued
  runs by their trigger time; a run's retries end before the next starts), so an earlier
  event that is slow or retried cannot land after a later one and undo it; the task runs in the connector's shared pool,
  where a waiting push is served before queued import tasks (higher priority weight);
* the task returns the result dict (the DAG run's result, readable as XCom
  ``return_value`` of ``push``). Jira's refusals and bad payloads fail the run at once,
  without retries; transient failures (5xx, timeouts, rate limits) are retried, and the
  exactly-once record makes the retry safe.

Parsing builds the DAG from the task model only: no network, no database.
"""
from __future__ import annotations

import logging
from datetime import timedelta
from typing import Any

from airflow.sdk import DAG, Param, task as task_decorator

from ..config.event import EventTask
from ..config.params import param_kwargs
from .common import START_DATE, cap_doc_md, dag_tags, default_args, open_state

__all__ = ["build_event_dag", "execute_event", "PUSH_TASK_ID", "event_doc_md"]

PUSH_TASK_ID = "push"
EVENT_PRIORITY_WEIGHT = 100  # import tasks keep Airflow's default weight (1 per task)
log = logging.getLogger("jira_esm_connector.events")


def _settings(settings: Any) -> Any:
    if settings is None:
        from ..config.settings import ConnectorSettings

        settings = ConnectorSettings()
    return settings


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def event_doc_md(task: EventTask) -> str:
    """What the DAG does, for the Airflow UI."""
    lines = [
        f"### Event push `{task.name}`: {task.operation.replace('_', ' ')}",
        "",
        task.description or "",
        "",
        f"Jira connection `{task.jira_conn_id}`, ESM connection `{task.esm_conn_id}`. Trigger with",
        f"`POST /api/v2/dags/{task.name}/dagRuns` and `{{\"logical_date\": null, \"conf\": {{...}}}}`;",
        "the same `event_id` never acts twice. The result is the XCom `return_value` of task `push`.",
        "",
        "| payload key | type | required | description |",
        "|---|---|---|---|",
        "| `event_id` | string | yes | unique id of this event (printable text, at most 200 characters) |",
        f"| `datacard_id` | string of digits or integer | {'yes' if task.requires_datacard_id else 'no'} "
        "| originating ESM data card (a positive whole number) |",
    ]
    for name, field in task.payload.items():
        extra = []
        if field.enum:
            extra.append("one of " + ", ".join(f"`{v}`" for v in field.enum))
        if field.max_length:
            extra.append(f"at most {field.max_length} characters")
        desc = "; ".join([d for d in [field.description or field.title or ""] if d] + extra)
        lines.append(f"| `{name}` | {field.type} | {'yes' if field.required else 'no'} | {_cell(desc)} |")
    specs = task.specs()
    if specs:
        lines += ["", "| Jira side | from |", "|---|---|"]
        for path, spec in specs:
            lines.append(f"| `{'.'.join(path)}` | {_cell(spec.describe())} |")
    if task.write_back is not None:
        lines += ["", f"Writes the result back to ESM `{task.write_back.template}` card `datacard_id`, "
                      f"attribute `{task.write_back.attribute}`."]
    return "\n".join(lines)


def build_params(task: EventTask) -> dict[str, Param]:
    params: dict[str, Param] = {}
    for key, kwargs in param_kwargs(task).items():
        kwargs = dict(kwargs)
        description = kwargs.pop("description", None)
        if "default" in kwargs:
            default = kwargs.pop("default")
            params[key] = Param(default, description=description, **kwargs)
        else:
            params[key] = Param(description=description, **kwargs)
    return params


def execute_event(task: EventTask, conf: dict[str, Any] | None, *, owner: str | None, settings: Any = None) -> dict[str, Any]:
    """The ``push`` task's body: hooks, state store, :func:`run_event`; failures mapped to
    Airflow's "fail now" (permanent) or "retry" (transient)."""
    from airflow.sdk.exceptions import AirflowFailException

    from ..events import is_permanent, run_event
    from ..events.runner import claim_stale_after
    from ..hooks.jira import JiraCloudHook

    settings = _settings(settings)
    jira = None
    esm = None
    try:
        # the exactly-once records must be shared by every worker: open_state refuses a
        # SQLite file under a distributed executor, as for the import steps
        with open_state(settings) as state:
            jira = JiraCloudHook(task.jira_conn_id).get_client()
            if task.write_back is not None:
                from ..hooks.esm import EsmHook

                esm = EsmHook(task.esm_conn_id).get_client()
            result = run_event(
                task, conf, jira, esm, state, owner=owner,
                index_lag_s=float(getattr(settings, "index_lag_seconds", 60.0)),
                stale_after=claim_stale_after(getattr(settings, "event_timeout_minutes", 5)),
            )
    except Exception as exc:
        if is_permanent(exc):
            # Jira's / ESM's own words are in the message; retrying cannot help.
            raise AirflowFailException(f"{task.name}: {exc}") from None
        raise
    finally:
        for client in (jira, esm):
            if client is not None:
                client.close()
    summary = ", ".join(f"{k}={v}" for k, v in result.items() if k not in ("written_back",) and not isinstance(v, (dict, list)))
    log.info("Event result: %s", summary)
    return result


def build_event_dag(task: EventTask, settings: Any = None) -> DAG:
    """The Airflow DAG for one ``kind: event`` task file."""
    settings = _settings(settings)
    with DAG(
        dag_id=task.name,
        schedule=None,
        catchup=False,
        max_active_runs=1,
        params=build_params(task),
        doc_md=cap_doc_md(event_doc_md(task)),
        description=(task.description or f"ESM -> Jira event: {task.operation}")[:200],
        tags=dag_tags("event", task.operation, *task.tags),
        start_date=START_DATE,
        default_args=default_args(settings),  # owner, pool and retry defaults shared with the import DAGs
        is_paused_upon_creation=False,
    ) as dag:

        @task_decorator(
            task_id=PUSH_TASK_ID,
            # the result dict is the run's result, one XCom (return_value); the return
            # annotation would otherwise make Airflow push every key too (~20 ms each)
            multiple_outputs=False,
            # interactive: when the shared pool is busy, a waiting push gets the next free
            # slot before queued import tasks
            priority_weight=EVENT_PRIORITY_WEIGHT,
            weight_rule="absolute",
            # interactive: fewer and sooner retries than an import step
            retries=settings.event_retries,
            retry_delay=timedelta(seconds=settings.event_retry_delay_s),
            retry_exponential_backoff=True,
            max_retry_delay=timedelta(minutes=1),
            execution_timeout=timedelta(minutes=settings.event_timeout_minutes),
        )
        def push(**context: Any) -> dict[str, Any]:
            dag_run = context.get("dag_run")
            conf = getattr(dag_run, "conf", None)
            if conf is None:
                conf = dict(context.get("params") or {})
            owner = getattr(dag_run, "run_id", None) or context.get("run_id")
            return execute_event(task, dict(conf or {}), owner=owner, settings=settings)

        push()
    return dag
