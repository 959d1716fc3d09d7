"""Schedules: cron/preset validation, shortest interval, and the vendor's scheduling table.

The table (SPEC §4, from the EPE vendor page) says how often an import of a given size
may run. It is written per number of users and per number of groups; generic and comment
imports use the users column (records per run).
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import TYPE_CHECKING

from croniter import CroniterBadDateError, croniter

from ..bounded import short_repr

if TYPE_CHECKING:  # pragma: no cover
    from .scheduled import ScheduledTask

__all__ = [
    "PRESETS",
    "SCHEDULING_TABLE",
    "SchedulingRow",
    "cron_expression",
    "validate_schedule",
    "shortest_interval",
    "longest_interval",
    "recommended_schedule",
    "suggest_cron",
    "schedule_warning",
]

# Airflow presets usable for imports (``@once``/``@continuous`` make no sense for them).
PRESETS: dict[str, str] = {
    "@hourly": "0 * * * *",
    "@daily": "0 0 * * *",
    "@midnight": "0 0 * * *",
    "@weekly": "0 0 * * 0",
    "@monthly": "0 0 1 * *",
    "@quarterly": "0 0 1 */3 *",
    "@yearly": "0 0 1 1 *",
    "@annually": "0 0 1 1 *",
}


def cron_expression(schedule: str) -> str:
    return PRESETS.get(schedule.strip(), schedule.strip())


def validate_schedule(schedule: str) -> str:
    """Return the schedule unchanged if valid; raise ValueError with a plain message."""
    text = schedule.strip()
    if text.startswith("@"):
        if text not in PRESETS:
            raise ValueError(f"unknown preset {short_repr(text)}; use one of {', '.join(PRESETS)} or a cron expression")
        return text
    if len(text.split()) != 5:
        raise ValueError(
            f"{short_repr(text)} is not a cron expression with 5 fields (minute hour day month weekday), "
            "e.g. '*/30 * * * *', or a preset such as '@hourly'"
        )
    if not croniter.is_valid(text):
        raise ValueError(f"{short_repr(text)} is not a valid cron expression, e.g. '*/30 * * * *'")
    try:  # valid, yet a day no month has (31 February): Airflow would never run the DAG
        croniter(text, datetime(2025, 1, 1, tzinfo=timezone.utc)).get_next(datetime)
    except CroniterBadDateError:
        raise ValueError(f"{short_repr(text)} never matches a date (a day its months do not have, such as "
                         "31 February): the task would never run") from None
    return text


def shortest_interval(schedule: str, *, start: datetime | None = None) -> timedelta:
    """Smallest gap between consecutive runs over the next ~8 days (enough for any
    daily/hourly pattern; weekly or sparser schedules give at least one gap)."""
    start = start or datetime(2025, 1, 6, tzinfo=timezone.utc)  # a Monday: deterministic
    it = croniter(cron_expression(schedule), start)
    prev = it.get_next(datetime)
    best: timedelta | None = None
    end = start + timedelta(days=8)
    for _ in range(3000):
        nxt = it.get_next(datetime)
        gap = nxt - prev
        if best is None or gap < best:
            best = gap
        prev = nxt
        if nxt > end:
            break
    assert best is not None
    return best


def longest_interval(schedule: str, *, start: datetime | None = None) -> timedelta:
    """Largest gap between consecutive runs: over at least ~8 days and two gaps, so a
    weekend pause, a monthly or a yearly schedule is seen whole."""
    start = start or datetime(2025, 1, 6, tzinfo=timezone.utc)  # a Monday: deterministic
    it = croniter(cron_expression(schedule), start)
    prev = it.get_next(datetime)
    longest = timedelta(0)
    end = start + timedelta(days=8)
    for gaps in range(1, 20_000):  # every minute for 8 days is 11,520 gaps
        nxt = it.get_next(datetime)
        longest = max(longest, nxt - prev)
        prev = nxt
        if nxt > end and gaps >= 2:
            break
    return longest


@dataclass(frozen=True)
class SchedulingRow:
    max_users: int | None  # None: the open-ended last row
    max_groups: int | None
    min_interval_full: timedelta
    min_interval_incremental: timedelta
    note: str = ""


SCHEDULING_TABLE: tuple[SchedulingRow, ...] = (
    SchedulingRow(500, 1000, timedelta(minutes=30), timedelta(minutes=10)),
    SchedulingRow(2000, 2000, timedelta(hours=1), timedelta(minutes=15)),
    SchedulingRow(5000, 3000, timedelta(hours=4), timedelta(minutes=15)),
    SchedulingRow(10000, 5000, timedelta(hours=12), timedelta(minutes=30)),
    SchedulingRow(50000, 7000, timedelta(hours=24), timedelta(hours=1)),
    SchedulingRow(
        None, None, timedelta(hours=24), timedelta(hours=1),
        "beyond the vendor's table: evaluate separately and consider more Airflow workers",
    ),
)


def _row(mapping_type: str, volume: int) -> SchedulingRow:
    for n, row in enumerate(SCHEDULING_TABLE):
        bound = row.max_groups if mapping_type == "group" else row.max_users
        if bound is None:
            return row
        # "up to 500 users" for the first row, "< N" for the others (vendor wording)
        if volume < bound or (n == 0 and volume <= bound):
            return row
    return SCHEDULING_TABLE[-1]


def recommended_schedule(mapping_type: str, volume: int) -> tuple[timedelta, timedelta]:
    """(shortest recommended interval for full imports, ... for incremental imports)."""
    row = _row(mapping_type, volume)
    return row.min_interval_full, row.min_interval_incremental


def suggest_cron(interval: timedelta) -> str:
    minutes = int(interval.total_seconds() // 60)
    if minutes < 60:
        return f"*/{minutes} * * * *"
    hours = minutes // 60
    if hours < 24:
        return "0 * * * *" if hours == 1 else f"0 */{hours} * * *"
    return "0 0 * * *"


def _human(interval: timedelta) -> str:
    minutes = int(interval.total_seconds() // 60)
    if minutes < 60:
        return f"{minutes} min"
    if minutes % 60 == 0:
        hours = minutes // 60
        return "1 hour" if hours == 1 else f"{hours} hours"
    return f"{minutes} min"


_UNIT = {"user": "users", "group": "groups", "generic": "records", "comment": "records"}


def schedule_warning(task: "ScheduledTask", volume: int | None) -> str | None:
    """A plain warning when ``task`` runs more often than its measured ``volume`` allows
    by the vendor's table, with a suggested schedule; ``None`` when all is well."""
    if volume is None or task.schedule is None:
        return None
    full, incremental = recommended_schedule(task.mapping_type, volume)
    recommended = full if task.mode == "full" else incremental
    row = _row(task.mapping_type, volume)
    actual = shortest_interval(task.schedule)
    unit = _UNIT.get(task.mapping_type, "records")
    if actual >= recommended:
        return (
            f"Task '{task.name}' imports {volume:,} {unit}: {row.note}." if row.note else None
        )
    message = (
        f"Task '{task.name}' runs every {_human(actual)} (schedule {short_repr(task.schedule)}), but with "
        f"{volume:,} {unit} in its last run the recommended interval for {task.mode} imports is at "
        f"least {_human(recommended)}; suggested schedule: {short_repr(suggest_cron(recommended))}."
    )
    if row.note:
        message += f" Note: {row.note}."
    return message
