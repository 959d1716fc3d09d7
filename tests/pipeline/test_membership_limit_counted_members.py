"""The membership safety limit of a group task that also works something out from its members
(a count, a joined text): only the attributes that list the members count as members. Real
simulators over HTTPS."""
from __future__ import annotations

from jira_esm_connector.pipeline import run_import

from .conftest import USERS_TASK, make_task
from .helpers import by_attr, esm_cards, run_id
from .test_removal_memberships import GROUPS_TASK, _jira_members, _members, _remove_members

# A group task that also says how many members each group has -- a template reading
# ``members``, as the task file checks foresee (tests/config/test_scheduled.py: "{{ members |
# length }} members"). The membership safety limit takes that text for one more member.
SIZED_GROUPS_TASK = {
    **GROUPS_TASK,
    "name": "test_sized_groups",
    "attributes": {**GROUPS_TASK["attributes"], "description": {"template": "{{ members | length }} member(s)"}},
}


def test_a_group_emptied_at_once_is_held_back_when_the_task_also_counts_its_members(
    jira, jira_sim, esm, state, staging, run_log,
):
    """The "emptied" rule of the membership limit (pipeline/memberships.py): a group whose card
    has members and whose listing has none keeps them, whatever the share. With an attribute
    that renders the member count ("0 member(s)") the group never looks emptied: its member
    listing comes back empty and every membership of the group is removed from ESM."""
    run_import(make_task(USERS_TASK), jira, esm, state, staging, run_id(1))
    task = make_task(SIZED_GROUPS_TASK)
    assert run_import(task, jira, esm, state, staging, run_id(1))["groups_held_back"] == 0
    before = _members(esm, task)
    members = _jira_members(jira)
    group_id = max(members, key=lambda gid: len(members[gid]))
    count_before = _group_cards(esm, task)[group_id].value("description")
    assert count_before == f"{len(members[group_id])} member(s)"
    assert len(members[group_id]) < sum(len(ms) for ms in members.values()) / 2  # within the share
    _remove_members(jira_sim, {group_id: members[group_id]})

    summary = run_import(task, jira, esm, state, staging, run_id(2), logger=run_log)

    assert _members(esm, task)[group_id] == before[group_id], "the group's members were removed from ESM"
    assert summary["groups_held_back"] == 1, summary
    # written without what is worked out from its members either: the count matches the members kept
    assert _group_cards(esm, task)[group_id].value("description") == count_before


def _group_cards(esm, task):
    return by_attr(esm_cards(esm, "group", task.name), "jira_group_id")


def test_a_group_that_only_gains_a_member_is_written_when_the_task_also_counts_its_members(
    jira, jira_sim, esm, state, staging, run_log,
):
    """Same cause, the other way round (docs/TASK_FILES.md, Group memberships: "new groups and
    groups that only gain members are written as usual"): while a listing fault holds most
    groups back, a group that only gained a member is held back too -- its count text changed,
    which the limit takes for a member removed -- and the new member never reaches ESM."""
    run_import(make_task(USERS_TASK), jira, esm, state, staging, run_id(1))
    task = make_task(SIZED_GROUPS_TASK)
    assert run_import(task, jira, esm, state, staging, run_id(1))["groups_held_back"] == 0
    members = _jira_members(jira)
    cut = {gid: ms[1:] for gid, ms in members.items() if len(ms) > 1}
    assert _remove_members(jira_sim, cut) > sum(len(ms) for ms in members.values()) / 2
    grower = next(gid for gid, ms in members.items() if len(ms) == 1 or gid not in cut)
    newcomer = next(a for ms in members.values() for a in ms if a not in members[grower])
    jira_sim.admin("PUT", f"groups/{grower}/members/{newcomer}")

    summary = run_import(task, jira, esm, state, staging, run_id(2), logger=run_log)

    persons = {c.value("jira_account_id"): cid for cid, c in esm_cards(esm, "person").items()}
    assert persons[newcomer] in _members(esm, task)[grower], "the group's new member was not written"
    assert summary["groups_held_back"] == len(cut), summary
