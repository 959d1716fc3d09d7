"""create_user's ``products`` (Jira's createUser, NewUserDetails.products: "To create a user
without product access, set this field to be an empty array"): a task file's explicit
``products: []`` creates the user without product access; a task file without ``products``
keeps the connector's default, jira-software."""
from __future__ import annotations

from jira_esm_connector.events import run_event

from .conftest import example_task, unique


def _products(jira, account_id):
    roles = jira.request("GET", "/rest/api/3/user", params={"accountId": account_id, "expand": "applicationRoles"})
    return [item["key"] for item in roles["applicationRoles"]["items"]]


def test_an_explicit_empty_product_list_creates_a_user_without_product_access(jira, state, close_accounts_after):
    task = example_task("event_create_user.yaml", write_back=None, user={"email": "{{ email }}", "products": []})
    made = run_event(task, {"event_id": unique(), "email": f"{unique('noaccess')}@example.com"}, jira, None, state)
    close_accounts_after.append(made["account_id"])
    assert _products(jira, made["account_id"]) == []


def test_no_products_in_the_task_file_gives_jira_software(jira, state, close_accounts_after):
    task = example_task("event_create_user.yaml", write_back=None, user={"email": "{{ email }}"})
    made = run_event(task, {"event_id": unique(), "email": f"{unique('default')}@example.com"}, jira, None, state)
    close_accounts_after.append(made["account_id"])
    assert _products(jira, made["account_id"]) == ["jira-software"]
