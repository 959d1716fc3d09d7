"""Races between an event push (ESM -> Jira) and a scheduled import (Jira -> ESM) running at
the same time on different workers. Each race is staged deterministically: one side is held
at the racy moment (threading events) while the other runs through, on the real simulators."""
from __future__ import annotations

import threading

from jira_esm_connector.events import run_event
from jira_esm_connector.markers import EventRef
from jira_esm_connector.pipeline import run_import

from .helpers import esm_cards, run_id
from .test_roundtrip import example_task

WAIT_S = 60  # only a broken test waits this long


def test_an_import_while_the_event_write_back_is_under_way_makes_no_second_card(jira, esm, esm_clients, state, staging):
    """The event created the Jira issue and its write-back to the incident is on its way (ESM
    slow, its client retrying a 503): the issue import runs meanwhile, meets the new key and
    must write the incident the event came from -- not create a second card that the
    write-back then turns into a duplicate. One issue, one card."""
    create = example_task("event_create_issue.yaml")
    card = str(esm.create_card("incident", {"subject": "Printer on fire"}, folder="incident_management"))
    conf = {"event_id": "inc-write-back-under-way", "datacard_id": card, "subject": "Printer on fire"}
    event_esm = esm_clients()  # the event's own worker and client
    real_patch = event_esm.patch_card
    writing_back, import_done = threading.Event(), threading.Event()

    def slow_patch(*args, **kwargs):
        writing_back.set()
        assert import_done.wait(WAIT_S)
        return real_patch(*args, **kwargs)

    event_esm.patch_card = slow_patch
    outcome: dict = {}

    def push() -> None:
        try:
            outcome["result"] = run_event(create, conf, jira, event_esm, state)
        except BaseException as exc:  # noqa: BLE001 - reported by the assertion below
            outcome["error"] = exc

    pusher = threading.Thread(target=push)
    pusher.start()
    try:
        assert writing_back.wait(WAIT_S), outcome
        key = next(jira.search(f"labels = {EventRef(create.name, conf['event_id']).label}", fields=["summary"]))["key"]
        summary = run_import(example_task("import_3_issues_to_incidents.yaml", jql=f"key = {key}"),
                             jira, esm, state, staging, run_id(1))
    finally:
        import_done.set()
        pusher.join(WAIT_S)
    assert outcome.get("result", {}).get("issue_key") == key, outcome
    holding = [c.data_card_id for c in esm_cards(esm, "incident").values() if c.value("jira_key") == key]
    assert holding == [card], (holding, summary)
    assert (summary["created"], summary["updated"]) == (0, 1), summary


def test_two_unfinished_events_from_one_card_give_it_to_one_issue_only(jira, esm, esm_clients, state, staging):
    """Two create events from the same incident (ESM sent it again under a new event id)
    both created their issue, and neither wrote its key back (ESM refused the write-backs).
    An import meeting both issues in one chunk gives the incident to one of them and a new
    card to the other -- not both to the incident, which would hold one key and leave the
    other issue without a card."""
    create = example_task("event_create_issue.yaml")
    card = str(esm.create_card("incident", {"subject": "Printer on fire"}, folder="incident_management"))
    event_esm = esm_clients()

    def refuse(*args, **kwargs):
        raise RuntimeError("ESM refused the write-back")

    event_esm.patch_card = refuse
    keys = []
    for event_id in ("inc-same-card-1", "inc-same-card-2"):
        conf = {"event_id": event_id, "datacard_id": card, "subject": "Printer on fire"}
        try:
            run_event(create, conf, jira, event_esm, state)
        except Exception:  # noqa: BLE001 - the write-back failure this test stages
            pass
        keys.append(next(jira.search(f"labels = {EventRef(create.name, event_id).label}", fields=["summary"]))["key"])
    summary = run_import(example_task("import_3_issues_to_incidents.yaml", jql=f"key in ({', '.join(keys)})"),
                         jira, esm, state, staging, run_id(1))
    holding = {key: [c.data_card_id for c in esm_cards(esm, "incident").values() if c.value("jira_key") == key]
               for key in keys}
    assert all(len(cards) == 1 for cards in holding.values()), (holding, summary)
    assert card in holding[keys[0]] + holding[keys[1]], holding
