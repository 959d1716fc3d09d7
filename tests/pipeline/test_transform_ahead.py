"""Extract maps each page as it stages it (``pipeline.transform.TransformAhead``) and transform
uses that work only when it is exactly what it would have made itself: same extract, same
mapping, values that read back as mapped. Against the running Jira simulator."""
from __future__ import annotations

import logging

import pytest

from jira_esm_connector.pipeline import TransformError, extract, run_dir, transform
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

    assert result["dataset"].endswith(AHEAD_FOLDER)
    assert "mapped while they were extracted" in caplog.text
    rows = _rows(result["dataset"])
    assert result["transformed"] == len(rows) == extracted["fetched"] > 20
    assert rows == _mapped_again(task, extracted, tmp_path)  # row for row, fingerprints included


def test_a_mapping_changed_after_extract_is_applied_by_transform(jira, state, staging, tmp_path):
    path = run_dir(staging, "test_ahead", run_id(1))
    extracted = extract(make_task(FULL), jira, state, path)
    changed = make_task(dict(FULL, attributes=dict(FULL["attributes"], subject="key")))

    result = transform(changed, extracted, path)

    assert not result["dataset"].endswith(AHEAD_FOLDER)
    rows = _rows(result["dataset"])
    assert rows and all(f'"subject":"{row["key"]}"' in row["data"] for row in rows)
    assert rows == _mapped_again(changed, extracted, tmp_path)


def test_another_extract_of_the_same_run_folder_is_not_taken_for_this_one(jira, state, staging):
    task = make_task(FULL)
    path = run_dir(staging, task.name, run_id(1))
    extracted = extract(task, jira, state, path)

    result = transform(task, dict(extracted, fetched=extracted["fetched"] + 1), path)

    assert not result["dataset"].endswith(AHEAD_FOLDER)


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

    assert not result["dataset"].endswith(AHEAD_FOLDER)
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
    assert not result["dataset"].endswith(AHEAD_FOLDER)
    assert _rows(result["dataset"]) == _mapped_again(task, extracted, tmp_path)
