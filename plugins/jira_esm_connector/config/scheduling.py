"""Schedules: cron/preset validation, shortest interval, and the vendor's scheduling table.

The table (SPEC §4, from the EPE vendor page) says how often an import of a given size
may run. It is written per number of users and per number of groups; generic and comment
imports use the users column (records per run).
"""
from __future__ import annotations

import heapq
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import TYPE_CHECKING, Any, Callable, Iterable, Iterator, Mapping

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
    "run_crons",
    "run_interval",
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


_START = datetime(2025, 1, 6, tzinfo=timezone.utc)  # a Monday: deterministic


def _fire_times(schedules: str | Iterable[str], start: datetime) -> Iterator[datetime]:
    """The instants any of ``schedules`` fires after ``start``, in order, each once (two
    crons firing at one minute start one run)."""
    crons = [schedules] if isinstance(schedules, str) else list(schedules)
    iters = [croniter(cron_expression(c), start) for c in crons]
    last = None
    for moment in heapq.merge(*(iter(lambda it=it: it.get_next(datetime), None) for it in iters)):
        if moment != last:
            yield moment
            last = moment


def shortest_interval(schedule: str | Iterable[str], *, start: datetime | None = None) -> timedelta:
    """Smallest gap between consecutive runs over the next ~8 days (enough for any
    daily/hourly pattern; weekly or sparser schedules give at least one gap). Several
    crons: the runs any of them starts (hourly at :00 and at :30 is every 30 min)."""
    start = start or _START
    times = _fire_times(schedule, start)
    prev = next(times)
    best: timedelta | None = None
    end = start + timedelta(days=8)
    for _ in range(3000):
        nxt = next(times)
        gap = nxt - prev
        if best is None or gap < best:
            best = gap
        prev = nxt
        if nxt > end:
            break
    assert best is not None
    return best


def longest_interval(schedule: str | Iterable[str], *, start: datetime | None = None) -> timedelta:
    """Largest gap between consecutive runs: over at least ~8 days and two gaps, so a
    weekend pause, a monthly or a yearly schedule is seen whole. Several crons: the runs
    any of them starts."""
    start = start or _START
    times = _fire_times(schedule, start)
    prev = next(times)
    longest = timedelta(0)
    end = start + timedelta(days=8)
    for gaps in range(1, 20_000):  # every minute for 8 days is 11,520 gaps
        nxt = next(times)
        longest = max(longest, nxt - prev)
        prev = nxt
        if nxt > end and gaps >= 2:
            break
    return longest


def run_crons(
    task: Any, tasks: Mapping[str, Any], gap: Callable[[list[str]], timedelta], _seen: frozenset[str] = frozenset(),
) -> list[str] | None:
    """The crons whose firings start ``task``: its own; a task that runs ``after`` others
    (``tasks``: the folder's imports by name) starts once all of them have succeeded, so
    also those of the one among them whose runs are furthest apart by ``gap``; with a cron
    as well, either starts a run. ``None``: only run by hand (or it follows only such tasks)."""
    crons = [task.schedule] if task.schedule else []
    followed = [run_crons(tasks[n], tasks, gap, _seen | {task.name}) for n in task.after if n in tasks and n not in _seen]
    if task.after and followed and all(f is not None for f in followed):
        crons += max((f for f in followed if f is not None), key=gap)
    return sorted(set(crons)) or None


def run_interval(task: Any, tasks: Mapping[str, Any], gap: Callable[[list[str]], timedelta]) -> timedelta | None:
    """How often ``task`` really runs, measured by ``gap`` (:func:`shortest_interval` or
    :func:`longest_interval`) over :func:`run_crons`: its cron and the imports it runs
    ``after`` (an asset-started run comes a little after theirs: counted at their time).
    ``None``: only run by hand."""
    crons = run_crons(task, tasks, gap)
    return gap(crons) if crons else None


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


def _runs_text(task: "ScheduledTask", tasks: Mapping[str, Any]) -> str:
    after = [n for n in task.after if n in tasks]
    parts = [f"schedule {short_repr(task.schedule)}"] if task.schedule else []
    if after:
        parts.append(f"after each successful run of {', '.join(repr(n) for n in after)}")
    return " and ".join(parts)


def schedule_warning(
    task: "ScheduledTask", volume: int | None, tasks: Mapping[str, Any] | None = None,
) -> str | None:
    """A plain warning when ``task`` runs more often than its measured ``volume`` allows
    by the vendor's table, with a suggested schedule; ``None`` when all is well.

    How often it runs: :func:`run_interval` -- its cron, and, given ``tasks`` (the folder's
    imports by name), the imports it runs ``after`` (without them only the cron counts)."""
    if volume is None:
        return None
    actual = run_interval(task, tasks or {}, shortest_interval)
    if actual is None:
        return None  # only run by hand
    full, incremental = recommended_schedule(task.mapping_type, volume)
    recommended = full if task.mode == "full" else incremental
    row = _row(task.mapping_type, volume)
    unit = _UNIT.get(task.mapping_type, "records")
    if actual >= recommended:
        return (
            f"Task '{task.name}' imports {volume:,} {unit}: {row.note}." if row.note else None
        )
    message = (
        f"Task '{task.name}' runs every {_human(actual)} ({_runs_text(task, tasks or {})}), but with "
        f"{volume:,} {unit} in its last run the recommended interval for {task.mode} imports is at "
        f"least {_human(recommended)}; suggested schedule: {short_repr(suggest_cron(recommended))}"
    )
    if task.after and tasks:
        # a run started by `after` comes as often as the imports it follows
        message += " (it runs as often as the imports it follows in 'after': run those less often, or give it " \
                   "this schedule of its own instead of 'after')"
    message += "."
    if row.note:
        message += f" Note: {row.note}."
    return message
