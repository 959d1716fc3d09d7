"""Event operations whose answer was lost after Jira acted (the simulator's ``drop_after``
fault; the proxy's 502 after the upstream answered): the client repeats an idempotent
request (DELETE) on its own, and the repeat meets the change already made. The event must
succeed -- its goal holds -- and say so, not fail for good."""
from __future__ import annotations

import pytest
import requests

from jira_esm_connector.events import EventRefused, run_event

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
    assert account_id not in {u["accountId"] for u in jira.iter_users()}


def test_delete_user_by_an_account_id_jira_does_not_know_is_refused_naming_it(jira, state):
    task = example_task("event_delete_user.yaml")
    with pytest.raises(EventRefused, match="Jira has no user with the account id 0000nosuchaccount"):
        run_event(task, {"event_id": unique(), "account_id": "0000nosuchaccount"}, jira, None, state)
