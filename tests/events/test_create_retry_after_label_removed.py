"""A create_issue event whose Jira create was answered (the key was in hand) but whose
write-back to ESM failed transiently is retried by Airflow. The retry looked for the issue
again only through a JQL search on the event's label. When the label was gone by then (a
person or a Jira automation rule replaced the issue's labels -- the label ``esm-event-<hash>``
looks like noise), the retry found nothing and created a SECOND issue, although the first
one still carries the event's issue property and Jira's answer named it. Now the created
issue's id is noted with the event, and a later attempt reads that issue first."""
from __future__ import annotations

import pytest

from jira_esm_connector.events import run_event
from jira_esm_connector.http.errors import ServiceUnavailableError
from jira_esm_connector.markers import ISSUE_EVENT_PROPERTY, EventRef

from .conftest import EsmDownOnce, example_task, unique



def _issues_with_event_property(jira, task_name, event_id, keys):
    ref = EventRef(task_name, event_id)
    return [k for k in keys if ref.matches(jira.get_issue_property(k, ISSUE_EVENT_PROPERTY, missing_ok=True))]


def test_a_retry_after_a_failed_write_back_does_not_create_a_second_issue(jira, esm, state):
    task = example_task("event_create_issue.yaml")
    card = esm.create_card("incident", {"subject": "write-back down"}, folder="incident_management")
    conf = {"event_id": unique(), "datacard_id": card, "subject": "write-back down"}
    flaky = EsmDownOnce(esm)
    with pytest.raises(ServiceUnavailableError):  # transient: Airflow retries the task
        run_event(task, conf, jira, flaky, state, owner="run-1", index_lag_s=0)
    ref = EventRef(task.name, conf["event_id"])
    first = next(iter(jira.search(f'labels = "{ref.label}"', fields=["labels"])))["key"]
    # before the retry, someone tidies the issue's labels (Jira automation "set labels", a person)
    jira.edit_issue(first, {"labels": ["triaged"]})
    retried = run_event(task, conf, jira, flaky, state, owner="run-1", index_lag_s=0)
    created = [first] + ([retried["issue_key"]] if retried["issue_key"] != first else [])
    assert _issues_with_event_property(jira, task.name, conf["event_id"], created) == [first], retried
    assert retried["issue_key"] == first


def test_a_create_jira_answered_leaves_nothing_to_wait_for(jira, esm, state):
    """Jira answered the create (its key in hand), then the write-back failed: the event's notes
    hold the created issue, not a create "of unknown outcome", so the retry reads that issue at
    once instead of waiting out the search index's lag for it."""
    import time

    task = example_task("event_create_issue.yaml")
    card = esm.create_card("incident", {"subject": "answered create"}, folder="incident_management")
    conf = {"event_id": unique(), "datacard_id": card, "subject": "answered create"}
    flaky = EsmDownOnce(esm)
    with pytest.raises(ServiceUnavailableError):
        run_event(task, conf, jira, flaky, state, owner="run-1", index_lag_s=60)
    notes = state.get_event(task.name, conf["event_id"]).notes
    assert notes.get("created_issue_id") and "ambiguous_create_at" not in notes, notes
    started = time.monotonic()
    retried = run_event(task, conf, jira, flaky, state, owner="run-1", index_lag_s=60)
    assert time.monotonic() - started < 10 and retried["replayed"] is False
