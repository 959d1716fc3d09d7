"""remove_user_from_group with an account id that names no user: Jira answers 404 ("the
group or user are not found", removeUserFromGroup); the event must fail saying so, not
report the user removed. A real user who is not a member is done already (idempotent)."""
from __future__ import annotations

import pytest

from jira_esm_connector.events import EventRefused, remove_user_from_group
from jira_esm_connector.markers import EventRef

from .conftest import unique


def test_removing_an_unknown_account_id_from_a_group_fails_plainly(jira, request):
    group = jira.create_group(unique("rm-group"))
    request.addfinalizer(lambda: jira.delete_group(group_id=group["groupId"]))
    with pytest.raises(EventRefused, match="no user with the account id 0000nosuchuser0000"):
        remove_user_from_group(jira, EventRef("t", unique()), group_name=group["name"], account_id="0000nosuchuser0000")


def test_removing_a_real_non_member_is_done_and_said_plainly(jira, request, caplog, close_accounts_after):
    group = jira.create_group(unique("rm-group"))
    request.addfinalizer(lambda: jira.delete_group(group_id=group["groupId"]))
    account_id = jira.create_user(f"{unique('nonmember')}@example.com", ["jira-software"])["accountId"]
    close_accounts_after.append(account_id)
    caplog.set_level("INFO", logger="jira_esm_connector.events")
    result = remove_user_from_group(jira, EventRef("t", unique()), group_name=group["name"], account_id=account_id)
    assert result["changed"] is False and result["account_id"] == account_id
    assert f"User {account_id} was not a member of group '{group['name']}': nothing to remove" in caplog.text


def test_a_resumed_removal_of_an_unknown_account_id_fails_too(jira, request):
    """check_first (an earlier attempt began without an outcome) looks at the members first:
    an unknown id is in no group, which must not pass for "an earlier attempt removed it"."""
    group = jira.create_group(unique("rm-group"))
    request.addfinalizer(lambda: jira.delete_group(group_id=group["groupId"]))
    with pytest.raises(EventRefused, match="no user with the account id 0000nosuchuser0000"):
        remove_user_from_group(jira, EventRef("t", unique()), group_name=group["name"],
                               account_id="0000nosuchuser0000", check_first=True)


def test_a_resumed_removal_given_an_id_and_an_address_reads_the_user_once(jira, request, monkeypatch,
                                                                          close_accounts_after):
    """Given the account id and the e-mail address, the user is read (and the address checked)
    before the group; a resumed removal of a non-member then reads it no second time."""
    group = jira.create_group(unique("rm-group"))
    request.addfinalizer(lambda: jira.delete_group(group_id=group["groupId"]))
    email = f"{unique('nonmember')}@example.com"
    account_id = jira.create_user(email, ["jira-software"])["accountId"]
    close_accounts_after.append(account_id)
    reads: list[str] = []
    real_get_user = jira.get_user
    monkeypatch.setattr(jira, "get_user", lambda ident, *a, **k: reads.append(ident) or real_get_user(ident, *a, **k))
    result = remove_user_from_group(jira, EventRef("t", unique()), group_name=group["name"], account_id=account_id,
                                    email=email, check_first=True)
    assert result["changed"] is False and result["account_id"] == account_id
    assert reads == [account_id]
