"""The simulator under the two most used third-party Python Jira clients.

``jira`` (pycontribs, 3.10.5) and ``atlassian-python-api`` (5.0.5) drive the simulator over
real HTTPS with basic auth (e-mail + API token), through the workflows an admin script uses.
Every effect is checked through a second, independent read (plain ``requests`` against the
v3 API), not just "no exception". Where a library still calls what Jira Cloud has removed
(the old ``/search``, the GDPR-removed ``username``/``name`` user references), the test
asserts the library gets Jira Cloud's answer and that the modern call works.
"""
from __future__ import annotations

import datetime
import re
import uuid

import pytest
import requests
from atlassian import Jira as AtlassianJira
from jira import JIRA, JIRAError

from .site_alias import ALIAS_HOST, aliased_session

BIG_JQL = "project in (SUP, ENG, OPS) ORDER BY key"  # every seeded issue: several pages


@pytest.fixture(autouse=True)
def _no_environment_tls_or_proxy(monkeypatch: pytest.MonkeyPatch) -> None:
    # requests lets REQUESTS_CA_BUNDLE / proxies from the environment override `verify`
    for name in ("REQUESTS_CA_BUNDLE", "CURL_CA_BUNDLE", "HTTPS_PROXY", "https_proxy", "ALL_PROXY", "all_proxy"):
        monkeypatch.delenv(name, raising=False)


@pytest.fixture
def sim(jira_sim_fresh, jira_spec_dict):
    yield jira_sim_fresh
    # Whatever the libraries called exists in the simulator and in Jira's published document.
    stats = jira_sim_fresh.stats()
    assert stats["unrouted"] == {}, f"calls no simulator endpoint serves: {stats['unrouted']}"
    documented = {
        (method.upper(), re.sub(r"\{[^}]+\}", "{}", path))
        for path, item in jira_spec_dict["paths"].items() for method in item
    }
    for name in stats["endpoints"]:
        method, path = name.split(" ", 1)
        if not path.startswith("/rest/"):
            continue
        v3 = re.sub(r"^/rest/api/(2|latest)/", "/rest/api/3/", re.sub(r"\{[^}]+\}", "{}", path))
        assert (method, v3) in documented, f"{name} is not in Jira's OpenAPI document"


@pytest.fixture
def raw(sim) -> requests.Session:
    """The independent second read: plain requests on REST v3."""
    s = sim.session()
    s.api = sim.base_url + "/rest/api/3"
    return s


@pytest.fixture
def pj(sim) -> JIRA:
    return JIRA(sim.base_url, basic_auth=(sim.email, sim.token), options={"verify": sim.ca_pem}, max_retries=0)


@pytest.fixture
def aj(sim) -> AtlassianJira:
    return AtlassianJira(sim.base_url, username=sim.email, password=sim.token, cloud=True, verify_ssl=sim.ca_pem)


def all_keys(raw: requests.Session, jql: str) -> list[str]:
    keys, token = [], None
    while True:
        body = raw.post(raw.api + "/search/jql", json={
            "jql": jql, "maxResults": 5000, "fields": ["key"], **({"nextPageToken": token} if token else {})}).json()
        keys += [i["key"] for i in body["issues"]]
        token = body.get("nextPageToken")
        if body["isLast"]:
            return keys


def read_issue(raw: requests.Session, key: str) -> dict:
    r = raw.get(f"{raw.api}/issue/{key}")
    assert r.status_code == 200, r.text
    return r.json()


def adf_text(node: dict | None) -> str:
    if not node:
        return ""
    return node.get("text", "") + "".join(adf_text(c) for c in node.get("content", []))


def group_member_ids(raw: requests.Session, name: str) -> set[str]:
    r = raw.get(raw.api + "/group/member", params={"groupname": name, "maxResults": 50, "includeInactiveUsers": "true"})
    if r.status_code == 404:
        return set()
    ids, body = set(), r.json()
    while True:
        ids |= {u["accountId"] for u in body["values"]}
        if body["isLast"]:
            return ids
        body = raw.get(body["nextPage"]).json()


def group_names(raw: requests.Session) -> set[str]:
    return {g["name"] for g in raw.get(raw.api + "/group/bulk", params={"maxResults": 1000}).json()["values"]}


def my_account_id(raw: requests.Session) -> str:
    return raw.get(raw.api + "/myself").json()["accountId"]


# --- jira (pycontribs) -----------------------------------------------------------------------


def test_jira_connects_as_cloud_and_reads_site_metadata(pj, raw, sim):
    assert pj.server_info()["deploymentType"] == "Cloud"
    assert pj._is_cloud  # the library picks its Cloud code paths (search/jql) from serverInfo
    me = pj.myself()
    assert me["emailAddress"] == sim.email and me["accountId"] == my_account_id(raw)
    assert [p.key for p in pj.projects()] == [p["key"] for p in raw.get(raw.api + "/project").json()]
    sup = pj.project("SUP")
    assert sup.key == "SUP" and sup.name == raw.get(raw.api + "/project/SUP").json()["name"]
    assert {f["id"] for f in pj.fields()} == {f["id"] for f in raw.get(raw.api + "/field").json()}


def test_jira_search_issues_pages_through_search_jql(pj, raw, sim):
    expected = all_keys(raw, BIG_JQL)
    assert len(expected) > 200  # more than two of the library's 100-issue pages
    sim.admin("DELETE", "stats")
    found = pj.search_issues(BIG_JQL, maxResults=False)
    assert [i.key for i in found] == expected
    assert found[0].fields.summary == read_issue(raw, expected[0])["fields"]["summary"]
    calls = sim.stats()["responses"]
    assert calls["GET /rest/api/2/search/jql"]["200"] >= 3
    assert not any(name.endswith("/search") for name in calls)  # never the removed endpoint

    # one page at a time with the token, GET and POST
    first = pj.enhanced_search_issues(BIG_JQL, maxResults=10)
    assert [i.key for i in first] == expected[:10] and first.nextPageToken
    second = pj.enhanced_search_issues(BIG_JQL, nextPageToken=first.nextPageToken, maxResults=10, use_post=True)
    assert [i.key for i in second] == expected[10:20]
    assert pj.approximate_issue_count(BIG_JQL) == len(expected)


def test_jira_old_search_endpoint_answers_410(sim, pj):
    # Without serverInfo the library cannot tell it is on Cloud and uses the removed /search.
    old = JIRA(sim.base_url, basic_auth=(sim.email, sim.token), options={"verify": sim.ca_pem},
               get_server_info=False, max_retries=0)
    with pytest.raises(JIRAError) as err:
        old.search_issues("project = SUP")
    assert err.value.status_code == 410
    assert "/rest/api/2/search/jql" in err.value.text  # Jira's migration message
    # a client that asked serverInfo takes the modern path
    assert len(pj.search_issues("project = SUP", maxResults=3, fields="summary")) == 3


def test_jira_create_update_and_read_issue(pj, raw):
    issue = pj.create_issue(fields={
        "project": {"key": "SUP"}, "issuetype": {"name": "Task"}, "summary": "Printer jammed",
        "description": "Paper stuck in tray 2", "labels": ["third-party"], "priority": {"name": "High"}})
    stored = read_issue(raw, issue.key)
    assert stored["fields"]["summary"] == "Printer jammed"
    assert stored["fields"]["description"]["type"] == "doc"  # v2 text stored, v3 reads ADF
    assert adf_text(stored["fields"]["description"]) == "Paper stuck in tray 2"
    assert stored["fields"]["labels"] == ["third-party"] and stored["fields"]["priority"]["name"] == "High"
    kw = pj.create_issue(project="ENG", summary="Keyword form", issuetype={"name": "Bug"})
    assert read_issue(raw, kw.key)["fields"]["issuetype"]["name"] == "Bug"

    issue.update(fields={"summary": "Printer fixed", "labels": ["third-party", "done"]})
    stored = read_issue(raw, issue.key)
    assert stored["fields"]["summary"] == "Printer fixed"
    assert sorted(stored["fields"]["labels"]) == ["done", "third-party"]
    again = pj.issue(issue.key)
    assert again.fields.summary == "Printer fixed" and again.fields.description == "Paper stuck in tray 2"
    # every system field is there, empty when unset, as scripts read them unguarded
    f = again.fields
    assert f.components == [] and f.fixVersions == [] and f.issuelinks == [] and f.subtasks == []
    assert f.duedate is None and f.worklog.total == 0
    assert f.watches.watchCount == 1 and f.watches.isWatching  # the creator watches (autowatch)
    assert f.workratio == -1 and f.progress.total == 0


def test_jira_create_issues_in_bulk_reports_refused_ones(pj, raw):
    before = len(all_keys(raw, "project = ENG"))
    results = pj.create_issues([
        {"project": {"key": "ENG"}, "issuetype": {"name": "Task"}, "summary": "Bulk one"},
        {"project": {"key": "ENG"}, "issuetype": {"name": "Task"}},  # no summary
        {"project": {"key": "ENG"}, "issuetype": {"name": "Bug"}, "summary": "Bulk three"},
    ])
    assert [x["status"] for x in results] == ["Success", "Error", "Success"]
    assert results[1]["error"] == {"summary": "You must specify a summary of the issue."}
    assert [read_issue(raw, x["issue"].key)["fields"]["summary"] for x in (results[0], results[2])] == ["Bulk one", "Bulk three"]
    assert len(all_keys(raw, "project = ENG")) == before + 2


def test_jira_transitions(pj, raw):
    issue = pj.create_issue(fields={"project": {"key": "SUP"}, "issuetype": {"name": "Task"}, "summary": "To close"})
    offered = pj.transitions(issue)
    expected = raw.get(f"{raw.api}/issue/{issue.key}/transitions").json()["transitions"]
    assert [(t["id"], t["name"]) for t in offered] == [(t["id"], t["name"]) for t in expected]
    pj.transition_issue(issue, "Close", resolution={"name": "Won't Do"})
    stored = read_issue(raw, issue.key)["fields"]
    assert stored["status"]["name"] == "Closed" and stored["resolution"]["name"] == "Won't Do"
    reopen = next(t["id"] for t in pj.transitions(issue) if t["name"] == "Reopen")
    pj.transition_issue(issue.key, reopen)  # by id
    stored = read_issue(raw, issue.key)["fields"]
    assert stored["status"]["name"] == "Open" and stored["resolution"] is None

    # the history report scripts build from expand=changelog (most recent first)
    histories = pj.issue(issue.key, expand="changelog").changelog.histories
    moves = [(i.fromString, i.toString) for h in histories for i in h.items if i.field == "status"]
    assert moves == [("Closed", "Open"), ("Open", "Closed")]
    resolutions = [(i.fromString, i.toString) for h in histories for i in h.items if i.field == "resolution"]
    assert resolutions == [("Won't Do", ""), ("", "Won't Do")]
    assert histories[0].author.accountId == my_account_id(raw)


def test_jira_assign_and_delete(pj, raw):
    issue = pj.create_issue(fields={"project": {"key": "SUP"}, "issuetype": {"name": "Task"}, "summary": "Assign me"})
    users = raw.get(raw.api + "/users/search", params={"maxResults": 100}).json()
    someone = next(u for u in users if u["accountType"] == "atlassian" and u["active"] and u.get("emailAddress"))
    assert pj.assign_issue(issue, someone["emailAddress"])  # the library looks the user up by query
    assert read_issue(raw, issue.key)["fields"]["assignee"]["accountId"] == someone["accountId"]
    word = someone["displayName"].split()[-1]
    assignable = pj.search_assignable_users_for_issues(query=word, issueKey=issue.key)
    assert someone["accountId"] in [u.accountId for u in assignable]
    assert all(u.accountType == "atlassian" and u.active for u in assignable)
    app = next(u for u in users if u["accountType"] == "app")  # the seed has app accounts
    found = pj.search_assignable_users_for_issues(query=app["displayName"].split()[0], project="SUP")
    assert app["accountId"] not in [u.accountId for u in found]  # never assignable
    pj.assign_issue(issue.key, None)
    assert read_issue(raw, issue.key)["fields"]["assignee"] is None
    assert pj.project_components("SUP") == [] and pj.project_versions("SUP") == []

    issue.delete()
    assert raw.get(f"{raw.api}/issue/{issue.key}").status_code == 404
    assert issue.key not in all_keys(raw, "project = SUP")


def test_jira_watchers(pj, raw):
    key = "OPS-3"
    users = raw.get(raw.api + "/users/search", params={"maxResults": 100}).json()
    someone = next(u for u in users if u["accountType"] == "atlassian" and u["active"] and u.get("emailAddress"))
    before = {u["accountId"] for u in raw.get(f"{raw.api}/issue/{key}/watchers").json()["watchers"]}
    assert someone["accountId"] not in before
    pj.add_watcher(key, someone["emailAddress"])  # looked up by query, sent as accountId
    after = raw.get(f"{raw.api}/issue/{key}/watchers").json()
    assert {u["accountId"] for u in after["watchers"]} == before | {someone["accountId"]}
    assert after["watchCount"] == len(before) + 1
    assert someone["accountId"] in [u.accountId for u in pj.watchers(key).watchers]
    assert pj.issue(key).fields.watches.watchCount == len(before) + 1
    pj.remove_watcher(key, someone["emailAddress"])
    assert {u["accountId"] for u in raw.get(f"{raw.api}/issue/{key}/watchers").json()["watchers"]} == before


def test_jira_worklogs(pj, raw):
    key = "ENG-4"
    assert read_issue(raw, key)["fields"]["timespent"] is None
    started = datetime.datetime(2026, 3, 2, 9, 30, tzinfo=datetime.timezone.utc)
    w = pj.add_worklog(key, timeSpent="1h 30m", comment="Traced the leak", started=started)
    assert w.timeSpentSeconds == 5400 and w.timeSpent == "1h 30m"
    pj.add_worklog(key, timeSpentSeconds=8 * 3600)  # started: now
    page = raw.get(f"{raw.api}/issue/{key}/worklog").json()
    assert page["total"] == 2 and [x["timeSpentSeconds"] for x in page["worklogs"]] == [5400, 28800]
    assert page["worklogs"][0]["started"] == "2026-03-02T11:30:00.000+0200"  # caller's time zone
    assert adf_text(page["worklogs"][0]["comment"]) == "Traced the leak"
    fields = read_issue(raw, key)["fields"]
    assert fields["timespent"] == 5400 + 28800 and fields["timetracking"]["timeSpent"] == "1d 1h 30m"
    assert fields["worklog"]["total"] == 2
    assert [x.id for x in pj.worklogs(key)] == [x["id"] for x in page["worklogs"]]
    pj.worklog(key, w.id).delete()
    assert raw.get(f"{raw.api}/issue/{key}/worklog").json()["total"] == 1
    with pytest.raises(JIRAError) as err:
        pj.add_worklog(key, timeSpent="soon")
    assert err.value.status_code == 400 and err.value.response.json()["errors"] == {"timeLogged": "Invalid time duration entered."}


def issue_links(raw: requests.Session, key: str) -> list[tuple[str, str, str]]:
    """(type, "inward"/"outward", other issue's key) as ``key``'s issuelinks list them."""
    out = []
    for link in read_issue(raw, key)["fields"]["issuelinks"]:
        side = "outward" if "outwardIssue" in link else "inward"
        out.append((link["type"]["name"], side, link[f"{side}Issue"]["key"]))
    return out


def test_jira_issue_links(pj, raw):
    assert {t.name for t in pj.issue_link_types()} >= {"Blocks", "Duplicate", "Relates"}
    before = read_issue(raw, "SUP-2")["fields"]["comment"]["total"]
    pj.create_issue_link("Blocks", "SUP-2", "SUP-3", comment={"body": "Needs the new switch first"})
    assert issue_links(raw, "SUP-2") == [("Blocks", "outward", "SUP-3")]  # SUP-2 blocks SUP-3
    assert issue_links(raw, "SUP-3") == [("Blocks", "inward", "SUP-2")]  # SUP-3 is blocked by SUP-2
    assert read_issue(raw, "SUP-2")["fields"]["comment"]["total"] == before + 1
    # by the inward phrase the library swaps the ends: "SUP-4 is blocked by SUP-5" as meant
    pj.create_issue_link("is blocked by", "SUP-4", "SUP-5")
    assert issue_links(raw, "SUP-4") == [("Blocks", "inward", "SUP-5")]
    assert issue_links(raw, "SUP-5") == [("Blocks", "outward", "SUP-4")]

    link_id = read_issue(raw, "SUP-2")["fields"]["issuelinks"][0]["id"]
    link = pj.issue_link(link_id)
    assert (link.inwardIssue.key, link.outwardIssue.key, link.type.outward) == ("SUP-2", "SUP-3", "blocks")
    assert [lk.outwardIssue.key for lk in pj.issue("SUP-2").fields.issuelinks] == ["SUP-3"]
    pj.delete_issue_link(link_id)
    assert issue_links(raw, "SUP-2") == [] and issue_links(raw, "SUP-3") == []
    with pytest.raises(JIRAError) as err:
        pj.create_issue_link("Relates", "SUP-2", "SUP-999999")
    assert err.value.status_code == 404


def test_jira_attachments(pj, raw, tmp_path):
    report = tmp_path / "report.csv"
    report.write_bytes(b"host,status\nsrv1,ok\n")
    a = pj.add_attachment("SUP-6", str(report))
    assert a.filename == "report.csv" and a.size == report.stat().st_size
    listed = read_issue(raw, "SUP-6")["fields"]["attachment"]
    assert [(x["id"], x["filename"], x["size"]) for x in listed] == [(a.id, "report.csv", a.size)]
    assert pj.attachment(a.id).get() == report.read_bytes()  # follows Jira's 303 to the download
    assert raw.get(listed[0]["content"]).content == report.read_bytes()
    pj.delete_attachment(a.id)
    assert read_issue(raw, "SUP-6")["fields"]["attachment"] == []


def test_jira_comments_and_issue_properties(pj, raw):
    key = "SUP-1"
    before = raw.get(f"{raw.api}/issue/{key}/comment").json()["total"]
    c = pj.add_comment(key, "Checked the cabling")
    assert c.body == "Checked the cabling"
    page = raw.get(f"{raw.api}/issue/{key}/comment", params={"orderBy": "-created", "maxResults": 1}).json()
    assert page["total"] == before + 1
    assert page["comments"][0]["id"] == c.id and adf_text(page["comments"][0]["body"]) == "Checked the cabling"
    assert [x.id for x in pj.comments(key)][-1] == c.id

    pj.add_issue_property(key, "esm.sync", {"cardId": 42})
    assert raw.get(f"{raw.api}/issue/{key}/properties/esm.sync").json()["value"] == {"cardId": 42}
    assert "esm.sync" in [p.key for p in pj.issue_properties(key)]
    assert pj.issue_property(key, "esm.sync").value.cardId == 42


def test_jira_search_users(pj, raw):
    first = raw.get(raw.api + "/users/search", params={"maxResults": 100}).json()
    someone = next(u for u in first if u["accountType"] == "atlassian" and u["active"])
    word = someone["displayName"].split()[0]
    found = pj.search_users(query=word)
    assert someone["accountId"] in [u.accountId for u in found]
    assert all(word.lower() in u.displayName.lower() or word.lower() in (getattr(u, "emailAddress", "") or "").lower() for u in found)


def test_jira_groups_and_members(pj, raw, sim):
    assert pj.groups() == sorted(group_names(raw))
    name = f"tp-{uuid.uuid4().hex[:8]}"
    assert pj.add_group(name) is True
    assert name in group_names(raw)
    # more than one 50-user page of the deprecated GET group?expand=users[a:b]
    gid = next(g["groupId"] for g in raw.get(raw.api + "/group/bulk", params={"groupName": name}).json()["values"])
    added = set()
    for n in range(57):
        acc = sim.admin("POST", "users", json={"email": f"member{n}.{name}@example.com", "displayName": f"Member {n:02d}"}).json()["accountId"]
        sim.admin("PUT", f"groups/{gid}/members/{acc}")
        added.add(acc)
    members = pj.group_members(name)
    assert set(members) == added == group_member_ids(raw, name)
    assert len(members) == 57

    # The library names users by `username`, which Jira Cloud no longer accepts (GDPR): Jira
    # answers 404 and nothing changes.
    me = my_account_id(raw)
    with pytest.raises(JIRAError) as err:
        pj.add_user_to_group(me, name)
    assert err.value.status_code == 404
    assert err.value.text == "Specified user does not exist or you do not have required permissions"
    someone = sorted(added)[0]
    with pytest.raises(JIRAError) as err:
        pj.remove_user_from_group(someone, name)
    assert err.value.status_code == 404
    assert group_member_ids(raw, name) == added

    assert pj.remove_group(name) is True
    assert name not in group_names(raw)


def test_jira_errors_carry_jiras_status_and_message(pj, sim):
    with pytest.raises(JIRAError) as err:
        pj.search_issues("project = = SUP")
    assert err.value.status_code == 400 and err.value.text.startswith("Error in the JQL Query:")
    with pytest.raises(JIRAError) as err:
        pj.create_issue(fields={"project": {"key": "SUP"}, "issuetype": {"name": "Task"}})
    assert err.value.status_code == 400
    assert err.value.response.json()["errors"] == {"summary": "You must specify a summary of the issue."}
    with pytest.raises(JIRAError) as err:
        pj.issue("SUP-999999")
    assert err.value.status_code == 404
    assert err.value.text == "Issue does not exist or you do not have permission to see it."
    with pytest.raises(JIRAError) as err:
        JIRA(sim.base_url, basic_auth=(sim.email, "wrong-token"), options={"verify": sim.ca_pem}, max_retries=0).myself()
    assert err.value.status_code == 401


# --- atlassian-python-api --------------------------------------------------------------------


def test_atlassian_myself_fields_and_user_search(aj, raw, sim):
    assert aj.myself()["accountId"] == my_account_id(raw)
    assert {f["id"] for f in aj.get_all_fields()} == {f["id"] for f in raw.get(raw.api + "/field").json()}
    users = raw.get(raw.api + "/users/search", params={"maxResults": 100}).json()
    someone = next(u for u in users if u["accountType"] == "atlassian" and u["active"])
    found = aj.user_find_by_user_string(query=someone["displayName"].split()[-1])
    assert someone["accountId"] in [u["accountId"] for u in found]


def test_atlassian_jql_pages_with_next_page_token(aj, raw):
    expected = all_keys(raw, BIG_JQL)
    page = aj.jql(BIG_JQL, limit=7, fields="summary")  # Cloud: delegates to search/jql
    assert [i["key"] for i in page["issues"]] == expected[:7]
    assert page["isLast"] is False and page["nextPageToken"]
    assert set(page["issues"][0]["fields"]) == {"summary"}
    nxt = aj.enhanced_jql(BIG_JQL, limit=7, fields="summary", nextPageToken=page["nextPageToken"])
    assert [i["key"] for i in nxt["issues"]] == expected[7:14]
    everything = aj.enhanced_jql_get_list_of_tickets(BIG_JQL, fields="summary")
    assert [i["key"] for i in everything] == expected
    assert [i["key"] for i in aj.jql_get_list_of_tickets(BIG_JQL, fields="key")] == expected


def test_atlassian_without_cloud_flag_gets_410_from_old_search(sim, aj):
    server_style = AtlassianJira(sim.base_url, username=sim.email, password=sim.token, verify_ssl=sim.ca_pem)
    with pytest.raises(requests.HTTPError) as err:
        server_style.jql("project = SUP", limit=3)
    assert err.value.response.status_code == 410
    assert "/rest/api/2/search/jql" in str(err.value)
    assert len(aj.jql("project = SUP", limit=3)["issues"]) == 3


def test_atlassian_issue_lifecycle(aj, raw):
    created = aj.issue_create(fields={
        "project": {"key": "OPS"}, "issuetype": {"name": "Task"}, "summary": "Rotate certificates",
        "description": "Before Friday"})
    key = created["key"]
    stored = read_issue(raw, key)["fields"]
    assert stored["summary"] == "Rotate certificates" and adf_text(stored["description"]) == "Before Friday"
    aj.issue_update(key, fields={"summary": "Rotate TLS certificates", "labels": ["tls"]})
    stored = read_issue(raw, key)["fields"]
    assert stored["summary"] == "Rotate TLS certificates" and stored["labels"] == ["tls"]
    assert aj.issue(key)["fields"]["summary"] == "Rotate TLS certificates"

    transitions = aj.get_issue_transitions(key)
    expected = raw.get(f"{raw.api}/issue/{key}/transitions").json()["transitions"]
    assert [(t["id"], t["to"]) for t in transitions] == [(int(t["id"]), t["to"]["name"]) for t in expected]
    target = next(t["to"] for t in transitions if t["to"] == "Done")
    aj.set_issue_status(key, target)
    stored = read_issue(raw, key)["fields"]
    assert stored["status"]["name"] == "Done" and stored["resolution"]["name"] == "Done"

    log = aj.get_issue_changelog(key)  # Cloud: the paged issue/{key}/changelog, oldest first
    fields_changed = [i["field"] for h in log["values"] for i in h["items"]]
    assert fields_changed == ["summary", "labels", "status", "resolution"]
    assert log["values"][0]["items"][0]["fromString"] == "Rotate certificates"
    assert log["total"] == 2 and log["isLast"] is True

    aj.issue_add_comment(key, "Rotated on all hosts")
    comments = aj.issue_get_comments(key)
    assert [c["body"] for c in comments["comments"]] == ["Rotated on all hosts"]
    assert adf_text(raw.get(f"{raw.api}/issue/{key}/comment").json()["comments"][0]["body"]) == "Rotated on all hosts"


def test_atlassian_watchers(aj, raw):
    key, me = "ENG-2", my_account_id(raw)
    aj.issue_add_watcher(key, me)
    watchers = aj.issue_get_watchers(key)
    assert watchers["isWatching"] is True and me in [u["accountId"] for u in watchers["watchers"]]
    assert raw.get(f"{raw.api}/issue/{key}").json()["fields"]["watches"]["isWatching"] is True
    aj.issue_delete_watcher(key, account_id=me)
    assert me not in [u["accountId"] for u in raw.get(f"{raw.api}/issue/{key}/watchers").json()["watchers"]]
    with pytest.raises(requests.HTTPError) as err:
        aj.issue_add_watcher(key, "tester")  # a username: gone from Jira Cloud
    assert err.value.response.status_code == 404


def test_atlassian_worklogs(aj, raw):
    key = "OPS-5"
    aj.issue_worklog(key, "2026-03-02T09:30:00.000+0000", 2700, comment="Swapped the disk")
    logs = aj.issue_get_worklog(key)
    assert logs["total"] == 1 and logs["worklogs"][0]["timeSpent"] == "45m"
    assert logs["worklogs"][0]["comment"] == "Swapped the disk"  # v2: plain text
    assert read_issue(raw, key)["fields"]["timespent"] == 2700


def test_atlassian_issue_links(aj, raw):
    types = aj.get_issue_link_types()
    dup = next(t for t in types if t["name"] == "Duplicate")
    aj.create_issue_link({"type": {"name": "Duplicate"}, "inwardIssue": {"key": "ENG-5"}, "outwardIssue": {"key": "ENG-6"}})
    assert issue_links(raw, "ENG-5") == [("Duplicate", "outward", "ENG-6")]
    link_id = read_issue(raw, "ENG-6")["fields"]["issuelinks"][0]["id"]
    link = aj.get_issue_link(link_id)
    assert link["type"]["id"] == dup["id"] and link["inwardIssue"]["key"] == "ENG-5"
    aj.remove_issue_link(link_id)
    assert issue_links(raw, "ENG-5") == [] and issue_links(raw, "ENG-6") == []


def test_atlassian_attachments(aj, raw, tmp_path):
    notes = tmp_path / "notes.txt"
    notes.write_text("rebooted twice")
    added = aj.add_attachment("OPS-4", str(notes))
    att_id = added[0]["id"]
    assert [x["filename"] for x in read_issue(raw, "OPS-4")["fields"]["attachment"]] == ["notes.txt"]
    assert aj.get_attachment(att_id)["size"] == len("rebooted twice")
    assert aj.get_attachment_content(att_id) == b"rebooted twice"
    aj.remove_attachment(att_id)
    assert raw.get(f"{raw.api}/attachment/{att_id}").status_code == 404


def test_atlassian_create_issues_in_bulk(aj, raw):
    created = aj.create_issues([
        {"fields": {"project": {"key": "OPS"}, "issuetype": {"name": "Task"}, "summary": "Patch host a"}},
        {"fields": {"project": {"key": "OPS"}, "issuetype": {"name": "Task"}, "summary": "Patch host b"}},
    ])
    assert created["errors"] == []
    assert [read_issue(raw, i["key"])["fields"]["summary"] for i in created["issues"]] == ["Patch host a", "Patch host b"]
    with pytest.raises(requests.HTTPError) as err:  # all refused: 400 with the per-issue errors
        aj.create_issues([{"fields": {"project": {"key": "OPS"}, "issuetype": {"name": "Task"}}}])
    assert err.value.response.status_code == 400
    assert err.value.response.json()["errors"][0]["elementErrors"]["errors"] == {"summary": "You must specify a summary of the issue."}


def test_atlassian_assign_and_delete(aj, raw):
    key = aj.issue_create(fields={"project": {"key": "ENG"}, "issuetype": {"name": "Task"}, "summary": "Assign"})["key"]
    me = my_account_id(raw)
    aj.assign_issue(key, account_id=me)
    assert read_issue(raw, key)["fields"]["assignee"]["accountId"] == me
    with pytest.raises(requests.HTTPError) as err:
        aj.assign_issue(key, account_id="no-such-account")
    assert err.value.response.status_code == 400
    assert str(err.value) == "User 'no-such-account' cannot be assigned issues."
    aj.delete_issue(key)
    assert raw.get(f"{raw.api}/issue/{key}").status_code == 404
    assert aj.issue_deleted(key)


def test_atlassian_groups_on_a_cloud_site(sim, raw):
    # Under an *.atlassian.net name the library uses accountId for group membership.
    aj = AtlassianJira(f"https://{ALIAS_HOST}", username=sim.email, password=sim.token, cloud=True,
                       verify_ssl=sim.ca_pem, session=aliased_session(sim.base_url, sim.ca_pem))
    me = aj.myself()
    assert me["self"].startswith(f"https://{ALIAS_HOST}/")
    listed = aj.get_groups(limit=1000)
    assert sorted(g["name"] for g in listed["groups"]) == sorted(group_names(raw))
    assert listed["total"] == len(listed["groups"])

    name = f"atl-{uuid.uuid4().hex[:8]}"
    assert aj.create_group(name)["name"] == name
    assert name in group_names(raw)
    assert aj.add_user_to_group(account_id=me["accountId"], group_name=name)["name"] == name
    assert group_member_ids(raw, name) == {me["accountId"]}
    page = aj.get_all_users_from_group(name)
    assert [u["accountId"] for u in page["values"]] == [me["accountId"]] and page["total"] == 1
    aj.remove_user_from_group(account_id=me["accountId"], group_name=name)
    assert group_member_ids(raw, name) == set()
    aj.remove_group(name)
    assert name not in group_names(raw)


def test_atlassian_group_membership_by_username_is_refused_like_cloud(aj, raw):
    # Under a non-Cloud-looking URL the library sends the removed `name`/`username`.
    name = f"atl-{uuid.uuid4().hex[:8]}"
    aj.create_group(name)
    me = my_account_id(raw)
    with pytest.raises(requests.HTTPError) as err:
        aj.add_user_to_group(username="tester", group_name=name)
    assert err.value.response.status_code == 404
    assert str(err.value) == "Specified user does not exist or you do not have required permissions"
    with pytest.raises(requests.HTTPError) as err:
        aj.remove_user_from_group(username="tester", group_name=name)
    assert err.value.response.status_code == 404
    assert group_member_ids(raw, name) == set()
    assert me  # the account exists; only the removed way of naming it fails


def test_atlassian_errors_carry_jiras_message(aj):
    with pytest.raises(requests.HTTPError) as err:
        aj.enhanced_jql("project = = SUP")
    assert err.value.response.status_code == 400 and str(err.value).startswith("Error in the JQL Query:")
    with pytest.raises(requests.HTTPError) as err:
        aj.issue("SUP-999999")
    assert err.value.response.status_code == 404
    assert str(err.value) == "Issue does not exist or you do not have permission to see it."
    with pytest.raises(requests.HTTPError) as err:
        aj.issue_create(fields={"project": {"key": "SUP"}, "issuetype": {"name": "Task"}, "summary": "x",
                                "customfield_99999": "y"})
    assert err.value.response.status_code == 400
    assert str(err.value) == "Field 'customfield_99999' cannot be set. It is not on the appropriate screen, or unknown."


def test_atlassian_401_carries_jiras_message(sim):
    wrong = AtlassianJira(sim.base_url, username=sim.email, password="wrong-token", cloud=True, verify_ssl=sim.ca_pem)
    with pytest.raises(requests.HTTPError) as err:
        wrong.myself()
    assert err.value.response.status_code == 401
    # the library reads Jira's message only under Jira's exact content type
    assert err.value.response.headers["Content-Type"] == "application/json;charset=UTF-8"
    assert str(err.value) == "Client must be authenticated to access this resource."


# --- rate limiting as both clients handle it ----------------------------------------------


def test_both_clients_wait_out_a_429_with_retry_after(sim, raw):
    for path in ("/rest/api/2/myself", "/rest/api/3/search/jql"):
        sim.admin("POST", "faults", json={"type": "status", "status": 429, "retry_after": 1, "count": 1, "path": path})
    pj = JIRA(sim.base_url, basic_auth=(sim.email, sim.token), options={"verify": sim.ca_pem}, max_retries=2)
    assert pj.myself()["accountId"] == my_account_id(raw)
    aj = AtlassianJira(sim.base_url, username=sim.email, password=sim.token, cloud=True, verify_ssl=sim.ca_pem,
                       backoff_and_retry=True, max_backoff_retries=2, max_backoff_seconds=5)
    assert len(aj.enhanced_jql("project = SUP", limit=2)["issues"]) == 2
    calls = sim.stats()["responses"]
    assert calls["GET /rest/api/2/myself"] == {"429": 1, "200": 1}
    assert calls["GET /rest/api/3/search/jql"] == {"429": 1, "200": 1}


# --- the endpoints these clients added, against the published document ----------------------


def test_endpoints_added_for_the_clients_validate(raw, validate, validate_error, sim):
    picker = validate(raw.get(raw.api + "/groups/picker", params={"query": "jira", "maxResults": 2})).json()
    matching = sorted(n for n in group_names(raw) if "jira" in n)
    assert [g["name"] for g in picker["groups"]] == matching[:2] and picker["total"] == len(matching)
    assert picker["header"] == f"Showing 2 of {len(matching)} matching groups"
    assert "<b>jira</b>" in picker["groups"][0]["html"]
    excluded = raw.get(raw.api + "/groups/picker", params={"query": "jira", "exclude": matching[0]}).json()
    assert matching[0] not in [g["name"] for g in excluded["groups"]]

    name = matching[0]
    members = sorted(group_member_ids(raw, name))
    group = validate(raw.get(raw.api + "/group", params={"groupname": name, "expand": "users"})).json()
    assert group["users"]["size"] == len(members)
    assert sorted(u["accountId"] for u in group["users"]["items"]) == members[:50] or len(members) > 50
    validate_error(raw.get(raw.api + "/group", params={"groupname": "no-such-group"}), 404)
    anonymous = requests.get(raw.api + "/groups/picker", params={"query": "jira"}, verify=sim.ca_pem)
    assert validate(anonymous).json()["groups"] == []
    assignable = validate(raw.get(raw.api + "/user/assignable/search", params={"project": "SUP", "maxResults": 5})).json()
    assert 0 < len(assignable) <= 5 and all(u["accountType"] == "atlassian" for u in assignable)
    validate_error(raw.get(raw.api + "/user/assignable/search", params={"query": "a"}), 400)
    bulk = raw.post(raw.api + "/issue/bulk", json={"issueUpdates": [
        {"fields": {"project": {"key": "SUP"}, "issuetype": {"name": "Task"}, "summary": "ok"}},
        {"fields": {"project": {"key": "NOPE"}, "issuetype": {"name": "Task"}, "summary": "refused"}}]})
    body = validate(bulk).json()
    assert bulk.status_code == 201 and len(body["issues"]) == 1 and body["errors"][0]["failedElementNumber"] == 1
    w = validate(raw.get(raw.api + "/issue/SUP-1/watchers")).json()
    validate(raw.post(raw.api + "/issue/SUP-1/watchers"))  # no body: the caller
    assert validate(raw.get(raw.api + "/issue/SUP-1/watchers")).json()["watchCount"] == w["watchCount"] + 1
    validate_error(raw.delete(raw.api + "/issue/SUP-1/watchers", params={"username": "tester"}), 400)
    validate(raw.delete(raw.api + "/issue/SUP-1/watchers", params={"accountId": my_account_id(raw)}))
    raw.put(raw.api + "/issue/SUP-1", json={"fields": {"summary": "Renamed", "customfield_10016": 8}})
    sim.admin("PATCH", "issues/SUP-1", json={"status": "Closed", "assignee": None})  # "someone else"
    page = validate(raw.get(raw.api + "/issue/SUP-1/changelog", params={"maxResults": 1})).json()
    assert page["total"] == 2 and page["isLast"] is False and page["nextPage"]
    second = validate(raw.get(page["nextPage"])).json()
    assert {i["field"] for i in second["values"][0]["items"]} >= {"status"}
    expanded = validate(raw.get(raw.api + "/issue/SUP-1", params={"expand": "changelog"})).json()["changelog"]
    assert [h["id"] for h in expanded["histories"]] == [second["values"][0]["id"], page["values"][0]["id"]]
    wl = validate(raw.post(raw.api + "/issue/SUP-2/worklog", json={"timeSpent": "2h", "started": "2026-01-05T08:00:00.000+0000",
                                                                    "comment": {"type": "doc", "version": 1, "content": []}}))
    assert wl.status_code == 201
    wid = wl.json()["id"]
    assert validate(raw.put(f"{raw.api}/issue/SUP-2/worklog/{wid}", json={"timeSpentSeconds": 60})).json()["timeSpent"] == "1m"
    assert validate(raw.get(raw.api + "/issue/SUP-2/worklog")).json()["worklogs"][0]["timeSpentSeconds"] == 60
    validate_error(raw.post(raw.api + "/issue/SUP-2/worklog", json={"comment": "no time"}), 400)
    validate(raw.delete(f"{raw.api}/issue/SUP-2/worklog/{wid}"))
    validate_error(raw.get(f"{raw.api}/issue/SUP-2/worklog/{wid}"), 404)
    up = raw.post(raw.api + "/issue/SUP-7/attachments", files={"file": ("a.txt", b"abc", "text/plain")},
                  headers={"X-Atlassian-Token": "no-check"})
    att = validate(up).json()[0]
    assert att["mimeType"] == "text/plain" and validate(raw.get(f"{raw.api}/attachment/{att['id']}")).json()["size"] == 3
    redirect = raw.get(f"{raw.api}/attachment/content/{att['id']}", allow_redirects=False)
    assert redirect.status_code == 303 and raw.get(redirect.headers["Location"]).content == b"abc"
    validate_error(raw.post(raw.api + "/issue/SUP-7/attachments", files={"file": ("b.txt", b"x")}), 403)  # no XSRF header
    validate(raw.delete(f"{raw.api}/attachment/{att['id']}"))
    validate_error(raw.get(f"{raw.api}/attachment/{att['id']}"), 404)
    validate(raw.get(raw.api + "/issueLinkType"))
    validate(raw.get(raw.api + "/issueLinkType/10000"))
    validate_error(raw.get(raw.api + "/issueLinkType/1"), 404)
    created = validate(raw.post(raw.api + "/issueLink", json={
        "type": {"id": "10003"}, "inwardIssue": {"key": "OPS-1"}, "outwardIssue": {"id": read_issue(raw, "OPS-2")["id"]}}))
    assert created.status_code == 201
    link_id = read_issue(raw, "OPS-1")["fields"]["issuelinks"][0]["id"]
    validate(raw.get(f"{raw.api}/issue/OPS-1", params={"fields": "issuelinks"}))
    assert validate(raw.get(f"{raw.api}/issueLink/{link_id}")).json()["outwardIssue"]["key"] == "OPS-2"
    validate_error(raw.post(raw.api + "/issueLink", json={
        "type": {"name": "Relates"}, "inwardIssue": {"key": "OPS-1"}, "outwardIssue": {"key": "OPS-1"}}), 400)
    validate(raw.delete(f"{raw.api}/issueLink/{link_id}"))
    validate_error(raw.get(f"{raw.api}/issueLink/{link_id}"), 404)
    for path in ("/project/SUP/components", "/project/SUP/versions"):
        assert validate(raw.get(raw.api + path)).json() == []
    validate_error(raw.get(raw.api + "/project/NOPE/versions"), 404)
    key = raw.post(raw.api + "/issue", json={"fields": {
        "project": {"key": "SUP"}, "issuetype": {"name": "Task"}, "summary": "short-lived"}}).json()["key"]
    validate(raw.put(f"{raw.api}/issue/{key}/assignee", json={"accountId": "-1"}))  # project default
    lead = raw.get(raw.api + "/project/SUP").json()["lead"]["accountId"]
    assert read_issue(raw, key)["fields"]["assignee"]["accountId"] == lead
    validate_error(raw.put(f"{raw.api}/issue/{key}/assignee", json={"name": "admin"}), 400)
    validate(raw.delete(f"{raw.api}/issue/{key}"))
    validate_error(raw.delete(f"{raw.api}/issue/{key}"), 404)
    # /rest/api/latest is served as v2
    latest = raw.get(sim.base_url + "/rest/api/latest/issue/SUP-1", params={"fields": "description"}).json()
    v2 = raw.get(sim.base_url + "/rest/api/2/issue/SUP-1", params={"fields": "description"}).json()
    assert latest["fields"] == v2["fields"]
