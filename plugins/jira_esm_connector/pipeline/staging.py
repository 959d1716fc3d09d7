"""Staged files: how the import steps hand data to each other without XCom.

Every run gets its own folder ``<staging root>/<task name>/<run id>/``; each step writes
its output there as a *dataset*: a sub-folder of Parquet files, one file per page, with a
small fixed schema (a key column plus JSON text). XCom carries only the dataset's path and
counts, so records never travel through Airflow's metadata database, and a step reads and
writes one page at a time, so memory stays bounded however large the import is.

The staging root must be reachable by every worker (a shared volume in production).
"""
from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import time
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

# pyarrow is imported where pages are written or read: not when a DAG file is parsed

__all__ = [
    "Dataset",
    "DatasetWriter",
    "run_dir",
    "safe_name",
    "cleanup_old_runs",
    "cleanup_unknown_tasks",
    "DEFAULT_RETENTION_HOURS",
]

# Staged files hold personal data from Jira: keep them only as long as a retry of the run
# may still need them (Airflow retries back off up to 30 minutes, a few times).
DEFAULT_RETENTION_HOURS = 6.0

_UNSAFE = re.compile(r"[^A-Za-z0-9_.-]+")
_MAX_NAME = 180


def safe_name(value: str) -> str:
    """A file-system-safe folder name for a task name or Airflow run id; different names
    always give different folders.

    A name that is already safe (lower-case letters, digits, ``_.-``; not starting or
    ending with ``.``/``_``; at most 180 characters) is used as it is. Any other name
    becomes a readable lower-case slug plus ``~`` and a hash of the exact name
    (``manual__2026-01-01t00_00_00_00_00~3f1c9a0b2d4e``): cleaning alone would give
    ``a.b.`` and ``a.b`` -- or two long names sharing their first 180 characters -- one
    folder, and ``Jira_Issues`` and ``jira_issues`` are one folder on a case-insensitive
    file system (a mounted share, macOS). ``~`` never occurs in a safe name, so the two
    forms cannot meet either.
    """
    text = str(value)
    cleaned = _UNSAFE.sub("_", text).strip("._").lower()
    if text and cleaned == text and len(text) <= _MAX_NAME:
        return text
    digest = hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()[:12]
    return f"{cleaned[:_MAX_NAME] or 'run'}~{digest}"


def run_dir(staging_root: str | Path, task_name: str, run_id: str) -> Path:
    """``<root>/<task>/<run>/``, created, and marked as in use now (every step of a run
    calls this, so the retention clock of a running run starts at its latest step)."""
    path = Path(staging_root) / safe_name(task_name) / safe_name(run_id)
    path.mkdir(parents=True, exist_ok=True)
    os.utime(path)
    return path


class DatasetWriter:
    """Writes rows page by page as ``page-00001.parquet``, ``page-00002.parquet``, ...

    ``columns`` are all strings (nullable). Re-running a step rewrites its dataset from
    scratch (the folder is emptied first), so an Airflow retry never sees half of an
    earlier attempt.
    """

    def __init__(self, path: str | Path, columns: Iterable[str]) -> None:
        self.path = Path(path)
        self.columns = list(columns)
        import pyarrow as pa

        self.schema = pa.schema([(c, pa.string()) for c in self.columns])
        if self.path.exists():
            shutil.rmtree(self.path)
        self.path.mkdir(parents=True)
        self.pages = 0
        self.rows = 0

    def write_page(self, rows: list[dict[str, Any]]) -> None:
        if not rows:
            return
        import pyarrow as pa

        arrays = [pa.array([_text(r.get(c)) for r in rows], type=pa.string()) for c in self.columns]
        self.write_table(pa.Table.from_arrays(arrays, schema=self.schema))

    def write_table(self, table: Any) -> None:
        """One page given as an Arrow table with (at least) this dataset's columns, e.g. a
        page read with :meth:`Dataset.iter_tables` and filtered: no detour through Python."""
        if table.num_rows == 0:
            return
        import pyarrow.parquet as pq

        table = table.select(self.columns).cast(self.schema)
        self.pages += 1
        tmp = self.path / f".page-{self.pages:05d}.parquet.tmp"
        # no dictionaries (keys, JSON texts: nearly all values differ) and no min/max
        # statistics (nothing filters on them): smaller files, written and read faster
        pq.write_table(table, tmp, compression="zstd", use_dictionary=False, write_statistics=False)
        tmp.rename(self.path / f"page-{self.pages:05d}.parquet")  # never a half-written page
        self.rows += table.num_rows

    def close(self) -> Dataset:
        return Dataset(self.path)


def _text(value: Any) -> str | None:
    if value is None or isinstance(value, str):
        return value
    return json.dumps(value, ensure_ascii=False, sort_keys=True, separators=(",", ":"), default=str)


class Dataset:
    """A staged dataset (folder of Parquet pages), read back page by page."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)

    def __repr__(self) -> str:
        return f"Dataset({str(self.path)!r})"

    def files(self) -> list[Path]:
        if not self.path.is_dir():
            raise FileNotFoundError(
                f"staged dataset {self.path} is missing: the staging folder must be shared by all "
                "workers and kept until the run is over (was it cleaned up, or is this another machine?)"
            )
        return sorted(self.path.glob("page-*.parquet"))

    def iter_tables(self, columns: list[str] | None = None) -> Iterator[Any]:
        """The pages as Arrow tables (for steps that filter pages without looking at every value)."""
        for file in self.files():
            import pyarrow.parquet as pq

            # one file, read directly (read_table would set up a dataset scan for each)
            with pq.ParquetFile(file) as parquet:
                table = parquet.read(columns=columns, use_threads=False)
            yield table  # the file is closed while the caller works on the page

    def iter_pages(self, columns: list[str] | None = None) -> Iterator[list[dict[str, Any]]]:
        for table in self.iter_tables(columns):
            names = table.column_names
            if not names:
                yield [{} for _ in range(table.num_rows)]
                continue
            values = [table.column(i).to_pylist() for i in range(len(names))]
            yield [dict(zip(names, row)) for row in zip(*values)]

    def iter_rows(self, columns: list[str] | None = None) -> Iterator[dict[str, Any]]:
        for page in self.iter_pages(columns):
            yield from page

    def count(self) -> int:
        import pyarrow.parquet as pq

        return sum(pq.ParquetFile(f).metadata.num_rows for f in self.files())


def _retention_s(retention_hours: float | None) -> float:
    if retention_hours is None:
        from ..config.settings import ConnectorSettings

        retention_hours = ConnectorSettings().staging_retention_hours
    return float(retention_hours) * 3600.0


def _idle_s(path: Path, now: float) -> float:
    try:
        return now - path.stat().st_mtime
    except OSError:
        return 0.0  # vanished or unreadable: leave it to the next cleanup


def cleanup_old_runs(
    staging_root: str | Path,
    task_name: str,
    *,
    current_run: str | None = None,
    retention_hours: float | None = None,
) -> int:
    """Remove a task's staged runs that no retry can need any more.

    Kept: ``current_run`` and every run used within the retention
    (``JIRA_ESM_STAGING_RETENTION_HOURS``, default 6 hours; see :func:`run_dir`).
    Returns how many run folders were removed.
    """
    base = Path(staging_root) / safe_name(task_name)
    if not base.is_dir():
        return 0
    keep = safe_name(current_run) if current_run is not None else None
    retention = _retention_s(retention_hours)
    now = time.time()
    removed = 0
    for path in base.iterdir():
        if path.name == keep or path.is_symlink() or not path.is_dir():
            continue
        if _idle_s(path, now) > retention:
            shutil.rmtree(path, ignore_errors=True)
            removed += 1
    return removed


def cleanup_unknown_tasks(
    staging_root: str | Path,
    known_task_names: Iterable[str],
    *,
    retention_hours: float | None = None,
) -> list[str]:
    """Remove the staged files (and status file) of tasks that no longer exist.

    ``known_task_names`` are the names of every task file that loaded; call it only when
    the whole folder loaded (a broken file's task is unknown, not gone). A folder is also
    kept while it was used within the retention, so a task file renamed or removed by
    mistake for a moment loses nothing. Returns the removed folder names.
    """
    root = Path(staging_root)
    if not root.is_dir():
        return []
    known = {safe_name(n) for n in known_task_names}
    retention = _retention_s(retention_hours)
    now = time.time()
    removed: list[str] = []
    for path in sorted(root.iterdir()):
        # task folders never start with '_' or '.' (see safe_name): those are ours (_status)
        if path.name.startswith(("_", ".")) or path.name in known or path.is_symlink() or not path.is_dir():
            continue
        if _idle_s(path, now) > retention:
            shutil.rmtree(path, ignore_errors=True)
            removed.append(path.name)
    status = root / "_status"
    if status.is_dir():
        for file in status.glob("*.json"):
            if file.stem not in known and _idle_s(file, now) > retention:
                file.unlink(missing_ok=True)
    return removed
