"""Transform: apply the task's mapping to every extracted record, then the quality gate.

Output dataset ``<run>/transform/``: one row per record with ``key``, ``fingerprint`` (of
exactly what would be written to ESM, references still as keys) and ``data`` (the ESM
attributes as JSON; references as ``{"$reference": ...}`` markers the load step resolves).
Comment imports also carry ``issue_key`` (whose card receives the worklog entry); generic
imports carry ``object_id``, the issue's id, which a move to another project, a project key
change or a change of the task's own key keeps (load re-keys the card instead of making a
second; removal asks Jira by it when the key is a custom field).

A record that cannot be mapped (or has no key) stops the run before anything is loaded,
like a failed expectation: nothing Jira returned is silently dropped.

**Mapped ahead.** Extract mostly waits on Jira's rate limit, so it maps each page as it
stages it (:class:`TransformAhead`, into ``<run>/transform_ahead/``), and feeds the quality
gate with the mapped records on a thread of its own (the gate's validations never hold back
extract's requests). Transform then only reads the gate's verdict -- when the dataset was
made from this very extract, with the same mapping and expectations (:func:`.carry.task_digest`:
the task file, the date settings, the connector's version), every record's data reads back
exactly as mapped (the gate must see the values transform would give it), and the gate ran
in chunks of the size transform asks for. Nothing is loaded before that verdict either way.
Otherwise, or when anything went wrong ahead, transform runs the gate (and if need be maps
everything) itself: the head start is an optimisation, never a second source of truth.
"""
from __future__ import annotations

import hashlib
import json
import logging
import threading
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from ..bounded import cut, short_repr, shown_key
from ..mapping import Reference, compile_attributes, fingerprint
from ..mapping.engine import MappingError
from ..mapping.paths import compile_path, get_path
from ..mapping.templates import whole_number
from ..state.schema import RECORD_KEY_MAX
from .carry import task_digest
from .results import ExtractResult, TransformResult, no_lease_check
from .quality import CHUNK_ROWS, KEY_COLUMN, QualityError, QualityFailure, QualityGate
from .staging import FILE_ROWS, Dataset, DatasetWriter, location, read_text, write_text

__all__ = [
    "transform", "TransformError", "TRANSFORM_COLUMNS", "encode_data", "decode_data", "encode_with_fingerprint",
    "RecordMapper", "TransformAhead", "AHEAD_FOLDER", "quality_gate",
]

log = logging.getLogger("jira_esm_connector.pipeline")
TRANSFORM_COLUMNS = ("key", "fingerprint", "data", "issue_key", "updated", "object_id")
_MAX_LISTED = 50
AHEAD_FOLDER = "transform_ahead"
_AHEAD_MANIFEST = "_ahead.json"  # written last: without it, nothing ahead is used
_GATE_PAGES_AHEAD = 64  # staged pages waiting for the gate at most (a chunk's validation is ~0.1 s)


class TransformError(RuntimeError):
    """Records that could not be mapped; nothing is loaded."""

    def __init__(self, task: str, problems: list[tuple[str, str]], total: int) -> None:
        self.problems = problems
        lines = [f"Task '{task}': {total} record(s) could not be mapped, so nothing was loaded to ESM:"]
        lines += [f"  - record {key}: {msg}" for key, msg in problems[:_MAX_LISTED]]
        if total > _MAX_LISTED:
            lines.append(f"  ... and {total - _MAX_LISTED} more")
        super().__init__("\n".join(lines))


def _jsonable(value: Any) -> Any:
    if isinstance(value, Reference):
        return value.to_dict()
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    if isinstance(value, dict):
        return {k: _jsonable(v) for k, v in value.items()}
    return value


# A Jira value (an app's custom field holds any JSON object) shaped like a stored reference
# marker is kept wrapped as {"$literal": value}: read back bare, it would become a reference
# and link the card to whatever card its keys name.
_LITERAL = "$literal"
_MARKER_KEYS = frozenset({"$reference", _LITERAL})


def _marker_shaped(value: Any) -> bool:
    return type(value) is dict and len(value) == 1 and next(iter(value)) in _MARKER_KEYS


def _escaped(data: dict[str, Any]) -> dict[str, Any]:
    """``data`` with each value (or list item) shaped like a stored marker wrapped as a literal;
    only the values :func:`decode_data` revives can be taken for one."""
    def escape(value: Any) -> Any:
        if _marker_shaped(value):
            return {_LITERAL: value}
        if isinstance(value, (list, tuple)):
            return [{_LITERAL: v} if _marker_shaped(v) else v for v in value]
        return value

    return {k: escape(v) for k, v in data.items()}


def encode_data(data: dict[str, Any]) -> str:
    return json.dumps(_jsonable(_escaped(data)), ensure_ascii=False, sort_keys=True, separators=(",", ":"),
                      default=str)


_PLAIN_SCALARS = frozenset({str, int, float, bool, type(None), Reference})


def _plain(value: Any) -> bool:
    """Only JSON types (exactly, no subclasses), text dict keys and references: for such a
    value the stored text and the fingerprint's canonical text are one and the same string."""
    kind = type(value)
    if kind is dict:
        if len(value) == 1 and next(iter(value)) in _MARKER_KEYS:
            return False  # a marker lookalike: escaped on the slower way
        for key, item in value.items():
            if type(key) is not str or (type(item) not in _PLAIN_SCALARS and not _plain(item)):
                return False
        return True
    if kind is list or kind is tuple:
        for item in value:
            if type(item) not in _PLAIN_SCALARS and not _plain(item):
                return False
        return True
    return kind in _PLAIN_SCALARS


def _reference_dict(value: Any) -> Any:
    if isinstance(value, Reference):
        return value.to_dict()
    raise TypeError(type(value).__name__)  # never reached for a _plain value


def encode_with_fingerprint(data: dict[str, Any]) -> tuple[str, str]:
    """``(encode_data(data), fingerprint(data))``, with one JSON encoding where both are
    the same text (the usual case: values straight from Jira JSON). Values where they
    differ (NaN, a date or datetime constant, non-text keys) take the two separate ways."""
    if _plain(data):
        try:
            text = json.dumps(
                data, ensure_ascii=False, sort_keys=True, separators=(",", ":"), allow_nan=False,
                default=_reference_dict,
            )
        except ValueError:  # NaN or infinity: stored as NaN, fingerprinted as null (or refused)
            pass
        else:
            return text, hashlib.sha256(text.encode("utf-8")).hexdigest()
    return encode_data(data), fingerprint(_escaped(data))


def _revive(value: Any) -> Any:
    if type(value) is dict and len(value) == 1 and _LITERAL in value:
        return value[_LITERAL]
    if Reference.is_reference_dict(value):
        return Reference.from_dict(value)
    if isinstance(value, list):
        return [_revive(v) for v in value]
    return value


def decode_data(text: str) -> dict[str, Any]:
    return {k: _revive(v) for k, v in json.loads(text).items()}


def _frame_value(value: Any) -> Any:
    """What the quality gate sees: reference keys instead of markers, lists as lists."""
    if isinstance(value, Reference):
        return value.keys[0] if len(value.keys) == 1 else (list(value.keys) or None)
    return value


def _note(problems: list[tuple[str, str]], problem: tuple[str, str]) -> None:
    if len(problems) < _MAX_LISTED:
        problems.append(problem)


def key_problem(key: str) -> str | None:
    """Why the connector cannot keep ``key`` (transform refuses such a record; load, as a
    guard, refuses it before ESM sees it), or None: longer than the state store keeps, or
    holding a NUL character, which no ESM filter can name (its card could be created once and
    never found again: every later run would fail, or write a second card)."""
    if "\x00" in key:
        return "holds a NUL character, which ESM's filter language (EQL) cannot hold"
    if len(key) <= RECORD_KEY_MAX:
        return None
    return f"is {len(key)} characters long; the connector's state database keeps keys of at most {RECORD_KEY_MAX}"


def object_key_problem(value: Any) -> str | None:
    """Why a record's key value cannot identify it, or None: a Jira object or list (a select
    option, a user picker) has no text of its own, and the Python repr taken for it gives every
    record holding the same option one key -- all but one of them would be lost."""
    if not isinstance(value, (dict, list, tuple)):
        return None
    what = "an object" if isinstance(value, dict) else "a list"
    return f"is {what} {short_repr(value)}, not a single value: pick one of its fields (a longer path such as fields.x.value)"


def record_key(record: Any, path: str) -> str | None:
    """The text of a record's key (at ``path``), None when it has none. A whole number Jira
    sends as a double (a number field: 13.0) is "13", as the ESM card holding it has it."""
    value = get_path(record, path)
    return None if value in (None, "") else str(whole_number(value))


def write_target(task: Any) -> str:
    """What a task file decides about where and how its records are written beyond the
    mapped attributes: the ESM connection, template, task-id stamp, removal attribute and
    re-activation, comment settings. Part of every fingerprint, so a change to any of them
    pushes every record again (as a cache clear does) -- else the cache would call every
    record unchanged and nothing would reach the new template, stamp or ESM."""
    removal = task.removal
    parts = {
        "esm": task.esm_conn_id, "template": task.template, "stamp": task.task_id_attribute,
        "removal": [removal.attribute, removal.value, removal.active_value, removal.reactivate] if removal else None,
        "comments": task.comments.model_dump(mode="json") if task.comments is not None else None,
    }
    return json.dumps(parts, sort_keys=True, default=str)


def cached_fingerprint(data_fingerprint: str, target: str, issue_key: str | None = None) -> str:
    """The fingerprint the task cache keeps for a record: its data's, with where the data
    goes -- the task's :func:`write_target` and, for a comment, its issue (a moved issue's
    comments must reach the card of its new key)."""
    return hashlib.sha256(f"{data_fingerprint}\x00{target}\x00{issue_key or ''}".encode("utf-8")).hexdigest()


# the account types that always have an e-mail address (User.accountType: "app" is a system account)
_ACCOUNTS_WITH_EMAIL = frozenset({"atlassian", "customer"})


def hidden_email_attributes(task: Any) -> Any:
    """For a user import: ``fn(record, data)`` that drops from ``data`` the attributes read
    from ``emailAddress`` when Jira hides it (an Atlassian account always has an address, and so
    does a Jira Service Management customer account, made from one; the person's privacy
    settings can keep Jira from showing it), so the card keeps the address it has instead of
    having it wiped; None for other imports or when no attribute reads it. An app account has
    no address: its attributes are written as mapped."""
    if task.mapping_type != "user":
        return None
    names = task.attributes_reading("emailAddress")  # a path or a template
    if not names:
        return None

    def drop(record: dict[str, Any], data: dict[str, Any]) -> None:
        if record.get("accountType") in _ACCOUNTS_WITH_EMAIL and not record.get("emailAddress"):
            for name in names:
                data.pop(name, None)

    return drop


class RecordMapper:
    """Applies a task's mapping to staged extract rows (``key``, ``record`` as staged JSON text
    -- ``None`` for a row a full run carried --, ``updated``): the one place that does, for
    :func:`transform` and for :class:`TransformAhead`. Records that cannot be mapped are
    counted (the first ``_MAX_LISTED`` kept with the reason), never dropped silently."""

    def __init__(self, task: Any, settings: Any = None) -> None:
        self.apply = compile_attributes(task.effective_attributes, options=task.mapping_options(settings))
        self.key_attr = task.key.esm if task.key is not None else None
        self.key_path = task.record_key_path
        self.key_value = compile_path(self.key_path)
        self.is_comment = task.mapping_type == "comment"
        # issue keys change (a move, a project key change), and so may a task's key (another
        # key path; a custom field edited): the id an issue keeps is carried along, so its card
        # is found and re-keyed rather than a second one made and the first marked removed
        self.with_object_id = task.mapping_type == "generic"
        self.drop_hidden = hidden_email_attributes(task)
        self.target = write_target(task)
        self.problems: list[tuple[str, str]] = []
        self.problem_count = 0

    def _problem(self, key: str, message: str) -> None:
        self.problem_count += 1
        _note(self.problems, (key, message))

    def map_page(self, page: list[dict[str, Any]]) -> Iterator[tuple[dict[str, Any], dict[str, Any]]]:
        """(transform row, the mapped data) for each row of ``page`` that maps."""
        for row in page:
            if row["record"] is None:
                continue  # carried by a full run (pipeline/carry.py): unchanged, not read again
            record = json.loads(row["record"])
            key = row["key"]
            if key is None:
                self._problem("(no key)", f"the key path '{self.key_path}' is empty in this record")
                continue
            unkeepable = object_key_problem(self.key_value(record)) or key_problem(key)
            if unkeepable:
                self._problem(shown_key(key), f"the key at '{self.key_path}' {unkeepable}")
                continue
            try:
                data = self.apply(record)
            except MappingError as exc:
                self._problem(key, str(exc))
                continue
            if self.drop_hidden is not None:
                self.drop_hidden(record, data)
            if self.key_attr:
                data[self.key_attr] = key
            issue_key = str(record.get("issue", {}).get("key")) if self.is_comment else None
            text, digest = encode_with_fingerprint(data)
            digest = cached_fingerprint(digest, self.target, issue_key)
            object_id = (str(record.get("id") or "").strip() or None) if self.with_object_id else None
            yield {"key": key, "fingerprint": digest, "data": text, "issue_key": issue_key, "updated": row["updated"],
                   "object_id": object_id}, data


def quality_gate(task: Any, chunk_rows: int = CHUNK_ROWS) -> QualityGate | None:
    """The gate of the task's expectations over its transformed records (None without any)."""
    expectations = list(task.quality or [])
    if not expectations:
        return None
    key_attr = task.key.esm if task.key is not None else None
    columns = list(dict.fromkeys([KEY_COLUMN, *task.effective_attributes, *([key_attr] if key_attr else [])]))
    # chunked, bounded memory; exact for every expectation (see quality.QualityGate)
    return QualityGate(expectations, columns, chunk_rows=chunk_rows, convert=_frame_value)


class TransformAhead:
    """Extract's head start on transform (see the module's docstring): each staged page is
    mapped into ``<run>/transform_ahead/`` and handed to the quality gate, which runs on a
    thread of its own, in page order. Mapping ahead stops (and transform maps everything) as
    soon as a record's data would not read back exactly as mapped; a gate that fails to run
    costs only the verdict (transform runs the gate itself). :meth:`close` writes the
    manifest that lets transform use the dataset and the verdict."""

    def __init__(self, task: Any, settings: Any, run_path: Any) -> None:
        self.mapper = RecordMapper(task, settings)
        self.digest = task_digest(task, settings)
        self.writer = DatasetWriter(location(run_path) / AHEAD_FOLDER, TRANSFORM_COLUMNS, page_rows=FILE_ROWS)
        self.usable = True
        self.gate = quality_gate(task)
        self.gate_error: BaseException | None = None
        # one worker: pages reach the gate in staging order; the semaphore bounds what waits
        self._checker = ThreadPoolExecutor(max_workers=1, thread_name_prefix="quality-ahead") if self.gate else None
        self._room = threading.BoundedSemaphore(_GATE_PAGES_AHEAD)

    def add_page(self, page: list[dict[str, Any]]) -> None:
        if not self.usable:
            return
        out, checked = [], []
        for row, data in self.mapper.map_page(page):
            if decode_data(row["data"]) != data:  # e.g. a tuple or a date: the gate would see other values
                self.usable = False
                self._stop_checking()
                return
            out.append(row)
            checked.append({KEY_COLUMN: row["key"], **data})
        self.writer.write_page(out)
        if self._checker is not None and self.gate_error is None:
            self._room.acquire()
            self._checker.submit(self._check, checked)

    def _check(self, rows: list[dict[str, Any]]) -> None:
        try:
            if self.gate_error is None:
                for row in rows:
                    self.gate.add(row)
        except BaseException as exc:  # noqa: BLE001 - reported by close(); transform runs the gate
            self.gate_error = exc
        finally:
            self._room.release()

    def _stop_checking(self) -> None:
        if self._checker is not None:
            self._checker.shutdown(wait=True, cancel_futures=True)
            self._checker = None

    def _verdict(self) -> dict[str, Any] | None:
        """The gate's verdict on every record mapped ahead, or None when it could not run."""
        if self.gate is None or self._checker is None:
            return None
        self._checker.shutdown(wait=True)
        self._checker = None
        if self.gate_error is None:
            try:
                failures = self.gate.finish()  # the whole-column expectations, then all verdicts
            except Exception as exc:  # noqa: BLE001 - as in _check
                self.gate_error = exc
        if self.gate_error is not None:
            log.warning("Could not run the data-quality checks while extracting (%s); the transform step "
                        "runs them.", self.gate_error)
            return None
        return {"expectations": len(self.gate.expectations), "chunk_rows": self.gate.chunk_rows,
                "rows": self.gate.rows, "failures": [f.to_dict() for f in failures]}

    def close(self, extracted_dataset: str, extracted_rows: int) -> None:
        verdict = self._verdict() if self.usable else None  # an unusable head start stopped its gate already
        dataset = self.writer.close()
        if self.usable:
            manifest = {
                "digest": self.digest, "extract": extracted_dataset, "extract_rows": extracted_rows,
                "rows": self.writer.rows, "problem_count": self.mapper.problem_count,
                "problems": [list(p) for p in self.mapper.problems], "quality": verdict,
                "dataset": str(dataset.path),
            }
            # in the extract attempt's own folder: a superseded attempt's manifest never replaces the retry's
            write_text(location(extracted_dataset) / _AHEAD_MANIFEST, json.dumps(manifest))


def _mapped_ahead(task: Any, extracted: ExtractResult, settings: Any, lg: Any) -> dict[str, Any] | None:
    """The manifest of what was mapped ahead of this extract (kept beside its pages) when
    transform may use that dataset, else None."""
    try:
        manifest = json.loads(read_text(location(extracted["dataset"]) / _AHEAD_MANIFEST))
    except FileNotFoundError:
        return None
    except ValueError as exc:
        lg.warning("The records mapped during extract cannot be used (%s); mapping them again.", exc)
        return None
    if (manifest.get("extract") != extracted["dataset"] or manifest.get("extract_rows") != extracted["fetched"]
            or manifest.get("digest") != task_digest(task, settings) or not manifest.get("dataset")):
        lg.info("The records mapped during extract were mapped for another extract or mapping; mapping them again.")
        return None
    return manifest


def transform(
    task: Any,
    extracted: ExtractResult,
    run_path: str | Path,
    *,
    settings: Any = None,
    logger: logging.Logger | logging.LoggerAdapter | None = None,
    chunk_rows: int = CHUNK_ROWS,
    guard: Callable[[], None] | None = None,
) -> TransformResult:
    """Map the staged extract of this run (or take what extract mapped ahead: see the
    module's docstring); run the quality gate (``chunk_rows`` rows at a time); stage the
    result. ``guard`` is called before each page and before the dataset is closed: the run
    lease's check, which raises once another attempt took the task over.

    Returns ``{"dataset", "transformed", "quality_checked", "carried"}``. Raises
    :class:`TransformError` or :class:`~.quality.QualityError` (nothing is loaded).
    """
    lg = logger or log
    guard = guard or no_lease_check
    attributes = task.effective_attributes
    expectations = list(task.quality or [])
    gate = quality_gate(task, chunk_rows)
    failures: list[QualityFailure] | None = None  # the gate's verdict, once there is one
    ahead = _mapped_ahead(task, extracted, settings, lg)
    if ahead is not None:
        if ahead["problem_count"]:
            raise TransformError(task.name, [tuple(p) for p in ahead["problems"]], ahead["problem_count"])
        dataset = Dataset(ahead["dataset"])
        rows = int(ahead["rows"])
        verdict = ahead.get("quality")
        if (gate is not None and verdict is not None and verdict.get("chunk_rows") == gate.chunk_rows
                and verdict.get("rows") == rows and verdict.get("expectations") == len(expectations)):
            failures = [QualityFailure.from_dict(f) for f in verdict["failures"]]
            lg.info("The data-quality checks ran on the %d record(s) while they were extracted.", rows)
        elif gate is not None:
            for page in dataset.iter_pages(["key", "data"]):
                guard()
                for row in page:
                    gate.add({KEY_COLUMN: row["key"], **decode_data(row["data"])})
        if rows:
            lg.info("The %d record(s) were mapped while they were extracted (same mapping): not mapped again.", rows)
    else:
        mapper = RecordMapper(task, settings)
        writer = DatasetWriter(location(run_path) / "transform", TRANSFORM_COLUMNS, page_rows=FILE_ROWS)
        for page in Dataset(extracted["dataset"]).iter_pages():
            guard()
            out = []
            for row, data in mapper.map_page(page):
                out.append(row)
                if gate is not None:  # reads only the columns its expectations need
                    gate.add({KEY_COLUMN: row["key"], **data})
            writer.write_page(out)
        if mapper.problem_count:
            raise TransformError(task.name, mapper.problems, mapper.problem_count)
        guard()
        dataset, rows = writer.close(), writer.rows
    if gate is not None:
        if failures is None:
            failures = gate.finish()  # an empty batch is validated too (row-count expectations)
        if failures:
            error = QualityError(task.name, failures)
            lg.error("%s", error)
            raise error
        lg.info("Data quality: %d expectation(s) passed on %d record(s).", len(expectations), rows)
    lg.info("Transformed %d record(s) with %d mapped attribute(s).", rows, len(attributes))
    return {"dataset": str(dataset.path), "transformed": rows, "quality_checked": bool(expectations),
            "carried": int(extracted.get("carried") or 0)}
