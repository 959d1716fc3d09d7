"""Staged files: how the import steps hand data to each other without XCom.

Every run gets its own folder ``<staging root>/<task name>/<run id>/``; each step writes
its output there as a *dataset*: a sub-folder of Parquet files, one file per page (extract:
one per answer from Jira; transform and diff gather pages into files of ``FILE_ROWS`` rows),
with a small fixed schema (a key column plus JSON text). XCom carries only the dataset's address
and counts, so records never travel through Airflow's metadata database, and a step reads
and writes one page at a time, so memory stays bounded however large the import is.

The staging root must be reachable by every worker, because each step may run on another
machine. It is either

* a local folder (``pathlib.Path``; the default, and a shared volume in production): the
  fast path, plain file I/O, a page becomes visible by an atomic rename; or
* any fsspec file system (``s3://``, ``gs://``, ...): the DAG factory builds an Airflow
  ``ObjectStoragePath`` from the settings (credentials from an Airflow connection) and
  passes it in; this module only needs its ``fs`` and ``path`` (no Airflow import here).
  Every read and write then goes through that file system: a page is one PUT (an object
  appears whole or not at all).

On both, a dataset's page list (``_pages.json``) is written after its last page, and a
reader reads the pages it lists, never a listing: object stores list by prefix and clients
cache listings, and an empty dataset still exists. Each writer stages into a folder of its
own (``<step>/attempt-<token>/``, the address its step returns), so neither a page nor the
page list that a superseded attempt of the step lands late (it passed its lease check just
before a retry took over) is ever part of the retry's dataset.

A dataset's address in XCom is a string: a local path, or the store's URL
(``s3://bucket/staging/<task>/<run>/extract``). A step on another worker turns it back
into a location with :func:`location`; the file system of a URL under a root given to this
process (:func:`location` of the root, which every step does first) is that root's --
with its connection's credentials -- else fsspec's default for the URL's scheme.
"""
from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import threading
import time
import uuid
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any, Union

# pyarrow is imported where pages are written or read: not when a DAG file is parsed

__all__ = [
    "Dataset",
    "DatasetWriter",
    "RemotePath",
    "StagingPath",
    "location",
    "read_text",
    "write_text",
    "run_dir",
    "safe_name",
    "cleanup_old_runs",
    "cleanup_unknown_tasks",
    "DEFAULT_RETENTION_HOURS",
    "FILE_ROWS",
]

# rows per file of the datasets transform and diff write (DatasetWriter's page_rows)
FILE_ROWS = 1_000

# Staged files hold personal data from Jira: keep them only as long as a retry of the run
# may still need them (Airflow retries back off up to 30 minutes, a few times).
DEFAULT_RETENTION_HOURS = 6.0

_UNSAFE = re.compile(r"[^A-Za-z0-9_.-]+")
_MAX_NAME = 180
_LOCAL_PROTOCOLS = ("", "file", "local")
_PAGE_LIST = "_pages.json"  # a dataset's pages: what its readers read
_LAST_USED = "_last_used"  # a run folder's retention clock there (folders have no mtime)


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


# --------------------------------------------------------------------------- locations


class RemotePath:
    """A file or folder on an fsspec file system: the file system plus the path on it.
    ``str()`` is its URL (what XCom carries); ``/`` joins like ``pathlib``."""

    __slots__ = ("fs", "path")

    def __init__(self, fs: Any, path: str) -> None:
        self.fs = fs
        self.path = path.rstrip("/") or path

    def __truediv__(self, name: str) -> RemotePath:
        return RemotePath(self.fs, f"{self.path}/{name}")

    @property
    def name(self) -> str:
        return self.path.rsplit("/", 1)[-1]

    def __str__(self) -> str:
        return self.fs.unstrip_protocol(self.path)

    def __repr__(self) -> str:
        return f"RemotePath({str(self)!r})"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, RemotePath) and other.fs is self.fs and other.path == self.path

    def __hash__(self) -> int:
        return hash((id(self.fs), self.path))


StagingPath = Union[Path, RemotePath]

# Roots handed to this process (URL -> file system), so the URL of a dataset under one is
# read with the root's file system -- and the root's credentials -- on any worker.
_ROOTS: dict[str, Any] = {}
_ROOTS_LOCK = threading.Lock()


def location(value: Any) -> StagingPath:
    """A staging root, run folder or dataset address as a :class:`Path` (local: the fast
    path) or a :class:`RemotePath`.

    ``value``: a ``Path`` or local path text; ``file://`` text; a path object with ``fs``
    and ``path`` (an Airflow ``ObjectStoragePath``, any UPath; remembered as a root); or a
    URL (``memory://...``, ``s3://...``), read with a remembered root's file system when
    it lies under one.
    """
    if isinstance(value, (Path, RemotePath)):
        return value
    if hasattr(value, "fs") and hasattr(value, "path"):
        protocol = getattr(value, "protocol", "") or ""
        if protocol in _LOCAL_PROTOCOLS:
            return Path(value.path)
        root = RemotePath(value.fs, value.path)
        with _ROOTS_LOCK:
            _ROOTS[str(root).rstrip("/")] = root.fs
        return root
    text = os.fspath(value) if not isinstance(value, str) else value
    scheme, sep, rest = text.partition("://")
    if not sep or "/" in scheme:
        return Path(text)
    if scheme in _LOCAL_PROTOCOLS:
        return Path(rest)
    return _remote_from_url(text.rstrip("/"))


def _remote_from_url(url: str) -> RemotePath:
    with _ROOTS_LOCK:
        roots = sorted(_ROOTS.items(), key=lambda item: len(item[0]), reverse=True)
    for prefix, fs in roots:
        if url == prefix or url.startswith(prefix + "/"):
            return RemotePath(fs, fs._strip_protocol(url))
    from fsspec.core import url_to_fs

    fs, path = url_to_fs(url)  # no root given to this process: the scheme's default credentials
    return RemotePath(fs, path)


def write_text(path: Any, text: str) -> None:
    """Write a small text file whole (never seen half-written)."""
    target = location(path)
    if isinstance(target, RemotePath):
        target.fs.pipe_file(target.path, text.encode("utf-8"))
        return
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = _temp_name(target)
    try:
        tmp.write_text(text, encoding="utf-8")
        tmp.replace(target)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


_TEMP = re.compile(r"\..+\.[0-9a-f]{12}\.tmp")  # a temp file of write_text (_temp_name)


def _temp_name(target: Path) -> Path:
    """A temp file of this writer's own for ``target``: two writers at once (a superseded
    attempt and its retry) must never write into, or rename, the other's half-written file.
    One a killed writer left behind is removed by :func:`cleanup_unknown_tasks`."""
    return target.with_name(f".{target.name}.{uuid.uuid4().hex[:12]}.tmp")


def read_text(path: Any) -> str:
    """A small text file's content (FileNotFoundError when it is not there)."""
    source = location(path)
    if isinstance(source, RemotePath):
        return source.fs.cat_file(source.path).decode("utf-8")
    return source.read_text(encoding="utf-8")


def _remove_tree(path: StagingPath) -> None:
    if isinstance(path, RemotePath):
        try:
            path.fs.rm(path.path, recursive=True)
        except FileNotFoundError:
            pass
    elif path.exists():
        shutil.rmtree(path)


def run_dir(staging_root: Any, task_name: str, run_id: str) -> StagingPath:
    """``<root>/<task>/<run>/``, created, and marked as in use now (every step of a run
    calls this, so the retention clock of a running run starts at its latest step)."""
    path = location(staging_root) / safe_name(task_name) / safe_name(run_id)
    if isinstance(path, RemotePath):
        path.fs.makedirs(path.path, exist_ok=True)  # a no-op on object stores
        write_text(path / _LAST_USED, repr(time.time()))
        return path
    path.mkdir(parents=True, exist_ok=True)
    os.utime(path)
    return path


# --------------------------------------------------------------------------- datasets


class DatasetWriter:
    """Writes rows page by page as ``<path>/attempt-<token>/page-00001-<token>.parquet``, ...
    (``<token>``: this writer's own), then that folder's page list at :meth:`close`; the
    dataset's address (``Dataset.path``, what XCom carries) is that attempt folder.

    ``columns`` are all strings (nullable). Re-running a step rewrites its dataset from
    scratch (``path`` is emptied first), and readers read only the pages the list names,
    in the folder the step's result names: an Airflow retry never sees a page or the page
    list of an earlier attempt, not even one that attempt lands after the retry began.

    ``page_rows``: pages given are gathered until they hold at least that many rows and
    written as one file (0: each page as given). Every file costs its reader an open and a
    Parquet footer, and load reads the diff dataset twice (bench/RESULTS.md, latency
    benchmark, third round: diff 1.4 -> 0.4 s at 100,000 issues, with the other changes there).
    """

    def __init__(self, path: Any, columns: Iterable[str], *, page_rows: int = 0) -> None:
        self.path = location(path)
        self.columns = list(columns)
        self.page_rows = int(page_rows)
        self._held: list[Any] = []  # pages not yet written (page_rows)
        self._held_rows = 0
        import pyarrow as pa

        self.schema = pa.schema([(c, pa.string()) for c in self.columns])
        _remove_tree(self.path)  # the datasets of earlier attempts of the step
        self._token = uuid.uuid4().hex[:8]
        self.path = self.path / f"attempt-{self._token}"
        if isinstance(self.path, RemotePath):
            self.path.fs.makedirs(self.path.path, exist_ok=True)
        else:
            self.path.mkdir(parents=True)
        self.pages = 0
        self.rows = 0
        self._page_list: list[dict[str, Any]] = []

    def write_page(self, rows: list[dict[str, Any]]) -> None:
        if not rows:
            return
        import pyarrow as pa

        arrays = [pa.array([cell_text(r.get(c)) for r in rows], type=pa.string()) for c in self.columns]
        self.write_table(pa.Table.from_arrays(arrays, schema=self.schema))

    def write_table(self, table: Any) -> None:
        """One page given as an Arrow table with (at least) this dataset's columns, e.g. a
        page read with :meth:`Dataset.iter_tables` and filtered: no detour through Python."""
        if table.num_rows == 0:
            return
        table = table.select(self.columns).cast(self.schema)
        self.rows += table.num_rows
        if self.page_rows > 1:
            self._held.append(table)
            self._held_rows += table.num_rows
            if self._held_rows >= self.page_rows:
                self._flush()
            return
        self._write_file(table)

    def _flush(self) -> None:
        if self._held:
            import pyarrow as pa

            table = self._held[0] if len(self._held) == 1 else pa.concat_tables(self._held)
            self._held, self._held_rows = [], 0
            self._write_file(table)

    def _write_file(self, table: Any) -> None:
        import pyarrow as pa
        import pyarrow.parquet as pq

        self.pages += 1
        name = f"page-{self.pages:05d}-{self._token}.parquet"
        # no dictionaries (keys, JSON texts: nearly all values differ) and no min/max
        # statistics (nothing filters on them): smaller files, written and read faster
        options = {"compression": "zstd", "use_dictionary": False, "write_statistics": False}
        if isinstance(self.path, RemotePath):
            buffer = pa.BufferOutputStream()
            pq.write_table(table, buffer, **options)
            self.path.fs.pipe_file((self.path / name).path, buffer.getvalue().to_pybytes())  # one PUT
        else:
            # a retry of the step empties the step's folder: an attempt it superseded writes
            # on, unseen, until its next lease check stops it (as on an object store)
            self.path.mkdir(parents=True, exist_ok=True)
            tmp = self.path / f".{name}.tmp"
            pq.write_table(table, tmp, **options)
            tmp.rename(self.path / name)  # never a half-written page
        self._page_list.append({"file": name, "rows": table.num_rows})

    def close(self) -> Dataset:
        self._flush()
        write_text(self.path / _PAGE_LIST, json.dumps({"pages": self._page_list, "rows": self.rows}))
        return Dataset(self.path)


def cell_text(value: Any) -> str | None:
    """What a dataset cell holds for ``value``: text as it is, anything else as canonical JSON."""
    if value is None or isinstance(value, str):
        return value
    return json.dumps(value, ensure_ascii=False, sort_keys=True, separators=(",", ":"), default=str)


class Dataset:
    """A staged dataset (folder of Parquet pages), read back page by page."""

    def __init__(self, path: Any) -> None:
        self.path = location(path)

    def __repr__(self) -> str:
        return f"Dataset({str(self.path)!r})"

    def _missing(self, page: str | None = None) -> FileNotFoundError:
        what = f"is incomplete (its page {page} is gone)" if page else "is missing"
        return FileNotFoundError(
            f"staged dataset {self.path} {what}: the staging root must be shared by all "
            "workers and kept until the run is over (was it cleaned up, or is this another machine?)"
        )

    def _page_list(self) -> list[dict[str, Any]]:
        try:
            return list(json.loads(read_text(self.path / _PAGE_LIST))["pages"])
        except FileNotFoundError:
            old = self._pages_before_lists()
            if old:
                return old
            raise self._missing() from None

    def _pages_before_lists(self) -> list[dict[str, Any]]:
        """The pages of a local dataset staged before datasets had page lists (a run in flight
        across the upgrade; their names have no token). A folder of pages with tokens but no
        list is a dataset being removed (or never closed): never read what is left of it."""
        if not isinstance(self.path, Path) or not self.path.is_dir():
            return []
        import pyarrow.parquet as pq

        files = sorted(self.path.glob("page-[0-9][0-9][0-9][0-9][0-9].parquet"))
        return [{"file": f.name, "rows": pq.ParquetFile(f).metadata.num_rows} for f in files]

    def files(self) -> list[StagingPath]:
        return [self.path / page["file"] for page in self._page_list()]

    def iter_tables(self, columns: list[str] | None = None) -> Iterator[Any]:
        """The pages as Arrow tables (for steps that filter pages without looking at every value)."""
        for file in self.files():
            import pyarrow as pa
            import pyarrow.parquet as pq

            # one file, read directly (read_table would set up a dataset scan for each); a
            # remote page is fetched whole with one GET
            try:
                source = pa.BufferReader(file.fs.cat_file(file.path)) if isinstance(file, RemotePath) else file
                with pq.ParquetFile(source) as parquet:
                    table = parquet.read(columns=columns, use_threads=False)
            except FileNotFoundError:
                raise self._missing(file.name) from None
            yield table  # the file is closed while the caller works on the page

    def key_set(self) -> set[str]:
        """Every record key the dataset holds, as text (reads the ``key`` column only)."""
        return {str(row["key"]) for row in self.iter_rows(columns=["key"]) if row["key"] is not None}

    def repeated_keys(self) -> tuple[dict[Any, int], int]:
        """(each key found on more than one row -> the number of its last row, counted from 0 in
        dataset order; how many rows are earlier copies). Reads the ``key`` column only. A run
        keeps a key's last record: an earlier copy written after it would bring older data back."""
        last: dict[Any, int] = {}
        repeated: dict[Any, int] = {}
        number = 0
        for table in self.iter_tables(columns=["key"]):
            for key in table.column("key").to_pylist():
                if key in last:
                    repeated[key] = number
                last[key] = number
                number += 1
        return repeated, number - len(last)

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
        return sum(int(page["rows"]) for page in self._page_list())


# --------------------------------------------------------------------------- retention


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


def _folders(path: StagingPath) -> list[StagingPath]:
    """The sub-folders of ``path`` (none when it does not exist); never symlinks."""
    if isinstance(path, RemotePath):
        path.fs.invalidate_cache(path.path)  # another worker may have written meanwhile
        try:
            entries = path.fs.ls(path.path, detail=True)
        except FileNotFoundError:
            return []
        return sorted(
            (RemotePath(path.fs, e["name"]) for e in entries if e.get("type") == "directory"),
            key=lambda p: p.path,
        )
    if not path.is_dir():
        return []
    return sorted(p for p in path.iterdir() if not p.is_symlink() and p.is_dir())


def _remote_idle_s(run: RemotePath, now: float) -> float:
    """Seconds since a remote run folder was last used: its ``_last_used`` mark, else the
    newest modification time of what is in it (a folder left half removed); nothing in it
    at all: nothing to keep. Unreadable: 0 (kept until a later cleanup can tell)."""
    try:
        return now - float(read_text(run / _LAST_USED))
    except FileNotFoundError:
        pass
    except Exception:  # noqa: BLE001 - keep what cannot be judged
        return 0.0
    try:
        files = run.fs.find(run.path)
        if not files:
            return float("inf")
        return now - max(run.fs.modified(f).timestamp() for f in files)
    except Exception:  # noqa: BLE001 - e.g. a file system without modification times
        return 0.0


def _run_idle_s(run: StagingPath, now: float) -> float:
    return _remote_idle_s(run, now) if isinstance(run, RemotePath) else _idle_s(run, now)


def cleanup_old_runs(
    staging_root: Any,
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
    base = location(staging_root) / safe_name(task_name)
    keep = safe_name(current_run) if current_run is not None else None
    retention = _retention_s(retention_hours)
    now = time.time()
    removed = 0
    for path in _folders(base):
        if path.name == keep:
            continue
        if _run_idle_s(path, now) > retention:
            if isinstance(path, RemotePath):
                _remove_tree(path)
            else:
                shutil.rmtree(path, ignore_errors=True)
            removed += 1
    return removed


def _task_idle_s(task: StagingPath, now: float) -> float:
    """A task folder is as idle as its most recently used run (local: the folder's mtime,
    which a new run folder in it moves)."""
    if not isinstance(task, RemotePath):
        return _idle_s(task, now)
    return min((_remote_idle_s(run, now) for run in _folders(task)), default=float("inf"))


def _remove_unknown_status_files(root: StagingPath, known: set[str], retention: float, now: float) -> None:
    """The status files of tasks that no longer exist, and the temp files of status writes
    that never ended (the writer was killed between writing and renaming; on an object
    store a file is one PUT, none are left), once idle beyond the retention."""
    status = root / "_status"
    if isinstance(status, RemotePath):
        status.fs.invalidate_cache(status.path)
        try:
            files = status.fs.ls(status.path, detail=False)
        except FileNotFoundError:
            return
        for name in files:
            file = RemotePath(status.fs, name)
            if file.name.endswith(".json") and file.name[:-5] not in known and _remote_idle_s(file, now) > retention:
                status.fs.rm_file(file.path)
        return
    if status.is_dir():
        for file in status.iterdir():
            if file.is_symlink() or not file.is_file():
                continue
            left = _TEMP.fullmatch(file.name) or (file.suffix == ".json" and file.stem not in known)
            if left and _idle_s(file, now) > retention:
                file.unlink(missing_ok=True)


def cleanup_unknown_tasks(
    staging_root: Any,
    known_task_names: Iterable[str],
    *,
    retention_hours: float | None = None,
) -> list[str]:
    """Remove the staged files (and status file) of tasks that no longer exist, and the
    temp files of status writes a killed process left behind (any task's).

    ``known_task_names`` are the names of every task file that loaded; call it only when
    the whole folder loaded (a broken file's task is unknown, not gone). A folder is also
    kept while it was used within the retention, so a task file renamed or removed by
    mistake for a moment loses nothing. Returns the removed folder names.
    """
    root = location(staging_root)
    known = {safe_name(n) for n in known_task_names}
    retention = _retention_s(retention_hours)
    now = time.time()
    removed: list[str] = []
    for path in _folders(root):
        # task folders never start with '_' or '.' (see safe_name): those are ours (_status)
        if path.name.startswith(("_", ".")) or path.name in known:
            continue
        if _task_idle_s(path, now) > retention:
            if isinstance(path, RemotePath):
                _remove_tree(path)
            else:
                shutil.rmtree(path, ignore_errors=True)
            removed.append(path.name)
    _remove_unknown_status_files(root, known, retention, now)
    return removed
