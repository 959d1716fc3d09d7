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


# ---------------------------------------------------------------------------- latency

def test_latency_benchmark_tiny_through_the_cli(tmp_path):
    size = 150  # two floor pages of 100
    md, js = tmp_path / "out.md", tmp_path / "out.json"
    assert main(["latency", "--tiny", "--no-tap", "--latency-sizes", str(size), "--jira-latency-ms", "5",
                 "--esm-latency-ms", "5", "--markdown", str(md), "--json", str(js)]) == 0
    report = json.loads(js.read_text())
    assert report["failed"] == [] and [r["name"] for r in report["results"]] == ["latency"]
    data = report["results"][0]["data"]["sizes"][str(size)]
    floor = data["floor"]
    assert floor["issues"] == size and floor["pages"] == 2
    assert floor["jira"]["total"] == 2 and floor["jira"]["endpoints"] == {"POST /rest/api/3/search/jql": 2}
    assert 1 <= floor["jira"]["peak_per_s"] <= 2
    assert data["tap"] is None
    c = data["connector"]
    first, again, inc = c["first"], c["unchanged"], c["incremental"]
    assert first["fetched"] == size and first["created"] == size and first["refused"] == 0
    assert set(first["seconds"]) == {"extract", "transform", "diff", "load", "mark_removed", "finish"}
    assert first["jira"]["total"] >= 1 and first["esm"]["writes"] >= 1
    assert 1 <= first["jira"]["peak_per_s"] <= first["jira"]["total"]
    assert again["unchanged"] == size and again["esm"]["writes"] == 0
    assert c["changed_in_jira"] == 1 and inc["updated"] == 1 and inc["fetched"] < size
    assert "mark_removed" not in inc["seconds"]  # incremental imports do not mark removed records
    assert c["peak_rss_mib"] >= c["baseline_rss_mib"] > 0
    assert data["check"] == {"issues": size, "cards": size}
    metrics = [row[0] for row in report["results"][0]["rows"]]
    assert any("first import / floor" in m for m in metrics) and any("ESM equals Jira" in m for m in metrics)
    assert not any("tap-jira" in m for m in metrics)  # skipped, so no row and no ratio
    text = md.read_text()
    assert "python -m bench latency --tiny --no-tap" in text and "| 150 issues: ESM equals Jira | yes |" in text


def test_esm_jira_check_on_the_simulators_passes_only_when_equal(tmp_path):
    """The benchmark's final check against real simulators: cards written as the mapping says
    pass; one edited in ESM, one missing or one extra fails the run loudly."""
    from bench.common import esm_client_at, no_ca_bundle_env, running, start_esm_simulator, start_jira_simulator
    from bench.latency import check_esm_equals_jira, expected_card, jira_session, search_pages

    no_ca_bundle_env()
    jira = start_jira_simulator(tmp_path / "jira", issues=30, projects=1, users=20, groups=2)
    esm = start_esm_simulator(tmp_path / "esm")
    with running(jira, esm), esm_client_at(esm.base_url, esm.ca_pem) as client:
        jql = "project = SUP ORDER BY key"
        with jira_session(jira.ca_pem) as session:
            issues = [i for page in search_pages(session, jira.base_url, jql, ["summary", "status", "priority"])
                      for i in page]
        ids = {i["key"]: client.create_card("incident", {"jira_key": i["key"], **expected_card(i["fields"])},
                                            folder="incident_management") for i in issues}
        assert check_esm_equals_jira(jira, esm, jql) == {"issues": 30, "cards": 30}
        client.patch_card("incident", ids["SUP-3"], {"subject": "edited in ESM behind the back of the connector"})
        with pytest.raises(RuntimeError, match=r"(?s)ESM does not equal Jira: 1 problem.*SUP-3: subject is 'edited in ESM"):
            check_esm_equals_jira(jira, esm, jql)
        client.patch_card("incident", ids["SUP-3"], {"subject": issues[2]["fields"]["summary"]})
        extra = client.create_card("incident", {"jira_key": "SUP-5", **expected_card(issues[4]["fields"])},
                                   folder="incident_management")
        with pytest.raises(RuntimeError, match="SUP-5 has two cards"):
            check_esm_equals_jira(jira, esm, jql)
        client.delete_card("incident", extra)
        client.delete_card("incident", ids["SUP-7"])
        with pytest.raises(RuntimeError, match="SUP-7 has no card in ESM"):
            check_esm_equals_jira(jira, esm, jql)


def test_esm_jira_check_names_every_kind_of_difference():
    from bench.latency import compare_esm_with_jira, expected_card

    fields = {"summary": "Printer on fire", "status": {"name": "In Progress"}, "priority": {"name": "Highest"}}
    want = expected_card(fields)
    assert want == {"subject": "Printer on fire", "status": "02 - Solving", "priority": "1 - Critical"}
    assert expected_card({"summary": "x", "status": {"name": "Unknown"}, "priority": None}) == {
        "subject": "x", "status": "01 - New", "priority": "3 - Normal"}
    expected = {"SUP-1": want, "SUP-2": want, "SUP-3": want}
    cards = [{"id": str(i), "jira_key": f"SUP-{i}", **want} for i in (1, 2, 3)]
    assert compare_esm_with_jira(expected, cards) == []
    problems = compare_esm_with_jira(expected, [
        cards[0],
        {**cards[1], "status": "05 - Solved"},             # a value differs
        {**cards[0], "id": "9"},                            # a second card for one key
        {"id": "10", "jira_key": "SUP-77", **want},         # a card for no issue
        {"id": "11", "jira_key": None, **want},             # a card without a key
    ])                                                      # and SUP-3 has no card
    assert problems == [
        "SUP-2: status is '05 - Solved' in ESM but '02 - Solving' by Jira",
        "SUP-1 has two cards (1 and 9)",
        "card 10 is for SUP-77, which Jira does not have",
        "card 11 has no Jira key",
        "SUP-3 has no card in ESM",
    ]


def test_peak_request_rate_in_a_sliding_second():
    from devtools.jira_simulator.knobs import peak_in_window

    assert peak_in_window([]) == 0
    assert peak_in_window([5.0]) == 1
    # 3 inside [0.5, 1.5], though each fixed second (0-1, 1-2) holds only 2
    assert peak_in_window([0.1, 0.6, 0.9, 1.4, 2.6]) == 3
    assert peak_in_window([2.0, 1.0, 0.0]) == 2  # a window holds its start and its end; any order
    assert peak_in_window([0.0, 1.01, 2.02]) == 1
    assert peak_in_window([0.0] * 4 + [10.0]) == 4


def test_tap_records_are_counted_by_stream_and_id(tmp_path):
    from bench.latency import count_tap_records

    out = tmp_path / "tap.jsonl"
    lines = [
        {"type": "SCHEMA", "stream": "issues", "schema": {}, "key_properties": ["id"]},
        {"type": "RECORD", "stream": "issues", "record": {"id": "10001", "key": "SUP-1"}},
        {"type": "RECORD", "stream": "issues", "record": {"id": "10002", "key": "SUP-2"}},
        {"type": "RECORD", "stream": "issues", "record": {"id": "10002", "key": "SUP-2"}},
        {"type": "RECORD", "stream": "issue_comments", "record": {"id": "1"}},
        {"type": "STATE", "value": {"bookmarks": {}}},
    ]
    out.write_text("\n".join(json.dumps(line) for line in lines) + "\n")
    assert count_tap_records(out) == (3, 2)


def test_latency_options():
    opts = resolve(parser().parse_args(["latency"]))
    assert (opts.latency_sizes, opts.jira_latency_ms, opts.esm_latency_ms, opts.tap) == ("20000,100000", 100, 50, True)
    opts = resolve(parser().parse_args(["latency", "--latency-sizes", "5,7", "--jira-latency-ms", "3",
                                        "--esm-latency-ms", "4", "--no-tap"]))
    assert (opts.latency_sizes, opts.jira_latency_ms, opts.esm_latency_ms, opts.tap) == ("5,7", 3, 4, False)
    assert tiny().tap is False
