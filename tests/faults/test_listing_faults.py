"""Listings that do not behave: Jira capping every page below the asked size, and Jira data
changing while the import pages through it."""
from __future__ import annotations

import pytest

from .check import check_import, jira_issues
from .harness import (
    COMMENTS_INCREMENTAL,
    GROUPS_FULL,
    ISSUES_FULL,
    ISSUES_INCREMENTAL,
    USERS_FULL,
    after_pages,
    import_until_done,
    make_task,
    tolerant,
)


def _require_knob(env, name: str) -> None:
    config = env.jira_sim.admin("GET", "config").json()
    if name not in config:
        pytest.fail(f"the Jira simulator has no {name!r} knob (GET /_admin/config: {sorted(config)})")


def test_page_caps_below_the_asked_size_on_every_listing(env, report):
    """Jira silently caps every listing's page (issues, users, groups, members, comments)
    at 3, below every page size the connector asks for. A short page is not the end: nothing
    may be lost, and the full imports that ran before must not mark anything removed."""
    _require_knob(env, "max_results_cap")
    users, groups, issues = make_task(USERS_FULL), make_task(GROUPS_FULL, page_size=5), make_task(ISSUES_FULL)
    comments = make_task(COMMENTS_INCREMENTAL)
    jira, esm, state = env.jira(), env.esm(), env.state()
    runs = 0
    for task in (users, issues):  # uncapped first runs: cards exist, so removal could strike
        runs += import_until_done(env, task, jira=jira, esm=esm, state=state, attempts=1).runs
    env.jira_sim.admin("PUT", "config", json={"max_results_cap": 3})
    errors: list[str] = []
    for task in (users, groups, issues, comments):
        done = tolerant(lambda: import_until_done(env, task, jira=jira, esm=esm, state=state, attempts=2), 2)
        runs += done.runs
        errors += done.errors
    env.calm()
    esm = env.esm()
    counts = check_import(users, env.jira_sim, esm)
    for task in (groups, issues, comments):
        counts = counts.add(check_import(task, env.jira_sim, esm))
    report("Jira page cap 3 on every listing", runs, counts)
    assert not errors, errors


@pytest.mark.parametrize("mode", ["full", "incremental"])
def test_data_changes_between_pages(env, report, mode):
    """While the import pages (after its first page), Jira edits issues already fetched and
    not yet fetched, creates two and deletes one. A second (scheduled) run converges.
    (Incremental: 25 issues changed before the run, so that it has several pages.)"""
    task = make_task(ISSUES_FULL if mode == "full" else ISSUES_INCREMENTAL)
    jira, esm, state = env.jira(), env.esm(), env.state()
    runs = import_until_done(env, task, jira=jira, esm=esm, state=state, attempts=1).runs
    keys = sorted(jira_issues(env.jira_sim, task.jql), key=lambda k: int(k.split("-")[1]))
    changed: list[str] = []
    if mode == "incremental":
        for key in keys[10:35]:
            env.jira_sim.admin("PATCH", f"issues/{key}", json={"summary": f"edited before run 2: {key}"})

    def change_jira():
        for n, key in enumerate(keys[:3] + keys[-3:]):
            env.jira_sim.admin("PATCH", f"issues/{key}", json={"summary": f"edited while paging {n}"})
            changed.append(key)
        for n in range(2):
            env.jira_sim.admin("POST", "issues", json={"project": "SUP", "priority": "Low", "summary": f"created while paging {n}"})
        env.jira_sim.admin("DELETE", f"issues/{keys[len(keys) // 2]}")

    hook = after_pages(jira, 1, change_jira)
    runs += import_until_done(env, task, jira=jira, esm=esm, state=state, attempts=1).runs
    assert hook.fired and changed
    hook.remove()
    runs += import_until_done(env, task, jira=jira, esm=esm, state=state, attempts=1).runs
    env.calm()
    report(f"Jira data changes between pages ({mode})", runs, check_import(task, env.jira_sim, env.esm()))
