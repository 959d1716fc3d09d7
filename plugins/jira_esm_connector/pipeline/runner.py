"""Run a whole import in one process (tests, the CLI, debugging): the same steps, in the
same order, with the same hand-offs as the DAG -- and under the same per-task lease, so a
run here and a DAG run (or two of these) never load the same task at once."""
from __future__ import annotations

import logging
import os
import socket
import threading
from datetime import datetime, timezone
from typing import Any

from ..protocols import EsmApi, JiraApi, StateApi
from .diff import diff
from .extract import extract
from .finish import finish
from .load import DEFAULT_CONCURRENCY, load
from .removal import mark_removed
from .results import RemovalResult, RunSummary
from .staging import run_dir
from .transform import transform

__all__ = ["run_import"]


def run_import(
    task: Any,
    jira: JiraApi,
    esm: EsmApi,
    state: StateApi,
    staging_root: Any,
    run_id: str,
    *,
    settings: Any = None,
    clear_cache: bool = False,
    allow_mass_removal: bool = False,
    allow_shrink: bool = False,
    allow_member_removal: bool = False,
    chunk_size: int = 200,
    now: datetime | None = None,
    logger: logging.Logger | logging.LoggerAdapter | None = None,
) -> RunSummary:
    """extract -> transform -> diff -> load [-> mark_removed] -> finish; returns the summary.

    The task's lease is held for the whole run (waiting up to ``settings.lease_wait_seconds``
    for another run, else :class:`~..state.LeaseBusyError`) and released at the end, also
    when a step fails (nothing retries this run in place)."""
    from ..state.lease import DEFAULT_HOLDER_TTL_S, DEFAULT_WAIT_S, hold_lease

    _step_deadline, run_deadline = task.deadlines(settings)
    holder = f"{run_id}|run_import|{socket.gethostname()}:{os.getpid()}:{threading.get_ident()}"
    with hold_lease(
        state, task.name, run_id, holder,
        run_expires_at=datetime.now(timezone.utc) + run_deadline,
        wait_s=float(getattr(settings, "lease_wait_seconds", DEFAULT_WAIT_S)),
        ttl_s=float(getattr(settings, "lease_ttl_seconds", DEFAULT_HOLDER_TTL_S)),
        logger=logger,
    ) as lease:
        path = run_dir(staging_root, task.name, run_id)
        extracted = extract(
            task, jira, state, path, settings=settings,
            default_clear_hours=getattr(settings, "cache_clear_hours", None),
            clear_cache=clear_cache, now=now, logger=logger, guard=lease.check, allow_member_removal=allow_member_removal,
        )
        transformed = transform(task, extracted, path, settings=settings, logger=logger, guard=lease.check)
        diffed = diff(
            task, transformed, state, path,
            default_clear_hours=getattr(settings, "cache_clear_hours", None),
            clear_cache=clear_cache, now=now, logger=logger, guard=lease.check,
        )
        lease.check()  # taken over meanwhile (this process was frozen past its expiries)? write nothing
        esm_concurrency = int(getattr(settings, "esm_concurrency", DEFAULT_CONCURRENCY))
        # load and mark_removed each hold the ESM template's write lock (other tasks writing it wait)
        loaded = load(task, diffed, esm, state, chunk_size=chunk_size, concurrency=esm_concurrency, logger=logger,
                      run_id=run_id, settings=settings, allow_member_removal=allow_member_removal)
        removed: RemovalResult | None = None
        if task.mode == "full":
            lease.check()
            removed = mark_removed(task, extracted, esm, state, allow_mass_removal=allow_mass_removal,
                                   allow_shrink=allow_shrink, concurrency=esm_concurrency, jira=jira, logger=logger,
                                   run_id=run_id, settings=settings)
        lease.check()
        return finish(
            task, state, run_id, extracted, transformed, diffed, loaded, removed,
            staging_root=staging_root, logger=logger,
        )
