"""The Jira simulator refuses the request bodies the published contract refuses, on the
endpoints the connector calls: a simulator kinder than Jira lets a client that sends them pass
every test and fail on a real site. Each test first reads the rule from the shared OpenAPI
document, then checks the simulator keeps it.

Value types: Jira reads bodies with Jackson, which turns one scalar into another ("5" into 5)
but refuses an array or object where the bean holds one value, and an object where it holds
a list (400). Only such shape mismatches are refused here; one value where a list belongs
stays accepted (Jackson can be set to take it as a list of one: test_bulkfetch_limit.py sends
``fields`` as one comma-separated string), and so does ``null`` for every field.
"""
from __future__ import annotations

import jsonschema
import pytest

ADF = {"type": "doc", "version": 1, "content": [{"type": "paragraph", "content": [{"type": "text", "text": "x"}]}]}


def _bean(spec: dict, name: str) -> dict:
    return {**spec["components"]["schemas"][name], "components": spec["components"]}


def _contract_refuses(spec: dict, name: str, body: dict) -> None:
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(body, _bean(spec, name))


@pytest.mark.parametrize("wrong", [
    {"jql": ["project = SUP"]},     # jql: a string
    {"expand": ["names"]},          # expand: "a comma-delimited string of values", unlike bulkfetch's list
    {"fields": {"summary": True}},  # fields: a list of field ids
    {"properties": [["sync"]]},     # properties: a list of property keys
    {"nextPageToken": {"p": 1}},    # nextPageToken: a string
    {"fieldsByKeys": ["true"]},     # fieldsByKeys: a boolean
])
def test_search_jql_refuses_a_body_value_of_the_wrong_shape(api, validate_error, jira_spec_dict, wrong):
    """POST /rest/api/3/search/jql takes a SearchAndReconcileRequestBean. The simulator took
    any shape: ``"expand": ["names"]`` was read like the string "names" (search/jql's expand
    is a string, bulkfetch's a list: a client sharing one body builder for both gets one of
    them wrong), ``"fields": {...}`` as its keys, and ``"jql": [...]`` crashed it (500: a
    client would retry a request that can never work)."""
    body = {"jql": "project = SUP", "maxResults": 1, **wrong}
    _contract_refuses(jira_spec_dict, "SearchAndReconcileRequestBean", body)
    validate_error(api.post(api.base + "/search/jql", json=body), 400)


def test_search_jql_still_takes_every_documented_shape_and_null(api, validate):
    body = {"jql": "project = SUP", "maxResults": 2, "fields": ["summary"], "expand": "names",
            "properties": ["sync"], "fieldsByKeys": False, "reconcileIssues": [10000], "nextPageToken": None}
    page = validate(api.post(api.base + "/search/jql", json=body)).json()
    assert len(page["issues"]) == 2 and page["names"]["summary"] == "Summary"
    assert validate(api.post(api.base + "/search/jql", json={
        "jql": "project = SUP", "maxResults": 1, "expand": None, "fields": None, "properties": None})).json()["issues"]


@pytest.mark.parametrize("wrong", [
    {"jql": "project = SUP", "maxResult": 5},  # JQLCountRequestBean: additionalProperties false
    {"jql": ["project = SUP"]},
])
def test_approximate_count_refuses_what_its_request_bean_refuses(api, validate_error, jira_spec_dict, wrong):
    """POST /rest/api/3/search/approximate-count takes a JQLCountRequestBean: ``jql`` (a
    string) and nothing else. search/jql in the same simulator refuses an unknown field; the
    count answered 200 and counted, and a list for ``jql`` crashed it (500)."""
    assert jira_spec_dict["components"]["schemas"]["JQLCountRequestBean"]["additionalProperties"] is False
    _contract_refuses(jira_spec_dict, "JQLCountRequestBean", wrong)
    validate_error(api.post(api.base + "/search/approximate-count", json=wrong), 400)


@pytest.mark.parametrize("wrong", [
    {"fields": {"summary": True}},
    {"properties": [["sync"]]},
    {"issueIdsOrKeys": [["SUP-1"]]},
    {"fieldsByKeys": {"x": 1}},
])
def test_bulkfetch_refuses_a_body_value_of_the_wrong_shape(api, validate_error, jira_spec_dict, wrong):
    """POST /rest/api/3/issue/bulkfetch takes a BulkFetchIssueRequestBean: lists of single
    values and one boolean. The simulator read an object's keys as the field list, flattened
    nested lists, and answered 200."""
    body = {"issueIdsOrKeys": ["SUP-1"], **wrong}
    _contract_refuses(jira_spec_dict, "BulkFetchIssueRequestBean", body)
    validate_error(api.post(api.base + "/issue/bulkfetch", json=body), 400)


def test_a_transition_refuses_a_field_in_both_fields_and_update(api, validate, validate_error, jira_spec_dict):
    """POST /rest/api/3/issue/{issueIdOrKey}/transitions, 400: "a field is specified in both
    `fields` and `update`". The simulator applied both (``update`` last) and moved the issue:
    a client sending a field twice passes every test, and on a real site the transition fails."""
    op = jira_spec_dict["paths"]["/rest/api/3/issue/{issueIdOrKey}/transitions"]["post"]
    assert "a field is specified in both `fields` and `update`" in op["responses"]["400"]["description"]
    key = validate(api.post(api.base + "/issue", json={"fields": {
        "project": {"key": "SUP"}, "issuetype": {"name": "Bug"}, "summary": "Both ways"}})).json()["key"]
    before = api.get(f"{api.base}/issue/{key}", params={"fields": "status,summary"}).json()["fields"]
    transition = validate(api.get(f"{api.base}/issue/{key}/transitions")).json()["transitions"][0]
    body = {"transition": {"id": transition["id"]}, "fields": {"summary": "Set"},
            "update": {"summary": [{"set": "Also set"}], "comment": [{"add": {"body": ADF}}]}}
    validate_error(api.post(f"{api.base}/issue/{key}/transitions", json=body), 400)
    after = api.get(f"{api.base}/issue/{key}", params={"fields": "status,summary,comment"}).json()["fields"]
    assert (after["status"]["name"], after["summary"]) == (before["status"]["name"], "Both ways")
    assert after["comment"]["total"] == 0, "the refused transition added its comment"
    # each field once (the comment through update, the resolution through fields) is fine
    body = {"transition": {"id": transition["id"]}, "fields": {"summary": "Set"}, "update": {"comment": [{"add": {"body": ADF}}]}}
    assert validate(api.post(f"{api.base}/issue/{key}/transitions", json=body)).status_code == 204
