"""A credential a gateway echoes in a plain-text error body is never shown, wherever the body
is cut for the error message."""
from __future__ import annotations

import pytest

def test_a_token_echoed_across_the_300_character_cut_of_a_text_error_body_is_not_shown(caplog):
    """A proxy / gateway answering in plain text may echo the credential it refused. The
    connector keeps the first 300 characters of such a body (http/session.py:
    service_messages, ``snippet[:300]``) and only then removes the known token (redact): a
    token straddling the cut is no longer found verbatim, so all of it but its tail is shown."""
    from jira_esm_connector.http import RetryPolicy
    from jira_esm_connector.jira import JiraClient
    from tests.badinput.fakeserver import Answer, FakeServer

    token = "ATATT3xFfGF0" + "q8Zr7Lk2Vw9Hn4Ys6Tb1Mc5Xd0Je3PgU7sK2mR9vB4nC8xL1hQ6wE3tY5jA0fD" + "=9F3C2A1B"
    preamble = ("Gateway refused the request (policy AUTH-7, upstream jira-cloud, region eu-west-1, "
                "trace 7f3c9a2e-55d1-4c1b-9e0a-2b6f8d4e1a90, client 10.20.30.40, route /rest/api/3/field, "
                "rule deny-unknown-credential); the credential it carried was ")
    body = preamble + token + " and it is not valid for this site."
    assert len(preamble) < 300 < len(preamble) + len(token)
    no_retry = RetryPolicy(total=0, connect_retries=0, read_retries=0, backoff_base=0, backoff_cap=0, jitter=0)
    with FakeServer() as srv:
        srv.route("GET", r"/rest/api/3/field", Answer(400, body, "text/plain"))
        jira = JiraClient(srv.url, "svc@example.com", token, allow_insecure_http=True, retry=no_retry)
        try:
            with pytest.raises(Exception) as err:
                jira.fields()
        finally:
            jira.close()
    shown = f"{err.value} {err.value!r} {getattr(err.value, 'details', '')}"
    secret_part = token[12:60]  # beyond Atlassian's common "ATATT3xFfGF0" prefix
    assert secret_part not in shown, shown
    assert secret_part not in caplog.text
