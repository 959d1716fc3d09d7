"""The Jira connection's token expiry extra: what Airflow's log masker is told, and what an error may repeat.

Against the real Jira simulator and Airflow's own masker (the one every task log line goes
through)."""
from __future__ import annotations

import json
import logging
from datetime import date, timedelta

import pytest

from devtools.airflow_standalone import connection_json
from jira_esm_connector.config import parse_task
from jira_esm_connector.health import HealthCheckFailed, run_health_check
from jira_esm_connector.hooks.jira import JiraCloudHook

from tests.pipeline.conftest import USERS_TASK

TASK = dict(USERS_TASK, name="users_expiry", jira_conn_id="jira_round23", esm_conn_id="esm_round23")


def _airflow_redact(text: str) -> str:
    from airflow.sdk._shared.secrets_masker import redact

    return redact(text)


def _connections(monkeypatch, jira_sim, esm_sim, *, token=None, **jira_extra):
    monkeypatch.setenv("AIRFLOW_CONN_JIRA_ROUND23", connection_json(
        "jira_cloud", jira_sim.base_url, jira_sim.email, token or jira_sim.token, ca_pem=jira_sim.ca_pem, **jira_extra,
    ))
    monkeypatch.setenv("AIRFLOW_CONN_ESM_ROUND23", connection_json(
        "efecte_esm", esm_sim.base_url, esm_sim.username, esm_sim.password, ca_pem=esm_sim.ca_pem,
    ))


def test_the_token_expiry_warning_keeps_its_date_in_airflows_task_log(monkeypatch, jira_sim, esm_sim, caplog):
    # the recorded expiry is a date, not a secret: Airflow's masker hides the value of every
    # connection extra whose name holds "token" (it reads the extras when it hands the
    # connection out) -- with the field named token_expires the warning said "expires on ***",
    # every other log line holding that date lost it too, and the form showed '***'
    expires = date.today() + timedelta(days=23)
    _connections(monkeypatch, jira_sim, esm_sim, expiry_date=expires.isoformat())
    with caplog.at_level(logging.WARNING):
        report = run_health_check([parse_task(TASK)])
    [warning] = report["token_warnings"]
    assert expires.isoformat() in warning
    assert expires.isoformat() in _airflow_redact(warning), _airflow_redact(warning)
    assert _airflow_redact(f"issue SUP-1 is due {expires.isoformat()}") == f"issue SUP-1 is due {expires.isoformat()}"
    # the token itself still is masked
    assert jira_sim.token not in _airflow_redact(f"token {jira_sim.token}")


def test_an_api_token_pasted_into_the_expiry_field_is_not_repeated(monkeypatch, jira_sim, esm_sim, caplog):
    # the two fields sit next to each other in the connection form: the token pasted into the
    # expiry date must not come back in the health check, its log or the Test button's answer
    pasted = "ATATT3xFfGF0-pasted-into-the-wrong-field-0123456789abcdefghij"
    _connections(monkeypatch, jira_sim, esm_sim, expiry_date=pasted)
    with caplog.at_level(logging.INFO), pytest.raises(HealthCheckFailed) as failure:
        run_health_check([parse_task(TASK)])
    ok, message = JiraCloudHook("jira_round23").test_connection()
    assert not ok and "expiry_date" in message and "YYYY-MM-DD" in message
    assert "expiry_date" in str(failure.value)
    for text in (str(failure.value), caplog.text, message):
        assert pasted[:8] not in text, text


def test_no_field_of_the_connection_forms_is_one_airflow_hides_as_a_secret():
    # the form fields are no secrets (the secrets are the password fields): a field Airflow
    # takes for one reads '***' in the connection form and in every task log line
    from airflow.sdk._shared.secrets_masker import should_hide_value_for_key

    from jira_esm_connector.provider import CONNECTION_TYPES

    hidden = [(c["connection-type"], name) for c in CONNECTION_TYPES for name in c["conn-fields"]
              if should_hide_value_for_key(name)]
    assert hidden == []


def test_an_older_connection_with_token_expires_still_warns(monkeypatch, jira_sim, esm_sim):
    expires = date.today() + timedelta(days=9)
    _connections(monkeypatch, jira_sim, esm_sim, token_expires=expires.isoformat())
    client = JiraCloudHook("jira_round23").get_client()
    try:
        assert client.token_expires == expires
    finally:
        client.close()
