"""Data-quality gate: the task's great-expectations (GX Core) expectations, run in-process
on the transformed batch (pandas DataFrames with one column per ESM attribute plus
``__key__``, the record's key, so failures name the records).

GX is imported only here and only when a task declares expectations: importing it takes
seconds, far too slow for DAG parsing.

Memory stays bounded whatever the batch size, and every expectation keeps the meaning it has
on the whole batch (:class:`QualityGate`):

* **row-wise** expectations (``expect_column_values_to_match_regex``, ``..._to_be_in_set``,
  ``..._to_not_be_null``, column pairs, multicolumn sums, ...) run on chunks of
  :data:`CHUNK_ROWS` rows holding the key and the columns they read; their counts are added
  up over the chunks and ``mostly`` is decided on the totals exactly as GX decides it on one
  frame (``_mostly_success``);
* **schema** expectations (column count, column names, ``expect_column_to_exist``) look
  only at the columns, which every chunk has: they run on the first chunk;
* **whole-column** expectations (uniqueness, increasing/decreasing, z-scores, types, and
  column or table aggregates: min/max/mean/median/quantiles/sum/stdev, distinct values,
  proportions, row counts, ...) run once at the end on a compact frame holding only the
  column(s) they name plus the record key -- not the whole batch.

The one difference from GX on one frame: the row-wise expectations that read each value as
text (regexes, lengths, date and JSON parsing) see each value as it is -- an integer reads
"1" -- where one pandas frame reads an integer column holding an empty value anywhere as
floats ("1.0"); chunks would otherwise judge such a column by where they split.
"""
from __future__ import annotations

import json
import logging
import threading
from dataclasses import dataclass, field
from typing import Any, Callable, Iterable, Mapping

from ..bounded import short_repr
from ..config.expectations import READ_AS_TEXT, ROW_WISE, SCHEMA_ONLY, named_columns

__all__ = [
    "CHUNK_ROWS", "KEY_COLUMN", "QualityFailure", "QualityError", "QualityGate", "validate_frame",
    "ROW_WISE", "SCHEMA_ONLY",
]

CHUNK_ROWS = 10_000
KEY_COLUMN = "__key__"
MAX_KEYS_KEPT = 1_000  # failing record keys remembered per expectation (the count is exact)
log = logging.getLogger("jira_esm_connector.pipeline")
_lock = threading.Lock()
_context: Any = None
_definition: Any = None
_counter = 0
_NAN = float("nan")

# ROW_WISE / SCHEMA_ONLY: the categories of config/expectations.py's one table; every other
# known expectation needs whole columns (uniqueness, order, types, aggregates, row counts).


@dataclass
class QualityFailure:
    """One failed expectation: what it is and which records broke it."""

    expectation: str
    kwargs: dict[str, Any]
    failing_keys: list[str] = field(default_factory=list)
    failing_count: int = 0
    observed: Any = None
    error: str | None = None

    def describe(self, max_keys: int = 20) -> str:
        args = ", ".join(f"{k}={short_repr(v)}" for k, v in self.kwargs.items())
        text = f"{self.expectation}({args})"
        if self.error:
            return f"{text}: could not be evaluated: {self.error}"
        if self.failing_keys:
            shown = ", ".join(self.failing_keys[:max_keys])
            more = f" and {self.failing_count - max_keys} more" if self.failing_count > max_keys else ""
            return f"{text}: {self.failing_count} record(s) failed: {shown}{more}"
        if self.observed is not None:
            return f"{text}: failed (observed value {short_repr(self.observed)})"
        return f"{text}: failed"

    def to_dict(self) -> dict[str, Any]:
        """JSON for a verdict reached in another step (:class:`..transform.TransformAhead`):
        :meth:`from_dict` gives a failure that describes itself in the same words. The observed
        value is kept as shown (bounded): an aggregate may observe a whole column."""
        return {
            "expectation": self.expectation,
            "kwargs": json.loads(json.dumps(self.kwargs, default=str)),
            "failing_keys": list(self.failing_keys),
            "failing_count": self.failing_count,
            "observed": None if self.observed is None else short_repr(self.observed),
            "error": self.error,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> "QualityFailure":
        observed = data.get("observed")
        return cls(
            expectation=str(data["expectation"]), kwargs=dict(data.get("kwargs") or {}),
            failing_keys=[str(k) for k in data.get("failing_keys") or []],
            failing_count=int(data.get("failing_count") or 0),
            observed=None if observed is None else _Shown(str(observed)), error=data.get("error"),
        )


class _Shown:
    """An observed value read back as it was shown: its repr is that text."""

    __slots__ = ("text",)

    def __init__(self, text: str) -> None:
        self.text = text

    def __repr__(self) -> str:
        return self.text


class QualityError(RuntimeError):
    """The transformed batch failed expectations; nothing is loaded."""

    def __init__(self, task: str, failures: list[QualityFailure]) -> None:
        self.task = task
        self.failures = failures
        lines = [f"Data quality check failed for task '{task}': nothing was loaded to ESM."]
        lines += [f"  - {f.describe()}" for f in failures]
        super().__init__("\n".join(lines))


def _gx() -> Any:
    """The great-expectations package, its loggers quietened *before* the first import: GX
    logs some 200 INFO lines about itself while it loads; task logs need only our summary."""
    logging.getLogger("great_expectations").setLevel(logging.WARNING)
    import great_expectations as gx

    # a few of its modules set their own logger to INFO ("Created temporary directory ... for
    # ephemeral docs site" on every context): those too
    for name, child in list(logging.Logger.manager.loggerDict.items()):
        if name.startswith("great_expectations.") and isinstance(child, logging.Logger) \
                and logging.NOTSET < child.level < logging.WARNING:
            child.setLevel(logging.WARNING)
    return gx


def _get_context() -> Any:
    global _context
    if _context is None:
        gx = _gx()
        _context = gx.get_context(mode="ephemeral")
        try:
            from great_expectations.data_context.types.base import ProgressBarsConfig

            _context.variables.progress_bars = ProgressBarsConfig(globally=False)
        except Exception:  # noqa: BLE001 - cosmetic only
            pass
    return _context


def _batch_definition() -> Any:
    """The one in-memory dataframe batch definition every validation goes through (under
    ``_lock``). Each frame is its own batch; adding and deleting a data source per frame made
    GX write its whole project config out twice per chunk."""
    global _definition
    if _definition is None:
        source = _get_context().data_sources.add_pandas("jira_esm_records")
        _definition = source.add_dataframe_asset("records").add_batch_definition_whole_dataframe("all")
    return _definition


def _expectation(name: str, class_name: str, kwargs: dict[str, Any], index: int) -> Any:
    import great_expectations.expectations as gxe

    cls = getattr(gxe, class_name, None)
    if cls is None:
        raise ValueError(f"great-expectations has no expectation {class_name} ({name})")
    try:
        # meta carries the expectation's position in the task file back from the results
        return cls(**kwargs, meta={"jira_esm_index": index})
    except Exception as exc:  # noqa: BLE001 - bad kwargs: say so plainly
        raise ValueError(f"quality expectation {name}{short_repr(kwargs)} is invalid: {exc}") from None


def _run(frame: Any, indexed: list[tuple[int, Any]]) -> list[tuple[int, Any]]:
    """Validate ``frame`` against ``(index, expectation)`` pairs; GX results by index. The
    schema expectations see the ESM attributes only: ``KEY_COLUMN`` is the gate's own (it
    names failing records), so a column set or count written from the mapping must not
    count it."""
    schema = [pair for pair in indexed if pair[1].name in SCHEMA_ONLY]
    if schema and KEY_COLUMN in frame.columns:
        rest = [pair for pair in indexed if pair[1].name not in SCHEMA_ONLY]
        return _validate(frame, rest) + _validate(frame.drop(columns=[KEY_COLUMN]), schema)
    return _validate(frame, indexed)


def _validate(frame: Any, indexed: list[tuple[int, Any]]) -> list[tuple[int, Any]]:
    if not indexed:
        return []
    gx = _gx()
    global _counter
    with _lock:  # GX contexts are not thread safe
        _counter += 1
        batch = _batch_definition().get_batch(batch_parameters={"dataframe": frame})
        suite = gx.ExpectationSuite(name=f"suite_{_counter}")
        for i, exp in indexed:
            suite.add_expectation(_expectation(exp.name, exp.class_name, dict(exp.kwargs), i))
        index_cols = [KEY_COLUMN] if KEY_COLUMN in frame.columns else []
        result = batch.validate(
            suite, result_format={"result_format": "COMPLETE", "unexpected_index_column_names": index_cols}
        )
    out = []
    for item in result.results:
        meta = item.expectation_config.meta or {}
        out.append((int(meta.get("jira_esm_index", -1)), item))
    return out


def _kwargs(item: Any) -> dict[str, Any]:
    cfg = item.expectation_config
    return {k: v for k, v in (cfg.kwargs or {}).items() if k not in ("batch_id",)}


def _error(item: Any) -> str | None:
    info = item.exception_info or {}
    if info.get("raised_exception"):
        return info.get("exception_message") or "error"
    # a metric that could not be computed (a column the frame does not have) is reported
    # per metric: {metric id: {"raised_exception": True, "exception_message": ...}}
    for nested in info.values():
        if isinstance(nested, dict) and nested.get("raised_exception"):
            return nested.get("exception_message") or "error"
    return None


def _keys(res: Mapping[str, Any], limit: int | None = None) -> list[str]:
    keys: list[str] = []
    for entry in res.get("unexpected_index_list") or []:
        if isinstance(entry, dict) and KEY_COLUMN in entry:
            keys.append(str(entry[KEY_COLUMN]))
            if limit is not None and len(keys) >= limit:
                break
    return keys


def _failure(item: Any) -> QualityFailure:
    res = item.result or {}
    keys = _keys(res)
    return QualityFailure(
        expectation=item.expectation_config.type,
        kwargs=_kwargs(item),
        failing_keys=keys,
        failing_count=int(res.get("unexpected_count") or len(keys)),
        observed=_plain_scalar(res.get("observed_value")),
        error=_error(item),
    )


def _plain_scalar(value: Any) -> Any:
    """A numpy scalar as the Python value it holds: messages read ``2024.0``, not ``np.float64(2024.0)``."""
    if getattr(value, "shape", None) == () and hasattr(value, "item"):
        return value.item()
    return value


def validate_frame(frame: Any, expectations: list[Any]) -> list[QualityFailure]:
    """Run ``expectations`` (task ``quality`` entries: ``.name``, ``.class_name``,
    ``.kwargs``) on one whole ``frame``; return the failures (empty when all passed)."""
    results = _run(frame, list(enumerate(expectations)))
    return [_failure(item) for _, item in sorted(results, key=lambda r: r[0]) if not item.success]


def columns_needed(kwargs: Mapping[str, Any], all_columns: Iterable[str]) -> list[str] | None:
    """The frame columns an expectation reads (``column``, ``column_A``/``column_B``,
    ``column_list``); ``None`` = all of them (a ``row_condition`` may name any column)."""
    if kwargs.get("row_condition"):
        return None
    present = set(all_columns)
    # a column the frame does not have is left to GX to report, as on the whole frame
    return [c for c in dict.fromkeys(column for _, column in named_columns(kwargs)) if c in present]


@dataclass
class _RowWiseTotals:
    """Counts of one row-wise expectation over the chunks seen so far."""

    item: Any = None  # the last chunk's GX result (type, kwargs)
    element_count: int = 0
    nonnull_count: int = 0
    unexpected_count: int = 0
    keys: list[str] = field(default_factory=list)
    error: str | None = None

    def add(self, item: Any) -> None:
        self.item = item
        error = _error(item)
        if error:
            self.error = self.error or error
            return
        res = item.result or {}
        if not item.success and not res.get("unexpected_count"):
            # failed without saying which records: never let the totals pass it
            self.error = self.error or "failed without counting unexpected values"
            return
        elements = int(res.get("element_count") or 0)
        self.element_count += elements
        missing = res.get("missing_count")
        # null checks report no missing_count: there every row counts (GX divides by rows)
        self.nonnull_count += elements - int(missing or 0)
        self.unexpected_count += int(res.get("unexpected_count") or 0)
        if len(self.keys) < MAX_KEYS_KEPT:
            self.keys += _keys(res, MAX_KEYS_KEPT - len(self.keys))

    def failure(self, mostly: float) -> QualityFailure | None:
        if self.item is None:
            return None
        base = dict(expectation=self.item.expectation_config.type, kwargs=_kwargs(self.item))
        if self.error:
            return QualityFailure(**base, error=self.error)
        if self.element_count == 0 or self.nonnull_count == 0 or self.unexpected_count == 0:
            return None  # vacuously true, as GX decides it
        ratio = (float(self.nonnull_count) - float(self.unexpected_count)) / float(self.nonnull_count)
        if ratio >= mostly:
            return None
        return QualityFailure(**base, failing_keys=self.keys, failing_count=self.unexpected_count)


class QualityGate:
    """Validates a batch fed one record at a time (:meth:`add`), in bounded memory.

    ``columns`` are the frame's columns (``KEY_COLUMN`` first). :meth:`finish` returns the
    failures in the order the expectations are declared. ``convert`` (optional) is applied
    to each value the gate keeps.

    Only the columns the expectations read are kept: the chunk frames hold the key plus the
    columns of the row-wise expectations (all columns when a schema expectation or a
    ``row_condition`` needs them), and pandas infers each column's type from that column's
    values alone, so a narrower frame gives the same verdicts as the whole one. A shorter
    one does too: no row-wise expectation depends on whether a number column reads as ints
    or as floats, except those that read values as text, which get the values as they are
    (module docstring).
    """

    def __init__(
        self, expectations: list[Any], columns: list[str], *, chunk_rows: int = CHUNK_ROWS,
        convert: Callable[[Any], Any] | None = None,
    ) -> None:
        self.expectations = list(expectations)
        self.columns = list(columns)
        self.chunk_rows = max(1, int(chunk_rows))
        self.rows = 0
        self.chunks = 0
        self._convert = convert
        self._row_wise: list[tuple[int, Any]] = []
        self._schema: list[tuple[int, Any]] = []
        self._whole: list[tuple[int, Any]] = []
        for i, exp in enumerate(self.expectations):
            kind = self._row_wise if exp.name in ROW_WISE else self._schema if exp.name in SCHEMA_ONLY else self._whole
            kind.append((i, exp))
        # row-wise ones that read values as text get their own chunk frame (see _flush)
        self._as_text = [(i, exp) for i, exp in self._row_wise if exp.name in READ_AS_TEXT]
        self._as_read = [(i, exp) for i, exp in self._row_wise if exp.name not in READ_AS_TEXT]
        self._chunk_columns = self._frame_columns(self._row_wise, every=bool(self._schema)) \
            if self._row_wise or self._schema else []
        self._pending_rows = 0
        self._pending: dict[str, list[Any]] = {c: [] for c in self._chunk_columns}
        # the whole-column frame: the key (to name failing records) + the columns named
        self._whole_columns = self._frame_columns(self._whole) if self._whole else []
        self._whole_values: dict[str, list[Any]] = {c: [] for c in self._whole_columns}
        self._totals: dict[int, _RowWiseTotals] = {i: _RowWiseTotals() for i, _ in self._row_wise}
        self._schema_failures: list[tuple[int, QualityFailure]] = []

    def _frame_columns(self, indexed: list[tuple[int, Any]], every: bool = False) -> list[str]:
        """``KEY_COLUMN`` + the columns ``indexed`` read (all of them when one may read any)."""
        if every:
            return list(self.columns)
        named: list[str] = []
        for _, exp in indexed:
            needed = columns_needed(exp.kwargs, self.columns)
            named += [c for c in self.columns if c != KEY_COLUMN] if needed is None else needed
        return [KEY_COLUMN, *[c for c in dict.fromkeys(named) if c != KEY_COLUMN]]

    def add(self, row: Mapping[str, Any]) -> None:
        """One record: ``{KEY_COLUMN: key, <column>: value, ...}`` (a missing column is NaN,
        as in a DataFrame built from the rows)."""
        convert = self._convert
        for column, values in self._pending.items():
            value = row.get(column, _NAN)
            values.append(convert(value) if convert is not None else value)
        for column, values in self._whole_values.items():
            value = row.get(column, _NAN)
            values.append(convert(value) if convert is not None else value)
        self.rows += 1
        self._pending_rows += 1
        if self._pending_rows >= self.chunk_rows:
            self._flush()

    def _flush(self) -> None:
        import pandas as pd

        if not self._pending_rows:
            return
        self._pending_rows = 0
        schema = self._schema if self.chunks == 0 else []
        self.chunks += 1
        if not self._chunk_columns:
            return
        # column lists infer the same dtypes as the list of row dicts (see the class docstring)
        frame = pd.DataFrame(self._pending, columns=self._chunk_columns)
        results = _run(frame, self._as_read + schema)
        if self._as_text:
            # each value as it is: pandas would read an integer column holding an empty value
            # as floats ("1.0"), one without as ints ("1") -- a verdict by where chunks split
            as_text = pd.DataFrame({c: pd.Series(self._pending[c], dtype=object) for c in self._chunk_columns},
                                   columns=self._chunk_columns)
            results += _run(as_text, self._as_text)
            del as_text
        self._pending = {c: [] for c in self._chunk_columns}
        for i, item in results:
            if i in self._totals:
                self._totals[i].add(item)
            elif not item.success:
                self._schema_failures.append((i, _failure(item)))
        del frame

    def finish(self) -> list[QualityFailure]:
        """Validate what is left and the whole-column expectations; the failures."""
        import pandas as pd

        if self.rows == 0:  # an empty batch is validated as one (empty) frame, like GX would
            frame = pd.DataFrame([], columns=self.columns)
            return validate_frame(frame, self.expectations)
        self._flush()
        found: list[tuple[int, QualityFailure]] = list(self._schema_failures)
        for i, exp in self._row_wise:
            mostly = exp.kwargs.get("mostly", 1)
            failure = self._totals[i].failure(1.0 if mostly is None else float(mostly))
            if failure is not None:
                found.append((i, failure))
        if self._whole:
            frame = pd.DataFrame(self._whole_values, columns=self._whole_columns)
            self._whole_values = {}
            for i, item in _run(frame, self._whole):
                if not item.success:
                    found.append((i, _failure(item)))
        return [f for _, f in sorted(found, key=lambda p: p[0])]
