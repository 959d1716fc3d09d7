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
"unknown") and tells them apart by their place in the listing."""
from __future__ import annotations

import json

import pytest

from jira_esm_connector.jira import JiraClient
from jira_esm_connector.pipeline import run_import

from .conftest import USERS_TASK, make_task
from .helpers import by_attr, esm_cards, run_id


@pytest.fixture
def proxied_jira(jira_sim_scratch, proxy):
    client = JiraClient(proxy.url, jira_sim_scratch.email, jira_sim_scratch.token, allow_insecure_http=True)
    yield client
    client.close()


def _corrupted(account_ids: set[str]):
    """users/search as Jira answers it when these deleted users' records are corrupted."""
    def rewrite(body: bytes) -> bytes:
        users = json.loads(body)
        for user in users:
            if user.get("accountId") in account_ids:
                user.update({"accountId": "unknown", "accountType": "unknown", "active": False,
                             "displayName": "Former user", "self": ""})
                user.pop("emailAddress", None)
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


def _status(esm, task, account_id):
    return by_attr(esm_cards(esm, "person", task.name), "jira_account_id")[account_id].value("accountStatus")


def test_a_live_user_jira_cannot_name_for_a_while_is_not_marked_deleted(
    jira_sim_scratch, proxied_jira, proxy, esm, state, staging,
):
    """The contract (schema ``User``): "User record unavailable: This usually occurs due to an
    internal service outage. In this case, all parameters have fallback values" -- the account
    id 'unknown' as for a corrupted record. The import leaves such records out, so the person
    behind one looked gone and was marked Deleted (de-provisioned) by the next full run. More
    such records than the last successful run had: nothing is marked until the operator says
    the directory is sound (allow_shrink)."""
    from jira_esm_connector.pipeline import ShrinkLimitError

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

    # the operator checked: the record is a deleted user's -- this run marks what is gone
    third = run_import(task, proxied_jira, esm, state, staging, run_id(3), allow_shrink=True)
    assert third["unnamed_users"] == 1 and third["marked_removed"] == 2
    # from now on one such record is the baseline: the next departure is marked as usual
    later = sorted(a for a, c in cards.items() if c.value("email") == "staff.5@example.com")[0]
    sim.admin("DELETE", f"users/{later}")
    fourth = run_import(task, proxied_jira, esm, state, staging, run_id(4))
    assert fourth["marked_removed"] == 1 and _status(esm, task, later) == "Deleted"
