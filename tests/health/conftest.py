"""Connections named ``jira_health`` / ``esm_health`` to the real simulators."""
from __future__ import annotations

import pytest

from devtools.airflow_standalone import connection_json


@pytest.fixture
def connections(monkeypatch, jira_sim, esm_sim):
    def configure(*, token=None, token_expires=None, esm_password=None):
        expiry = {"expiry_date": token_expires.isoformat()} if token_expires else {}
        monkeypatch.setenv("AIRFLOW_CONN_JIRA_HEALTH", connection_json(
            "jira_cloud", jira_sim.base_url, jira_sim.email, token or jira_sim.token, ca_pem=jira_sim.ca_pem, **expiry,
        ))
        monkeypatch.setenv("AIRFLOW_CONN_ESM_HEALTH", connection_json(
            "efecte_esm", esm_sim.base_url, esm_sim.username, esm_password or esm_sim.password, ca_pem=esm_sim.ca_pem,
        ))
    return configure
