from __future__ import annotations

from jira_esm_connector.config import describe_task, load_task_file


def test_scheduled_doc_shows_jql_mode_schedule_template_mapping(examples):
    task = load_task_file(examples / "jira_issues_to_incidents.yaml")
    doc = describe_task(task, warning="runs too often", source="jira_issues_to_incidents.yaml")
    assert doc.startswith("# jira_issues_to_incidents\n\n> **Warning:** runs too often")
    for text in ("generic import, incremental", "`*/30 * * * *`", "`project = SUP AND issuetype in (Bug, Incident)`",
                 "`incident` / `incident_management`", "| `status` | fields.status.name, map (3 values), default '01 - New' |",
                 "→ person by jira_account_id", "expect_column_values_to_not_be_null"):
        assert text in doc, text


def test_removed_and_comment_docs(examples):
    users = describe_task(load_task_file(examples / "jira_users_to_persons.yaml"))
    assert "`accountStatus` = `Deleted` (at most 30% per run)" in users
    comments = describe_task(load_task_file(examples / "jira_comments_to_worklog.yaml"))
    assert "`worklog` on the card whose `jira_key` is the issue key" in comments
    assert "| `value` | body, adf_to_text |" in comments


def test_event_doc_lists_payload(examples):
    doc = describe_task(load_task_file(examples / "create_jira_issue_from_incident.yaml"))
    assert "| `subject` | string | yes | Incident subject; max 255 chars |" in doc
    assert "one of `1 - Critical`, `2 - High`, `3 - Normal`" in doc
    assert "| `fields.summary` | template '{{ subject }}' |" in doc
    assert "`incident`.`jira_key`" in doc


def test_pipes_and_formats_do_not_break_tables(examples):
    from jira_esm_connector.config import parse_task

    t = parse_task({
        "name": "x", "kind": "event", "operation": "add_comment", "jira_conn_id": "j", "esm_conn_id": "e",
        "payload": {"k": {"required": True}, "mail": {"format": "email"}},
        "issue": "{{ k | upper }}", "comment": "{{ mail }}",
    })
    doc = describe_task(t)
    assert "{{ k \\| upper }}" in doc
    assert "| `mail` | string | no | format email |" in doc
