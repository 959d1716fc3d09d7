"""Review round 23 of the event pushes: defects found and pinned (one test each, on the
simulators and the real pipeline functions)."""
from __future__ import annotations

from jira_esm_connector.events import run_event

from .conftest import make_task, unique


def _issue(jira, labels):
    return jira.create_issue({"project": {"key": "SUP"}, "issuetype": {"name": "Task"}, "summary": "r23",
                              "labels": labels})["key"]


def test_an_update_whose_list_field_values_were_not_sent_leaves_the_field_alone(jira, state):
    """A multi-value field mapped from optional payload values (``labels: ["{{ a }}", "{{ b }}"]``):
    an update event that sends neither (it only changes the summary) must leave the labels as
    they are -- "payload fields the caller leaves out are not touched in Jira". Before, the list
    came out empty and Jira was told ``labels: []``: every label of the issue was wiped."""
    task = make_task(
        name=unique("r23_upd"), operation="update_issue",
        payload={"issue_key": {"required": True}, "subject": {}, "category": {}, "area": {}},
        issue="{{ issue_key }}",
        fields={"summary": "{{ subject }}", "labels": ["{{ category }}", "{{ area }}"]},
    )
    key = _issue(jira, ["keep-me", "and-me"])
    result = run_event(task, {"event_id": unique(), "issue_key": key, "subject": "renamed"}, jira, None, state)
    assert result["fields"] == ["summary"]
    fields = jira.get_issue(key, ["summary", "labels"])["fields"]
    assert fields["summary"] == "renamed"
    assert sorted(fields["labels"]) == ["and-me", "keep-me"]
