"""issue/bulkfetch's batch rule (issue 10's statement of Atlassian's limit): up to 1,000 ids
when ``fields`` names every field and none is multi-value (by the schema types of GET /field),
else up to 100; the ``bulkfetch_max`` knob lowers it, ``bulkfetch_silent`` makes the lowered
cap quiet. Real simulator over HTTPS."""
from __future__ import annotations

import pytest

BULK = "/rest/api/3/issue/bulkfetch"
SINGLE_VALUE = ["summary", "status", "priority", "updated", "created", "customfield_10020"]


@pytest.fixture
def sim(jira_sim_fresh):
    yield jira_sim_fresh
    # the simulator is shared by the session: tests that do not reset it must not meet these knobs
    jira_sim_fresh.admin("PUT", "config", json={"bulkfetch_max": 0, "bulkfetch_silent": False,
                                                "bulkfetch_missing_errors": False})


def _ids(sim, n: int) -> list[str]:
    """``n`` ids: every seeded issue's id first, then ids no issue has (left out of the
    answer), so a request of 1,000 is a real 1,000-id request."""
    ids = [i["id"] for i in sim.session().post(sim.base_url + "/rest/api/3/search/jql", json={
        "jql": "project in (SUP, ENG, OPS)", "maxResults": 5000, "fields": ["id"]}).json()["issues"]]
    assert len(ids) == 250
    return (ids + [str(900000 + n) for n in range(n)])[:n]


def _post(sim, ids, fields=None):
    body = {"issueIdsOrKeys": ids}
    if fields is not None:
        body["fields"] = fields
    return sim.session().post(sim.base_url + BULK, json=body)


def test_field_metadata_marks_the_multi_value_fields(sim):
    """The rule reads the same schema types the client reads from GET /field."""
    by_id = {f["id"]: (f.get("schema") or {}).get("type") for f in sim.session().get(sim.base_url + "/rest/api/3/field").json()}
    for multi in ("labels", "components", "fixVersions", "versions", "issuelinks", "subtasks", "attachment", "worklog"):
        assert by_id[multi] == "array", multi
    assert by_id["comment"] == "comments-page"
    assert all(by_id[f] not in ("array", "comments-page") for f in SINGLE_VALUE)


def test_a_thousand_ids_with_explicit_single_value_fields(sim, validate):
    ids = _ids(sim, 1000)
    body = validate(_post(sim, ids, SINGLE_VALUE)).json()
    assert len(body["issues"]) == 250 and body["issueErrors"] == []  # the 750 others: not found, left out
    assert set(body["issues"][0]["fields"]) == set(SINGLE_VALUE)
    # the same rule with the fields as one comma-separated string
    assert _post(sim, ids, ",".join(SINGLE_VALUE)).status_code == 200


@pytest.mark.parametrize("fields, named", [
    (["summary", "labels"], "'labels'"),
    (["summary", "comment"], "'comment'"),
    (["summary", "customfield_99999"], "'customfield_99999'"),  # unknown: taken for multi-value
    (["*all"], "'*all'"),
    (["*navigable"], "'*navigable'"),
    (["summary", "-labels"], "'-labels'"),
    (None, "none is named"),
    ([], "none is named"),
])
def test_more_than_100_ids_otherwise_is_a_400_naming_the_rule(sim, validate_error, fields, named):
    ids = _ids(sim, 101)
    body = validate_error(_post(sim, ids, fields), 400)
    message = body["errorMessages"][0]
    assert "between 1 and 100" in message and "1,000" in message and named in message, message
    assert _post(sim, ids[:100], fields).status_code == 200  # 100 is always allowed


def test_more_than_1000_ids_is_a_400_even_with_single_value_fields(sim, validate_error):
    body = validate_error(_post(sim, _ids(sim, 1001), SINGLE_VALUE), 400)
    assert "between 1 and 1000" in body["errorMessages"][0]


def test_the_knob_lowers_the_maximum_for_every_request(sim, validate_error):
    ids = _ids(sim, 1000)
    assert sim.admin("PUT", "config", json={"bulkfetch_max": 100}).json()["bulkfetch_max"] == 100
    body = validate_error(_post(sim, ids[:101], SINGLE_VALUE), 400)
    assert "between 1 and 100" in body["errorMessages"][0] and "at most 100" in body["errorMessages"][0]
    assert _post(sim, ids[:100], SINGLE_VALUE).status_code == 200
    sim.admin("PUT", "config", json={"bulkfetch_max": 0})  # back to Jira's rule
    assert _post(sim, ids, SINGLE_VALUE).status_code == 200


def test_a_silent_cap_answers_the_first_issues_and_no_error_for_the_rest(sim):
    ids = _ids(sim, 250)
    sim.admin("PUT", "config", json={"bulkfetch_max": 100, "bulkfetch_silent": True})
    resp = _post(sim, ids, SINGLE_VALUE)
    assert resp.status_code == 200
    body = resp.json()
    assert sorted(i["id"] for i in body["issues"]) == sorted(ids[:100]) and body["issueErrors"] == []


def test_ids_no_issue_has_are_left_out_or_with_the_knob_answered_as_errors(sim, validate):
    """The contract's BulkIssueResults: an issue not found is in neither list. A Jira might
    still answer it in issueErrors: the bulkfetch_missing_errors knob does."""
    ids = _ids(sim, 260)
    body = validate(_post(sim, ids[245:], SINGLE_VALUE)).json()
    assert sorted(i["id"] for i in body["issues"]) == sorted(ids[245:250]) and body["issueErrors"] == []
    sim.admin("PUT", "config", json={"bulkfetch_missing_errors": True})
    body = validate(_post(sim, ids[245:], SINGLE_VALUE)).json()
    assert sorted(i["id"] for i in body["issues"]) == sorted(ids[245:250])
    assert [e["id"] for e in body["issueErrors"]] == ids[250:]
    assert all("does not exist" in e["errorMessage"] for e in body["issueErrors"])


@pytest.mark.parametrize("bad", [-1, 1001, "100", True, 2.5])
def test_the_knob_refuses_bad_values(sim, bad):
    resp = sim._admin.put(f"{sim.base_url}/_admin/config", json={"bulkfetch_max": bad}, verify=sim.ca_pem)
    assert resp.status_code == 400 and "bulkfetch_max" in resp.text
