"""Secrets and personal data kept out of logs and errors (a password in the host field, query
strings in urllib3's own lines), a write's transport error that says it may have taken effect,
and the operator CLI judging leases by the lease clock (the database's on PostgreSQL)."""
from __future__ import annotations

import json
import logging
import socket
import struct
import threading
import time
from datetime import datetime, timedelta, timezone
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

from jira_esm_connector.http import RetryPolicy, SiteLimiter
from jira_esm_connector.http.errors import ConnectorHTTPError
from jira_esm_connector.jira import JiraClient

UTC = timezone.utc
FAST = RetryPolicy(total=3, backoff_base=0.01, backoff_cap=0.05, jitter=0.0, max_retry_after=2.0)


# ---------------------------------------------------------------------------------------------
# helpers


def _serve_raw(answer: Any) -> tuple[str, socket.socket]:
    """A one-thread raw HTTP server: ``answer(request_bytes, conn)`` answers each connection."""
    listener = socket.socket()
    listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    listener.bind(("127.0.0.1", 0))
    listener.listen(8)

    def loop() -> None:
        while True:
            try:
                conn, _ = listener.accept()
            except OSError:
                return
            threading.Thread(target=_one, args=(conn,), daemon=True).start()

    def _one(conn: socket.socket) -> None:
        with conn:
            try:
                data = conn.recv(65536)
                answer(data, conn)
            except OSError:
                pass

    threading.Thread(target=loop, daemon=True).start()
    return f"http://127.0.0.1:{listener.getsockname()[1]}", listener


# ---------------------------------------------------------------------------------------------
# http/session.py: query strings in urllib3's log lines


def test_urllib3_header_parsing_warning_does_not_log_the_query_string(caplog):
    """urllib3's own log lines must lose their query strings (they carry
    personal data: a user search's e-mail, an ESM EQL filter). The filter is added to
    'urllib3.connectionpool' and 'urllib3.util.retry' only, but 'urllib3.connection' logs the
    whole request URL at WARNING level -- "Failed to parse headers (url=<url with query>)" --
    whenever an answer's header block has a malformed line (a proxy, a load balancer), i.e. at
    the default log level, in every task log. Root cause: http/redact.py URLLIB3_URL_LOGGERS."""
    caplog.set_level(logging.WARNING)

    def answer(_request: bytes, conn: socket.socket) -> None:
        body = b"[]"
        conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
                     b"this line is not a header\r\n"
                     + f"Content-Length: {len(body)}\r\n\r\n".encode() + body)

    base, listener = _serve_raw(answer)
    jira = JiraClient(base, "ops@example.com", "tok-hidden-99", allow_insecure_http=True, retry=FAST,
                      limiter=SiteLimiter("bad-header-site", rate=1000, concurrency=4))
    try:
        try:
            jira.find_users("john.doe@example.com")
        except ConnectorHTTPError:
            pass  # only the log matters here
    finally:
        jira.close()
        listener.close()
    leaked = [f"{r.name}: {r.getMessage()}" for r in caplog.records if "john.doe" in r.getMessage()]
    assert not leaked, leaked


# ---------------------------------------------------------------------------------------------
# http/session.py: a write that timed out says it was not repeated -- also ESM's bulk PUT


class _EsmStub:
    """Answers ESM's login; a PUT of card data hangs past the read timeout (``mode='slow'``) or
    is reset (``mode='reset'``)."""

    def __init__(self, mode: str) -> None:
        self.puts = 0
        outer = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: Any) -> None:
                pass

            def _body(self) -> bytes:
                length = int(self.headers.get("Content-Length") or 0)
                return self.rfile.read(length) if length else b""

            def do_POST(self) -> None:  # noqa: N802
                self._body()
                data = json.dumps({"token": "esm-jwt-token-123"}).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def do_PUT(self) -> None:  # noqa: N802
                self._body()
                outer.puts += 1
                if mode == "reset":
                    self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
                    self.connection.close()
                    self.close_connection = True
                    return
                time.sleep(2.0)
                self.close_connection = True

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.base = f"http://127.0.0.1:{self.httpd.server_address[1]}/rest-api/itsm/v1"
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    def stop(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.mark.parametrize("mode", ["slow", "reset"])
def test_esm_bulk_put_that_failed_in_transit_says_it_may_already_have_taken_effect(mode):
    """ESM's bulk PUT that creates cards is not idempotent (its session retries PUT like POST:
    esm/client.py builds it without PUT), so a read timeout or a reset is not repeated -- and
    such a write's error must say so ("not repeated ... may already
    have taken effect") so the operator knows cards may exist. For a transport failure the
    session judges by the module-wide IDEMPOTENT_METHODS, which holds PUT, so the bulk PUT's
    error reads like a harmless retried read. Root cause: http/session.py _transport_tries
    (and the reset branch of error_for_exception) ignore the session's own idempotent set
    (a 5xx answer is judged right, from the answer's Retry)."""
    from jira_esm_connector.esm import EsmClient

    stub = _EsmStub(mode)
    esm = EsmClient(stub.base, "esm-user", "pw-secret", allow_insecure_http=True, timeout=(1, 0.5),
                    retry=FAST)
    try:
        with pytest.raises(ConnectorHTTPError) as info:
            esm.bulk_import("incident", [{"data": {"subject": "x"}}], folder="incidents")
    finally:
        esm.close()
        stub.stop()
    assert stub.puts == 1  # not repeated: right
    text = str(info.value)
    assert "not repeated" in text or "may already have taken effect" in text, text


# ---------------------------------------------------------------------------------------------
# state/lease.py + pipeline/cache.py: the operator CLI judges leases by its own clock


@pytest.mark.postgres
def test_template_locks_cli_judges_a_live_write_lock_by_the_database_clock(store_factory, monkeypatch, capsys):
    """On PostgreSQL every lease expiry is written and judged by the database's
    clock, because the machines' clocks differ. The operator CLI (pipeline/cache.py
    template_locks_text and _lease_text) still judges the rows by the local clock: run on a
    machine whose clock is two minutes ahead, `template-locks` says "No ESM template is being
    written" while a writer holds the lock (and `status` calls a live run's lease free) --
    exactly what an operator checks before deciding a writer or run is gone."""
    import sys
    import types

    from jira_esm_connector.pipeline import cache
    from jira_esm_connector.state import TemplateLock

    store = store_factory()
    if store.dialect != "postgresql":
        pytest.skip("PostgreSQL only")
    lock = TemplateLock(store, "esm.example/rest-api/itsm/v1", "incident", writer="task_a", run_id="run_a",
                        ttl_s=60, wait_s=0)
    lock.acquire()
    try:
        real_datetime = datetime

        class Ahead(real_datetime):  # this machine's clock runs 2 minutes ahead of the database's
            @classmethod
            def now(cls, tz=None):  # noqa: ANN001
                return real_datetime.now(tz) + timedelta(minutes=2)

        import datetime as datetime_module

        fake = types.ModuleType("datetime")
        fake.__dict__.update(datetime_module.__dict__)
        fake.datetime = Ahead
        monkeypatch.setitem(sys.modules, "datetime", fake)
        try:
            lines = cache.template_locks_text(store)
        finally:
            monkeypatch.setitem(sys.modules, "datetime", datetime_module)
    finally:
        lock.release()
    assert lines and "incident" in lines[0], f"a live write lock was not listed: {lines}"


# ---------------------------------------------------------------------------------------------
# http/session.py + http/redact.py: a password in the host field that begins with digits


def test_redact_hides_a_url_password_that_begins_with_digits_before_a_slash():
    """redact() hides URL user-info whose password holds '/', '?' or '#'. A pattern that skips user-info when what follows the ':' "can be a port" -- so a password that
    begins with digits ("2024/Summer-pass", "1234#abcd") is taken for a port and shown whole.
    Root cause: http/redact.py, the '(?!\\d*(?:[/?#\\s]|$))' look-ahead of the user-info pattern."""
    from jira_esm_connector.http.redact import redact

    for text in ("GET https://bob:2024/Summer-pass@example.atlassian.net/rest failed",
                 "https://bob:1234#abcd-word@example.atlassian.net"):
        out = redact(text)
        assert "Summer-pass" not in out and "abcd-word" not in out, out


def test_base_url_with_a_digit_leading_password_is_refused_not_used_as_host_and_path(monkeypatch, caplog):
    """A host field pasted as https://user:password@site whose password begins with digits and
    holds a '/' (here 'bob' / '2024/Summer-pass') parses as host 'bob', port 2024 and a path
    '/Summer-pass@example.atlassian.net': validate_base_url finds no user-info and accepts it.
    The client then sends the Jira API token to host 'bob' and every retry line and error names
    the path -- the rest of the password. Behind the usual corporate proxy (which answers 502
    for a host it cannot reach) the password reaches the task log and the error. Root cause:
    http/session.py validate_base_url checks user-info only through urlsplit's netloc."""
    from jira_esm_connector.http import InsecureURLError

    def proxy(_request: bytes, conn: socket.socket) -> None:
        body = b'{"errorMessages": ["bad gateway"]}'
        conn.sendall(b"HTTP/1.1 502 Bad Gateway\r\nContent-Type: application/json\r\nConnection: close\r\n"
                     + f"Content-Length: {len(body)}\r\n\r\n".encode() + body)

    proxy_url, listener = _serve_raw(proxy)
    monkeypatch.setenv("HTTP_PROXY", proxy_url)
    monkeypatch.setenv("http_proxy", proxy_url)
    monkeypatch.delenv("NO_PROXY", raising=False)
    monkeypatch.delenv("no_proxy", raising=False)
    caplog.set_level(logging.DEBUG)
    shown: list[str] = []
    try:
        jira = JiraClient("http://bob:2024/Summer-pass@example.atlassian.net", "ops@example.com", "tok-hidden-99",
                          allow_insecure_http=True, retry=FAST,
                          limiter=SiteLimiter("proxied-site", rate=1000, concurrency=4))
        try:
            jira.myself()
        except ConnectorHTTPError as exc:
            shown.append(str(exc))
        finally:
            jira.close()
    except InsecureURLError as exc:  # the right answer: refused, without repeating it
        shown.append(str(exc))
    finally:
        listener.close()
    shown += [f"{r.name}: {r.getMessage()}" for r in caplog.records]
    leaked = [line for line in shown if "Summer-pass" in line]
    assert not leaked, leaked
