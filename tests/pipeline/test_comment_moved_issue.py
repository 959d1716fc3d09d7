"""A comment record's fingerprint holds the issue it belongs to: when an issue moves to
another key (another project) and the issue import -- keyed by the issue key, as in the
SPEC's example -- gives it a new card, its comments reach the new card (they counted as
"unchanged" before). (The move is simulated by showing the comment import the issue under its new
key, with a card made by hand for that key -- what a move gives when the issue import had not
recorded the issue's id; tests/pipeline/test_moved_issues.py moves issues in the simulator.)"""
from __future__ import annotations

import dataclasses

from jira_esm_connector.markers import worklog_marker
from jira_esm_connector.pipeline import run_import

from .conftest import ISSUES_TASK, comment_task, make_task
from .helpers import by_attr, esm_cards, run_id


def test_comments_of_a_moved_issue_reach_its_new_card(jira, jira_sim, esm, state, staging, monkeypatch):
    old_key = jira_sim.admin("POST", "issues", json={
        "project": "SUP", "summary": "to be moved", "comments": [{"body": "first"}, {"body": "second"}],
    }).json()["key"]
    new_key = "OPS-9001"
    issues = make_task(ISSUES_TASK, name="moved_issues", jql=f"key = {old_key}")
    run_import(issues, jira, esm, state, staging, run_id(1))
    comments_task = comment_task("moved_comments", f"key = {old_key}")
    first = run_import(comments_task, jira, esm, state, staging, run_id(1))
    ids = [c["id"] for c in jira.iter_comments(old_key)]
    assert first["created"] == len(ids) > 0

    # SUP-1 is moved to OPS: the issue import (keyed by the issue key) makes a card for OPS-9001
    esm.create_card("incident", {"subject": "moved", "jira_key": new_key, "task_id": issues.name},
                    folder="incident_management")
    real_pages, real_comments = jira.iter_search_pages, jira.iter_comments

    def iter_search_pages(*args, **kwargs):
        for page in real_pages(*args, **kwargs):
            moved = [dict(i, key=new_key) if i.get("key") == old_key else i for i in page.issues]
            yield dataclasses.replace(page, issues=moved)

    def iter_comments(key, *args, **kwargs):
        return real_comments(old_key if key == new_key else key, *args, **kwargs)

    monkeypatch.setattr(jira, "iter_search_pages", iter_search_pages)
    monkeypatch.setattr(jira, "iter_comments", iter_comments)
    run_import(comments_task, jira, esm, state, staging, run_id(2))

    cards = by_attr(esm_cards(esm, "incident"), "jira_key")
    texts = [e.get("value") or "" for e in esm.get_attribute("incident", cards[new_key].data_card_id, "worklog")]
    missing = [i for i in ids if not any(t.endswith(worklog_marker(i)) for t in texts)]
    assert not missing, f"comments {missing} of the moved issue are not on its card {new_key}: {texts}"
