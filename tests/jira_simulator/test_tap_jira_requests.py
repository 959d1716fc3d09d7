"""The requests Singer tap-jira 2.6.0 sends for its ``issues`` stream (the latency benchmark,
bench/latency.py, runs the tap against this simulator unchanged) are answered as the published
contract says: ``GET search/jql`` with ``fields=*all&expand=changelog,transitions``, pages of the
documented default of 50, ``nextPageToken`` until ``isLast``; the tap reads ``fields.comment``,
``changelog.histories`` and ``transitions`` of every issue. The tap calls REST v2, which offers
the same operations as v3 (the document describes v3): v3 is validated, v2 must page alike."""
from __future__ import annotations

TAP_PARAMS = {"fields": "*all", "expand": "changelog,transitions", "validateQuery": "strict",
              "jql": "updated >= '2000-01-01 00:00' order by updated asc"}


def _walk(session, url, validate=None):
    params = dict(TAP_PARAMS)
    while True:
        resp = session.get(url, params=params)
        if validate:
            validate(resp)
        assert resp.status_code == 200, resp.text
        body = resp.json()
        yield body
        if body["isLast"]:
            assert "nextPageToken" not in body
            return
        params["nextPageToken"] = body["nextPageToken"]


def test_the_taps_issue_requests_follow_the_contract(jira_sim_fresh, validate):
    jira_sim = jira_sim_fresh
    s = jira_sim.session()
    me = validate(s.get(jira_sim.base_url + "/rest/api/3/myself")).json()
    assert me["timeZone"]  # the tap reads the JQL dates in this zone
    assert validate(s.get(jira_sim.base_url + "/rest/api/3/serverInfo")).json()["deploymentType"] == "Cloud"
    probe = validate(s.get(jira_sim.base_url + "/rest/api/3/search/jql", params={**TAP_PARAMS, "maxResults": 1})).json()
    assert len(probe["issues"]) == 1 and probe["isLast"] is False
    pages3 = list(_walk(s, jira_sim.base_url + "/rest/api/3/search/jql", validate))
    pages2 = list(_walk(s, jira_sim.base_url + "/rest/api/2/search/jql"))
    assert [len(p["issues"]) for p in pages3][:-1] == [50] * (len(pages3) - 1)  # the documented default
    ids3 = [i["id"] for p in pages3 for i in p["issues"]]
    assert ids3 == [i["id"] for p in pages2 for i in p["issues"]]
    assert len(ids3) == len(set(ids3)) == s.post(jira_sim.base_url + "/rest/api/3/search/approximate-count",
                                                 json={"jql": "updated >= '2000-01-01 00:00'"}).json()["count"]
    for issue in (i for p in pages2 for i in p["issues"]):
        assert isinstance(issue["fields"]["comment"]["comments"], list)
        assert isinstance(issue["changelog"]["histories"], list)
        assert isinstance(issue["transitions"], list)
        assert issue["fields"]["updated"]
