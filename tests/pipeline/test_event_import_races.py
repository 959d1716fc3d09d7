"""Races between an event push (ESM -> Jira) and a scheduled import (Jira -> ESM) running at
the same time on different workers. Each race is staged deterministically: one side is held
at the racy moment (threading events) while the other runs through, on the real simulators."""
from __future__ import annotations

import threading
from contextlib import contextmanager

from jira_esm_connector.events import run_event
from jira_esm_connector.markers import EventRef
from jira_esm_connector.pipeline import run_import

from .conftest import ISSUES_TASK, make_task
from .helpers import esm_cards, run_id
from .test_roundtrip import example_task

WAIT_S = 60  # only a broken test waits this long


@contextmanager
def _write_back_held(jira, esm, esm_clients, state, event_id):
    """An event push that creates an issue from a new incident, on its own thread, held just
    before its write-back until the block ends. Yields (the incident's card, the issue's key,
    the push's outcome: ``result`` or ``error`` once the block is left, a function that lets
    the write-back go and waits for the push to end)."""
    create = example_task("event_create_issue.yaml")
    card = str(esm.create_card("incident", {"subject": "Printer on fire"}, folder="incident_management"))
    conf = {"event_id": event_id, "datacard_id": card, "subject": "Printer on fire"}
    event_esm = esm_clients()  # the event's own worker and client
    real_patch = event_esm.patch_card
    writing_back, release = threading.Event(), threading.Event()

    def slow_patch(*args, **kwargs):
        writing_back.set()
        assert release.wait(WAIT_S)
        return real_patch(*args, **kwargs)

    event_esm.patch_card = slow_patch
    outcome: dict = {}

    def push() -> None:
        try:
            outcome["result"] = run_event(create, conf, jira, event_esm, state)
        except BaseException as exc:  # noqa: BLE001 - reported by the callers' assertions
            outcome["error"] = exc

    pusher = threading.Thread(target=push)

    def let_go() -> None:
        release.set()
        pusher.join(WAIT_S)

    pusher.start()
    try:
        assert writing_back.wait(WAIT_S), outcome
        key = next(jira.search(f"labels = {EventRef(create.name, event_id).label}", fields=["summary"]))["key"]
        yield card, key, outcome, let_go
    finally:
        let_go()


def test_an_import_while_the_event_write_back_is_under_way_makes_no_second_card(jira, esm, esm_clients, state, staging):
    """The event created the Jira issue and its write-back to the incident is on its way (ESM
    slow, its client retrying a 503): the issue import runs meanwhile, meets the new key and
    must write the incident the event came from -- not create a second card that the
    write-back then turns into a duplicate. One issue, one card."""
    with _write_back_held(jira, esm, esm_clients, state, "inc-write-back-under-way") as (card, key, outcome, _):
        summary = run_import(example_task("import_3_issues_to_incidents.yaml", jql=f"key = {key}"),
                             jira, esm, state, staging, run_id(1))
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


CANCELLED = {"attribute": "status", "value": "07 - Cancelled"}


def _event_write_back_lands_after_a_move(jira, jira_sim, esm, esm_clients, state, staging, task, after_import=None):
    """Stage the race: an event push creates SUP-n from an incident; its write-back is held;
    the issue moves to OPS; the import writes the incident under OPS-m (the event's card);
    then the held write-back lands, putting the OLD key SUP-n back on the incident.
    Returns (card, old key, new key, the import's summary)."""
    with _write_back_held(jira, esm, esm_clients, state, f"inc-late-write-back-{task.name}") as (
            card, old_key, outcome, let_go):
        new_key = jira_sim.admin("POST", f"issues/{old_key}/move", json={"project": "OPS"}).json()["key"]
        summary = run_import(task, jira, esm, state, staging, run_id(1))
        if after_import is not None:
            after_import(new_key, let_go)
    assert outcome.get("result", {}).get("issue_key") == old_key, outcome
    assert esm.get_card("incident", card).value("jira_key") == old_key  # the race happened
    return card, old_key, new_key, summary


def test_a_late_event_write_back_of_the_old_key_does_not_cost_the_incident_its_card(
    jira, jira_sim, esm, esm_clients, state, staging,
):
    """The event's write-back of SUP-n lands after the import wrote the incident under the
    issue's new key OPS-m. When the issue next changes, the import must find the incident
    (the card it recorded for the issue) and re-key it -- not create a second card and mark
    the user's own incident removed as its duplicate."""
    task = example_task("import_3_issues_to_incidents.yaml", mode="full", removed=CANCELLED, jql="project in (SUP, OPS)")
    card, old_key, new_key, first = _event_write_back_lands_after_a_move(
        jira, jira_sim, esm, esm_clients, state, staging, task)
    assert first["created"] > 0 and first["marked_removed"] == 0, first
    jira.edit_issue(new_key, {"summary": "Printer still on fire"})

    second = run_import(task, jira, esm, state, staging, run_id(2))

    holding = [c for c in esm_cards(esm, "incident").values() if c.value("jira_key") in (old_key, new_key)]
    assert [(c.data_card_id, c.value("jira_key")) for c in holding] == [(card, new_key)], (holding, second)
    assert holding[0].value("status") != CANCELLED["value"] and holding[0].value("subject") == "Printer still on fire"
    assert (second["created"], second["marked_removed"], second["rekeyed"]) == (0, 0, 1), second


def test_a_late_event_write_back_of_the_old_key_is_not_marked_removed_and_is_rekeyed_next_run(
    jira, jira_sim, esm, esm_clients, state, staging, run_log,
):
    """As above, but the issue does not change: the full import writes nothing, and its removal
    check pages through the task's cards (the key map not known complete: a load crashed in
    between). It meets the incident under the old key SUP-n, which Jira answers as the issue now
    at OPS-m -- the key this task recorded the issue under, on this very card. That card is the
    issue's own, not a duplicate: not marked removed; the run after re-keys it."""
    task = make_task(ISSUES_TASK, name="late_write_back", mode="full", removed=CANCELLED, jql="project in (SUP, OPS)")
    saved: dict = {}
    card, old_key, new_key, _first = _event_write_back_lands_after_a_move(
        jira, jira_sim, esm, esm_clients, state, staging, task,
        after_import=lambda key, _let_go: saved.update(state.get_fingerprints(task.name, [key])))
    # as if the import's state write came after the event's success (which then saw nothing to
    # write again): the issue's record stays unchanged for the import
    state.delete_pending(task.name, [new_key])
    state.put_fingerprints(task.name, saved)
    state.set_key_map_complete(task.name, task.template, task.key.esm, False)

    second = run_import(task, jira, esm, state, staging, run_id(2), logger=run_log)
    assert esm.get_card("incident", card).value("status") != CANCELLED["value"], second
    assert (second["created"], second["marked_removed"]) == (0, 0), second
    assert any(f"card {card}" in m and old_key in m and new_key in m and "not marked removed" in m
               for m in run_log.messages), run_log.messages

    third = run_import(task, jira, esm, state, staging, run_id(3))
    holding = [c for c in esm_cards(esm, "incident").values() if c.value("jira_key") in (old_key, new_key)]
    assert [(c.data_card_id, c.value("jira_key")) for c in holding] == [(card, new_key)], (holding, third)
    assert holding[0].value("status") != CANCELLED["value"]
    assert (third["created"], third["marked_removed"], third["rekeyed"]) == (0, 0, 1), third


def test_a_late_event_write_back_of_the_old_key_is_undone_by_the_next_incremental_run(
    jira, jira_sim, esm, esm_clients, state, staging,
):
    """An incremental import does not fetch an issue that did not change: the incident would
    keep the old key SUP-n (a comment import finds no card under OPS-m) until the issue next
    changes -- perhaps after the event's note of its card is gone, and then as a second card.
    The event's success notes that it wrote the old key to a card the import wrote under
    another key: the next incremental run writes the issue again and re-keys the incident."""
    task = make_task(ISSUES_TASK, name="late_write_back_incremental", jql="project in (SUP, OPS)")
    card, old_key, new_key, _first = _event_write_back_lands_after_a_move(
        jira, jira_sim, esm, esm_clients, state, staging, task)

    second = run_import(task, jira, esm, state, staging, run_id(2))

    holding = [c for c in esm_cards(esm, "incident").values() if c.value("jira_key") in (old_key, new_key)]
    assert [(c.data_card_id, c.value("jira_key")) for c in holding] == [(card, new_key)], (holding, second)
    assert (second["created"], second["rekeyed"]) == (0, 1), second
    assert state.pending_keys(task.name) == []



def _write_back_lands_before_the_record(
    jira, jira_sim, esm, esm_clients, state, staging, monkeypatch, task, moved=None, logger=None,
):
    """Stage the race: the held write-back of SUP-n lands, and its event succeeds, after the
    import wrote the incident under the issue's new key OPS-m but before the import records
    that write. ``moved(new key)`` runs once the issue moved. Returns (card, old key, new key,
    the import's summary)."""
    real_record = state.record_loaded
    event_done: list = []

    def record_after_the_event(*args, **kwargs):
        if event_done:
            event_done.pop()()  # the write-back lands, and the event succeeds, before this record
        return real_record(*args, **kwargs)

    with _write_back_held(jira, esm, esm_clients, state, f"inc-late-write-back-before-record-{task.name}") as (
            card, old_key, outcome, let_go):
        new_key = jira_sim.admin("POST", f"issues/{old_key}/move", json={"project": "OPS"}).json()["key"]
        if moved is not None:
            moved(new_key)
        event_done.append(let_go)
        monkeypatch.setattr(state, "record_loaded", record_after_the_event)
        try:
            first = run_import(task, jira, esm, state, staging, run_id(1), logger=logger)
        finally:
            monkeypatch.setattr(state, "record_loaded", real_record)
    assert outcome.get("result", {}).get("issue_key") == old_key and not event_done, outcome
    assert esm.get_card("incident", card).value("jira_key") == old_key, first  # the race happened
    return card, old_key, new_key, first


def test_a_late_event_write_back_landing_before_the_imports_state_write_is_undone_by_the_next_run(
    jira, jira_sim, esm, esm_clients, state, staging, monkeypatch,
):
    """The late write-back of SUP-n lands after the import wrote the incident under OPS-m, and
    the event succeeds before the import records that write: the event sees no record of the
    issue to write again. The import's record sees the event's note of the old key on the very
    card it wrote: the next run writes the issue again and re-keys the incident, though the
    issue did not change (an incremental run fetches it again) -- not weeks later, once the note
    has expired, as a second card."""
    from datetime import UTC, datetime, timedelta

    task = make_task(ISSUES_TASK, name="late_write_back_before_record", jql="project in (SUP, OPS)")
    card, old_key, new_key, _first = _write_back_lands_before_the_record(
        jira, jira_sim, esm, esm_clients, state, staging, monkeypatch, task)

    second = run_import(task, jira, esm, state, staging, run_id(2))
    assert (second["created"], second["rekeyed"]) == (0, 1), second
    # weeks later the event's note is gone and the issue changes: its card is found by its key
    long_ago = datetime.now(UTC) - timedelta(days=30)
    with state.engine.begin() as conn:
        conn.execute(state.tables.events.update().values(finished_at=long_ago))
        conn.execute(state.tables.event_cards.update().values(created_at=long_ago))
    state.note_event_card("incident", "jira_key", "SUP-99999", "9999", task="another", event_id="later-push")
    assert state.event_cards("incident", "jira_key", [old_key]) == {}  # pruned
    jira.edit_issue(new_key, {"summary": "Printer still on fire"})
    third = run_import(task, jira, esm, state, staging, run_id(3))

    holding = [c for c in esm_cards(esm, "incident").values() if c.value("jira_key") in (old_key, new_key)]
    assert [(c.data_card_id, c.value("jira_key")) for c in holding] == [(card, new_key)], (holding, third)
    assert holding[0].value("subject") == "Printer still on fire" and third["created"] == 0, third


def test_a_record_held_pending_for_a_late_write_back_is_counted_and_named_apart(
    jira, jira_sim, esm, esm_clients, state, staging, monkeypatch, run_log,
):
    """A record the late write-back holds pending misses no reference: its card is written
    again next run to re-key it. The load counts it apart -- not among the pending records
    now complete, though it was pending before (here: waiting for a reference) and is written
    in full -- and finish names that reason, not missing referenced cards, for it alone."""
    from jira_esm_connector.pipeline import finish

    task = make_task(ISSUES_TASK, name="late_write_back_counted", jql="project in (SUP, OPS)")
    waiting = "assignee: no person card with jira_account_id = 'acc-9'"
    _card, _old_key, new_key, first = _write_back_lands_before_the_record(
        jira, jira_sim, esm, esm_clients, state, staging, monkeypatch, task,
        moved=lambda key: state.put_pending(task.name, {key: waiting}), logger=run_log)

    assert state.pending_keys(task.name) == [new_key]
    assert not any("now written in full" in m for m in run_log.messages), run_log.messages  # still pending
    assert not any("wait for referenced" in m for m in run_log.messages), run_log.messages
    assert (first["references_pending"], first["held_for_rekey"]) == (0, 1), first
    assert any(m.startswith("Loaded into ESM") and "1 held pending" in m for m in run_log.messages), run_log.messages
    held = [m for m in run_log.messages if "re-key" in m and new_key in m and m.startswith("1 record(s)")]
    assert len(held) == 1, run_log.messages

    # with a record waiting for a reference beside it, finish names each one's reason
    state.put_pending(task.name, {"SUP-1": waiting})
    run_log.messages.clear()
    summary = finish(task, state, run_id(2), {}, {}, {}, {"created": 0, "updated": 0, "refused": 0}, logger=run_log)
    assert (summary["references_pending"], summary["held_for_rekey"]) == (1, 1), summary
    waits = [m for m in run_log.messages if "wait for referenced ESM cards" in m]
    assert len(waits) == 1 and waits[0].startswith("1 record(s)") and "SUP-1" in waits[0] and new_key not in waits[0]
    held = [m for m in run_log.messages if "re-key" in m and m.startswith("1 record(s)")]
    assert len(held) == 1 and new_key in held[0] and "SUP-1 " not in held[0], run_log.messages
    assert "references pending 1" in summary["summary"] and "held for rekey 1" in summary["summary"]
