"""A group import writes each group's members as the card's member list: a member the
listing leaves out is a membership removed in ESM, with no share or shrink limit in the
way. So a member page that is empty although it says more follow (``isLast: false``, or a
``total`` beyond what was read) stops the run instead of ending the listing. Real
simulators over HTTPS."""
from __future__ import annotations

import pytest

from jira_esm_connector.http.errors import MalformedResponseError
from jira_esm_connector.pipeline import run_import

from .conftest import USERS_TASK, make_task
from .helpers import by_attr, esm_cards, run_id

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
