"""``python -m bench``: run the benchmarks (all by default, at the documented sizes).

Examples::

    python -m bench                                  # everything, documented sizes (5-10 min)
    python -m bench jira esm                         # only the two simulator benchmarks
    python -m bench pipeline --pipeline-sizes 10000,50000
    python -m bench events --event-runs 200
    python -m bench latency --latency-sizes 20000,100000 --jira-latency-ms 100 --esm-latency-ms 50 [--no-tap]
    python -m bench --tiny                           # every benchmark at a tiny size (smoke)
    python -m bench --markdown out.md --json out.json

Each benchmark starts what it needs (simulators on free loopback ports, in a temporary
directory), stops it afterwards and keeps to ``--budget`` seconds of measuring. Results
print as Markdown tables (the format of ``bench/RESULTS.md``).
"""
from __future__ import annotations

import argparse
import json
import logging
import shlex
import sys
import time
import traceback
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from . import BENCHMARKS, load
from .common import BenchResult, machine_line

DEFAULTS: dict[str, Any] = {
    "jira_issues": 500_000,
    "jira_projects": 5,
    "jira_client_limit": 100_000,
    "esm_cards": 500_000,
    "esm_import": 10_000,
    "pipeline_sizes": "10000,50000",
    "event_runs": 200,
    "event_seed_issues": 5_000,
    "airflow_runs": 20,
    "latency_sizes": "20000,100000",
    "jira_latency_ms": 100,
    "esm_latency_ms": 50,
    "tap": True,
    "repeat": 30,
    "budget": 900.0,
}

TINY: dict[str, Any] = {
    "jira_issues": 3_000,
    "jira_projects": 3,
    "jira_client_limit": 500,
    "esm_cards": 1_000,
    "esm_import": 300,
    "pipeline_sizes": "150,300",
    "event_runs": 5,
    "event_seed_issues": 50,
    "airflow_runs": 2,
    "latency_sizes": "60",
    "jira_latency_ms": 5,
    "esm_latency_ms": 5,
    "tap": False,
    "repeat": 3,
    "budget": 60.0,
}


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m bench", description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("benchmarks", nargs="*", metavar="BENCHMARK",
                   help=f"which to run: {', '.join(BENCHMARKS)} (default: all)")
    p.add_argument("--tiny", action="store_true", help="tiny sizes for every benchmark (smoke test)")
    p.add_argument("--jira-issues", type=int, help=f"issues seeded into the Jira simulator (default {DEFAULTS['jira_issues']:,})")
    p.add_argument("--jira-projects", type=int, help=f"projects they are spread over (default {DEFAULTS['jira_projects']})")
    p.add_argument("--jira-client-limit", type=int,
                   help=f"issues the JiraClient pages with fields (default {DEFAULTS['jira_client_limit']:,})")
    p.add_argument("--esm-cards", type=int, help=f"incident cards seeded into the ESM simulator (default {DEFAULTS['esm_cards']:,})")
    p.add_argument("--esm-import", type=int, help=f"cards bulk-imported (then re-imported as edits) (default {DEFAULTS['esm_import']:,})")
    p.add_argument("--pipeline-sizes", help=f"comma-separated import sizes (default {DEFAULTS['pipeline_sizes']})")
    p.add_argument("--event-runs", type=int, help=f"create_issue pushes timed (default {DEFAULTS['event_runs']})")
    p.add_argument("--event-seed-issues", type=int, help=f"issues in the Jira simulator for the event benchmark (default {DEFAULTS['event_seed_issues']:,})")
    p.add_argument("--airflow-runs", type=int, help=f"runs per DAG through airflow standalone (default {DEFAULTS['airflow_runs']})")
    p.add_argument("--latency-sizes", help=f"latency: comma-separated import sizes (default {DEFAULTS['latency_sizes']})")
    p.add_argument("--jira-latency-ms", type=int,
                   help=f"latency: added to every Jira request (default {DEFAULTS['jira_latency_ms']})")
    p.add_argument("--esm-latency-ms", type=int,
                   help=f"latency: added to every ESM request (default {DEFAULTS['esm_latency_ms']})")
    p.add_argument("--tap", action=argparse.BooleanOptionalAction,
                   help="latency: also measure Singer tap-jira (default on; off with --tiny); --no-tap skips it")
    p.add_argument("--single-value-fields", action="store_true",
                   help="latency: drop the multi-value labels attribute from the benchmark mapping, so that "
                        "issue/bulkfetch may carry 1,000 issues per request (default: the mapping as is, 100)")
    p.add_argument("--repeat", type=int, help=f"timed requests per latency figure (default {DEFAULTS['repeat']})")
    p.add_argument("--budget", type=float, help=f"seconds of measuring per benchmark before loops stop early (default {DEFAULTS['budget']:.0f})")
    p.add_argument("--tracemalloc", action="store_true",
                   help="pipeline: also trace the Python heap (peak per step; slower)")
    p.add_argument("--http", dest="tls", action="store_false", help="plain http to the simulators (default: HTTPS with a local CA)")
    p.add_argument("--keep", action="store_true", help="keep the temporary work directories")
    p.add_argument("--markdown", type=Path, help="also write the Markdown report to this file")
    p.add_argument("--json", type=Path, help="also write the raw numbers as JSON to this file")
    p.add_argument("-v", "--verbose", action="store_true", help="show the connector's INFO logs")
    return p


def resolve(args: argparse.Namespace) -> argparse.Namespace:
    base = TINY if args.tiny else DEFAULTS
    for key, value in base.items():
        if getattr(args, key, None) is None:
            setattr(args, key, value)
    unknown = [b for b in args.benchmarks if b not in BENCHMARKS]
    if unknown:
        raise SystemExit(f"unknown benchmark(s): {', '.join(unknown)}; choose from {', '.join(BENCHMARKS)}")
    args.benchmarks = args.benchmarks or list(BENCHMARKS)
    return args


def report(results: list[BenchResult], command: str, started: datetime, machine: str) -> str:
    lines = [
        f"## Run of {started:%Y-%m-%d %H:%M} UTC",
        "",
        f"- Command: `{command}`",
        f"- Machine: {machine}",
        "",
    ]
    for r in results:
        lines.append(r.markdown())
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    args = resolve(parser().parse_args(argv))
    logging.basicConfig(level=logging.INFO if args.verbose else logging.WARNING,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    command = "python -m bench" + ("" if argv is None and len(sys.argv) <= 1 else " " + shlex.join(sys.argv[1:] if argv is None else argv))
    started = datetime.now(timezone.utc)
    machine = machine_line()
    print(f"# {command}\n# {machine}", file=sys.stderr, flush=True)
    results: list[BenchResult] = []
    failed: list[str] = []
    for name in args.benchmarks:
        module = load(name)
        print(f"# running {name} ...", file=sys.stderr, flush=True)
        t0 = time.perf_counter()
        try:
            result = module.run(args)
        except Exception:  # noqa: BLE001 - report and go on with the next benchmark
            failed.append(name)
            print(f"# {name} FAILED after {time.perf_counter() - t0:.1f} s:\n{traceback.format_exc()}", file=sys.stderr, flush=True)
            continue
        results.append(result)
        print(result.markdown(), flush=True)
    text = report(results, command, started, machine)
    if args.markdown:
        args.markdown.write_text(text + "\n")
    if args.json:
        args.json.write_text(json.dumps({
            "command": command, "started": started.isoformat(), "machine": machine,
            "results": [{"name": r.name, "params": r.params, "data": r.data, "rows": r.rows,
                         "notes": r.notes, "seconds": r.seconds} for r in results],
            "failed": failed,
        }, indent=2, default=str))
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main())
