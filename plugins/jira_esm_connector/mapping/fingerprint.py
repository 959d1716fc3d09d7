"""Stable fingerprints of transformed records for the task cache."""
from __future__ import annotations

import hashlib
import json
import math
from datetime import date, datetime
from decimal import Decimal
from typing import Any

__all__ = ["canonical_json", "fingerprint"]


def _default(value: Any) -> Any:
    to_dict = getattr(value, "to_dict", None)
    if callable(to_dict):
        return to_dict()
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, (set, frozenset)):
        return sorted(value, key=lambda v: json.dumps(v, sort_keys=True, default=str))
    if isinstance(value, tuple):
        return list(value)
    # numpy / pandas scalars (records may come back from Parquet)
    item = getattr(value, "item", None)
    if callable(item):
        return item()
    raise TypeError(f"cannot fingerprint a value of type {type(value).__name__}")


def _normalize(value: Any) -> Any:
    # NaN (pandas' missing value) and None mean the same thing: no value.
    if isinstance(value, float) and math.isnan(value):
        return None
    if isinstance(value, dict):
        return {str(k): _normalize(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_normalize(v) for v in value]
    return value


def canonical_json(value: Any) -> str:
    """Canonical JSON: sorted keys, no whitespace, UTF-8 text, NaN as null."""
    return json.dumps(
        _normalize(value), sort_keys=True, separators=(",", ":"), ensure_ascii=False,
        default=_default, allow_nan=False,
    )


def fingerprint(record: Any) -> str:
    """sha256 hex digest of the record's canonical JSON; independent of key order."""
    return hashlib.sha256(canonical_json(record).encode("utf-8")).hexdigest()
