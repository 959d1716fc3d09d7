"""Every implemented endpoint's responses validate against the shared Jira OpenAPI document."""
from __future__ import annotations

import uuid

import pytest

ADF = {"type": "doc", "version": 1, "content": [{"type": "paragraph", "content": [{"type": "text", "text": "Hello from the contract test"}]}]}


def test_server_identity_and_fields(api, validate):
    info = validate(api.get(api.base + "/serverInfo")).json()
    assert info["deploymentType"] == "Cloud"
    me = validate(api.get(api.base + "/myself", params={"expand": "groups,applicationRoles"})).json()
    assert me["emailAddress"] == "tester@example.com"
    assert me["timeZone"] == "Europe/Helsinki"
    fields = validate(api.get(api.base + "/field")).json()
    ids = {f["id"] for f in fields}
    assert {"summary", "status", "customfield_10016"} <= ids


def test_search_variants(api, validate):
    r = validate(api.get(api.base + "/search/jql", params={"jql": "project = SUP", "maxResults": 3}))
    body = r.json()
    assert body["isLast"] is False and body["nextPageToken"]
    assert all(set(i) == {"id"} for i in body["issues"])  # fields default to id only
    r = validate(api.get(api.base + "/search/jql", params={
        "jql": "project = ENG ORDER BY updated DESC", "maxResults": 5, "fields": "*all",
        "expand": "names,schema,renderedFields,transitions", "properties": "sync"}))
    body = r.json()
    assert body["names"]["summary"] == "Summary" and "schema" in body
    issue = body["issues"][0]
    assert issue["fields"]["status"]["statusCategory"]["key"] in ("new", "indeterminate", "done")
    assert issue["fields"]["description"] is None or issue["fields"]["description"]["type"] == "doc"
    assert issue["transitions"]
    r = validate(api.post(api.base + "/search/jql", json={
        "jql": "project = OPS", "maxResults": 2, "fields": ["summary", "status", "comment"]}))
    assert len(r.json()["issues"]) == 2
    count = validate(api.post(api.base + "/search/approximate-count", json={"jql": "project = SUP"})).json()
    assert count["count"] > 0
    bulk = validate(api.post(api.base + "/issue/bulkfetch", json={
        "issueIdsOrKeys": ["SUP-2", "10000", "NOPE-1"], "fields": ["summary", "labels"], "expand": ["names"]})).json()
    assert [i["id"] for i in bulk["issues"]] == sorted(i["id"] for i in bulk["issues"])
    # BulkIssueResults.issueErrors: "Issues which aren't found ... won't be returned in this list"
    assert len(bulk["issues"]) == 2 and "NOPE-1" not in {i["key"] for i in bulk["issues"]}
    assert bulk["issueErrors"] == []


def test_issue_lifecycle(api, validate, jira_sim_fresh):
    created = validate(api.post(api.base + "/issue", json={"fields": {
        "project": {"key": "SUP"}, "issuetype": {"name": "Bug"}, "summary": "Printer on fire",
        "description": ADF, "priority": {"name": "High"}, "labels": ["esm"],
        "customfield_10050": "4711", "customfield_10020": {"value": "Platform"}}})).json()
    assert created["key"].startswith("SUP-")
    key = created["key"]
    issue = validate(api.get(f"{api.base}/issue/{key}")).json()
    assert issue["fields"]["summary"] == "Printer on fire"
    assert issue["fields"]["customfield_10020"]["value"] == "Platform"
    assert issue["fields"]["description"] == ADF
    r = validate(api.put(f"{api.base}/issue/{key}", json={"fields": {"summary": "Printer still on fire"}}))
    assert r.status_code == 204
    r = validate(api.put(f"{api.base}/issue/{key}", params={"returnIssue": "true"}, json={"update": {"labels": [{"add": "hot"}]}}))
    assert r.status_code == 200 and sorted(r.json()["fields"]["labels"]) == ["esm", "hot"]
    transitions = validate(api.get(f"{api.base}/issue/{key}/transitions")).json()["transitions"]
    done = next(t for t in transitions if t["to"]["statusCategory"]["key"] == "done")
    r = validate(api.post(f"{api.base}/issue/{key}/transitions", json={
        "transition": {"id": done["id"]}, "fields": {"resolution": {"name": "Won't Do"}}}))
    assert r.status_code == 204
    fields = api.get(f"{api.base}/issue/{key}", params={"fields": "status,resolution,resolutiondate"}).json()["fields"]
    assert fields["resolution"]["name"] == "Won't Do" and fields["resolutiondate"]
    comment = validate(api.post(f"{api.base}/issue/{key}/comment", json={"body": ADF})).json()
    assert comment["body"] == ADF
    page = validate(api.get(f"{api.base}/issue/{key}/comment", params={"startAt": 0, "maxResults": 10})).json()
    assert page["total"] == 1 and page["comments"][0]["id"] == comment["id"]
    for order in ("created", "+created", "-created"):
        assert validate(api.get(f"{api.base}/issue/{key}/comment", params={"orderBy": order})).json()["total"] == 1
    # "400 Returned if `orderBy` is set to a value other than *created*"
    assert api.get(f"{api.base}/issue/{key}/comment", params={"orderBy": "updated"}).status_code == 400
    r = validate(api.put(f"{api.base}/issue/{key}/properties/sync", json={"origin": "esm", "n": 1}))
    assert r.status_code == 201
    r = validate(api.put(f"{api.base}/issue/{key}/properties/sync", json={"origin": "esm", "n": 2}))
    assert r.status_code == 200
    keys = validate(api.get(f"{api.base}/issue/{key}/properties")).json()
    assert [k["key"] for k in keys["keys"]] == ["sync"]
    prop = validate(api.get(f"{api.base}/issue/{key}/properties/sync")).json()
    assert prop == {"key": "sync", "value": {"origin": "esm", "n": 2}}
    r = validate(api.delete(f"{api.base}/issue/{key}/properties/sync"))
    assert r.status_code == 204


def test_users_and_groups(api, validate):
    users = validate(api.get(api.base + "/users/search", params={"startAt": 0, "maxResults": 10})).json()
    assert isinstance(users, list) and len(users) == 10
    assert {u["accountType"] for u in validate(api.get(api.base + "/users/search", params={"maxResults": 1000})).json()} >= {"atlassian", "app"}
    email = f"new-{uuid.uuid4().hex[:8]}@example.com"
    user = validate(api.post(api.base + "/user", json={"emailAddress": email, "products": ["jira-software"]})).json()
    assert user["emailAddress"] == email and user["active"] is True
    got = validate(api.get(api.base + "/user", params={"accountId": user["accountId"]})).json()
    assert got["accountId"] == user["accountId"]
    found = validate(api.get(api.base + "/user/search", params={"query": email[:8]})).json()
    assert [u["accountId"] for u in found] == [user["accountId"]]
    group = validate(api.post(api.base + "/group", json={"name": "contract-test-group"})).json()
    assert group["name"] == "contract-test-group" and group["groupId"]
    r = validate(api.post(api.base + "/group/user", params={"groupId": group["groupId"]}, json={"accountId": user["accountId"]}))
    assert r.status_code == 201
    members = validate(api.get(api.base + "/group/member", params={"groupId": group["groupId"]})).json()
    assert members["total"] == 1 and members["values"][0]["accountId"] == user["accountId"]
    bulk = validate(api.get(api.base + "/group/bulk", params={"maxResults": 3})).json()
    assert bulk["isLast"] is False and len(bulk["values"]) == 3 and bulk["nextPage"]
    r = validate(api.delete(api.base + "/group/user", params={"groupId": group["groupId"], "accountId": user["accountId"]}))
    assert r.status_code == 200
    r = validate(api.delete(api.base + "/group", params={"groupId": group["groupId"]}))
    assert r.status_code == 200
    r = validate(api.delete(api.base + "/user", params={"accountId": user["accountId"]}))
    assert r.status_code == 204


def test_single_comment_get_update_delete(api, validate, validate_error):
    c = validate(api.post(f"{api.base}/issue/ENG-3/comment", json={"body": ADF})).json()
    got = validate(api.get(f"{api.base}/issue/ENG-3/comment/{c['id']}")).json()
    assert got["body"] == ADF
    edited = dict(ADF, content=[{"type": "paragraph", "content": [{"type": "text", "text": "edited"}]}])
    upd = validate(api.put(f"{api.base}/issue/ENG-3/comment/{c['id']}", json={"body": edited})).json()
    assert upd["body"] == edited
    assert validate(api.delete(f"{api.base}/issue/ENG-3/comment/{c['id']}")).status_code == 204
    validate_error(api.get(f"{api.base}/issue/ENG-3/comment/{c['id']}"), 404)


def test_site_metadata(api, validate, validate_error):
    projects = validate(api.get(api.base + "/project")).json()
    assert [p["key"] for p in projects] == ["SUP", "ENG", "OPS"]
    page = validate(api.get(api.base + "/project/search", params={"maxResults": 2})).json()
    assert page["total"] == 3 and page["isLast"] is False and len(page["values"]) == 2
    sup = validate(api.get(api.base + "/project/SUP")).json()
    assert sup["key"] == "SUP" and {t["name"] for t in sup["issueTypes"]} >= {"Bug", "Incident"}
    validate_error(api.get(api.base + "/project/NOPE"), 404)
    # projectIdOrKey: "The project ID or project key (case sensitive)" -- not its name
    assert validate(api.get(api.base + f"/project/{sup['id']}")).json()["key"] == "SUP"
    validate_error(api.get(api.base + "/project/sup"), 404)
    validate_error(api.get(api.base + "/project/Engineering"), 404)
    # project/search: "404 Returned if no projects matching the search criteria are found"
    validate_error(api.get(api.base + "/project/search", params={"keys": ["NOPE", "GONE"]}), 404)
    validate_error(api.get(api.base + "/project/search", params={"query": "no such project"}), 404)
    found = validate(api.get(api.base + "/project/search", params={"keys": ["NOPE", "SUP"]})).json()
    assert [p["key"] for p in found["values"]] == ["SUP"] and found["isLast"] is True
    assert {p["name"] for p in validate(api.get(api.base + "/priority")).json()} >= {"High", "Medium"}
    assert {x["name"] for x in validate(api.get(api.base + "/resolution")).json()} >= {"Done", "Won't Do"}
    assert {x["name"] for x in validate(api.get(api.base + "/status")).json()} >= {"Open", "Done"}
    assert {x["key"] for x in validate(api.get(api.base + "/statuscategory")).json()} == {"new", "indeterminate", "done"}
    assert {x["name"] for x in validate(api.get(api.base + "/issuetype")).json()} >= {"Task", "Bug"}


def test_project_search_without_a_match_answers_an_empty_page_with_the_knob(api, validate, jira_sim_fresh):
    """A Jira might answer an empty page instead of the contract's 404: the
    project_search_empty_page knob does."""
    jira_sim_fresh.admin("PUT", "config", json={"project_search_empty_page": True})
    try:
        page = validate(api.get(api.base + "/project/search", params={"keys": ["NOPE"]})).json()
        assert (page["values"], page["total"], page["isLast"]) == ([], 0, True)
    finally:  # the simulator is shared by the session
        jira_sim_fresh.admin("PUT", "config", json={"project_search_empty_page": False})
