"""The connector health check against the real simulators: connection tests, API token
expiry warnings and failures, and the vendor scheduling-table warning."""
from __future__ import annotations

import logging
from datetime import date, timedelta

import pytest

from jira_esm_connector.config import parse_task
from jira_esm_connector.health import HealthCheckFailed, run_health_check
from jira_esm_connector.state import StateStore

TASK = {
    "name": "users_every_five_minutes",
    "kind": "scheduled",
    "jira_conn_id": "jira_health",
    "esm_conn_id": "esm_health",
    "schedule": "*/5 * * * *",
    "mode": "full",
    "mapping_type": "user",
    "template": "person",
    "folder": "persons",
    "key": {"jira": "accountId", "esm": "jira_account_id"},
    "attributes": {"full_name": "displayName"},
}


def test_healthy_connections_pass(connections):
    connections(token_expires=date.today() + timedelta(days=200))
    report = run_health_check([parse_task(TASK)])
    assert [(c["conn_id"], c["ok"]) for c in report["connections"]] == [("jira_health", True), ("esm_health", True)]
    assert report["token_warnings"] == []


def test_token_expiring_within_30_days_warns_with_the_date(connections, caplog):
    expires = date.today() + timedelta(days=12)
    connections(token_expires=expires)
    with caplog.at_level(logging.WARNING):
        report = run_health_check([parse_task(TASK)])
    assert len(report["token_warnings"]) == 1
    assert expires.isoformat() in report["token_warnings"][0]
    assert caplog.text.count(f"expires on {expires.isoformat()} (12 days left)") == 1, caplog.text  # one line, not three


def test_expired_and_revoked_token_fails_plainly_without_the_secret(connections, jira_sim, caplog):
    expired = date.today() - timedelta(days=3)
    connections(token="revoked-token-value", token_expires=expired)
    with caplog.at_level(logging.INFO), pytest.raises(HealthCheckFailed) as failure:
        run_health_check([parse_task(TASK)])
    message = str(failure.value)
    assert "jira_health" in message and "expired or revoked" in message
    assert "esm_health" not in message  # the ESM connection is fine
    assert "revoked-token-value" not in message + caplog.text


def test_wrong_esm_password_fails_naming_the_connection(connections, caplog):
    connections(esm_password="not-the-password")
    with caplog.at_level(logging.INFO), pytest.raises(HealthCheckFailed) as failure:
        run_health_check([parse_task(TASK)])
    assert "esm_health" in str(failure.value) and "bad credentials" in str(failure.value)
    assert "not-the-password" not in str(failure.value) + caplog.text


def test_schedule_too_frequent_for_the_measured_volume_warns(connections, tmp_path):
    connections()
    task = parse_task(TASK)
    state = StateStore(f"sqlite:///{tmp_path / 'state.db'}")
    try:
        state.record_run(task.name, "run-1", {"fetched": 12000}, volume=12000)
        report = run_health_check([task], state)
    finally:
        state.dispose()
    warning = report["schedule_warnings"][task.name]
    assert "every 5 minutes" in warning or "*/5" in warning
    assert "12,000" in warning
