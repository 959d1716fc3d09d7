"""The JQL subset: operators, values, dates in the caller's time zone, errors like Jira's."""
from __future__ import annotations

import datetime as dt

import pytest

# 2030-01-01T22:30:00Z is 2030-01-02 00:30 in Helsinki (UTC+2 in winter)
STAMP = dt.datetime(2030, 1, 1, 22, 30, tzinfo=dt.timezone.utc)
STAMP_MS = int(STAMP.timestamp() * 1000)


@pytest.fixture(scope="module")
def sim(jira_sim):
    jira_sim.reset()
    marked = jira_sim.admin("POST", "issues", json={
        "project": "ENG", "summary": "Quoted \"needle\" in the haystack", "labels": ["tz-test"],
        "status": "Done", "resolution": "Duplicate", "created": STAMP_MS - 3_600_000,
        "updated": STAMP_MS, "resolved": STAMP_MS, "description": "Contains the word zyzzyva.",
    }).json()
    jira_sim.admin("POST", "accounts", json={"email": "utc@example.com", "token": "utc-token", "timeZone": "UTC"})
    jira_sim.marked = marked
    return jira_sim


def keys(sim, jql, session=None):
    s = session or sim.session()
    out, token = [], None
    while True:
        params = {"jql": jql, "maxResults": 500, "fields": "key"}
        if token:
            params["nextPageToken"] = token
        r = s.get(sim.base_url + "/rest/api/3/search/jql", params=params)
        assert r.status_code == 200, (jql, r.text)
        data = r.json()
        out += [i["key"] for i in data["issues"]]
        if data["isLast"]:
            return out
        token = data["nextPageToken"]


def fetch(sim, jql, fields):
    r = sim.session().post(sim.base_url + "/rest/api/3/search/jql", json={"jql": jql, "maxResults": 100, "fields": fields})
    assert r.status_code == 200, r.text
    return r.json()["issues"]


@pytest.mark.parametrize("jql,included", [
    ('updated >= "2030-01-02"', True),            # local midnight = 22:00Z: included
    ('updated >= "2030/01/02 00:30"', True),
    ('updated > "2030/01/02 00:30"', False),
    ('updated < "2030-01-02 00:31"', True),
    ('updated <= "2030/01/02 00:29"', False),
    ('updated >= "2030-01-02 00:31"', False),
    (f"updated >= {STAMP_MS}", True),               # epoch milliseconds, unquoted
    (f"updated > {STAMP_MS}", False),
    (f"updated <= {STAMP_MS}", True),
    ('resolved >= "2030-01-02"', True),
    ('resolutiondate < "2030/01/02"', False),
    ('created < "2030-01-02" AND created >= "2030/01/01 23:30"', True),
])
def test_dates_in_callers_time_zone(sim, jql, included):
    assert (sim.marked["key"] in keys(sim, "labels = tz-test AND " + jql)) is included


def test_same_date_means_utc_for_a_utc_account(sim):
    utc = sim.session("utc@example.com", "utc-token")
    # in UTC the stamp is still on 2030-01-01
    assert keys(sim, 'labels = tz-test AND updated >= "2030-01-02"', utc) == []
    assert keys(sim, 'labels = tz-test AND updated >= "2030-01-01 22:30"', utc) == [sim.marked["key"]]


def test_epoch_milliseconds_are_the_same_instant_for_every_callers_time_zone(sim):
    """What incremental imports send (``updated >= <epoch ms>``): no zone involved, as in Jira."""
    utc = sim.session("utc@example.com", "utc-token")
    for session in (None, utc):  # the Europe/Helsinki demo account and a UTC account
        assert keys(sim, f"labels = tz-test AND updated >= {STAMP_MS}", session) == [sim.marked["key"]]
        assert keys(sim, f"labels = tz-test AND updated >= {STAMP_MS + 1}", session) == []


def test_equality_in_and_negation(sim):
    sup = fetch(sim, "project = SUP AND status in ('Open', \"Resolved\")", ["status", "project"])
    assert sup and all(i["fields"]["status"]["name"] in ("Open", "Resolved") for i in sup)
    assert all(i["fields"]["project"]["key"] == "SUP" for i in sup)
    not_done = fetch(sim, "project = ENG AND status != Done", ["status"])
    assert not_done and all(i["fields"]["status"]["name"] != "Done" for i in not_done)
    not_in = fetch(sim, "project = ENG AND priority NOT IN (High, Highest)", ["priority"])
    assert not_in and all(i["fields"]["priority"]["name"] not in ("High", "Highest") for i in not_in)
    assert all(i["fields"]["priority"] is not None for i in not_in)  # != never matches EMPTY


def test_empty_and_not(sim):
    unassigned = fetch(sim, "project = SUP AND assignee IS EMPTY", ["assignee"])
    assert unassigned and all(i["fields"]["assignee"] is None for i in unassigned)
    assigned = fetch(sim, "project = SUP AND assignee IS NOT EMPTY", ["assignee"])
    assert assigned and all(i["fields"]["assignee"] for i in assigned)
    unresolved = fetch(sim, "project = SUP AND resolution = EMPTY", ["resolution"])
    assert all(i["fields"]["resolution"] is None for i in unresolved)
    assert {i["id"] for i in fetch(sim, "project = SUP AND resolution = Unresolved", ["resolution"])} == {i["id"] for i in unresolved}
    a = set(keys(sim, "project = SUP AND NOT (status = Open OR status = Closed)"))
    b = set(keys(sim, "project = SUP AND status not in (Open, Closed)"))
    assert a == b and a


def test_text_contains(sim):
    assert keys(sim, 'summary ~ "needle"') == [sim.marked["key"]]
    assert keys(sim, 'summary ~ "\\"needle\\" in"') == [sim.marked["key"]]  # escapes + phrase
    assert keys(sim, "description ~ zyzzyva") == [sim.marked["key"]]
    assert keys(sim, 'text ~ "zyzzyva"') == [sim.marked["key"]]
    assert sim.marked["key"] not in keys(sim, 'project = ENG AND summary !~ "needle"')


def test_comment_contains_and_labels(sim):
    s = sim.session()
    adf = {"type": "doc", "version": 1, "content": [{"type": "paragraph", "content": [{"type": "text", "text": "qwertyuiop marker"}]}]}
    assert s.post(f"{sim.base_url}/rest/api/3/issue/SUP-3/comment", json={"body": adf}).status_code == 201
    assert keys(sim, 'comment ~ "qwertyuiop"') == ["SUP-3"]
    assert keys(sim, "labels in (tz-test)") == [sim.marked["key"]]
    empty_labels = fetch(sim, "project = OPS AND labels IS EMPTY", ["labels"])
    assert all(i["fields"]["labels"] == [] for i in empty_labels)


def test_users_and_functions(sim):
    s = sim.session()
    me = s.get(sim.base_url + "/rest/api/3/myself").json()
    created = s.post(sim.base_url + "/rest/api/3/issue", json={"fields": {
        "project": {"key": "OPS"}, "issuetype": {"name": "Task"}, "summary": "mine",
        "assignee": {"accountId": me["accountId"]}}}).json()
    assert keys(sim, "assignee = currentUser()") == [created["key"]]
    assert keys(sim, f'assignee = "{me["accountId"]}"') == [created["key"]]
    assert created["key"] in keys(sim, "updated >= -1h")
    assert created["key"] in keys(sim, "created <= now() AND created >= startOfDay(-1d)")


def test_key_and_order(sim):
    assert keys(sim, "key = SUP-5") == ["SUP-5"]
    assert keys(sim, "key in (SUP-5, ENG-2) ORDER BY key") == ["ENG-2", "SUP-5"]
    assert keys(sim, "project = SUP AND key <= SUP-3 ORDER BY key DESC") == ["SUP-3", "SUP-2", "SUP-1"]
    issues = fetch(sim, "project = OPS ORDER BY created DESC", ["created"])
    created = [i["fields"]["created"] for i in issues]
    parsed = [dt.datetime.strptime(c, "%Y-%m-%dT%H:%M:%S.%f%z") for c in created]
    assert parsed == sorted(parsed, reverse=True)


@pytest.mark.parametrize("jql,message", [
    ("project = ", "Error in the JQL Query:"),
    ("project = SUP AND", "Error in the JQL Query:"),
    ('summary ~ "unterminated', "Error in the JQL Query:"),
    ("project = SUP ORDER key", "Error in the JQL Query:"),
    ("(project = SUP", "Error in the JQL Query:"),
    ("nosuchfield = 1", "Field 'nosuchfield' does not exist"),
    ("status = NoSuchStatus", "The value 'NoSuchStatus' does not exist for the field 'status'."),
    ("project = NOPE", "The value 'NOPE' does not exist for the field 'project'."),
    ("summary = foo", "The operator '=' is not supported by the 'summary' field."),
    ('created >= "2024-13-45"', "Date value '2024-13-45' for field 'created' is invalid."),
    ("assignee = nobody-like-this", "does not exist for the field 'assignee'"),
    ("status = and", "'and' is a reserved JQL word"),
])
def test_invalid_jql_is_400_with_jiras_shape(sim, validate_error, jql, message):
    for resp in (
        sim.session().get(sim.base_url + "/rest/api/3/search/jql", params={"jql": jql}),
        sim.session().post(sim.base_url + "/rest/api/3/search/jql", json={"jql": jql}),
    ):
        body = validate_error(resp, 400)
        assert body["errors"] == {}
        assert message in body["errorMessages"][0], body


@pytest.mark.parametrize("jql", ["", "ORDER BY key DESC", "order by created"])
def test_unbounded_jql_is_refused(sim, validate_error, jql):
    s = sim.session()
    body = validate_error(s.get(sim.base_url + "/rest/api/3/search/jql", params={"jql": jql}), 400)
    assert body["errorMessages"] == ["Unbounded JQL queries are not allowed here. Please add a search restriction to your query."]
    body = validate_error(s.post(sim.base_url + "/rest/api/3/search/approximate-count", json={"jql": jql}), 400)
    assert "Unbounded" in body["errorMessages"][0]


def test_custom_fields_by_id_cf_and_name(sim):
    s = sim.session()
    created = s.post(sim.base_url + "/rest/api/3/issue", json={"fields": {
        "project": {"key": "OPS"}, "issuetype": {"name": "Incident"}, "summary": "custom",
        "customfield_10050": "INC-4711-unique", "customfield_10016": 21,
        "customfield_10020": {"value": "Networks"}}}).json()
    assert keys(sim, '"ESM reference" ~ "INC-4711-unique"') == [created["key"]]
    assert keys(sim, 'cf[10050] ~ "INC-4711-unique"') == [created["key"]]
    assert keys(sim, "customfield_10016 = 21") == [created["key"]]
    points = fetch(sim, "project = OPS AND cf[10016] >= 8", ["customfield_10016"])
    assert points and all(i["fields"]["customfield_10016"] >= 8 for i in points)
    teams = fetch(sim, 'project = OPS AND Team in (Networks, "Platform")', ["customfield_10020"])
    assert teams and {i["fields"]["customfield_10020"]["value"] for i in teams} <= {"Networks", "Platform"}
    ordered = fetch(sim, "project = OPS AND cf[10016] is not empty ORDER BY cf[10016] DESC", ["customfield_10016"])
    values = [i["fields"]["customfield_10016"] for i in ordered]
    assert values == sorted(values, reverse=True)
