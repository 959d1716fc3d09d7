"""Run a whole import in one process (tests, the CLI, debugging): the same steps, in the
same order, with the same hand-offs as the DAG."""
from __future__ import annotations

import logging
from datetime import datetime
from pathlib import Path
from typing import Any

from .diff import diff
from .extract import extract
from .finish import finish
from .load import load
from .removal import mark_removed
from .staging import run_dir
from .transform import transform

__all__ = ["run_import"]


def run_import(
    task: Any,
    jira: Any,
    esm: Any,
    state: Any,
    staging_root: str | Path,
    run_id: str,
    *,
    settings: Any = None,
    clear_cache: bool = False,
    allow_mass_removal: bool = False,
    allow_shrink: bool = False,
    now: datetime | None = None,
    logger: logging.Logger | logging.LoggerAdapter | None = None,
) -> dict[str, Any]:
    """extract -> transform -> diff -> load [-> mark_removed] -> finish; returns the summary."""
    path = run_dir(staging_root, task.name, run_id)
    extracted = extract(task, jira, state, path, logger=logger)
    transformed = transform(task, extracted, path, settings=settings, logger=logger)
    diffed = diff(
        task, transformed, state, path,
        default_clear_hours=getattr(settings, "cache_clear_hours", None),
        clear_cache=clear_cache, now=now, logger=logger,
    )
    loaded = load(task, diffed, esm, state, logger=logger)
    removed = None
    if task.mode == "full":
        removed = mark_removed(task, extracted, esm, state, allow_mass_removal=allow_mass_removal,
                               allow_shrink=allow_shrink, logger=logger)
    return finish(
        task, state, run_id, extracted, transformed, diffed, loaded, removed,
        staging_root=staging_root, logger=logger,
    )
