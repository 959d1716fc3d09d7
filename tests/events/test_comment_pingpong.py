"""The no-ping-pong rule (SPEC §5: comments imported into ESM are not pushed back to
Jira) holds for the comment step of transition_issue too, and for a comment template that
puts words after the forwarded worklog entry."""
from __future__ import annotations

from jira_esm_connector.events import run_event
from jira_esm_connector.mapping import adf_to_text
from jira_esm_connector.markers import worklog_marker

from .conftest import example_task, unique


def test_transition_comment_that_came_from_jira_is_not_pushed_back(jira, state):
    key = jira.create_issue({"project": {"key": "SUP"}, "issuetype": {"name": "Task"}, "summary": "ping-pong on solve"})["key"]
    jira_comment = jira.add_comment(key, {"type": "doc", "version": 1, "content": [
        {"type": "paragraph", "content": [{"type": "text", "text": "Fixed by restarting the spooler."}]}]})
    # the worklog entry exactly as the comment import wrote it into ESM; the ESM workflow
    # solves the incident with it as the solution comment
    imported = f"Fixed by restarting the spooler.\n\n{worklog_marker(jira_comment['id'])}"
    result = run_event(example_task("event_transition_issue.yaml"),
                       {"event_id": unique(), "issue_key": key, "status": "05 - Solved", "comment": imported},
                       jira, None, state)
    assert result["changed"] is True
    bodies = [adf_to_text(c["body"]) for c in jira.iter_comments(key)]
    assert bodies == ["Fixed by restarting the spooler."], bodies


def test_add_comment_with_a_suffix_template_does_not_push_an_imported_comment_back(jira, state):
    """The task file in tests/config/examples/add_comment_to_jira_issue.yaml appends the author
    after the text, so the import's marker is no longer at the end of the *rendered* comment,
    which is all came_from_jira looks at: the Jira comment goes back to Jira."""
    from pathlib import Path

    import yaml

    from jira_esm_connector.config import parse_task

    raw = yaml.safe_load((Path(__file__).resolve().parents[1] / "config" / "examples" / "add_comment_to_jira_issue.yaml").read_text())
    raw.pop("write_back")  # (its card attribute is not in the ESM simulator; irrelevant here)
    task = parse_task(raw, "add_comment_to_jira_issue.yaml")
    key = jira.create_issue({"project": {"key": "SUP"}, "issuetype": {"name": "Task"}, "summary": "suffix ping-pong"})["key"]
    original = jira.add_comment(key, {"type": "doc", "version": 1, "content": [
        {"type": "paragraph", "content": [{"type": "text", "text": "Called the customer."}]}]})
    # the ESM workflow forwards each new worklog entry with its author; this one is the import's
    result = run_event(task, {"event_id": unique(), "issue_key": key,
                              "text": f"Called the customer.\n\n{worklog_marker(original['id'])}",
                              "author": "Aino Virtanen"}, jira, None, state)
    assert [c["id"] for c in jira.iter_comments(key)] == [original["id"]], result
