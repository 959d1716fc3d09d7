"""Seeded data shapes, comment/user/group paging, and admin data edits seen by the next call."""
from __future__ import annotations

import pytest


@pytest.fixture
def sim(jira_sim_fresh):
    return jira_sim_fresh


def search_keys(s, base, jql):
    r = s.post(base + "/rest/api/3/search/jql", json={"jql": jql, "maxResults": 1000, "fields": ["key"]})
    assert r.status_code == 200, r.text
    return [i["key"] for i in r.json()["issues"]]


def test_seed_is_deterministic_and_realistic(sim):
    s = sim.session()
    first = s.get(sim.base_url + "/rest/api/3/issue/ENG-7").json()
    sim.reset()
    assert s.get(sim.base_url + "/rest/api/3/issue/ENG-7").json() == first
    issues = s.post(sim.base_url + "/rest/api/3/search/jql", json={
        "jql": "project in (SUP, ENG, OPS)", "maxResults": 100, "fields": ["*all"]}).json()["issues"]
    statuses = {i["fields"]["status"]["name"] for i in issues}
    assert len(statuses) >= 5
    assert any(i["fields"]["resolution"] for i in issues) and any(not i["fields"]["resolution"] for i in issues)
    assert any(i["fields"]["labels"] for i in issues)
    assert any(i["fields"]["customfield_10016"] is not None for i in issues)
    assert {i["fields"]["issuetype"]["name"] for i in issues} >= {"Bug", "Task"}
    done = [i for i in issues if i["fields"]["status"]["statusCategory"]["key"] == "done"]
    assert done and all(i["fields"]["resolutiondate"] for i in done)


def test_transition_ids_differ_per_workflow(sim):
    s = sim.session()
    ids = {}
    for project in ("SUP", "ENG", "OPS"):
        t = s.get(f"{sim.base_url}/rest/api/3/issue/{project}-1/transitions").json()["transitions"]
        ids[project] = {x["id"] for x in t}
    assert not (ids["SUP"] & ids["ENG"]) and not (ids["ENG"] & ids["OPS"])


def test_comment_paging_beyond_embedded(sim):
    s = sim.session()
    base = sim.base_url + "/rest/api/3"
    r = s.post(base + "/search/jql", json={"jql": "project in (SUP, ENG, OPS)", "maxResults": 100, "fields": ["comment"]})
    token = None
    busy = None
    while busy is None:
        body = {"jql": "project in (SUP, ENG, OPS)", "maxResults": 100, "fields": ["comment"]}
        if token:
            body["nextPageToken"] = token
        data = s.post(base + "/search/jql", json=body).json()
        busy = next((i for i in data["issues"] if i["fields"]["comment"]["total"] > 50), None)
        token = data.get("nextPageToken")
        assert busy or token, "the seed must have an issue with more than 50 comments"
    embedded = busy["fields"]["comment"]
    assert len(embedded["comments"]) < embedded["total"]
    seen, start = [], 0
    while True:
        page = s.get(f"{base}/issue/{busy['id']}/comment", params={"startAt": start, "maxResults": 7}).json()
        seen += [c["id"] for c in page["comments"]]
        start += len(page["comments"])
        if start >= page["total"] or not page["comments"]:
            break
    assert len(seen) == len(set(seen)) == embedded["total"]
    assert all(c["body"]["type"] == "doc" for c in page["comments"])


def test_users_and_group_members_paging(sim):
    s = sim.session()
    base = sim.base_url + "/rest/api/3"
    users, start = [], 0
    while True:
        page = s.get(base + "/users/search", params={"startAt": start, "maxResults": 7}).json()
        if not page:
            break
        users += page
        start += len(page)
    ids = [u["accountId"] for u in users]
    assert len(ids) == len(set(ids)) == sim.seed["users"] + 1  # + the test account
    assert any(not u["active"] for u in users)
    group = s.get(base + "/group/bulk", params={"maxResults": 1}).json()["values"][0]
    members, start = [], 0
    while True:
        page = s.get(base + "/group/member", params={"groupId": group["groupId"], "startAt": start, "maxResults": 7, "includeInactiveUsers": "true"}).json()
        members += page["values"]
        start += len(page["values"])
        if page["isLast"]:
            break
        assert page["nextPage"]
    assert len(members) == page["total"] > 0
    active_only = s.get(base + "/group/member", params={"groupId": group["groupId"], "maxResults": 50}).json()
    assert active_only["total"] <= page["total"]
    groups = s.get(base + "/group/bulk", params={"maxResults": 1000}).json()
    assert groups["total"] == sim.seed["groups"] and groups["isLast"] is True


def test_admin_edits_are_visible_in_the_next_search(sim):
    s = sim.session()
    base = sim.base_url
    watermark = '"2031-06-01 12:00"'  # Helsinki time
    assert search_keys(s, base, f"updated >= {watermark}") == []
    sim.admin("PATCH", "issues/SUP-4", json={"updated": "2031-06-01T09:00:00Z", "summary": "changed by test"})  # 12:00 local
    sim.admin("PATCH", "issues/ENG-4", json={"updated": "2031-06-01T08:59:59.999Z"})  # 11:59:59.999 local
    assert search_keys(s, base, f"updated >= {watermark}") == ["SUP-4"]
    created = sim.admin("POST", "issues", json={"project": "OPS", "summary": "new one", "updated": "2031-06-02T00:00:00Z", "status": "Done"}).json()
    assert search_keys(s, base, f"updated >= {watermark} ORDER BY updated") == ["SUP-4", created["key"]]
    got = s.get(f"{base}/rest/api/3/issue/{created['key']}", params={"fields": "status,resolution"}).json()
    assert got["fields"]["status"]["name"] == "Done" and got["fields"]["resolution"]["name"] == "Done"
    sim.admin("DELETE", "issues/SUP-4")
    assert search_keys(s, base, f"updated >= {watermark}") == [created["key"]]
    assert s.get(f"{base}/rest/api/3/issue/SUP-4").status_code == 404


def test_admin_user_and_group_edits(sim):
    s = sim.session()
    base = sim.base_url + "/rest/api/3"
    before = s.get(base + "/users/search", params={"maxResults": 1000}).json()
    new = sim.admin("POST", "users", json={"email": "late@example.com", "displayName": "Late Comer"}).json()
    after = s.get(base + "/users/search", params={"maxResults": 1000}).json()
    assert len(after) == len(before) + 1
    sim.admin("PATCH", f"users/{new['accountId']}", json={"active": False})
    assert s.get(base + "/user", params={"accountId": new["accountId"]}).json()["active"] is False
    group = sim.admin("POST", "groups", json={"name": "late-group"}).json()
    sim.admin("PUT", f"groups/{group['groupId']}/members/{new['accountId']}")
    members = s.get(base + "/group/member", params={"groupname": "late-group", "includeInactiveUsers": "true"}).json()
    assert [m["accountId"] for m in members["values"]] == [new["accountId"]]
    assert s.get(base + "/group/member", params={"groupname": "late-group"}).json()["total"] == 0  # inactive hidden
    sim.admin("DELETE", f"groups/{group['groupId']}/members/{new['accountId']}")
    sim.admin("DELETE", f"groups/{group['groupId']}")
    assert s.get(base + "/group/member", params={"groupname": "late-group"}).status_code == 404
    sim.admin("DELETE", f"users/{new['accountId']}")
    assert s.get(base + "/user", params={"accountId": new["accountId"]}).status_code == 404


def test_rest_api_v2_speaks_plain_text(sim):
    s = sim.session()
    base = sim.base_url + "/rest/api/2"
    created = s.post(base + "/issue", json={"fields": {"project": {"key": "ENG"}, "issuetype": {"name": "Task"}, "summary": "v2", "description": "plain\n\ntext"}})
    assert created.status_code == 201, created.text
    issue = s.get(f"{base}/issue/{created.json()['key']}").json()
    assert issue["fields"]["description"] == "plain\n\ntext"
    v3 = s.get(f"{sim.base_url}/rest/api/3/issue/{created.json()['key']}").json()
    assert v3["fields"]["description"]["type"] == "doc"
    assert s.post(f"{base}/issue/{created.json()['key']}/comment", json={"body": "hi"}).json()["body"] == "hi"


def test_number_custom_fields_are_served_as_doubles(sim):
    """Jira Cloud keeps number custom fields as doubles and writes them as JSON numbers with a
    fraction (``"customfield_10016": 3.0``), whatever was written (``3``); the schema in GET
    /field says ``number``. A client that turns the value into text gets "3.0"."""
    s = sim.session()
    assert s.put(sim.base_url + "/rest/api/3/issue/SUP-1", json={"fields": {"customfield_10016": 8}}).status_code == 204
    body = s.get(sim.base_url + "/rest/api/3/issue/SUP-1", params={"fields": "customfield_10016"}).text
    assert '"customfield_10016":8.0' in body.replace(" ", "")
    issues = s.post(sim.base_url + "/rest/api/3/search/jql", json={
        "jql": "project = SUP AND cf[10016] is not empty", "maxResults": 100, "fields": ["customfield_10016"]}).json()["issues"]
    assert issues and all(type(i["fields"]["customfield_10016"]) is float for i in issues)
    field = next(f for f in s.get(sim.base_url + "/rest/api/3/field").json() if f["id"] == "customfield_10016")
    assert field["schema"]["type"] == "number"
