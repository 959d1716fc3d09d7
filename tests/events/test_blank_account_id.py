"""An account id of only spaces names no user. The event DAG's templates render it as ""
(not given), but the operations took it as given and sent "   " to Jira: delete_user failed
with "Jira has no user with the account id    ", a membership change with the e-mail beside
it failed too. Now it counts as not given, like "": the e-mail names the user when there is
one, else the event is refused saying which values are missing -- before any Jira call."""
from __future__ import annotations

import pytest

from jira_esm_connector.events import EventRefused, add_user_to_group, delete_user, remove_user_from_group, run_event
from jira_esm_connector.markers import EventRef

from .conftest import example_task, unique

NO_USER = "names no user: its account id and e-mail address are empty or only spaces"


def _ref() -> EventRef:
    return EventRef("test_events", unique())


@pytest.mark.parametrize("operation", [
    lambda jira, **user: delete_user(jira, _ref(), **user),
    lambda jira, **user: add_user_to_group(jira, _ref(), group_name="jira-software-users", **user),
    lambda jira, **user: remove_user_from_group(jira, _ref(), group_name="jira-software-users", **user),
], ids=["delete_user", "add_user_to_group", "remove_user_from_group"])
def test_an_account_id_of_spaces_without_an_email_is_refused_before_asking_jira(jira, jira_sim, operation):
    before = jira_sim.stats()["total"]
    with pytest.raises(EventRefused, match=NO_USER):
        operation(jira, account_id="   ")
    with pytest.raises(EventRefused, match=NO_USER):
        operation(jira, account_id=" \t", email=" ")
    assert jira_sim.stats()["total"] == before  # nothing sent to Jira


def test_an_account_id_of_spaces_beside_an_email_counts_as_not_given(jira, close_accounts_after, request):
    email = f"{unique('blankid')}@example.com"
    account_id = jira.create_user(email, [])["accountId"]
    close_accounts_after.append(account_id)
    group = jira.create_group(unique("blankid-group"))
    request.addfinalizer(lambda: jira.delete_group(group_id=group["groupId"]))
    added = add_user_to_group(jira, _ref(), group_name=group["name"], account_id="  ", email=email)
    assert added["account_id"] == account_id and added["changed"] is True
    removed = remove_user_from_group(jira, _ref(), group_name=group["name"], account_id="  ", email=email)
    assert removed["account_id"] == account_id and removed["changed"] is True
    assert delete_user(jira, _ref(), account_id="  ", email=email) == {"account_id": account_id, "deleted": True}


def test_an_event_whose_account_id_is_spaces_names_the_missing_values(jira, state):
    conf = {"event_id": unique(), "account_id": "   "}
    with pytest.raises(EventRefused, match=NO_USER):
        run_event(example_task("event_delete_user.yaml"), conf, jira, None, state)
