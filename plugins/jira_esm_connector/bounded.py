"""Bounded text for messages: a value quoted in an error must never be unbounded.

A task file may hold a 1 MiB string or a deeply nested value; an error message (and its
repr in a log line or the Airflow UI) must stay one readable line. No dependencies, so
both the task-file models and the mapping specs can use it.
"""
from __future__ import annotations

import reprlib
from typing import Any, Collection, Iterable

__all__ = ["MAX_REPR", "cut", "short_repr", "shown_key", "unknown_keys"]

MAX_REPR = 200

# reprlib never builds the full repr of a big nested value (plain repr() would walk it all).
_repr = reprlib.Repr()
_repr.maxlevel = 3
_repr.maxstring = MAX_REPR
_repr.maxother = MAX_REPR
_repr.maxlong = 60
for _attr in ("maxdict", "maxlist", "maxtuple", "maxset", "maxfrozenset", "maxdeque", "maxarray"):
    setattr(_repr, _attr, 8)


def cut(text: str, limit: int) -> str:
    """``text`` if it fits in ``limit`` characters, else its start ending in "…"."""
    return text if len(text) <= limit else text[: limit - 1] + "…"


def short_repr(value: Any, limit: int = MAX_REPR) -> str:
    """``repr(value)`` bounded to ``limit`` characters (ending in "…" when cut)."""
    if isinstance(value, str):
        # reprlib cuts long strings in the middle ('abc...xyz'); the start reads better
        return cut(repr(value[: limit + 1]), limit)
    try:
        text = _repr.repr(value)
    except Exception:  # noqa: BLE001 - a broken __repr__ must not hide the real error
        text = f"<{type(value).__name__}>"
    return cut(text, limit)


def shown_key(key: object, limit: int = 60) -> str:
    """A key for an error message: as it is when it is short, printable text; otherwise its
    repr (control characters visible), cut to ``limit`` characters."""
    text = str(key)
    if text and len(text) <= limit and text.isprintable() and text.strip() == text:
        return text
    shown = repr(text)
    return shown if len(shown) <= limit else shown[: limit - 4] + "...'"


def unknown_keys(keys: Iterable[object], allowed: Collection[str], *, listed: int = 10) -> str | None:
    """The ``keys`` not in ``allowed`` as an error names them -- sorted, each as
    :func:`shown_key` shows it, at most ``listed`` ("a, b and 3 more") -- or ``None``."""
    unknown = sorted(shown_key(k) for k in keys if k not in allowed)
    if not unknown:
        return None
    shown = ", ".join(unknown[:listed])
    return shown + (f" and {len(unknown) - listed} more" if len(unknown) > listed else "")
