"""users/search may list *corrupted* deleted users. The Jira contract (schema ``User``,
returned by GET /rest/api/3/users/search): "User record corrupted: This occurs as a results of
events such as a server import and can only happen to deleted users. In this case,
`accountId` returns *unknown* and all other parameters have fallback values" (and
``accountType`` has the enum value ``unknown``). A site with two such users therefore lists
two records with the same accountId ``unknown``.

Jira paging users 10 at a time (it lowers maxResults at will), with the two corrupted users on
different pages: the offset paginator takes the second ``unknown`` for "an item of an earlier
page again: the list moved under us", reads the listing again from the start, meets the same
thing every pass and gives up after three restarts (PagingError). Every run of the user import
fails for as long as those two deleted users exist: no user is imported and nobody who leaves
is ever marked Deleted. Real simulators over HTTPS; the corrupted records are made by a
forwarding proxy that rewrites two (inactive) users of the users/search answers as Jira
renders corrupted ones. Such records name no one: the import leaves them out (no card keyed
"unknown") and tells them apart by their place in the listing.

The contract gives the same record for a live user its directory cannot give in an outage
("User record unavailable"): the removal of a user import marks nothing while Jira lists more
such records than the last run whose removal ran through (the tests after the first)."""
from __future__ import annotations

import json

import pytest

from jira_esm_connector.jira import JiraClient
from jira_esm_connector.pipeline import ShrinkLimitError, run_import

from .conftest import USERS_TASK, make_task
from .helpers import by_attr, esm_cards, run_id, run_with_refused_removal_set_to_success


@pytest.fixture
def proxied_jira(jira_sim_scratch, proxy):
    client = JiraClient(proxy.url, jira_sim_scratch.email, jira_sim_scratch.token, allow_insecure_http=True)
    yield client
    client.close()


def _unnamed(user: dict) -> None:
    """A users/search record as Jira renders one it cannot name: a corrupted deleted user, or
    (the contract's "User record unavailable") a user its directory could not give in an outage."""
    user.update({"accountId": "unknown", "accountType": "unknown", "active": False,
                 "displayName": "Former user", "self": ""})
    user.pop("emailAddress", None)


def _corrupted(account_ids: set[str]):
    """users/search as Jira answers it when it cannot name these users."""
    def rewrite(body: bytes) -> bytes:
        users = json.loads(body)
        for user in users:
            if user.get("accountId") in account_ids:
                _unnamed(user)
        return json.dumps(users).encode()
    return rewrite


def test_two_corrupted_deleted_users_on_different_pages_do_not_stop_the_user_import(
    jira_sim_scratch, proxied_jira, proxy, esm, state, staging,
):
    sim = jira_sim_scratch
    corrupt = set()
    corrupt.add(sim.admin("POST", "users", json={"email": "former.one@example.com", "displayName": "F1",
                                                 "active": False}).json()["accountId"])
    for n in range(12):  # ordinary users between the two: they land on different pages
        sim.admin("POST", "users", json={"email": f"between.{n}@example.com", "displayName": f"B{n}"})
    corrupt.add(sim.admin("POST", "users", json={"email": "former.two@example.com", "displayName": "F2",
                                                 "active": False}).json()["accountId"])
    proxy.rewrite_response("GET", "/rest/api/3/users/search", _corrupted(corrupt))
    sim.admin("PUT", "config", json={"max_results_cap": 10})  # Jira pages users by 10
    task = make_task(USERS_TASK)
    try:
        result = run_import(task, proxied_jira, esm, state, staging, run_id(1))
    finally:
        sim.admin("PUT", "config", json={"max_results_cap": 0})
    direct = sim.client()  # straight to the simulator: the real account ids
    try:
        live = [u["accountId"] for u in direct.iter_users(page_size=1000) if u["accountId"] not in corrupt]
    finally:
        direct.close()
    cards = by_attr(esm_cards(esm, "person", task.name), "jira_account_id")
    assert set(live) <= set(cards), result
    assert "unknown" not in cards and result["fetched"] == len(live), result


def _people(esm, task) -> dict:
    return by_attr(esm_cards(esm, "person", task.name), "jira_account_id")


def _status(esm, task, account_id):
    return _people(esm, task)[account_id].value("accountStatus")


def test_a_live_user_jira_cannot_name_for_a_while_is_not_marked_deleted(
    jira_sim_scratch, proxied_jira, proxy, esm, state, staging,
):
    """The contract (schema ``User``): "User record unavailable: This usually occurs due to an
    internal service outage. In this case, all parameters have fallback values" -- the account
    id 'unknown' as for a corrupted record. The import leaves such records out, so the person
    behind one looked gone and was marked Deleted (de-provisioned) by the next full run. More
    such records than the last successful run had: nothing is marked until the operator says
    the directory is sound (allow_shrink)."""
    sim = jira_sim_scratch
    for n in range(30):
        sim.admin("POST", "users", json={"email": f"staff.{n}@example.com", "displayName": f"Staff {n}"})
    task = make_task(USERS_TASK)
    first = run_import(task, proxied_jira, esm, state, staging, run_id(1))
    cards = by_attr(esm_cards(esm, "person", task.name), "jira_account_id")
    hidden = sorted(a for a, c in cards.items() if c.value("email") == "staff.3@example.com")[0]
    gone = sorted(a for a, c in cards.items() if c.value("email") == "staff.4@example.com")[0]
    sim.admin("DELETE", f"users/{gone}")  # a real departure: no longer listed
    proxy.rewrite_response("GET", "/rest/api/3/users/search", _corrupted({hidden}))  # the directory fails for one

    try:
        with pytest.raises(ShrinkLimitError) as err:
            run_import(task, proxied_jira, esm, state, staging, run_id(2))
    finally:
        assert _status(esm, task, hidden) != "Deleted", "a live person Jira could not name was de-provisioned"
    assert first.get("unnamed_users") == 0
    assert "1 user record(s) with the account id 'unknown' (0 in the last successful run)" in str(err.value)
    assert _status(esm, task, hidden) != "Deleted" and _status(esm, task, gone) != "Deleted"

    # the operator lets the run through: it marks what Jira, asked for each account, no longer
    # has -- the departed user, not the live one behind the unnamed record
    third = run_import(task, proxied_jira, esm, state, staging, run_id(3), allow_shrink=True)
    assert third["unnamed_users"] == 1 and third["marked_removed"] == 1
    assert _status(esm, task, gone) == "Deleted" and _status(esm, task, hidden) != "Deleted"
    # from now on one such record is the baseline: the next departure is marked as usual
    later = sorted(a for a, c in cards.items() if c.value("email") == "staff.5@example.com")[0]
    sim.admin("DELETE", f"users/{later}")
    fourth = run_import(task, proxied_jira, esm, state, staging, run_id(4))
    assert fourth["marked_removed"] == 1 and _status(esm, task, later) == "Deleted"


def test_a_run_whose_removal_step_gave_no_result_is_not_the_unnamed_user_baseline(
    jira_sim_scratch, proxied_jira, proxy, esm, state, staging,
):
    """Jira's directory cannot name one live user (account id 'unknown'): mark_removed refuses
    (ShrinkLimitError, "more unnamed users than the last successful run"). The operator marks
    mark_removed "success" in the Airflow UI to get the run's loads through -- finish then runs
    with removed=None (the case finish already guards for the volume baseline). finish still
    records that run's unnamed_users count, which mark_removed reads as the baseline of the
    last *successful* run: the next run with the same outage passes the check and marks the
    live person Deleted (de-provisioned)."""
    sim = jira_sim_scratch
    for n in range(30):
        sim.admin("POST", "users", json={"email": f"ops.{n}@example.com", "displayName": f"Ops {n}"})
    task = make_task(USERS_TASK)
    first = run_import(task, proxied_jira, esm, state, staging, run_id(1))
    assert first["unnamed_users"] == 0
    hidden = next(a for a, c in _people(esm, task).items() if c.value("email") == "ops.3@example.com")
    proxy.rewrite_response("GET", "/rest/api/3/users/search", _corrupted({hidden}))  # the outage

    # run 2: mark_removed refuses; the operator marks it "success": finish gets removed=None
    run_with_refused_removal_set_to_success(task, proxied_jira, esm, state, staging, 2)

    # the outage goes on: the same listing must still be refused, the person kept
    try:
        with pytest.raises(ShrinkLimitError):
            run_import(task, proxied_jira, esm, state, staging, run_id(3))
    finally:
        status = _status(esm, task, hidden)
        assert status != "Deleted", (
            "a live person Jira could not name was marked Deleted: the refused run's unnamed-user count became "
            f"the baseline (recorded runs: {[r['counts'].get('unnamed_users') for r in state.recent_runs(task.name)]})")


def test_a_user_listing_read_again_from_the_start_counts_each_unnamed_record_once(
    jira_sim_scratch, proxied_jira, proxy, esm, state, staging,
):
    """jira/client.py _named_users counts the 'unknown' records the paginator hands out; the
    offset paginator tells such records apart by their place in the listing (("at", n)) and,
    after a restart ("the listing changed while it was read: reading it again from the
    start"), hands out again a record whose place moved -- so a user created in Jira while the
    listing was read makes one corrupted deleted user count twice. The run has nothing to
    mark, so the inflated count is recorded as the baseline of the unnamed-user check
    (pipeline/removal.py _check_unnamed_users), and the next run -- in which the directory
    cannot name one live person -- has no more such records than that baseline: the live
    person is marked Deleted."""
    sim = jira_sim_scratch
    corrupt = sim.admin("POST", "users", json={"email": "former.one@example.com", "displayName": "F1",
                                              "active": False}).json()["accountId"]
    for n in range(25):
        sim.admin("POST", "users", json={"email": f"staff.{n}@example.com", "displayName": f"Staff {n}"})
    proxy.rewrite_response("GET", "/rest/api/3/users/search", _corrupted({corrupt}))
    sim.admin("PUT", "config", json={"max_results_cap": 10})  # Jira pages users by 10
    task = make_task(USERS_TASK)
    try:
        first = run_import(task, proxied_jira, esm, state, staging, run_id(1))
        assert first["unnamed_users"] == 1, first

        # a new hire while run 2 reads the listing: Jira's listing now has one more user ahead of
        # the corrupted record (made by the proxy: the simulator appends new users at the end)
        newcomer = sim.admin("POST", "users", json={"email": "new.hire@example.com",
                                                    "displayName": "New Hire"}).json()["accountId"]
        sim.admin("PUT", "config", json={"max_results_cap": 0})
        with sim.session() as http:
            raw = http.get(f"{sim.base_url}/rest/api/3/users/search", params={"maxResults": 1000}, timeout=30)
            raw.raise_for_status()
        records = {u["accountId"]: u for u in raw.json()}
        listing = list(records)
        sim.admin("PUT", "config", json={"max_results_cap": 10})
        moved = [newcomer] + [a for a in listing if a != newcomer]
        seen_corrupt = {"served": False}

        def shifted(body: bytes) -> bytes:
            users = json.loads(body)
            if users and seen_corrupt["served"]:
                start = listing.index(users[0]["accountId"])
                users = [dict(records[a]) for a in moved[start:start + len(users)]]
            if any(u.get("accountId") == corrupt for u in users):
                seen_corrupt["served"] = True
            for user in users:
                if user.get("accountId") == corrupt:
                    _unnamed(user)
            return json.dumps(users).encode()

        proxy.rewrite_response("GET", "/rest/api/3/users/search", shifted)
        second = run_import(task, proxied_jira, esm, state, staging, run_id(2))
        assert newcomer in _people(esm, task)
        assert second.get("unnamed_users") == 1, (
            f"Jira listed one record with the account id 'unknown'; the run counted {second.get('unnamed_users')}")

        # run 3: the directory cannot name one live person (an outage), the corrupted record is still there
        cards = _people(esm, task)
        hidden = next(a for a, c in cards.items() if c.value("email") == "staff.7@example.com")
        proxy.rewrite_response("GET", "/rest/api/3/users/search", _corrupted({corrupt, hidden}))
        try:
            with pytest.raises(ShrinkLimitError):
                run_import(task, proxied_jira, esm, state, staging, run_id(3))
        finally:
            assert _status(esm, task, hidden) != "Deleted", "a live person Jira could not name was de-provisioned"
    finally:
        sim.admin("PUT", "config", json={"max_results_cap": 0})
