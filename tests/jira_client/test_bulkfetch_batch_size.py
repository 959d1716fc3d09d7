"""The client's issue/bulkfetch batch size, against the real Jira simulator: 1,000 ids per
request when the mapping's fields are named and single-value by GET /field, else 100; a 400
to a larger batch, or an answer quietly short of issues, makes the client fall back to 100
for good and ask again for that batch's ids -- nothing lost, nothing twice. Issues Jira does
not have are left out of its answer, as the contract says (``bulkfetch_missing_errors``: in
issueErrors); the client calls them not found only once an answer no cap can have cut says so:
as many issues as asked, or empty to one id or to no more ids than an answer held."""
from __future__ import annotations

import logging
import re
from collections import Counter

import pytest

from jira_esm_connector.http import SiteLimiter
from jira_esm_connector.jira.client import JiraClient
from jira_esm_connector.pipeline import search_fields

from ..pipeline.conftest import ISSUES_TASK, make_task

BULK = "POST /rest/api/3/issue/bulkfetch"
LOG_NAME = "tests.jira_client.bulkfetch"
JQL = "project in (SUP, ENG, OPS)"
SINGLE_VALUE = ["created", "description", "status", "summary", "updated"]


@pytest.fixture
def sim(jira_sim_fresh):
    yield jira_sim_fresh
    # the simulator is shared by the session: tests that do not reset it must not meet these knobs
    jira_sim_fresh.admin("PUT", "config", json={"bulkfetch_max": 0, "bulkfetch_silent": False,
                                                "bulkfetch_missing_errors": False})


@pytest.fixture
def client(sim, jira_clients):
    """A new client (field metadata and batch cap are per client), 4 requests at once."""
    return jira_clients(concurrency=4, limiter=SiteLimiter("test-bulkfetch", rate=2000, concurrency=4),
                        logger=logging.getLogger(LOG_NAME))


def _ids(client: JiraClient) -> tuple[list[str], list[str]]:
    """The 250 seeded issue ids, and 1,100 ids to ask for: those 250 first, then 850 ids no
    issue has."""
    real = [str(i["id"]) for page in client.iter_issue_ids(JQL) for i in page.issues]
    assert len(real) == 250
    return real, real + [str(900000 + n) for n in range(850)]


def _hydrate(client: JiraClient, batches, fields):
    """Every answer of iter_hydrated, checked: each id of the batches asked for as often as
    the batches hold it, and answered."""
    asked: Counter[str] = Counter()
    found: Counter[str] = Counter()
    gone: list[str] = []
    for part, issues, not_found in client.iter_hydrated(batches, fields):
        asked.update(part)
        found.update(str(i["id"]) for i in issues)
        gone += not_found
        answered = {str(i["id"]) for i in issues} | set(not_found)
        assert set(part) <= answered, f"left out without an error: {sorted(set(part) - answered)[:5]}"
    assert asked == Counter(i for batch in batches for i in batch)
    return found, gone


def _bulkfetch_responses(sim) -> dict[str, int]:
    return sim.stats()["responses"].get(BULK, {})


def test_the_mappings_fields_choose_1000_or_100(sim, client):
    single = search_fields(make_task(ISSUES_TASK, attributes={
        k: v for k, v in ISSUES_TASK["attributes"].items() if k != "labels"}))
    multi = search_fields(make_task(ISSUES_TASK))
    assert single == SINGLE_VALUE and "labels" in multi
    assert client.bulk_fetch_size(single) == 1000
    assert client.bulk_fetch_size(multi) == 100
    assert client.bulk_fetch_size(["summary", "customfield_99999"]) == 100  # not in GET /field: multi-value
    assert client.bulk_fetch_size(["summary", "comment"]) == 100  # comments-page: multi-value
    assert client.bulk_fetch_size(["customfield_10020", "key"]) == 1000  # single select; the issue key
    for wide in (None, [], ["*all"], ["*navigable"], ["summary", "-labels"]):
        assert client.bulk_fetch_size(wide) == 100, wide
    assert sim.stats()["endpoints"]["GET /rest/api/3/field"] == 1  # read once per client

    real, ids = _ids(client)
    sim.admin("PUT", "config", json={"bulkfetch_missing_errors": True})  # one answer per request
    sim.admin("DELETE", "stats")
    found, gone = _hydrate(client, [ids], single)
    assert found == Counter(real) and sorted(gone) == sorted(ids[250:])
    assert _bulkfetch_responses(sim) == {"200": 2}  # 1,000 + 100
    sim.admin("DELETE", "stats")
    found, gone = _hydrate(client, [ids[:500], ids[500:]], multi)
    assert found == Counter(real) and len(gone) == 850
    assert _bulkfetch_responses(sim) == {"200": 11}  # 100 per request; batches are split, never merged


def test_a_400_to_a_large_batch_falls_back_to_100_for_good(sim, client, caplog):
    real, ids = _ids(client)
    sim.admin("PUT", "config", json={"bulkfetch_max": 100, "bulkfetch_missing_errors": True})  # a Jira that does not grant 1,000
    sim.admin("DELETE", "stats")
    with caplog.at_level(logging.WARNING, logger=LOG_NAME):
        found, gone = _hydrate(client, [ids, ids[:250]], SINGLE_VALUE)  # the second batch: the same ids again
    assert found == Counter({i: 2 for i in real}) and sorted(gone) == sorted(ids[250:])
    responses = _bulkfetch_responses(sim)
    assert 1 <= responses["400"] <= 2  # what was in flight when the first 400 came
    assert responses["200"] == 11 + 3  # everything again in 100s
    warnings = [r.getMessage() for r in caplog.records if "100 per request from now on" in r.getMessage()]
    # Both batches are in flight at once, so either may be the one whose 400 is reported.
    assert len(warnings) == 1, warnings
    assert re.search(r"refused a bulk fetch of (1000|250) issues", warnings[0]), warnings
    assert "between 1 and 100" in warnings[0]  # Jira's own words

    assert client.bulk_fetch_size(SINGLE_VALUE) == 100  # for the rest of this client's life
    sim.admin("DELETE", "stats")
    found, _ = _hydrate(client, [ids], SINGLE_VALUE)
    assert found == Counter(real) and _bulkfetch_responses(sim) == {"200": 11}


def test_a_quietly_short_answer_has_the_rest_fetched_again_by_100(sim, client, caplog):
    real, ids = _ids(client)
    sim.admin("PUT", "config", json={"bulkfetch_max": 100, "bulkfetch_silent": True, "bulkfetch_missing_errors": True})
    sim.admin("DELETE", "stats")
    with caplog.at_level(logging.WARNING, logger=LOG_NAME):
        found, gone = _hydrate(client, [ids], SINGLE_VALUE)
    assert found == Counter(real) and sorted(gone) == sorted(ids[250:])
    # 1,000 answered with 100 issues; its other 900 again in 9; the last 100 ids in 1
    assert _bulkfetch_responses(sim) == {"200": 11}
    warnings = [r.getMessage() for r in caplog.records if "100 per request from now on" in r.getMessage()]
    assert len(warnings) == 1 and "with 100 issue(s) and 0 error(s), nothing for the other 900, and some" in warnings[0]
    assert client.bulk_fetch_size(SINGLE_VALUE) == 100


def test_a_quiet_cap_below_100_loses_no_issue_and_lowers_the_client(sim, client, caplog):
    """Jira quietly answers only the first 50 ids of every request: the left-out ids are asked
    again 50 at a time (what the answer held: no cap cuts that), every issue comes back, none
    is taken for not found, and the client sends 50 per request from then on."""
    real, _ = _ids(client)
    sim.admin("PUT", "config", json={"bulkfetch_max": 50, "bulkfetch_silent": True})
    sim.admin("DELETE", "stats")
    with caplog.at_level(logging.WARNING, logger=LOG_NAME):
        [(part, issues, not_found)] = list(client.iter_hydrated([real], SINGLE_VALUE))
    assert part == real and sorted(i["id"] for i in issues) == sorted(real) and not_found == []
    assert _bulkfetch_responses(sim) == {"200": 5}  # 250 answered with 50; the other 200 in 4 of 50
    assert any("with 50 issue(s) and 0 error(s), nothing for the other 200" in r.getMessage()
               and "50 per request from now on" in r.getMessage() for r in caplog.records)
    sim.admin("DELETE", "stats")
    found, gone = _hydrate(client, [real[:100]], SINGLE_VALUE)
    assert found == Counter(real[:100]) and gone == [] and _bulkfetch_responses(sim) == {"200": 2}


def test_an_empty_answer_hides_no_live_issue_behind_deleted_ones_under_a_quiet_cap(sim, client):
    """Jira quietly answers only the first 50 ids of a request; asked for 100 whose first 50 no
    issue has, it answers none. Taken on the contract's "up to 100" unproven, that empty
    answer made the 50 live issues behind them not found (mark_removed marked such cards
    removed). An empty answer counts only up to what an answer held; with none yet, each id
    is asked alone: every live issue comes back, only the 50 are not found."""
    real, _ = _ids(client)  # a listing: no bulk fetch answer yet
    deleted = [str(900000 + n) for n in range(50)]
    sim.admin("PUT", "config", json={"bulkfetch_max": 50, "bulkfetch_silent": True})
    sim.admin("DELETE", "stats")
    found, gone = _hydrate(client, [deleted + real[:50]], ["updated"])
    assert found == Counter(real[:50]) and sorted(gone) == sorted(deleted)
    assert _bulkfetch_responses(sim) == {"200": 1 + 100}  # sound, not cheap: mark_removed proves first


def test_a_proven_cap_keeps_the_empty_answers_cheap(sim, client, caplog):
    """prove_bulk_fetch asks for 100 issues Jira has; the quiet cap answers 50: 50 are proven
    (and the client sends 50 per request from then on). The 100 ids of above then take 2
    requests: the empty answer to the 50 no issue has counts as all missing, the 50 live
    come back. Nothing live is ever taken for missing."""
    real, _ = _ids(client)
    deleted = [str(900000 + n) for n in range(50)]
    sim.admin("PUT", "config", json={"bulkfetch_max": 50, "bulkfetch_silent": True})
    sim.admin("DELETE", "stats")
    with caplog.at_level(logging.INFO, logger=LOG_NAME):
        assert client.prove_bulk_fetch(real[100:200], ["updated"]) == 50
    assert _bulkfetch_responses(sim) == {"200": 2}  # 50 answered, the other 50 asked again: answered
    assert any("Jira answered 50 of 100 known issues in one bulk fetch: an empty answer to up to 50 ids counts "
               "as all missing" in r.getMessage() for r in caplog.records), caplog.text
    assert client.prove_bulk_fetch(real[:50], ["updated"]) == 50  # proven already: no request
    sim.admin("DELETE", "stats")
    found, gone = _hydrate(client, [deleted + real[:50]], ["updated"])
    assert found == Counter(real[:50]) and sorted(gone) == sorted(deleted)
    assert _bulkfetch_responses(sim) == {"200": 2}


def test_issues_left_out_per_the_contract_are_not_found_once_a_re_ask_confirms_it(sim, client, caplog):
    """The contract leaves an issue Jira does not have out of the answer, with no error. 1,100
    ids (850 of them no issue's): the 1,000 are answered with the 250 issues, so the 750 left
    out are asked again in parts of 250 (no cap cuts those) and, left out again, are not
    found; then the 100 are answered with none: not found at once (an answer held 250 before:
    no cap cuts 100)."""
    real, ids = _ids(client)
    sim.admin("DELETE", "stats")
    with caplog.at_level(logging.WARNING, logger=LOG_NAME):
        found, gone = _hydrate(client, [ids[:1000]], SINGLE_VALUE)
        assert _bulkfetch_responses(sim) == {"200": 1 + 3}
        found_after, gone_after = _hydrate(client, [ids[1000:]], SINGLE_VALUE)
    assert found == Counter(real) and not found_after and sorted(gone + gone_after) == sorted(ids[250:])
    assert _bulkfetch_responses(sim) == {"200": 1 + 3 + 1}
    assert client.bulk_fetch_size(SINGLE_VALUE) == 1000  # deleted issues are no quiet cap
    assert not [r for r in caplog.records if "per request from now on" in r.getMessage()]


def test_a_key_answered_by_a_moved_issue_is_neither_found_nor_not_found(sim, client):
    """Asked by its old key, a moved issue answers under its new one: which asked key it
    answers is the caller's to pair. The moved issue comes back once, the live one too. The
    answer held 2 of 3 (more than proven): the 2 keys it left out are asked again, and that
    answer holds the moved issue alone. Not cut (the 2 issues that proved the cap come back
    whole), it leaves the key no issue has out -- but which key the moved issue answered is
    unknown: both are in neither list (the removal re-check pairs such keys one by one)."""
    new_key = sim.admin("POST", "issues/SUP-5/move", json={"project": "OPS"}).json()["key"]
    sim.admin("DELETE", "stats")
    [(part, issues, not_found)] = list(client.iter_hydrated([["SUP-5", "NOPE-1", "SUP-6"]], ["updated"]))
    assert sorted(i["key"] for i in issues) == sorted([new_key, "SUP-6"])
    assert not_found == []  # SUP-5, NOPE-1: in neither list
    assert _bulkfetch_responses(sim) == {"200": 3}


def test_sequential_bulk_fetch_uses_the_same_rule(sim, client):
    real, ids = _ids(client)
    sim.admin("PUT", "config", json={"bulkfetch_max": 100, "bulkfetch_missing_errors": True})
    sim.admin("DELETE", "stats")
    fetched = client.bulk_fetch(ids, SINGLE_VALUE)
    assert Counter(str(i["id"]) for i in fetched) == Counter(real)
    assert _bulkfetch_responses(sim) == {"400": 1, "200": 11}


def test_a_cap_lowered_after_the_proof_hides_no_live_issue_and_lowers_the_proof(sim, client, caplog):
    """The proof is taken at Jira's normal cap (100 issues answered whole); then Jira quietly
    answers only the first 50 ids of a request. Asked for 100 live issues, it answers 50:
    within what was proven, yet cut. The issues that proved the cap, sent again, come back
    50 of 100 -- the proof no longer holds: it is lowered to 50 (logged), and the 50 left out
    are asked again and come back. No live issue is taken for missing."""
    real, _ = _ids(client)
    assert client.prove_bulk_fetch(real[:100], ["updated"]) == 100
    sim.admin("PUT", "config", json={"bulkfetch_max": 50, "bulkfetch_silent": True})
    sim.admin("DELETE", "stats")
    with caplog.at_level(logging.INFO, logger=LOG_NAME):
        found, gone = _hydrate(client, [real[100:200]], ["updated"])
    assert found == Counter(real[100:200]) and gone == []
    assert _bulkfetch_responses(sim) == {"200": 3}  # 50 answered; the proof again: 50; the other 50
    assert any("cut a bulk fetch of 100 issues to 50" in r.getMessage() for r in caplog.records), caplog.text
    sim.admin("DELETE", "stats")
    assert client.prove_bulk_fetch(real[:100], ["updated"]) == 50  # lowered: proven again when asked
    assert _bulkfetch_responses(sim) == {"200": 2}
