"""Both directions together, as the example task files in include/mappings set them up: an
event pushes a change from ESM to Jira (``run_event``), the scheduled import brings Jira's
state back into ESM (``run_import``), and what the import writes into a card, when the ESM
workflow pushes it again, changes nothing in Jira (no echo)."""
from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from jira_esm_connector.config import parse_task
from jira_esm_connector.events import run_event
from jira_esm_connector.pipeline import run_import

from .helpers import by_attr, esm_cards, run_id

MAPPINGS = Path(__file__).resolve().parents[2] / "include" / "mappings"


def example_task(file_name: str, **changes: Any):
    """An example task file from include/mappings, with top-level keys changed."""
    raw = yaml.safe_load((MAPPINGS / file_name).read_text())
    raw.update(changes)
    return parse_task(raw, file_name)


def _issue_in_status(jira, status: str) -> str:
    """A new issue of the example import's projects, moved to ``status`` by its workflow."""
    for project in ("SUP", "OPS"):
        key = jira.create_issue({"project": {"key": project}, "issuetype": {"name": "Task"}, "summary": f"now {status}"})["key"]
        if jira.get_issue(key, fields=["status"])["fields"]["status"]["name"] == status:
            return key  # the workflow's first status
        move = next((t for t in jira.get_transitions(key) if t["to"]["name"] == status), None)
        if move is not None:
            jira.transition_issue(key, move["id"])
            return key
    raise LookupError(f"no workflow of SUP or OPS leads to {status!r}")


@pytest.mark.parametrize("status", ["In Review", "Selected for Development", "Waiting for support", "Backlog"])
def test_the_imported_status_pushed_back_by_the_workflow_leaves_the_issue_where_it_is(jira, esm, state, staging, status):
    """The issue import maps several Jira statuses to one ESM status ("In Review" ->
    "02 - Solving"); the ESM workflow pushes the incident's status to Jira when it changes,
    also when the import changed it. That echo must not move the issue to another status of
    the same ESM meaning ("In Review" -> "In Progress")."""
    key = _issue_in_status(jira, status)
    run_import(example_task("import_3_issues_to_incidents.yaml", jql=f"key = {key}"), jira, esm, state, staging, run_id(1))
    card = by_attr(esm_cards(esm, "incident"), "jira_key")[key]

    result = run_event(example_task("event_transition_issue.yaml"),
                       {"event_id": f"echo-{key}", "issue_key": key, "status": card.value("status")}, jira, None, state)

    assert jira.get_issue(key, fields=["status"])["fields"]["status"]["name"] == status, result
    assert result["changed"] is False


def test_an_issue_whose_write_back_waits_gets_no_second_card_from_the_import(jira, esm, state, staging, monkeypatch):
    """The event creates the Jira issue, then ESM refuses the write-back for a while (503): the
    event fails and waits for its retry. The issue import meets the new key before that retry:
    it writes the incident the event came from, not a second card -- and the retried write-back
    then finds the key already there. One issue, one card."""
    from jira_esm_connector.http.errors import ServiceUnavailableError

    create = example_task("event_create_issue.yaml")
    card = str(esm.create_card("incident", {"subject": "Printer on fire"}, folder="incident_management"))
    conf = {"event_id": "inc-write-back-waits", "datacard_id": str(card), "subject": "Printer on fire"}
    real_patch = esm.patch_card

    def esm_down(*args, **kwargs):
        raise ServiceUnavailableError("ESM failed with 503", 503, "ESM")

    monkeypatch.setattr(esm, "patch_card", esm_down)
    with pytest.raises(ServiceUnavailableError):
        run_event(create, conf, jira, esm, state)
    from jira_esm_connector.markers import EventRef

    key = next(jira.search(f"labels = {EventRef(create.name, conf['event_id']).label}", fields=["summary"]))["key"]
    assert by_attr(esm_cards(esm, "incident"), "jira_key").get(key) is None  # the write-back did not happen

    summary = run_import(example_task("import_3_issues_to_incidents.yaml", jql=f"key = {key}"),
                         jira, esm, state, staging, run_id(1))
    assert (summary["created"], summary["updated"]) == (0, 1), summary

    monkeypatch.setattr(esm, "patch_card", real_patch)
    retried = run_event(create, conf, jira, esm, state)
    assert retried["issue_key"] == key
    holding = [c for c in esm_cards(esm, "incident").values() if c.value("jira_key") == key]
    assert [c.data_card_id for c in holding] == [card], holding
