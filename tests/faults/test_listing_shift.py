"""Offset-paged listings (users/search, group/bulk, group/member) while Jira deletes a record
that was already read. Every later record moves one place forward, so with plain offset
paging the one that moves across the page boundary was never read -- and a full import
marked its card removed although it is still in Jira (a person de-provisioned). The
paginators now start each page at the item read last and read the listing again when it moved."""
from __future__ import annotations

from .check import check_import, jira_groups, jira_users
from .harness import GROUPS_FULL, USERS_FULL, import_until_done, make_task


class _AfterFirstPage:
    """Run ``action`` once, right after the first page of ``path`` was read."""

    def __init__(self, jira, path: str, action) -> None:
        self.fired = False
        original = jira.paginate

        def wrapped(method, p, paginator, **kw):
            for n, item in enumerate(original(method, p, paginator, **kw)):
                yield item
                if n == 0 and p == path and not self.fired:
                    self.fired = True
                    action()

        jira.paginate = wrapped


def test_user_deleted_during_listing_does_not_remove_another_user(env, report):
    task = make_task(USERS_FULL)
    jira, esm, state = env.jira(), env.esm(), env.state()
    runs = import_until_done(env, task, jira=jira, esm=esm, state=state, attempts=1).runs
    users = list(jira_users(env.jira_sim))
    assert len(users) >= 20, len(users)  # one user fewer stays within the shrink limit
    env.jira_sim.admin("PUT", "config", json={"max_results_cap": 3})  # Jira pages users by 3
    victim = users[0]  # read on the first page, deleted before the second is asked for
    hook = _AfterFirstPage(jira, "/rest/api/3/users/search",
                           lambda: env.jira_sim.admin("DELETE", f"users/{victim}"))
    runs += import_until_done(env, task, jira=jira, esm=esm, state=state, attempts=1).runs
    assert hook.fired
    env.calm()
    report("user deleted while users/search pages (offset shift)", runs, check_import(task, env.jira_sim, env.esm()))


def test_group_deleted_during_listing_does_not_remove_another_group(env, report):
    # without members (a deleted group's member listing would fail the run instead)
    task = make_task(GROUPS_FULL, attributes={"name": "name", "status": {"value": "1 - Active"}})
    jira, esm, state = env.jira(), env.esm(), env.state()
    for n in range(12):  # 20 groups: one fewer stays within the shrink limit
        env.jira_sim.admin("POST", "groups", json={"name": f"shift-extra-{n}"})
    runs = import_until_done(env, task, jira=jira, esm=esm, state=state, attempts=1).runs
    groups = list(jira_groups(env.jira_sim))
    victim = groups[0]
    hook = _AfterFirstPage(jira, "/rest/api/3/group/bulk",
                           lambda: env.jira_sim.admin("DELETE", f"groups/{victim}"))
    runs += import_until_done(env, task, jira=jira, esm=esm, state=state, attempts=1).runs
    assert hook.fired
    env.calm()
    report("group deleted while group/bulk pages (offset shift)", runs,
           check_import(task, env.jira_sim, env.esm(), values=False))


def test_member_removed_during_member_listing_keeps_the_other_members(env, report):
    """The same shift inside one group's member listing (group/member, startAt paging): a
    member removed after the first page was read hides the member that moves across the page
    boundary, and the group's card is written without that person (an entitlement lost)."""
    from .check import jira_group_member_ids

    users_task, task = make_task(USERS_FULL), make_task(GROUPS_FULL)
    jira, esm, state = env.jira(), env.esm(), env.state()
    runs = import_until_done(env, users_task, jira=jira, esm=esm, state=state, attempts=1).runs
    runs += import_until_done(env, task, jira=jira, esm=esm, state=state, attempts=1).runs
    s = env.jira_sim.session()
    big = max(jira_groups(env.jira_sim), key=lambda g: len(jira_group_member_ids(env.jira_sim, g)))
    members = s.get(f"{env.jira_sim.base_url}/rest/api/3/group/member",
                    params={"groupId": big, "maxResults": 50, "includeInactiveUsers": "true"}, timeout=30).json()["values"]
    assert len(members) >= 5, len(members)
    env.jira_sim.admin("PUT", "config", json={"max_results_cap": 3})  # members paged by 3
    fired = []
    original = jira.paginate

    def wrapped(method, p, paginator, **kw):
        for n, item in enumerate(original(method, p, paginator, **kw)):
            yield item
            if n == 0 and p == "/rest/api/3/group/member" and (kw.get("params") or {}).get("groupId") == big and not fired:
                fired.append(True)
                env.jira_sim.admin("DELETE", f"groups/{big}/members/{members[0]['accountId']}")

    jira.paginate = wrapped
    runs += import_until_done(env, task, jira=jira, esm=esm, state=state, attempts=1).runs
    assert fired
    env.calm()
    # the removed member may still be on the card (it was read before it left); every member
    # still in the group must be on it
    from .check import esm_cards_by_key

    esm = env.esm()
    persons = {c.data_card_id: k for k, cs in esm_cards_by_key(esm, "person", "jira_account_id").items() for c in cs}
    card = esm_cards_by_key(esm, "group", "jira_group_id")[big][0]
    on_card = {persons.get(str(v)) for v in card.plain_values("members")}
    still_members = jira_group_member_ids(env.jira_sim, big)
    assert still_members <= on_card, f"members missing from the group's card: {sorted(still_members - on_card)}"
