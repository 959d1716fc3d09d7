"""The user import (Jira users -> ESM person cards): a listing that ends early or a user Jira
cannot name marks no live person removed, pages of unnamed records lose no user, changes are
followed on the one card, and the key is the account id.

Real simulators over HTTPS (the proxy where Jira's answer must be shaped), real state store."""
from __future__ import annotations

import json

import pytest

from jira_esm_connector.jira import JiraClient
from jira_esm_connector.pipeline import RemovalLimitError, run_import

from .conftest import USERS_TASK, make_task
from .helpers import by_attr, esm_cards, run_id


def _cards(esm, task) -> dict:
    return by_attr(esm_cards(esm, "person", task.name), "jira_account_id")


def test_a_user_listing_that_stops_a_few_users_early_marks_no_live_user_deleted(
    jira, jira_sim_scratch, esm, state, staging,
):
    """users/search ends on an empty page; Jira's user listings may stop early (the simulator's
    users_listing_max: "a user listing that stops early with an empty page"). A listing short by
    fewer users than removed.max_shrink (10 %) passes every safety limit, and the users it did
    not reach -- live, active, answered by GET /rest/api/3/user -- must not be marked Deleted
    (de-provisioned). Jira's users/search keeps listing removed users (inactive), so for a
    user import a candidate is almost always a listing problem: each is asked about."""
    sim = jira_sim_scratch
    task = make_task(USERS_TASK)
    first = run_import(task, jira, esm, state, staging, run_id(1))
    total = first["fetched"]
    listing = [u["accountId"] for u in jira.iter_users(page_size=1000)]
    assert len(listing) == total and total >= 30
    cut_off = listing[-2:]  # the last two users: live and active
    for account_id in cut_off:
        assert jira.get_user(account_id)["accountId"] == account_id

    sim.admin("PUT", "config", json={"users_listing_max": total - 2})  # 2 of ~41: 5 %, within max_shrink
    try:
        second = run_import(task, jira, esm, state, staging, run_id(2))
    finally:
        sim.admin("PUT", "config", json={"users_listing_max": 0})
    # Jira still has both users (GET user answers): their cards stay as they were
    for account_id in cut_off:
        assert jira.get_user(account_id)["accountId"] == account_id
    cards = _cards(esm, task)
    statuses = {a: cards[a].value("accountStatus") for a in cut_off}
    assert second["marked_removed"] == 0 and all(s != "Deleted" for s in statuses.values()), (second, statuses)


@pytest.fixture
def proxied_jira(jira_sim_scratch, proxy):
    client = JiraClient(proxy.url, jira_sim_scratch.email, jira_sim_scratch.token, allow_insecure_http=True)
    yield client
    client.close()


def _unnamed_in_listing(account_ids: set[str]):
    """users/search as Jira answers it when its directory cannot give these users (schema User:
    "User record unavailable ... all parameters have fallback values": the account id 'unknown')."""
    def rewrite(body: bytes) -> bytes:
        users = json.loads(body)
        for user in users:
            if user.get("accountId") in account_ids:
                user.update({"accountId": "unknown", "accountType": "unknown", "active": False,
                             "displayName": "Former user", "self": ""})
                user.pop("emailAddress", None)
        return json.dumps(users).encode()
    return rewrite


def test_a_live_user_unnamed_after_a_new_hire_was_unnamed_is_not_marked_deleted(
    jira_sim_scratch, proxied_jira, proxy, esm, state, staging,
):
    """The unnamed-user check (removal.py _check_unnamed_users) compares counts only. A brand-new
    account that Jira's directory does not give yet (an 'unknown' record) is taken as the baseline
    by a run that had nothing to mark; on the next run the new hire is named and another, live,
    person is the one Jira cannot give -- the same count, so the check passes and the listing has
    as many users as before (one came, one 'left'). Jira, asked for that person, still has them:
    not marked."""
    sim = jira_sim_scratch
    for n in range(30):
        sim.admin("POST", "users", json={"email": f"crew.{n}@example.com", "displayName": f"Crew {n}"})
    task = make_task(USERS_TASK)
    run_import(task, proxied_jira, esm, state, staging, run_id(1))

    hire = sim.admin("POST", "users", json={"email": "new.hire@example.com",
                                            "displayName": "New Hire"}).json()["accountId"]
    proxy.rewrite_response("GET", "/rest/api/3/users/search", _unnamed_in_listing({hire}))
    second = run_import(task, proxied_jira, esm, state, staging, run_id(2))
    assert second["unnamed_users"] == 1 and second["marked_removed"] == 0

    live = next(a for a, c in _cards(esm, task).items() if c.value("email") == "crew.7@example.com")
    proxy.rewrite_response("GET", "/rest/api/3/users/search", _unnamed_in_listing({live}))
    try:
        run_import(task, proxied_jira, esm, state, staging, run_id(3))
    except RemovalLimitError:  # a refusal (a safety limit) is a right answer too
        pass
    assert proxied_jira.get_user(live)["active"] is True  # Jira still has the person, active
    assert _cards(esm, task)[live].value("accountStatus") != "Deleted", \
        "a live person Jira's directory could not name for a moment was de-provisioned"


def test_pages_that_hold_only_unnamed_records_lose_no_user(jira_sim_scratch, proxied_jira, proxy, esm, state, staging):
    """A run of corrupted deleted users longer than Jira's page (all of a page filtered out),
    between named users: every named user is listed, none twice, and the listing ends."""
    sim = jira_sim_scratch
    sim.admin("POST", "users", json={"email": "before@example.com", "displayName": "Before"})
    corrupt = {sim.admin("POST", "users", json={"email": f"former.{n}@example.com", "displayName": f"F{n}",
                                                "active": False}).json()["accountId"] for n in range(25)}
    for n in range(7):
        sim.admin("POST", "users", json={"email": f"after.{n}@example.com", "displayName": f"After {n}"})
    direct = sim.client()
    try:
        live = [u["accountId"] for u in direct.iter_users(page_size=1000) if u["accountId"] not in corrupt]
    finally:
        direct.close()
    proxy.rewrite_response("GET", "/rest/api/3/users/search", _unnamed_in_listing(corrupt))
    task = make_task(USERS_TASK)
    for cap in (10, 3, 1):
        sim.admin("PUT", "config", json={"max_results_cap": cap})
        try:
            listed = [u["accountId"] for u in proxied_jira.iter_users(page_size=1000)]
        finally:
            sim.admin("PUT", "config", json={"max_results_cap": 0})
        assert listed == live, cap
    sim.admin("PUT", "config", json={"max_results_cap": 10})
    try:
        first = run_import(task, proxied_jira, esm, state, staging, run_id(1))
    finally:
        sim.admin("PUT", "config", json={"max_results_cap": 0})
    assert first["fetched"] == len(live) and first["unnamed_users"] == 25
    assert set(_cards(esm, task)) == set(live)


def test_a_user_import_keyed_by_the_email_address_is_refused_or_runs(jira, jira_sim_scratch, esm, state, staging):
    """``key: {jira: emailAddress, esm: email}``: every Jira site lists app accounts (no address at
    all) and users whose profile hides it, so each run would stop in transform ("the key path
    'emailAddress' is empty"), no user ever imported and nobody who leaves marked. Such a key is
    refused with the file (SPEC 4: invalid files are reported by file and key), or the run gets
    through."""
    from jira_esm_connector.config.errors import TaskFileError
    from jira_esm_connector.pipeline import TransformError

    data = dict(USERS_TASK, key={"jira": "emailAddress", "esm": "email"},
                attributes={k: v for k, v in USERS_TASK["attributes"].items() if k != "email"})
    try:
        task = make_task(data)
    except (TaskFileError, ValueError) as exc:  # refused with the file: the right answer
        assert "key" in str(exc) and "emailAddress" in str(exc), exc
        return
    try:
        run_import(task, jira, esm, state, staging, run_id(1))
    except TransformError as exc:
        pytest.fail(f"accepted as a task file, yet no run can ever get through: {str(exc)[:300]}")


def test_email_name_and_active_changes_are_followed_on_the_same_card(jira, jira_sim_scratch, esm, state, staging):
    """A user's new address, new display name, deactivation and re-activation reach the one card
    the user has (no second card, nothing marked Deleted)."""
    sim = jira_sim_scratch
    account_id = sim.admin("POST", "users", json={"email": "mover@example.com", "displayName": "Mover"}).json()["accountId"]
    task = make_task(USERS_TASK)
    run_import(task, jira, esm, state, staging, run_id(1))
    card_id = _cards(esm, task)[account_id].data_card_id

    sim.admin("PATCH", f"users/{account_id}", json={"email": "moved@example.com", "displayName": "Moved", "active": False})
    second = run_import(task, jira, esm, state, staging, run_id(2))
    card = _cards(esm, task)[account_id]
    assert (card.data_card_id, card.value("email"), card.value("display_name"), card.value("accountStatus")) == (
        card_id, "moved@example.com", "Moved", "Disabled"), second
    sim.admin("PATCH", f"users/{account_id}", json={"active": True})
    run_import(task, jira, esm, state, staging, run_id(3))
    cards = esm_cards(esm, "person", task.name)
    assert [c.data_card_id for c in cards.values() if c.value("jira_account_id") == account_id] == [card_id]
    assert cards[card_id].value("accountStatus") == "Active"
