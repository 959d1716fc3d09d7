"""Event operations whose answer was lost after Jira acted (the simulator's ``drop_after``
fault; the proxy's 502 after the upstream answered) or that Jira carried out late: the
client repeats an idempotent request (DELETE) on its own, the Airflow retry repeats the
rest, and the repeat meets the change already made. The event must succeed -- its goal
holds -- and not do the change twice."""
from __future__ import annotations

import pytest
import requests

from jira_esm_connector.events import EventRefused, run_event
from jira_esm_connector.events.errors import is_permanent
from jira_esm_connector.http.errors import RequestTimeoutError

from .conftest import example_task, unique


def _new_user(jira, jira_sim, request) -> str:
    """A user for this test alone, removed afterwards should the test leave it behind."""
    account_id = jira.create_user(f"{unique('lost')}@example.com", ["jira-software"])["accountId"]

    def remove() -> None:
        try:
            jira_sim.admin("DELETE", f"users/{account_id}")
        except requests.HTTPError:
            pass  # the event deleted it

    request.addfinalizer(remove)
    return account_id


@pytest.mark.parametrize("lost", ["drop_after", "502"])
def test_delete_user_by_account_id_whose_answer_was_lost_succeeds(jira, jira_sim, proxied_jira, proxy, state, request, lost):
    """Jira deleted the user; the answer was lost, the client sent the DELETE again and got
    404. Before, that 404 failed the event for good ("Jira refused to delete the user")."""
    account_id = _new_user(jira, jira_sim, request)
    if lost == "drop_after":
        client = jira
        jira_sim.admin("POST", "faults", json={"type": "drop_after", "count": 1, "path": "/rest/api/3/user", "method": "DELETE"})
    else:
        client = proxied_jira
        proxy.fail_after("DELETE", "/rest/api/3/user", kind="502")
    task = example_task("event_delete_user.yaml")
    result = run_event(task, {"event_id": unique(), "account_id": account_id}, client, None, state)
    assert result["account_id"] == account_id
    # deleted from the site: Jira lists the account inactive (or not at all)
    assert {u["accountId"]: u for u in jira.iter_users()}.get(account_id, {}).get("active") is not True


def test_delete_user_by_an_account_id_jira_does_not_know_is_refused_naming_it(jira, state):
    task = example_task("event_delete_user.yaml")
    with pytest.raises(EventRefused, match="Jira has no user with the account id 0000nosuchaccount"):
        run_event(task, {"event_id": unique(), "account_id": "0000nosuchaccount"}, jira, None, state)


class CreateLandsLate:
    """The Jira client, but the first group create times out on the client's side and Jira
    carries it out late: just before the connector's second request arrives."""

    def __init__(self, jira):
        self._jira = jira
        self.pending: str | None = None

    def __getattr__(self, name):
        return getattr(self._jira, name)

    def create_group(self, name):
        if self.pending is None:
            self.pending = name
            raise RequestTimeoutError("Jira did not answer POST /rest/api/3/group in time", service="Jira")
        self._jira.create_group(self.pending)  # the first request lands now ...
        return self._jira.create_group(name)  # ... and Jira refuses the second: the name is taken


def test_a_group_create_refused_because_the_first_request_landed_late_succeeds(jira, state, monkeypatch, request):
    """Jira answers the repeated create with "A group with that name already exists."; the
    group is the event's own. Before, the event failed for good although the group was there."""
    monkeypatch.setattr("jira_esm_connector.events.operations.LOOKUP_PAUSES", (0.0,))
    name = unique("late group")
    request.addfinalizer(lambda: jira.find_group(name) and jira.delete_group(name=name))
    task = example_task("event_create_group.yaml", write_back=None)
    result = run_event(task, {"event_id": unique(), "name": name}, CreateLandsLate(jira), None, state)
    assert result["group_id"] == jira.find_group(name)["groupId"]


@pytest.mark.parametrize("task_file,method,path", [
    ("event_add_user_to_group.yaml", "POST", "/rest/api/3/group/user"),
    ("event_remove_user_from_group.yaml", "DELETE", "/rest/api/3/group/user"),
    ("event_delete_group.yaml", "DELETE", "/rest/api/3/group"),
])
def test_membership_and_group_changes_whose_answer_was_lost_end_as_wanted(
    jira, jira_sim, state, request, task_file, method, path
):
    account_id = _new_user(jira, jira_sim, request)
    group = jira.create_group(unique("lost group ü"))
    request.addfinalizer(lambda: jira.find_group(group["name"]) and jira.delete_group(group_id=group["groupId"]))
    if "remove" in task_file:
        jira.add_user_to_group(account_id, group_id=group["groupId"])
    task = example_task(task_file)
    conf = {"event_id": unique(), "name" if "delete_group" in task_file else "group": group["name"]}
    if "delete_group" not in task_file:
        conf["account_id"] = account_id
    jira_sim.admin("POST", "faults", json={"type": "drop_after", "count": 1, "path": path, "method": method})
    try:
        run_event(task, conf, jira, None, state, owner="run-1")
    except Exception as exc:  # noqa: BLE001 - a transient failure is fine: Airflow retries the task
        assert not is_permanent(exc), exc
        run_event(task, conf, jira, None, state, owner="run-1")
    if "delete_group" in task_file:
        assert jira.find_group(group["name"]) is None
    else:
        members = {m["accountId"] for m in jira.iter_group_members(group_id=group["groupId"])}
        assert (account_id in members) == ("add" in task_file)


def test_a_transition_whose_answer_was_lost_is_confirmed_within_the_attempt(jira, jira_sim, state):
    """Jira moved the issue; the answer was lost (a POST is not repeated). The status tells
    that the goal holds: the event succeeds at once, as a create whose answer was lost does.
    Before, the attempt failed and only Airflow's retry (if any is left) finished the event."""
    key = jira.create_issue({"project": {"key": "SUP"}, "issuetype": {"name": "Task"}, "summary": "lost answer"})["key"]
    task = example_task("event_transition_issue.yaml")
    jira_sim.admin("POST", "faults", json={"type": "drop_after", "count": 1,
                                            "path": f"/rest/api/3/issue/{key}/transitions", "method": "POST"})
    result = run_event(task, {"event_id": unique(), "issue_key": key, "status": "05 - Solved"}, jira, None, state)
    assert jira.get_issue(key, fields=["status"])["fields"]["status"]["name"] == result["status"] == "Resolved"
