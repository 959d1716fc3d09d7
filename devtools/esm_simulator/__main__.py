"""Command line: ``python -m devtools.esm_simulator --help``."""
from __future__ import annotations

import argparse
import gc
import os
import signal
import sys
import threading
import time
from pathlib import Path

from .app import Knobs, SimState, create_app
from .seed import seed
from .server import abort_connection, serve
from .store import Store
from .templates import DEFAULT_TEMPLATES_FILE, load_catalog


def _user(text: str) -> tuple[str, str]:
    login, sep, password = text.partition(":")
    if not sep or not login:
        raise argparse.ArgumentTypeError("--user takes LOGIN:PASSWORD")
    return login, password


DEMO_COUNTS = {"persons": 60, "groups": 12, "incidents": 250}


def _watch_parent(pid: int) -> None:
    def watch() -> None:
        while True:
            time.sleep(1.0)
            try:
                os.kill(pid, 0)
            except ProcessLookupError:
                os.kill(os.getpid(), signal.SIGTERM)  # uvicorn shuts down gracefully
                return
            except PermissionError:
                pass  # exists, owned by someone else

    threading.Thread(target=watch, name="parent-watch", daemon=True).start()


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m devtools.esm_simulator", description="Efecte ESM REST API simulator")
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, default=8444, help="0 picks a free port (see the ready line)")
    p.add_argument("--db", required=True, help="SQLite file (created if missing; kept across restarts)")
    p.add_argument("--tls-dir", default=".demo", help="where devtools.tls keeps ca.pem / server.pem")
    p.add_argument("--insecure-http", action="store_true", help="serve plain http (local testing only)")
    p.add_argument("--user", action="append", type=_user, default=[], help="LOGIN:PASSWORD, repeatable")
    p.add_argument("--templates", default=str(DEFAULT_TEMPLATES_FILE))
    p.add_argument("--seed", type=int, default=None,
                   help="seed an empty database deterministically; alone it seeds the demo-sized set "
                        f"({DEMO_COUNTS['persons']} persons, {DEMO_COUNTS['groups']} groups, "
                        f"{DEMO_COUNTS['incidents']} incidents)")
    p.add_argument("--persons", type=int, default=None)
    p.add_argument("--groups", type=int, default=None)
    p.add_argument("--incidents", type=int, default=None)
    p.add_argument("--parent-pid", type=int, default=None,
                   help="stop when this process is gone (so a killed test run leaves no server behind)")
    p.add_argument("--token-ttl", type=int, default=3600, help="JWT lifetime in seconds")
    p.add_argument("--latency", type=float, default=0.0, help="seconds added to every API request")
    p.add_argument("--rate-limit", type=float, default=0.0, help="API requests per second before 429 (0: off)")
    p.add_argument("--inject-errors", default="", metavar="N:STATUS",
                   help="the first N API requests answer STATUS (e.g. 3:503)")
    p.add_argument("--inject-resets", type=int, default=0, metavar="N",
                   help="the first N API requests get their connection reset")
    args = p.parse_args(argv)

    users = dict(args.user) or {"demo": "demo"}
    error_count, error_status = 0, 503
    if args.inject_errors:
        count, _, status = args.inject_errors.partition(":")
        if not count.isdigit() or (status and not status.isdigit()):
            p.error("--inject-errors takes N:STATUS, e.g. 3:503")
        error_count, error_status = int(count), int(status or 503)
    catalog = load_catalog(args.templates)
    Path(args.db).parent.mkdir(parents=True, exist_ok=True)
    store = Store(args.db, catalog)
    counts = {"persons": args.persons, "groups": args.groups, "incidents": args.incidents}
    if any(v is not None for v in counts.values()):
        counts = {k: v or 0 for k, v in counts.items()}
    elif args.seed is not None:
        counts = dict(DEMO_COUNTS)
    else:
        counts = {k: 0 for k in counts}
    if not store.counts() and any(counts.values()):
        result = seed(store, catalog, seed_value=42 if args.seed is None else args.seed, **counts)
        print(f"ESM simulator seeded: {result}", flush=True)
    if args.parent_pid:
        _watch_parent(args.parent_pid)
    state = SimState(catalog=catalog, store=store, users=users,
                     knobs=Knobs(latency=args.latency, token_ttl=args.token_ttl, rate_limit=args.rate_limit,
                                 error_count=error_count, error_status=error_status,
                                 reset_count=args.inject_resets),
                     abort_connection=abort_connection)
    app = create_app(state)
    certfile = keyfile = None
    if not args.insecure_http:
        from devtools.tls import ensure_tls_material

        tls = ensure_tls_material(args.tls_dir)
        certfile, keyfile = tls.cert_pem, tls.key_pem
    # everything built so far (modules, the app, the catalog) lives as long as the process:
    # kept out of the garbage collector's full passes, which a bulk import's many short-lived
    # objects trigger often enough to cost a fifth of its time
    gc.collect()
    gc.freeze()
    serve(app, args.host, args.port, certfile=certfile, keyfile=keyfile)
    return 0


if __name__ == "__main__":
    sys.exit(main())
