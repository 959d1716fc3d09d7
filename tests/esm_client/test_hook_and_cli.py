"""The ``efecte_esm`` connection type: provider registration, EsmHook, and
``airflow connections test esm_default`` run as an operator runs it, against the ESM simulator.
"""
from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from jira_esm_connector.hooks.esm import EsmHook, base_url_from_connection
from jira_esm_connector.http import InsecureURLError

AIRFLOW = str(Path(sys.executable).parent / "airflow")


# --- registration -----------------------------------------------------------------------------

def test_provider_info_registers_efecte_esm():
    import airflow
    import jsonschema

    from jira_esm_connector.provider import get_provider_info

    schema = json.loads((Path(airflow.__file__).parent / "provider_info.schema.json").read_text())
    info = get_provider_info()
    jsonschema.validate(info, schema)
    esm = next(c for c in info["connection-types"] if c["connection-type"] == "efecte_esm")
    assert esm["hook-class-name"] == "jira_esm_connector.hooks.esm.EsmHook"
    assert set(esm["conn-fields"]) == {"ca_bundle", "verify", "allow_insecure_http"}


def test_providers_manager_knows_the_esm_hook():
    from airflow.providers_manager import ProvidersManager

    pm = ProvidersManager()
    hook = pm.hooks.get("efecte_esm")
    assert hook is not None and hook.hook_class_name == "jira_esm_connector.hooks.esm.EsmHook"
    assert hook.connection_id_attribute_name == "esm_conn_id"
    assert hook.connection_testable
    assert pm.connection_form_widgets["extra__efecte_esm__verify"].field["value"] is True
    assert pm.field_behaviours["efecte_esm"]["relabeling"]["host"] == "ESM REST base URL"
    assert EsmHook.conn_type == "efecte_esm" and EsmHook.default_conn_name == "esm_default"
    assert EsmHook.hook_name == "Efecte ESM"


# --- hook -------------------------------------------------------------------------------------

@pytest.mark.parametrize(
    ("host", "schema", "port", "expected"),
    [
        ("https://esm.example.com/rest-api/itsm/v1/", None, None, "https://esm.example.com/rest-api/itsm/v1"),
        ("https://esm.example.com", None, None, "https://esm.example.com/rest-api/itsm/v1"),
        ("esm.example.com", None, 8444, "https://esm.example.com:8444/rest-api/itsm/v1"),
        ("localhost", "http", None, "http://localhost/rest-api/itsm/v1"),
    ],
)
def test_base_url_from_connection(host, schema, port, expected):
    assert base_url_from_connection(host, schema=schema, port=port) == expected


def test_a_connection_uri_keeps_its_path(monkeypatch):
    # In a connection URI (AIRFLOW_CONN_*, secrets backends) Airflow keeps the path in ``schema``.
    monkeypatch.setenv("AIRFLOW_CONN_ESM_URI", "efecte-esm://svc:pw@esm.example.com:8443/efecte/rest-api/itsm/v1")
    assert EsmHook(esm_conn_id="esm_uri").client_kwargs()["base_url"] == "https://esm.example.com:8443/efecte/rest-api/itsm/v1"
    monkeypatch.setenv("AIRFLOW_CONN_ESM_URI", "efecte-esm://svc:pw@esm.example.com")
    assert EsmHook(esm_conn_id="esm_uri").client_kwargs()["base_url"] == "https://esm.example.com/rest-api/itsm/v1"


def _conn(monkeypatch, **conn):
    monkeypatch.setenv("AIRFLOW_CONN_ESM_UNIT", json.dumps({"conn_type": "efecte_esm", **conn}))


def test_hook_builds_a_client_and_tests_the_connection(monkeypatch, esm_sim):
    _conn(monkeypatch, host=esm_sim.base_url, login=esm_sim.username, password=esm_sim.password,
          extra={"ca_bundle": esm_sim.ca_pem, "timeout": "30"})
    hook = EsmHook(esm_conn_id="esm_unit")
    client = hook.get_client()
    assert client.base_url == esm_sim.base_url and client.username == esm_sim.username
    assert client.verify == esm_sim.ca_pem and client.timeout == (5.0, 30.0)
    assert hook.get_conn() is client
    assert esm_sim.password not in repr(client) + repr(hook)
    ok, message = hook.test_connection()
    assert ok, message
    assert "Logged in to ESM" in message
    assert client.echo_jwt("via hook") == "via hook"


def test_hook_accepts_the_ca_as_pem_text(monkeypatch, esm_sim):
    pem = Path(esm_sim.ca_pem).read_text()
    _conn(monkeypatch, host=esm_sim.base_url, login=esm_sim.username, password=esm_sim.password,
          extra={"ca_bundle": pem})
    ok, message = EsmHook(esm_conn_id="esm_unit").test_connection()
    assert ok, message


def test_hook_accepts_pem_text_with_comment_lines_before_the_certificate(monkeypatch, esm_sim):
    # as in certifi's bundle, or openssl's "subject=... issuer=..." lines before each certificate
    pem = "# Issuer: CN=the simulator's local CA\n# Label: local test CA\n" + Path(esm_sim.ca_pem).read_text()
    _conn(monkeypatch, host=esm_sim.base_url, login=esm_sim.username, password=esm_sim.password,
          extra={"ca_bundle": pem})
    ok, message = EsmHook(esm_conn_id="esm_unit").test_connection()
    assert ok, message


def test_hook_refuses_http_and_bad_extras_plainly(monkeypatch):
    _conn(monkeypatch, host="http://localhost:1/rest-api/itsm/v1", login="u", password="pw-SECRET-9")
    ok, message = EsmHook(esm_conn_id="esm_unit").test_connection()
    assert not ok and "Refusing plain http" in message and "pw-SECRET-9" not in message
    with pytest.raises(InsecureURLError):
        EsmHook(esm_conn_id="esm_unit").get_client()

    _conn(monkeypatch, host="https://esm.example.com", login="u", password="pw-SECRET-9", extra={"verify": "maybe"})
    ok, message = EsmHook(esm_conn_id="esm_unit").test_connection()
    assert not ok and "extra 'verify' must be true or false" in message

    _conn(monkeypatch, host="https://esm.example.com", login="u", password="")
    ok, message = EsmHook(esm_conn_id="esm_unit").test_connection()
    assert not ok and "needs a login (ESM user) and a password" in message


# --- airflow connections test (CLI, subprocess) ------------------------------------------------

def run_connections_test(tmp_path: Path, conn: dict) -> tuple[int, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("AIRFLOW_CONN_")}
    env.update(
        {
            "AIRFLOW_HOME": str(tmp_path / "airflow-home"),
            "AIRFLOW__CORE__TEST_CONNECTION": "Enabled",
            "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
            "AIRFLOW_CONN_ESM_DEFAULT": json.dumps(conn),
        }
    )
    result = subprocess.run(
        [AIRFLOW, "connections", "test", "esm_default"], capture_output=True, text=True, env=env, timeout=120
    )
    return result.returncode, result.stdout + result.stderr


def sim_conn(esm_sim, **changes) -> dict:
    conn = {
        "conn_type": "efecte_esm",
        "host": esm_sim.base_url,
        "login": esm_sim.username,
        "password": esm_sim.password,
        "extra": {"ca_bundle": esm_sim.ca_pem},
    }
    conn.update(changes)
    return conn


def test_cli_connection_test_passes_for_the_right_password(esm_sim, tmp_path):
    code, out = run_connections_test(tmp_path, sim_conn(esm_sim))
    assert code == 0, out[-3000:]
    assert "Connection success!" in out
    assert esm_sim.password not in out


def test_cli_connection_test_fails_plainly_for_a_wrong_password(esm_sim, tmp_path):
    code, out = run_connections_test(tmp_path, sim_conn(esm_sim, password="Wr0ng-Pa55-cli"))
    assert code == 1, out[-3000:]
    assert "Connection failed!" in out
    assert f"bad credentials for ESM user '{esm_sim.username}'" in out
    assert "Wr0ng-Pa55-cli" not in out


def test_cli_connection_test_fails_plainly_for_a_wrong_host(esm_sim, tmp_path):
    code, out = run_connections_test(tmp_path, sim_conn(esm_sim, host="https://no-such-esm.invalid/rest-api/itsm/v1"))
    assert code == 1, out[-3000:]
    assert "Wrong host" in out and "no-such-esm.invalid" in out
    assert esm_sim.password not in out

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    code, out = run_connections_test(tmp_path, sim_conn(esm_sim, host=f"https://127.0.0.1:{port}/rest-api/itsm/v1"))
    assert code == 1, out[-3000:]
    assert "refused the connection" in out


def test_cli_connection_test_fails_plainly_for_an_untrusted_certificate(esm_sim, tmp_path):
    code, out = run_connections_test(tmp_path, sim_conn(esm_sim, extra={}))
    assert code == 1, out[-3000:]
    assert "TLS failure" in out and "not trusted" in out


def test_hook_test_connection_reports_a_timeout_plainly(monkeypatch, esm_sim):
    _conn(monkeypatch, host=esm_sim.base_url, login=esm_sim.username, password=esm_sim.password,
          extra={"ca_bundle": esm_sim.ca_pem, "timeout": "0.3"})
    esm_sim.admin("POST", "latency", {"seconds": 1.0})
    try:
        ok, message = EsmHook(esm_conn_id="esm_unit").test_connection()
    finally:
        esm_sim.admin("POST", "reset", {})
    assert not ok
    assert "did not answer" in message and "(timeout)" in message
