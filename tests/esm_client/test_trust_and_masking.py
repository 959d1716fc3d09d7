"""Trust material and secrets the hooks handle: CA bundles given as PEM text land in a
private per-user folder and a planted file is never trusted; certificate checks turned
off warn for Jira as for ESM; the Jira token, the ESM password and every ESM JWT are
registered with Airflow's log masker."""
from __future__ import annotations

import json
import logging
import os
import stat

import pytest

from jira_esm_connector.connection_extras import ca_bundle_path, private_dir
from jira_esm_connector.esm import EsmClient
from jira_esm_connector.hooks.esm import EsmHook
from jira_esm_connector.hooks.jira import JiraCloudHook

PEM = "-----BEGIN CERTIFICATE-----\nMIIBfake\n-----END CERTIFICATE-----"
ROOT = hasattr(os, "geteuid") and os.geteuid() == 0


@pytest.fixture(autouse=True)
def private_base(monkeypatch, tmp_path):
    """Each test gets its own base for the private folder (instead of the shared /tmp)."""
    base = tmp_path / "run"
    base.mkdir()
    monkeypatch.setenv("XDG_RUNTIME_DIR", str(base))
    return base


def _esm_conn(monkeypatch, **extra):
    monkeypatch.setenv("AIRFLOW_CONN_ESM_TRUST", json.dumps({
        "conn_type": "efecte_esm", "host": "https://esm.example.com", "login": "svc", "password": "esm-PASSWORD-1",
        "extra": extra,
    }))


def _jira_conn(monkeypatch, **extra):
    monkeypatch.setenv("AIRFLOW_CONN_JIRA_TRUST", json.dumps({
        "conn_type": "jira_cloud", "host": "https://acme.atlassian.net", "login": "ops@acme.example",
        "password": "jira-TOKEN-12345", "extra": extra,
    }))


# --- CA bundle as PEM text --------------------------------------------------------------------

def test_pem_text_is_written_to_a_private_folder_of_this_user(monkeypatch, private_base):
    _esm_conn(monkeypatch, ca_bundle=PEM)
    path = EsmHook("esm_trust").client_kwargs()["verify"]
    folder = os.path.dirname(path)
    assert os.path.dirname(folder) == str(private_base)
    info = os.lstat(folder)
    assert stat.S_ISDIR(info.st_mode) and stat.S_IMODE(info.st_mode) == 0o700 and info.st_uid == os.getuid()
    with open(path) as fh:
        assert fh.read() == PEM + "\n"


def test_a_planted_file_with_other_content_is_not_trusted(monkeypatch):
    _esm_conn(monkeypatch, ca_bundle=PEM)
    path = EsmHook("esm_trust").client_kwargs()["verify"]
    with open(path, "w") as fh:  # someone replaces the CA with their own
        fh.write("-----BEGIN CERTIFICATE-----\nEVIL\n-----END CERTIFICATE-----\n")
    again = EsmHook("esm_trust").client_kwargs()["verify"]
    with open(again) as fh:
        assert fh.read() == PEM + "\n"
    assert [n for n in os.listdir(os.path.dirname(again)) if n.endswith(".tmp")] == []  # no temp file left


def test_jira_accepts_pem_text_too(monkeypatch):
    _jira_conn(monkeypatch, ca_bundle=PEM)
    path = JiraCloudHook("jira_trust").client_kwargs()["verify"]
    assert path == ca_bundle_path(PEM)
    with open(path) as fh:
        assert fh.read() == PEM + "\n"


def test_a_path_stays_a_path(tmp_path):
    assert ca_bundle_path(str(tmp_path / "ca.pem")) == str(tmp_path / "ca.pem")


def test_a_too_open_private_folder_of_ours_is_closed(private_base):
    folder = private_dir()
    os.chmod(folder, 0o777)
    assert private_dir() == folder and stat.S_IMODE(os.lstat(folder).st_mode) == 0o700


def test_a_symlink_in_place_of_the_private_folder_is_refused(private_base, tmp_path):
    target = tmp_path / "elsewhere"
    target.mkdir()
    (private_base / f"jira-esm-connector-{os.getuid()}").symlink_to(target)
    with pytest.raises(ValueError, match="is not a folder"):
        private_dir()


@pytest.mark.skipif(not ROOT, reason="needs root to create files owned by another user")
def test_a_folder_or_file_owned_by_another_user_is_not_trusted(private_base):
    folder = private_base / f"jira-esm-connector-{os.getuid()}"
    folder.mkdir(mode=0o700)
    planted = folder / os.path.basename(ca_bundle_path(PEM))
    os.chown(planted, 4242, 4242)  # same content, but not ours
    path = ca_bundle_path(PEM)
    assert os.lstat(path).st_uid == os.getuid()
    os.chown(folder, 4242, 4242)
    with pytest.raises(ValueError, match="belongs to another user"):
        private_dir()


# --- verify=false warns for both services ------------------------------------------------------

@pytest.mark.parametrize(("service", "make"), [
    ("Jira", lambda mp: (_jira_conn(mp, verify=False), JiraCloudHook("jira_trust"))[1]),
    ("ESM", lambda mp: (_esm_conn(mp, verify=False), EsmHook("esm_trust"))[1]),
])
def test_verify_false_is_a_warning_for_every_service(monkeypatch, caplog, service, make):
    caplog.set_level(logging.WARNING)
    hook = make(monkeypatch)
    client = hook.get_client()
    client.close()
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert any(f"{service} connection '" in m and "certificate verification turned off" in m for m in warnings), warnings


# --- Airflow's secret masker -------------------------------------------------------------------

@pytest.fixture
def masked(monkeypatch):
    """What the hooks register with Airflow's masker (the real one is also called)."""
    import airflow.sdk.log as sdk_log

    seen: list[str] = []
    real = sdk_log.mask_secret

    def record(secret, name=None):
        seen.append(secret)
        real(secret, name)

    monkeypatch.setattr(sdk_log, "mask_secret", record)
    return seen


def test_jira_hook_masks_the_token_and_the_basic_auth_value(monkeypatch, masked):
    import base64

    from airflow.sdk._shared.secrets_masker import redact as airflow_redact

    _jira_conn(monkeypatch)
    JiraCloudHook("jira_trust").get_client().close()
    basic = base64.b64encode(b"ops@acme.example:jira-TOKEN-12345").decode()
    assert "jira-TOKEN-12345" in masked and basic in masked
    assert airflow_redact(f"sent Basic {basic} with jira-TOKEN-12345") == "sent Basic *** with ***"


def test_esm_client_reports_the_password_and_every_new_jwt(esm_sim):
    seen: list[str] = []
    client = EsmClient(esm_sim.base_url, esm_sim.username, esm_sim.password, verify=esm_sim.ca_pem, on_secret=seen.append)
    try:
        assert seen == [esm_sim.password]
        client.login()
        first = client._token
        client.login()
        assert first and client._token and seen == [esm_sim.password, first, client._token]
    finally:
        client.close()


def test_esm_hook_registers_the_jwt_with_airflows_masker(monkeypatch, esm_sim, masked):
    from airflow.sdk._shared.secrets_masker import redact as airflow_redact

    monkeypatch.setenv("AIRFLOW_CONN_ESM_MASK", json.dumps({
        "conn_type": "efecte_esm", "host": esm_sim.base_url, "login": esm_sim.username,
        "password": esm_sim.password, "extra": {"ca_bundle": esm_sim.ca_pem},
    }))
    client = EsmHook("esm_mask").get_client()
    try:
        client.echo_jwt("mask test")  # logs in
        token = client._token
        assert esm_sim.password in masked and token in masked
        assert token not in airflow_redact(f"token {token}")
    finally:
        client.close()


def test_a_broken_secret_callback_does_not_break_the_client(esm_sim):
    def broken(_secret):
        raise RuntimeError("masker down")

    client = EsmClient(esm_sim.base_url, esm_sim.username, esm_sim.password, verify=esm_sim.ca_pem, on_secret=broken)
    try:
        client.login()
        assert client.logins == 1
    finally:
        client.close()
