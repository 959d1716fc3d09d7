"""Staged files: how the import steps hand data to each other without XCom.

Every run gets its own folder ``<staging root>/<task name>/<run id>/``; each step writes
its output there as a *dataset*: a sub-folder of Parquet files, one file per page, with a
small fixed schema (a key column plus JSON text). XCom carries only the dataset's path and
counts, so records never travel through Airflow's metadata database, and a step reads and
writes one page at a time, so memory stays bounded however large the import is.

The staging root must be reachable by every worker (a shared volume in production).
"""
from __future__ import annotations

import json
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
]

_UNSAFE = re.compile(r"[^A-Za-z0-9_.-]+")


def safe_name(value: str) -> str:
    """A file-system-safe form of a task name or Airflow run id (``manual__2026-...+00:00``)."""
    cleaned = _UNSAFE.sub("_", str(value)).strip("._")
    return cleaned[:180] or "run"


def run_dir(staging_root: str | Path, task_name: str, run_id: str) -> Path:
    """``<root>/<task>/<run>/``, created."""
    path = Path(staging_root) / safe_name(task_name) / safe_name(run_id)
    path.mkdir(parents=True, exist_ok=True)
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
        self.pages += 1
        import pyarrow as pa
        import pyarrow.parquet as pq

        arrays = [pa.array([_text(r.get(c)) for r in rows], type=pa.string()) for c in self.columns]
        table = pa.Table.from_arrays(arrays, schema=self.schema)
        tmp = self.path / f".page-{self.pages:05d}.parquet.tmp"
        pq.write_table(table, tmp, compression="zstd")
        tmp.rename(self.path / f"page-{self.pages:05d}.parquet")  # never a half-written page
        self.rows += len(rows)

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

    def iter_pages(self, columns: list[str] | None = None) -> Iterator[list[dict[str, Any]]]:
        for file in self.files():
            import pyarrow.parquet as pq

            yield pq.read_table(file, columns=columns).to_pylist()

    def iter_rows(self, columns: list[str] | None = None) -> Iterator[dict[str, Any]]:
        for page in self.iter_pages(columns):
            yield from page

    def count(self) -> int:
        import pyarrow.parquet as pq

        return sum(pq.ParquetFile(f).metadata.num_rows for f in self.files())


def cleanup_old_runs(staging_root: str | Path, task_name: str, keep: int = 5, older_than_s: float = 86400.0) -> int:
    """Remove a task's staged runs beyond the newest ``keep`` that are older than a day."""
    base = Path(staging_root) / safe_name(task_name)
    if not base.is_dir():
        return 0
    runs = sorted((p for p in base.iterdir() if p.is_dir()), key=lambda p: p.stat().st_mtime, reverse=True)
    removed = 0
    now = time.time()
    for path in runs[keep:]:
        if now - path.stat().st_mtime > older_than_s:
            shutil.rmtree(path, ignore_errors=True)
            removed += 1
    return removed
