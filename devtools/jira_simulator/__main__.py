"""Command line: ``python -m devtools.jira_simulator --help`` (see the package docstring)."""
from __future__ import annotations

import argparse
import os
import signal
import sys
import threading
import tempfile
import time

from .app import Simulator, create_app
from .server import serve
from .store import Account, SeedSpec, Store


def parse_account(text: str) -> Account:
    """``email:token`` or ``email:token:Time/Zone`` (the token must not contain ':')."""
    email, sep, rest = text.partition(":")
    if not sep or not email or not rest:
        raise argparse.ArgumentTypeError("expected EMAIL:TOKEN[:TIMEZONE]")
    token, _, tz = rest.partition(":")
    return Account(email=email, token=token, time_zone=tz or "Europe/Helsinki")


def _exit_with_parent(pid: int) -> None:
    """A watchdog: a simulator orphaned by a killed test run must not keep running."""

    def watch() -> None:
        while True:
            time.sleep(1)
            try:
                os.kill(pid, 0)
            except ProcessLookupError:
                os.kill(os.getpid(), signal.SIGTERM)
                return
            except PermissionError:
                pass

    threading.Thread(target=watch, name="parent-watchdog", daemon=True).start()


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m devtools.jira_simulator", description="Jira Cloud REST simulator")
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, default=8443, help="0 picks a free port (printed in the ready line)")
    p.add_argument("--seed", type=int, default=42)
    p.add_argument("--projects", type=int, default=3)
    p.add_argument("--issues", type=int, default=300)
    p.add_argument("--users", type=int, default=60)
    p.add_argument("--groups", type=int, default=12)
    p.add_argument("--tls-dir", default=".demo", help="where the local CA and server certificate live")
    p.add_argument("--insecure-http", action="store_true", help="serve plain http (local testing only)")
    p.add_argument("--account", action="append", type=parse_account, default=[],
                   help="EMAIL:TOKEN[:TIMEZONE], repeatable (default demo@example.com:demo-token)")
    p.add_argument("--db", default=None,
                   help="SQLite file for the data (default: a temporary file). An existing file "
                        "seeded with the same options is reused, edits included; else re-seeded")
    p.add_argument("--reseed", action="store_true", help="seed --db again even if it matches")
    p.add_argument("--latency-ms", type=int, default=0, help="added to every request")
    p.add_argument("--rate-limit", type=int, default=0, help="requests per second per account (0 = off)")
    p.add_argument("--log-level", default="warning")
    p.add_argument("--parent-pid", type=int, default=None,
                   help="stop when this process is gone (test fixtures pass their own pid)")
    args = p.parse_args(argv)

    if args.parent_pid:
        _exit_with_parent(args.parent_pid)
    accounts = args.account or [Account("demo@example.com", "demo-token", "Europe/Helsinki")]
    spec = SeedSpec(seed=args.seed, projects=args.projects, issues=args.issues, users=args.users,
                    groups=args.groups, accounts=accounts)
    tmp_db = None
    db_path = args.db
    if db_path is None:
        fd, tmp_db = tempfile.mkstemp(prefix="jira-sim-", suffix=".db")
        os.close(fd)
        db_path = tmp_db
    try:
        started = time.time()
        store = Store(spec, db_path, reuse=not args.reseed and tmp_db is None)
        what = "Reused the data in" if store.reused else "Seeded"
        print(f"{what} {db_path}: {args.issues} issues, {args.users} users, {args.groups} groups "
              f"({time.time() - started:.1f}s)", file=sys.stderr, flush=True)
        sim = Simulator(store, accounts, latency_ms=args.latency_ms, rate_limit=args.rate_limit)
        app = create_app(sim)
        certfile = keyfile = None
        if not args.insecure_http:
            from devtools.tls import ensure_tls_material

            tls = ensure_tls_material(args.tls_dir)
            certfile, keyfile = tls.cert_pem, tls.key_pem
        serve(sim, app, args.host, args.port, certfile=certfile, keyfile=keyfile, log_level=args.log_level)
    finally:
        if tmp_db:
            for suffix in ("", "-journal", "-wal", "-shm"):
                try:
                    os.remove(tmp_db + suffix)
                except FileNotFoundError:
                    pass
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
