"""A user import and the reconciliation leave a hidden e-mail address on the card for every
account type that has one (real simulators over HTTPS, real state store, the real pipeline)."""
from __future__ import annotations

from jira_esm_connector.pipeline import run_import
from jira_esm_connector.pipeline.reconcile import reconcile

from .conftest import USERS_TASK, make_task
from .helpers import by_attr, esm_cards, run_id


def _cards(esm, task) -> dict:
    return by_attr(esm_cards(esm, "person", task.name), "jira_account_id")


def test_a_customer_account_hiding_its_email_address_keeps_the_cards_email(jira, jira_sim_scratch, esm, state, staging):
    """A Jira Service Management customer account (accountType 'customer') is made from an
    e-mail address and always has one; as for an Atlassian account, its privacy settings can
    keep Jira from showing it ("Customer's email address. Depending on the customer's privacy
    settings, this may be returned as null"). The user import treated only 'atlassian'
    accounts so, and wiped the address of a customer's person card once the customer hid it."""
    sim = jira_sim_scratch
    email = "portal.customer@example.org"
    account_id = sim.admin("POST", "users", {"email": email, "displayName": "Portal Customer",
                                             "accountType": "customer", "products": []}).json()["accountId"]
    task = make_task(USERS_TASK)
    run_import(task, jira, esm, state, staging, run_id(1))
    assert _cards(esm, task)[account_id].value("email") == email

    sim.admin("PATCH", f"users/{account_id}", {"emailVisible": False, "displayName": "Portal Customer Renamed"})
    second = run_import(task, jira, esm, state, staging, run_id(2))

    card = _cards(esm, task)[account_id]
    assert second["updated"] >= 1 and card.value("display_name") == "Portal Customer Renamed", second
    assert card.value("email") == email  # not shown by Jira: not wiped
    report = reconcile(task, jira, esm, state, sample_size=1000)
    assert report["stale"] == 0, report
