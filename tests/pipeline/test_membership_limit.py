"""The membership safety limit's decision alone (pipeline/memberships.py): a per-task total
share, and a per-group rule only for a group emptied at once. The simulator tests are in
test_removal_memberships.py."""
from __future__ import annotations

import logging

from jira_esm_connector.pipeline.memberships import GroupChange, groups_to_hold_back, member_ids

from .test_removal_memberships import GROUPS_TASK
from .conftest import make_task

TASK = make_task(GROUPS_TASK)
QUIET = logging.getLogger("tests.pipeline.memberships")


def test_one_of_two_members_leaving_the_only_changed_group_goes_through():
    # half of a two-member group, and half of this task's memberships: not more than the share
    assert groups_to_hold_back(TASK, [GroupChange("g1", "admins", 2, 1, 1)], 0, allow=False, lg=QUIET) == set()


def test_the_share_counts_the_memberships_of_the_unchanged_groups_too():
    change = [GroupChange("g1", None, 3, 2, 1)]
    assert groups_to_hold_back(TASK, change, 0, allow=False, lg=QUIET) == {"g1"}  # 2 of 3
    assert groups_to_hold_back(TASK, change, 10, allow=False, lg=QUIET) == set()  # 2 of 13


def test_an_emptied_group_is_held_back_whatever_the_share_and_the_override_lets_it_through():
    changes = [GroupChange("g1", None, 1, 1, 0), GroupChange("g2", None, 5, 0, 6)]
    assert groups_to_hold_back(TASK, changes, 100, allow=False, lg=QUIET) == {"g1"}
    assert groups_to_hold_back(TASK, changes, 100, allow=True, lg=QUIET) == set()


def test_references_compare_by_card_id_on_both_sides():
    from jira_esm_connector.esm import Ref

    assert member_ids([{"dataCardId": "7", "name": "Ann"}, {"value": "x"}]) == member_ids([Ref("7"), "x"])
