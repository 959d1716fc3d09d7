"""Benchmark 3: the import pipeline end to end (extract -> transform -> diff -> load ->
mark_removed -> finish) at several sizes (default 10,000 and 50,000 issues).

For each size a fresh Jira simulator (all issues in project SUP) and an empty ESM simulator
are started, and the pipeline runs in a **fresh child process** so that its peak RSS
(``getrusage(RUSAGE_SELF).ru_maxrss``) belongs to that size alone. The child runs:

1. the first import: every issue is new -> created in ESM (bulk, chunks of 200);
2. an unchanged re-run: every issue is listed, none changed since ESM accepted it, so none
   is read again (all carried, see ``pipeline/carry.py``), ``load`` writes nothing --
   checked through the ESM simulator's request counters;
3. the same task as an incremental import: a first run without watermark (fetches all,
   writes nothing), then 1 % of the issues change in Jira (admin API) and an incremental
   run fetches and updates just those.

Reported per size: wall time per step and in total, records/s, peak RSS, the RSS of the
child after imports (its baseline) and the growth above it. Memory is bounded when the
growth does not scale with the size (the pipeline streams staged pages; see
``jira_esm_connector.pipeline``).

The task is a full generic import with the attributes of
``include/mappings/import_3_issues_to_incidents.yaml`` minus the person references (the
benchmark does not import users first) plus its two quality expectations.
"""
from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from .common import (
    REPO_ROOT,
    BenchResult,
    Budget,
    esm_api_requests,
    esm_client_at,
    esm_write_count,
    jira_client_at,
    running,
    state_store,
    start_esm_simulator,
    start_jira_simulator,
    workspace,
)

NAME = "pipeline"
TITLE = "3. Import pipeline end to end: wall time, records/s, peak RSS, unchanged re-run"

STATUS_MAP = {
    "To Do": "01 - New", "Open": "01 - New", "Backlog": "01 - New", "Selected for Development": "01 - New",
    "In Progress": "02 - Solving", "In Review": "02 - Solving", "Waiting for support": "02 - Solving",
    "Waiting for customer": "03 - Waiting for customer", "Done": "05 - Solved", "Resolved": "05 - Solved",
    "Closed": "06 - Closed",
}

TASK: dict[str, Any] = {
    "name": "bench_issues_to_incidents",
    "kind": "scheduled",
    "jira_conn_id": "jira_default",
    "esm_conn_id": "esm_default",
    "schedule": "0 3 * * *",
    "mode": "full",
    "mapping_type": "generic",
    "jql": "project = SUP",
    "template": "incident",
    "folder": "incident_management",
    "key": {"jira": "key", "esm": "jira_key"},
    "removed": {"attribute": "status", "value": "07 - Cancelled"},
    "attributes": {
        "subject": "fields.summary",
        "description": {"from": "fields.description", "transform": "adf_to_text"},
        "status": {"from": "fields.status.name", "map": STATUS_MAP, "default": "01 - New"},
        "priority": {
            "from": "fields.priority.name",
            "map": {"Highest": "1 - Critical", "High": "2 - High", "Medium": "3 - Normal", "Low": "4 - Low", "Lowest": "4 - Low"},
            "default": "3 - Normal",
        },
        "resolution": "fields.resolution.name",
        "labels": "fields.labels",
        "created": {"from": "fields.created", "transform": "datetime"},
    },
    "quality": [
        {"expect_column_values_to_not_be_null": {"column": "subject"}},
        {"expect_column_values_to_be_in_set": {"column": "priority", "value_set": ["1 - Critical", "2 - High", "3 - Normal", "4 - Low"]}},
    ],
}

STEPS = ("extract", "transform", "diff", "load", "mark_removed", "finish")


# ------------------------------------------------------------------------------ child process

def _rss_now_mib() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def _one_run(task: Any, jira: Any, esm: Any, state: Any, staging: Path, run_id: str) -> dict[str, Any]:
    from jira_esm_connector.pipeline import diff, extract, finish, load, mark_removed, run_dir, transform

    import tracemalloc

    path = run_dir(staging, task.name, run_id)
    t: dict[str, float] = {}
    traced: dict[str, float] = {}  # peak Python heap per step (MiB), with --tracemalloc

    def step(name: str, fn: Any) -> Any:
        if tracemalloc.is_tracing():
            tracemalloc.reset_peak()
        t0 = time.perf_counter()
        out = fn()
        t[name] = time.perf_counter() - t0
        if tracemalloc.is_tracing():
            traced[name] = tracemalloc.get_traced_memory()[1] / 2**20
        return out

    extracted = step("extract", lambda: extract(task, jira, state, path))
    transformed = step("transform", lambda: transform(task, extracted, path))
    diffed = step("diff", lambda: diff(task, transformed, state, path))
    loaded = step("load", lambda: load(task, diffed, esm, state))
    removed = step("mark_removed", lambda: mark_removed(task, extracted, esm, state)) if task.mode == "full" else None
    summary = step("finish", lambda: finish(task, state, run_id, extracted, transformed, diffed, loaded, removed,
                                            staging_root=staging))
    counts = {k: v for k, v in summary.items() if isinstance(v, (int, float)) and not isinstance(v, bool)}
    return {"seconds": t, "total_s": sum(t.values()), "counts": counts, "traced_peak_mib": traced,
            "fetched": extracted.get("fetched"), "carried": summary.get("carried", 0), "changed": diffed.get("changed"),
            "unchanged": summary.get("unchanged"), "created": loaded.get("created"),
            "updated": loaded.get("updated"), "refused": loaded.get("refused")}


def _incremental_runs(spec: dict[str, Any], jira: Any, esm: Any, state: Any, staging: Path) -> dict[str, Any]:
    """The same task as an incremental import: a first run (no watermark yet: fetches all,
    writes nothing), then 1 % of the issues change in Jira and a second run picks them up."""
    import requests

    from jira_esm_connector.config import parse_task

    doc = {k: v for k, v in TASK.items() if k != "removed"}
    task = parse_task({**doc, "mode": "incremental"}, "bench_issues_to_incidents.yaml")
    baseline = _one_run(task, jira, esm, state, staging, "bench__incremental_first")
    size = int(spec["size"])
    changed = max(1, size // 100)
    admin = requests.Session()
    admin.verify = spec["jira_ca"]
    step = max(1, size // changed)
    for i in range(changed):
        key = f"SUP-{1 + i * step}"
        resp = admin.patch(f"{spec['jira_url']}/_admin/issues/{key}", json={"summary": f"Changed by the benchmark ({key})"},
                           timeout=60)
        resp.raise_for_status()
    admin.close()
    requests.post(f"{spec['esm_root']}/_admin/stats/reset", verify=spec["esm_ca"], timeout=60).raise_for_status()
    run = _one_run(task, jira, esm, state, staging, "bench__incremental_changed")
    run["esm_requests"] = esm_api_requests(spec["esm_root"], spec["esm_ca"])
    run["changed_in_jira"] = changed
    return {"first": baseline, "changed": run}


def worker_main(spec: dict[str, Any]) -> dict[str, Any]:
    """Runs in the child: first import, then an unchanged re-run; returns the numbers."""
    import logging
    import os
    import resource

    for var in ("REQUESTS_CA_BUNDLE", "CURL_CA_BUNDLE"):
        os.environ.pop(var, None)
    logging.basicConfig(level=logging.WARNING)
    from jira_esm_connector.config import parse_task
    # import everything before the baseline
    from jira_esm_connector.esm import EsmClient  # noqa: F401
    from jira_esm_connector.jira import JiraClient  # noqa: F401
    from jira_esm_connector.pipeline import run_dir  # noqa: F401
    from jira_esm_connector.state import StateStore  # noqa: F401
    import pandas  # noqa: F401
    import great_expectations  # noqa: F401

    task = parse_task(dict(TASK), "bench_issues_to_incidents.yaml")
    jira = jira_client_at(spec["jira_url"], spec["jira_ca"])
    esm = esm_client_at(spec["esm_url"], spec["esm_ca"])
    state = state_store(spec["state_db"])
    staging = Path(spec["staging"])
    staging.mkdir(parents=True, exist_ok=True)
    baseline_rss = _rss_now_mib()
    baseline_peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    out: dict[str, Any] = {"baseline_rss_mib": baseline_rss, "baseline_peak_mib": baseline_peak}
    if spec.get("tracemalloc"):
        import tracemalloc

        tracemalloc.start()
    try:
        import requests

        requests_root = spec["esm_root"]
        requests.post(f"{requests_root}/_admin/stats/reset", verify=spec["esm_ca"], timeout=60).raise_for_status()
        first = _one_run(task, jira, esm, state, staging, "bench__first")
        first["peak_rss_mib"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        first["esm_requests"] = esm_api_requests(requests_root, spec["esm_ca"])
        out["first"] = first
        requests.post(f"{requests_root}/_admin/stats/reset", verify=spec["esm_ca"], timeout=60).raise_for_status()
        again = _one_run(task, jira, esm, state, staging, "bench__unchanged")
        again["peak_rss_mib"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        again["esm_write_requests"] = esm_write_count(esm_api_requests(requests_root, spec["esm_ca"]))
        out["unchanged"] = again
        if spec.get("incremental", True):
            out["incremental"] = _incremental_runs(spec, jira, esm, state, staging)
    finally:
        jira.close()
        esm.close()
        state.dispose()
    return out


# ------------------------------------------------------------------------------ parent

def _run_size(size: int, opts: Any, budget: Budget) -> dict[str, Any]:
    with workspace(f"pipeline-{size}", keep=opts.keep) as work:
        jira = start_jira_simulator(work / "jira", issues=size, projects=1, users=200, tls=opts.tls)
        with running(jira):
            esm = start_esm_simulator(work / "esm", tls=opts.tls)
            with running(esm):
                spec = {
                    "jira_url": jira.base_url, "jira_ca": jira.ca_pem, "esm_url": esm.base_url,
                    "esm_root": esm.root_url, "esm_ca": esm.ca_pem, "state_db": str(work / "state.db"),
                    "staging": str(work / "staging"), "tracemalloc": bool(getattr(opts, "tracemalloc", False)),
                    "size": size,
                }
                cmd = [sys.executable, "-m", "bench.pipeline", json.dumps(spec)]
                proc = subprocess.run(cmd, cwd=REPO_ROOT, capture_output=True, text=True,
                                      timeout=max(60.0, budget.left()))
                if proc.returncode != 0:
                    raise RuntimeError(f"pipeline worker for {size} issues failed:\n{proc.stderr[-4000:]}")
                data = json.loads(proc.stdout.strip().splitlines()[-1])
                data["esm_sim_rss_mib"] = esm.rss_mib()
                data["jira_sim_rss_mib"] = jira.rss_mib()
                return data


def run(opts: Any) -> BenchResult:
    sizes = [int(s) for s in str(opts.pipeline_sizes).split(",") if s.strip()]
    budget = Budget(float(opts.budget))
    result = BenchResult(NAME, TITLE, params={"sizes": ",".join(f"{s:,}" for s in sizes), "mode": "full",
                                              "ESM chunk": 200, "state store": "SQLite", "TLS": bool(opts.tls),
                                              "tracemalloc": bool(getattr(opts, "tracemalloc", False))})
    started = time.perf_counter()
    per_size: dict[int, Any] = {}
    for size in sizes:
        if budget.over():
            result.notes.append(f"time budget reached: size {size:,} not run")
            continue
        data = _run_size(size, opts, budget)
        per_size[size] = data
        first, again = data["first"], data["unchanged"]
        if first["fetched"] != size or first["created"] != size or first["refused"]:
            raise RuntimeError(f"first import of {size}: fetched {first['fetched']}, created {first['created']}, "
                               f"refused {first['refused']}")
        if again["changed"] != 0 or again["created"] or again["updated"] or again["esm_write_requests"]:
            raise RuntimeError(f"the unchanged re-run of {size} wrote to ESM: {again}")
        s = f"{size:,} issues"
        steps = ", ".join(f"{k} {v:.1f}" for k, v in first["seconds"].items())
        result.add(f"{s}: first import, wall time", first["total_s"], f"s ({steps})")
        result.add(f"{s}: first import, throughput", size / first["total_s"], "records/s")
        reqs = first.get("esm_requests") or {}
        result.add(f"{s}: first import, ESM requests", sum(reqs.values()),
                   "; ".join(f"{n:,} {k.replace('/rest-api/itsm/v1', '')}" for k, n in sorted(reqs.items(), key=lambda kv: -kv[1])))
        steps = ", ".join(f"{k} {v:.1f}" for k, v in again["seconds"].items())
        result.add(f"{s}: unchanged re-run, wall time", again["total_s"],
                   f"s ({steps}); {again['unchanged']:,} unchanged ({again['carried']:,} of them carried: not read "
                   f"again), {again['esm_write_requests']} ESM writes")
        result.add(f"{s}: unchanged re-run, throughput", size / again["total_s"], "records/s")
        inc = data.get("incremental")
        if inc:
            c = inc["changed"]
            if c["updated"] != c["changed_in_jira"] or c["created"] or c["refused"]:
                raise RuntimeError(f"the incremental run after {c['changed_in_jira']} changes in Jira: {c}")
            result.add(f"{s}: incremental, first run (no watermark yet)", inc["first"]["total_s"],
                       f"s; {inc['first']['fetched']:,} fetched, {inc['first']['changed']:,} changed")
            steps = ", ".join(f"{k} {v:.1f}" for k, v in c["seconds"].items())
            result.add(f"{s}: incremental run after {c['changed_in_jira']:,} issues changed in Jira", c["total_s"],
                       f"s ({steps}); {c['fetched']:,} fetched, {c['updated']:,} updated in ESM")
        growth = again["peak_rss_mib"] - data["baseline_rss_mib"]
        result.add(f"{s}: peak RSS of the pipeline process", again["peak_rss_mib"],
                   f"MiB (baseline after imports {data['baseline_rss_mib']:.0f} MiB; growth {growth:.0f} MiB)")
        data["growth_mib"] = growth
        for label, run_data in (("first import", first), ("unchanged re-run", again)):
            if run_data.get("traced_peak_mib"):
                result.add(f"{s}: {label}, peak Python heap per step (tracemalloc)",
                           max(run_data["traced_peak_mib"].values()),
                           "MiB (" + ", ".join(f"{k} {v:.0f}" for k, v in run_data["traced_peak_mib"].items()) + ")")
    result.data["sizes"] = {str(k): v for k, v in per_size.items()}
    if len(per_size) >= 2:
        small, large = min(per_size), max(per_size)
        g_small, g_large = per_size[small]["growth_mib"], per_size[large]["growth_mib"]
        result.add(f"peak RSS growth {large:,} vs {small:,} issues", g_large / g_small if g_small > 0 else float("nan"),
                   f"x for {large / small:.0f}x the records (RSS; --tracemalloc shows the heap per step)",
                   key="growth_ratio")
    result.seconds = time.perf_counter() - started
    return result


if __name__ == "__main__":
    print(json.dumps(worker_main(json.loads(sys.argv[1]))), flush=True)
