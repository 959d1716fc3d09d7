"""A group import writes each group's members as the card's member list: a member the
listing leaves out is a membership removed in ESM. So a member page that is empty although
it says more follow (``isLast: false``, or a ``total`` beyond what was read) stops the run
instead of ending the listing, and a well-formed listing that drops many members meets the
membership safety limit (pipeline/memberships.py). Real simulators over HTTPS."""
from __future__ import annotations

import pytest

from jira_esm_connector.http.errors import MalformedResponseError
from jira_esm_connector.pipeline import run_import

from .conftest import USERS_TASK, make_task
from .helpers import by_attr, esm_cards, esm_stats, esm_writes, reset_esm_stats, run_id

GROUPS_TASK = {
    "name": "test_group_members", "kind": "scheduled", "jira_conn_id": "jira_default", "esm_conn_id": "esm_default",
    "schedule": "0 * * * *", "mode": "full", "mapping_type": "group", "template": "group", "folder": "groups",
    "key": {"jira": "groupId", "esm": "jira_group_id"},
    "attributes": {"name": "name", "status": {"value": "1 - Active"},
                   "members": {"from": "members", "each": "accountId",
                               "reference": {"template": "person", "by": "jira_account_id"}}},
}


def _members(esm, task) -> dict[str, list[str]]:
    cards = by_attr(esm_cards(esm, "group", task.name), "jira_group_id")
    return {gid: sorted(str(v) for v in card.plain_values("members")) for gid, card in cards.items()}


@pytest.mark.parametrize("cap", [0, 2], ids=["total-beyond", "is-last-false"])
def test_a_member_page_empty_although_more_follow_removes_no_membership(jira, jira_sim, esm, state, staging, cap):
    run_import(make_task(USERS_TASK), jira, esm, state, staging, run_id(1))
    task = make_task(GROUPS_TASK)
    jira_sim.admin("PUT", "config", json={"max_results_cap": cap})  # 2: member pages of 2, isLast false on the first
    run_import(task, jira, esm, state, staging, run_id(1))
    before = _members(esm, task)
    assert any(len(m) > 2 for m in before.values())

    # group/member answers come back without their members, total and isLast unchanged
    jira_sim.admin("POST", "faults", json={"type": "empty", "count": 100, "path": "/rest/api/3/group/member"})
    try:
        with pytest.raises(MalformedResponseError, match="group/member"):
            run_import(task, jira, esm, state, staging, run_id(2))
    finally:
        jira_sim.admin("DELETE", "faults")

    assert _members(esm, task) == before
    assert run_import(task, jira, esm, state, staging, run_id(3))["updated"] == 0  # the next run reads them all
    assert _members(esm, task) == before


# --------------------------------------------------------------------------- the membership safety limit
# A member listing that is well formed but short -- a Jira glitch, a permission change of the
# connector's account -- reads exactly like people leaving their groups. Here Jira's members
# are really removed (the connector cannot tell the two apart): what matters is what ESM keeps.


def _jira_members(jira) -> dict[str, list[str]]:
    return {g["groupId"]: [m["accountId"] for m in jira.iter_group_members(group_id=g["groupId"])]
            for g in jira.iter_groups()}


def _remove_members(jira_sim, removals: dict[str, list[str]]) -> int:
    for group_id, account_ids in removals.items():
        for account_id in account_ids:
            jira_sim.admin("DELETE", f"groups/{group_id}/members/{account_id}")
    return sum(len(a) for a in removals.values())


def _imported(jira, esm, state, staging):
    run_import(make_task(USERS_TASK), jira, esm, state, staging, run_id(1))
    task = make_task(GROUPS_TASK)
    first = run_import(task, jira, esm, state, staging, run_id(1))
    assert first["groups_held_back"] == 0
    return task, _members(esm, task), _jira_members(jira)


def test_a_member_listing_that_drops_most_members_keeps_them_until_the_override(
    jira, jira_sim, esm, esm_sim, state, staging, run_log,
):
    task, before, members = _imported(jira, esm, state, staging)
    # every group keeps one member: no group is emptied, yet most memberships go
    cut = {gid: ms[1:] for gid, ms in members.items() if len(ms) > 1}
    gone = _remove_members(jira_sim, cut)
    assert gone > sum(len(ms) for ms in members.values()) / 2, members
    # a group that only gains a member is not held back with the others
    grower = next(gid for gid, ms in members.items() if len(ms) == 1 or gid not in cut)
    newcomer = next(a for ms in members.values() for a in ms if a not in members[grower])
    jira_sim.admin("PUT", f"groups/{grower}/members/{newcomer}")

    summary = run_import(task, jira, esm, state, staging, run_id(2), logger=run_log)

    after = _members(esm, task)
    assert {gid: after[gid] for gid in cut} == {gid: before[gid] for gid in cut}  # nobody lost access
    assert len(after[grower]) == len(before[grower]) + 1
    assert summary["groups_held_back"] == len(cut) and f"groups held back {len(cut)}" in summary["summary"]
    warning = next(m for m in run_log.messages if "keep their previous members" in m)
    assert all(gid in warning for gid in cut) and "allow_member_removal" in warning and "50%" in warning

    # not cached as done: the next run checks them again and holds them back again; nothing else
    # changed, so it writes nothing to ESM (it only reads their cards for the check)
    run_log.messages.clear()
    reset_esm_stats(esm_sim)
    again = run_import(task, jira, esm, state, staging, run_id(3), logger=run_log)
    assert esm_writes(esm_sim) == 0, esm_stats(esm_sim)
    assert again["groups_held_back"] == len(cut) and again["updated"] == 0 and _members(esm, task) == after
    assert f"groups held back {len(cut)}" in again["summary"]
    assert any("keep their previous members" in m for m in run_log.messages)

    # the operator's override for one run writes them
    allowed = run_import(task, jira, esm, state, staging, run_id(4), allow_member_removal=True, logger=run_log)
    persons = {c.value("jira_account_id"): cid for cid, c in esm_cards(esm, "person").items()}
    jira_now = _jira_members(jira)
    assert allowed["groups_held_back"] == 0 and allowed["updated"] == len(cut)
    assert _members(esm, task) == {gid: sorted(persons[a] for a in ms) for gid, ms in jira_now.items()}
    assert any("overridden for this run (allow_member_removal)" in m for m in run_log.messages)
    assert run_import(task, jira, esm, state, staging, run_id(5))["updated"] == 0


def test_one_member_leaving_a_group_goes_through(jira, jira_sim, esm, esm_sim, state, staging, run_log):
    task, before, members = _imported(jira, esm, state, staging)
    group_id = next(gid for gid, ms in sorted(members.items(), key=lambda i: len(i[1])) if len(ms) >= 2)
    _remove_members(jira_sim, {group_id: members[group_id][:1]})

    summary = run_import(task, jira, esm, state, staging, run_id(2), logger=run_log)

    assert summary["groups_held_back"] == 0 and summary["updated"] == 1
    assert len(_members(esm, task)[group_id]) == len(before[group_id]) - 1
    assert not any("keep their previous members" in m for m in run_log.messages)
    assert "groups held back" not in summary["summary"]
    # the check reads the cards the load reads anyway: an unchanged re-run asks ESM nothing about groups
    reset_esm_stats(esm_sim)
    assert run_import(task, jira, esm, state, staging, run_id(3))["unchanged"] == len(members)
    asked = {k: n for k, n in esm_stats(esm_sim).items() if "/_admin/" not in k and "login" not in k}
    assert asked == {}, asked


def test_a_group_emptied_at_once_is_held_back(jira, jira_sim, esm, state, staging, run_log):
    task, before, members = _imported(jira, esm, state, staging)
    group_id = max(members, key=lambda gid: len(members[gid]))
    _remove_members(jira_sim, {group_id: members[group_id]})
    assert len(members[group_id]) < sum(len(ms) for ms in members.values()) / 2  # within the share

    summary = run_import(task, jira, esm, state, staging, run_id(2), logger=run_log)

    assert _members(esm, task) == before and summary["groups_held_back"] == 1
    warning = next(m for m in run_log.messages if "keep their previous members" in m)
    assert group_id in warning and "without any member" in warning
    allowed = run_import(task, jira, esm, state, staging, run_id(3), allow_member_removal=True)
    assert allowed["groups_held_back"] == 0 and _members(esm, task)[group_id] == []


def test_a_group_held_back_is_written_again_when_its_other_attributes_change(
        jira, jira_sim, esm, esm_sim, state, staging):
    """The write a held-back group is spared is only the one that would change nothing: when
    its other attributes change (here the task maps one more), it is written again -- still
    without its members -- and the run after that writes nothing again."""
    task, before, members = _imported(jira, esm, state, staging)
    group_id = max(members, key=lambda gid: len(members[gid]))
    _remove_members(jira_sim, {group_id: members[group_id]})
    assert run_import(task, jira, esm, state, staging, run_id(2))["groups_held_back"] == 1
    described = make_task(dict(GROUPS_TASK, attributes={**GROUPS_TASK["attributes"],
                                                        "description": {"value": "from Jira"}}))

    third = run_import(described, jira, esm, state, staging, run_id(3))

    assert third["groups_held_back"] == 1 and third["updated"] == len(members), third
    card = by_attr(esm_cards(esm, "group", task.name), "jira_group_id")[group_id]
    assert card.value("description") == "from Jira" and _members(esm, task) == before
    reset_esm_stats(esm_sim)
    fourth = run_import(described, jira, esm, state, staging, run_id(4))
    assert fourth["groups_held_back"] == 1 and fourth["updated"] == 0 and esm_writes(esm_sim) == 0, esm_stats(esm_sim)
    assert _members(esm, task) == before


def test_held_back_groups_are_counted_apart_from_the_cached_records(
    jira, jira_sim, esm, esm_sim, state, staging, capsys,
):
    """A group held back by the membership limit is not cached as done (diff passes it on every
    run): the cache CLI counts it apart from the cached records, and the reconcile report, when
    its card is gone, does not call it skipped by the next import as unchanged."""
    from jira_esm_connector.pipeline.cache import main as cache_cli
    from jira_esm_connector.pipeline.reconcile import reconcile

    task, _before, members = _imported(jira, esm, state, staging)
    group_id = max(members, key=lambda gid: len(members[gid]))
    _remove_members(jira_sim, {group_id: members[group_id]})
    assert run_import(task, jira, esm, state, staging, run_id(2))["groups_held_back"] == 1

    url = state.engine.url.render_as_string(hide_password=False)
    assert cache_cli(["status", task.name, "--db-url", url]) == 0
    said = capsys.readouterr().out
    assert f"{task.name}: {len(members) - 1} cached record(s); 1 group(s) held back by the membership" in said, said

    other = next(gid for gid in members if gid != group_id)
    cards = by_attr(esm_cards(esm, "group", task.name), "jira_group_id")
    for gid in (group_id, other):
        esm.delete_card("group", cards[gid].data_card_id)
    report = reconcile(task, jira, esm, state, sample_size=0)
    assert report["missing_in_esm"] == 2, report
    assert (report["missing_but_cached"], report["missing_but_held_back"]) == (1, 1), report
    assert any("1 missing record(s) are in the task cache" in n for n in report["notes"]), report["notes"]
    assert any("1 missing group(s) were held back" in n for n in report["notes"]), report["notes"]
