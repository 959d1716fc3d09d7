"""The comment property read (GET /rest/api/3/comment/{commentId}/properties/{propertyKey}),
served as the contract describes it (/work/shared/jira-openapi/swagger-v3.v3.json)."""
from __future__ import annotations

import pytest

ADF = {"type": "doc", "version": 1, "content": [{"type": "paragraph", "content": [{"type": "text", "text": "hi"}]}]}


def test_comment_property_can_be_read(api):
    """GET /rest/api/3/comment/{commentId}/properties/{propertyKey}: "Returns the value of a
    comment property." (404 only "if the comment or the property is not found"). The
    connector calls it (JiraClient.get_comment_property) whenever a comment listing does not
    embed properties; the simulator did not serve the path and answered "null for uri",
    which the connector reads as a wrong host (HostUnreachableError)."""
    made = api.post(api.base + "/issue/SUP-1/comment", json={
        "body": ADF, "properties": [{"key": "jira_esm_connector.origin", "value": {"source": "esm"}}]}).json()
    r = api.get(f"{api.base}/comment/{made['id']}/properties/jira_esm_connector.origin")
    assert r.status_code == 200, r.text[:200]
    assert r.json()["value"] == {"source": "esm"}
    missing = api.get(f"{api.base}/comment/{made['id']}/properties/nope")
    assert missing.status_code == 404
    assert not any(m.startswith("null for uri") for m in missing.json()["errorMessages"])


def test_the_client_reads_a_comment_property_and_tells_a_missing_one_from_a_missing_comment(api, jira_sim_fresh):
    from jira_esm_connector.http.errors import NotFoundError

    made = api.post(api.base + "/issue/SUP-1/comment", json={
        "body": ADF, "properties": [{"key": "p.x", "value": {"a": 1}}]}).json()
    jira = jira_sim_fresh.client()
    try:
        assert jira.get_comment_property(made["id"], "p.x") == {"a": 1}
        assert jira.get_comment_property(made["id"], "p.none", missing_ok=True) is None
        with pytest.raises(NotFoundError):
            jira.get_comment_property("99999999", "p.x", missing_ok=True)
    finally:
        jira.close()
