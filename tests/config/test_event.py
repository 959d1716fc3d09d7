"""EventTask validation per operation, payload declarations and rendering payloads."""
from __future__ import annotations

import copy

import pytest

from jira_esm_connector.config import (
    EventTask,
    TaskFileError,
    event_renderer,
    load_task_file,
    parse_task,
)
from jira_esm_connector.mapping import MappingError, text_to_adf

CREATE = {
    "name": "create_issue",
    "kind": "event",
    "operation": "create_issue",
    "jira_conn_id": "jira_default",
    "esm_conn_id": "esm_default",
    "payload": {"subject": {"type": "string", "required": True}},
    "fields": {
        "project": {"value": {"key": "SUP"}},
        "issuetype": {"value": {"name": "Bug"}},
        "summary": "{{ subject }}",
    },
}


def event(base=CREATE, **changes) -> EventTask:
    data = copy.deepcopy(base)
    for k, v in changes.items():
        if v is ...:
            data.pop(k, None)
        else:
            data[k] = v
    return parse_task(data, "e.yaml")  # type: ignore[return-value]


def problem(base=CREATE, **changes) -> TaskFileError:
    with pytest.raises(TaskFileError) as info:
        event(base, **changes)
    return info.value


def test_create_issue_needs_project_issuetype_summary():
    fields = dict(CREATE["fields"])
    del fields["issuetype"]
    err = problem(fields=fields)
    assert err.key == "fields" and err.message.endswith("missing: issuetype")


def test_unknown_operation():
    err = problem(operation="create_issues")
    assert err.key == "operation" and err.message.startswith("must be 'create_issue', 'update_issue'")


def test_template_must_refer_to_declared_payload_fields():
    fields = dict(CREATE["fields"], summary="{{ subjcet }}")
    err = problem(fields=fields)
    assert err.key == "fields.summary"
    assert "'subjcet', which is not a declared payload field" in err.message
    fields = dict(CREATE["fields"], description={"from": "descr", "transform": "text_to_adf"})
    assert problem(fields=fields).key == "fields.description"
    # event_id and datacard_id are always available
    ok = event(fields=dict(CREATE["fields"], customfield_10010="{{ datacard_id }}/{{ event_id }}"))
    assert "customfield_10010" in ok.fields


def test_template_syntax_error_names_field():
    err = problem(fields=dict(CREATE["fields"], summary="{{ subject "))
    assert err.key == "fields.summary" and "template syntax error" in err.message


def test_reserved_and_bad_payload_names():
    assert problem(payload={"event_id": {"type": "string"}}).key == "payload.event_id"
    assert problem(payload={"1abc": {}}).key == "payload.1abc"
    assert problem(payload={"subject": {"type": "text"}}).key == "payload.subject.type"
    assert problem(payload={"subject": {"type": "integer", "max_length": 3}}).key == "payload.subject.max_length"
    assert problem(payload={"subject": {"enum": [1, "a"]}}).key == "payload.subject.enum[0]"
    assert problem(payload={"subject": {"format": "phone"}}).key == "payload.subject.format"
    assert problem(payload={"subject": {"pattern": "("}}).key == "payload.subject.pattern"
    assert problem(payload={"subject": {"required": True, "default": "x"}}).key == "payload.subject.default"
    assert problem(payload={"subject": {"requird": True}}).key == "payload.subject.requird"


def test_blocks_only_for_their_operations():
    err = problem(issue="{{ subject }}")
    assert err.key == "issue" and "create_issue does not use 'issue'" in err.message


@pytest.mark.parametrize("operation,blocks,missing_key", [
    ("update_issue", {"fields": {"summary": "{{ s }}"}}, "issue"),
    ("update_issue", {"issue": "{{ s }}"}, "fields"),
    ("add_comment", {"issue": "{{ s }}"}, "comment"),
    ("transition_issue", {"issue": "{{ s }}"}, "transition"),
    ("create_user", {}, "user.email"),
    ("delete_user", {}, "user"),
    ("create_group", {"group": {"id": "{{ s }}"}}, "group.name"),
    ("delete_group", {}, "group"),
    ("add_user_to_group", {"user": {"email": "{{ s }}"}}, "group"),
    ("remove_user_from_group", {"group": {"name": "{{ s }}"}}, "user"),
])
def test_operation_requirements(operation, blocks, missing_key):
    base = {k: v for k, v in CREATE.items() if k not in ("fields",)}
    base = dict(base, operation=operation, payload={"s": {"type": "string", "required": True}}, **blocks)
    err = problem(base)
    assert err.key == missing_key, str(err)


def test_products_only_valid_names_and_only_for_create_user():
    base = {k: v for k, v in CREATE.items() if k != "fields"}
    base = dict(base, operation="create_user", payload={"mail": {"format": "email"}})
    assert problem(base, user={"email": "{{ mail }}", "products": ["jira-softwar"]}).key == "user.products[0]"
    ok = event(base, user={"email": "{{ mail }}", "products": ["jira-software"]})
    assert ok.user.products == ["jira-software"]
    base2 = dict(base, operation="delete_user")
    assert problem(base2, user={"email": "{{ mail }}", "products": ["jira-software"]}).key == "user.products"


def test_render_create_issue(examples):
    t = load_task_file(examples / "create_jira_issue_from_incident.yaml")
    render = event_renderer(t)
    out = render({"event_id": "inc-4711-create", "datacard_id": "4711", "subject": "Printer on fire",
                  "priority": "2 - High", "description": "Line 1\nLine 2\n\nPara 2"})
    assert out.fields == {
        "project": {"key": "SUP"}, "issuetype": {"name": "Bug"}, "summary": "Printer on fire",
        "description": text_to_adf("Line 1\nLine 2\n\nPara 2"), "priority": {"name": "High"},
        "ESM reference": "4711",
    }
    # optional values not sent: fields left out rather than sent empty
    out = render({"event_id": "e2", "datacard_id": "9", "subject": "x"})
    assert set(out.fields) == {"project", "issuetype", "summary", "ESM reference"}


def test_render_is_literal_for_hostile_values(examples):
    t = load_task_file(examples / "create_jira_issue_from_incident.yaml")
    nasty = '{{ 7*7 }} " OR project = X -- {% raw %} ÄÖ 日本語 ' + "x" * 5000
    out = event_renderer(t)({"event_id": "e", "datacard_id": "1", "subject": nasty})
    assert out.fields["summary"] == nasty  # values are data, never re-evaluated as templates


def test_sandbox_refuses_internals():
    t = event(fields=dict(CREATE["fields"], summary="{{ subject.__class__.__mro__ }}"))
    with pytest.raises(MappingError) as info:
        event_renderer(t)({"event_id": "e", "subject": "x"})
    assert info.value.attribute == "summary"


def test_render_transition_and_comment(examples):
    t = load_task_file(examples / "transition_jira_issue.yaml")
    out = event_renderer(t)({"event_id": "e", "issue_key": "SUP-1", "status": "Done", "resolution": "Fixed"})
    assert (out.issue, out.transition_to, out.resolution, out.comment) == ("SUP-1", "Done", "Fixed", None)
    c = load_task_file(examples / "add_comment_to_jira_issue.yaml")
    out = event_renderer(c)({"event_id": "e", "datacard_id": "5", "issue_key": "SUP-2", "text": "hello", "author": "Ann"})
    assert out.comment == "hello\n\n(ESM: Ann)"
    out = event_renderer(c)({"event_id": "e", "datacard_id": "5", "issue_key": "SUP-2", "text": "hello"})
    assert out.comment == "hello"


def test_render_user_and_group(examples):
    t = load_task_file(examples / "add_user_to_jira_group.yaml")
    out = event_renderer(t)({"event_id": "e", "email": "a@example.com", "group": "jira-admins"})
    assert (out.email, out.group_name, out.account_id) == ("a@example.com", "jira-admins", None)
    u = load_task_file(examples / "create_jira_user.yaml")
    assert event_renderer(u)({"event_id": "e", "datacard_id": "7", "email": "b@example.com"}).products == ["jira-software"]
