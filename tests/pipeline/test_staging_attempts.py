"""Two attempts of one step staging the same run folder: an attempt that passed its lease
check just before a retry took the task over (its heartbeat had lapsed: a frozen worker, a
state-database blip) may still land the page it was writing. That page must never become
part of the retry's dataset. Nor is what is left of a dataset being removed."""
from __future__ import annotations

import json

import pytest

from jira_esm_connector.pipeline import extract, mark_removed, run_import, transform
from jira_esm_connector.pipeline.staging import Dataset, run_dir

from .conftest import ISSUES_TASK, USERS_TASK, make_task
from .helpers import esm_cards, run_id
from .test_staging_object_store import memory_root  # noqa: F401 - a fixture

KEYS = [f"SUP-{n}" for n in range(1, 16)]


class LeaseLost(Exception):
    pass


@pytest.mark.parametrize("root", ["local", "object store"])
def test_a_page_landing_late_from_a_superseded_attempt_is_not_in_the_retrys_dataset(
    root, jira, jira_sim_scratch, state, staging, memory_root,  # noqa: F811
):
    task = make_task(ISSUES_TASK, page_size=5, jql=f"key in ({', '.join(KEYS)})")
    folder = run_dir(staging if root == "local" else memory_root, task.name, "scheduled__2026-01-01T00:00:00+00:00")
    checks: list[int] = []
    retried: dict = {}

    def superseded_attempts_check():
        checks.append(1)
        if len(checks) == 2:  # passes; but before the page it guards lands, the issues change and
            for key in KEYS:  # the retry stages the whole run again
                jira.edit_issue(key, {"summary": f"{key} as edited"})
            retried.update(extract(task, jira, state, folder))
        elif len(checks) > 2:
            raise LeaseLost()  # the superseded attempt notices at its next check

    try:
        extract(task, jira, state, folder, guard=superseded_attempts_check)
    except LeaseLost:
        pass

    rows = list(Dataset(retried["dataset"]).iter_rows())
    # each issue once, as the retry read it: a page of the superseded attempt in its place
    # would bring older data back and lose the retry's issues on that page (a full import
    # would mark them removed)
    assert sorted(r["key"] for r in rows) == sorted(KEYS) and retried["fetched"] == len(KEYS)
    assert {json.loads(r["record"])["fields"]["summary"] for r in rows} == {f"{k} as edited" for k in KEYS}


@pytest.mark.parametrize("root", ["local", "object store"])
def test_the_page_list_of_a_superseded_attempt_landing_late_never_replaces_the_retrys(
    root, jira, jira_sim_scratch, state, staging, memory_root,  # noqa: F811
):
    """The superseded attempt passes its last lease check (before its page list), stalls
    while the retry stages the whole run, then writes its page list and its mapped-ahead
    manifest. The retry's dataset -- what its XCom names -- and what transform makes of it
    stay the retry's."""
    task = make_task(ISSUES_TASK, page_size=5, jql=f"key in ({', '.join(KEYS)})")
    folder = run_dir(staging if root == "local" else memory_root, task.name, "scheduled__2026-01-01T00:00:00+00:00")
    counted: list[int] = []
    extract(task, jira, state, folder, guard=lambda: counted.append(1))  # how many checks a whole extract makes
    checks: list[int] = []
    retried: dict = {}

    def stalls_after_its_last_check():
        checks.append(1)
        if len(checks) == len(counted):
            for key in KEYS:
                jira.edit_issue(key, {"summary": f"{key} as edited"})
            retried.update(extract(task, jira, state, folder))

    extract(task, jira, state, folder, guard=stalls_after_its_last_check)

    rows = list(Dataset(retried["dataset"]).iter_rows())
    assert sorted(r["key"] for r in rows) == sorted(KEYS) and retried["fetched"] == len(KEYS)
    assert {json.loads(r["record"])["fields"]["summary"] for r in rows} == {f"{k} as edited" for k in KEYS}
    transformed = transform(task, retried, folder)
    subjects = {json.loads(r["data"])["subject"] for r in Dataset(transformed["dataset"]).iter_rows()}
    assert subjects == {f"{k} as edited" for k in KEYS}


@pytest.mark.parametrize("lost", ["a page", "the page list and a page"])
def test_a_dataset_losing_pages_fails_the_step_that_reads_it_and_marks_nothing_removed(
    lost, jira, esm, state, staging,
):
    """A run folder being removed (a cleanup of another deployment or a bucket lifecycle rule
    while the run still needs it) loses its files one by one: what is left is not the dataset."""
    task = make_task(USERS_TASK, page_size=10)
    run_import(task, jira, esm, state, staging, run_id(1))
    extracted = extract(task, jira, state, run_dir(staging, task.name, run_id(2)))
    folder = Dataset(extracted["dataset"]).path
    assert extracted["pages"] > 2
    sorted(folder.glob("page-*.parquet"))[1].unlink()
    if lost != "a page":
        (folder / "_pages.json").unlink()

    with pytest.raises(FileNotFoundError, match=r"staged dataset .*extract/attempt-\w+ is (missing|incomplete)"):
        mark_removed(task, extracted, esm, state, run_id=run_id(2))
    assert all(c.value("accountStatus") != "Deleted" for c in esm_cards(esm, "person", task.name).values())


def test_two_attempts_writing_one_small_file_at_once_never_leave_it_torn(tmp_path):
    """The page list, the mapped-ahead manifest and the status file are written whole by
    :func:`write_text`: two writers at once (a superseded attempt and its retry, two
    processes) each leave the file whole -- one's or the other's, never a mix, never an error."""
    import multiprocessing

    target = tmp_path / "run" / "_pages.json"
    size = 2_000_000
    ctx = multiprocessing.get_context("spawn")
    with ctx.Pool(2) as pool:
        outcomes = pool.starmap(_write_many, [(str(target), "a", size), (str(target), "b", size)])
    assert outcomes == ["ok", "ok"]
    text = target.read_text()
    assert text in ("a" * size, "b" * size)
    assert [p.name for p in target.parent.iterdir()] == ["_pages.json"]  # no temporary file left


def _write_many(path: str, letter: str, size: int) -> str:
    from jira_esm_connector.pipeline.staging import read_text, write_text

    for _ in range(40):
        try:
            write_text(path, letter * size)
            text = read_text(path)
        except OSError as exc:
            return f"{type(exc).__name__}: {exc}"
        if text.strip(text[0]) or len(text) != size:
            return f"torn: {len(text)} characters, {sorted(set(text))}"
    return "ok"
