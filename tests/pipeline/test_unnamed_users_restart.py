"""A user listing read again from the start (it changed while it was read) counts each record
with the account id 'unknown' once: the count is the baseline of the removal's unnamed-user
check. Real simulators over HTTPS; the Jira answers only a real outage produces are made by
the forwarding proxy."""
from __future__ import annotations

import json

import pytest

from jira_esm_connector.jira import JiraClient
from jira_esm_connector.pipeline import ShrinkLimitError, run_import

from .conftest import USERS_TASK, make_task
from .helpers import by_attr, esm_cards, run_id


@pytest.fixture
def proxied_jira(jira_sim_scratch, proxy):
    client = JiraClient(proxy.url, jira_sim_scratch.email, jira_sim_scratch.token, allow_insecure_http=True)
    yield client
    client.close()


def _unnamed(user: dict) -> None:
    """A users/search record as Jira renders one it cannot name (corrupted deleted user, or the
    contract's fallback record of a user its directory could not give in an outage)."""
    user.update({"accountId": "unknown", "accountType": "unknown", "active": False,
                 "displayName": "Former user", "self": ""})
    user.pop("emailAddress", None)


def _corrupted(account_ids: set[str]):
    def rewrite(body: bytes) -> bytes:
        users = json.loads(body)
        for user in users:
            if user.get("accountId") in account_ids:
                _unnamed(user)
        return json.dumps(users).encode()
    return rewrite


def _people(esm, task) -> dict:
    return by_attr(esm_cards(esm, "person", task.name), "jira_account_id")


def _status(esm, task, account_id) -> str | None:
    return _people(esm, task)[account_id].value("accountStatus")


# --- (7) user imports: the 'unknown' baseline ------------------------------------------------


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
