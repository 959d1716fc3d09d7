"""A transition whose target names alternatives must not move an issue that is
already in one of them (a retry of the same event, or a re-trigger) on to another one."""
from __future__ import annotations

import pytest

from jira_esm_connector.events import run_event, transition_issue
from jira_esm_connector.http.errors import ServiceUnavailableError
from jira_esm_connector.markers import EventRef

from .conftest import CommentsDown, issue_status, make_task, project_with, unique


def test_retry_of_a_transition_event_does_not_move_the_issue_on_to_the_next_alternative(jira, state, monkeypatch):
    monkeypatch.setattr("jira_esm_connector.events.operations.LOOKUP_PAUSES", (0.0,))
    desk = project_with(jira, "Resolved")  # the service-desk workflow: ... Resolved, Closed
    key = jira.create_issue({"project": {"key": desk}, "issuetype": {"name": "Task"}, "summary": "resolve me"})["key"]
    task = make_task(
        name="review_transition_alternatives", operation="transition_issue",
        payload={"issue_key": {"required": True}, "comment": {}},
        issue="{{ issue_key }}", transition={"to": "Resolved|Closed"}, comment="{{ comment }}",
    )
    conf = {"event_id": unique(), "issue_key": key, "comment": "Solved in ESM."}
    with pytest.raises(ServiceUnavailableError):  # transient: Airflow retries the task
        run_event(task, conf, CommentsDown(jira), None, state, owner="run-1")
    assert issue_status(jira, key) == "Resolved"
    retried = run_event(task, conf, jira, None, state, owner="run-1")  # the task retry
    assert issue_status(jira, key) == "Resolved", retried
    assert retried["status"] == "Resolved"


def test_an_issue_already_in_one_of_the_alternatives_is_left_alone(jira):
    desk = project_with(jira, "Resolved")
    key = jira.create_issue({"project": {"key": desk}, "issuetype": {"name": "Task"}, "summary": "resolve me"})["key"]
    first = transition_issue(jira, EventRef("t", unique()), key, "Resolved|Closed")
    assert first["status"] == "Resolved" and issue_status(jira, key) == "Resolved"
    again = transition_issue(jira, EventRef("t", unique()), key, "Resolved|Closed", check_first=True)
    assert issue_status(jira, key) == "Resolved"
    assert again["changed"] is False


class EarlierAttemptLands:
    """The Jira client, but just before this attempt's transition is sent, an earlier
    attempt's transition request lands in Jira (it timed out on the client's side, and Jira
    carried it out late): the issue is in the target status when ours arrives."""

    def __init__(self, jira):
        self._jira = jira

    def __getattr__(self, name):
        return getattr(self._jira, name)

    def transition_issue(self, *a, **kw):
        self._jira.transition_issue(*a, **kw)
        return self._jira.transition_issue(*a, **kw)


def test_a_transition_refused_because_the_issue_got_there_meanwhile_succeeds(jira, state):
    """Jira refuses a transition out of the status the issue is no longer in ("not valid for
    this issue"); the goal holds, so the event must succeed. Before, it failed for good."""
    desk = project_with(jira, "Resolved")
    key = jira.create_issue({"project": {"key": desk}, "issuetype": {"name": "Task"}, "summary": "resolve me"})["key"]
    task = make_task(
        name="review_transition_landed", operation="transition_issue", payload={"issue_key": {"required": True}},
        issue="{{ issue_key }}", transition={"to": "Resolved"},
    )
    result = run_event(task, {"event_id": unique(), "issue_key": key}, EarlierAttemptLands(jira), None, state)
    assert issue_status(jira, key) == "Resolved"
    assert result["status"] == "Resolved"
