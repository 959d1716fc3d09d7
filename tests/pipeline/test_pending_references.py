"""References to cards that do not exist yet are retried on later runs until they resolve,
in incremental mode too (issue 8, item 1). Real simulators over HTTPS."""
from __future__ import annotations

from jira_esm_connector.pipeline import run_import

from .conftest import ISSUES_TASK, USERS_TASK, make_task
from .helpers import by_attr, esm_cards, jira_issues, run_id

ASSIGNEE = {"from": "fields.assignee.accountId", "reference": {"template": "person", "by": "jira_account_id"}}
ALL_PROJECTS = "project in (SUP, ENG, OPS)"


def _issues_task(**changes):
    return make_task(ISSUES_TASK, attributes=dict(ISSUES_TASK["attributes"], assignee=ASSIGNEE), **changes)


def _bulkfetches(jira_sim) -> int:
    return jira_sim.stats()["endpoints"].get("POST /rest/api/3/issue/bulkfetch", 0)


def test_incremental_import_retries_references_until_the_person_cards_exist(jira, jira_sim, esm, state, staging, run_log):
    task = _issues_task(jql=ALL_PROJECTS)
    issues = jira_issues(jira, ALL_PROJECTS, fields=("assignee", "updated"))
    assigned = {k: i["fields"]["assignee"]["accountId"] for k, i in issues.items() if i["fields"].get("assignee")}
    assert len(assigned) > 100  # more than one bulkfetch request of 100

    # the issues are imported before their assignees' person cards exist
    first = run_import(task, jira, esm, state, staging, run_id(1), logger=run_log)
    assert first["created"] == len(issues) and first["refused"] == 0
    assert first["references_pending"] == len(assigned) == state.count_pending(task.name)
    assert "references pending %d" % len(assigned) in first["summary"]
    # one line each for the first 100 such records, then one line for the rest: not one per record
    one_by_one = [m for m in run_log.messages if m.startswith("Record ") and "reference(s) not found in ESM" in m]
    assert len(one_by_one) == 100 and len({m.split(":")[0] for m in one_by_one}) == 100
    assert sum(m.startswith("More records reference ESM cards") for m in run_log.messages) == 1
    run_log.messages.clear()
    cards = by_attr(esm_cards(esm, "incident", task.name), "jira_key")
    assert all(cards[k].value("assignee") is None for k in assigned)

    # the person cards appear (the user import runs) -- and nothing changes in Jira
    run_import(make_task(USERS_TASK), jira, esm, state, staging, run_id("users"))
    jira_sim.admin("DELETE", "stats")
    second = run_import(task, jira, esm, state, staging, run_id(2), logger=run_log)

    persons = {c.value("jira_account_id"): cid for cid, c in esm_cards(esm, "person").items()}
    cards = by_attr(esm_cards(esm, "incident", task.name), "jira_key")
    assert {k: str(cards[k].value("assignee")) for k in assigned} == {k: persons[a] for k, a in assigned.items()}
    assert second["references_pending"] == 0 and state.count_pending(task.name) == 0
    assert "references pending 0" in second["summary"]
    assert second["updated"] == len(assigned) and second["created"] == 0
    # fetched again by key, 100 per request (what the watermark's overlap returned was not asked twice);
    # the records the search listed are read through bulkfetch too, 100 per request
    refetched = second["fetched"]
    listed = [int(m.split()[1]) for m in run_log.messages if m.startswith("Listed ") and " issue(s) in " in m]
    assert len(listed) == 1 and listed[0] < len(assigned)
    assert 0 < _bulkfetches(jira_sim) <= -(-len(assigned) // 100) + -(-listed[0] // 100)
    assert refetched >= len(assigned)
    assert any(m.startswith("Fetched again ") and "by key in" in m for m in run_log.messages), run_log.messages

    # resolved records are cached like any other: the next quiet run writes nothing and asks nothing by key
    # (its bulk fetches read only what the search listed: 100 per request)
    jira_sim.admin("DELETE", "stats")
    third = run_import(task, jira, esm, state, staging, run_id(3), logger=run_log)
    assert (third["updated"], third["created"], third["references_pending"]) == (0, 0, 0)
    assert _bulkfetches(jira_sim) == -(-third["fetched"] // 100)
    assert sum(m.startswith("Fetched again ") for m in run_log.messages) == 1  # the second run's only


def test_pending_record_deleted_in_jira_is_dropped_and_logged(jira, jira_sim, esm, state, staging, run_log):
    task = _issues_task()
    first = run_import(task, jira, esm, state, staging, run_id(1))
    pending = state.pending_keys(task.name)
    assert first["references_pending"] == len(pending) > 2
    gone = pending[:2]
    for key in gone:
        jira_sim.admin("DELETE", f"issues/{key}")

    second = run_import(task, jira, esm, state, staging, run_id(2), logger=run_log)  # still no person cards

    assert second["references_pending"] == len(pending) - 2
    assert sorted(state.pending_keys(task.name)) == sorted(pending[2:])
    assert any("no longer exist in Jira" in m and all(k in m for k in gone) for m in run_log.messages)
    assert any("wait for referenced ESM cards" in m for m in run_log.messages)
    assert second["refused"] == 0


def test_full_import_counts_and_clears_pending_references(jira, esm, state, staging):
    task = _issues_task(name="test_issues_full", mode="full", removed=False)
    first = run_import(task, jira, esm, state, staging, run_id(1))
    assert first["references_pending"] > 0
    run_import(make_task(USERS_TASK), jira, esm, state, staging, run_id("users"))
    second = run_import(task, jira, esm, state, staging, run_id(2))
    assert second["references_pending"] == 0 and second["updated"] == first["references_pending"]
