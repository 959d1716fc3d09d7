"""The UI's "Test" button for a jira_cloud connection (POST /api/v2/connections/test) on a real
`airflow standalone`. Marked airflow_e2e (slow: shares the session's standalone instance)."""
from __future__ import annotations

import pytest

pytestmark = pytest.mark.airflow_e2e


def _body(jira_sim, **changes) -> dict:
    body = {
        "connection_id": "jira_ui_test",
        "conn_type": "jira_cloud",
        "host": jira_sim.base_url,
        "login": jira_sim.email,
        "password": jira_sim.token,
        "extra": '{"ca_bundle": "%s"}' % jira_sim.ca_pem,
    }
    body.update(changes)
    return body


def test_ui_test_button_passes_and_fails_plainly(airflow_e2e, jira_sim):
    ok = airflow_e2e.api("POST", "/connections/test", json=_body(jira_sim))
    assert ok.status_code == 200, ok.text
    assert ok.json()["status"] is True, ok.json()
    assert "Connected to Jira" in ok.json()["message"]

    bad = airflow_e2e.api("POST", "/connections/test", json=_body(jira_sim, password="ui-wrong-token-42"))
    assert bad.json()["status"] is False
    assert "bad credentials" in bad.json()["message"] and "ui-wrong-token-42" not in bad.text

    host = airflow_e2e.api("POST", "/connections/test", json=_body(jira_sim, host="https://no-such-site.invalid"))
    assert host.json()["status"] is False and "Wrong host" in host.json()["message"]

    hook_types = airflow_e2e.api("GET", "/connections/hook_meta")
    if hook_types.status_code == 200:
        jira = [h for h in hook_types.json() if h.get("connection_type") == "jira_cloud"]
        assert jira and jira[0]["hook_name"] == "Jira Cloud"
