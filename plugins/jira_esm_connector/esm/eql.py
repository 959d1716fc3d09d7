"""A tiny EQL (Efecte Query Language) builder that always escapes values.

ESM filters look like ``$status$ = '02 - Solving' and $updated$ > '2024-01-01'``:
attribute codes between dollar signs, string literals between single quotes. A value
is never pasted into a filter by hand; it goes through :func:`eql_quote`, which doubles
any single quote inside it (``O'Brien`` -> ``'O''Brien'``) and any backslash (EQL reads
``\\'`` as an escaped quote, so a trailing backslash could otherwise swallow the closing
quote), so no value can end the literal early and widen the query. Attribute codes
are checked against a strict pattern instead, because they cannot be quoted.

    >>> eql_and(eq("status", "Open"), ne("owner", "O'Brien"))
    "($status$ = 'Open') and ($owner$ <> 'O''Brien')"
"""
from __future__ import annotations

import re
from datetime import date, datetime, timezone
from typing import Any

from ..bounded import short_repr

__all__ = [
    "eql_quote",
    "eql_attr",
    "eq",
    "ne",
    "gt",
    "lt",
    "eql_and",
    "eql_or",
    "eql_not",
    "any_of",
]

_ATTRIBUTE_CODE = re.compile(r"^[A-Za-z_][A-Za-z0-9_.\-]*$")


def eql_quote(value: Any) -> str:
    """Return ``value`` as an EQL string literal, quotes escaped.

    Strings, numbers, dates and datetimes are accepted (datetimes are written in UTC as
    ``YYYY-MM-DDTHH:MM:SSZ``; naive ones are taken to be UTC). ``None`` and other types
    are refused: a filter on "nothing" is almost always a bug upstream.
    """
    if isinstance(value, bool):
        text = "true" if value else "false"
    elif isinstance(value, datetime):
        if value.tzinfo is not None:
            value = value.astimezone(timezone.utc).replace(tzinfo=None)
        text = value.strftime("%Y-%m-%dT%H:%M:%SZ")
    elif isinstance(value, date):
        text = value.isoformat()
    elif isinstance(value, (str, int, float)):
        text = str(value)
    else:
        raise TypeError(f"cannot put a {type(value).__name__} into an EQL filter")
    if "\x00" in text:
        raise ValueError("EQL values cannot contain NUL characters")
    return "'" + text.replace("\\", "\\\\").replace("'", "''") + "'"


def eql_attr(code: str) -> str:
    """Return ``$code$`` after checking that ``code`` is a plain attribute code."""
    if not isinstance(code, str) or not _ATTRIBUTE_CODE.match(code):
        raise ValueError(f"not a valid ESM attribute code for a filter: {short_repr(code)}")
    return f"${code}$"


def _compare(code: str, op: str, value: Any) -> str:
    return f"{eql_attr(code)} {op} {eql_quote(value)}"


def eq(code: str, value: Any) -> str:
    """``$code$ = 'value'``"""
    return _compare(code, "=", value)


def ne(code: str, value: Any) -> str:
    """``$code$ <> 'value'``"""
    return _compare(code, "<>", value)


def gt(code: str, value: Any) -> str:
    """``$code$ > 'value'`` (dates and numbers)"""
    return _compare(code, ">", value)


def lt(code: str, value: Any) -> str:
    """``$code$ < 'value'`` (dates and numbers)"""
    return _compare(code, "<", value)


def _join(op: str, parts: tuple[str, ...]) -> str:
    parts = tuple(p for p in parts if p)
    if not parts:
        raise ValueError(f"eql_{op.strip()} needs at least one condition")
    if len(parts) == 1:
        return parts[0]
    return f" {op} ".join(f"({p})" for p in parts)


def eql_and(*conditions: str) -> str:
    """All conditions, each parenthesised."""
    return _join("and", conditions)


def eql_or(*conditions: str) -> str:
    """Any of the conditions, each parenthesised."""
    return _join("or", conditions)


def eql_not(condition: str) -> str:
    """``not (condition)``"""
    if not condition:
        raise ValueError("eql_not needs a condition")
    return f"not ({condition})"


def any_of(code: str, values: Any) -> str:
    """``($code$ = 'a') or ($code$ = 'b') ...`` for a non-empty collection of values."""
    values = list(values)
    if not values:
        raise ValueError("any_of needs at least one value")
    return eql_or(*(eq(code, v) for v in values))
