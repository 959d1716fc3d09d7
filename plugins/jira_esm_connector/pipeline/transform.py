"""Transform: apply the task's mapping to every extracted record, then the quality gate.

Output dataset ``<run>/transform/``: one row per record with ``key``, ``fingerprint`` (of
exactly what would be written to ESM, references still as keys) and ``data`` (the ESM
attributes as JSON; references as ``{"$reference": ...}`` markers the load step resolves).
Comment imports also carry ``issue_key`` (whose card receives the worklog entry).

A record that cannot be mapped (or has no key) stops the run before anything is loaded,
like a failed expectation: nothing Jira returned is silently dropped.
"""
from __future__ import annotations

import hashlib
import json
import logging
from pathlib import Path
from typing import Any

from ..mapping import Reference, compile_attributes, fingerprint
from ..mapping.engine import MappingError
from .results import ExtractResult, TransformResult
from .quality import CHUNK_ROWS, KEY_COLUMN, QualityError, QualityGate
from .staging import FILE_ROWS, Dataset, DatasetWriter, location

__all__ = [
    "transform", "TransformError", "TRANSFORM_COLUMNS", "encode_data", "decode_data", "encode_with_fingerprint",
]

log = logging.getLogger("jira_esm_connector.pipeline")
TRANSFORM_COLUMNS = ("key", "fingerprint", "data", "issue_key", "updated")
_MAX_LISTED = 50


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


def encode_data(data: dict[str, Any]) -> str:
    return json.dumps(_jsonable(data), ensure_ascii=False, sort_keys=True, separators=(",", ":"), default=str)


_PLAIN_SCALARS = frozenset({str, int, float, bool, type(None), Reference})


def _plain(value: Any) -> bool:
    """Only JSON types (exactly, no subclasses), text dict keys and references: for such a
    value the stored text and the fingerprint's canonical text are one and the same string."""
    kind = type(value)
    if kind is dict:
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
    return encode_data(data), fingerprint(data)


def _revive(value: Any) -> Any:
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


def transform(
    task: Any,
    extracted: ExtractResult,
    run_path: str | Path,
    *,
    settings: Any = None,
    logger: logging.Logger | logging.LoggerAdapter | None = None,
    chunk_rows: int = CHUNK_ROWS,
) -> TransformResult:
    """Map the staged extract of this run; run the quality gate (``chunk_rows`` rows at a
    time); stage the result.

    Returns ``{"dataset", "transformed", "quality_checked"}``. Raises
    :class:`TransformError` or :class:`~.quality.QualityError` (nothing is loaded).
    """
    lg = logger or log
    attributes = task.effective_attributes
    apply = compile_attributes(attributes, options=task.mapping_options(settings))
    key_attr = task.key.esm if task.key is not None else None
    is_comment = task.mapping_type == "comment"
    writer = DatasetWriter(location(run_path) / "transform", TRANSFORM_COLUMNS, page_rows=FILE_ROWS)
    problems: list[tuple[str, str]] = []  # the first _MAX_LISTED (the error lists no more)
    problem_count = 0
    expectations = list(task.quality or [])
    columns = list(dict.fromkeys([KEY_COLUMN, *attributes, *([key_attr] if key_attr else [])]))
    # chunked, bounded memory; exact for every expectation (see quality.QualityGate)
    gate = QualityGate(expectations, columns, chunk_rows=chunk_rows, convert=_frame_value) if expectations else None
    for page in Dataset(extracted["dataset"]).iter_pages():
        out = []
        for row in page:
            if row["record"] is None:
                continue  # carried by a full run (pipeline/carry.py): unchanged, not read again
            record = json.loads(row["record"])
            key = row["key"]
            if key is None:
                problem_count += 1
                _note(problems, ("(no key)", f"the key path '{task.record_key_path}' is empty in this record"))
                continue
            try:
                data = apply(record)
            except MappingError as exc:
                problem_count += 1
                _note(problems, (key, str(exc)))
                continue
            if key_attr:
                data[key_attr] = key
            issue_key = str(record.get("issue", {}).get("key")) if is_comment else None
            text, digest = encode_with_fingerprint(data)
            out.append({"key": key, "fingerprint": digest, "data": text, "issue_key": issue_key, "updated": row["updated"]})
            if gate is not None:  # reads only the columns its expectations need
                gate.add({KEY_COLUMN: key, **data})
        writer.write_page(out)
    if problem_count:
        raise TransformError(task.name, problems, problem_count)
    if gate is not None:
        failures = gate.finish()  # an empty batch is validated too (row-count expectations)
        if failures:
            error = QualityError(task.name, failures)
            lg.error("%s", error)
            raise error
        lg.info("Data quality: %d expectation(s) passed on %d record(s).", len(expectations), writer.rows)
    dataset = writer.close()
    lg.info("Transformed %d record(s) with %d mapped attribute(s).", writer.rows, len(attributes))
    return {"dataset": str(dataset.path), "transformed": writer.rows, "quality_checked": bool(expectations)}
