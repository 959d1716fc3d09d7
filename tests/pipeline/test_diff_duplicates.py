"""diff keeps only each key's LAST record of a run, also across pages: comparing an earlier copy
with the cache would write stale data whenever the last copy is the cached one (the card would
flip between two versions from run to run)."""
from __future__ import annotations

from types import SimpleNamespace

import pytest

from jira_esm_connector.pipeline import diff
from jira_esm_connector.pipeline.staging import Dataset, DatasetWriter
from jira_esm_connector.pipeline.transform import TRANSFORM_COLUMNS

TASK = SimpleNamespace(name="dup_task", clear_hours=lambda default: [])


def _transformed(tmp_path, pages):
    writer = DatasetWriter(tmp_path / "transform", TRANSFORM_COLUMNS)
    for page in pages:
        writer.write_page([{"key": k, "fingerprint": fp, "data": "{}", "issue_key": None, "updated": None} for k, fp in page])
    return {"dataset": str(writer.close().path)}


@pytest.mark.parametrize(
    "cached, expected",
    [
        ({"K": "new"}, []),                              # the last copy is cached: nothing to write
        ({"K": "old"}, [("K", "new")]),                  # the last copy wins, written once
        ({}, [("K", "new")]),
    ],
)
def test_only_the_last_copy_of_a_key_is_compared_and_passed_on(tmp_path, state, cached, expected):
    if cached:
        state.put_fingerprints(TASK.name, cached)
    transformed = _transformed(tmp_path, [[("K", "old"), ("A", "a")], [("B", "b")], [("K", "new")]])
    state.put_fingerprints(TASK.name, {"A": "a"})
    result = diff(TASK, transformed, state, tmp_path / "run")
    rows = [(r["key"], r["fingerprint"]) for r in Dataset(result["dataset"]).iter_rows() if r["key"] != "B"]
    assert rows == expected
    assert result["changed"] == len(expected) + 1  # B is new
    assert result["unchanged"] == 1 + (0 if expected else 1)
