"""Imports under HTTP faults of Jira and ESM: 429 storms with Retry-After, 5xx bursts,
connection resets and read timeouts in the middle of a listing or of a bulk load, ESM
logins expiring, ESM refusing cards, ESM going away and coming back."""
from __future__ import annotations

import pytest

from jira_esm_connector.esm import EsmClient
from tests.fixtures.jira_proxy import ForwardingProxy

from .check import check_import, esm_cards_by_key, jira_issues
from .harness import (
    FAST_RETRY,
    GROUPS_FULL,
    ISSUES_FULL,
    ISSUES_INCREMENTAL,
    PAGE,
    USERS_FULL,
    after_pages,
    before_put,
    import_until_done,
    later,
    make_task,
    touch_every_issue,
)

SEARCH = "/rest/api/3/search/jql"


def test_jira_429_storm_with_retry_after(env, report):
    users, issues = make_task(USERS_FULL), make_task(ISSUES_FULL)
    env.jira_sim.admin("PUT", "config", json={"rate_limit_per_second": 6})
    for path in (SEARCH, "/rest/api/3/users/search"):
        env.jira_sim.admin("POST", "faults", json={"type": "status", "status": 429, "retry_after": 1, "count": 2, "path": path})
    runs = import_until_done(env, users).runs + import_until_done(env, issues).runs
    assert env.jira_sim.stats()["responses"][f"POST {SEARCH}"].get("429", 0) >= 2
    env.calm()
    esm = env.esm()
    report("Jira 429 storm (Retry-After, rate limit 6/s)", runs, check_import(users, env.jira_sim, esm).add(check_import(issues, env.jira_sim, esm)))


def test_esm_429_storm_with_retry_after(env, report):
    issues = make_task(ISSUES_FULL)
    env.esm_sim.admin("POST", "ratelimit", {"per_second": 4})
    runs = import_until_done(env, issues).runs
    assert env.esm_sim.admin("GET", "stats")["requests"].get("rate limited", 0) > 0
    env.calm()
    report("ESM 429 storm (Retry-After, rate limit 4/s)", runs, check_import(issues, env.jira_sim, env.esm()))


@pytest.mark.parametrize("fault", ["500", "503", "reset", "read-timeout"])
def test_jira_fault_mid_search_pages(env, report, fault):
    """A full import whose JQL listing breaks after page 3; the retried run converges and
    the broken run marks nothing removed."""
    task = make_task(ISSUES_FULL)
    import_until_done(env, task, attempts=1)  # cards exist: a broken listing must not mark any removed
    first_key = min(jira_issues(env.jira_sim, task.jql), key=lambda k: int(k.split("-")[1]))
    env.jira_sim.admin("PATCH", f"issues/{first_key}", json={"summary": "changed before the faulted run"})
    # more faults in a row than the client retries (6 in all, 2 after a reset or timeout):
    # the listing really fails half-way and the run is retried
    spec = {"500": {"type": "status", "status": 500, "count": 8},
            "503": {"type": "status", "status": 503, "count": 8},
            "reset": {"type": "reset", "count": 4},
            "read-timeout": {"type": "slow", "delay_ms": 1500, "count": 3}}[fault]
    jira = env.jira(timeout=(5, 1.0))
    # the ids listing asks for 5,000 per page: a server cap keeps it several pages long
    env.jira_sim.admin("PUT", "config", json={"max_results_cap": PAGE})
    after_pages(jira, 3, lambda: env.jira_sim.admin("POST", "faults", json={**spec, "path": SEARCH, "method": "POST"}))
    attempts = import_until_done(env, task, jira=jira, delay=0.5)
    env.calm()
    report(f"Jira {fault} mid search pages", 1 + attempts.runs, check_import(task, env.jira_sim, env.esm()))
    assert attempts.errors, "the faulted listing did not fail"


def test_jira_fault_mid_parallel_bulk_fetches(env, report):
    """A full import whose parallel bulk fetches fail after the ids listing (more 500s than
    the retries of every request in flight): the run fails, marks nothing removed, and the
    next run converges."""
    task = make_task(ISSUES_FULL)
    import_until_done(env, task, attempts=1)  # cards exist: a broken fetch must not mark any removed
    touch_every_issue(env, task)  # the faulted run must read them all (unchanged ones it would carry)
    env.jira_sim.admin("POST", "faults", json={"type": "status", "status": 500, "count": 200,
                                               "path": "/rest/api/3/issue/bulkfetch", "method": "POST"})
    attempts = import_until_done(env, task, attempts=3, before_retry=lambda: env.jira_sim.admin("DELETE", "faults"))
    assert attempts.errors and env.jira_sim.stats()["responses"]["POST /rest/api/3/issue/bulkfetch"].get("500")
    env.calm()
    report("Jira 500s on parallel bulk fetches", 1 + attempts.runs, check_import(task, env.jira_sim, env.esm()))


@pytest.mark.parametrize("fault", ["500", "503", "reset", "read-timeout"])
def test_esm_fault_mid_bulk_put(env, report, fault):
    """The load breaks at the second bulk chunk: a 500 or a reset instead of the PUT, or
    ESM too slow to answer within the client's read timeout. A 503 with Retry-After (ESM
    turned the PUT away unprocessed) is waited out and the PUT sent again, in the same run."""
    task = make_task(ISSUES_INCREMENTAL)
    esm = env.esm(timeout=(5, 1.5))

    def arm():
        if fault in ("500", "503"):
            env.esm_sim.admin("POST", "errors", {"status": int(fault), "count": 1, "path_contains": "/dc/incident/data"})
        elif fault == "reset":
            env.esm_sim.admin("POST", "resets", {"count": 1, "path_contains": "/dc/incident/data"})
        else:  # every request takes 2 s for the next 3 s
            env.esm_sim.admin("POST", "latency", {"seconds": 2.0})
            later(3.0, lambda: env.esm_sim.admin("POST", "latency", {"seconds": 0}))

    hook = before_put(esm, 2, arm)
    # a retry starts after the ESM side settled (Airflow's retry_delay is minutes)
    runs = import_until_done(env, task, esm=esm, delay=3.5 if fault == "read-timeout" else 0.5).runs
    if fault == "503":
        assert hook.fired and runs == 1  # refused before processing: repeated after Retry-After
    else:
        assert hook.fired and runs > 1  # the PUT failed: the load step failed and was retried
    env.calm()
    report(f"ESM {fault} mid bulk PUT", runs, check_import(task, env.jira_sim, env.esm()))


@pytest.mark.parametrize("kind", ["502", "reset"])
def test_esm_answer_lost_after_bulk_put(env, report, kind):
    """ESM saved the second chunk, but its answer never arrives (a gateway 502 or a reset
    after ESM acted): the ambiguous case. The retry must find those cards by key."""
    proxy = ForwardingProxy(env.esm_sim.root_url, env.esm_sim.ca_pem)
    try:
        task = make_task(ISSUES_FULL)
        esm = EsmClient(proxy.url + "/rest-api/itsm/v1", env.esm_sim.username, env.esm_sim.password,
                        retry=FAST_RETRY, allow_insecure_http=True)
        env._clients.append(esm)
        put = "/rest-api/itsm/v1/dc/incident/data"
        hook = before_put(esm, 2, lambda: proxy.fail_after("PUT", put, kind=kind))
        runs = import_until_done(env, task, esm=esm).runs
        assert hook.fired and runs > 1 and proxy.count("PUT", put) >= 3
    finally:
        proxy.close()
    env.calm()
    report(f"ESM answer lost after bulk PUT ({kind})", runs, check_import(task, env.jira_sim, env.esm()))


def test_esm_login_expires_mid_load(env, report):
    task = make_task(ISSUES_FULL)
    esm = env.esm()
    hook = before_put(esm, 2, lambda: env.esm_sim.admin("POST", "tokens/expire"))
    runs = import_until_done(env, task, esm=esm, attempts=1).runs
    assert hook.fired
    env.calm()
    report("ESM login expired mid load", runs, check_import(task, env.jira_sim, env.esm()))


def test_esm_refuses_some_cards_then_takes_them(env, report):
    """ESM refuses cards with an unknown static value (``priority`` is taken from Jira's
    environment field; the seed's environments map to no priority). The refused records are reported, not cached, and the next
    run after the fix in Jira loads them."""
    bad = "P1 (no such ESM priority)"
    priority = {"from": "fields.environment", "transform": "adf_to_text", "map": {bad: bad, "2 - High": "2 - High"}, "default": None}
    base = dict(ISSUES_INCREMENTAL, attributes={**ISSUES_INCREMENTAL["attributes"], "priority": priority})
    task = make_task(base)
    refused_keys = sorted(jira_issues(env.jira_sim, task.jql), key=lambda k: int(k.split("-")[1]))[:3]
    for key in refused_keys:
        env.jira_sim.admin("PATCH", f"issues/{key}", json={"environment": bad})
    jira, esm, state = env.jira(), env.esm(), env.state()
    first = import_until_done(env, task, jira=jira, esm=esm, state=state, attempts=1).last
    assert first["refused"] == len(refused_keys), first
    assert not state.get_fingerprints(task.name, refused_keys)  # not cached: tried again
    for key in refused_keys:  # the operator fixes the data in Jira
        env.jira_sim.admin("PATCH", f"issues/{key}", json={"environment": "2 - High"})
    runs = 1 + import_until_done(env, task, jira=jira, esm=esm, state=state).runs
    env.calm()
    counts = check_import(task, env.jira_sim, env.esm())
    cards = esm_cards_by_key(env.esm(), "incident", "jira_key")
    assert [cards[k][0].value("priority") for k in refused_keys if cards.get(k)] == ["2 - High"] * 3
    report("ESM refuses cards (unknown static value), fixed", runs, counts)


def test_esm_unreachable_mid_load_then_back(env, report):
    """ESM stops after the first bulk chunk and comes back (same database, same port)."""
    task = make_task(ISSUES_FULL)
    esm = env.esm(retry=FAST_RETRY.with_(connect_retries=1))

    def stop_and_restart_later():
        env.esm_sim.stop()
        later(1.0, env.esm_sim.start)

    hook = before_put(esm, 2, stop_and_restart_later)
    runs = import_until_done(env, task, esm=esm, attempts=6, delay=1.0).runs
    assert hook.fired and runs > 1
    env.calm()
    report("ESM unreachable mid load (restart)", runs, check_import(task, env.jira_sim, env.esm()))


def test_group_import_with_members_under_resets(env, report):
    users, groups = make_task(USERS_FULL), make_task(GROUPS_FULL)
    import_until_done(env, users, attempts=1)
    jira = env.jira()
    after_pages(jira, 2, lambda: env.jira_sim.admin("POST", "faults", json={"type": "reset", "count": 2, "path": "/rest/api/3/group"}))
    runs = import_until_done(env, groups, jira=jira).runs
    env.calm()
    report("Jira resets mid group/member listing", runs, check_import(groups, env.jira_sim, env.esm()))
