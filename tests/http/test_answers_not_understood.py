"""Answers whose shape the clients must check before acting on them: an empty answer to a Jira
user read is not "no such user", and an ESM attribute read that is not a data card element is
not an empty worklog (the comment load would add every comment again)."""
from __future__ import annotations

import json
import time

import pytest

from jira_esm_connector.esm import EsmClient
from jira_esm_connector.events import delete_user
from jira_esm_connector.http import ConnectorHTTPError, RetryPolicy
from jira_esm_connector.jira.client import JiraClient
from jira_esm_connector.markers import EventRef
from jira_esm_connector.pipeline import run_import
from tests.badinput.fakeserver import Answer, FakeServer, js
from tests.fixtures.jira_proxy import ForwardingProxy
from tests.pipeline.conftest import ISSUES_TASK, comment_task, make_task
from tests.pipeline.helpers import by_attr, esm_cards, run_id

FAST = RetryPolicy(total=2, backoff_base=0.01, backoff_cap=0.05, jitter=0.2, max_retry_after=10.0,
                   connect_retries=1, read_retries=1)


# ---- GET /rest/api/3/user: an answer that is no user is taken for "no such user" ------------------------------

@pytest.fixture
def jira_via_proxy(jira_sim, proxy):
    jira_sim.reset()
    client = JiraClient(proxy.url, jira_sim.email, jira_sim.token, retry=FAST, allow_insecure_http=True)
    yield client
    client.close()


@pytest.mark.parametrize("check_first", [False, True], ids=["first-attempt", "resumed-attempt"])
def test_an_empty_answer_to_get_user_is_not_taken_for_a_missing_user(
    jira_via_proxy, jira_sim, proxy, close_accounts_after, check_first,
):
    """JiraClient.get_user hands Jira's answer back unchecked; an empty 200 body (or JSON null)
    becomes None, and the event operations read None as "Jira has no such user": a delete_user
    event for a live user is refused for good ("Jira has no user with the account id ..."), or,
    resumed (check_first), reports "nothing to delete" and succeeds while the user stays. Every
    other single-object read of the client (get_issue, project_key, ...) refuses such an answer
    with a typed error (a transient one: the next attempt usually gets a proper answer)."""
    email = f"http-answers-{time.time_ns()}@example.com"
    account_id = jira_via_proxy.create_user(email, ["jira-software"])["accountId"]
    close_accounts_after.append(account_id)
    proxy.rewrite_response("GET", "/rest/api/3/user", lambda body: b"")

    with pytest.raises(ConnectorHTTPError):
        outcome = delete_user(jira_via_proxy, EventRef("http_answers", f"evt-{time.time_ns()}"),
                              account_id=account_id, check_first=check_first)
        pytest.fail(f"the event ended as if the live user were gone: {outcome}")
    with pytest.raises(ConnectorHTTPError):
        user = jira_via_proxy.get_user(account_id)
        pytest.fail(f"an empty answer was handed back as the user: {user!r}")

    proxy.rewrite_response("GET", "/rest/api/3/user", None)
    assert jira_via_proxy.get_user(account_id)["active"] is True  # the user is live all along


# ---- ESM attribute read: an answer of another shape is "no values" -> worklog entries appended twice --------------

@pytest.mark.parametrize("body", [
    [{"value": "first entry\n\n[Jira comment 10001]"}],  # the values, but not in the promised object
    None,                                                # JSON null
    "worklog",                                           # a string
], ids=["bare-list", "null", "string"])
def test_esm_get_attribute_refuses_an_answer_that_is_not_a_data_card_element(body):
    """GET /dc/{template}/data/{id}/{attribute} answers a DataCardElement ({"type", "values": [...]},
    both required by the contract). EsmClient.get_attribute turns any other JSON into [] ("the
    attribute holds nothing") without a word, unlike every other read of the client."""
    root = "/rest-api/itsm/v1"
    with FakeServer() as srv:
        srv.route("POST", rf"{root}/users/login", lambda r: js({"token": "a.b.c"}))
        srv.route("GET", rf"{root}/dc/incident/data/5/worklog",
                  lambda r: Answer(200, json.dumps(body).encode(), "application/json"))
        client = EsmClient(srv.url + root, "tester", "pw-secret", retry=FAST, allow_insecure_http=True)
        try:
            with pytest.raises(ConnectorHTTPError):
                values = client.get_attribute("incident", "5", "worklog")
                pytest.fail(f"an answer of the wrong shape was read as the values {values!r}")
        finally:
            client.close()


def test_comment_load_does_not_append_comments_twice_when_the_worklog_read_is_not_understood(
    jira_sim, esm_sim, jira_clients, esm_clients, sqlite_state, tmp_path,
):
    """The comment load decides which comments a card's worklog already holds from
    EsmClient.get_attribute, then appends the others with POST (not idempotent). When the
    worklog read comes back in a shape the client does not understand (here: the very entries,
    as a bare list instead of {"values": [...]}), get_attribute says "empty" and the next run
    after a cache clear appends every comment again: each appears twice in ESM. Refused as a
    malformed answer, the run fails and a later one loads them once."""
    jira_sim.reset()
    esm_sim.reset()
    jira, esm = jira_clients(), esm_clients()
    key = jira_sim.admin("POST", "issues", json={
        "project": "SUP", "summary": "worklog twice",
        "comments": [{"body": "first comment"}, {"body": "second comment"}],
    }).json()["key"]
    staging = tmp_path / "staging"
    staging.mkdir()
    run_import(make_task(ISSUES_TASK, name="twice_issues", jql=f"key = {key}"), jira, esm, sqlite_state, staging,
               run_id(1))
    comments = comment_task("twice_comments", f"key = {key}")
    assert run_import(comments, jira, esm, sqlite_state, staging, run_id(1))["created"] == 2
    card = by_attr(esm_cards(esm, "incident"), "jira_key")[key]
    assert len(esm.get_attribute("incident", card.data_card_id, "worklog")) == 2

    proxy = ForwardingProxy(esm_sim.root_url, esm_sim.ca_pem)
    worklog_path = f"/rest-api/itsm/v1/dc/incident/data/{card.data_card_id}/worklog"
    proxy.rewrite_response("GET", worklog_path, lambda raw: json.dumps(json.loads(raw)["values"]).encode())
    proxied = EsmClient(proxy.url + "/rest-api/itsm/v1", esm_sim.username, esm_sim.password, retry=FAST,
                        allow_insecure_http=True)
    try:
        try:
            run_import(comments, jira, proxied, sqlite_state, staging, run_id(2), clear_cache=True)
        except ConnectorHTTPError:
            pass  # refusing the answer is fine; appending twice is not
        assert proxy.count("GET", worklog_path) >= 1, "the worklog was not read through the proxy"
    finally:
        proxied.close()
        proxy.close()

    texts = [e.get("value") or "" for e in esm.get_attribute("incident", card.data_card_id, "worklog")]
    assert len(texts) == 2, f"comments appended twice to the ESM worklog: {texts}"
