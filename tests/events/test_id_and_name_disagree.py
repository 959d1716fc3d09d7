"""An ESM card holds a Jira object's id and its name / e-mail address as last imported. When
the two no longer name the same object in Jira (the group was renamed and another group took
the old name; the address moved to another account), one of them is wrong: a membership
change or a delete must not guess. It used the id and never looked at the name -- and so
removed a person from (or added them to) a group the name did not mean, or deleted a user the
address did not name. Refused now, naming both; nothing changes. Through the real simulator."""
from __future__ import annotations

import pytest

from jira_esm_connector.events import EventRefused, add_user_to_group, delete_user, remove_user_from_group
from jira_esm_connector.http.errors import NotFoundError
from jira_esm_connector.markers import EventRef

from .conftest import unique


def _ref() -> EventRef:
    return EventRef("test_events", unique())


def _delete_if_there(jira, group_id: str) -> None:
    try:
        jira.delete_group(group_id=group_id)
    except NotFoundError:
        pass


def _members(jira, group_id: str) -> set[str]:
    return {m["accountId"] for m in jira.iter_group_members(group_id=group_id)}


@pytest.fixture
def person(jira, close_accounts_after):
    email = f"{unique('person')}@example.com"
    account_id = jira.create_user(email, ["jira-software"])["accountId"]
    close_accounts_after.append(account_id)
    return {"account_id": account_id, "email": email}


@pytest.fixture
def renamed(jira, request):
    """``(the card's group, the group that took its old name)``."""
    base = unique("renamed")
    groups = jira.create_group(f"{base} now"), jira.create_group(f"{base} was")
    for group in groups:
        request.addfinalizer(lambda gid=group["groupId"]: _delete_if_there(jira, gid))
    return groups


@pytest.mark.parametrize("check_first", [False, True], ids=["first", "resumed"])
def test_removing_by_an_id_and_the_name_of_another_group_removes_no_one(jira, person, renamed, check_first):
    card_group, other = renamed
    for group in renamed:
        jira.add_user_to_group(person["account_id"], group_id=group["groupId"])
    with pytest.raises(EventRefused, match=f"group id {card_group['groupId']} is Jira's group '{card_group['name']}'"
                                           f".*'{other['name']}' names another group"):
        remove_user_from_group(jira, _ref(), group_id=card_group["groupId"], group_name=other["name"],
                               account_id=person["account_id"], check_first=check_first)
    assert all(person["account_id"] in _members(jira, g["groupId"]) for g in renamed)


def test_adding_by_an_id_and_the_name_of_another_group_adds_no_one(jira, person, renamed):
    card_group, other = renamed
    with pytest.raises(EventRefused, match="names another group"):
        add_user_to_group(jira, _ref(), group_id=card_group["groupId"], group_name=other["name"],
                          account_id=person["account_id"])
    assert _members(jira, card_group["groupId"]) == set() == _members(jira, other["groupId"])


def test_an_id_and_its_groups_name_in_another_case_change_that_group(jira, person, renamed):
    card_group, _other = renamed
    added = add_user_to_group(jira, _ref(), group_id=card_group["groupId"], group_name=card_group["name"].upper(),
                              account_id=person["account_id"])
    assert added["changed"] is True and _members(jira, card_group["groupId"]) == {person["account_id"]}


def test_deleting_by_an_account_id_and_another_users_address_deletes_no_one(jira, person, close_accounts_after):
    other_email = f"{unique('other')}@example.com"
    close_accounts_after.append(jira.create_user(other_email, ["jira-software"])["accountId"])
    for check_first in (False, True):
        with pytest.raises(EventRefused, match=f"account id {person['account_id']} is Jira's user with the e-mail "
                                               f"address {person['email']}, but its e-mail address {other_email}"):
            delete_user(jira, _ref(), account_id=person["account_id"], email=other_email, check_first=check_first)
    assert jira.get_user(person["account_id"]).get("active") is not False


def test_deleting_by_an_account_id_and_its_address_in_another_case_deletes_the_user(jira, person):
    deleted = delete_user(jira, _ref(), account_id=person["account_id"], email=person["email"].upper())
    assert deleted == {"account_id": person["account_id"], "deleted": True}


def test_a_membership_change_by_an_account_id_and_another_users_address_changes_nothing(
    jira, person, renamed, close_accounts_after
):
    group = renamed[0]
    jira.add_user_to_group(person["account_id"], group_id=group["groupId"])
    other_email = f"{unique('other')}@example.com"
    close_accounts_after.append(jira.create_user(other_email, ["jira-software"])["accountId"])
    with pytest.raises(EventRefused, match=f"but its e-mail address {other_email} is another one"):
        remove_user_from_group(jira, _ref(), group_id=group["groupId"], account_id=person["account_id"],
                               email=other_email)
    assert _members(jira, group["groupId"]) == {person["account_id"]}


def test_deleting_by_an_account_id_whose_address_jira_hides_goes_on_by_the_id(jira_sim_scratch, caplog):
    """Jira hides the address (the user's profile visibility): it cannot be checked, and the
    account id alone names the user. Logged so; the user is deleted."""
    email = f"{unique('hidden')}@example.com"
    made = jira_sim_scratch.admin("POST", "/users", json={"email": email, "emailVisible": False})
    account_id = made.json()["accountId"]
    caplog.set_level("INFO", logger="jira_esm_connector.events")
    with jira_sim_scratch.client() as jira:
        assert "emailAddress" not in jira.get_user(account_id)
        deleted = delete_user(jira, _ref(), account_id=account_id, email=f"someone-else-{email}")
    assert deleted == {"account_id": account_id, "deleted": True}
    assert f"Jira hides the e-mail address of user {account_id}" in caplog.text
