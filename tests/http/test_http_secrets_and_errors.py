"""The HTTP layer (plugins/jira_esm_connector/http) as the Jira / ESM clients use it: no
secret or personal data in errors and logs, errors that say how often a request was tried,
and a request that cannot outlive its timeouts."""
from __future__ import annotations

import logging
import threading

import pytest

from jira_esm_connector.esm import EsmClient
from jira_esm_connector.http import InsecureURLError, RetryPolicy, SiteLimiter
from jira_esm_connector.http.errors import ConnectorHTTPError, RequestTimeoutError
from jira_esm_connector.jira import JiraClient

FAST = RetryPolicy(total=3, backoff_base=0.01, backoff_cap=0.05, jitter=0.0, max_retry_after=2.0)


def _jira(base_url: str, **kw) -> JiraClient:
    return JiraClient(
        base_url, "ops@example.com", "tok-hidden-99", allow_insecure_http=True, retry=kw.pop("retry", FAST),
        limiter=SiteLimiter("http-test", rate=1000, concurrency=4), **kw,
    )


# ---- secrets -----------------------------------------------------------------------------

@pytest.mark.parametrize("password", ["pa?ss-word", "pa#ss-word", "pa/ss-word", "pa/s@s-word"])
def test_base_url_with_credentials_never_echoes_the_password(password):
    """A connection host pasted with user-info (https://user:password@site) is refused without
    showing the password, also when the password holds '?', '#' or '/': then urlsplit cannot
    read the port, and the "not a valid URL" message must not repeat the URL's user-info (the
    task log and the UI's "Test connection" answer show it)."""
    url = f"https://bob:{password}@example.atlassian.net"
    for make in (
        lambda: JiraClient(url, "ops@example.com", "tok", limiter=SiteLimiter("r", rate=5, concurrency=1)),
        lambda: EsmClient(url + "/rest-api/itsm/v1", "esm-user", "pw"),
        lambda: JiraClient(url.replace("https://", ""), "ops@example.com", "tok",
                           limiter=SiteLimiter("r", rate=5, concurrency=1)),
    ):
        with pytest.raises(InsecureURLError) as info:
            make()
        shown = str(info.value) + repr(info.value)
        assert password not in shown and "ss-word" not in shown, shown


@pytest.mark.parametrize("password", ["zq?ss-word", "zq#ss-word", "zq/ss-word"])
@pytest.mark.parametrize("port", [None, 8443])
def test_connection_test_never_shows_a_password_in_the_host_field(monkeypatch, password, port):
    """The hooks' "Test connection" answer for a host field with user-info: no part of the
    password, whatever characters it holds (also with the connection's port set)."""
    import json

    from jira_esm_connector.hooks.esm import EsmHook
    from jira_esm_connector.hooks.jira import JiraCloudHook

    host = f"https://bob:{password}@esm.example.com"
    extra = {"conn_type": "efecte_esm", "host": host, "login": "u", "password": "pw-SECRET-9"}
    if port:
        extra["port"] = port
    monkeypatch.setenv("AIRFLOW_CONN_ESM_LEAK", json.dumps(extra))
    monkeypatch.setenv("AIRFLOW_CONN_JIRA_LEAK", json.dumps({**extra, "conn_type": "jira_cloud"}))
    for hook in (EsmHook(esm_conn_id="esm_leak"), JiraCloudHook(jira_conn_id="jira_leak")):
        ok, message = hook.test_connection()
        assert not ok
        assert "zq" not in message and "ss-word" not in message, message


@pytest.mark.parametrize(("text", "gone", "kept"), [
    ("GET https://bob:pa/ss@host.example/x failed", ["pa/ss", "bob:"], ["host.example/x failed"]),
    ("https://bob:pa?ss#w@host.example", ["pa?ss", "ss#w"], ["host.example"]),
])
def test_redact_hides_url_user_info_with_slash_query_or_hash_in_the_password(text, gone, kept):
    from jira_esm_connector.http.redact import redact

    out = redact(text)
    for part in gone:
        assert part not in out, out
    for part in kept:
        assert part in out, out


@pytest.mark.parametrize("text", [
    "https://host.example:8443/path?email=a@b.example",
    "https://host.example:8443?email=a@b.example",
    "https://host.example/a:b@c",
])
def test_redact_leaves_a_port_and_an_at_sign_in_the_query_alone(text):
    from jira_esm_connector.http.redact import redact

    assert redact(text) == text


def test_urllib3_retry_warning_does_not_log_query_strings(scripted, caplog):
    """Only the method and URL path of a request are logged -- never its query string, which
    carries personal data (here an e-mail address from find_users; ESM EQL filters and Jira
    user searches the same way) -- also in urllib3's own lines: its "Retrying (...) after
    connection broken by ...: <url>" warning after a dropped connection, and its DEBUG lines."""
    caplog.set_level(logging.DEBUG)
    scripted.script("/rest/api/3/user/search", ["reset"])
    jira = _jira(scripted.base_url)
    try:
        jira.find_users("john.doe@example.com")
    except ConnectorHTTPError:
        pass  # the scripted server's default answer is no user page: only the log matters here
    finally:
        jira.close()
    assert scripted.hits["/rest/api/3/user/search"] >= 2  # the reset was retried (a GET)
    leaked = [r for r in caplog.records if "john.doe" in r.getMessage()]
    assert not leaked, [f"{r.name}: {r.getMessage()}" for r in leaked]


# ---- plain-worded errors -------------------------------------------------------------------

def test_error_after_retries_says_how_often_it_was_tried_and_a_write_that_was_not(scripted):
    """The error after a GET answered 503 four times says how often it was tried; the error
    after a POST answered 503 once says it was not repeated because it may already have taken
    effect -- an operator can tell "retried 3 times" from "sent once, may already exist"."""
    jira = _jira(scripted.base_url)
    try:
        scripted.script("/rest/api/3/myself", [(503, {}, {"errorMessages": ["down"]})] * 10)
        with pytest.raises(ConnectorHTTPError) as got:
            jira.myself()
        assert scripted.hits["/rest/api/3/myself"] == 4
        scripted.script("/rest/api/3/issue", [(503, {}, {"errorMessages": ["down"]})])
        with pytest.raises(ConnectorHTTPError) as post:
            jira.create_issue({"summary": "x"})
        assert scripted.hits["/rest/api/3/issue"] == 1
    finally:
        jira.close()
    get_text, post_text = str(got.value), str(post.value)
    assert "3 retries" in get_text or "4 attempts" in get_text or "4 times" in get_text, get_text
    assert "not repeated" in post_text or "may already have taken effect" in post_text, post_text


def test_a_dropped_connection_error_says_how_often_a_read_was_tried(scripted):
    """A GET whose connection is reset every time fails naming its attempts; a POST reset once
    says it was not repeated because it may already have taken effect."""
    jira = _jira(scripted.base_url)
    try:
        scripted.script("/rest/api/3/myself", ["reset"] * 10)
        with pytest.raises(ConnectorHTTPError) as got:
            jira.myself()
        scripted.script("/rest/api/3/issue", ["reset"])
        with pytest.raises(ConnectorHTTPError) as post:
            jira.create_issue({"summary": "x"})
    finally:
        jira.close()
    # read_retries=2 (the policy's default): three attempts
    assert scripted.hits["/rest/api/3/myself"] == 3
    assert "after 3 attempts (2 retries)" in str(got.value) and "not repeated" not in str(got.value), str(got.value)
    assert scripted.hits["/rest/api/3/issue"] == 1
    assert "not repeated automatically" in str(post.value) and "attempts" not in str(post.value), str(post.value)


# ---- timeouts ---------------------------------------------------------------------------------

def test_a_trickling_answer_cannot_hold_a_request_far_beyond_its_timeouts():
    """The clients' ``timeout`` is "(connect, read) seconds", and requests applies the read
    timeout to each socket read, not to the answer: a server (or a broken proxy) that sends
    one byte just inside the read timeout must still not keep a request -- and its limiter
    slot -- open for as long as it likes. With timeout=(1, 0.5) the answer below would take
    15 s; the request gives up well before 4 s."""
    import socket
    import time

    stop = threading.Event()
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(4)
    port = listener.getsockname()[1]

    def serve() -> None:
        conn, _ = listener.accept()
        with conn:
            conn.recv(65536)
            body = b'{"accountId": "' + b"x" * 40 + b'"}'
            conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
                         + f"Content-Length: {len(body)}\r\n\r\n".encode())
            for byte in body:
                if stop.is_set():
                    return
                try:
                    conn.sendall(bytes([byte]))
                except OSError:
                    return
                time.sleep(0.3)

    threading.Thread(target=serve, daemon=True).start()
    jira = _jira(f"http://127.0.0.1:{port}", timeout=(1, 0.5), retry=FAST.with_(read_retries=0, total=0))
    outcome: list[object] = []
    worker = threading.Thread(target=lambda: outcome.append(_call(jira.myself)), daemon=True)
    started = time.monotonic()
    worker.start()
    worker.join(4.0)
    elapsed = time.monotonic() - started
    stop.set()
    worker.join(2.0)
    jira.close()
    listener.close()
    assert elapsed < 4.0, f"a request with timeout=(1, 0.5) was still running after {elapsed:.1f} s"
    assert outcome and isinstance(outcome[0], RequestTimeoutError), outcome
    assert "was still sending its answer to GET /rest/api/3/myself after 2 s" in str(outcome[0]), str(outcome[0])


def _call(fn):
    try:
        return fn()
    except Exception as exc:  # noqa: BLE001
        return exc
