"""Incremental imports: the watermark clause added to a task's JQL.

Jira compares ``updated >= "yyyy/MM/dd HH:mm"`` in the *calling user's* time zone and only
to the minute, so the stored watermark (UTC, taken from the data) is converted to that
zone, floored to the minute and moved back by an overlap (default one minute). Records
at the boundary are then fetched twice at worst -- harmless, the task cache drops the
duplicates -- and never missed.
"""
from __future__ import annotations

from datetime import datetime, timedelta, timezone
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

__all__ = ["ORDER", "split_order_by", "watermark_jql", "jql_datetime", "user_zone"]


def user_zone(name: str | None):
    """The Jira user's zone from ``myself().timeZone``; UTC when missing or unknown."""
    if not name:
        return timezone.utc
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        return timezone.utc


def jql_datetime(moment: datetime, zone) -> str:
    """``"yyyy/MM/dd HH:mm"`` of ``moment`` in ``zone`` (quoted, ready for JQL)."""
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=timezone.utc)
    local = moment.astimezone(zone)
    return '"' + local.strftime("%Y/%m/%d %H:%M") + '"'


def split_order_by(jql: str) -> tuple[str, str]:
    """``("project = X", "ORDER BY key")`` -- finds ``ORDER BY`` outside quoted strings."""
    quote: str | None = None
    i = 0
    upper = jql.upper()
    while i < len(jql):
        ch = jql[i]
        if quote:
            if ch == "\\":
                i += 2
                continue
            if ch == quote:
                quote = None
        elif ch in ('"', "'"):
            quote = ch
        elif upper.startswith("ORDER", i) and (i == 0 or not (jql[i - 1].isalnum() or jql[i - 1] == "_")):
            rest = upper[i + 5 :]
            stripped = rest.lstrip()
            if stripped.startswith("BY") and len(rest) > len(stripped):
                return jql[:i].strip(), jql[i:].strip()
        i += 1
    return jql.strip(), ""


# Oldest change first: a record changed while the run pages through the result moves
# behind the cursor's position and is read again (harmless), never skipped.
ORDER = "ORDER BY updated ASC, key ASC"


def watermark_jql(jql: str, watermark: datetime | None, zone, overlap_minutes: int = 1) -> str:
    """The task's JQL, restricted to what changed since ``watermark`` (minus the overlap),
    with the connector's ordering (unless the JQL brings its own)."""
    where, order = split_order_by(jql)
    order = order or ORDER
    if watermark is None:
        return f"{where} {order}".strip() if where else order
    since = watermark.replace(second=0, microsecond=0) - timedelta(minutes=overlap_minutes)
    clause = f"updated >= {jql_datetime(since, zone)}"
    combined = f"({where}) AND {clause}" if where else clause
    return f"{combined} {order}".strip()
