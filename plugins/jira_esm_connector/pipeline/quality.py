"""Data-quality gate: the task's great-expectations (GX Core) expectations, run in-process
on the transformed batch (a pandas DataFrame with one column per ESM attribute plus
``__key__``, the record's key, so failures name the records).

GX is imported only here and only when a task declares expectations: importing it takes
seconds, far too slow for DAG parsing.

Batches are validated in chunks of :data:`CHUNK_ROWS` rows to keep memory bounded;
column-value expectations are exact, table-level ones (row counts, uniqueness across the
whole batch) apply per chunk when an import is larger than one chunk.
"""
from __future__ import annotations

import logging
import threading
from dataclasses import dataclass, field
from typing import Any

__all__ = ["CHUNK_ROWS", "KEY_COLUMN", "QualityFailure", "QualityError", "validate_frame"]

CHUNK_ROWS = 100_000
KEY_COLUMN = "__key__"
log = logging.getLogger("jira_esm_connector.pipeline")
_lock = threading.Lock()
_context: Any = None
_counter = 0


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
        args = ", ".join(f"{k}={v!r}" for k, v in self.kwargs.items())
        text = f"{self.expectation}({args})"
        if self.error:
            return f"{text}: could not be evaluated: {self.error}"
        if self.failing_keys:
            shown = ", ".join(self.failing_keys[:max_keys])
            more = f" and {self.failing_count - max_keys} more" if self.failing_count > max_keys else ""
            return f"{text}: {self.failing_count} record(s) failed: {shown}{more}"
        if self.observed is not None:
            return f"{text}: failed (observed value {self.observed!r})"
        return f"{text}: failed"


class QualityError(RuntimeError):
    """The transformed batch failed expectations; nothing is loaded."""

    def __init__(self, task: str, failures: list[QualityFailure]) -> None:
        self.task = task
        self.failures = failures
        lines = [f"Data quality check failed for task '{task}': nothing was loaded to ESM."]
        lines += [f"  - {f.describe()}" for f in failures]
        super().__init__("\n".join(lines))


def _get_context() -> Any:
    global _context
    if _context is None:
        # GX logs pages of INFO lines about itself; task logs need only our summary
        logging.getLogger("great_expectations").setLevel(logging.WARNING)
        import great_expectations as gx

        _context = gx.get_context(mode="ephemeral")
        try:
            from great_expectations.data_context.types.base import ProgressBarsConfig

            _context.variables.progress_bars = ProgressBarsConfig(globally=False)
        except Exception:  # noqa: BLE001 - cosmetic only
            pass
    return _context


def _expectation(name: str, class_name: str, kwargs: dict[str, Any]) -> Any:
    import great_expectations.expectations as gxe

    cls = getattr(gxe, class_name, None)
    if cls is None:
        raise ValueError(f"great-expectations has no expectation {class_name} ({name})")
    return cls(**kwargs)


def validate_frame(frame: Any, expectations: list[Any]) -> list[QualityFailure]:
    """Run ``expectations`` (task ``quality`` entries: ``.name``, ``.class_name``,
    ``.kwargs``) on ``frame``; return the failures (empty when all passed)."""
    if not expectations:
        return []
    import great_expectations as gx

    global _counter
    with _lock:  # GX contexts are not thread safe
        ctx = _get_context()
        _counter += 1
        n = _counter
        source = ctx.data_sources.add_pandas(f"batch_{n}")
        try:
            asset = source.add_dataframe_asset("records")
            definition = asset.add_batch_definition_whole_dataframe("all")
            batch = definition.get_batch(batch_parameters={"dataframe": frame})
            suite = gx.ExpectationSuite(name=f"suite_{n}")
            configs = []
            for exp in expectations:
                try:
                    suite.add_expectation(_expectation(exp.name, exp.class_name, dict(exp.kwargs)))
                    configs.append(exp)
                except Exception as exc:  # noqa: BLE001 - bad kwargs: say so plainly
                    raise ValueError(f"quality expectation {exp.name}{dict(exp.kwargs)!r} is invalid: {exc}") from None
            index_cols = [KEY_COLUMN] if KEY_COLUMN in frame.columns else []
            result = batch.validate(
                suite, result_format={"result_format": "COMPLETE", "unexpected_index_column_names": index_cols}
            )
        finally:
            try:
                ctx.data_sources.delete(f"batch_{n}")
            except Exception:  # noqa: BLE001
                pass
    failures: list[QualityFailure] = []
    for item in result.results:
        if item.success:
            continue
        cfg = item.expectation_config
        kwargs = {k: v for k, v in (cfg.kwargs or {}).items() if k not in ("batch_id",)}
        res = item.result or {}
        info = item.exception_info or {}
        error = info.get("exception_message") if info.get("raised_exception") else None
        keys: list[str] = []
        for entry in res.get("unexpected_index_list") or []:
            if isinstance(entry, dict) and KEY_COLUMN in entry:
                keys.append(str(entry[KEY_COLUMN]))
        failures.append(
            QualityFailure(
                expectation=cfg.type,
                kwargs=kwargs,
                failing_keys=keys,
                failing_count=int(res.get("unexpected_count") or len(keys)),
                observed=res.get("observed_value"),
                error=error,
            )
        )
    return failures
