"""Jira date/time values -> ESM date / datetime strings, time-zone correct.

Jira sends ``2024-05-01T10:15:30.123+0300`` (datetimes, always with an offset) and
``2024-05-01`` (date fields such as ``duedate``). The ESM REST API v1 takes dates as
``2021-03-24`` and datetimes as ``2021-03-24T10:57:57Z`` (UTC) — those are the defaults;
any other output format (strftime ``%d.%m.%Y %H:%M`` or Java-style ``dd.MM.yyyy HH:mm``)
and any IANA time zone can be configured per attribute or globally.
"""
from __future__ import annotations

import re
from datetime import date, datetime, timezone, tzinfo
from functools import lru_cache
from typing import Callable
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from ..bounded import short_repr

__all__ = [
    "ESM_DATE_FORMAT",
    "ESM_DATETIME_FORMAT",
    "parse_jira_datetime",
    "to_esm_date",
    "to_esm_datetime",
    "esm_datetime_formatter",
    "to_strftime",
    "get_zone",
]

ESM_DATE_FORMAT = "%Y-%m-%d"
ESM_DATETIME_FORMAT = "%Y-%m-%dT%H:%M:%SZ"

# Java SimpleDateFormat tokens -> strftime, longest first.
_JAVA_TOKENS = [
    ("yyyy", "%Y"), ("yy", "%y"), ("MMMM", "%B"), ("MMM", "%b"), ("MM", "%m"),
    ("dd", "%d"), ("HH", "%H"), ("hh", "%I"), ("mm", "%M"), ("ss", "%S"),
    ("SSS", "%f"), ("XXX", "%z"), ("Z", "%z"), ("a", "%p"), ("EEEE", "%A"), ("EEE", "%a"),
]
_JAVA_RE = re.compile("|".join(re.escape(t) for t, _ in _JAVA_TOKENS) + r"|'[^']*'")


@lru_cache(maxsize=256)
def to_strftime(fmt: str) -> str:
    """A strftime pattern (contains ``%``) as is; a Java-style pattern converted."""
    if "%" in fmt:
        return fmt
    table = dict(_JAVA_TOKENS)

    def repl(m: re.Match[str]) -> str:
        tok = m.group(0)
        if tok.startswith("'"):
            return tok[1:-1].replace("%", "%%") or "'"
        return table[tok]

    return _JAVA_RE.sub(repl, fmt)


@lru_cache(maxsize=64)
def get_zone(name: str | None) -> tzinfo:
    """``None``/``UTC``/``Z`` -> UTC, otherwise an IANA zone (``Europe/Helsinki``)."""
    if name is None or name.upper() in ("UTC", "Z", "GMT"):
        return timezone.utc
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise ValueError(f"unknown time zone {short_repr(name)} (use an IANA name such as 'Europe/Helsinki')") from exc


_OFFSET_NO_COLON = re.compile(r"([+-]\d{2})(\d{2})$")


def parse_jira_datetime(value: object, *, assume: tzinfo = timezone.utc) -> datetime | None:
    """Parse a Jira date/time into an aware datetime.

    Accepts ISO strings with or without offset (``+0300``, ``+03:00``, ``Z``), date-only
    strings (midnight in ``assume``), epoch numbers (seconds, or milliseconds when large),
    and ``datetime``/``date`` objects. Naive values are taken to be in ``assume``.
    Empty values give ``None``; anything unparseable raises ``ValueError``.
    """
    if value is None or value == "":
        return None
    if isinstance(value, datetime):
        dt = value
    elif isinstance(value, date):
        dt = datetime(value.year, value.month, value.day)
    elif isinstance(value, (int, float)) and not isinstance(value, bool):
        seconds = value / 1000 if abs(value) > 1e11 else value
        return datetime.fromtimestamp(seconds, tz=timezone.utc)
    elif isinstance(value, str):
        text = value.strip()
        if text.endswith("Z") or text.endswith("z"):
            text = text[:-1] + "+00:00"
        tail = text[-4:]
        if len(text) > 5 and text[-5] in "+-" and tail.isascii() and tail.isdigit():
            text = f"{text[:-2]}:{tail[2:]}"  # what the regex below does, without its cost
        else:
            text = _OFFSET_NO_COLON.sub(r"\1:\2", text)
        try:
            dt = datetime.fromisoformat(text)
        except ValueError:
            raise ValueError(f"not a Jira date/time: {short_repr(value)}") from None
    else:
        raise ValueError(f"not a Jira date/time: {short_repr(value)}")
    if dt.tzinfo is None:
        dt = dt.replace(tzinfo=assume)
    return dt


def to_esm_datetime(value: object, fmt: str | None = None, tz: str | None = None) -> str | None:
    """Jira value -> ESM datetime string in zone ``tz`` (default UTC) and format ``fmt``."""
    dt = parse_jira_datetime(value)
    if dt is None:
        return None
    zone = get_zone(tz)
    fmt = to_strftime(fmt or ESM_DATETIME_FORMAT)
    local = dt.astimezone(zone)
    if fmt == ESM_DATETIME_FORMAT and zone is not timezone.utc:
        # The literal "Z" would lie about a non-UTC zone: give the real offset instead.
        return local.isoformat(timespec="seconds")
    return local.strftime(fmt)


def esm_datetime_formatter(fmt: str | None = None, tz: str | None = None) -> Callable[[object], str | None]:
    """:func:`to_esm_datetime` with ``fmt`` and ``tz`` resolved once (a mapping applies the
    same ones to every record): ``fn(value)`` gives what ``to_esm_datetime(value, fmt, tz)``
    gives."""
    zone = get_zone(tz)
    pattern = to_strftime(fmt or ESM_DATETIME_FORMAT)
    default_pattern = pattern == ESM_DATETIME_FORMAT
    with_offset = default_pattern and zone is not timezone.utc

    def convert(value: object) -> str | None:
        dt = parse_jira_datetime(value)
        if dt is None:
            return None
        local = dt.astimezone(zone)
        if with_offset:
            return local.isoformat(timespec="seconds")
        if default_pattern and local.year >= 1000:
            # the text strftime writes for the default pattern in UTC ('+00:00' -> 'Z'), at a
            # fraction of its cost; strftime writes years before 1000 unpadded, so it does those
            return local.isoformat(timespec="seconds")[:-6] + "Z"
        return local.strftime(pattern)

    return convert


def to_esm_date(value: object, fmt: str | None = None, tz: str | None = None) -> str | None:
    """Jira value -> ESM date string. A date-only value is kept as that calendar day;
    a datetime is first converted to zone ``tz`` (default UTC), then its date taken."""
    if value is None or value == "":
        return None
    fmt = to_strftime(fmt or ESM_DATE_FORMAT)
    if isinstance(value, str) and len(value.strip()) == 10:
        day = date.fromisoformat(value.strip()) if _is_iso_date(value.strip()) else None
        if day is not None:
            return day.strftime(fmt)
    if isinstance(value, date) and not isinstance(value, datetime):
        return value.strftime(fmt)
    dt = parse_jira_datetime(value)
    assert dt is not None
    return dt.astimezone(get_zone(tz)).strftime(fmt)


def _is_iso_date(text: str) -> bool:
    try:
        date.fromisoformat(text)
        return True
    except ValueError:
        return False
