"""Escaping values for JQL so that no payload can widen a query (SPEC §6)."""
from __future__ import annotations

from collections.abc import Iterable

_ESCAPES = {"\\": "\\\\", '"': '\\"', "'": "\\'", "\n": "\\n", "\r": "\\r", "\t": "\\t"}


def jql_quote(value: str | int) -> str:
    """Return ``value`` as one quoted JQL string literal.

    Backslashes and quotes are escaped, so ``x" OR project != "Y`` stays a single value.
    Other control characters are refused (they have no business in a JQL value).

    >>> jql_quote('SUP-1')
    '"SUP-1"'
    >>> jql_quote('a" OR key != "b')
    '"a\\\\" OR key != \\\\"b"'
    """
    if isinstance(value, bool) or not isinstance(value, (str, int)):
        raise TypeError(f"JQL values must be strings or integers, not {type(value).__name__}")
    text = str(value)
    out = []
    for ch in text:
        if ch in _ESCAPES:
            out.append(_ESCAPES[ch])
        elif ord(ch) < 32 or ord(ch) == 127:
            raise ValueError(f"control character U+{ord(ch):04X} is not allowed in a JQL value")
        else:
            out.append(ch)
    return '"' + "".join(out) + '"'


def jql_list(values: Iterable[str | int]) -> str:
    """``("a", "b")`` for ``IN`` / ``NOT IN``; refuses an empty list (``IN ()`` is invalid JQL)."""
    quoted = [jql_quote(v) for v in values]
    if not quoted:
        raise ValueError("an IN list needs at least one value")
    return "(" + ", ".join(quoted) + ")"
