"""Diff: pass on only the records that are new or changed since ESM last accepted them.

The task cache (state store) keeps, per task and record key, the fingerprint of what ESM
last accepted. Before comparing, the cache is cleared when a configured clear hour (UTC)
has passed since the last clear, or when the run asks for it (``clear_cache`` param /
the ``cache clear`` CLI): the first run after a clear pushes everything again. Clearing
never touches the watermark. A full run whose extract carried records (no clear was due
then, see :mod:`.carry`) leaves a clear hour that passed since to the next run.
"""
from __future__ import annotations

import logging
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Callable, Iterator

from ..protocols import StateApi
from .results import DiffResult, TransformResult, no_lease_check
from .memberships import count_members, membership_attributes
from .staging import FILE_ROWS, Dataset, DatasetWriter, location
from .transform import TRANSFORM_COLUMNS, decode_data

__all__ = ["diff", "maybe_clear_cache", "cache_clear_reason"]

log = logging.getLogger("jira_esm_connector.pipeline")


def cache_clear_reason(
    task: Any,
    state: StateApi,
    *,
    default_clear_hours: list[int] | None = None,
    force: bool = False,
    now: datetime | None = None,
) -> str | None:
    """Why the task's cache is to be cleared now (forced, or a clear hour has come), or
    ``None``. Asks only; :func:`maybe_clear_cache` clears (extract asks too: a run that
    clears carries nothing, see :mod:`.carry`)."""
    if force:
        return "cleared on request (run parameter clear_cache)"
    hours = task.clear_hours(default_clear_hours)
    if hours and state.cache_due_for_clear(task.name, now or datetime.now(timezone.utc), hours):
        if state.last_cache_clear(task.name) is None:
            return "first run of this task: its cache starts empty"
        return f"scheduled clear at UTC hour(s) {', '.join(str(h) for h in hours)}"
    return None


def maybe_clear_cache(
    task: Any,
    state: StateApi,
    *,
    default_clear_hours: list[int] | None = None,
    force: bool = False,
    now: datetime | None = None,
    carried: int = 0,
    logger: logging.Logger | logging.LoggerAdapter | None = None,
) -> str | None:
    """Clear the task's cache if forced or due; returns the reason, or ``None``. ``carried``:
    records this run's extract carried without reading them (it found no clear due then): a
    clear that came due since is left to the next run, which reads them all."""
    lg = logger or log
    now = now or datetime.now(timezone.utc)
    reason = cache_clear_reason(task, state, default_clear_hours=default_clear_hours, force=force, now=now)
    if reason and carried and not force:
        lg.info(
            "Task cache of '%s' not cleared by this run (%s): the clear came due after extract carried %d "
            "unchanged record(s) without reading them; the next run clears it and pushes every record.",
            task.name, reason, carried,
        )
        return None
    if reason:
        state.clear_cache(task.name, reason, now=now)
        lg.info("Task cache of '%s' cleared (%s): this run pushes every record to ESM again.", task.name, reason)
    return reason


# pages of the transform dataset whose keys are looked up in the task cache at once
LOOKUP_ROWS = 1_000


def _groups(tables: Iterator[Any], rows: int) -> Iterator[list[Any]]:
    """Consecutive pages, gathered until they hold at least ``rows`` rows."""
    group: list[Any] = []
    held = 0
    for table in tables:
        group.append(table)
        held += table.num_rows
        if held >= rows:
            yield group
            group, held = [], 0
    if group:
        yield group


def _with_all_columns(table: Any) -> Any:
    """``table`` with an empty column for each transform column it lacks: a dataset
    transformed before the column existed (a run whose diff is retried after an upgrade)."""
    import pyarrow as pa

    for name in TRANSFORM_COLUMNS:
        if name not in table.column_names:
            table = table.append_column(name, pa.nulls(table.num_rows, pa.string()))
    return table


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
    guard: Callable[[], None] | None = None,
) -> DiffResult:
    """Compare the transformed records with the task cache; stage the new/changed ones.
    ``guard`` is called before the cache is cleared, before each group of pages and before
    the dataset is closed: the run lease's check, which raises once another attempt took
    the task over.

    Returns ``{"dataset", "changed", "unchanged", "cache_cleared", "unchanged_memberships"}``
    (group imports: the members the unchanged groups list, for the load's membership
    safety limit, :mod:`.memberships`; ``None`` for other imports).
    """
    import pyarrow as pa  # here, not at import: DAG files import this module

    lg = logger or log
    guard = guard or no_lease_check
    guard()
    reason = maybe_clear_cache(
        task, state, default_clear_hours=default_clear_hours, force=clear_cache, now=now,
        carried=int(transformed.get("carried") or 0), logger=lg,
    )
    writer = DatasetWriter(location(run_path) / "diff", TRANSFORM_COLUMNS, page_rows=FILE_ROWS)
    source = Dataset(transformed["dataset"])
    # The same key twice in one run (overlap, Jira paging while data changes): only its last
    # record counts, here as in load. Comparing an earlier copy with the cache would write the
    # older data whenever the last copy is the cached one, and the card would flip between the
    # two versions from run to run. A first pass reads only the keys.
    repeated, duplicates = source.repeated_keys()
    unchanged = 0
    members = membership_attributes(task)
    unchanged_memberships = 0
    number = 0  # global row number of the first row of the page at hand
    for group in _groups(source.iter_tables(), LOOKUP_ROWS):
        guard()
        # only keys and fingerprints are looked at; each page is filtered as it is (Arrow)
        pages = [(t, t.column("key").to_pylist(), t.column("fingerprint").to_pylist()) for t in group]
        # one cache lookup for the group, not one per page (the cache does not change in diff)
        cached = state.get_fingerprints(task.name, dict.fromkeys(k for _, keys, _ in pages for k in keys))
        for table, keys, prints in pages:
            passed: list[int] = []
            data = table.column("data").to_pylist() if members else None
            for row, key in enumerate(keys):
                if repeated.get(key, number + row) != number + row:
                    continue  # a later copy of this key follows
                if cached.get(key) == prints[row]:
                    unchanged += 1
                    if data is not None:
                        unchanged_memberships += count_members(decode_data(data[row]), members)
                else:
                    passed.append(row)
            number += len(keys)
            if passed:
                writer.write_table(_with_all_columns(table.take(pa.array(passed, type=pa.int64()))))
    guard()
    dataset = writer.close()
    lg.info(
        "Diff against the task cache: %d new or changed, %d unchanged%s.",
        writer.rows, unchanged, f", {duplicates} duplicate(s) in this run's data" if duplicates else "",
    )
    return {"dataset": str(dataset.path), "changed": writer.rows, "unchanged": unchanged, "cache_cleared": reason is not None,
            "unchanged_memberships": unchanged_memberships if members else None}
