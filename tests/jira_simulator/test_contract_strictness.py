"""The simulators refuse what the published contracts refuse, in the endpoints the connector
uses: a simulator more lenient than the real service lets a connector bug pass every test.
Each test checks a simulator answer against the contract (the shared OpenAPI documents,
loaded here) or Jira's documented behaviour.
"""
from __future__ import annotations

import json
import uuid

import jsonschema
import pytest
import requests

from tests.fixtures.esm_simulator import ESM_OPENAPI_PATH


def _schema(spec: dict, name: str) -> dict:
    """A component schema with its ``#/components/...`` references resolvable."""
    return {**spec["components"]["schemas"][name], "components": spec["components"]}


def _contract_refuses(spec: dict, schema_name: str, body: dict) -> str:
    """The contract's own reason why ``body`` is not a valid ``schema_name`` (asserts there is one)."""
    try:
        jsonschema.validate(body, _schema(spec, schema_name))
    except jsonschema.ValidationError as exc:
        return exc.message
    raise AssertionError(f"the contract accepts {body!r} as {schema_name}: the test is wrong")


# --- Jira ------------------------------------------------------------------------------------


def test_user_search_refuses_query_together_with_account_id(api, validate_error, jira_spec_dict):
    """GET /rest/api/3/user/search, 400: "Returned if: ... `query` and `accountId` are
    provided." The simulator answers 200 with the users that match both (an empty list when
    they disagree), so a caller that sends both by mistake passes every test; on a real site
    its user look-up fails."""
    op = jira_spec_dict["paths"]["/rest/api/3/user/search"]["get"]
    assert "`query` and `accountId` are provided" in op["responses"]["400"]["description"]
    me = api.get(api.base + "/myself").json()
    resp = api.get(api.base + "/user/search", params={"query": "tester", "accountId": me["accountId"]})
    validate_error(resp, 400)


def test_user_search_stops_at_the_thousandth_matching_user(jira_sim_scratch, validate):
    """GET /rest/api/3/user/search: "takes the filtered users in the range defined by
    `startAt` and `maxResults`, up to the thousandth user. To get all the users who match ...
    use Get all users". The simulator hands out matches past the 1,000th, so a caller that
    pages user/search "to the end" (JiraClient.find_users) never meets the real cut-off."""
    sim = jira_sim_scratch
    tag = "cap" + uuid.uuid4().hex[:6]
    for n in range(1005):
        sim.admin("POST", "users", json={"email": f"{tag}.{n:04d}@example.com", "displayName": f"{tag} {n:04d}"})
    s = sim.session()
    base = sim.base_url + "/rest/api/3"
    first = validate(s.get(base + "/user/search", params={"query": tag, "maxResults": 1000})).json()
    assert len(first) == 1000  # the filter itself works
    beyond = validate(s.get(base + "/user/search", params={"query": tag, "startAt": 1000, "maxResults": 50})).json()
    across = validate(s.get(base + "/user/search", params={"query": tag, "startAt": 990, "maxResults": 50})).json()
    assert (len(beyond), len(across)) == (0, 10), (
        f"past the thousandth match: {len(beyond)} user(s) at startAt=1000, {len(across)} at startAt=990 (max 10)")


def test_bulkfetch_refuses_what_its_request_bean_refuses(api, validate_error, jira_spec_dict):
    """POST /rest/api/3/issue/bulkfetch takes a BulkFetchIssueRequestBean:
    ``additionalProperties: false`` and "A maximum of 5 issue property keys can be specified".
    search/jql in the same simulator refuses both (400); bulkfetch accepts them and answers
    200, so a misspelt key (e.g. ``field`` for ``fields``: every navigable field, 10x the
    payload) or a 6th property passes the tests and fails on a real site."""
    props = _schema(jira_spec_dict, "BulkFetchIssueRequestBean")
    assert props["additionalProperties"] is False
    assert "maximum of 5" in props["properties"]["properties"]["description"]
    misspelt = {"issueIdsOrKeys": ["SUP-1"], "field": ["summary"]}
    _contract_refuses(jira_spec_dict, "BulkFetchIssueRequestBean", misspelt)
    validate_error(api.post(api.base + "/issue/bulkfetch", json=misspelt), 400)
    six = {"issueIdsOrKeys": ["SUP-1"], "fields": ["summary"], "properties": ["a", "b", "c", "d", "e", "f"]}
    validate_error(api.post(api.base + "/issue/bulkfetch", json=six), 400)


@pytest.mark.parametrize("jql", ["key = SUP-99999", "key in (SUP-1, SUP-99999)", "issuekey = SUP-99999"])
def test_search_jql_naming_an_issue_key_that_does_not_exist_is_refused(api, validate_error, jql):
    """Jira validates the values of ``key``/``issuekey`` in JQL: an issue key no issue has
    fails the whole search with 400 ("An issue with key 'SUP-99999' does not exist for field
    'key'."), just as a project that does not exist does (the simulator refuses ``project =
    NOPE``). The connector documents it (pipeline/extract.py: ``key in (...)`` "fails the
    whole search in Jira as soon as one key no longer exists") and avoids such JQL for
    that reason -- but the simulator answers 200 with the issues that do exist, so any code
    path or task JQL that lists keys passes every test and fails on a real site once one of
    its issues is deleted or moved."""
    assert api.post(api.base + "/search/jql", json={"jql": "project = NOPE"}).status_code == 400  # the pattern
    body = validate_error(api.post(api.base + "/search/jql", json={"jql": jql}), 400)
    assert any("SUP-99999" in m for m in body["errorMessages"]), body


# --- ESM -------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def esm_spec() -> dict:
    return json.loads(ESM_OPENAPI_PATH.read_text(encoding="utf-8"))


def _api_exception(spec: dict, resp: requests.Response, status: int) -> dict:
    assert resp.status_code == status, (resp.status_code, resp.text[:300])
    body = resp.json()
    jsonschema.validate(body, _schema(spec, "ApiException"))
    assert body.get("code") == status, body
    return body


def test_patch_without_data_card_id_is_refused(esm_sim, esm_spec):
    """PATCH /dc/{templateCode}/data/{dataCardId} takes a RESTDataCardModifyRequest, which
    requires ``dataCardId`` and ``data``; an edit without the id is a bad request (400,
    ApiException). The simulator accepts it (200) and edits the card named in the path, so
    a client that forgets the id (or sends it under another name) passes every test."""
    esm_sim.reset()
    s = esm_sim.session()
    base = esm_sim.base_url
    made = s.put(base + "/dc/person/data", json=[{"folderCode": "persons", "data": {
        "jira_account_id": {"values": [{"value": "review-1"}]}, "display_name": {"values": [{"value": "Before"}]}}}])
    card = made.json()["data"][0]["dataCard"]["dataCardId"]
    body = {"data": {"display_name": {"values": [{"value": "After"}]}}}
    assert "dataCardId" in _contract_refuses(esm_spec, "RESTDataCardModifyRequest", body)
    resp = s.patch(f"{base}/dc/person/data/{card}", json=body)
    _api_exception(esm_spec, resp, 400)
    after = s.get(f"{base}/dc/person/data/{card}").json()["data"]["display_name"]["values"]
    assert after == [{"value": "Before"}], "the refused edit was applied"
