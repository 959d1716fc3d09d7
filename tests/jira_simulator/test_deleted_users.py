"""DELETE /rest/api/3/user: "the user is removed from Jira's user base. This operation does not
delete the user's Atlassian account." users/search returns "all users, including active users,
inactive users and previously deleted users that have an Atlassian account", and GET user
still answers for them (as inactive). The simulator used to drop a deleted user from every
answer, as if the account were closed (what ``DELETE /_admin/users/{id}`` still does), so an
import saw the user vanish where Jira shows it inactive."""
from __future__ import annotations


def test_a_deleted_user_stays_listed_as_inactive_without_groups(api, validate, validate_error, jira_sim_scratch):
    email = "leaver@example.com"
    user = validate(api.post(api.base + "/user", json={"emailAddress": email, "products": ["jira-software"]})).json()
    account_id = user["accountId"]
    group = validate(api.post(api.base + "/group", json={"name": "leavers-team"})).json()
    validate(api.post(api.base + "/group/user", params={"groupId": group["groupId"]}, json={"accountId": account_id}))
    key = jira_sim_scratch.admin("POST", "/issues", json={"project": "SUP", "summary": "Reported by a leaver",
                                                       "reporter": account_id}).json()["key"]

    assert validate(api.delete(api.base + "/user", params={"accountId": account_id})).status_code == 204

    listed = [u for u in validate(api.get(api.base + "/users/search", params={"maxResults": 1000})).json()
              if u["accountId"] == account_id]
    assert [u["active"] for u in listed] == [False]
    got = validate(api.get(api.base + "/user", params={"accountId": account_id, "expand": "groups"})).json()
    assert got["active"] is False and got["groups"]["items"] == []
    members = validate(api.get(api.base + "/group/member", params={"groupId": group["groupId"],
                                                                   "includeInactiveUsers": "true"})).json()
    assert members["values"] == [] and members["total"] == 0
    reporter = validate(api.get(api.base + f"/issue/{key}", params={"fields": "reporter"})).json()["fields"]["reporter"]
    assert reporter["accountId"] == account_id and reporter["active"] is False
    # the active-user search does not find it; deleting it again finds no user in Jira's user base
    assert validate(api.get(api.base + "/user/search", params={"query": email})).json() == []
    validate_error(api.delete(api.base + "/user", params={"accountId": account_id}), 404)
    # "If the user exists but does not have access to Jira, the operation returns a 400 status."
    validate_error(api.post(api.base + "/user", json={"emailAddress": email, "products": ["jira-software"]}), 400)


def test_a_closed_account_is_gone_from_every_answer(api, validate, validate_error, jira_sim_scratch):
    account_id = jira_sim_scratch.admin("POST", "/users", json={"email": "closed@example.com"}).json()["accountId"]
    jira_sim_scratch.admin("DELETE", f"/users/{account_id}")
    users = validate(api.get(api.base + "/users/search", params={"maxResults": 1000})).json()
    assert account_id not in {u["accountId"] for u in users}
    validate_error(api.get(api.base + "/user", params={"accountId": account_id}), 404)
