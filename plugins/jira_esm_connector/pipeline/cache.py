"""Task cache by hand.

    python -m jira_esm_connector.pipeline.cache clear <task> [<task> ...] [--db-url URL]
    python -m jira_esm_connector.pipeline.cache status <task> [<task> ...] [--db-url URL]
    python -m jira_esm_connector.pipeline.cache reset-watermark <task> [<task> ...] [--db-url URL]
    python -m jira_esm_connector.pipeline.cache release-lease <task> [<task> ...] [--db-url URL]
    python -m jira_esm_connector.pipeline.cache template-locks [--db-url URL]

``clear`` forgets the task's fingerprints, so its next run pushes every record to ESM
again (the watermark is left alone). A name the state database knows nothing of (a typo) is
refused, exit code 1. The state database is the one the DAGs use
(``JIRA_ESM_STATE_DB_URL``) unless ``--db-url`` is given. A DAG run can do the same with
the ``clear_cache`` parameter.

``status``, ``reset-watermark`` and ``release-lease`` note on stderr a task the state database
holds nothing of (a typo, or not the workers' database), and go on.

``reset-watermark`` forgets an incremental task's watermark: its next run fetches everything
its JQL selects (the task cache keeps ESM from being written again where nothing changed). A
change to the task file does this by itself; this is for what the connector cannot see in
Jira, e.g. issues its account was given access to without their changing. Cards changed or
deleted in ESM by hand need ``clear`` as well: the cache still holds what ESM had before. A
reset while a run of the task is under way holds: that run does not store a new watermark.

``template-locks`` lists the ESM templates being written right now (the write lock that
keeps two loads or removals of one template apart, see :mod:`.template_lock`): which task
and run hold each and until when its heartbeat runs. Nothing to release by hand: a killed
writer's lock frees itself when its heartbeat runs out (``JIRA_ESM_LEASE_TTL_SECONDS``).

``release-lease`` removes a task's run lease (one run of a task at a time), for a run that
died on its last try and would otherwise block the task until its run deadline. Only do
this when that run is really gone: two runs at once create duplicate cards.
"""
from __future__ import annotations

import argparse
import sys
from typing import Sequence

__all__ = ["main", "clear_task_cache"]


def clear_task_cache(state, task_name: str, reason: str = "cleared by hand (cache CLI)") -> int:
    """Clear one task's cache; returns how many fingerprints were forgotten."""
    return state.clear_cache(task_name, reason)


def _lease_now(state):
    """The lease clock (the state database's on PostgreSQL), this machine's for an old store."""
    from datetime import datetime, timezone

    now = getattr(state, "lease_now", None)
    return now() if now is not None else datetime.now(timezone.utc)


def _lease_text(state, task_name: str) -> str:
    lease = state.get_lease(task_name)
    if lease is None:
        return "free"
    if lease.free(_lease_now(state)):
        how = "released it" if lease.released else "its lease ran out"
        return f"free (last run '{lease.owner_run}': {how} at {lease.run_expires_at.isoformat()})"
    working = f", attempt {lease.holder} working" if lease.holder else ""
    return f"held by run '{lease.owner_run}' until {lease.run_expires_at.isoformat()}{working}"


def template_locks_text(state) -> list[str]:
    """One line per ESM template being written now (released or run-out locks are left out)."""
    from ..state.lease import TEMPLATE_LOCK_PREFIX

    now = _lease_now(state)
    lines = []
    for lock in state.list_leases(TEMPLATE_LOCK_PREFIX):
        if lock.free(now):
            continue
        lines.append(f"{lock.task[len(TEMPLATE_LOCK_PREFIX):]}: written by {lock.run_name} ({lock.holder or '-'}) "
                     f"since {lock.acquired_at.isoformat()}, heartbeat until "
                     f"{lock.holder_expires_at.isoformat() if lock.holder_expires_at else '-'}")
    return lines


def _cached_text(state, task_name: str) -> str:
    """The task cache's size, the groups the membership safety limit held back apart: they are
    not cached as done (every run checks them again)."""
    from .memberships import HELD_BACK_PREFIX

    cached = state.count_fingerprints(task_name)
    held = state.count_fingerprints(task_name, starting=HELD_BACK_PREFIX)
    return f"{cached - held} cached record(s)" + (
        f"; {held} group(s) held back by the membership safety limit (written without their members, "
        "not cached: checked again every run)" if held else "")


def _store(db_url: str | None):
    from ..state import StateStore, open_state_store

    return StateStore(db_url) if db_url else open_state_store()


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m jira_esm_connector.pipeline.cache",
        description="Clear or inspect the task cache of scheduled Jira -> ESM imports.",
    )
    db_url_help = "state database URL (default: JIRA_ESM_STATE_DB_URL)"
    parser.add_argument("--db-url", help=db_url_help)
    # --db-url also after the command (``clear <task> --db-url URL``, as the usage above shows);
    # SUPPRESS: a command line without it there keeps the one given before the command
    db_url = argparse.ArgumentParser(add_help=False)
    db_url.add_argument("--db-url", default=argparse.SUPPRESS, help=db_url_help)
    sub = parser.add_subparsers(dest="command", required=True)
    clear = sub.add_parser("clear", parents=[db_url],
                           help="forget a task's fingerprints: its next run pushes everything again")
    clear.add_argument("tasks", nargs="+", metavar="task", help="task name (= DAG id)")
    status = sub.add_parser("status", parents=[db_url],
                            help="show a task's cache size, last clear, watermark and lease")
    status.add_argument("tasks", nargs="+", metavar="task")
    reset = sub.add_parser("reset-watermark", parents=[db_url],
                           help="forget an incremental task's watermark: its next run fetches everything")
    reset.add_argument("tasks", nargs="+", metavar="task")
    release = sub.add_parser(
        "release-lease", parents=[db_url], help="remove a task's run lease (only when the run holding it is dead)"
    )
    release.add_argument("tasks", nargs="+", metavar="task")
    sub.add_parser("template-locks", parents=[db_url],
                   help="list the ESM templates being written now, and by which task and run")
    args = parser.parse_args(argv)
    try:
        state = _store(args.db_url)
    except Exception as exc:  # noqa: BLE001 - the store's own messages never carry the password
        print(f"error: {exc}", file=sys.stderr)
        return 2
    try:
        if args.command == "template-locks":
            lines = template_locks_text(state)
            print("\n".join(lines) if lines else "No ESM template is being written.")
            return 0
        unknown = 0
        for name in args.tasks:
            known = _known(state, name)
            if args.command != "clear" and not known:
                # not refused (a task before its first run has nothing yet), but a typo, or the
                # CLI's own database instead of the workers', shows the same: say so
                print(f"Note: this state database holds nothing of task '{name}'. Check the name (the task file's "
                      "'name', which is the DAG id) and that this is the workers' state database "
                      "(JIRA_ESM_STATE_DB_URL, or --db-url).", file=sys.stderr)
            if args.command == "clear" and not known:
                # a mistyped name would otherwise be "cleared" and the real task left as it was
                print(f"Task '{name}' has no cached records, watermark, lease or earlier clear in this state database: "
                      "nothing to clear. Check the name (the task file's 'name', which is the DAG id).", file=sys.stderr)
                unknown += 1
            elif args.command == "clear":
                n = clear_task_cache(state, name)
                print(f"Task cache of '{name}' cleared ({n} record fingerprint(s) forgotten); "
                      "its next run pushes every record to ESM again. The watermark is unchanged.")
            elif args.command == "reset-watermark":
                print(f"Watermark of '{name}' forgotten; its next run fetches everything its JQL selects (and "
                      "writes to ESM only what the task cache does not know: after cards were changed or deleted "
                      f"in ESM by hand, also run 'clear {name}')."
                      if state.reset_watermark(name) else f"Task '{name}' has no watermark.")
            elif args.command == "release-lease":
                gone = state.break_lease(name)
                print(f"Lease of '{name}' removed (it was held by run '{gone.owner_run}'); the next run may start."
                      if gone else f"Task '{name}' has no lease.")
            else:
                last = state.last_cache_clear(name)
                mark = state.get_watermark(name)
                print(f"{name}: {_cached_text(state, name)}; "
                      f"last clear: {f'{last[0].isoformat()} ({last[1]})' if last else 'never'}; "
                      f"watermark: {mark.isoformat() if mark else 'none'}; lease: {_lease_text(state, name)}")
    finally:
        state.dispose()
    return 1 if unknown else 0


def _known(state, task_name: str) -> bool:
    """Does the state database hold anything of this task?"""
    return bool(state.count_fingerprints(task_name) or state.last_cache_clear(task_name)
                or state.get_watermark(task_name) or state.get_lease(task_name))


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
