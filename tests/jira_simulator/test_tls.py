"""devtools.tls: a local CA and server certificate, reused while valid; the simulator serves it."""
from __future__ import annotations

import os
import ssl
import socket

import pytest
import requests
from cryptography import x509

from devtools.tls import ensure_tls_material


def test_generates_and_reuses_material(tmp_path):
    first = ensure_tls_material(tmp_path / "tls")
    for path in (first.ca_pem, first.cert_pem, first.key_pem):
        assert os.path.exists(path)
    assert oct(os.stat(first.key_pem).st_mode & 0o777) == "0o600"
    cert = x509.load_pem_x509_certificate(open(first.cert_pem, "rb").read())
    ca = x509.load_pem_x509_certificate(open(first.ca_pem, "rb").read())
    cert.verify_directly_issued_by(ca)
    san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert "localhost" in san.get_values_for_type(x509.DNSName)
    assert {str(ip) for ip in san.get_values_for_type(x509.IPAddress)} == {"127.0.0.1", "::1"}
    before = open(first.ca_pem, "rb").read(), open(first.cert_pem, "rb").read()
    second = ensure_tls_material(tmp_path / "tls")
    assert second == first
    assert (open(second.ca_pem, "rb").read(), open(second.cert_pem, "rb").read()) == before


def test_broken_server_cert_is_replaced_but_ca_kept(tmp_path):
    m = ensure_tls_material(tmp_path)
    ca_before = open(m.ca_pem, "rb").read()
    with open(m.cert_pem, "w") as f:
        f.write("not a certificate")
    m2 = ensure_tls_material(tmp_path)
    assert open(m2.ca_pem, "rb").read() == ca_before  # clients keep trusting the same CA
    x509.load_pem_x509_certificate(open(m2.cert_pem, "rb").read()).verify_directly_issued_by(
        x509.load_pem_x509_certificate(ca_before)
    )


def test_simulator_serves_https_trusted_only_through_its_ca(jira_sim):
    url = jira_sim.base_url + "/rest/api/3/serverInfo"
    assert url.startswith("https://")
    with pytest.raises(requests.exceptions.SSLError):
        s = requests.Session()
        s.trust_env = False
        s.get(url, verify=True)  # the system store does not know the local CA
    assert jira_sim.session().get(url).status_code == 200
    host, port = url.split("//")[1].split("/")[0].split(":")
    ctx = ssl.create_default_context(cafile=jira_sim.ca_pem)
    with socket.create_connection((host, int(port)), timeout=5) as raw:
        with ctx.wrap_socket(raw, server_hostname="localhost") as tls:
            assert tls.version() in ("TLSv1.2", "TLSv1.3")
