"""DAGs from task files: one ``include/mappings/*.yaml`` file -> one DAG. No Python per task.

``dags/`` holds two tiny files:

* ``jira_esm_connector_dags.py`` puts :func:`build_all_dags` into its globals -- every
  valid task file becomes a DAG (scheduled imports via :mod:`.imports`, event pushes via
  :mod:`.events`);
* ``jira_esm_connector_task_file_errors.py`` calls :func:`raise_task_file_errors`, which
  raises when any task file is broken. Airflow shows that as an *import error* in its UI
  (and ``airflow dags list-import-errors``), one line per broken file naming the file,
  the key and the problem -- while every valid task keeps its DAG, because the DAGs come
  from the other file. When all files are fine it defines nothing.

Why two files: Airflow records import errors per Python file, and a Python file that
raises contributes no DAGs at all. Keeping the valid DAGs and the error report in
separate files is the one way that only uses Airflow's public behaviour.

Each DAG file passes its own task folder, ``include/mappings`` next to its ``dags/``
folder (``default_mappings_dir``), used unless ``JIRA_ESM_MAPPINGS_DIR`` is set: the folder
never depends on where this package is installed.

Parsing reads the task files and environment settings only: no network, no database.
"""
from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

__all__ = [
    "TaskFilesBroken",
    "build_all_dags",
    "load_tasks",
    "raise_task_file_errors",
    "task_file_errors",
    "task_folder",
]

log = logging.getLogger("jira_esm_connector.dagfactory")


class TaskFilesBroken(Exception):
    """One or more task files are invalid; the message lists each file, key and problem."""


def task_folder(mappings_dir: str | Path | None, settings: Any, default: str | Path | None = None) -> Path:
    """``mappings_dir`` when given, else ``settings.task_folder(default)``:
    ``JIRA_ESM_MAPPINGS_DIR``, else ``default`` (the DAG file's ``include/mappings``)."""
    return Path(mappings_dir) if mappings_dir is not None else settings.task_folder(default)


def load_tasks(mappings_dir: str | Path | None = None, settings: Any = None, *, default_mappings_dir: str | Path | None = None):
    """``(settings, LoadResult)`` for the task folder (see :func:`task_folder`)."""
    from ..config import load_task_dir
    from .common import connector_settings

    settings = connector_settings(settings)
    return settings, load_task_dir(task_folder(mappings_dir, settings, default_mappings_dir))


def _event_builder():
    try:
        from .events import build_event_dag
    except ImportError as exc:  # the events module is optional until it exists
        log.warning("Event DAGs are not available (%s); event task files are skipped.", exc)
        return None
    return build_event_dag


def _build(
    mappings_dir: str | Path | None, settings: Any, default_mappings_dir: str | Path | None = None
) -> tuple[dict[str, Any], list[str]]:
    from ..config import ScheduledTask
    from .imports import build_import_dag

    settings, result = load_tasks(mappings_dir, settings, default_mappings_dir=default_mappings_dir)
    problems = [str(err) for err in result.errors]
    dags: dict[str, Any] = {}
    unbuilt: dict[str, str] = {}  # task name -> its file, for the tasks whose DAG could not be built
    build_event_dag = None
    for name, task in result.tasks.items():
        source = result.files.get(name)
        file_label = source.name if source else name
        try:
            if isinstance(task, ScheduledTask):
                dags[name] = build_import_dag(task, settings, source_file=file_label, tasks=result.tasks)
            else:
                build_event_dag = build_event_dag or _event_builder()
                if build_event_dag is None:
                    continue
                dags[name] = build_event_dag(task, settings)
        except Exception as exc:  # noqa: BLE001 - one bad task never takes the others down
            log.exception("Task file %s could not be turned into a DAG", file_label)
            problems.append(f"{file_label}: the DAG could not be built: {type(exc).__name__}: {exc}")
            unbuilt[name] = file_label
    problems += _refuse_followers(result, dags, unbuilt)
    return dags, problems


def _refuse_followers(result: Any, dags: dict[str, Any], unbuilt: dict[str, str]) -> list[str]:
    """Drop the DAGs of the tasks that run ``after`` a task whose DAG could not be built (and
    of their followers): like a task after a broken file (:mod:`..config.ordering`), they
    would wait for an Asset nothing updates. One problem line each, naming the key."""
    from ..config.errors import TaskFileError
    from ..config.ordering import after_refused_message

    problems: list[str] = []
    changed = True
    while changed:
        changed = False
        for name in list(dags):
            after = list(getattr(result.tasks[name], "after", None) or [])
            dep = next((d for d in after if d in unbuilt), None)
            if dep is None:
                continue
            source = result.files.get(name)
            file_label = source.name if source else name
            problems.append(str(TaskFileError(
                file_label, after_refused_message(dep, unbuilt[dep]), key=f"after[{after.index(dep)}]"
            )))
            del dags[name]
            unbuilt[name] = file_label
            changed = True
    return problems


def build_all_dags(
    mappings_dir: str | Path | None = None, settings: Any = None, *, default_mappings_dir: str | Path | None = None
) -> dict[str, Any]:
    """``{dag_id: DAG}`` for every valid task file. Broken files are logged (and reported
    as import errors by :func:`raise_task_file_errors`), never fatal here.
    ``default_mappings_dir``: the folder used unless ``JIRA_ESM_MAPPINGS_DIR`` is set."""
    dags, problems = _build(mappings_dir, settings, default_mappings_dir)
    for problem in problems:
        log.error("Task file problem: %s", problem)
    return dags


@contextmanager
def _no_autoregistration() -> Iterator[None]:
    """DAGs built only to check them must not be picked up by Airflow from this file."""
    try:
        from airflow.sdk.definitions._internal.contextmanager import DagContext
    except ImportError:  # pragma: no cover - other Airflow layouts
        yield
        return
    before = set(DagContext.autoregistered_dags)
    try:
        yield
    finally:
        DagContext.autoregistered_dags.intersection_update(before)


def task_file_errors(
    mappings_dir: str | Path | None = None, settings: Any = None, *, default_mappings_dir: str | Path | None = None
) -> list[str]:
    """Every problem with the task files, one plain line per problem (file, key, message)."""
    with _no_autoregistration():
        return _build(mappings_dir, settings, default_mappings_dir)[1]


def raise_task_file_errors(
    mappings_dir: str | Path | None = None, settings: Any = None, *, default_mappings_dir: str | Path | None = None
) -> None:
    """Raise :class:`TaskFilesBroken` listing every broken task file; return when all are fine."""
    problems = task_file_errors(mappings_dir, settings, default_mappings_dir=default_mappings_dir)
    if problems:
        count = len(problems)
        raise TaskFilesBroken(
            f"{count} task file problem{'s' if count != 1 else ''} in the Jira <-> ESM connector's task folder "
            "(the other tasks' DAGs are not affected):\n" + "\n".join(f"- {p}" for p in problems)
        )
