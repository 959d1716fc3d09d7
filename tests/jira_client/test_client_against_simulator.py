"""The Jira client against the real Jira simulator over HTTPS (tests/fixtures/jira_simulator.py)."""
from __future__ import annotations

import logging
import socket

import pytest

from jira_esm_connector.http import (
    AuthenticationError,
    BadRequestError,
    HostUnreachableError,
    InsecureURLError,
    NotFoundError,
    RetryPolicy,
    ServiceUnavailableError,
    TLSError,
)
from jira_esm_connector.jira import JiraClient, jql_quote

FAST = RetryPolicy(total=6, backoff_base=0.05, backoff_cap=0.3, jitter=0.2, max_retry_after=3.0)
LOG_NAME = "tests.jira_client.sim"


def make_client(jira_sim, **kw) -> JiraClient:
    args = dict(verify=str(jira_sim.ca_pem), retry=FAST, logger=logging.getLogger(LOG_NAME))
    args.update(kw)
    base_url = args.pop("base_url", jira_sim.base_url)
    email = args.pop("email", jira_sim.email)
    token = args.pop("api_token", jira_sim.token)
    return JiraClient(base_url, email, token, **args)


@pytest.fixture
def client(jira_sim):
    c = make_client(jira_sim)
    yield c
    c.close()


@pytest.fixture(autouse=True)
def _calm_simulator(jira_sim):
    reset_knobs(jira_sim)
    yield
    reset_knobs(jira_sim)


# -- simulator knobs (admin API of devtools/jira_simulator) ----------------------------------------

def reset_knobs(jira_sim) -> None:
    jira_sim.admin("PUT", "config", json={"latency_ms": 0, "rate_limit_per_second": 0, "max_results_cap": 0})
    jira_sim.admin("DELETE", "faults")


def set_knobs(jira_sim, **knobs) -> None:
    jira_sim.admin("PUT", "config", json=knobs)


def inject_fault(jira_sim, **fault) -> None:
    jira_sim.admin("POST", "faults", json=fault)


def retry_lines(caplog) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.name == LOG_NAME and "retry" in r.getMessage()]


# -- basics ---------------------------------------------------------------------------------------

def test_myself_and_server_info(client, jira_sim):
    me = client.myself()
    assert me["emailAddress"] == jira_sim.email and me["accountId"] and me["timeZone"]
    assert client.server_info()["deploymentType"] == "Cloud"
    ok, message = client.test_connection()
    assert ok and jira_sim.email in message


def test_fields_lists_system_fields(client):
    ids = {f["id"] for f in client.fields()}
    assert {"summary", "status", "description"} <= ids


# -- paging ---------------------------------------------------------------------------------------

@pytest.mark.parametrize("page_size", [1, 7, 100, 5000])
def test_search_returns_every_issue_exactly_once(client, page_size, caplog):
    caplog.set_level(logging.INFO, logger=LOG_NAME)
    jql = "project = OPS ORDER BY key"
    expected = client.approximate_count(jql)
    assert expected > 10
    if page_size == 1:
        jql = "project = OPS AND created >= -3650d ORDER BY key"  # same set, different text
    keys = [i["key"] for i in client.search(jql, fields=["summary", "status"], page_size=page_size)]
    assert len(keys) == len(set(keys)) == expected
    assert f"Running JQL on Jira" in caplog.text and jql in caplog.text
    assert "issues in" in caplog.text and "pages" in caplog.text or page_size >= expected


def test_search_pages_carry_numbers_and_fields(client):
    pages = list(client.iter_search_pages("project = SUP", fields=["summary"], page_size=50))
    assert pages[-1].is_last and all(not p.is_last for p in pages[:-1])
    assert [p.number for p in pages] == list(range(1, len(pages) + 1))
    issue = pages[0].issues[0]
    assert set(issue["fields"]) == {"summary"}


def test_search_default_fields_are_id_only(client):
    issue = next(client.search("project = SUP", page_size=5))
    assert "id" in issue and not issue.get("fields")


def test_bulk_fetch_and_get_issue(client):
    keys = [i["key"] for i in client.search("project = ENG", fields=["summary"], page_size=100)][:130]
    fetched = client.bulk_fetch(keys + ["ENG-999999"], fields=["summary"])
    assert sorted(i["key"] for i in fetched) == sorted(keys)
    one = client.get_issue(keys[0], fields=["summary", "status"])
    assert one["key"] == keys[0] and "summary" in one["fields"]


@pytest.mark.parametrize("empty_page", [False, True])
def test_live_project_keys_when_none_matches(client, jira_sim, empty_page):
    """project/search answers 404 when no project matches its ``keys`` (the contract; the
    project_search_empty_page knob answers an empty page, as a Jira might): either way none
    of the keys is live -- an incremental run whose projects all changed key goes on."""
    set_knobs(jira_sim, project_search_empty_page=empty_page)
    try:
        assert client.live_project_keys(["NOPE", "GONE"]) == set()
        assert client.live_project_keys(["NOPE", "SUP", "ENG"]) == {"SUP", "ENG"}
        # more than 50 keys: two requests, the first matching none
        assert client.live_project_keys([f"X{n}" for n in range(50)] + ["OPS"]) == {"OPS"}
    finally:
        set_knobs(jira_sim, project_search_empty_page=False)


@pytest.mark.parametrize("fields, sizes", [
    (["summary", "labels"], [100, 31]),  # labels is multi-value: 100 per request
    (["summary", "updated"], [131]),  # named single-value fields: up to 1,000 per request
])
def test_iter_bulk_fetch_batches_and_reports_keys_jira_no_longer_has(jira_clients, jira_sim, fields, sizes):
    client = jira_clients()  # a new client: the field metadata and the batch cap are per client
    keys = [i["key"] for i in client.search("project in (SUP, ENG, OPS)", fields=["summary"], page_size=100)][:130]
    assert len(keys) == 130
    jira_sim.admin("DELETE", "stats")
    batches = list(client.iter_bulk_fetch(keys[:70] + ["ENG-999999"] + keys[70:], fields=fields))
    assert [len(found) + len(missing) for found, missing in batches] == sizes
    assert sorted(i["key"] for found, _ in batches for i in found) == sorted(keys)
    assert [missing for _, missing in batches] == [["ENG-999999"], []][: len(sizes)]
    assert set(batches[0][0][0]["fields"]) == set(fields)
    # the key Jira left out of its answer (the contract's "not found") is asked again alone:
    # an empty answer to one key is no quiet cap
    assert jira_sim.stats()["endpoints"]["POST /rest/api/3/issue/bulkfetch"] == len(sizes) + 1


def test_keys_a_bulk_fetch_cannot_return_are_logged_in_one_line_per_request(client, caplog):
    keys = [i["key"] for i in client.search("project = SUP", fields=["summary"], page_size=100)][:10]
    gone = [f"SUP-{900000 + n}" for n in range(25)]
    with caplog.at_level("WARNING", logger="jira_esm_connector.jira"):
        batches = list(client.iter_bulk_fetch(keys + gone, fields=["summary", "labels"]))
    assert len(batches) == 1 and sorted(batches[0][1]) == sorted(gone)
    lines = [r.getMessage() for r in caplog.records if "could not return" in r.getMessage()]
    assert len(lines) == 1 and lines[0].startswith("Jira could not return 25 issue(s) of a bulk fetch")
    assert sum(k in lines[0] for k in gone) == 20 and lines[0].endswith(" ...")


def test_comments_users_groups_members_page_through_everything(client):
    issue = next(
        i for i in client.search("project = SUP ORDER BY key", fields=["comment"], page_size=100)
        if i["fields"].get("comment", {}).get("total", 0) >= 3
    )
    total = issue["fields"]["comment"]["total"]
    comments = list(client.iter_comments(issue["key"], page_size=2))
    assert len(comments) == total and len({c["id"] for c in comments}) == total

    users_1 = [u["accountId"] for u in client.iter_users(page_size=7)]
    users_2 = [u["accountId"] for u in client.iter_users(page_size=1000)]
    assert len(users_1) == len(set(users_1)) and set(users_1) == set(users_2)

    groups = list(client.iter_groups(page_size=3))
    assert len({g["groupId"] for g in groups}) == len(groups) >= 5
    big = groups[0]
    members = [m["accountId"] for m in client.iter_group_members(group_id=big["groupId"], page_size=7)]
    by_name = [m["accountId"] for m in client.iter_group_members(group_name=big["name"], page_size=50)]
    assert len(members) == len(set(members)) and set(members) == set(by_name) and len(members) > 7


# -- writes ---------------------------------------------------------------------------------------

def test_issue_lifecycle(client):
    created = client.create_issue(
        {"project": {"key": "SUP"}, "issuetype": {"name": "Task"}, "summary": "Printer on fire"},
        properties={"esm_connector": {"event_id": "inc-1"}},
    )
    key = created["key"]
    assert key.startswith("SUP-")
    assert client.get_issue_property(key, "esm_connector") == {"event_id": "inc-1"}
    assert client.get_issue_property(key, "nothing_here", missing_ok=True) is None
    client.set_issue_property(key, "other", {"n": 1})
    assert client.get_issue_property(key, "other") == {"n": 1}

    client.edit_issue(key, {"summary": "Printer still on fire"})
    assert client.get_issue(key, ["summary"])["fields"]["summary"] == "Printer still on fire"

    adf = {"type": "doc", "version": 1, "content": [{"type": "paragraph", "content": [{"type": "text", "text": "hi"}]}]}
    comment = client.add_comment(key, adf, properties={"esm_connector": {"origin": "esm"}})
    assert comment["id"]
    assert [c["id"] for c in client.iter_comments(key)] == [comment["id"]]

    transitions = client.get_transitions(key)
    assert transitions
    target = transitions[-1]
    client.transition_issue(key, target["id"], comment_adf=adf)
    assert client.get_issue(key, ["status"])["fields"]["status"]["name"] == target["to"]["name"]

    with pytest.raises(NotFoundError) as info:
        client.get_issue("SUP-9999999")
    assert "Issue does not exist" in str(info.value) or "does not exist" in str(info.value)


def test_create_issue_reports_jiras_messages_verbatim(client):
    with pytest.raises(BadRequestError) as info:
        client.create_issue({"project": {"key": "SUP"}, "issuetype": {"name": "Task"}})
    assert info.value.status == 400
    assert any("summary" in d for d in info.value.details)


def test_users_and_groups_lifecycle(client, close_accounts_after):
    user = client.create_user("new.person.7@example.com", ["jira-software"], display_name="New Person")
    account_id = user["accountId"]
    close_accounts_after.append(account_id)
    assert client.get_user(account_id)["emailAddress"] == "new.person.7@example.com"
    assert any(u["accountId"] == account_id for u in client.find_users("new.person.7"))

    group = client.create_group("esm-synced-team")
    assert client.find_group("esm-synced-team")["groupId"] == group["groupId"]
    client.add_user_to_group(account_id, group_id=group["groupId"])
    assert [m["accountId"] for m in client.iter_group_members(group_name="esm-synced-team")] == [account_id]
    client.remove_user_from_group(account_id, group_name="esm-synced-team")
    assert list(client.iter_group_members(group_id=group["groupId"])) == []
    client.delete_group(name="esm-synced-team")
    assert client.find_group("esm-synced-team") is None
    client.delete_user(account_id)
    # removed from the site, not from Atlassian: Jira still answers for it, inactive
    assert client.get_user(account_id)["active"] is False
    with pytest.raises(NotFoundError):
        client.delete_user(account_id)


def test_jql_quote_cannot_widen_a_query(client):
    all_sup = client.approximate_count("project = SUP")
    evil = 'nothing" OR project != "nothing'
    jql = f"project = SUP AND summary ~ {jql_quote(evil)}"
    assert client.approximate_count(jql) < all_sup


# -- retries --------------------------------------------------------------------------------------

def test_survives_a_429_storm_with_retries_logged(jira_sim, client, caplog):
    caplog.set_level(logging.INFO, logger=LOG_NAME)
    set_knobs(jira_sim, rate_limit_per_second=2)
    keys = [i["key"] for i in client.search("project = OPS", fields=["summary"], page_size=20)]
    assert len(keys) == client.approximate_count("project = OPS")
    lines = retry_lines(caplog)
    assert any("answered 429 Too Many Requests for POST /rest/api/3/search/jql" in l and "as Retry-After asks" in l for l in lines), lines
    assert jira_sim.token not in caplog.text


def test_survives_a_5xx_burst_with_retries_logged(jira_sim, client, caplog):
    caplog.set_level(logging.INFO, logger=LOG_NAME)
    inject_fault(jira_sim, type="status", status=503, count=2, path="/rest/api/3/search/jql")
    inject_fault(jira_sim, type="status", status=500, count=1, path="/rest/api/3/users/search")
    inject_fault(jira_sim, type="reset", count=1, path="/rest/api/3/group/bulk")
    assert len(list(client.search("project = SUP", page_size=100))) == client.approximate_count("project = SUP")
    assert list(client.iter_users())
    assert list(client.iter_groups())
    lines = retry_lines(caplog)
    assert sum("503 Service Unavailable for POST /rest/api/3/search/jql" in l for l in lines) == 2, lines
    assert any("500 Internal Server Error for GET /rest/api/3/users/search" in l for l in lines)
    assert any("GET /rest/api/3/group/bulk failed: the connection" in l for l in lines)


def test_create_is_never_repeated_after_a_5xx(jira_sim, client):
    before = client.approximate_count("project = SUP")
    inject_fault(jira_sim, type="status", status=502, count=1, path="/rest/api/3/issue", method="POST")
    with pytest.raises(ServiceUnavailableError) as info:
        client.create_issue({"project": {"key": "SUP"}, "issuetype": {"name": "Task"}, "summary": "once"})
    assert "502" in str(info.value)
    assert client.approximate_count("project = SUP") == before


def test_gives_up_plainly_when_jira_stays_down(jira_sim, caplog):
    caplog.set_level(logging.INFO, logger=LOG_NAME)
    c = make_client(jira_sim, retry=FAST.with_(total=2))
    inject_fault(jira_sim, type="status", status=503, count=10, path="/rest/api/3/myself")
    with pytest.raises(ServiceUnavailableError) as info:
        c.myself()
    assert "failed with 503 for GET /rest/api/3/myself" in str(info.value)
    assert "giving up after 2 retries" in caplog.text


# -- failures worded for an operator --------------------------------------------------------------

def test_bad_credentials(jira_sim, caplog):
    c = make_client(jira_sim, api_token="wrong-token-5c1e")
    with pytest.raises(AuthenticationError) as info:
        c.myself()
    assert "bad credentials" in str(info.value) and info.value.status == 401
    assert "wrong-token-5c1e" not in str(info.value) + repr(info.value) + caplog.text
    ok, message = c.test_connection()
    assert not ok and "bad credentials" in message


def test_a_401_without_a_recorded_expiry_names_an_expired_token_too(jira_sim):
    # API tokens live at most a year: an expired token is the likeliest cause of a 401 that
    # starts one day, recorded expiry or not (SPEC: 'token expired or revoked' on 401)
    c = make_client(jira_sim, api_token="expired-token-77d0")
    ok, message = c.test_connection()
    assert not ok and "bad credentials" in message and "expired or revoked" in message


def test_expired_token(jira_sim, caplog):
    caplog.set_level(logging.INFO, logger=LOG_NAME)
    c = make_client(jira_sim, api_token="revoked-token-9a8b", token_expires="2026-01-01")
    assert "expired on 2026-01-01" in caplog.text
    with pytest.raises(AuthenticationError) as info:
        c.myself()
    assert "API token expired or revoked (recorded expiry 2026-01-01)" in str(info.value)


def test_wrong_host_dns_and_refused_and_not_jira(jira_sim):
    c = make_client(jira_sim, base_url="https://jira.no-such-host.invalid")
    with pytest.raises(HostUnreachableError) as info:
        c.myself()
    assert str(info.value).startswith("Wrong host") and "jira.no-such-host.invalid" in str(info.value)

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    c = make_client(jira_sim, base_url=f"https://127.0.0.1:{port}", retry=FAST.with_(connect_retries=1))
    with pytest.raises(HostUnreachableError, match="refused the connection"):
        c.myself()

    c = make_client(jira_sim, base_url=jira_sim.base_url + "/not-jira")
    with pytest.raises(HostUnreachableError, match="Wrong host"):
        c.myself()
    ok, message = c.test_connection()
    assert not ok and "Wrong host" in message


def test_tls_failure_when_ca_not_trusted(jira_sim):
    c = make_client(jira_sim, verify=True)
    with pytest.raises(TLSError) as info:
        c.myself()
    assert "TLS failure" in str(info.value) and "not trusted" in str(info.value)
    assert jira_sim.token not in str(info.value)


def test_plain_http_refused_without_opt_in(jira_sim):
    http_url = jira_sim.base_url.replace("https://", "http://")
    with pytest.raises(InsecureURLError, match="Refusing plain http"):
        make_client(jira_sim, base_url=http_url)


def test_secrets_never_in_logs_or_errors(jira_sim, caplog):
    caplog.set_level(logging.DEBUG)
    c = make_client(jira_sim)
    set_knobs(jira_sim, rate_limit_per_second=2)
    inject_fault(jira_sim, type="status", status=503, count=1)
    list(c.search("project = ENG", fields=["summary"], page_size=30))
    assert "429 Too Many Requests" in caplog.text and "503 Service Unavailable" in caplog.text
    bad = make_client(jira_sim, api_token=jira_sim.token + "-x")
    with pytest.raises(AuthenticationError) as info:
        bad.myself()
    texts = caplog.text + str(info.value) + repr(info.value) + repr(c) + repr(c._session)
    assert jira_sim.token not in texts
    import base64

    basic = base64.b64encode(f"{jira_sim.email}:{jira_sim.token}".encode()).decode()
    assert basic not in texts


def test_read_timeout_is_plain_and_post_not_repeated(jira_sim, caplog):
    from jira_esm_connector.http import RequestTimeoutError

    caplog.set_level(logging.INFO, logger=LOG_NAME)
    c = make_client(jira_sim, timeout=(5, 0.4), retry=FAST.with_(read_retries=1))
    inject_fault(jira_sim, type="slow", delay_ms=1200, count=2, path="/rest/api/3/myself")
    with pytest.raises(RequestTimeoutError) as info:
        c.myself()
    assert "did not answer GET /rest/api/3/myself within the read timeout" in str(info.value)
    assert "GET /rest/api/3/myself failed: no answer within the read timeout" in caplog.text

    jira_sim.admin("DELETE", "stats")
    inject_fault(jira_sim, type="slow", delay_ms=1200, count=1, path="/rest/api/3/group", method="POST")
    with pytest.raises(RequestTimeoutError):
        c.create_group("slow-group-1")
    import time

    time.sleep(1.5)  # the simulator counts the request when its slow answer is done
    endpoints = jira_sim.stats()["endpoints"]
    assert endpoints.get("POST /rest/api/3/group", 0) == 1, endpoints


def test_listings_are_complete_when_jira_caps_the_page_size(client, jira_sim):
    """Jira returns fewer items per page than asked at will: a short page is not the end."""
    users = [u["accountId"] for u in client.iter_users(page_size=20)]
    groups = [g["groupId"] for g in client.iter_groups(page_size=20)]
    members = {g: [m["accountId"] for m in client.iter_group_members(group_id=g, page_size=20)] for g in groups}
    issues = [i["key"] for i in client.search("project = SUP", fields=["summary"], page_size=20)]
    comments = [c["id"] for c in client.iter_comments("SUP-1", page_size=20)]
    found = [u["accountId"] for u in client.find_users("e", page_size=20)]
    assert len(users) > 20 and len(issues) > 20 and any(len(m) > 3 for m in members.values())

    set_knobs(jira_sim, max_results_cap=3)
    assert [u["accountId"] for u in client.iter_users(page_size=20)] == users
    assert [g["groupId"] for g in client.iter_groups(page_size=20)] == groups
    assert {g: [m["accountId"] for m in client.iter_group_members(group_id=g, page_size=20)] for g in groups} == members
    assert [i["key"] for i in client.search("project = SUP", fields=["summary"], page_size=20)] == issues
    assert [c["id"] for c in client.iter_comments("SUP-1", page_size=20)] == comments
    assert [u["accountId"] for u in client.find_users("e", page_size=20)] == found



def test_an_account_whose_email_is_not_latin_1_signs_in():
    """Basic credentials go out as UTF-8 (RFC 7617): requests encodes text as latin-1, so an
    e-mail address with an internationalised domain raised UnicodeEncodeError on every request.
    (A scripted server: an account added to the shared simulator would outlive the test.)"""
    import base64

    from ..badinput.fakeserver import FakeServer, js

    email = "ops@\u4f8b\u3048.example.com"
    with FakeServer() as srv:
        srv.route("GET", r"/rest/api/3/myself", js({"accountId": "a1", "emailAddress": email}))
        with JiraClient(srv.url, email, "idn-token", allow_insecure_http=True) as client:
            assert client.myself()["emailAddress"] == email
    scheme, _, value = srv.requests[0].headers["Authorization"].partition(" ")
    assert (scheme, base64.b64decode(value).decode("utf-8")) == ("Basic", f"{email}:idn-token")
