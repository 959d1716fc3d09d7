"""``POST /rest/api/3/jql/match``: which of the given issue ids each JQL query selects, one
entry per query in order, a query Jira cannot read answered in its ``errors``; the connector's
removal re-check asks it (no paging: no page of it can be lost). Real simulator over HTTPS;
answers checked against the OpenAPI."""
from __future__ import annotations

import pytest

MATCH = "/rest/api/3/jql/match"


def _ids(sim, jql: str) -> list[int]:
    return [int(i["id"]) for i in sim.session().post(sim.base_url + "/rest/api/3/search/jql", json={
        "jql": jql, "maxResults": 5000, "fields": ["id"]}).json()["issues"]]


def _match(sim, ids, jqls):
    return sim.session().post(sim.base_url + MATCH, json={"issueIds": ids, "jqls": jqls})


def test_each_query_answers_the_ids_it_selects_in_order(jira_sim_fresh, validate):
    sup, eng = _ids(jira_sim_fresh, "project = SUP"), _ids(jira_sim_fresh, "project = ENG")
    asked = sup[:3] + eng[:2] + [987654]  # an id no issue has matches no query
    body = validate(_match(jira_sim_fresh, asked, ["project = SUP", "project = ENG", "project = SUP AND broken = x"])).json()
    first, second, bad = body["matches"]
    assert sorted(first["matchedIssues"]) == sorted(sup[:3]) and first["errors"] == []
    assert sorted(second["matchedIssues"]) == sorted(eng[:2]) and second["errors"] == []
    assert bad["matchedIssues"] == [] and bad["errors"], bad


def test_an_issue_the_index_has_not_caught_up_with_is_not_matched(jira_sim_fresh, validate):
    """As the search index sees issues: nothing here is more current than search/jql."""
    ident = _ids(jira_sim_fresh, "project = SUP")[0]
    key = jira_sim_fresh.session().get(jira_sim_fresh.base_url + f"/rest/api/3/issue/{ident}").json()["key"]
    jira_sim_fresh.admin("PATCH", f"issues/{key}", json={"summary": "just changed"})
    jira_sim_fresh.admin("PUT", "config", json={"search_lag_seconds": 30})
    try:
        body = validate(_match(jira_sim_fresh, [ident], ["project = SUP"])).json()
    finally:
        jira_sim_fresh.admin("PUT", "config", json={"search_lag_seconds": 0})
    assert body["matches"][0]["matchedIssues"] == []


@pytest.mark.parametrize("body, named", [
    ({"issueIds": list(range(1, 1002)), "jqls": ["project = SUP"]}, "1000"),
    ({"issueIds": [1], "jqls": ["project = SUP"] * 101}, "100"),
    ({"issueIds": ["SUP-1"], "jqls": ["project = SUP"]}, "issue ids"),
    ({"issueIds": [1]}, "required"),
    ({"issueIds": [1], "jqls": ["project = SUP"], "colour": 1}, "colour"),
])
def test_requests_past_the_limits_or_off_the_contract_are_refused(jira_sim_fresh, validate_error, body, named):
    answer = validate_error(jira_sim_fresh.session().post(jira_sim_fresh.base_url + MATCH, json=body), 400)
    assert named in answer["errorMessages"][0], answer
