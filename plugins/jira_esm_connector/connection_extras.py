"""Reading a connection's extra fields, shared by the Jira and ESM hooks.

Airflow stores UI extra fields by plain name (``verify``); forms of older Airflow
versions used ``extra__<conn_type>__<name>``: both are accepted. Bad values give a plain
error naming the field, never the value of a secret field (these are not secrets).
"""
from __future__ import annotations

from typing import Any

_TRUE = {"1", "true", "yes", "on", "y", "t"}
_FALSE = {"0", "false", "no", "off", "n", "f", ""}


def extra_value(extras: dict[str, Any], name: str, conn_type: str) -> Any:
    for key in (name, f"extra__{conn_type}__{name}"):
        if key in extras and extras[key] not in (None, ""):
            return extras[key]
    return None


def extra_bool(value: Any, name: str, default: bool, *, service: str) -> bool:
    if value is None:
        return default
    if isinstance(value, bool):
        return value
    text = str(value).strip().lower()
    if text in _TRUE:
        return True
    if text in _FALSE:
        return False
    raise ValueError(f"{service} connection extra '{name}' must be true or false, not {str(value)[:20]!r}")


def extra_seconds(value: Any, name: str, default: float, *, service: str) -> float:
    if value in (None, ""):
        return default
    try:
        seconds = float(value)
    except (TypeError, ValueError):
        raise ValueError(f"{service} connection extra '{name}' must be a number of seconds, not {str(value)[:20]!r}") from None
    if seconds <= 0:
        raise ValueError(f"{service} connection extra '{name}' must be more than 0 seconds")
    return seconds
