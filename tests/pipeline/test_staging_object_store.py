"""Staging on an object store (issue 11, "staging that every worker reaches"): with the
staging root on fsspec's ``memory://`` file system -- a stand-in for ``s3://`` that is
certainly not the local disk -- the whole import gives the same ESM result as with a local
folder, writes nothing locally, and retention removes old runs on both kinds of root."""
from __future__ import annotations

import json
import os
import re
import time
import uuid
from pathlib import Path
from types import SimpleNamespace

import fsspec
import pyarrow.parquet as pq
import pytest

from jira_esm_connector.pipeline import run_import
from jira_esm_connector.pipeline import staging as staging_mod
from jira_esm_connector.pipeline.staging import (
    Dataset,
    DatasetWriter,
    RemotePath,
    cleanup_old_runs,
    cleanup_unknown_tasks,
    location,
    run_dir,
)
from jira_esm_connector.state import StateStore

from .conftest import ISSUES_TASK, USERS_TASK, make_task
from .helpers import esm_cards, run_id

MEMORY = fsspec.filesystem("memory")


@pytest.fixture
def memory_root():
    """A fresh ``memory://`` staging root, as the DAG factory passes it (a path object with
    ``fs``, ``path`` and ``protocol``); removed afterwards."""
    path = f"/staging-{uuid.uuid4().hex[:8]}"
    yield SimpleNamespace(fs=MEMORY, path=path, protocol="memory")
    try:
        MEMORY.rm(path, recursive=True)
    except FileNotFoundError:
        pass


@pytest.fixture
def parquet_targets(monkeypatch):
    """Where pyarrow was asked to write Parquet: the local fast path hands it file paths, a
    remote root in-memory buffers only."""
    targets: list[object] = []
    real = pq.write_table

    def recording(table, where, *args, **kwargs):
        targets.append(where)
        return real(table, where, *args, **kwargs)

    monkeypatch.setattr(pq, "write_table", recording)
    return targets


def _snapshot(esm) -> dict[str, dict[str, dict[str, list]]]:
    """ESM's cards per template and key attribute, references given as the referenced
    card's key (card ids differ between two fresh ESMs)."""
    keys = {"person": "jira_account_id", "incident": "jira_key"}
    cards = {template: esm_cards(esm, template) for template in keys}
    name_of = {card_id: str(card.value(keys[t])) for t, group in cards.items() for card_id, card in group.items()}
    out: dict[str, dict[str, dict[str, list]]] = {}
    for template, group in cards.items():
        out[template] = {
            str(card.value(keys[template])): {
                attribute: sorted(str(name_of.get(v, v)) for v in card.plain_values(attribute)) for attribute in card.data
            }
            for card in group.values()
        }
    return out


def _whole_import(root, jira, jira_sim, esm, esm_sim, db: Path) -> tuple[dict, list[dict]]:
    """Fresh Jira, ESM and state; users (full), a user deleted in Jira, users again (marks
    it removed), then issues (incremental, referencing the persons)."""
    jira_sim.reset()
    esm_sim.reset()
    state = StateStore(f"sqlite:///{db}")
    users, issues = make_task(USERS_TASK), make_task(ISSUES_TASK)
    try:
        summaries = [run_import(users, jira, esm, state, root, run_id(1))]
        gone = sorted(u["accountId"] for u in jira.iter_users() if u.get("active"))[0]
        jira_sim.admin("DELETE", f"users/{gone}")
        summaries.append(run_import(users, jira, esm, state, root, run_id(2)))
        summaries.append(run_import(issues, jira, esm, state, root, run_id(1)))
    finally:
        state.dispose()
    return _snapshot(esm), summaries


def test_whole_import_on_an_object_store_root_matches_a_local_folder_and_writes_nothing_locally(
    jira, jira_sim, esm, esm_sim, tmp_path, monkeypatch, memory_root, parquet_targets,
):
    local_root = tmp_path / "staging"
    local_esm, local_summaries = _whole_import(local_root, jira, jira_sim, esm, esm_sim, tmp_path / "local.db")
    assert parquet_targets and all(isinstance(t, Path) for t in parquet_targets)  # the local fast path
    parquet_targets.clear()

    work = tmp_path / "cwd"  # a relative "memory:/..." folder would appear here
    work.mkdir()
    monkeypatch.chdir(work)
    remote_esm, remote_summaries = _whole_import(memory_root, jira, jira_sim, esm, esm_sim, tmp_path / "remote.db")

    assert remote_esm == local_esm and len(local_esm["person"]) > 5 and len(local_esm["incident"]) > 20
    assert [s["marked_removed"] for s in local_summaries] == [0, 1, 0]
    counts = ("fetched", "transformed", "created", "updated", "unchanged", "marked_removed")
    assert [[s[k] for k in counts] for s in remote_summaries] == [[s[k] for k in counts] for s in local_summaries]
    # every page went to the object store; nothing was written on the local disk
    assert parquet_targets and not any(isinstance(t, (str, Path)) for t in parquet_targets)
    assert list(work.iterdir()) == []
    assert sorted(p.name for p in tmp_path.iterdir()) == ["cwd", "local.db", "remote.db", "staging"]
    runs = MEMORY.ls(f"{memory_root.path}/test_users", detail=False)
    assert sorted(r.rsplit("/", 1)[-1] for r in runs) == [run_id(1), run_id(2)]
    pages = MEMORY.find(f"{memory_root.path}/test_users/{run_id(2)}/extract")
    assert any(re.search(r"/page-00001-\w+\.parquet$", p) for p in pages) and any(p.endswith("_pages.json") for p in pages)
    status = json.loads(MEMORY.cat_file(f"{memory_root.path}/_status/test_users.json"))
    assert status["volume"] == remote_summaries[1]["fetched"]


def test_dataset_address_is_the_store_url_and_is_read_with_the_roots_file_system(memory_root):
    own_fs = fsspec.filesystem("memory", skip_instance_cache=True)  # e.g. one with a connection's credentials
    root = SimpleNamespace(fs=own_fs, path=memory_root.path, protocol="memory")
    writer = DatasetWriter(run_dir(root, "task", "run 1") / "extract", ["key", "value"])
    writer.write_page([{"key": "A", "value": "1"}, {"key": "B", "value": None}])
    writer.write_page([{"key": "C", "value": {"x": 1}}])
    address = str(writer.close().path)

    assert address.startswith("memory://") and re.search(r"/extract/attempt-\w+$", address)
    again = Dataset(address)  # as a later step gets it through XCom
    assert again.path.fs is own_fs
    assert list(again.iter_rows()) == [{"key": "A", "value": "1"}, {"key": "B", "value": None}, {"key": "C", "value": '{"x":1}'}]
    assert again.count() == 3 and [f.name[:10] for f in again.files()] == ["page-00001", "page-00002"]


def test_an_empty_remote_dataset_exists_and_a_missing_one_says_so(memory_root):
    dataset = DatasetWriter(location(memory_root) / "t" / "r" / "diff", ["key"]).close()
    assert list(Dataset(str(dataset.path)).iter_rows()) == [] and Dataset(str(dataset.path)).count() == 0
    with pytest.raises(FileNotFoundError, match="staging root must be shared by all workers"):
        Dataset(str(location(memory_root) / "t" / "r" / "transform")).files()


def test_a_retried_step_rewrites_its_remote_dataset_from_scratch(memory_root):
    path = location(memory_root) / "t" / "r" / "transform"
    first = DatasetWriter(path, ["key"])
    for n in range(3):
        first.write_page([{"key": f"old-{n}"}])
    first.close()
    second = DatasetWriter(path, ["key"])
    second.write_page([{"key": "new"}])
    assert [r["key"] for r in second.close().iter_rows()] == ["new"]
    assert [p.rsplit("/", 1)[-1][:10] for p in sorted(MEMORY.find(path.path))] == ["_pages.jso", "page-00001"]


# --------------------------------------------------------------------------- retention


def _root(kind: str, tmp_path: Path, memory_root) -> object:
    return tmp_path / "staging" if kind == "local" else memory_root


def _make_run(root, task: str, run: str, *, hours_ago: float, monkeypatch) -> object:
    """A run folder with a staged dataset, last used ``hours_ago``; the dataset."""
    then = time.time() - hours_ago * 3600
    with monkeypatch.context() as patch:
        patch.setattr(staging_mod.time, "time", lambda: then)  # the remote _last_used mark
        path = run_dir(root, task, run)
    writer = DatasetWriter(path / "extract", ["key"])
    writer.write_page([{"key": run}])
    dataset = writer.close()
    if isinstance(path, Path):
        os.utime(path, (then, then))
        os.utime(path.parent, (then, then))
    return dataset


def _runs(root, task: str) -> list[str]:
    base = location(root) / task
    if isinstance(base, RemotePath):
        return sorted(p.rsplit("/", 1)[-1] for p in base.fs.ls(base.path, detail=False)) if base.fs.exists(base.path) else []
    return sorted(p.name for p in base.iterdir()) if base.exists() else []


@pytest.mark.parametrize("kind", ["local", "memory"])
def test_old_runs_are_removed_on_either_kind_of_root(kind, tmp_path, memory_root, monkeypatch):
    root = _root(kind, tmp_path, memory_root)
    _make_run(root, "task", "old", hours_ago=7, monkeypatch=monkeypatch)
    recent = _make_run(root, "task", "recent", hours_ago=1, monkeypatch=monkeypatch)
    _make_run(root, "task", "current", hours_ago=30, monkeypatch=monkeypatch)
    _make_run(root, "other", "old", hours_ago=7, monkeypatch=monkeypatch)

    removed = cleanup_old_runs(root, "task", current_run="current", retention_hours=6)

    assert removed == 1 and _runs(root, "task") == ["current", "recent"]
    assert _runs(root, "other") == ["old"]  # another task's runs are its own extract's business
    assert [r["key"] for r in Dataset(str(recent.path)).iter_rows()] == ["recent"]
    assert cleanup_old_runs(root, "task", current_run="current", retention_hours=6) == 0


def test_remote_run_folder_without_a_mark_is_judged_by_its_contents(memory_root):
    base = location(memory_root) / "task"
    MEMORY.makedirs((base / "empty").path, exist_ok=True)  # nothing in it: nothing to keep
    MEMORY.pipe_file((base / "unmarked" / "extract" / "_pages.json").path, b'{"pages": [], "rows": 0}')  # just written
    MEMORY.pipe_file((base / "garbled" / "_last_used").path, b"not a time")  # cannot judge: kept

    assert cleanup_old_runs(memory_root, "task", retention_hours=6) == 1
    assert _runs(memory_root, "task") == ["garbled", "unmarked"]


@pytest.mark.parametrize("kind", ["local", "memory"])
def test_files_of_deleted_tasks_are_removed_once_unused_on_either_kind_of_root(kind, tmp_path, memory_root, monkeypatch):
    root = _root(kind, tmp_path, memory_root)
    _make_run(root, "kept", "old", hours_ago=0, monkeypatch=monkeypatch)
    _make_run(root, "gone", "old", hours_ago=0, monkeypatch=monkeypatch)
    _make_run(root, "renamed_now", "r1", hours_ago=-29, monkeypatch=monkeypatch)
    base = location(root)
    for task in ("kept", "gone"):
        staging_mod.write_text(base / "_status" / f"{task}.json", "{}")
    # 30 hours later: the status files (modified now, as the store reports it) and the runs of
    # "kept" and "gone" are 30 hours old, the run of "renamed_now" one hour
    later = time.time() + 30 * 3600
    monkeypatch.setattr(staging_mod.time, "time", lambda: later)

    removed = cleanup_unknown_tasks(root, ["kept"], retention_hours=6)

    assert removed == ["gone"]
    assert _runs(root, "kept") == ["old"] and _runs(root, "gone") == [] and _runs(root, "renamed_now") == ["r1"]
    status = base / "_status"
    names = (sorted(p.rsplit("/", 1)[-1] for p in MEMORY.ls(status.path, detail=False)) if kind == "memory"
             else sorted(p.name for p in status.iterdir()))
    assert names == ["kept.json"]
