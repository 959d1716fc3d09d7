"""Extract maps each page as it stages it (``pipeline.transform.TransformAhead``) and transform
uses that work only when it is exactly what it would have made itself: same extract, same
mapping, values that read back as mapped. Against the running Jira simulator."""
from __future__ import annotations

import json
import logging

import pytest

from jira_esm_connector.pipeline import TransformError, extract, run_dir, transform
from jira_esm_connector.pipeline.quality import QualityError
from jira_esm_connector.pipeline.staging import Dataset
from jira_esm_connector.pipeline.transform import AHEAD_FOLDER, TransformAhead

from .conftest import ISSUES_TASK, make_task
from .helpers import run_id

FULL = dict(ISSUES_TASK, name="test_ahead", mode="full", removed=False)


def _rows(dataset: str) -> list[dict]:
    return [row for page in Dataset(dataset).iter_pages() for row in page]


def _mapped_again(task, extracted, tmp_path) -> list[dict]:
    """What transform makes from the same extract without any head start."""
    return _rows(transform(task, extracted, tmp_path / "again")["dataset"])


def test_transform_takes_the_records_mapped_during_extract(jira, state, staging, tmp_path, caplog):
    task = make_task(FULL)
    path = run_dir(staging, task.name, run_id(1))
    extracted = extract(task, jira, state, path)
    with caplog.at_level(logging.INFO, logger="jira_esm_connector.pipeline"):
        result = transform(task, extracted, path)

    assert f"/{AHEAD_FOLDER}/" in result["dataset"]
    assert "mapped while they were extracted" in caplog.text
    rows = _rows(result["dataset"])
    assert result["transformed"] == len(rows) == extracted["fetched"] > 20
    assert rows == _mapped_again(task, extracted, tmp_path)  # row for row, fingerprints included


def test_a_mapping_changed_after_extract_is_applied_by_transform(jira, state, staging, tmp_path):
    path = run_dir(staging, "test_ahead", run_id(1))
    extracted = extract(make_task(FULL), jira, state, path)
    changed = make_task(dict(FULL, attributes=dict(FULL["attributes"], subject="key")))

    result = transform(changed, extracted, path)

    assert not f"/{AHEAD_FOLDER}/" in result["dataset"]
    rows = _rows(result["dataset"])
    assert rows and all(f'"subject":"{row["key"]}"' in row["data"] for row in rows)
    assert rows == _mapped_again(changed, extracted, tmp_path)


def test_another_extract_of_the_same_run_folder_is_not_taken_for_this_one(jira, state, staging):
    task = make_task(FULL)
    path = run_dir(staging, task.name, run_id(1))
    extracted = extract(task, jira, state, path)

    result = transform(task, dict(extracted, fetched=extracted["fetched"] + 1), path)

    assert not f"/{AHEAD_FOLDER}/" in result["dataset"]


def test_records_that_cannot_be_mapped_are_reported_by_transform_as_without_head_start(jira, state, staging, tmp_path):
    task = make_task(dict(FULL, attributes=dict(FULL["attributes"], created={"from": "fields.summary", "transform": "datetime"})))
    path = run_dir(staging, task.name, run_id(1))
    extracted = extract(task, jira, state, path)  # the mapping errors found ahead do not stop extract

    with pytest.raises(TransformError) as ahead:
        transform(task, extracted, path)
    with pytest.raises(TransformError) as itself:
        transform(task, extracted, tmp_path / "again")

    assert str(ahead.value) == str(itself.value)
    assert "could not be mapped" in str(ahead.value)


def test_values_that_would_not_read_back_as_mapped_are_mapped_by_transform(jira, state, staging, tmp_path):
    # NaN is staged as NaN but never equals itself: the quality gate must see the mapped value
    task = make_task(dict(FULL, attributes=dict(FULL["attributes"], score={"value": float("nan")})))
    path = run_dir(staging, task.name, run_id(1))
    extracted = extract(task, jira, state, path)

    result = transform(task, extracted, path)

    assert not f"/{AHEAD_FOLDER}/" in result["dataset"]
    assert result["transformed"] == extracted["fetched"]


def test_a_failure_while_mapping_ahead_costs_only_the_head_start(jira, state, staging, tmp_path, monkeypatch, caplog):
    task = make_task(FULL)
    path = run_dir(staging, task.name, run_id(1))

    def broken(self, page):
        raise OSError("disk full")

    monkeypatch.setattr(TransformAhead, "add_page", broken)
    with caplog.at_level(logging.WARNING, logger="jira_esm_connector.pipeline"):
        extracted = extract(task, jira, state, path)
    monkeypatch.undo()

    assert "Could not map the records while extracting them (disk full)" in caplog.text
    result = transform(task, extracted, path)
    assert not f"/{AHEAD_FOLDER}/" in result["dataset"]
    assert _rows(result["dataset"]) == _mapped_again(task, extracted, tmp_path)


# --- the quality gate runs during extract too: transform takes its verdict -----------------------

FAILING = [
    {"expect_column_values_to_not_be_null": {"column": "subject"}},  # passes
    {"expect_column_values_to_be_in_set": {"column": "status", "value_set": ["01 - New"]}},  # row-wise: fails
    {"expect_column_values_to_be_unique": {"column": "status"}},  # whole column: fails
    {"expect_column_mean_to_be_between": {"column": "created_year", "min_value": 3000}},  # aggregate: fails
]
CHECKED = dict(FULL, attributes=dict(FULL["attributes"], created_year={"value": 2024}))


def _refuse_gate_runs(monkeypatch):
    """From now on, a gate fed any record fails the test: only a stored verdict can answer."""
    from jira_esm_connector.pipeline.quality import QualityGate

    def no(self, row):
        raise AssertionError("the gate ran again in transform")

    monkeypatch.setattr(QualityGate, "add", no)


def test_transform_takes_the_quality_verdict_reached_during_extract(jira, state, staging, tmp_path, caplog, monkeypatch):
    task = make_task(CHECKED, quality=FAILING)
    path = run_dir(staging, task.name, run_id(1))
    extracted = extract(task, jira, state, path)
    with pytest.raises(QualityError) as itself:  # no head start: the gate runs in transform
        transform(task, extracted, tmp_path / "again")

    _refuse_gate_runs(monkeypatch)
    with caplog.at_level(logging.INFO, logger="jira_esm_connector.pipeline"), pytest.raises(QualityError) as ahead:
        transform(task, extracted, path)

    assert "data-quality checks ran on the" in caplog.text
    assert str(ahead.value) == str(itself.value)  # same expectations, records, counts and observed value
    assert [f.expectation for f in ahead.value.failures] == [
        "expect_column_values_to_be_in_set", "expect_column_values_to_be_unique", "expect_column_mean_to_be_between"]
    assert ahead.value.failures[0].failing_count == itself.value.failures[0].failing_count > 0
    assert "(observed value 2024.0)" in str(ahead.value)  # not np.float64(2024.0)


def test_a_batch_that_passed_the_gate_during_extract_is_not_checked_again(jira, state, staging, tmp_path, monkeypatch):
    task = make_task(CHECKED, quality=FAILING[:1])
    path = run_dir(staging, task.name, run_id(1))
    extracted = extract(task, jira, state, path)

    _refuse_gate_runs(monkeypatch)
    result = transform(task, extracted, path)

    assert result["quality_checked"] and f"/{AHEAD_FOLDER}/" in result["dataset"]
    assert result["transformed"] == extracted["fetched"] > 20


def test_a_gate_that_failed_to_run_during_extract_runs_in_transform(jira, state, staging, tmp_path, monkeypatch, caplog):
    from jira_esm_connector.pipeline.quality import QualityGate

    task = make_task(CHECKED, quality=FAILING)
    path = run_dir(staging, task.name, run_id(1))
    real_add = QualityGate.add

    def broken(self, row):
        raise MemoryError("no room for the chunk")

    monkeypatch.setattr(QualityGate, "add", broken)
    with caplog.at_level(logging.WARNING, logger="jira_esm_connector.pipeline"):
        extracted = extract(task, jira, state, path)
    monkeypatch.setattr(QualityGate, "add", real_add)

    assert "Could not run the data-quality checks while extracting (no room for the chunk)" in caplog.text
    with pytest.raises(QualityError) as ahead:
        transform(task, extracted, path)  # mapped ahead, checked here
    with pytest.raises(QualityError) as itself:
        transform(task, extracted, tmp_path / "again")
    assert str(ahead.value) == str(itself.value)


def test_a_verdict_in_other_chunks_than_transform_asks_for_is_not_taken(jira, state, staging, monkeypatch, caplog):
    task = make_task(CHECKED, quality=FAILING[:1])
    path = run_dir(staging, task.name, run_id(1))
    extracted = extract(task, jira, state, path)

    with caplog.at_level(logging.INFO, logger="jira_esm_connector.pipeline"):
        result = transform(task, extracted, path, chunk_rows=3)

    assert "data-quality checks ran on the" not in caplog.text
    assert result["quality_checked"] and f"/{AHEAD_FOLDER}/" in result["dataset"]


def test_a_stored_failure_describes_itself_in_the_same_words():
    import numpy as np

    from jira_esm_connector.pipeline.quality import QualityFailure

    failures = [
        QualityFailure("expect_column_mean_to_be_between", {"column": "n", "min_value": 3}, observed=np.float64(2.5)),
        QualityFailure("expect_column_distinct_values_to_equal_set", {"column": "s", "value_set": ["a"]},
                       observed=[f"value {i}" for i in range(10_000)]),
        QualityFailure("expect_column_values_to_be_in_set", {"column": "s", "value_set": ["a", "b"]},
                       failing_keys=[f"SUP-{i}" for i in range(30)], failing_count=31),
        QualityFailure("expect_column_to_exist", {"column": "x"}, error="column x is missing"),
    ]
    for failure in failures:
        stored = json.loads(json.dumps(failure.to_dict()))
        assert len(json.dumps(stored)) < 2_000  # a whole observed column is not stored
        again = QualityFailure.from_dict(stored)
        assert again.describe() == failure.describe()
        assert (again.failing_count, again.failing_keys, again.kwargs) == (
            failure.failing_count, failure.failing_keys, failure.kwargs)
