"""Scheduled import DAGs: one ``kind: scheduled`` task file -> one DAG.

    extract -> transform -> diff -> load [-> mark_removed] -> finish   (mark_removed: full imports)

* TaskFlow tasks (``airflow.sdk``); each calls one plain function of
  :mod:`jira_esm_connector.pipeline` and hands the next task one typed result
  (:mod:`jira_esm_connector.pipeline.results`: staged file paths and counts) through
  XCom -- never records.
* ``max_active_runs=1``, ``catchup=False``, every task in the connector's shared pool,
  retries with exponential backoff (errors a retry cannot fix fail at once).
* Deadlines: every task has an ``execution_timeout`` and the DAG a ``dagrun_timeout``
  (task file ``timeouts``, else ``JIRA_ESM_TASK_TIMEOUT_MINUTES`` /
  ``JIRA_ESM_RUN_TIMEOUT_MINUTES``), so one hung request cannot block later runs forever.
* One run of a task at a time, also across deployments and schedulers: each task holds
  the task's lease in the state database (:mod:`..state.lease`) with the Airflow run id as
  owner. extract starts the run's claim (waiting for another run up to
  ``JIRA_ESM_LEASE_WAIT_SECONDS``), later steps continue it, the last step (``finish``)
  releases it;
  a failure that Airflow will not retry releases it too. A step of a run whose lease was
  taken over fails without retry ("superseded").
* One writer per ESM template: ``load`` and ``mark_removed`` also hold the template's
  write lock (:mod:`..pipeline.template_lock`) while they write, so two different tasks
  writing one template (overlapping selections) take turns instead of both creating a
  card for a shared key; a step waits for the other writer up to its own deadline.
* Run parameters: ``clear_cache`` (push everything again) and, for full imports,
  ``allow_mass_removal`` (override the removal share limit once) and ``allow_shrink``
  (mark removed records although this run fetched markedly fewer than the last one); for
  group imports listing members, ``allow_member_removal`` (override the membership safety
  limit once, :mod:`..pipeline.memberships`).
  Any other conf key fails the run in extract, naming it (Airflow lets undeclared keys
  through: a misspelt ``clear_cache`` must not be ignored).
* ``doc_md`` shows the JQL, mode, schedule, template, mapping and any scheduling-table
  warning from the last run (read from a small local status file: parsing does no
  network or database I/O).
* The last task, ``finish``, records the run, moves the watermark (incremental) and
  returns the run's counts (the run's result), logged in one line.
* Order between imports (Airflow Assets): ``finish`` has the task's Asset
  ``esm://<template>/<task name>`` (:func:`.common.import_asset`) as its outlet, so Airflow
  records an asset event -- with the run's counts as its extra -- exactly when a run
  succeeded (``finish`` runs only after every other step succeeded, and a superseded run
  fails it). A task file with ``after: [a, b]`` is scheduled on the Assets of ``a`` and
  ``b`` (all of them updated since its last run, Airflow's rule for a list of assets);
  with a ``schedule`` of its own as well, either starts a run (``AssetOrTimeSchedule``).
"""
from __future__ import annotations

import logging
from contextlib import ExitStack, contextmanager
from datetime import datetime, timedelta, timezone
from typing import Any, Iterator, Mapping

from airflow.sdk import DAG, Param, get_current_context, task as task_decorator

from ..config.scheduled import ScheduledTask
from ..pipeline.results import DiffResult, ExtractResult, LoadResult, RemovalResult, RunSummary, TransformResult
from ..protocols import StateApi
from .common import START_DATE, connector_settings, dag_tags, default_args, fail_without_retry, open_clients, open_state
from .common import cap_doc_md, import_asset, import_asset_uri, refuse_unknown_conf, staging_root

__all__ = ["build_import_dag", "import_doc_md", "import_schedule", "IMPORT_TASK_IDS"]

IMPORT_TASK_IDS = ("extract", "transform", "diff", "load", "mark_removed", "finish")
log = logging.getLogger("jira_esm_connector.pipeline")


def _no_retry_errors() -> tuple[type[BaseException], ...]:
    from ..http.errors import AuthenticationError, BadRequestError, InsecureURLError, NotFoundError, PermissionDeniedError
    from ..mapping.engine import MappingError
    from ..pipeline import QualityError, RemovalLimitError, TransformError

    return (
        QualityError, TransformError, RemovalLimitError, MappingError,
        AuthenticationError, PermissionDeniedError, BadRequestError, NotFoundError, InsecureURLError,
    )


def _will_not_retry(ti: Any, exc: BaseException) -> bool:
    """Does this failure end the run (no Airflow retry follows)? Mirrors Airflow's rule:
    AirflowFailException and a terminated task never retry; otherwise retries while
    try_number <= max_tries."""
    from airflow.sdk.exceptions import AirflowFailException, AirflowTaskTerminated

    if isinstance(exc, (AirflowFailException, AirflowTaskTerminated)):
        return True
    retries = getattr(getattr(ti, "task", None), "retries", 0) or 0
    try_number = getattr(ti, "try_number", None) or 1
    max_tries = getattr(ti, "max_tries", None)
    if max_tries is None:
        max_tries = retries
    return not (retries and try_number <= max_tries)


def _run_step(fn, *args: Any, **kwargs: Any) -> Any:
    """Run a pipeline step; turn errors a retry cannot fix into an immediate failure."""
    try:
        return fn(*args, **kwargs)
    except _no_retry_errors() as exc:
        log.error("%s", exc)
        raise fail_without_retry(exc) from exc


@contextmanager
def _step_clients(**conn_ids: str) -> Iterator[tuple[Any, Any]]:
    """:func:`.common.open_clients` for a step: a connection a retry cannot fix (an http://
    host without the opt-in, ...) fails the step at once, like the step's own such errors."""
    with ExitStack() as stack:
        try:
            clients = stack.enter_context(open_clients(**conn_ids))
        except _no_retry_errors() as exc:
            log.error("%s", exc)
            raise fail_without_retry(exc) from exc
        yield clients


def _md_escape(text: str) -> str:
    return str(text).replace("|", "\\|").replace("\n", " ")


def _deadlines_text(task: ScheduledTask, settings: Any) -> str:
    try:
        step, run = task.deadlines(settings)
    except ValueError as exc:
        return str(exc)
    return f"each step {int(step.total_seconds() // 60)} min, whole run {int(run.total_seconds() // 60)} min"


def _schedule_text(task: ScheduledTask) -> str:
    cron = f"`{task.schedule}`" if task.schedule else None
    if not task.after:
        return cron or "none (run by hand)"
    names = ", ".join(f"`{name}`" for name in task.after)
    text = f"after {names} (a run starts once {'each has' if len(task.after) > 1 else 'it has'} succeeded since this task's last run)"
    return f"{text}, and also at {cron}" if cron else text


def import_schedule(task: ScheduledTask, tasks: Mapping[str, Any] | None = None) -> Any:
    """The DAG's ``schedule``: the task's cron; with ``after``, the Assets of the imports it
    follows (all of them updated), or either those or its cron when it has one too.
    ``tasks``: the folder's tasks by name (ValueError naming the key when one is missing)."""
    if not task.after:
        return task.schedule
    from airflow.sdk import AssetAll, AssetOrTimeSchedule, CronTriggerTimetable

    from ..config.scheduling import cron_expression

    tasks = tasks or {}
    missing = [name for name in task.after if name not in tasks]
    if missing:
        raise ValueError(f"key 'after': no import task named {', '.join(repr(n) for n in missing)} in the task folder")
    condition = AssetAll(*(import_asset(tasks[name]) for name in task.after))
    if task.schedule is None:
        return condition
    # the same timetable a plain cron string gets (start_date, hence the DAG, is in UTC)
    return AssetOrTimeSchedule(timetable=CronTriggerTimetable(cron_expression(task.schedule), timezone="UTC"), assets=condition)


def import_doc_md(task: ScheduledTask, settings: Any, source_file: str | None = None) -> str:
    """The DAG's documentation in the Airflow UI."""
    from ..pipeline.finish import read_status

    removal = task.removal
    lines = [f"### Jira → ESM import `{task.name}`", ""]
    if task.description:
        lines += [task.description, ""]
    # parse time: only a local status file is read (an object-store root would be network I/O)
    status = None if getattr(settings, "staging_url", None) else read_status(getattr(settings, "staging_dir", None), task.name)
    if status and status.get("warning"):
        lines += [f"> **Scheduling warning:** {status['warning']}", ""]
    rows = [
        ("mode", task.mode + (" (first run fetches everything, then `updated >=` watermark "
                              f"minus {task.overlap_minutes} min)" if task.mode == "incremental" else "")),
        ("schedule", _schedule_text(task)),
        ("mapping type", task.mapping_type),
        ("ESM template / folder", f"`{task.template}` / `{task.folder or '-'}`"),
        ("key", f"Jira `{task.key.jira}` → ESM `{task.key.esm}`" if task.key else "comment id"),
        ("task id stamped in", f"`{task.task_id_attribute}`"),
        ("connections", f"Jira `{task.jira_conn_id}`, ESM `{task.esm_conn_id}`"),
        ("Airflow Asset updated by each successful run", f"`{import_asset_uri(task)}`"),
        ("removed records", f"`{removal.attribute}` = `{removal.value}` (safety limits: at most "
                            f"{removal.max_share:.0%} of the cards, not after a fetch {removal.max_shrink:.0%} smaller "
                            f"than the last run's; {'re-activated' if removal.reactivate else 'never re-activated'})"
         if removal else "not marked"),
        ("deadlines", _deadlines_text(task, settings)),
        ("task cache cleared at (UTC)", ", ".join(f"{h:02d}:00" for h in task.clear_hours(settings.cache_clear_hours)) or "never by clock"),
    ]
    if task.membership_attributes:
        rows.append(("group members", f"safety limit: at most {task.member_share:.0%} of the task's memberships "
                                      "removed in one run, no group emptied at once (else those groups keep "
                                      "their members)"))
    if status and status.get("volume") is not None:
        rows.append(("last measured volume", f"{status['volume']:,} records"))
    if source_file:
        rows.append(("task file", f"`{source_file}`"))
    lines += ["| | |", "|---|---|"] + [f"| {k} | {_md_escape(v)} |" for k, v in rows]
    if task.jql:
        lines += ["", "**JQL**", "", "```", task.jql.strip(), "```"]
    if task.comments is not None:
        lines += ["", f"Each Jira comment becomes an entry of worklog `{task.comments.worklog_attribute}` on the "
                      f"`{task.template}` card whose `{task.comments.card_key_attribute}` is the issue key."]
    lines += ["", "**Mapping** (ESM attribute ← Jira)", "", "| attribute | from |", "|---|---|"]
    for name, spec in task.effective_attributes.items():
        lines.append(f"| `{name}` | {_md_escape(spec.describe())} |")
    if task.quality:
        lines += ["", "**Data quality expectations** (a failure stops the run before anything is loaded)", ""]
        lines += [f"- `{q.name}` {q.kwargs}" for q in task.quality]
    lines += [
        "", "**Run parameters**: `clear_cache` (push every record again)"
        + (", `allow_mass_removal` (override the removal share limit for this run), `allow_shrink` (mark removed "
           "records although this run fetched markedly fewer than the last successful one)" if removal else "")
        + (", `allow_member_removal` (write group members although the membership safety limit holds them back)"
           if task.membership_attributes else "") + ".",
    ]
    return "\n".join(lines)


def _import_params(task: ScheduledTask) -> dict[str, Param]:
    """The run parameters of an import DAG (the removal overrides only for full imports that mark)."""
    removal = task.removal
    params: dict[str, Param] = {
        "clear_cache": Param(
            False, type="boolean", title="Clear the task cache",
            description="Forget what was pushed before, so this run writes every record to ESM again "
                        "(a full import also reads every issue again; the watermark is not changed).",
        ),
    }
    if task.mode == "full" and removal is not None:
        params["allow_mass_removal"] = Param(
            False, type="boolean", title="Allow mass removal",
            description=f"Mark removed records even if more than {removal.max_share:.0%} of this task's cards "
                        "would be marked in this run (safety limit override).",
        )
        params["allow_shrink"] = Param(
            False, type="boolean", title="Allow a smaller fetch",
            description=f"Mark removed records even though this run fetched more than {removal.max_shrink:.0%} "
                        "fewer records than the last successful run, or (user imports) Jira listed more users it "
                        "could not name (account id 'unknown') than then (use only when Jira really has fewer).",
        )
    if task.membership_attributes:
        params["allow_member_removal"] = Param(
            False, type="boolean", title="Allow many membership removals",
            description=f"Write the groups' members even if this run removes more than {task.member_share:.0%} of "
                        "this task's group memberships, or empties a group, or Jira could not name more of a group's "
                        "members than before (safety limit override; use only when the people really left their "
                        "groups).",
        )
    return params


def _check_run_conf(task: ScheduledTask, conf: Mapping[str, Any] | None) -> None:
    """Refuse, at once and naming them, conf keys that are not this import's run parameters:
    Airflow lets undeclared keys through, so a misspelt ``clear_cache`` would be ignored."""
    refuse_unknown_conf(conf, _import_params(task), what=f"import '{task.name}'")


def _run_context(task: ScheduledTask, settings: Any) -> tuple[str, dict[str, Any], Any]:
    """(Airflow run id, run parameters, this run's staging folder) of the running task."""
    from ..pipeline.staging import run_dir

    ctx = get_current_context()
    run_id = ctx["run_id"]
    return run_id, dict(ctx.get("params") or {}), run_dir(staging_root(settings), task.name, run_id)


@contextmanager
def _step_lease(
    task: ScheduledTask, settings: Any, run_deadline: timedelta, state: StateApi, step: str,
    *, first: bool = False, last: bool = False,
) -> Iterator[Any]:
    """Hold the task's lease for one step of this Airflow run (see the module docs)."""
    from ..state.lease import LeaseLostError, hold_lease

    ctx = get_current_context()
    ti = ctx["ti"]
    run_id = ctx["run_id"]
    dag_run = ctx.get("dag_run")
    started = getattr(dag_run, "start_date", None)
    # The owner token is unique per run instance: two deployments give the same
    # schedule slot the same run id, and a cleared (restarted) run gets a new start.
    since = started or getattr(dag_run, "run_after", None)
    owner = f"{run_id} (started {since.isoformat()})" if since else run_id

    def owner_is_over(current: Any) -> bool:
        # a run of this DAG that Airflow already ended (marked failed between steps)
        run_state = ti.get_dagrun_state(dag_id=task.name, run_id=current.run_name)
        return str(getattr(run_state, "value", run_state)) in ("success", "failed")

    try:
        with hold_lease(
            state, task.name, owner, f"{run_id}|{step}|try {getattr(ti, 'try_number', 1)}",
            run_name=run_id,
            run_expires_at=(started or datetime.now(timezone.utc)) + run_deadline,  # >= the run's deadline
            first_step=first, last_step=last,
            run_over_on_error=lambda exc: _will_not_retry(ti, exc),
            owner_is_over=owner_is_over,
            wait_s=settings.lease_wait_seconds, ttl_s=settings.lease_ttl_seconds, logger=log,
        ) as lease:
            yield lease
    except LeaseLostError as exc:  # superseded: a retry would only meet the same answer
        raise fail_without_retry(exc) from exc


def _describe_asset_event(task: ScheduledTask, summary: RunSummary) -> RunSummary:
    """Put the run's counts on the asset event its success records (shown in the Assets
    view and to the runs it starts); returns ``summary``."""
    from ..pipeline.finish import COUNT_KEYS, OPTIONAL_COUNT_KEYS

    get_current_context()["outlet_events"][import_asset(task)].extra = {
        "run_id": summary["run_id"], **{key: int(summary.get(key, 0)) for key in COUNT_KEYS},  # type: ignore[misc]
        **{key: int(summary[key]) for key in OPTIONAL_COUNT_KEYS if summary.get(key)},  # type: ignore[literal-required]
    }
    return summary


def _remove_old_run_folders(task: ScheduledTask, settings: Any, run_id: str, path: Any) -> None:
    """Remove the task's run folders idle beyond the retention. Only while this run holds the
    task's lease: a run that still holds it (waiting between steps, in a long load) may have
    left its folder idle that long and still needs it."""
    from ..pipeline.staging import cleanup_old_runs

    removed = cleanup_old_runs(staging_root(settings), task.name, current_run=run_id)
    log.info("Staging this run's pages under %s (%d old run folder(s) of this task removed).", path, removed)


def _finish_task(task: ScheduledTask, settings: Any, lease: Any, tasks: Mapping[str, Any] | None) -> Any:
    """The ``finish`` task: record the run, move the watermark, return the run's result; its
    outlet, the task's Asset, gets an event only when it succeeds (``lease``: the step lease;
    ``tasks``: the folder's imports, for the scheduling advice)."""

    @task_decorator(task_id="finish", outlets=[import_asset(task)])
    def finish_step(
        extracted: ExtractResult, transformed: TransformResult, diffed: DiffResult, loaded: LoadResult,
        removed: RemovalResult | None = None,
    ) -> RunSummary:
        from ..pipeline import finish

        run_id, _params, _path = _run_context(task, settings)
        with open_state(settings) as state, lease(state, "finish", last=True) as held:
            held.check()  # never move the watermark for a superseded run
            summary = finish(
                task, state, run_id, extracted, transformed, diffed, loaded, removed,
                staging_root=staging_root(settings), logger=log, tasks=tasks,
            )
        return _describe_asset_event(task, summary)

    return finish_step


def _log_schedule_advice(task: ScheduledTask, state: StateApi, tasks: Mapping[str, Any] | None) -> None:
    """The vendor table's advice for the task's schedule, by its last run's volume (advice only:
    it never fails a run)."""
    from ..config.scheduling import schedule_warning

    try:
        warning = schedule_warning(task, state.last_volume(task.name), tasks)
    except Exception as exc:  # noqa: BLE001 - advice only, never fails a run
        log.debug("no scheduling advice: %s", exc)
        return
    if warning:
        log.warning("Scheduling: %s", warning)


def _add_import_steps(
    task: ScheduledTask, settings: Any, run_deadline: timedelta, tasks: Mapping[str, Any] | None = None,
) -> None:
    """The import's TaskFlow tasks, wired inside the open DAG context:
    extract -> transform -> diff -> load [-> mark_removed] -> finish."""
    full = task.mode == "full"

    def _lease(state: StateApi, step: str, *, first: bool = False, last: bool = False):
        return _step_lease(task, settings, run_deadline, state, step, first=first, last=last)

    @task_decorator(task_id="extract")
    def extract_step() -> ExtractResult:
        from ..pipeline import extract

        _check_run_conf(task, getattr(get_current_context().get("dag_run"), "conf", None))
        run_id, params, path = _run_context(task, settings)
        with open_state(settings) as state, _step_clients(jira_conn_id=task.jira_conn_id) as (jira, _):
            _log_schedule_advice(task, state, tasks)
            with _lease(state, "extract", first=True) as lease:
                _remove_old_run_folders(task, settings, run_id, path)
                return _run_step(
                    extract, task, jira, state, path, settings=settings,
                    default_clear_hours=settings.cache_clear_hours,
                    clear_cache=bool(params.get("clear_cache")), logger=log,
                    guard=lease.check,  # an attempt that lost the task stages no more pages
                    allow_member_removal=bool(params.get("allow_member_removal")),
                )

    @task_decorator(task_id="transform")
    def transform_step(extracted: ExtractResult) -> TransformResult:
        from ..pipeline import transform

        _run_id, _params, path = _run_context(task, settings)
        with open_state(settings) as state, _lease(state, "transform") as lease:
            return _run_step(transform, task, extracted, path, settings=settings, logger=log, guard=lease.check)

    @task_decorator(task_id="diff")
    def diff_step(transformed: TransformResult) -> DiffResult:
        from ..pipeline import diff

        _run_id, params, path = _run_context(task, settings)
        with open_state(settings) as state, _lease(state, "diff") as lease:
            return _run_step(
                diff, task, transformed, state, path,
                default_clear_hours=settings.cache_clear_hours,
                clear_cache=bool(params.get("clear_cache")), logger=log, guard=lease.check,
            )

    @task_decorator(task_id="load")
    def load_step(diffed: DiffResult) -> LoadResult:
        from ..pipeline import load

        staging_root(settings)  # the staged changes are read with the staging root's credentials
        run_id, params, _path = _run_context(task, settings)
        with open_state(settings) as state, _lease(state, "load"):
            if diffed.get("changed", 0) == 0:
                log.info("Nothing new or changed: nothing is written to ESM.")
                return {"created": 0, "updated": 0, "refused": 0, "refused_records": []}
            with _step_clients(esm_conn_id=task.esm_conn_id) as (_, esm):
                # load holds the ESM template's write lock (other tasks writing it wait)
                return _run_step(load, task, diffed, esm, state, concurrency=settings.esm_concurrency, logger=log,
                                 run_id=run_id, settings=settings,
                                 allow_member_removal=bool(params.get("allow_member_removal")))

    @task_decorator(task_id="mark_removed")
    def mark_removed_step(extracted: ExtractResult) -> RemovalResult:
        from ..pipeline import mark_removed
        from ..pipeline.removal import nothing_marked

        run_id, params, _path = _run_context(task, settings)
        with open_state(settings) as state, _lease(state, "mark_removed"):
            if task.removal is None:
                log.info("This task does not mark removed records (removed: false).")
                return nothing_marked()
            # Jira is asked about each candidate before its card is marked (as run_import does):
            # generic imports the index lag check, user and group imports a left-out account or group
            with _step_clients(jira_conn_id=task.jira_conn_id, esm_conn_id=task.esm_conn_id) as (jira, esm):
                return _run_step(
                    mark_removed, task, extracted, esm, state,
                    allow_mass_removal=bool(params.get("allow_mass_removal")),
                    allow_shrink=bool(params.get("allow_shrink")), concurrency=settings.esm_concurrency, logger=log,
                    run_id=run_id, settings=settings, jira=jira,
                )

    finish_step = _finish_task(task, settings, _lease, tasks)

    extracted = extract_step()
    transformed = transform_step(extracted)
    diffed = diff_step(transformed)
    loaded = load_step(diffed)
    if full:
        removed = mark_removed_step(extracted)
        loaded >> removed  # mark removed only after this run's records are loaded
        finish_step(extracted, transformed, diffed, loaded, removed)
    else:
        finish_step(extracted, transformed, diffed, loaded)


def build_import_dag(
    task: ScheduledTask, settings: Any = None, *, source_file: str | None = None, tasks: Mapping[str, Any] | None = None,
) -> DAG:
    """The import DAG of one scheduled task file (no I/O beyond reading a local status file).
    ``tasks``: the folder's tasks by name, to schedule a task with ``after`` on theirs."""
    settings = connector_settings(settings)
    step_deadline, run_deadline = task.deadlines(settings)  # ValueError names the key -> import error
    with DAG(
        dag_id=task.name,
        schedule=import_schedule(task, tasks),
        start_date=START_DATE,
        catchup=False,
        max_active_runs=1,
        dagrun_timeout=run_deadline,
        default_args={**default_args(settings), "execution_timeout": step_deadline},
        tags=dag_tags("import", f"mapping:{task.mapping_type}", f"mode:{task.mode}", *task.tags),
        doc_md=cap_doc_md(import_doc_md(task, settings, source_file)),
        description=(task.description or f"Jira → ESM {task.mapping_type} import into {task.template}")[:250],
        params=_import_params(task),
        auto_register=False,  # the DAG file exposes it through its globals
    ) as dag:
        _add_import_steps(task, settings, run_deadline, tasks)
    return dag
