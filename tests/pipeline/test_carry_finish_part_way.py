"""A full run's finish that fails part-way leaves nothing carried for good: the task cache forgets
the records the run did not list before the next run's start moves. Real simulators over HTTPS."""
from __future__ import annotations

from datetime import datetime, timedelta, timezone
from types import SimpleNamespace

import pytest

from jira_esm_connector.pipeline import diff, extract, finish, load, mark_removed, run_dir, run_import, transform

from .conftest import ISSUES_TASK, make_task
from .helpers import by_attr, esm_cards, run_id

NO_CLEAR = SimpleNamespace(cache_clear_hours=[])  # no clock-driven cache clear in the middle of a test


class StateBlip:
    """The state store, but its first ``delete_fingerprints`` fails (the connection dropped, the
    worker was killed at the step's deadline): a finish that fails part-way."""

    def __init__(self, state):
        self._state, self.failed = state, False

    def __getattr__(self, name):
        return getattr(self._state, name)

    def delete_fingerprints(self, task, keys):
        if not self.failed:
            self.failed = True
            raise ConnectionError("state database connection lost")
        return self._state.delete_fingerprints(task, keys)


def _steps(task, jira, esm, state, staging, n):
    """extract .. mark_removed of one run (the DAG's steps before finish)."""
    path = run_dir(staging, task.name, run_id(n))
    extracted = extract(task, jira, state, path, settings=NO_CLEAR, default_clear_hours=[])
    transformed = transform(task, extracted, path, settings=NO_CLEAR)
    diffed = diff(task, transformed, state, path, default_clear_hours=[])
    loaded = load(task, diffed, esm, state, run_id=run_id(n), settings=NO_CLEAR)
    removed = mark_removed(task, extracted, esm, state, jira=jira)
    return extracted, transformed, diffed, loaded, removed


def test_a_finish_failing_after_the_full_sync_write_does_not_leave_a_stale_record_carried_for_good(
    jira, jira_sim_scratch, esm, state, staging,
):
    """pipeline/finish.py:finish stores the next full run's start (set_full_sync) *before*
    _forget_unlisted forgets the records the run did not list -- two separate state writes. A
    finish that fails between them (a state-database blip, the worker killed at the step's
    deadline; the DAG run then fails for good) leaves the start moved past the change an issue
    got while it was out of the selection, and the issue's old fingerprint kept: when the issue
    is selected again, every later full run carries it unread and ESM keeps the old data for
    good (with clear_hours [], else until the next cache clear) -- the very hole _forget_unlisted
    closes. Forgetting first (always safe: at worst a record is read once more) closes it."""
    sim = jira_sim_scratch
    now = datetime.now(timezone.utc)
    group = sim.admin("POST", "groups", json={"name": "finish-order-team"}).json()["groupId"]
    users = [sim.admin("POST", "users", json={"email": f"finish-order-{n}@example.com"}).json()["accountId"]
             for n in (1, 2)]
    for account in users:
        sim.admin("PUT", f"groups/{group}/members/{account}")
    x, y = (sim.admin("POST", "issues", json={
        "project": "SUP", "summary": f"original {name}", "assignee": account,
        "updated": (now - timedelta(minutes=30)).isoformat(),
    }).json()["key"] for name, account in (("X", users[0]), ("Y", users[1])))
    task = make_task(ISSUES_TASK, name="test_finish_forget_order", mode="full", removed=False, overlap_minutes=0,
                     jql=f'key in ({x}, {y}) AND assignee in membersOf("finish-order-team")')
    first = run_import(task, jira, esm, state, staging, run_id(1), settings=NO_CLEAR)
    assert first["created"] == 2

    # X leaves the selection (its assignee leaves the team; 'updated' does not move), is edited
    # while out, and Y changes later
    sim.admin("DELETE", f"groups/{group}/members/{users[0]}")
    sim.admin("PATCH", f"issues/{x}", json={"summary": "X changed outside", "updated": (now - timedelta(minutes=10)).isoformat()})
    sim.admin("PATCH", f"issues/{y}", json={"summary": "Y changed", "updated": (now - timedelta(minutes=5)).isoformat()})

    # run 2 lists Y alone; its finish fails part-way (the state connection drops)
    steps = _steps(task, jira, esm, state, staging, 2)
    assert steps[0]["fetched"] == 1
    with pytest.raises(ConnectionError):
        finish(task, StateBlip(state), run_id(2), *steps, staging_root=staging)

    # X is selected again; the next runs succeed
    sim.admin("PUT", f"groups/{group}/members/{users[0]}")
    for n in (3, 4):
        run_import(task, jira, esm, state, staging, run_id(n), settings=NO_CLEAR)
    cards = by_attr(esm_cards(esm, "incident", task.name), "jira_key")
    assert cards[y].value("subject") == "Y changed"
    assert cards[x].value("subject") == "X changed outside", (
        "the issue that changed while it was out of the selection is carried unread for good: its card keeps "
        f"{cards[x].value('subject')!r}")
