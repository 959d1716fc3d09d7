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
from typing import Any, Callable
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from ..bounded import short_repr

__all__ = [
    "ESM_DATE_FORMAT",
    "ESM_DATETIME_FORMAT",
    "parse_jira_datetime",
    "to_esm_date",
    "to_esm_datetime",
    "esm_datetime_formatter",
    "date_formatter",
    "get_zone",
]

ESM_DATE_FORMAT = "%Y-%m-%d"
ESM_DATETIME_FORMAT = "%Y-%m-%dT%H:%M:%SZ"

def _offset(moment: date, colon: bool, z_for_zero: bool, minutes: bool = True) -> str:
    delta = moment.utcoffset() if isinstance(moment, datetime) else None
    if delta is None:
        return ""
    total = int(delta.total_seconds()) // 60
    if total == 0 and z_for_zero:
        return "Z"
    sign, total = ("-", -total) if total < 0 else ("+", total)
    hours, mins = divmod(total, 60)
    if not minutes:
        return f"{sign}{hours:02d}"
    return f"{sign}{hours:02d}{':' if colon else ''}{mins:02d}"


def _java_field(letter: str, n: int, fmt: str) -> Callable[[datetime], str]:
    """One Java ``SimpleDateFormat`` field: a pattern letter repeated ``n`` times (numbers
    are zero-padded to ``n`` digits; ``n`` = 1 pads nothing)."""
    def number(get: Callable[[datetime], int]) -> Callable[[datetime], str]:
        return lambda d: f"{get(d):0{n}d}"

    if letter == "y":
        return (lambda d: f"{d.year % 100:02d}") if n == 2 else number(lambda d: d.year)
    if letter == "M":
        if n >= 3:
            names = "%B" if n >= 4 else "%b"
            return lambda d: d.strftime(names)
        return number(lambda d: d.month)
    if letter == "E":
        days = "%A" if n >= 4 else "%a"
        return lambda d: d.strftime(days)
    numbers: dict[str, Callable[[datetime], int]] = {
        "d": lambda d: d.day, "H": lambda d: d.hour, "h": lambda d: d.hour % 12 or 12,
        "m": lambda d: d.minute, "s": lambda d: d.second,
        "S": lambda d: d.microsecond // 1000,  # milliseconds, as in Java
    }
    if letter in numbers:
        return number(numbers[letter])
    if letter == "a":
        return lambda d: "AM" if d.hour < 12 else "PM"
    if letter == "X" and n <= 3:  # X +03, XX +0300, XXX +03:00; Z at offset zero
        return lambda d: _offset(d, colon=n == 3, z_for_zero=True, minutes=n > 1)
    if letter == "Z":
        return lambda d: _offset(d, colon=False, z_for_zero=False)
    if letter == "z":
        return lambda d: d.strftime("%Z")
    raise ValueError(
        f"the date pattern {short_repr(fmt)} uses '{letter * n}', which the connector does not know "
        "(Java pattern letters it knows: y M d E H h m s S a X Z z; put literal text in single quotes, "
        "or give a strftime pattern with %)"
    )


@lru_cache(maxsize=256)
def date_formatter(fmt: str) -> Callable[[date], str]:
    """``fn(datetime or date) -> text`` for ``fmt``: a strftime pattern (contains ``%``) as
    is, or a Java ``SimpleDateFormat``-style one (``dd.MM.yyyy HH:mm``, ``d.M.yyyy``,
    ``yyyy-MM-dd'T'HH:mm:ss.SSSXXX``; text in single quotes is literal, ``''`` a quote).
    A letter it does not know is a ValueError (the task-file check reports it)."""
    if "%" in fmt:
        return lambda d: d.strftime(fmt)
    parts: list[Any] = []
    i = 0
    while i < len(fmt):
        char = fmt[i]
        if char == "'":
            end = fmt.find("'", i + 1)
            if end < 0:
                raise ValueError(f"the date pattern {short_repr(fmt)} has an unclosed quote")
            parts.append(fmt[i + 1:end] or "'")
            i = end + 1
        elif char.isascii() and char.isalpha():
            n = 1
            while i + n < len(fmt) and fmt[i + n] == char:
                n += 1
            parts.append(_java_field(char, n, fmt))
            i += n
        else:
            parts.append(char)
            i += 1
    return lambda d: "".join(p if isinstance(p, str) else p(d) for p in parts)


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
    zone = get_zone(tz)
    dt = parse_jira_datetime(value, assume=zone)  # a date-only value: midnight of that day in the zone
    if dt is None:
        return None
    fmt = fmt or ESM_DATETIME_FORMAT
    local = dt.astimezone(zone)
    if fmt == ESM_DATETIME_FORMAT and zone is not timezone.utc:
        # The literal "Z" would lie about a non-UTC zone: give the real offset instead.
        return local.isoformat(timespec="seconds")
    return date_formatter(fmt)(local)


def esm_datetime_formatter(fmt: str | None = None, tz: str | None = None) -> Callable[[object], str | None]:
    """:func:`to_esm_datetime` with ``fmt`` and ``tz`` resolved once (a mapping applies the
    same ones to every record): ``fn(value)`` gives what ``to_esm_datetime(value, fmt, tz)``
    gives."""
    zone = get_zone(tz)
    pattern = fmt or ESM_DATETIME_FORMAT
    default_pattern = pattern == ESM_DATETIME_FORMAT
    formatter = date_formatter(pattern)
    with_offset = default_pattern and zone is not timezone.utc

    def convert(value: object) -> str | None:
        dt = parse_jira_datetime(value, assume=zone)
        if dt is None:
            return None
        local = dt.astimezone(zone)
        if with_offset:
            return local.isoformat(timespec="seconds")
        if default_pattern and local.year >= 1000:
            # the text strftime writes for the default pattern in UTC ('+00:00' -> 'Z'), at a
            # fraction of its cost; strftime writes years before 1000 unpadded, so it does those
            return local.isoformat(timespec="seconds")[:-6] + "Z"
        return formatter(local)

    return convert


def to_esm_date(value: object, fmt: str | None = None, tz: str | None = None) -> str | None:
    """Jira value -> ESM date string. A date-only value is kept as that calendar day;
    a datetime is first converted to zone ``tz`` (default UTC), then its date taken."""
    if value is None or value == "":
        return None
    formatter = date_formatter(fmt or ESM_DATE_FORMAT)
    if isinstance(value, str) and len(value.strip()) == 10:
        day = date.fromisoformat(value.strip()) if _is_iso_date(value.strip()) else None
        if day is not None:
            return formatter(day)
    if isinstance(value, date) and not isinstance(value, datetime):
        return formatter(value)
    dt = parse_jira_datetime(value)
    assert dt is not None
    return formatter(dt.astimezone(get_zone(tz)))


def _is_iso_date(text: str) -> bool:
    try:
        date.fromisoformat(text)
        return True
    except ValueError:
        return False
