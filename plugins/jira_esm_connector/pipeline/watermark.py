"""Incremental imports: the watermark clause added to a task's JQL.

The clause is ``updated >= <epoch milliseconds>``: an instant, not a wall-clock time.
A ``"yyyy/MM/dd HH:mm"`` value would be read in the *calling user's* time zone, and at
the autumn clock change an hour of local times happens twice (Europe/Helsinki
2024-10-27 03:00-04:00), so Jira may read the later of the two and skip an hour of
changes; epoch milliseconds have no zone and no such hour. The stored watermark (UTC,
taken from the data) is still floored to the minute and moved back by an overlap
(default one minute): records at the boundary are fetched twice at worst -- harmless,
the task cache drops the duplicates -- and never missed.
"""
from __future__ import annotations

from datetime import datetime, timedelta, timezone

__all__ = ["NEWEST_FIRST", "ORDER", "watermark_jql", "jql_epoch_ms", "watermark_since"]


def jql_epoch_ms(moment: datetime) -> str:
    """``moment`` as JQL epoch milliseconds (unquoted), e.g. ``1732860000000``."""
    if moment.tzinfo is None:
        raise ValueError("the watermark must be time-zone aware")
    return str(int(moment.timestamp() * 1000))


def watermark_since(watermark: datetime, overlap_minutes: int = 1) -> datetime:
    """The instant the incremental run fetches from: watermark floored to the minute,
    minus the overlap (UTC)."""
    return watermark.astimezone(timezone.utc).replace(second=0, microsecond=0) - timedelta(minutes=overlap_minutes)


# Oldest change first: a record changed while the run pages through the result moves
# behind the cursor's position and is read again (harmless), never skipped.
ORDER = "ORDER BY updated ASC, key ASC"
# The newest change first: the first issue of this ordering is an incremental run's
# watermark candidate (one request; see pipeline.extract).
NEWEST_FIRST = "ORDER BY updated DESC, key DESC"


def watermark_jql(
    jql: str, watermark: datetime | None, overlap_minutes: int = 1, *, order: str = ORDER, also: str | None = None,
) -> str:
    """The task's JQL, restricted to what changed since ``watermark`` (minus the overlap) --
    or matches ``also`` (a JQL clause: issues to list whatever their change time) --, with
    the connector's ordering (or ``order``). A task's JQL never has its own ``ORDER BY``:
    the task model refuses it (``config/scheduled.py``)."""
    where = jql.strip()
    if watermark is None:
        return f"{where} {order}" if where else order
    clause = f"updated >= {jql_epoch_ms(watermark_since(watermark, overlap_minutes))}"
    if also:
        clause = f"({clause} OR {also})"
    combined = f"({where}) AND {clause}" if where else clause
    return f"{combined} {order}"
