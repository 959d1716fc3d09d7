"""An import's edit leaves a card in the folder it is in: the task's folder is where NEW cards
go (load step 3). The bulk PUT sent the task's folder with every edit too, so an incident an
agent had moved to the archive went back to incident management the next time its issue
changed; and an edit carrying folderCode matches both branches of the contract's
RESTDataCardRequest (oneOf modify / create)."""
from __future__ import annotations

from jira_esm_connector.pipeline import run_import

from .conftest import ISSUES_TASK, make_task
from .helpers import by_attr, esm_cards, run_id


def test_an_edited_card_stays_in_the_folder_it_was_moved_to(jira, jira_sim, esm, state, staging):
    key = jira_sim.admin("POST", "issues", json={"project": "SUP", "summary": "archived later"}).json()["key"]
    task = make_task(ISSUES_TASK, name="folder_kept", jql=f"key = {key}")
    run_import(task, jira, esm, state, staging, run_id(1))
    card = by_attr(esm_cards(esm, "incident", task.name), "jira_key")[key]
    assert card.folder_code == "incident_management"
    esm.patch_card("incident", card.data_card_id, {}, folder="incident_archive")  # an agent archives it
    jira_sim.admin("PATCH", f"issues/{key}", json={"summary": "changed in Jira"})

    second = run_import(task, jira, esm, state, staging, run_id(2))

    after = esm.get_card("incident", card.data_card_id)
    assert second["updated"] == 1, second
    assert after.value("subject") == "changed in Jira"
    assert after.folder_code == "incident_archive"
