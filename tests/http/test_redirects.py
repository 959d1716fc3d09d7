"""https enforcement must not be bypassable by a redirect.

An https ESM base URL (allow_insecure_http off) answers the login with a 307/308 to a plain
http:// address. requests follows 307/308 keeping the method AND the body, so the login
form (user name and password) was sent again, in clear text, to the http:// address. The
sessions now follow no redirect to another scheme, host or port.
"""
from __future__ import annotations

import ssl
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import unquote_plus

import pytest

from devtools.tls import ensure_tls_material
from jira_esm_connector.esm.client import EsmClient
from jira_esm_connector.http import ConnectorHTTPError, RetryPolicy

PASSWORD = "S3cret-esm-password"


class _RedirectingTls:
    """An HTTPS server that answers every request with ``status`` to ``location``."""

    def __init__(self, tls_dir, status: int, location: str) -> None:
        material = ensure_tls_material(tls_dir)
        self.ca_pem = material.ca_pem
        outer = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args):  # quiet
                pass

            def _handle(self):
                length = int(self.headers.get("Content-Length") or 0)
                if length:
                    self.rfile.read(length)
                self.send_response(status)
                self.send_header("Location", location + self.path)
                self.send_header("Content-Length", "0")
                self.end_headers()

            do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = _handle

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        ctx.load_cert_chain(material.cert_pem, material.key_pem)
        self.httpd.socket = ctx.wrap_socket(self.httpd.socket, server_side=True)
        self.httpd.daemon_threads = True
        self.base_url = f"https://127.0.0.1:{self.httpd.server_address[1]}"
        self._thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    def __enter__(self):
        self._thread.start()
        return self

    def __exit__(self, *exc):
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.mark.parametrize("status", [307, 308])
def test_esm_login_is_not_resent_to_plain_http_after_a_redirect(scripted, tmp_path_factory, status):
    # the "http side" is the scripted plain-http server: it records what reaches it
    scripted.script("/rest-api/itsm/v1/users/login", [(200, {}, {"token": "not-a-jwt-token"})])
    with _RedirectingTls(tmp_path_factory.mktemp("tls"), status, scripted.base_url) as tls:
        client = EsmClient(
            tls.base_url + "/rest-api/itsm/v1", "integration", PASSWORD,
            verify=tls.ca_pem, retry=RetryPolicy(total=0, connect_retries=0, read_retries=0),
        )
        try:
            try:
                client.login()  # a fix may refuse the redirect with a typed error
            except ConnectorHTTPError:
                pass
            token = client._token
        finally:
            client.close()
    leaked = [unquote_plus(body.decode()) for _, _, _, body in scripted.requests]
    assert not any(PASSWORD in body for body in leaked), (
        f"the ESM password went over plain http after a {status} redirect: {leaked}"
    )
    assert token is None, "a session token handed out over plain http was accepted"



@pytest.mark.parametrize(
    ("url", "location"),
    [
        # the hook writes the connection's Port field (443, for Airflow 3.3.2's Test button) into the URL
        ("https://esm.example.com:443/rest-api/itsm/v1/dc", "https://esm.example.com/rest-api/itsm/v1/dc/"),
        ("https://esm.example.com/rest-api/itsm/v1/dc", "https://esm.example.com:443/rest-api/itsm/v1/dc/"),
        ("http://localhost:80/rest-api/itsm/v1/dc", "http://localhost/rest-api/itsm/v1/dc/"),
    ],
)
def test_a_redirect_within_the_origin_is_followed_however_the_default_port_is_written(url, location):
    import requests

    from jira_esm_connector.http import build_session

    session = build_session(user_agent="t", verify=True, retry=RetryPolicy(), logger=None, service_name="ESM")
    answer = requests.Response()
    answer.url, answer.status_code = url, 301
    answer.headers["Location"] = location
    assert session.get_redirect_target(answer) == location
