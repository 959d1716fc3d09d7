"""`airflow connections test jira_default` as an operator runs it, against the Jira simulator.

A fresh AIRFLOW_HOME per test; no `airflow db migrate` is needed because the connection
comes from the AIRFLOW_CONN_JIRA_DEFAULT environment variable.
"""
from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest

AIRFLOW = str(Path(sys.executable).parent / "airflow")


def run_connections_test(tmp_path: Path, conn: dict) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("AIRFLOW_CONN_")}
    env.update(
        {
            "AIRFLOW_HOME": str(tmp_path / "airflow-home"),
            "AIRFLOW__CORE__TEST_CONNECTION": "Enabled",
            "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
            "AIRFLOW_CONN_JIRA_DEFAULT": json.dumps(conn),
        }
    )
    return subprocess.run(
        [AIRFLOW, "connections", "test", "jira_default"], capture_output=True, text=True, env=env, timeout=120
    )


def sim_conn(jira_sim, **changes) -> dict:
    conn = {
        "conn_type": "jira_cloud",
        "host": jira_sim.base_url,
        "login": jira_sim.email,
        "password": jira_sim.token,
        "extra": {"ca_bundle": str(jira_sim.ca_pem)},
    }
    conn.update(changes)
    return conn


def test_cli_connection_test_passes_for_the_right_token(jira_sim, tmp_path):
    result = run_connections_test(tmp_path, sim_conn(jira_sim))
    out = result.stdout + result.stderr
    assert result.returncode == 0, out[-3000:]
    assert "Connection success!" in out


def test_cli_connection_test_fails_plainly_for_a_wrong_token(jira_sim, tmp_path):
    result = run_connections_test(tmp_path, sim_conn(jira_sim, password="wrong-token-7f3a9"))
    out = result.stdout + result.stderr
    assert result.returncode == 1, out[-3000:]
    assert "Connection failed!" in out
    assert "bad credentials" in out
    assert "wrong-token-7f3a9" not in out


def test_cli_connection_test_reports_expired_token(jira_sim, tmp_path):
    conn = sim_conn(jira_sim, password="wrong-token-7f3a9")
    conn["extra"] = {**conn["extra"], "token_expires": "2026-01-01"}
    result = run_connections_test(tmp_path, conn)
    out = result.stdout + result.stderr
    assert result.returncode == 1
    assert "API token expired or revoked (recorded expiry 2026-01-01)" in out


def test_cli_connection_test_fails_plainly_for_a_wrong_host(jira_sim, tmp_path):
    result = run_connections_test(tmp_path, sim_conn(jira_sim, host="https://no-such-site.invalid"))
    out = result.stdout + result.stderr
    assert result.returncode == 1
    assert "Wrong host" in out and "no-such-site.invalid" in out
    assert jira_sim.token not in out

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    result = run_connections_test(tmp_path, sim_conn(jira_sim, host=f"https://127.0.0.1:{port}"))
    out = result.stdout + result.stderr
    assert result.returncode == 1
    assert "refused the connection" in out


def test_cli_connection_test_fails_plainly_for_an_untrusted_certificate(jira_sim, tmp_path):
    conn = sim_conn(jira_sim)
    conn["extra"] = {}
    result = run_connections_test(tmp_path, conn)
    out = result.stdout + result.stderr
    assert result.returncode == 1
    assert "TLS failure" in out and "not trusted" in out
