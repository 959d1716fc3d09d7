"""Staged datasets are read back page by page exactly as written; diff keeps its verdicts
whatever the page boundaries."""
from __future__ import annotations

import copy
import sys

import pyarrow.parquet as pq
import pytest

from jira_esm_connector.config import parse_task
from jira_esm_connector.pipeline import diff
from jira_esm_connector.pipeline.staging import Dataset, DatasetWriter
from jira_esm_connector.pipeline.transform import TRANSFORM_COLUMNS

from .conftest import ISSUES_TASK

COLUMNS = ["key", "value"]


def rows(start, n, text="v"):
    return [{"key": f"K-{i}", "value": f"{text}{i}" if i % 5 else None} for i in range(start, start + n)]


def write(path, pages, **kwargs):
    writer = DatasetWriter(path, COLUMNS, **kwargs)
    for page in pages:
        writer.write_page(page)
    return writer, writer.close()


def test_every_page_is_one_file_read_back_in_order(tmp_path):
    pages = [rows(0, 3), [], rows(3, 2), rows(5, 1)]
    writer, dataset = write(tmp_path / "ds", pages)
    assert [pq.ParquetFile(f).metadata.num_rows for f in dataset.files()] == [3, 2, 1]
    assert list(dataset.iter_pages()) == [p for p in pages if p] and writer.rows == dataset.count() == 6


def test_a_local_dataset_staged_before_page_lists_is_read_from_its_folder(tmp_path):
    """A run in flight across the upgrade: its extract wrote pages without tokens and no list."""
    pages = [rows(0, 3), rows(3, 2)]
    _writer, dataset = write(tmp_path / "ds", pages)
    files = dataset.files()
    (dataset.path / "_pages.json").unlink()  # as the earlier version wrote it: no list, no tokens,
    for n, file in enumerate(files, 1):  # in the step's folder
        file.rename(tmp_path / "ds" / f"page-{n:05d}.parquet")
    assert list(Dataset(tmp_path / "ds").iter_pages()) == pages and Dataset(tmp_path / "ds").count() == 5
    with pytest.raises(FileNotFoundError, match="staging root must be shared by all workers"):
        Dataset(tmp_path / "missing").files()


@pytest.mark.parametrize("page_rows, files", [(4, [4, 4, 2]), (10, [10]), (100, [10]), (1, [2, 2, 2, 2, 2])])
def test_pages_gathered_into_files_of_page_rows_keep_every_row_in_order(tmp_path, page_rows, files):
    pages = [rows(i * 2, 2) for i in range(5)]
    writer, dataset = write(tmp_path / "ds", pages[:2] + [[]] + pages[2:], page_rows=page_rows)
    assert [pq.ParquetFile(f).metadata.num_rows for f in dataset.files()] == files
    assert list(dataset.iter_rows()) == [r for p in pages for r in p]
    assert writer.rows == dataset.count() == 10 and writer.pages == len(files)


def test_reading_selected_columns(tmp_path):
    _, dataset = write(tmp_path / "ds", [rows(0, 4)])
    assert [r for page in dataset.iter_pages(columns=["key"]) for r in page] == [{"key": f"K-{i}"} for i in range(4)]


def transformed_rows(prints):
    return [{"key": k, "fingerprint": fp, "data": f'{{"v":"{fp}"}}', "issue_key": None, "updated": None}
            for k, fp in prints]


# a re-fetched record (same key twice) keeps the last version; an identical repeat is dropped
PRINTS = [("A", "a" * 64), ("B", "b" * 64), ("C", "c" * 64), ("B", "b" * 64), ("D", "d" * 64),
          ("A", "e" * 64), ("E", "f" * 64), ("C", "c" * 64)]


@pytest.mark.parametrize("page_rows", [1, 2, 3, 7, 100])
@pytest.mark.parametrize("lookup_rows", [1, 4, 1_000])
def test_diff_passes_each_new_or_changed_record_whatever_the_page_boundaries(tmp_path, page_rows, lookup_rows,
                                                                              state, monkeypatch):
    monkeypatch.setattr(sys.modules["jira_esm_connector.pipeline.diff"], "LOOKUP_ROWS", lookup_rows)
    task = parse_task(copy.deepcopy(ISSUES_TASK), "test_issues.yaml")
    state.put_fingerprints(task.name, {"D": "d" * 64, "E": "0" * 64})  # D unchanged, E changed
    writer = DatasetWriter(tmp_path / "transform", TRANSFORM_COLUMNS)
    data = transformed_rows(PRINTS)
    for start in range(0, len(data), page_rows):
        writer.write_page(data[start:start + page_rows])
    out = diff(task, {"dataset": str(writer.close().path)}, state, tmp_path, clear_cache=False, default_clear_hours=[])
    passed = list(Dataset(out["dataset"]).iter_rows())
    last = {}
    for row in passed:
        last[row["key"]] = row["fingerprint"]
    # what ESM ends up with: the last version of every key but the unchanged D
    assert last == {"A": "e" * 64, "B": "b" * 64, "C": "c" * 64, "E": "f" * 64}
    # each key once, its last version only (an older copy would overwrite the newer in ESM)
    assert sorted(r["key"] for r in passed) == ["A", "B", "C", "E"]
    assert out["unchanged"] == 1 and out["changed"] == len(passed)
    # one file per page that passed anything, in order
    assert len(Dataset(out["dataset"]).files()) <= -(-len(PRINTS) // page_rows)
