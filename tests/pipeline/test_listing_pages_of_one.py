"""Offset listings whose pages Jira caps at ONE item, while a record already read is
deleted (Jira lowers maxResults at will). No page of one item can hold the item read last
and the next one, so the page at the boundary was asked with no check that the list did not
move in between: a deletion before the boundary slid the next unread record behind the
cursor, and a full import marked that live person Deleted, or dropped a live member from a
group's card. Each such page is now checked by a look-back at the item before it. Real
simulators over HTTPS; the deletion is timed by wrapping the client's ``paginate``."""
from __future__ import annotations

from jira_esm_connector.pipeline import run_import

from .conftest import USERS_TASK, make_task
from .helpers import by_attr, esm_cards, run_id


def _after_page(jira, path: str, page_no: int, action):
    """Run ``action`` once, right after page ``page_no`` (0-based) of ``path`` was read."""
    fired: list[int] = []
    original = jira.paginate

    def wrapped(method, p, paginator, **kw):
        for n, item in enumerate(original(method, p, paginator, **kw)):
            yield item
            if p == path and n == page_no and not fired:
                fired.append(n)
                action()

    jira.paginate = wrapped
    return fired


def test_a_user_deleted_while_users_search_pages_by_one_removes_no_other_user(jira, jira_sim_scratch, esm, state, staging):
    sim = jira_sim_scratch
    task = make_task(USERS_TASK)
    first = run_import(task, jira, esm, state, staging, run_id(1))
    users = [u["accountId"] for u in jira.iter_users(page_size=1000)]
    assert first["fetched"] == len(users) >= 20
    victim, neighbour = users[0], users[1]

    sim.admin("PUT", "config", json={"max_results_cap": 1})  # Jira answers one user per page
    # pages: 0 = [u0] (startAt 0), 1 = [u0] again (the confirm at the boundary), 2 = startAt 1 ...
    # u0 is closed after the confirm page: u1 slides to position 0 before startAt 1 is asked
    fired = _after_page(jira, "/rest/api/3/users/search", 1, lambda: sim.admin("DELETE", f"users/{victim}"))
    try:
        second = run_import(task, jira, esm, state, staging, run_id(2))
    finally:
        sim.admin("PUT", "config", json={"max_results_cap": 0})
    assert fired
    live = {u["accountId"] for u in jira.iter_users(page_size=1000)}
    assert neighbour in live and victim not in live
    cards = by_attr(esm_cards(esm, "person", task.name), "jira_account_id")
    wrongly = sorted(k for k, c in cards.items() if c.value("accountStatus") == "Deleted" and k in live)
    assert wrongly == [], f"live Jira users marked Deleted: {wrongly}; the user listed right after the deleted one: {neighbour} (run: {second})"


GROUPS_TASK = {
    "name": "test_group_members_pages_of_one", "kind": "scheduled", "jira_conn_id": "jira_default",
    "esm_conn_id": "esm_default", "schedule": "0 * * * *", "mode": "full", "mapping_type": "group",
    "template": "group", "folder": "groups", "key": {"jira": "groupId", "esm": "jira_group_id"},
    "attributes": {"name": "name", "status": {"value": "1 - Active"},
                   "members": {"from": "members", "each": "accountId",
                               "reference": {"template": "person", "by": "jira_account_id"}}},
}


def test_a_member_leaving_while_group_member_pages_by_one_removes_no_other_membership(
    jira, jira_sim_scratch, esm, state, staging,
):
    sim = jira_sim_scratch
    run_import(make_task(USERS_TASK), jira, esm, state, staging, run_id(1))
    task = make_task(GROUPS_TASK)
    run_import(task, jira, esm, state, staging, run_id(1))
    groups = {g["groupId"]: [m["accountId"] for m in jira.iter_group_members(group_id=g["groupId"])]
              for g in jira.iter_groups()}
    big = max(groups, key=lambda g: len(groups[g]))
    members = groups[big]
    assert len(members) >= 4
    leaver = members[0]

    sim.admin("PUT", "config", json={"max_results_cap": 1})  # Jira answers one member per page
    fired: list[bool] = []
    original = jira.paginate

    def wrapped(method, p, paginator, **kw):
        for n, item in enumerate(original(method, p, paginator, **kw)):
            yield item
            # after the confirm page of the first member: the first member leaves the group
            if (p == "/rest/api/3/group/member" and (kw.get("params") or {}).get("groupId") == big
                    and n == 1 and not fired):
                fired.append(True)
                sim.admin("DELETE", f"groups/{big}/members/{leaver}")

    jira.paginate = wrapped
    try:
        run_import(task, jira, esm, state, staging, run_id(2))
    finally:
        sim.admin("PUT", "config", json={"max_results_cap": 0})
        jira.paginate = original
    assert fired
    still = set(members) - {leaver}
    assert still == {m["accountId"] for m in jira.iter_group_members(group_id=big)}
    persons = {c.data_card_id: k for k, c in by_attr(esm_cards(esm, "person"), "jira_account_id").items()}
    card = by_attr(esm_cards(esm, "group", task.name), "jira_group_id")[big]
    on_card = {persons.get(str(v)) for v in card.plain_values("members")}
    assert still <= on_card, f"members still in Jira group {big} dropped from its card: {sorted(still - on_card)}"
