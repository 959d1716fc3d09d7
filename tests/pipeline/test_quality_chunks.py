"""The quality gate in bounded memory: chunked validation gives exactly the verdicts, failing
records and counts of validating the whole batch as one frame -- for row-wise expectations
(counts and ``mostly`` added up over chunks), schema ones (first chunk), and those that need
whole columns (uniqueness, order, types, aggregates, row counts) across chunk boundaries."""
from __future__ import annotations

import tracemalloc
from collections import Counter

import pandas as pd
import pytest

from jira_esm_connector.config.scheduled import QualityExpectation
from jira_esm_connector.config import KNOWN_EXPECTATIONS
from jira_esm_connector.pipeline import QualityError, extract, run_dir, transform
from jira_esm_connector.pipeline.quality import (
    KEY_COLUMN,
    ROW_WISE,
    SCHEMA_ONLY,
    QualityGate,
    columns_needed,
    validate_frame,
)

from .conftest import ISSUES_TASK, make_task
from .helpers import jira_issues, run_id

# one case uses GX's string row_condition on purpose (deprecated in GX, still supported)
pytestmark = pytest.mark.filterwarnings("ignore:.*(row_condition|condition_parser).*:DeprecationWarning")

COLUMNS = [KEY_COLUMN, "subject", "status", "points", "created", "a", "b"]


def exp(name: str, **kwargs) -> QualityExpectation:
    return QualityExpectation(name=name, class_name=KNOWN_EXPECTATIONS[name], kwargs=kwargs)


def rows(n: int = 10) -> list[dict]:
    out = []
    for i in range(n):
        out.append({
            KEY_COLUMN: f"SUP-{i + 1}",
            "subject": f"Subject {i}",
            "status": ["01 - New", "02 - Solving", "05 - Solved"][i % 3],
            "points": i if i != 7 else None,  # one null: a float column on the whole frame
            "created": f"2026-01-{i + 1:02d}",
            "a": i * 2,
            "b": i,
        })
    return out


def gate_failures(expectations, data, chunk_rows):
    gate = QualityGate(expectations, COLUMNS, chunk_rows=chunk_rows)
    for row in data:
        gate.add(row)
    return gate.finish(), gate


def whole_failures(expectations, data):
    return validate_frame(pd.DataFrame(data, columns=COLUMNS), expectations)


def summary(failures):
    return [(f.expectation, f.failing_count, sorted(f.failing_keys), repr(f.observed), bool(f.error)) for f in failures]


def test_a_duplicate_split_across_two_chunks_is_caught():
    data = rows(10)
    data[8]["subject"] = data[1]["subject"]  # SUP-2 (chunk 1) and SUP-9 (chunk 3) with chunk_rows=4
    failures, gate = gate_failures([exp("expect_column_values_to_be_unique", column="subject")], data, 4)
    assert gate.chunks == 3
    assert len(failures) == 1
    assert failures[0].failing_count == 2 and sorted(failures[0].failing_keys) == ["SUP-2", "SUP-9"]
    assert summary(failures) == summary(whole_failures([exp("expect_column_values_to_be_unique", column="subject")], data))


def test_compound_uniqueness_and_order_across_chunk_boundaries():
    data = rows(9)
    data[6]["a"], data[6]["b"] = data[0]["a"], data[0]["b"]  # SUP-1 and SUP-7: chunks 1 and 3
    data[3]["b"] = -1  # b decreases exactly at the boundary between chunks 1 and 2 (chunk_rows=3)
    expectations = [
        exp("expect_compound_columns_to_be_unique", column_list=["a", "b"]),
        exp("expect_column_values_to_be_increasing", column="b"),
    ]
    failures, _ = gate_failures(expectations, data, 3)
    assert [f.expectation for f in failures] == ["expect_compound_columns_to_be_unique", "expect_column_values_to_be_increasing"]
    assert sorted(failures[0].failing_keys) == ["SUP-1", "SUP-7"]
    assert "SUP-4" in failures[1].failing_keys
    assert summary(failures) == summary(whole_failures(expectations, data))


def test_mostly_is_decided_on_the_totals_not_per_chunk():
    data = rows(12)
    for i in (0, 1):  # two bad values, both in the first chunk of 3 (2/3 bad there, 2/12 overall)
        data[i]["status"] = "99 - Bogus"
    in_set = dict(column="status", value_set=["01 - New", "02 - Solving", "05 - Solved"])
    passes = [exp("expect_column_values_to_be_in_set", mostly=0.8, **in_set)]
    fails = [exp("expect_column_values_to_be_in_set", mostly=0.9, **in_set)]
    assert gate_failures(passes, data, 3)[0] == [] == whole_failures(passes, data)
    failures, _ = gate_failures(fails, data, 3)
    assert summary(failures) == summary(whole_failures(fails, data))
    assert failures[0].failing_count == 2 and sorted(failures[0].failing_keys) == ["SUP-1", "SUP-2"]
    # null checks count every row (GX divides by rows there, not by non-null values)
    nulls = [exp("expect_column_values_to_not_be_null", column="points", mostly=0.95)]
    assert summary(gate_failures(nulls, data, 5)[0]) == summary(whole_failures(nulls, data)) != []


EXPECTATION_CASES = [
    exp("expect_column_values_to_not_be_null", column="points"),
    exp("expect_column_values_to_be_in_set", column="status", value_set=["01 - New", "02 - Solving"]),
    exp("expect_column_values_to_match_regex", column="subject", regex=r"^Subject [0-4]$"),
    exp("expect_column_values_to_be_between", column="points", min_value=0, max_value=5),
    exp("expect_column_value_lengths_to_be_between", column="subject", max_value=8, mostly=0.5),
    exp("expect_column_pair_values_a_to_be_greater_than_b", column_A="a", column_B="b", or_equal=False),
    exp("expect_multicolumn_sum_to_equal", column_list=["a", "b"], sum_total=6),
    exp("expect_column_values_to_be_unique", column="status"),
    exp("expect_column_min_to_be_between", column="points", min_value=1),
    exp("expect_column_max_to_be_between", column="points", max_value=8),
    exp("expect_column_mean_to_be_between", column="a", min_value=100),
    exp("expect_column_median_to_be_between", column="a", max_value=3),
    exp("expect_column_sum_to_be_between", column="b", max_value=10),
    exp("expect_column_stdev_to_be_between", column="a", max_value=1),
    exp("expect_column_distinct_values_to_be_in_set", column="status", value_set=["01 - New"]),
    exp("expect_column_unique_value_count_to_be_between", column="status", max_value=2),
    exp("expect_column_proportion_of_unique_values_to_be_between", column="status", min_value=0.5),
    exp("expect_column_proportion_of_non_null_values_to_be_between", column="points", min_value=1.0),
    exp("expect_column_most_common_value_to_be_in_set", column="status", value_set=["05 - Solved"]),
    exp("expect_column_type_to_be", column="points", type_="int64"),
    exp("expect_column_values_to_be_of_type", column="points", type_="int64"),
    exp("expect_table_row_count_to_be_between", min_value=1, max_value=9),
    exp("expect_table_row_count_to_equal", value=11),
    exp("expect_table_column_count_to_equal", value=3),
    exp("expect_table_columns_to_match_set", column_set=["subject"]),
    exp("expect_column_to_exist", column="nope"),
    exp("expect_column_values_to_be_in_set", column="status", value_set=["01 - New"], row_condition='a>10',
        condition_parser="pandas"),
]


@pytest.mark.parametrize("expectation", EXPECTATION_CASES, ids=lambda e: e.name)
def test_chunked_verdicts_equal_the_whole_frame(expectation):
    data = rows(10)
    whole = whole_failures([expectation], data)
    assert whole, "each case fails on the whole frame, so the comparison means something"
    for chunk_rows in (1, 3, 4, 10, 100):
        chunked, _ = gate_failures([expectation], data, chunk_rows)
        assert summary(chunked) == summary(whole), chunk_rows


def test_all_cases_together_keep_the_declared_order():
    data = rows(10)
    chunked, _ = gate_failures(EXPECTATION_CASES, data, 3)
    assert summary(chunked) == summary(whole_failures(EXPECTATION_CASES, data))
    assert [f.expectation for f in chunked] == [e.name for e in EXPECTATION_CASES]


def test_passing_batch_and_empty_batch():
    ok = [exp("expect_column_values_to_be_unique", column="subject"), exp("expect_table_row_count_to_equal", value=10)]
    assert gate_failures(ok, rows(10), 3)[0] == []
    empty = [exp("expect_table_row_count_to_be_between", min_value=1)]
    failures, _ = gate_failures(empty, [], 3)
    assert [f.expectation for f in failures] == ["expect_table_row_count_to_be_between"]


def test_every_known_expectation_is_classified_and_needs_only_its_columns():
    for name in KNOWN_EXPECTATIONS:
        assert not (name in ROW_WISE and name in SCHEMA_ONLY)
    assert columns_needed({"column": "status"}, COLUMNS) == ["status"]
    assert columns_needed({"column_A": "a", "column_B": "b"}, COLUMNS) == ["a", "b"]
    assert columns_needed({"column_list": ["a", "b", "zz"]}, COLUMNS) == ["a", "b"]
    assert columns_needed({"min_value": 1}, COLUMNS) == []
    assert columns_needed({"column": "a", "row_condition": "b>1"}, COLUMNS) is None


def _peak_mib(n: int, expectations) -> float:
    gate = QualityGate(expectations, COLUMNS, chunk_rows=2_000)
    tracemalloc.start()
    try:
        for i in range(n):
            gate.add({KEY_COLUMN: f"SUP-{i}", "subject": f"A fairly long subject line number {i} " * 3,
                      "status": "01 - New", "points": i, "created": "2026-01-01", "a": i, "b": i})
        gate.finish()
        return tracemalloc.get_traced_memory()[1] / 2**20
    finally:
        tracemalloc.stop()


TEXT_EXPECTATIONS = [
    exp("expect_column_values_to_match_regex", column="points", regex=r"^\d+$"),
    exp("expect_column_values_to_not_match_regex", column="points", regex=r"\.0$"),
    exp("expect_column_values_to_match_regex_list", column="points", regex_list=[r"^\d+$", r"^x"]),
    exp("expect_column_value_lengths_to_equal", column="points", value=1),
    exp("expect_column_value_lengths_to_be_between", column="points", min_value=1, max_value=1),
    exp("expect_column_values_to_be_json_parseable", column="points"),
]


@pytest.mark.parametrize("chunk_rows", [1, 2, 3, 100])
@pytest.mark.parametrize("expectation", TEXT_EXPECTATIONS, ids=lambda e: e.name)
def test_a_verdict_on_values_read_as_text_does_not_depend_on_where_the_chunks_split(expectation, chunk_rows):
    """One pandas frame reads an integer column holding an empty value as floats ("1.0"), a
    chunk without the empty value as ints ("1"): the same batch would pass or fail by the
    chunk size. Such expectations see each value as it is: "1", whatever the chunks."""
    data = [{KEY_COLUMN: f"SUP-{i}", "subject": "s", "status": "01 - New", "points": v, "created": "2026-01-01",
             "a": 1, "b": 1} for i, v in enumerate([1, 2, 3, None, 4, 5], start=1)]
    as_is = pd.DataFrame({c: pd.Series([row[c] for row in data], dtype=object) for c in COLUMNS}, columns=COLUMNS)
    expected = summary(validate_frame(as_is, [expectation]))
    assert summary(gate_failures([expectation], data, chunk_rows)[0]) == expected
    if expectation.name == "expect_column_values_to_match_regex":
        assert summary(whole_failures([expectation], data)) != expected  # one pandas frame reads "1.0"


def test_memory_stays_flat_as_the_batch_grows():
    row_wise = [exp("expect_column_values_to_not_be_null", column="subject"),
                exp("expect_column_values_to_be_in_set", column="status", value_set=["01 - New"])]
    _peak_mib(2_000, row_wise)  # GX's own one-off allocations out of the way
    small, large = _peak_mib(4_000, row_wise), _peak_mib(16_000, row_wise)
    assert large < small * 1.5, (small, large)
    text = row_wise + [exp("expect_column_value_lengths_to_be_between", column="subject", min_value=1)]
    assert _peak_mib(16_000, text) < _peak_mib(4_000, text) * 1.5, "text expectations run per chunk too"
    # a whole-column expectation keeps only its column and the key, not the whole rows
    whole = row_wise + [exp("expect_column_values_to_be_unique", column="status")]
    assert _peak_mib(16_000, whole) < large + 8, "the compact column frame stays small"


def test_transform_in_small_chunks_catches_duplicates_over_the_whole_batch(jira, state, staging):
    """Through the real extract and transform against the Jira simulator: uniqueness of the
    status over issues split into chunks of 2 rows fails exactly where one frame fails."""
    task = make_task(ISSUES_TASK, name="test_quality_chunks", mode="full", removed=False,
                     quality=[{"expect_column_values_to_be_unique": {"column": "status"}},
                              {"expect_column_values_to_be_unique": {"column": "jira_key"}}])
    issues = jira_issues(jira, "project = SUP")
    mapped = {"In Progress": "02 - Solving", "Done": "05 - Solved", "Resolved": "05 - Solved", "Closed": "06 - Closed"}
    status = {k: mapped.get(i["fields"]["status"]["name"], "01 - New") for k, i in issues.items()}
    counts = Counter(status.values())
    duplicated = sorted(k for k, s in status.items() if counts[s] > 1)
    assert duplicated
    messages = []
    for n, chunk_rows in enumerate((2, 100_000)):
        path = run_dir(staging, task.name, run_id(f"q{n}"))
        extracted = extract(task, jira, state, path)
        with pytest.raises(QualityError) as err:
            transform(task, extracted, path, chunk_rows=chunk_rows)
        (failure,) = err.value.failures  # jira_key is unique in both
        assert failure.kwargs["column"] == "status"
        assert failure.failing_count == len(duplicated)
        assert sorted(failure.failing_keys) == duplicated
        messages.append(str(err.value))
    assert messages[0] == messages[1]
