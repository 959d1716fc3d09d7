"""Profile visibility: Jira Cloud leaves out the e-mail address of a user who hides it
(User.emailAddress: "Depending on the user's privacy setting, this may be returned as null";
users/search and user/search: "Privacy controls are applied to the response based on the
users' preferences. This could mean, for example, that the user's email address is hidden").
The simulator hides it for a user created or patched with ``emailVisible: false``."""
from __future__ import annotations


def test_a_hidden_email_address_is_left_out_of_every_user_answer(api, validate, jira_sim_scratch):
    email = "hidden.person@example.com"
    made = jira_sim_scratch.admin("POST", "/users", json={"email": email, "displayName": "Hidden Person",
                                                              "emailVisible": False})
    account_id = made.json()["accountId"]
    group = validate(api.post(api.base + "/group", json={"name": "privacy-test"})).json()
    validate(api.post(api.base + "/group/user", params={"groupId": group["groupId"]}, json={"accountId": account_id}))

    listed = [u for u in validate(api.get(api.base + "/users/search", params={"maxResults": 1000})).json()
              if u["accountId"] == account_id]
    # the search still matches the address; it only does not show it
    found = validate(api.get(api.base + "/user/search", params={"query": email})).json()
    single = validate(api.get(api.base + "/user", params={"accountId": account_id})).json()
    members = validate(api.get(api.base + "/group/member", params={"groupId": group["groupId"]})).json()["values"]
    for user in (*listed, *found, single, *members):
        assert user["accountId"] == account_id and "emailAddress" not in user
    assert len(listed) == len(found) == len(members) == 1

    assert jira_sim_scratch.admin("PATCH", f"/users/{account_id}", json={"emailVisible": True}).ok
    assert validate(api.get(api.base + "/user", params={"accountId": account_id})).json()["emailAddress"] == email


def test_the_caller_sees_its_own_hidden_email_address(api, validate, jira_sim_scratch):
    me = validate(api.get(api.base + "/myself")).json()
    assert jira_sim_scratch.admin("PATCH", f"/users/{me['accountId']}", json={"emailVisible": False}).ok
    assert validate(api.get(api.base + "/myself")).json()["emailAddress"] == me["emailAddress"]
