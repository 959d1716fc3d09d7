"""Scheduled imports (Jira -> ESM) as plain functions, one per DAG task.

No Airflow imports: every step takes explicit inputs (the task model, clients and the
state store as :mod:`..protocols` Protocols, the run's staging folder) and returns one
typed result of references and counts (:mod:`.results`, TypedDicts) -- exactly what the
DAG's tasks pass to each other through XCom.

    extract(task, jira, state, run_path)                 -> ExtractResult {"dataset", "fetched", "pages", "jql", ...}
    transform(task, extracted, run_path, settings=...)   -> TransformResult {"dataset", "transformed", ...}
    diff(task, transformed, state, run_path, ...)        -> DiffResult {"dataset", "changed", "unchanged", ...}
    load(task, diffed, esm, state)                       -> LoadResult {"created", "updated", "refused", ...}
    mark_removed(task, extracted, esm, state, ...)       -> RemovalResult {"marked_removed", ...}   (full imports;
                                                            refuses on the share / shrink safety limits)
    finish(task, state, run_id, extracted, transformed, diffed, loaded, removed) -> RunSummary (the run's result)

:func:`run_import` chains them (tests, CLI, debugging).
"""
from __future__ import annotations

from .diff import diff, maybe_clear_cache
from .extract import extract, search_fields
from .finish import COUNT_KEYS, finish, read_status, summary_line
from .load import load
from .quality import QualityError
from .removal import RemovalLimitError, ShrinkLimitError, mark_removed
from .runner import run_import
from .staging import Dataset, run_dir
from .transform import TransformError, transform

__all__ = [
    "COUNT_KEYS",
    "Dataset",
    "QualityError",
    "RemovalLimitError",
    "ShrinkLimitError",
    "TransformError",
    "diff",
    "extract",
    "finish",
    "load",
    "mark_removed",
    "maybe_clear_cache",
    "read_status",
    "run_dir",
    "run_import",
    "search_fields",
    "summary_line",
    "transform",
]
