"""Finish: the run's counts in one readable line, the run record, and the watermark.

The last step of every import run (the DAG's ``finish`` task, after ``load`` and, for
full imports, ``mark_removed``), i.e. run only when every earlier step succeeded -- which
is the only moment the watermark may move. Its return value is the run's result.
"""
from __future__ import annotations

import json
import logging
from datetime import datetime, timedelta, timezone
from typing import Any, Mapping

from ..protocols import StateApi
from .results import DiffResult, ExtractResult, LoadResult, RemovalResult, RunSummary, TransformResult
from .staging import Dataset, StagingPath, location, read_text, safe_name, write_text

__all__ = ["finish", "summary_line", "COUNT_KEYS", "OPTIONAL_COUNT_KEYS", "status_file", "read_status"]

log = logging.getLogger("jira_esm_connector.pipeline")
# already_loaded: records ESM already held as they are, found by load (an earlier attempt of
# this run saved them; a comment already in the worklog); references_pending: records saved
# without some references, retried on later runs
COUNT_KEYS = (
    "fetched", "transformed", "unchanged", "created", "updated", "already_loaded", "refused", "references_pending",
    "marked_removed",
)
# counts of some imports only, in the summary line when not 0 (group imports: groups that kept
# their previous members, the membership safety limit of pipeline/memberships.py; records held
# pending because an event wrote their card after the load looked it up, re-keyed next run;
# cards of records gone from Jira that ESM refused to mark removed: still active, the next run
# tries again; groups whose member listing Jira could not name in full, not written this run:
# fetched, neither transformed nor unchanged)
OPTIONAL_COUNT_KEYS = ("groups_held_back", "held_for_rekey", "unnamed_users", "refused_removals", "groups_not_written")


def baseline_counts(state: StateApi, task_name: str) -> dict[str, Any]:
    """The counts of the task's last run whose removal step ran through (a volume recorded, as
    ``last_volume`` reads it; none: ``{}``): a run whose removal was refused and then set to
    success by hand is no baseline for the limits that compare with the last good run."""
    last = next((r for r in state.recent_runs(task_name, limit=50) if r.get("volume") is not None), None)
    return dict((last or {}).get("counts") or {})


def summary_line(task_name: str, counts: dict[str, Any]) -> str:
    parts = ", ".join(f"{k.replace('_', ' ')} {counts.get(k, 0)}" for k in COUNT_KEYS)
    parts += "".join(f", {k.replace('_', ' ')} {counts[k]}" for k in OPTIONAL_COUNT_KEYS if counts.get(k))
    return f"Import '{task_name}' finished: {parts}."


def status_file(staging_root: Any, task_name: str) -> StagingPath:
    """A small JSON file per task with the last run's volume and scheduling advice.

    The DAG factory reads it at parse time (a local file: no database or network I/O; with
    the staging root on an object store it is written there but not read at parse time)
    to put the scheduling-table warning into the DAG's docs.
    """
    return location(staging_root) / "_status" / f"{safe_name(task_name)}.json"


def read_status(staging_root: Any, task_name: str) -> dict[str, Any] | None:
    if not staging_root:
        return None
    try:
        return json.loads(read_text(status_file(staging_root, task_name)))
    except (OSError, ValueError):
        return None


def _parse(value: str | None) -> datetime | None:
    if not value:
        return None
    moment = datetime.fromisoformat(value)
    return moment if moment.tzinfo else moment.replace(tzinfo=timezone.utc)


def _references_pending(task: Any, state: StateApi, extracted: ExtractResult, lg: Any) -> tuple[int, int]:
    """How many of the task's records wait for referenced cards, and how many are held for a
    re-key (the state store's pending list, two kinds). A full run fetched every record the
    task selects: pending keys it did not fetch are gone from Jira and leave the list."""
    count = state.count_pending(task.name)
    if count and task.mode == "full" and extracted.get("dataset"):
        from .staging import Dataset

        pending = set(state.pending_keys(task.name))
        for page in Dataset(extracted["dataset"]).iter_pages(columns=["key"]):
            pending.difference_update(str(row["key"]) for row in page)
            if not pending:
                break
        if pending:
            state.delete_pending(task.name, pending)
            lg.info(
                "%d record(s) with pending references were not fetched by this full run (gone from Jira) and are "
                "no longer retried: %s", len(pending), ", ".join(sorted(pending)[:20]),
            )
            count = state.count_pending(task.name)
    held = state.count_pending(task.name, rekey=True) if count else 0
    if count - held:
        lg.warning(
            "%d record(s) of '%s' wait for referenced ESM cards that do not exist yet (saved without them); "
            "they are tried again on every run until the references resolve. First: %s",
            count - held, task.name, _first_pending(state, task, rekey=False),
        )
    if held:
        lg.warning(
            "%d record(s) of '%s' are held pending: an event push wrote their card after the load looked it up "
            "(the issue's old key back on it); the next run writes them again and re-keys the card. First: %s",
            held, task.name, _first_pending(state, task, rekey=True),
        )
    return count - held, held


def _first_pending(state: StateApi, task: Any, *, rekey: bool) -> str:
    return "; ".join(f"{r['record_key']} ({r['reason']})"
                     for r in state.pending_records(task.name, limit=5, rekey=rekey))[:1500]


def _run_volume(task: Any, extracted: Any, counts: Any, removed: Any, lg: Any) -> int | None:
    """The volume this run records (the removal limits' baseline), or None. Only meaningful
    when the run saw everything (full, or a first incremental run) -- and, for a full import
    that marks removals, when its removal step gave a result: marked "success" by hand after
    a safety limit stopped it, its fetch was not trusted."""
    complete = task.mode == "full" or not extracted.get("watermark_used")
    volume = counts["fetched"] if complete else None
    if volume is not None and task.mode == "full" and getattr(task, "removal", None) is not None and not removed:
        lg.warning("The removal step of this run gave no result: its volume (%d) is not recorded as the "
                   "baseline of the removal safety limits.", volume)
        return None
    return volume


def _forget_unlisted(task: Any, state: StateApi, extracted: ExtractResult, lg: Any) -> None:
    """A full run's listing is the task's selection: the task cache forgets the records it did
    not list. Such a record may come back into the selection (an assignee back in the group a
    ``membersOf`` names, a filter or permission changed) with a change made while it was out --
    a change the next run's "changed since" listing, which runs the task's JQL, never showed:
    with its fingerprint kept, every later run would carry it unread. Forgotten, it is read."""
    listed = Dataset(extracted["dataset"]).key_set()
    unlisted = [key for key, _print in state.iter_fingerprints(task.name) if key not in listed]
    if unlisted:
        state.delete_fingerprints(task.name, unlisted)
        lg.info("The task cache forgot %d record(s) this full run did not list: if they are selected again, the "
                "next run reads them.", len(unlisted))


def _advance_watermark(
    task: Any, state: StateApi, extracted: ExtractResult, loaded: LoadResult, refused: int, lg: Any,
) -> str | None:
    """Store an incremental run's watermark (held before any refused record) with the task's
    digest; returns it (ISO, UTC) or ``None``."""
    candidate = _parse(extracted.get("watermark_candidate"))
    previous = _parse(extracted.get("watermark_used"))
    if previous is not None and state.get_watermark(task.name) is None:
        # forgotten by an operator (reset-watermark) while this run was under way: storing this
        # run's would undo the reset the CLI confirmed
        lg.warning("The watermark of '%s' was reset while this run was under way: it stays unset, so the next run "
                   "fetches everything its JQL selects.", task.name)
        return None
    held_at = [t for t in (_parse(loaded.get("refused_oldest_updated")), _parse(extracted.get("skipped_oldest_updated")))
               if t is not None]
    held = min(held_at) if held_at else None
    newest = candidate  # the newest change this run saw (extract never makes it older than ``previous``)
    if held is not None and candidate is not None and held < candidate:
        # refused records (and issues gone when their comments were read, perhaps hidden for a
        # moment) must be fetched again by the next run: stop just before them (a watermark
        # already before them stays: its overlap fetches them again)
        candidate = held - timedelta(minutes=1)
        if previous is not None and candidate < previous:
            candidate = previous
        lg.warning(
            "%d record(s) were refused%s: the watermark is held at %s so the next run fetches them again.",
            refused, " and listed issues were gone when read" if extracted.get("skipped_oldest_updated") else "",
            candidate.isoformat(),
        )
    digest = extracted.get("watermark_digest")
    if candidate is not None and (previous is None or candidate > previous):
        state.set_watermark(task.name, candidate, digest=digest)
        why = ("newest 'updated' in this run's data" if candidate == newest
               else f"held 1 min before the oldest record the next run fetches again; the newest change seen was "
                    f"{newest.isoformat()}")
        lg.info("Watermark of '%s' advanced to %s (UTC, %s).", task.name, candidate.isoformat(), why)
    else:
        if digest and previous is not None:
            # the watermark this run fetched from holds for this task file too (this run saw to
            # it). A run that used none (first run, or the task changed) and moves none leaves
            # the digest alone: the value stored, if any, was reached under another task file,
            # and the next run must read everything again (a listed issue it could not read)
            state.set_watermark(task.name, None, digest=digest)
        if candidate is not None:
            why = ("nothing newer in this run" if newest is None or previous is None or newest <= previous
                   else f"held back by the record(s) the next run fetches again; this run saw changes up to "
                        f"{newest.isoformat()}")
            lg.info("Watermark of '%s' stays at %s (%s).", task.name, candidate.isoformat(), why)
    return candidate.isoformat() if candidate else None


def finish(
    task: Any,
    state: StateApi,
    run_id: str,
    extracted: ExtractResult,
    transformed: TransformResult,
    diffed: DiffResult,
    loaded: LoadResult,
    removed: RemovalResult | None = None,
    *,
    staging_root: Any = None,
    logger: logging.Logger | logging.LoggerAdapter | None = None,
    tasks: Mapping[str, Any] | None = None,
) -> RunSummary:
    """Record the run, advance the watermark (incremental), log and return the summary.
    ``tasks``: the folder's imports by name, so that the scheduling advice counts the runs
    ``after`` starts."""
    lg = logger or log
    carried = int(extracted.get("carried") or 0)  # listed by a full run, unchanged, not read again
    pending, held_for_rekey = _references_pending(task, state, extracted, lg)
    counts = {
        "fetched": int(extracted.get("fetched", 0)),
        "transformed": int(transformed.get("transformed", 0)),
        "unchanged": int(diffed.get("unchanged", 0)) + carried,
        "created": int(loaded.get("created", 0)),
        "updated": int(loaded.get("updated", 0)),
        # so that the counts add up: without it, a retried load's records looked lost
        "already_loaded": int(loaded.get("already_loaded", 0)) + int(loaded.get("already_present", 0)),
        "refused": int(loaded.get("refused", 0)),
        "references_pending": pending,
        "marked_removed": int((removed or {}).get("marked_removed", 0)),
        "groups_held_back": int(loaded.get("groups_held_back", 0)),
        "held_for_rekey": held_for_rekey,
        "refused_removals": int((removed or {}).get("refused_removals") or 0),
        "groups_not_written": int(extracted.get("groups_not_written") or 0),
    }
    if extracted.get("unnamed_users") is not None:  # user imports: the removal's baseline (removal.py)
        counts["unnamed_users"] = int(extracted["unnamed_users"])
    if extracted.get("unnamed_members"):  # group imports: per group, the next run's baseline (extract.py)
        counts["unnamed_members"] = dict(extracted["unnamed_members"])
    watermark = _advance_watermark(task, state, extracted, loaded, counts["refused"], lg) if task.mode == "incremental" else None
    if extracted.get("renamed_projects") and not counts["refused"]:
        # their cards are re-keyed: later runs list only what changed (after a refusal, again)
        state.note_renamed_projects_listed(task.name, extracted["renamed_projects"])
    if carried:
        lg.info("%d issue(s) were unchanged since ESM accepted them and were not read again.", carried)
    if task.mode == "full" and extracted.get("sync_since") and extracted.get("sync_digest"):
        # first: a finish failing after the start below moved would leave a forgotten change carried
        _forget_unlisted(task, state, extracted, lg)
        if counts["refused"]:
            # a refused record keeps an older fingerprint in the task cache: were the starting
            # point to move past its change, the next run would carry it and never retry it
            lg.warning(
                "%d record(s) were refused: the next full run reads again everything changed since the last "
                "full run without refusals.", counts["refused"],
            )
        else:  # the next full run reads again only what changed since this run began listing
            start = extracted.get("sync_start") or extracted["sync_since"]
            state.set_full_sync(task.name, datetime.fromisoformat(str(start)), str(extracted["sync_digest"]))
    volume = _run_volume(task, extracted, counts, removed, lg)
    state.record_run(task.name, run_id, counts, volume)
    warning = None
    if volume is not None:
        try:
            from ..config.scheduling import schedule_warning

            warning = schedule_warning(task, volume, tasks)
        except Exception as exc:  # noqa: BLE001 - advice only; never fails a run
            lg.debug("no scheduling advice: %s", exc)
    if warning:
        lg.warning("Scheduling: %s", warning)
    if staging_root and volume is not None:
        path = status_file(staging_root, task.name)
        try:
            write_text(path, json.dumps({
                "task": task.name, "run_id": run_id, "volume": volume, "warning": warning,
                "finished_at": datetime.now(timezone.utc).isoformat(), "counts": counts,
            }))
        except Exception as exc:  # noqa: BLE001 - advice only; never fails a run
            lg.debug("could not write %s: %s", path, exc)
    line = summary_line(task.name, counts)
    lg.info("%s", line)
    summary: RunSummary = {
        "task": task.name,
        "run_id": run_id,
        "mode": task.mode,
        **counts,
        "reactivated": int(loaded.get("reactivated", 0)),
        "rekeyed": int(loaded.get("rekeyed", 0)),
        "carried": carried,
        "refused_records": list(loaded.get("refused_records") or [])[:20],
        "watermark": watermark,
        "cache_cleared": bool(diffed.get("cache_cleared")),
        "schedule_warning": warning,
        "summary": line,
    }
    return summary
