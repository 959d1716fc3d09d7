"""Extraction of Jira issues for generic imports, full and incremental --
the watermark an incremental run leaves behind, the listing and the bulk fetch. Real Jira and
ESM simulators over HTTPS; faults injected through the simulators' own knobs."""
from __future__ import annotations

from datetime import timedelta

from jira_esm_connector.pipeline import run_import

from .conftest import ISSUES_TASK, make_task
from .helpers import by_attr, esm_cards, issues_changed_ago, run_id


def _subjects(esm, task) -> dict[str, str]:
    return {k: c.value("subject") for k, c in by_attr(esm_cards(esm, "incident", task.name), "jira_key").items()}


def test_a_task_change_run_that_could_not_read_a_listed_issue_does_not_adopt_the_old_watermark(
    jira, jira_sim, esm, state, staging, run_log,
):
    """The operator widens an incremental task's JQL: the next run does not trust the watermark
    reached under the old JQL and lists everything the new one selects. X, newly selected and
    unchanged for days, is listed, but the bulk fetch leaves it out (hidden from the account for
    a moment): the run logs it and succeeds, holding the watermark "so the next run lists it
    again" -- and there is no watermark to hold: the next run must read everything again. Its
    finish recorded the new task digest next to the watermark reached under the *old* JQL, so
    every later run trusted that one, listed only what changed since, and X (unchanged since
    long before it) never reached ESM."""
    keys = issues_changed_ago(jira_sim, {"X": timedelta(days=3), "Y": timedelta(days=2)})
    x, y = keys["X"], keys["Y"]
    narrow = make_task(ISSUES_TASK, name="widened_hidden", jql=f"key in ({y})")
    assert run_import(narrow, jira, esm, state, staging, run_id(1))["created"] == 1
    assert state.get_watermark(narrow.name) is not None

    wide = make_task(ISSUES_TASK, name="widened_hidden", jql=f"key in ({x}, {y})")
    # run 2 lists X and Y; Jira's bulk fetch shows neither for a moment (each request answered empty)
    jira_sim.admin("POST", "faults", json={"type": "empty", "count": 10, "path": "/rest/api/3/issue/bulkfetch"})
    try:
        second = run_import(wide, jira, esm, state, staging, run_id(2), logger=run_log)
    finally:
        jira_sim.admin("DELETE", "faults")
    assert any("deleted (or hidden) after the listing" in m for m in run_log.messages), run_log.messages
    assert second["refused"] == 0 and second["created"] == 0

    for n in (3, 4):  # X is visible again; nothing changes in Jira
        run_import(wide, jira, esm, state, staging, run_id(n))

    assert _subjects(esm, wide).get(x) == "issue X", (
        f"X never reached ESM: after run 2 the watermark {state.get_watermark(wide.name)} reached under the old "
        "JQL was trusted under the new one")
