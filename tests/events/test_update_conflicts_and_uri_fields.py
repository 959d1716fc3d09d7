"""Event pushes: an edit leaves out lists whose values were not sent, a 409 is retried, a refused
edit leaves the ledger, and format: uri is checked (simulators and the real pipeline functions)."""
from __future__ import annotations

import pytest

from jira_esm_connector.config.params import param_kwargs
from jira_esm_connector.events import EventRefused, PayloadError, check_payload, is_permanent, run_event

from .conftest import issue_status, make_task, project_with, unique


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


def _conflict_once(jira_sim, method: str, path: str) -> None:
    """Jira answers the next ``method path`` with 409, its documented "the issue could not be
    updated due to a conflicting update" (another edit of the issue at the same moment), and
    does nothing."""
    jira_sim.admin("POST", "faults", json={"type": "status", "status": 409, "count": 1, "method": method, "path": path})


def test_a_conflicting_update_409_on_an_edit_is_retried_not_a_permanent_refusal(jira, jira_sim, state):
    """Jira's 409 to ``PUT /issue`` is a conflict with a concurrent edit (an automation rule
    editing the issue at the same moment): nothing was changed and a retry succeeds. Before,
    it was taken for a refusal: the event failed for good (no Airflow retry) and the ESM
    workflow was told Jira refused the update."""
    task = make_task(
        name=unique("r23_409e"), operation="update_issue", payload={"issue_key": {"required": True}, "subject": {}},
        issue="{{ issue_key }}", fields={"summary": "{{ subject }}"},
    )
    key = _issue(jira, [])
    conf = {"event_id": unique(), "issue_key": key, "subject": "after the conflict"}
    _conflict_once(jira_sim, "PUT", f"/rest/api/3/issue/{key}")
    with pytest.raises(Exception) as err:
        run_event(task, conf, jira, None, state)
    assert not is_permanent(err.value), err.value
    assert "409" in str(err.value) and "conflict" in str(err.value).lower()
    result = run_event(task, conf, jira, None, state)  # Airflow's retry
    assert result["replayed"] is False
    assert jira.get_issue(key, ["summary"])["fields"]["summary"] == "after the conflict"


def test_a_conflicting_update_409_on_a_transition_is_retried_not_a_permanent_refusal(jira, jira_sim, state):
    """The same for ``POST /issue/{key}/transitions``: the issue did not move; the retry moves it."""
    project = project_with(jira, "Done")
    key = jira.create_issue({"project": {"key": project}, "issuetype": {"name": "Task"}, "summary": "r23"})["key"]
    task = make_task(
        name=unique("r23_409t"), operation="transition_issue", payload={"issue_key": {"required": True}},
        issue="{{ issue_key }}", transition={"to": "Done"},
    )
    conf = {"event_id": unique(), "issue_key": key}
    _conflict_once(jira_sim, "POST", f"/rest/api/3/issue/{key}/transitions")
    with pytest.raises(Exception) as err:
        run_event(task, conf, jira, None, state)
    assert not is_permanent(err.value), err.value
    assert issue_status(jira, key) != "Done"
    result = run_event(task, conf, jira, None, state)
    assert result["changed"] is True and issue_status(jira, key) == "Done"


def test_a_retrigger_after_an_edit_jira_refused_is_not_told_its_payload_was_not_acted_on(jira, state):
    """An update event Jira refuses (its summary is too long: Jira changed nothing); the
    operator shortens it on the card and the workflow re-triggers the failed step (same event
    id). The retry edits the issue with the corrected payload -- fully its own work -- so it is
    not told ``payload_differs`` (which a workflow reads as "your payload was not applied"), as
    a retried delete after a refused one is not. Before, the refused edit stayed "sent" in the
    event's ledger, and the corrected retry was flagged although it was applied."""
    task = make_task(
        name=unique("r23_refused_edit"), operation="update_issue",
        payload={"issue_key": {"required": True}, "subject": {}},
        issue="{{ issue_key }}", fields={"summary": "{{ subject }}"},
    )
    key = _issue(jira, [])
    event_id = unique()
    with pytest.raises(EventRefused, match="255"):
        run_event(task, {"event_id": event_id, "issue_key": key, "subject": "x" * 300}, jira, None, state, owner="run-1")
    fixed = run_event(task, {"event_id": event_id, "issue_key": key, "subject": "shorter"}, jira, None, state, owner="run-2")
    assert jira.get_issue(key, ["summary"])["fields"]["summary"] == "shorter"
    assert "payload_differs" not in fixed, fixed


def _uri_task(**link):
    return make_task(
        name=unique("r23_uri"), operation="add_comment",
        payload={"issue_key": {"required": True}, "link": {"format": "uri", **link}, "must": {"format": "uri", "required": True}},
        issue="{{ issue_key }}", comment="See {{ link }} {{ must }}",
    )


@pytest.mark.parametrize("bad", ["not a uri", "www.example.com/no-scheme", "https://exa mple.com/", "https://example.com/\n"])
def test_a_payload_value_that_is_no_uri_is_refused_where_the_field_says_format_uri(bad):
    """``format: uri`` is one of the documented payload checks, but jsonschema checks "uri" only
    when the optional rfc3987 package is installed (it is not): any text passed, at trigger
    time (Airflow's Params) and in run_event, and reached Jira. Now an absolute URI is required."""
    from airflow.sdk import Param
    from airflow.sdk.definitions.param import ParamValidationError

    task = _uri_task()
    ok = {"event_id": unique(), "issue_key": "SUP-1", "must": "https://example.com/a?b=c#d"}
    assert check_payload(task, ok)["must"] == ok["must"]
    assert check_payload(task, {**ok, "link": ""})["link"] is None  # an empty optional text: not sent
    assert check_payload(task, {**ok, "link": "mailto:someone@example.com"})["link"] == "mailto:someone@example.com"
    for name in ("link", "must"):
        with pytest.raises(PayloadError, match=f"{name}: .* is not a valid uri"):
            check_payload(task, {**ok, name: bad})
    params = {name: Param(**kw) for name, kw in param_kwargs(task).items()}
    assert params["must"].resolve("https://example.com/") == "https://example.com/"
    assert params["link"].resolve("") == ""
    for name in ("link", "must"):
        with pytest.raises(ParamValidationError):
            params[name].resolve(bad)


def test_a_task_file_whose_uri_default_is_no_uri_is_refused():
    """The field's own rules apply to its default (a trigger that leaves it out would be refused)."""
    with pytest.raises(Exception, match="not a valid uri"):
        _uri_task(default="not a uri")
