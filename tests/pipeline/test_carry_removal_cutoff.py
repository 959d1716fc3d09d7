"""The full run's ``sync_since`` became min(Jira's clock, the newest
``updated`` the search shows for the task's JQL). The removal step uses the same value as
its index-lag cutoff (pipeline/removal.py ``_lag_cutoff``): an issue Jira still has that
changed after the cutoff is "recent" and never marked. When the JQL's newest remaining issue
is older than the change that took an issue out of the selection (a quiet project: the
issue leaving is the newest change), the cutoff never passes that change: the card is kept
active run after run, although the change is long older than the overlap. Now the cutoff is Jira's clock again, and the next run's start is kept apart."""
from __future__ import annotations

from datetime import datetime, timedelta, timezone
from types import SimpleNamespace

from jira_esm_connector.pipeline import run_import

from .conftest import ISSUES_TASK, make_task
from .helpers import by_attr, esm_cards, jira_issues, run_id

REMOVAL = {"attribute": "status", "value": "07 - Cancelled", "max_share": 0.5}
JQL = "project = SUP AND status != Closed"
TASK = dict(ISSUES_TASK, name="test_cutoff", mode="full", removed=REMOVAL, jql=JQL)
NO_CLEAR = SimpleNamespace(cache_clear_hours=[])


def _statuses(esm, task) -> dict[str, str]:
    return {k: c.value("status") for k, c in by_attr(esm_cards(esm, "incident", task.name), "jira_key").items()}


def test_an_issue_closed_half_an_hour_ago_is_marked_removed(jira, jira_sim, esm, state, staging):
    task = make_task(TASK)  # overlap_minutes: the default (1)
    run_import(task, jira, esm, state, staging, run_id(1), settings=NO_CLEAR)
    key = sorted(jira_issues(jira, JQL))[3]
    closed_at = datetime.now(timezone.utc) - timedelta(minutes=30)  # far beyond the 1-minute overlap
    jira_sim.admin("PATCH", f"issues/{key}", json={"status": "Closed", "updated": closed_at.isoformat()})

    marked = 0
    for n in (2, 3, 4):  # not even later runs mark it: the cutoff never moves while the project is quiet
        marked += run_import(task, jira, esm, state, staging, run_id(n), settings=NO_CLEAR)["marked_removed"]
    assert _statuses(esm, task)[key] == "07 - Cancelled"
    assert marked == 1
