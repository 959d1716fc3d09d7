"""Benchmarks, run on demand (``make bench`` = ``python -m bench``); results in ``bench/RESULTS.md``.

One module per benchmark, each with ``NAME``, ``TITLE`` and ``run(opts) -> BenchResult``:

- ``jira``     (:mod:`bench.jira_search`): Jira simulator at 500k issues -- seeding, search/jql
  first vs deep page for several JQL shapes, the JiraClient paging a large result.
- ``esm``      (:mod:`bench.esm_cards`): ESM simulator at 500k cards -- keyset paging first vs
  deep page, EQL filter latency, bulk import throughput (chunks of 200).
- ``pipeline`` (:mod:`bench.pipeline`): the import pipeline end to end at 10k and 50k issues --
  wall time, records/s, peak RSS per size, unchanged re-run.
- ``events``   (:mod:`bench.events`): one create_issue event push (operation function and
  run_event), p50/p95 latency, without Airflow.
- ``airflow``  (:mod:`bench.airflow_events`): the same event through a real ``airflow standalone``,
  trigger -> run success, against a no-op one-task DAG (Airflow's floor).
- ``latency``  (:mod:`bench.latency`): the import at cloud latency (Jira 100 ms, ESM 50 ms per
  request) at 20k and 100k issues next to the sequential search/jql floor and Singer tap-jira
  on the same data; steps, requests, peak Jira rate, peak RSS, and ESM checked equal to Jira.

Speed and memory targets are checked here, never by timed tests; ``tests/bench`` only proves
that each benchmark runs at a tiny size.
"""
from __future__ import annotations

import importlib
from types import ModuleType

# benchmark name -> module (imported on use, so ``python -m bench.pipeline`` runs cleanly)
BENCHMARKS = {
    "jira": "bench.jira_search",
    "esm": "bench.esm_cards",
    "pipeline": "bench.pipeline",
    "events": "bench.events",
    "airflow": "bench.airflow_events",
    "latency": "bench.latency",
}


def load(name: str) -> ModuleType:
    return importlib.import_module(BENCHMARKS[name])


__all__ = ["BENCHMARKS", "load"]
