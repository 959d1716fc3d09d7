"""Task cache by hand.

    python -m jira_esm_connector.pipeline.cache clear <task> [<task> ...] [--db-url URL]
    python -m jira_esm_connector.pipeline.cache status <task> [--db-url URL]

``clear`` forgets the task's fingerprints, so its next run pushes every record to ESM
again (the watermark is left alone). The state database is the one the DAGs use
(``JIRA_ESM_STATE_DB_URL``) unless ``--db-url`` is given. A DAG run can do the same with
the ``clear_cache`` parameter.
"""
from __future__ import annotations

import argparse
import sys
from typing import Sequence

__all__ = ["main", "clear_task_cache"]


def clear_task_cache(state, task_name: str, reason: str = "cleared by hand (cache CLI)") -> int:
    """Clear one task's cache; returns how many fingerprints were forgotten."""
    return state.clear_cache(task_name, reason)


def _store(db_url: str | None):
    from ..state import StateStore, open_state_store

    return StateStore(db_url) if db_url else open_state_store()


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m jira_esm_connector.pipeline.cache",
        description="Clear or inspect the task cache of scheduled Jira -> ESM imports.",
    )
    parser.add_argument("--db-url", help="state database URL (default: JIRA_ESM_STATE_DB_URL)")
    sub = parser.add_subparsers(dest="command", required=True)
    clear = sub.add_parser("clear", help="forget a task's fingerprints: its next run pushes everything again")
    clear.add_argument("tasks", nargs="+", metavar="task", help="task name (= DAG id)")
    status = sub.add_parser("status", help="show a task's cache size, last clear and watermark")
    status.add_argument("tasks", nargs="+", metavar="task")
    args = parser.parse_args(argv)
    try:
        state = _store(args.db_url)
    except Exception as exc:  # noqa: BLE001 - the store's own messages never carry the password
        print(f"error: {exc}", file=sys.stderr)
        return 2
    try:
        for name in args.tasks:
            if args.command == "clear":
                n = clear_task_cache(state, name)
                print(f"Task cache of '{name}' cleared ({n} record fingerprint(s) forgotten); "
                      "its next run pushes every record to ESM again. The watermark is unchanged.")
            else:
                last = state.last_cache_clear(name)
                mark = state.get_watermark(name)
                print(f"{name}: {state.count_fingerprints(name)} cached record(s); "
                      f"last clear: {f'{last[0].isoformat()} ({last[1]})' if last else 'never'}; "
                      f"watermark: {mark.isoformat() if mark else 'none'}")
    finally:
        state.dispose()
    return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
