"""An issue deleted in Jira after the comment import's JQL listing showed it, and before its
comments were read: Jira answers 404 for its comments. The generic import stages no such
issue (the count is logged), and a comment deleted mid-run is skipped the same way; the comment
import instead failed the whole run (every other issue's comments, and the watermark). Now the
issue's comments are skipped with a warning (a worklog is only added to: nothing to take
back), and so does the comment reconciliation. Real simulators over HTTPS."""
from __future__ import annotations

from jira_esm_connector.markers import worklog_marker
from jira_esm_connector.pipeline import run_import
from jira_esm_connector.pipeline.reconcile import reconcile

from .conftest import ISSUES_TASK, comment_task, make_task
from .helpers import by_attr, esm_cards, run_id


def test_an_issue_deleted_after_the_listing_does_not_fail_the_comment_import(
    jira, jira_sim, esm, state, staging, monkeypatch, caplog,
):
    keys = [jira_sim.admin("POST", "issues", json={
        "project": "SUP", "summary": f"deleted race {n}", "comments": [{"body": f"comment on {n}"}],
    }).json()["key"] for n in range(2)]
    jql = f"key in ({', '.join(keys)})"
    run_import(make_task(ISSUES_TASK, name="del_issues", jql=jql), jira, esm, state, staging, run_id(1))
    task = comment_task("del_comments", jql)

    # someone deletes keys[0] in Jira after the listing showed it, before its comments are read
    real_comments = jira.iter_comments

    def iter_comments(key, *args, **kwargs):
        if key == keys[0]:
            jira_sim.admin("DELETE", f"issues/{key}")
        return real_comments(key, *args, **kwargs)

    monkeypatch.setattr(jira, "iter_comments", iter_comments)
    caplog.set_level("WARNING", logger="jira_esm_connector")
    result = run_import(task, jira, esm, state, staging, run_id(1))  # failed here with NotFoundError
    monkeypatch.undo()
    assert f"Jira has no issue {keys[0]} any more" in caplog.text

    card = by_attr(esm_cards(esm, "incident"), "jira_key")[keys[1]]
    texts = [e.get("value") or "" for e in esm.get_attribute("incident", card.data_card_id, "worklog")]
    comment_id = next(iter(jira.iter_comments(keys[1])))["id"]
    assert any(t.endswith(worklog_marker(comment_id)) for t in texts), texts
    assert result["refused"] == 0, result


def test_the_comment_reconciliation_skips_an_issue_deleted_after_the_listing(jira, jira_sim, esm, state, monkeypatch):
    key = jira_sim.admin("POST", "issues", json={
        "project": "SUP", "summary": "deleted before compared", "comments": [{"body": "a comment"}],
    }).json()["key"]
    task = comment_task("del_comments_reconciled", f"key = {key}")
    real_comments = jira.iter_comments

    def iter_comments(issue_key, *args, **kwargs):
        jira_sim.admin("DELETE", f"issues/{issue_key}")  # gone between the listing and its comments
        return real_comments(issue_key, *args, **kwargs)

    monkeypatch.setattr(jira, "iter_comments", iter_comments)
    report = reconcile(task, jira, esm, state)
    assert report["jira_issues"] == 1 and report["jira_records"] == 0, report
