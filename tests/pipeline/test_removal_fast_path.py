"""mark_removed without paging every card of the task (issue 10, item 3): while the state
store's key map is known to hold every card of the task, only the mapped keys this run did
not fetch are checked in ESM. Real ESM simulator; datasets staged by hand."""
from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any

import pytest

from jira_esm_connector.esm import eql
from jira_esm_connector.pipeline import RemovalLimitError, ShrinkLimitError, load, mark_removed
from jira_esm_connector.pipeline.staging import DatasetWriter
from jira_esm_connector.pipeline.transform import TRANSFORM_COLUMNS, encode_data

from .conftest import USERS_TASK, make_task
from .helpers import esm_stats, reset_esm_stats

LISTING = "GET /rest-api/itsm/v1/dc/{templateCode}/data"
FAST = "Removal check from the key map"
PAGING = "is not known to be complete: reading all its cards from ESM"


def _keys(n: int) -> list[str]:
    return [f"acc-{i}" for i in range(1, n + 1)]


def _load_people(task, esm, state, path: Path, keys: list[str]) -> dict[str, Any]:
    writer = DatasetWriter(path, TRANSFORM_COLUMNS)
    rows = []
    for key in keys:
        data = encode_data({"jira_account_id": key, "display_name": f"Person {key}", "accountStatus": "Active"})
        rows.append({"key": key, "fingerprint": hashlib.sha256(data.encode()).hexdigest(), "data": data,
                     "issue_key": None, "updated": None})
    writer.write_page(rows)
    diffed = {"dataset": str(writer.close().path), "changed": len(rows), "unchanged": 0, "cache_cleared": False}
    return load(task, diffed, esm, state, chunk_size=7, concurrency=3)


def _extracted(path: Path, keys: list[str]) -> dict[str, Any]:
    writer = DatasetWriter(path, ["key", "record"])
    writer.write_page([{"key": k, "record": "{}"} for k in keys])
    return {"dataset": str(writer.close().path), "fetched": len(keys)}


def _people(esm, task_name: str | None = None) -> dict[str, list[Any]]:
    """key -> the person cards with that key (of one task, or all)."""
    flt = eql.eq("task_id", task_name) if task_name else None
    out: dict[str, list[Any]] = {}
    for card in esm.iter_cards("person", filter=flt):
        out.setdefault(str(card.value("jira_account_id")), []).append(card)
    return out


def _deleted(esm) -> set[str]:
    return {k for k, cards in _people(esm).items() for c in cards if c.value("accountStatus") == "Deleted"}


def test_the_fast_path_marks_exactly_the_unfetched_cards_still_this_tasks_and_never_a_fetched_one(
    esm, esm_sim, state, tmp_path, run_log
):
    task = make_task(USERS_TASK)
    keys = _keys(40)
    _load_people(task, esm, state, tmp_path / "load", keys)
    assert state.key_map_complete(task.name, "person", "jira_account_id")
    # a second card of a fetched record, stamped with this task by hand: its key was fetched
    extra = esm.create_card("person", {"jira_account_id": "acc-5", "task_id": task.name, "display_name": "copy"},
                            folder="persons")
    # acc-38 was taken over by another task (the last writer owns a card)
    esm.patch_card("person", _people(esm)["acc-38"][0].data_card_id, {"task_id": "another_task"})
    # acc-39 was already marked removed earlier
    esm.patch_card("person", _people(esm)["acc-39"][0].data_card_id, {"accountStatus": "Deleted"})
    reset_esm_stats(esm_sim)

    result = mark_removed(task, _extracted(tmp_path / "extract", keys[:36]), esm, state, logger=run_log)

    assert any(FAST in m for m in run_log.messages) and not any(PAGING in m for m in run_log.messages)
    assert esm_stats(esm_sim).get(LISTING) == 1  # the four unfetched keys, in one look-up; no paging
    assert result["marked_removed"] == 2 and _deleted(esm) == {"acc-37", "acc-39", "acc-40"}
    assert result["active_cards"] == 36 + 2  # mapped and fetched, plus the candidates still active
    assert all(c.value("accountStatus") != "Deleted" for c in _people(esm)["acc-5"])
    assert extra in {c.data_card_id for c in _people(esm)["acc-5"]}
    assert _people(esm)["acc-38"][0].value("accountStatus") == "Active"  # another task's now
    assert "acc-38" not in state.get_card_ids(task.name, ["acc-38"])  # no card of this task has it any more


def test_the_fast_path_never_marks_a_card_the_state_does_not_know_the_paging_does(esm, state, tmp_path, run_log):
    task = make_task(USERS_TASK)
    keys = _keys(20)
    _load_people(task, esm, state, tmp_path / "load", keys)
    stranger = esm.create_card("person", {"jira_account_id": "acc-99", "task_id": task.name}, folder="persons")

    fast = mark_removed(task, _extracted(tmp_path / "e1", keys), esm, state, logger=run_log)
    assert fast["marked_removed"] == 0 and _deleted(esm) == set()

    # without the note, the step reads every card of the task from ESM, as before
    state.set_key_map_complete(task.name, "person", "jira_account_id", False)
    paged = mark_removed(task, _extracted(tmp_path / "e2", keys), esm, state, logger=run_log)
    assert any(PAGING in m for m in run_log.messages)
    assert paged["marked_removed"] == 1 and paged["active_cards"] == 21 and _deleted(esm) == {"acc-99"}
    # ... and the paging recorded every card of the task and noted the map complete
    assert state.get_card_ids(task.name, ["acc-99"]) == {"acc-99": stranger}
    assert state.key_map_complete(task.name, "person", "jira_account_id")


def test_the_share_limit_trips_on_the_fast_path(esm, state, tmp_path, run_log):
    task = make_task(USERS_TASK)
    keys = _keys(20)
    _load_people(task, esm, state, tmp_path / "load", keys)

    with pytest.raises(RemovalLimitError, match="refusing to mark 15 of 20"):
        mark_removed(task, _extracted(tmp_path / "extract", keys[:5]), esm, state, logger=run_log)
    assert any(FAST in m for m in run_log.messages)
    assert _deleted(esm) == set()
    allowed = mark_removed(task, _extracted(tmp_path / "extract2", keys[:5]), esm, state, allow_mass_removal=True,
                           allow_shrink=True)  # 5 fetched of 20 cards is a shrink as well
    assert allowed["marked_removed"] == 15 and _deleted(esm) == set(keys[5:])


def test_the_shrink_limit_trips_on_the_fast_path(esm, state, tmp_path, run_log):
    task = make_task(USERS_TASK)
    keys = _keys(20)
    _load_people(task, esm, state, tmp_path / "load", keys)
    state.record_run(task.name, "manual__earlier", {"fetched": 20}, 20)

    with pytest.raises(ShrinkLimitError):
        mark_removed(task, _extracted(tmp_path / "extract", keys[:17]), esm, state, logger=run_log)
    assert any(FAST in m for m in run_log.messages) and _deleted(esm) == set()


def test_a_load_that_crashed_leaves_the_map_unknown_and_the_next_removal_pages(
    esm, state, tmp_path, run_log, monkeypatch
):
    task = make_task(USERS_TASK)
    keys = _keys(20)
    _load_people(task, esm, state, tmp_path / "load", keys)
    assert state.key_map_complete(task.name, "person", "jira_account_id")

    def broken(*args, **kwargs):
        raise RuntimeError("state database went away")

    monkeypatch.setattr(state, "record_loaded", broken)
    with pytest.raises(RuntimeError):
        _load_people(task, esm, state, tmp_path / "load2", _keys(30))  # cards acc-21.. created, not mapped
    monkeypatch.undo()
    assert not state.key_map_complete(task.name, "person", "jira_account_id")
    state.record_run(task.name, "manual__earlier", {"fetched": 20}, 20)  # the run of the first load

    result = mark_removed(task, _extracted(tmp_path / "extract", keys), esm, state, logger=run_log)

    assert any(PAGING in m for m in run_log.messages)
    unmapped_new = {k for k in _people(esm, task.name) if k not in keys}
    assert unmapped_new and _deleted(esm) == unmapped_new  # found by paging, not missed
    assert result["marked_removed"] == len(unmapped_new)
