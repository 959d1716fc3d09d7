"""Diff: pass on only the records that are new or changed since ESM last accepted them.

The task cache (state store) keeps, per task and record key, the fingerprint of what ESM
last accepted. Before comparing, the cache is cleared when a configured clear hour (UTC)
has passed since the last clear, or when the run asks for it (``clear_cache`` param /
the ``cache clear`` CLI): the first run after a clear pushes everything again. Clearing
never touches the watermark.
"""
from __future__ import annotations

import logging
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from ..protocols import StateApi
from .results import DiffResult, TransformResult
from .staging import Dataset, DatasetWriter
from .transform import TRANSFORM_COLUMNS

__all__ = ["diff", "maybe_clear_cache"]

log = logging.getLogger("jira_esm_connector.pipeline")


def maybe_clear_cache(
    task: Any,
    state: StateApi,
    *,
    default_clear_hours: list[int] | None = None,
    force: bool = False,
    now: datetime | None = None,
    logger: logging.Logger | logging.LoggerAdapter | None = None,
) -> str | None:
    """Clear the task's cache if forced or due; returns the reason, or ``None``."""
    lg = logger or log
    now = now or datetime.now(timezone.utc)
    hours = task.clear_hours(default_clear_hours)
    reason = None
    if force:
        reason = "cleared on request (run parameter clear_cache)"
    elif hours and state.cache_due_for_clear(task.name, now, hours):
        if state.last_cache_clear(task.name) is None:
            reason = "first run of this task: its cache starts empty"
        else:
            reason = f"scheduled clear at UTC hour(s) {', '.join(str(h) for h in hours)}"
    if reason:
        state.clear_cache(task.name, reason, now=now)
        lg.info("Task cache of '%s' cleared (%s): this run pushes every record to ESM again.", task.name, reason)
    return reason


def _compact(fingerprint: Any) -> Any:
    """A sha256 hex fingerprint as its 32 bytes (half the memory per key seen in a run);
    anything else as it is. Two values are equal exactly when the fingerprints are."""
    try:
        digest = bytes.fromhex(fingerprint)
    except (TypeError, ValueError):
        return fingerprint
    return digest if digest.hex() == fingerprint else fingerprint


def diff(
    task: Any,
    transformed: TransformResult,
    state: StateApi,
    run_path: str | Path,
    *,
    default_clear_hours: list[int] | None = None,
    clear_cache: bool = False,
    now: datetime | None = None,
    logger: logging.Logger | logging.LoggerAdapter | None = None,
) -> DiffResult:
    """Compare the transformed records with the task cache; stage the new/changed ones.

    Returns ``{"dataset", "changed", "unchanged", "cache_cleared"}``.
    """
    lg = logger or log
    reason = maybe_clear_cache(
        task, state, default_clear_hours=default_clear_hours, force=clear_cache, now=now, logger=lg
    )
    writer = DatasetWriter(Path(run_path) / "diff", TRANSFORM_COLUMNS)
    unchanged = 0
    seen: dict[str, Any] = {}  # every key of this run -> its last fingerprint (compact)
    duplicates = 0
    for page in Dataset(transformed["dataset"]).iter_pages():
        # the same record twice in one run (overlap, Jira paging while data changes): keep the last
        fresh: dict[str, dict[str, Any]] = {}
        for row in page:
            if row["key"] in fresh or row["key"] in seen:
                duplicates += 1
            fresh[row["key"]] = row
        cached = state.get_fingerprints(task.name, list(fresh))
        out = []
        for key, row in fresh.items():
            compact = _compact(row["fingerprint"])
            if seen.get(key) == compact:
                continue
            seen[key] = compact
            if cached.get(key) == row["fingerprint"]:
                unchanged += 1
            else:
                out.append(row)
        writer.write_page(out)
    dataset = writer.close()
    lg.info(
        "Diff against the task cache: %d new or changed, %d unchanged%s.",
        writer.rows, unchanged, f", {duplicates} duplicate(s) in this run's data" if duplicates else "",
    )
    return {"dataset": str(dataset.path), "changed": writer.rows, "unchanged": unchanged, "cache_cleared": reason is not None}
