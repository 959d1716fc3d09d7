"""Jira hides the e-mail address of a user whose profile visibility says so (User.emailAddress:
"Depending on the user's privacy setting, this may be returned as null") -- for an Atlassian
account, which always has one, that is "not shown", not "none". The user import wrote the
missing address as an empty value and wiped the e-mail of the person's ESM card, e.g. the one
the create_jira_user event had written the account id back to. Real simulators over HTTPS."""
from __future__ import annotations

from jira_esm_connector.pipeline import run_import
from jira_esm_connector.pipeline.reconcile import reconcile

from .conftest import USERS_TASK, make_task
from .helpers import run_id


def test_a_hidden_email_address_leaves_the_cards_email_as_it_is(jira, jira_sim_scratch, esm, state, staging):
    email = "hidden.hire@example.com"
    account_id = jira_sim_scratch.admin("POST", "users", {"email": email, "displayName": "Hidden Hire",
                                                          "emailVisible": False}).json()["accountId"]
    person = esm.create_card("person", {"email": email, "jira_account_id": account_id}, folder="persons")
    task = make_task(USERS_TASK)

    first = run_import(task, jira, esm, state, staging, run_id(1))

    card = esm.get_card("person", person)
    assert first["refused"] == 0 and card.value("display_name") == "Hidden Hire"
    assert card.value("email") == email  # Jira did not show it: not wiped
    # nor does the reconciliation count the card stale for the address Jira does not show
    report = reconcile(task, jira, esm, state, sample_size=1000)
    assert report["stale_sampled"] > 0 and report["stale"] == 0
    # shown again (and changed): written
    jira_sim_scratch.admin("PATCH", f"users/{account_id}", {"email": "shown.hire@example.com", "emailVisible": True})
    run_import(task, jira, esm, state, staging, run_id(2))
    assert esm.get_card("person", person).value("email") == "shown.hire@example.com"


def test_a_hidden_email_address_leaves_an_attribute_templated_from_it_as_it_is(jira, jira_sim_scratch, esm, state, staging):
    """The same when the attribute reads the address through a template (an app user has no
    address at all, hence the default): what it renders without the address says nothing about
    the card's e-mail."""
    email = "hidden.template@example.com"
    account_id = jira_sim_scratch.admin("POST", "users", {"email": email, "displayName": "Hidden Template",
                                                          "emailVisible": False}).json()["accountId"]
    person = esm.create_card("person", {"email": email, "jira_account_id": account_id}, folder="persons")
    attributes = {**USERS_TASK["attributes"], "email": {"template": "{{ emailAddress | default('') | lower }}"}}
    task = make_task(USERS_TASK, attributes=attributes)

    first = run_import(task, jira, esm, state, staging, run_id(1))

    card = esm.get_card("person", person)
    assert first["refused"] == 0 and card.value("display_name") == "Hidden Template", first
    assert card.value("email") == email
