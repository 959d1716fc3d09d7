"""Smoke test: every benchmark runs at a tiny size and reports numbers that make sense.

This proves the benchmarks work; it measures nothing (speed and memory are judged from
``python -m bench`` at the documented sizes, recorded in bench/RESULTS.md).
"""
from __future__ import annotations

import json
import math
import re
from argparse import Namespace

import pytest

from bench import BENCHMARKS, load
from bench.__main__ import TINY, main, parser, resolve

pytestmark = pytest.mark.timeout(120)


def tiny(**changes) -> Namespace:
    opts = resolve(parser().parse_args(["--tiny"]))
    for key, value in changes.items():
        setattr(opts, key, value)
    return opts


def positive(value) -> bool:
    return isinstance(value, (int, float)) and math.isfinite(value) and value > 0


def test_cli_defaults_are_the_documented_sizes():
    opts = resolve(parser().parse_args([]))
    assert opts.benchmarks == list(BENCHMARKS)
    assert opts.jira_issues == 500_000 and opts.esm_cards == 500_000
    assert opts.pipeline_sizes == "10000,50000"
    assert opts.tls is True
    with pytest.raises(SystemExit):
        resolve(parser().parse_args(["nonsense"]))


def test_jira_benchmark_tiny():
    result = load("jira").run(tiny(jira_issues=2000))
    assert positive(result.data["seed_s"]) or result.data["seed_s"] == 0
    assert positive(result.data["client_fields_rate"]) and positive(result.data["client_ids_rate"])
    shapes = result.data["shapes"]
    assert len(shapes) == 3
    for shape in shapes:
        assert shape["complete"] and shape["result_size"] > 0
        assert shape["deep_ms"] is not None, shape["jql"]  # a page near the end was timed
        assert positive(shape["first_ms"]["p50"]) and positive(shape["deep_ms"]["p50"])
    # one project of three holds a third of the issues
    assert shapes[0]["result_size"] == 2000 // 3 + (1 if 2000 % 3 else 0)
    assert "| metric |" in result.markdown()


def test_esm_benchmark_tiny():
    result = load("esm").run(tiny())
    for key in ("client_read_rate", "create_rate", "update_rate", "startup_s"):
        assert positive(result.data[key]), key
    assert set(result.data["paging"]) == {"info elements", "full data cards"}
    assert len(result.data["filters"]) == 7
    assert all(f["first_page_cards"] > 0 for f in result.data["filters"])
    by_what = {f["what"].split(":")[0]: f for f in result.data["filters"]}
    # the import's 50-key lookup finds all 50 cards, OR-ed or with in (...)
    assert by_what["50 keys OR-ed"]["first_page_cards"] == 50


def test_pipeline_benchmark_tiny():
    result = load("pipeline").run(tiny(pipeline_sizes="120", tracemalloc=True))
    data = result.data["sizes"]["120"]
    assert data["first"]["created"] == 120 and data["first"]["fetched"] == 120
    assert data["unchanged"]["unchanged"] == 120
    assert data["unchanged"]["esm_write_requests"] == 0
    changed = data["incremental"]["changed"]
    assert changed["changed_in_jira"] == 1 and changed["updated"] == 1 and changed["fetched"] >= 1
    assert changed["fetched"] < 120  # only what changed since the watermark (plus the overlap)
    assert sum(n for k, n in data["first"]["esm_requests"].items() if k.startswith("PUT")) >= 1
    assert data["unchanged"]["peak_rss_mib"] >= data["baseline_rss_mib"] > 0
    assert set(data["first"]["traced_peak_mib"]) == {"extract", "transform", "diff", "load", "mark_removed", "finish"}
    assert all(v > 0 for v in data["first"]["traced_peak_mib"].values())


def test_events_benchmark_through_the_cli(tmp_path):
    md, js = tmp_path / "out.md", tmp_path / "out.json"
    assert main(["events", "--tiny", "--event-runs", "3", "--markdown", str(md), "--json", str(js)]) == 0
    report = json.loads(js.read_text())
    assert report["failed"] == [] and [r["name"] for r in report["results"]] == ["events"]
    data = report["results"][0]["data"]
    assert data["op_ms"]["n"] == 3 and data["run_event_ms"]["n"] == 3 and data["replay_ms"]["n"] == 3
    assert re.fullmatch(r"SUP-\d+", str(data["written_back"]))  # the issue key reached the ESM card
    assert data["jira_requests"].get("POST /rest/api/3/issue") == 3  # one create per push, no repeats
    text = md.read_text()
    assert "python -m bench events --tiny" in text and "CPU cores" in text


def test_tiny_sizes_cover_every_option():
    assert set(TINY) <= set(vars(tiny()))


def test_time_budget_stops_a_benchmark_early():
    result = load("jira").run(tiny(jira_issues=300, budget=0))
    assert result.data["shapes"] == []
    assert any("time budget reached" in note for note in result.notes)
    assert "time budget reached" in result.markdown()
