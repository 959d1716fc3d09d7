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
from collections.abc import Iterable, Iterator
from datetime import date, datetime, timezone
from typing import Any
from urllib.parse import quote_plus

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
    "any_of_batches",
    "MAX_FILTER_CHARS",
]

# ESM offers no POST search: a filter travels in the GET query string. Common servers in
# front of ESM refuse request lines / headers beyond 8 KiB (Tomcat's maxHttpHeaderSize,
# nginx's large_client_header_buffers), which the token and the rest of the URL share; a
# filter is therefore kept at most this long once URL-encoded.
MAX_FILTER_CHARS = 6500

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


def any_of_batches(
    code: str, values: Iterable[Any], *, within: str | None = None, max_chars: int = MAX_FILTER_CHARS,
    max_values: int = 200,
) -> Iterator[tuple[list[Any], str]]:
    """Look-up filters for many values, as few as fit: ``(values, filter)`` pairs where the
    filter is ``$code$ = 'a' or $code$ = 'b' ...`` (and-ed with ``within`` when given) and at
    most ``max_chars`` long URL-encoded, with at most ``max_values`` values. A value too long
    to share a filter goes alone."""
    attr = eql_attr(code)
    base = len(quote_plus(f"({within}) and ()")) if within else 0
    batch: list[Any] = []
    terms: list[str] = []
    size = base
    for value in values:
        term = f"{attr} = {eql_quote(value)}"
        cost = len(quote_plus(term)) + (len("+or+") if terms else 0)
        if terms and (size + cost > max_chars or len(terms) >= max_values):
            yield batch, _batch_filter(terms, within)
            batch, terms, size = [], [], base
            cost = len(quote_plus(term))
        batch.append(value)
        terms.append(term)
        size += cost
    if terms:
        yield batch, _batch_filter(terms, within)


def _batch_filter(terms: list[str], within: str | None) -> str:
    # comparisons bind tighter than "or": no parentheses needed around each (shorter URLs)
    either = " or ".join(terms)
    return eql_and(within, either) if within else either
