"""The task cache's fingerprint covered only the mapped attributes, not what else the task
file decides is written to ESM (here the task-id stamp). Changing such a key
left every cached record "unchanged", so nothing was written again until the next cache
clear -- and removal, which selects cards by the stamp, no longer saw the task's cards."""
from __future__ import annotations

from jira_esm_connector.pipeline import run_import

from .conftest import USERS_TASK, make_task
from .helpers import esm_cards, run_id


def test_changing_task_id_attribute_stamps_the_cards_again(jira, esm, state, staging):
    run_import(make_task(USERS_TASK), jira, esm, state, staging, run_id(1))
    moved = make_task(USERS_TASK, task_id_attribute="first_name")  # the task file now stamps another attribute

    second = run_import(moved, jira, esm, state, staging, run_id(2))

    stamped = [c for c in esm_cards(esm, "person").values() if c.value("first_name") == moved.name]
    assert len(stamped) == second["fetched"] > 0, second


def test_after_a_task_id_attribute_change_a_deleted_user_is_still_marked(jira, jira_sim, esm, state, staging):
    run_import(make_task(USERS_TASK), jira, esm, state, staging, run_id(1))
    moved = make_task(USERS_TASK, task_id_attribute="first_name")
    run_import(moved, jira, esm, state, staging, run_id(2))
    gone = next(u for u in jira.iter_users() if u.get("active"))["accountId"]
    jira_sim.admin("DELETE", f"users/{gone}")

    third = run_import(moved, jira, esm, state, staging, run_id(3))

    assert third["marked_removed"] == 1, third

