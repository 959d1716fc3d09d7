"""Auth, removed endpoints, error shapes, and the operational knobs (rate limit, faults, stats)."""
from __future__ import annotations

import time

import pytest
import requests


@pytest.fixture
def sim(jira_sim_fresh):
    return jira_sim_fresh


def test_bad_credentials_are_401(sim, validate_error):
    url = sim.base_url + "/rest/api/3/myself"
    validate_error(sim.session(token="wrong-token").get(url), 401)
    validate_error(sim.session(email="nobody@example.com").get(url), 401)
    validate_error(requests.get(url, verify=sim.ca_pem), 401)  # no credentials at all
    validate_error(requests.get(url, verify=sim.ca_pem, headers={"Authorization": "Bearer abc"}), 401)
    # serverInfo can be read anonymously, like on Jira Cloud
    assert requests.get(sim.base_url + "/rest/api/3/serverInfo", verify=sim.ca_pem).status_code == 200


@pytest.mark.parametrize("method", ["GET", "POST"])
@pytest.mark.parametrize("version", ["2", "3"])
def test_removed_search_is_410(sim, validate_error, method, version):
    resp = sim.session().request(method, f"{sim.base_url}/rest/api/{version}/search", params={"jql": "project = SUP"})
    body = validate_error(resp, 410)
    assert "/search/jql" in body["errorMessages"][0] and "CHANGE-2046" in body["errorMessages"][0]


def test_not_found_and_validation_errors(sim, validate_error):
    s = sim.session()
    base = sim.base_url + "/rest/api/3"
    validate_error(s.get(base + "/issue/NOPE-1"), 404)
    validate_error(s.get(base + "/issue/SUP-1/properties/none"), 404)
    validate_error(s.get(base + "/user", params={"accountId": "no-such-account"}), 404)
    validate_error(s.get(base + "/group/member", params={"groupId": "no-such-group"}), 404)
    body = validate_error(s.post(base + "/issue", json={"fields": {"project": {"key": "SUP"}}}), 400)
    assert set(body["errors"]) == {"issuetype", "summary"}
    body = validate_error(s.post(base + "/issue", json={"fields": {
        "project": {"key": "SUP"}, "issuetype": {"name": "Bug"}, "summary": "x", "description": "plain text"}}), 400)
    assert "Atlassian Document" in body["errors"]["description"]
    body = validate_error(s.post(base + "/issue", json={"fields": {
        "project": {"key": "SUP"}, "issuetype": {"name": "Bug"}, "summary": "x", "customfield_99999": 1}}), 400)
    assert "customfield_99999" in body["errors"]
    body = validate_error(s.post(base + "/issue/SUP-1/transitions", json={"transition": {"id": "999"}}), 400)
    assert body["errorMessages"] == ["Transition id '999' is not valid for this issue."]
    validate_error(s.post(base + "/issue/SUP-1/comment", json={"body": "not adf"}), 400)
    validate_error(s.post(base + "/group", json={"name": "jira-software-users"}), 400)  # duplicate
    validate_error(s.get(base + "/search/jql", params={"jql": "project = SUP", "properties": "a,b,c,d,e,f"}), 400)
    validate_error(s.post(base + "/issue/bulkfetch", json={"issueIdsOrKeys": [str(i) for i in range(101)]}), 400)


def test_non_admin_gets_403(sim, validate_error):
    sim.admin("POST", "accounts", json={"email": "agent@example.com", "token": "agent-token", "admin": False})
    s = sim.session("agent@example.com", "agent-token")
    base = sim.base_url + "/rest/api/3"
    validate_error(s.post(base + "/group", json={"name": "not-allowed"}), 403)
    validate_error(s.post(base + "/user", json={"emailAddress": "x@example.com", "products": []}), 403)
    assert s.get(base + "/users/search").status_code == 200


def test_rate_limit_answers_429_with_headers(sim, validate_error):
    sim.admin("PUT", "config", json={"rate_limit_per_second": 3})
    s = sim.session()
    url = sim.base_url + "/rest/api/3/myself"
    # align to the start of a one-second window so the burst lands in one window
    time.sleep(1 - (time.time() % 1) + 0.02)
    responses = [s.get(url) for _ in range(5)]
    codes = [r.status_code for r in responses]
    assert codes[:3] == [200, 200, 200] and 429 in codes[3:], codes
    ok = responses[0]
    assert ok.headers["X-RateLimit-Limit"] == "3"
    limited = next(r for r in responses if r.status_code == 429)
    validate_error(limited, 429)
    assert int(limited.headers["Retry-After"]) >= 1
    assert limited.headers["X-RateLimit-Remaining"] == "0"
    assert limited.headers["X-RateLimit-Reset"].endswith("Z")
    time.sleep(int(limited.headers["Retry-After"]))
    assert s.get(url).status_code == 200
    # another account has its own budget
    sim.admin("PUT", "config", json={"rate_limit_per_second": 0})
    assert all(s.get(url).status_code == 200 for _ in range(6))


def test_injected_5xx_then_recovery(sim, validate_error):
    sim.admin("POST", "faults", json={"type": "status", "status": 503, "count": 2, "retry_after": 2, "path": "/rest/api/3/search/jql"})
    s = sim.session()
    url = sim.base_url + "/rest/api/3/search/jql"
    first = s.get(url, params={"jql": "project = SUP"})
    validate_error(first, 503)
    assert first.headers["Retry-After"] == "2"
    # faults are scoped to their path: other endpoints are unaffected
    assert s.get(sim.base_url + "/rest/api/3/myself").status_code == 200
    validate_error(s.get(url, params={"jql": "project = SUP"}), 503)
    assert s.get(url, params={"jql": "project = SUP"}).status_code == 200
    sim.admin("POST", "faults", json={"type": "status", "status": 500, "count": 1})
    validate_error(s.get(sim.base_url + "/rest/api/3/field"), 500)
    assert sim.admin("GET", "faults").json() == []


def test_connection_reset_and_slow_response(sim):
    sim.admin("POST", "faults", json={"type": "reset", "count": 1})
    s = sim.session()
    url = sim.base_url + "/rest/api/3/serverInfo"
    with pytest.raises(requests.ConnectionError):
        s.get(url)
    assert s.get(url).status_code == 200
    sim.admin("POST", "faults", json={"type": "slow", "count": 1, "delay_ms": 1200})
    with pytest.raises(requests.Timeout):
        s.get(url, timeout=0.5)
    started = time.monotonic()
    assert s.get(url, timeout=5).status_code == 200
    assert time.monotonic() - started < 1.0
    # the abandoned slow request is still being served: let it finish here, or it lands in
    # the next test's freshly reset statistics
    deadline = time.monotonic() + 10
    while sim.stats()["endpoints"].get("GET /rest/api/3/serverInfo", 0) < 4 and time.monotonic() < deadline:
        time.sleep(0.1)


def test_latency_knob(sim):
    sim.admin("PUT", "config", json={"latency_ms": 300})
    s = sim.session()
    started = time.monotonic()
    assert s.get(sim.base_url + "/rest/api/3/serverInfo").status_code == 200
    assert time.monotonic() - started >= 0.3
    assert sim.admin("GET", "config").json()["latency_ms"] == 300


def test_stats_count_calls_per_endpoint(sim):
    s = sim.session()
    for _ in range(3):
        s.get(sim.base_url + "/rest/api/3/search/jql", params={"jql": "project = SUP"})
    s.get(sim.base_url + "/rest/api/3/issue/SUP-1")
    s.get(sim.base_url + "/rest/api/3/issue/SUP-2")
    s.get(sim.base_url + "/rest/api/3/search")
    stats = sim.stats()
    assert stats["endpoints"]["GET /rest/api/3/search/jql"] == 3
    assert stats["endpoints"]["GET /rest/api/3/issue/{issueIdOrKey}"] == 2
    assert stats["responses"]["GET /rest/api/3/search"] == {"410": 1}
    assert stats["total"] == 6
    sim.admin("DELETE", "stats")
    assert sim.stats()["total"] == 0


def test_stats_keep_when_each_request_arrived_within_a_bound(sim):
    import time

    from devtools.jira_simulator.knobs import Stats

    sim.admin("DELETE", "stats")
    s = sim.session()
    before = time.time()
    for key in ("SUP-1", "SUP-2", "SUP-3"):
        s.get(sim.base_url + f"/rest/api/3/issue/{key}")
    after = time.time()
    sim.admin("GET", "stats")  # admin calls are neither counted nor timed
    got = sim.admin("GET", "stats/arrivals").json()
    assert got["dropped"] == 0 and len(got["arrivals"]) == 3
    assert 1 <= got["peak_per_second"] <= 3
    assert got["arrivals"] == sorted(got["arrivals"])
    assert all(before <= t <= after for t in got["arrivals"])
    assert sim.stats()["arrivals_kept"] == 3
    sim.admin("DELETE", "stats")
    assert sim.admin("GET", "stats/arrivals").json() == {"arrivals": [], "dropped": 0, "peak_per_second": 0}
    # the log is bounded: beyond the cap requests are still counted, their times dropped
    small = Stats(max_arrivals=2)
    for t in (3.0, 1.0, 2.0):
        small.record("GET /x", 200, arrived=t)
    assert small.arrival_times() == {"arrivals": [1.0, 3.0], "dropped": 1, "peak_per_second": 1}
    assert small.snapshot()["total"] == 3


def test_reset_restores_seed_and_keeps_run_time_accounts(sim):
    sim.admin("POST", "accounts", json={"email": "late@example.com", "token": "late-token", "timeZone": "UTC"})
    s = sim.session()
    s.put(sim.base_url + "/rest/api/3/issue/SUP-1", json={"fields": {"summary": "edited"}})
    sim.admin("PUT", "config", json={"latency_ms": 50, "rate_limit_per_second": 100, "max_results_cap": 5,
                                     "search_lag_seconds": 30, "bulkfetch_max": 100, "bulkfetch_silent": True,
                                     "bulkfetch_missing_errors": True, "project_search_empty_page": True,
                                     "users_listing_max": 7, "clock_offset_seconds": 600})
    sim.reset()
    assert s.get(sim.base_url + "/rest/api/3/issue/SUP-1").json()["fields"]["summary"] != "edited"
    assert sim.admin("GET", "config").json() == {"latency_ms": 0, "rate_limit_per_second": 0, "max_results_cap": 0,
                                                 "search_lag_seconds": 0.0, "bulkfetch_max": 0,
                                                 "bulkfetch_silent": False, "bulkfetch_missing_errors": False,
                                                 "project_search_empty_page": False, "users_listing_max": 0,
                                                 "clock_offset_seconds": 0.0, "faults": []}
    me = sim.session("late@example.com", "late-token").get(sim.base_url + "/rest/api/3/myself")
    assert me.status_code == 200 and me.json()["timeZone"] == "UTC"


def test_users_listing_max_ends_the_user_listing_early_with_an_empty_page(sim):
    """A user listing that stops early looks complete: pages up to the limit, then an empty
    page -- the only end a bare-array listing has."""
    s = sim.session()
    url = sim.base_url + "/rest/api/3/users/search"
    everyone = s.get(url, params={"maxResults": 1000}).json()
    assert len(everyone) > 12
    assert sim.admin("PUT", "config", json={"users_listing_max": 12}).json()["users_listing_max"] == 12
    assert s.get(url, params={"maxResults": 1000}).json() == everyone[:12]
    assert s.get(url, params={"startAt": 10, "maxResults": 5}).json() == everyone[10:12]
    assert s.get(url, params={"startAt": 12}).json() == []
    assert s.get(sim.base_url + "/rest/api/3/users", params={"startAt": 12}).json() == []
    assert requests.put(sim.base_url + "/_admin/config", json={"users_listing_max": -1}, verify=sim.ca_pem).status_code == 400
    sim.admin("PUT", "config", json={"users_listing_max": 0})
    assert s.get(url, params={"maxResults": 1000}).json() == everyone


def test_clock_offset_moves_jiras_clock_and_its_stamps(sim):
    """Jira's clock set an hour ahead: serverTime and the ``updated`` stamp of an edit follow it,
    and so does a relative JQL date; back to 0, the clock went back an hour."""
    from datetime import datetime, timedelta, timezone

    s = sim.session()
    base = sim.base_url + "/rest/api/3"

    def server_time() -> datetime:
        return datetime.strptime(s.get(base + "/serverInfo").json()["serverTime"], "%Y-%m-%dT%H:%M:%S.%f%z")

    assert abs(server_time() - datetime.now(timezone.utc)) < timedelta(minutes=1)
    assert sim.admin("PUT", "config", json={"clock_offset_seconds": 3600}).json()["clock_offset_seconds"] == 3600
    assert timedelta(minutes=59) < server_time() - datetime.now(timezone.utc) < timedelta(minutes=61)
    s.put(base + "/issue/SUP-2", json={"fields": {"summary": "edited an hour ahead"}}).raise_for_status()
    ahead = s.post(base + "/search/jql", json={"jql": "updated > '-30m'", "fields": ["updated"]}).json()["issues"]
    assert [i["id"] for i in ahead] == [s.get(base + "/issue/SUP-2").json()["id"]]
    sim.admin("PUT", "config", json={"clock_offset_seconds": 0})
    assert abs(server_time() - datetime.now(timezone.utc)) < timedelta(minutes=1)
    assert requests.put(sim.base_url + "/_admin/config", json={"clock_offset_seconds": "soon"},
                        verify=sim.ca_pem).status_code == 400


def test_max_results_cap_shortens_every_listing_page_silently(sim):
    """Atlassian lowers maxResults at will: with the knob set, every listing endpoint returns
    at most that many items per page, whatever the client asked, and says nothing about it."""
    cap = 2
    s = sim.session()
    base = sim.base_url + "/rest/api/3"
    big = next(g for g in s.get(base + "/group/bulk").json()["values"]
               if s.get(base + "/group/member", params={"groupId": g["groupId"]}).json()["total"] > cap)
    commented = "SUP-1"
    for n in range(cap + 1):
        s.post(base + f"/issue/{commented}/comment", json={"body": {"type": "doc", "version": 1, "content": [
            {"type": "paragraph", "content": [{"type": "text", "text": f"comment {n}"}]}]}}).raise_for_status()
    listings = {
        "search/jql": lambda: s.post(base + "/search/jql", json={"jql": "project = SUP", "maxResults": 50,
                                                                "fields": ["summary"]}).json()["issues"],
        "users/search": lambda: s.get(base + "/users/search", params={"maxResults": 20}).json(),
        "user/search": lambda: s.get(base + "/user/search", params={"query": "e", "maxResults": 20}).json(),
        "user/assignable/search": lambda: s.get(base + "/user/assignable/search",
                                                params={"project": "SUP", "maxResults": 20}).json(),
        "group/bulk": lambda: s.get(base + "/group/bulk", params={"maxResults": 20}).json()["values"],
        "group/member": lambda: s.get(base + "/group/member", params={"groupId": big["groupId"],
                                                                      "maxResults": 20}).json()["values"],
        "comment": lambda: s.get(base + f"/issue/{commented}/comment", params={"maxResults": 20}).json()["comments"],
        "project/search": lambda: s.get(base + "/project/search", params={"maxResults": 20}).json()["values"],
    }
    uncapped = {name: len(fetch()) for name, fetch in listings.items()}
    assert all(n > cap for n in uncapped.values()), uncapped
    everyone = [u["accountId"] for u in s.get(base + "/users/search", params={"maxResults": 1000}).json()]

    assert sim.admin("PUT", "config", json={"max_results_cap": cap}).json()["max_results_cap"] == cap
    capped = {name: len(fetch()) for name, fetch in listings.items()}
    assert capped == {name: cap for name in listings}
    # paging on from where each short page ended loses nothing: the pages are only smaller
    paged: list[str] = []
    while page := s.get(base + "/users/search", params={"startAt": len(paged), "maxResults": 20}).json():
        paged += [u["accountId"] for u in page]
    assert paged == everyone

    sim.admin("PUT", "config", json={"max_results_cap": 0})
    assert {name: len(fetch()) for name, fetch in listings.items()} == uncapped


def _label_hits(s, base, label):
    jql = f'labels = "{label}"'
    got = s.get(base + "/search/jql", params={"jql": jql, "fields": "summary"}).json()["issues"]
    posted = s.post(base + "/search/jql", json={"jql": jql, "fields": ["summary"]}).json()["issues"]
    count = s.post(base + "/search/approximate-count", json={"jql": jql}).json()["count"]
    assert [i["key"] for i in got] == [i["key"] for i in posted] and len(got) == count
    return [i["key"] for i in got]


def test_search_lag_hides_recent_writes_from_search_but_not_from_get_issue(sim):
    """Jira's search/jql is eventually consistent; GET issue/{key} is not."""
    lag = 1.5
    assert sim.admin("PUT", "config", json={"search_lag_seconds": lag}).json()["search_lag_seconds"] == lag
    s = sim.session()
    base = sim.base_url + "/rest/api/3"
    created = s.post(base + "/issue", json={"fields": {"project": {"key": "SUP"}, "issuetype": {"name": "Task"},
                                                      "summary": "fresh", "labels": ["lag-new"]}})
    assert created.status_code == 201
    key = created.json()["key"]
    started = time.monotonic()
    # an older issue changed now drops out of search until the index catches up too
    s.put(base + "/issue/SUP-2", json={"fields": {"labels": ["lag-changed"]}})
    assert _label_hits(s, base, "lag-new") == [] and _label_hits(s, base, "lag-changed") == []
    assert s.get(base + "/issue/" + key).json()["fields"]["labels"] == ["lag-new"]
    assert s.get(base + "/issue/SUP-2").json()["fields"]["labels"] == ["lag-changed"]
    assert time.monotonic() - started < lag  # the checks above ran inside the lag window
    time.sleep(lag + 0.3)
    assert _label_hits(s, base, "lag-new") == [key]
    assert _label_hits(s, base, "lag-changed") == ["SUP-2"]
    assert requests.put(sim.base_url + "/_admin/config", json={"search_lag_seconds": -1}, verify=sim.ca_pem).status_code == 400
    sim.reset()
    assert sim.admin("GET", "config").json()["search_lag_seconds"] == 0


def test_drop_after_fault_makes_the_change_then_drops_the_answer(sim):
    sim.admin("POST", "faults", json={"type": "drop_after", "count": 1, "path": "/rest/api/3/issue", "method": "POST"})
    s = sim.session()
    base = sim.base_url + "/rest/api/3"
    with pytest.raises(requests.ConnectionError):
        s.post(base + "/issue", json={"fields": {"project": {"key": "SUP"}, "issuetype": {"name": "Task"},
                                                "summary": "took effect", "labels": ["dropped-answer"]}})
    assert len(_label_hits(s, base, "dropped-answer")) == 1  # created, though the caller never heard
    assert sim.admin("GET", "faults").json() == []
    assert sim.stats()["responses"]["POST /rest/api/3/issue"] == {"dropped": 1}


def test_empty_fault_answers_a_page_without_its_items_but_with_its_total_and_is_last(sim):
    s = sim.session()
    base = sim.base_url + "/rest/api/3"
    group = next(g for g in s.get(base + "/group/bulk").json()["values"]
                 if s.get(base + "/group/member", params={"groupId": g["groupId"], "maxResults": 2}).json()["total"] > 2)
    page = s.get(base + "/group/member", params={"groupId": group["groupId"], "maxResults": 2}).json()
    assert page["isLast"] is False and len(page["values"]) == 2
    sim.admin("POST", "faults", json={"type": "empty", "count": 2, "path": "/rest/api/3/group/member"})

    empty = s.get(base + "/group/member", params={"groupId": group["groupId"], "maxResults": 2})
    assert empty.status_code == 200 and empty.headers["Content-Type"].startswith("application/json")
    assert empty.json() == {**page, "values": []}
    assert s.get(base + "/users/search").json()  # other paths answer as usual
    assert s.get(base + "/group/member", params={"groupId": group["groupId"], "maxResults": 2}).json()["values"] == []
    assert s.get(base + "/group/member", params={"groupId": group["groupId"], "maxResults": 2}).json() == page
