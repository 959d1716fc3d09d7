"""The shared HTTP plumbing against a real local HTTP server with scripted answers."""
from __future__ import annotations

import logging
import socket
import time

import pytest
import requests

from devtools.tls import ensure_tls_material
from jira_esm_connector.http import (
    IDEMPOTENT_METHODS,
    AuthenticationError,
    BadRequestError,
    HostUnreachableError,
    InsecureURLError,
    LoggingRetry,
    RetryPolicy,
    ServiceUnavailableError,
    TLSError,
    build_session,
    error_for_exception,
    error_for_response,
    redact,
    resends_checked,
    validate_base_url,
)

FAST = RetryPolicy(total=6, backoff_base=0.01, backoff_cap=0.05, jitter=0.2, max_retry_after=2.0)
LOG = logging.getLogger("tests.http.retry")


def session(policy: RetryPolicy = FAST, verify: bool | str = True, **kw) -> requests.Session:
    return build_session(user_agent="tests/1", verify=verify, retry=policy, logger=LOG, service_name="Jira", **kw)


def retry_lines(caplog) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.name == LOG.name]


def test_429_retried_honouring_retry_after_and_logged(scripted, caplog):
    caplog.set_level(logging.INFO, logger=LOG.name)
    scripted.script("/rest/api/3/search/jql", [(429, {"Retry-After": "1"}, {"errorMessages": ["Rate limited"]})] * 2)
    started = time.monotonic()
    r = session().get(scripted.base_url + "/rest/api/3/search/jql?jql=secret%3Dx&token=abc123")
    elapsed = time.monotonic() - started
    assert r.status_code == 200
    assert scripted.hits["/rest/api/3/search/jql"] == 3
    assert elapsed >= 1.9, "Retry-After: 1 was not honoured twice"
    lines = retry_lines(caplog)
    assert lines == [
        "Jira answered 429 Too Many Requests for GET /rest/api/3/search/jql; waiting 1.0 s as Retry-After asks (retry 1 of 6)",
        "Jira answered 429 Too Many Requests for GET /rest/api/3/search/jql; waiting 1.0 s as Retry-After asks (retry 2 of 6)",
    ]
    assert "abc123" not in caplog.text and "secret" not in caplog.text


def test_retry_after_is_capped(scripted, caplog):
    caplog.set_level(logging.INFO, logger=LOG.name)
    policy = FAST.with_(max_retry_after=0.2)
    scripted.script("/x", [(429, {"Retry-After": "3600"}, {})])
    started = time.monotonic()
    assert session(policy).get(scripted.base_url + "/x").status_code == 200
    assert time.monotonic() - started < 2
    assert "Retry-After asks for 3600.0 s; waiting the configured maximum 0.2 s (retry 1 of 6)" in caplog.text


def test_503_backoff_then_success(scripted, caplog):
    caplog.set_level(logging.INFO, logger=LOG.name)
    scripted.script("/x", [(503, {}, {})] * 3)
    assert session().get(scripted.base_url + "/x").status_code == 200
    assert scripted.hits["/x"] == 4
    lines = retry_lines(caplog)
    assert len(lines) == 3
    assert all("Jira answered 503 Service Unavailable for GET /x; waiting" in l and "exponential backoff" in l for l in lines)
    assert lines[-1].endswith("(retry 3 of 6)")


def test_5xx_on_get_retried_but_post_never(scripted, caplog):
    caplog.set_level(logging.INFO, logger=LOG.name)
    scripted.script("/get", [(500, {}, {}), (502, {}, {}), (504, {}, {})])
    assert session().get(scripted.base_url + "/get").status_code == 200
    assert scripted.hits["/get"] == 4

    for status in (500, 502, 503, 504):
        scripted.reset_state()
        scripted.script("/rest/api/3/issue", [(status, {"Retry-After": "0"}, {"errorMessages": ["boom"]})])
        r = session().post(scripted.base_url + "/rest/api/3/issue", json={"fields": {}})
        assert r.status_code == status
        assert scripted.hits["/rest/api/3/issue"] == 1, f"POST was repeated after {status}"


def test_post_retried_on_429(scripted):
    scripted.script("/rest/api/3/issue", [(429, {"Retry-After": "0"}, {})])
    r = session().post(scripted.base_url + "/rest/api/3/issue", json={"a": 1})
    assert r.status_code == 200
    assert scripted.hits["/rest/api/3/issue"] == 2
    assert [m for (m, *_rest) in scripted.requests] == ["POST", "POST"]
    assert scripted.requests[1][3] == b'{"a": 1}'


def test_read_only_post_paths_get_idempotent_rules(scripted):
    s = session(base_url=scripted.base_url, read_only_post_paths=["/rest/api/3/search/jql"])
    scripted.script("/rest/api/3/search/jql", [(503, {}, {}), "reset"])
    assert s.post(scripted.base_url + "/rest/api/3/search/jql", json={}).status_code == 200
    assert scripted.hits["/rest/api/3/search/jql"] == 3
    scripted.script("/rest/api/3/issue", [(503, {}, {})])
    assert s.post(scripted.base_url + "/rest/api/3/issue", json={}).status_code == 503


def test_idempotent_methods_choose_what_is_repeated_after_a_503(scripted):
    scripted.script("/put", [(503, {}, {})])
    assert session().put(scripted.base_url + "/put", json={}).status_code == 200
    assert scripted.hits["/put"] == 2
    careful = session(idempotent_methods=IDEMPOTENT_METHODS - {"PUT"})
    scripted.script("/put2", [(503, {}, {})])
    assert careful.put(scripted.base_url + "/put2", json={}).status_code == 503
    assert scripted.hits["/put2"] == 1, "PUT was repeated although it is not idempotent here"
    scripted.script("/get", [(503, {}, {})])
    assert careful.get(scripted.base_url + "/get").status_code == 200


def test_a_write_is_resent_after_its_wait_only_while_the_installed_check_lets_it(scripted, caplog):
    """A writer holding a lock (the ESM template's) checks it before each resend: the check
    rides along on every retry urllib3 makes (Retry.new), reads do not ask it, and it is
    gone after the block."""
    caplog.set_level(logging.INFO, logger=LOG.name)
    s = session()
    asked: list[str] = []

    def check() -> None:
        asked.append("asked")
        if len(asked) >= 2:
            raise RuntimeError("the write lock is gone")

    scripted.script("/put", [(429, {"Retry-After": "0"}, {})] * 3)
    scripted.script("/get", [(429, {"Retry-After": "0"}, {})])
    with resends_checked([s], check):
        with pytest.raises(RuntimeError, match="the write lock is gone"):
            s.put(scripted.base_url + "/put", json={})
        assert scripted.hits["/put"] == 2  # resent once; after the second wait the check stopped it
        assert s.get(scripted.base_url + "/get").status_code == 200 and len(asked) == 2
    assert ("Jira answered 429 Too Many Requests for PUT /put; not sent again after the wait (retry 2 of 6): "
            "the write lock is gone") in retry_lines(caplog)
    scripted.script("/put2", [(429, {"Retry-After": "0"}, {})])
    assert s.put(scripted.base_url + "/put2", json={}).status_code == 200 and len(asked) == 2


def test_connection_reset_get_retried_post_not(scripted, caplog):
    caplog.set_level(logging.INFO, logger=LOG.name)
    scripted.script("/r", ["reset"])
    assert session().get(scripted.base_url + "/r").status_code == 200
    assert scripted.hits["/r"] == 2
    assert "Jira request GET /r failed: the connection" in caplog.text

    scripted.script("/p", ["reset"])
    with pytest.raises(requests.ConnectionError) as info:
        session().post(scripted.base_url + "/p", json={})
    assert scripted.hits["/p"] == 1
    err = error_for_exception(info.value, service="Jira", url=scripted.base_url + "/p", method="POST")
    assert isinstance(err, ServiceUnavailableError)
    assert "dropped the connection" in str(err) and "not repeated automatically" in str(err)


def test_tls_session_cut_is_retried_as_a_reset_not_reported_as_a_tls_failure(tls_cutting, caplog):
    """A connection closed in the middle of TLS (ssl.SSLEOFError; a server resetting a request
    while its body was still going out looked like this under load in CI) is a dropped
    connection: retried like a reset, never the permanent "TLS handshake failed"."""
    caplog.set_level(logging.INFO, logger=LOG.name)
    server = tls_cutting(cuts=1)
    assert session(verify=server.ca_pem).get(server.url("/a")).status_code == 200
    assert (server.connections, server.served) == (2, 1)
    assert "Jira request GET /a failed: the connection closed without an answer" in caplog.text


def test_tls_session_cut_on_post_is_not_repeated_and_says_so(tls_cutting):
    server = tls_cutting(cuts=1)
    with pytest.raises(requests.ConnectionError) as info:
        session(verify=server.ca_pem).post(server.url("/p"), json={})
    assert server.connections == 1, "a POST that may have taken effect was repeated"
    err = error_for_exception(info.value, service="Jira", url=server.url("/p"), method="POST")
    assert isinstance(err, ServiceUnavailableError)
    assert "cut in the middle of TLS" in str(err) and "not repeated automatically" in str(err)


def test_tls_session_cut_every_time_gives_up_after_the_read_retries(tls_cutting):
    server = tls_cutting(cuts=100)
    url = server.url("/always")
    with pytest.raises(requests.ConnectionError) as info:
        session(verify=server.ca_pem).get(url)
    assert server.connections == 1 + FAST.read_retries
    err = error_for_exception(info.value, service="Jira", url=url)
    assert isinstance(err, ServiceUnavailableError) and "dropped the connection during GET /always" in str(err)


def test_untrusted_certificate_stays_a_tls_error_and_is_not_retried(tls_cutting, tmp_path):
    server = tls_cutting(cuts=0)
    other_ca = ensure_tls_material(tmp_path / "other-ca").ca_pem
    with pytest.raises(requests.exceptions.SSLError) as info:
        session(verify=other_ca).get(server.url("/x"))
    assert server.connections == 1
    err = error_for_exception(info.value, service="Jira", url=server.url("/x"))
    assert isinstance(err, TLSError) and "not trusted" in str(err)


def test_gives_up_and_returns_last_response(scripted, caplog):
    caplog.set_level(logging.INFO, logger=LOG.name)
    policy = FAST.with_(total=2)
    scripted.script("/x", [(429, {"Retry-After": "0"}, {"errorMessages": ["slow down"]})] * 5)
    r = session(policy).get(scripted.base_url + "/x")
    assert r.status_code == 429
    assert scripted.hits["/x"] == 3
    assert "giving up after 2 retries" in caplog.text
    err = error_for_response(r, service="Jira")
    assert "429" in str(err) and "slow down" in str(err)


def test_refused_connection_maps_to_wrong_host():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    url = f"http://127.0.0.1:{port}/rest/api/3/myself"
    with pytest.raises(requests.ConnectionError) as info:
        session(FAST.with_(connect_retries=1)).get(url)
    err = error_for_exception(info.value, service="Jira", url=url)
    assert isinstance(err, HostUnreachableError)
    assert "refused" in str(err) and f"127.0.0.1:{port}" in str(err)


def test_dns_failure_is_wrong_host_and_not_retried(caplog):
    caplog.set_level(logging.INFO, logger=LOG.name)
    url = "https://no-such-host.invalid/rest/api/3/myself"
    with pytest.raises(requests.ConnectionError) as info:
        session().get(url)
    err = error_for_exception(info.value, service="Jira", url=url)
    assert isinstance(err, HostUnreachableError)
    assert str(err).startswith("Wrong host") and "no-such-host.invalid" in str(err)
    assert retry_lines(caplog) == []


def test_error_messages_verbatim_and_typed(scripted):
    scripted.script("/e", [(400, {}, {"errorMessages": ["The value 'XYZ' does not exist for the field 'project'."], "errors": {"summary": "You must specify a summary of the issue."}})])
    r = session().get(scripted.base_url + "/e")
    err = error_for_response(r, service="Jira")
    assert isinstance(err, BadRequestError) and err.status == 400
    assert "The value 'XYZ' does not exist for the field 'project'." in str(err)
    assert "summary: You must specify a summary of the issue." in str(err)
    scripted.script("/a", [(401, {}, b"")])
    err = error_for_response(session().get(scripted.base_url + "/a"), service="Jira")
    assert isinstance(err, AuthenticationError) and "bad credentials" in str(err)


def test_validate_base_url():
    assert validate_base_url("https://x.atlassian.net/", allow_insecure_http=False) == "https://x.atlassian.net"
    assert validate_base_url("HTTPS://X.example:8443/rest-api/itsm/v1/", allow_insecure_http=False) == "https://x.example:8443/rest-api/itsm/v1"
    with pytest.raises(InsecureURLError, match="Refusing plain http"):
        validate_base_url("http://localhost:1234", allow_insecure_http=False, service="Jira")
    assert validate_base_url("http://localhost:1234", allow_insecure_http=True) == "http://localhost:1234"
    with pytest.raises(InsecureURLError, match="must not contain a user name or password") as info:
        validate_base_url("https://me:hunter2@x.atlassian.net", allow_insecure_http=False)
    assert "hunter2" not in str(info.value)
    for bad in ("", "x.atlassian.net", "ftp://x", "https://x/?token=1"):
        with pytest.raises(InsecureURLError):
            validate_base_url(bad, allow_insecure_http=False)


def test_redact():
    text = (
        "Authorization: Basic ZGVtb0BleGFtcGxlLmNvbTpkZW1vLXRva2Vu password=hunter2 "
        '{"api_token": "tok-123456"} https://u:p4ss@host/x Bearer eyJhbGciOi.eyJzdWIiOiJ4In0.c2lnbmF0dXJl'
    )
    out = redact(text, secrets=["s3cr3t-value"])
    for secret in ("ZGVtb0Bl", "hunter2", "tok-123456", "p4ss", "eyJhbGciOi"):
        assert secret not in out
    assert redact("token is s3cr3t-value!", secrets=["s3cr3t-value"]) == "token is ***!"


def test_policy_backoff_is_capped_with_jitter():
    p = RetryPolicy(backoff_base=1, backoff_cap=10, jitter=0.3)
    assert 0.7 <= p.backoff(1) <= 1.3
    assert 2.8 <= p.backoff(3) <= 5.2
    assert all(p.backoff(n) <= 10 for n in range(1, 20))
    with pytest.raises(ValueError):
        RetryPolicy(jitter=2)
    r = LoggingRetry.from_policy(p, service_name="ESM")
    assert r.is_retry("GET", 503) and r.is_retry("POST", 429)
    assert not r.is_retry("POST", 503) and not r.is_retry("GET", 404)
    assert r.new().service_name == "ESM"


def test_refusals_with_retry_after_are_retried_for_non_idempotent_methods_only_with_the_header():
    plain = LoggingRetry.from_policy(RetryPolicy(), idempotent_methods=frozenset({"GET"}))
    assert not plain.is_retry("PUT", 503, True)  # by default a 503 may have been processed
    r = LoggingRetry.from_policy(RetryPolicy(refusals_with_retry_after={503}), idempotent_methods=frozenset({"GET"}))
    assert r.is_retry("PUT", 503, True) and r.is_retry("POST", 503, True)
    assert not r.is_retry("PUT", 503, False)  # without Retry-After: maybe half done, never repeated
    assert not r.is_retry("PUT", 500, True) and not r.is_retry("PUT", 502, True)
    assert r.is_retry("PUT", 429) and r.is_retry("GET", 503)


def test_connection_ca_bundle_beats_requests_ca_bundle_env(monkeypatch, tmp_path):
    ca = tmp_path / "ca.pem"
    ca.write_text("-----BEGIN CERTIFICATE-----\n")
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", "/etc/ssl/certs/ca-certificates.crt")
    s = build_session(user_agent="t", verify=str(ca), retry=FAST, logger=LOG, service_name="Jira")
    assert s.merge_environment_settings("https://x.example/", {}, None, None, None)["verify"] == str(ca)
    s = build_session(user_agent="t", verify=False, retry=FAST, logger=LOG, service_name="Jira")
    assert s.merge_environment_settings("https://x.example/", {}, None, None, None)["verify"] is False
    s = build_session(user_agent="t", verify=True, retry=FAST, logger=LOG, service_name="Jira")
    assert s.merge_environment_settings("https://x.example/", {}, None, None, None)["verify"] == "/etc/ssl/certs/ca-certificates.crt"
    with pytest.raises(Exception, match="does not exist"):
        build_session(user_agent="t", verify=str(tmp_path / "missing.pem"), retry=FAST, logger=LOG, service_name="Jira")


def test_auth_objects_and_errors_never_show_secrets(scripted):
    import pickle

    from jira_esm_connector.http import BasicAuth, BearerAuth, RateLimitedError

    s = session()
    s.auth = BasicAuth("ops@example.com", "tok-hidden-99")
    s.get(scripted.base_url + "/who")
    assert scripted.requests[-1][2]["Authorization"].startswith("Basic ")
    assert "tok-hidden-99" not in repr(s.auth) + repr(s)
    s.auth = BearerAuth("eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJkZW1vIn0.sig-hidden")
    s.get(scripted.base_url + "/who")
    assert scripted.requests[-1][2]["Authorization"] == "Bearer eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJkZW1vIn0.sig-hidden"
    assert "sig-hidden" not in repr(s.auth)
    err = pickle.loads(pickle.dumps(RateLimitedError("slow down", 429, "Jira", details=["x"])))
    assert isinstance(err, RateLimitedError) and err.status == 429 and err.details == ["x"] and str(err) == "slow down"


def test_429_without_retry_after_waits_for_x_ratelimit_reset(scripted, caplog):
    from datetime import datetime, timedelta, timezone

    caplog.set_level(logging.INFO, logger=LOG.name)
    reset = (datetime.now(timezone.utc) + timedelta(seconds=1.2)).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"
    scripted.script("/x", [(429, {"X-RateLimit-Reset": reset}, {})])
    started = time.monotonic()
    assert session().get(scripted.base_url + "/x").status_code == 200
    assert time.monotonic() - started >= 0.9
    assert "until X-RateLimit-Reset (retry 1 of 6)" in caplog.text
