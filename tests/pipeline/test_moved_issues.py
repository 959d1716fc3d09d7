"""A Jira issue moved to another project (SUP-5 becomes OPS-12), or whose project key an
admin changed (every SUP-n becomes HELP-n), keeps its id: its card follows it -- re-keyed,
not a second card, and not marked removed. Real simulators (the Jira simulator moves issues
and changes project keys as Jira Cloud does)."""
from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from jira_esm_connector.markers import worklog_marker
from jira_esm_connector.pipeline import run_import

from .conftest import ISSUES_TASK, comment_task, make_task
from .helpers import by_attr, esm_cards, run_id

REMOVED = {"attribute": "status", "value": "07 - Cancelled"}
FULL = dict(ISSUES_TASK, name="moved_full", mode="full", jql="project in (SUP, OPS)", removed=REMOVED)


def _new_issue_with_comments(jira_sim) -> str:
    return jira_sim.admin("POST", "issues", json={
        "project": "SUP", "summary": "printer on fire", "comments": [{"body": "first"}, {"body": "second"}],
    }).json()["key"]


def _move(jira_sim, key: str, project: str) -> str:
    return jira_sim.admin("POST", f"issues/{key}/move", json={"project": project}).json()["key"]


def _cards(esm, task) -> dict[str, list]:
    """key -> the task's cards holding it."""
    out: dict[str, list] = {}
    for card in esm_cards(esm, "incident", task.name).values():
        out.setdefault(str(card.value("jira_key")), []).append(card)
    return out


def _worklog_ids(esm, card_id: str, ids: list[str]) -> list[str]:
    texts = [e.get("value") or "" for e in esm.get_attribute("incident", card_id, "worklog")]
    return [i for i in ids if any(t.endswith(worklog_marker(i)) for t in texts)]


def test_full_import_after_a_move_rekeys_the_card_and_marks_nothing(jira, jira_sim, esm, state, staging, run_log):
    old_key = _new_issue_with_comments(jira_sim)
    task = make_task(FULL)
    first = run_import(task, jira, esm, state, staging, run_id(1))
    comments = comment_task("moved_full_comments", "project in (SUP, OPS)")
    assert run_import(comments, jira, esm, state, staging, run_id(1))["created"] > 0
    card_id = by_attr(esm_cards(esm, "incident", task.name), "jira_key")[old_key].data_card_id
    comment_ids = [c["id"] for c in jira.iter_comments(old_key)]
    assert _worklog_ids(esm, card_id, comment_ids) == comment_ids

    new_key = _move(jira_sim, old_key, "OPS")
    second = run_import(task, jira, esm, state, staging, run_id(2), logger=run_log)

    cards = _cards(esm, task)
    assert old_key not in cards and [c.data_card_id for c in cards[new_key]] == [card_id]
    assert cards[new_key][0].value("status") != REMOVED["value"]
    assert (second["created"], second["marked_removed"], second["rekeyed"]) == (0, 0, 1), second
    assert sum(len(c) for c in cards.values()) == first["created"]
    assert f"{old_key} is now {new_key} (moved in Jira): card {card_id} re-keyed." in run_log.messages
    # the card's worklog is the issue's: the comment import finds every comment there
    again = run_import(comments, jira, esm, state, staging, run_id(2))
    assert again["created"] == 0 and _worklog_ids(esm, card_id, comment_ids) == comment_ids
    # the old key's state went with the card: nothing left to write, mark or re-key
    assert state.get_card_ids(task.name, [old_key]) == {} and state.get_fingerprints(task.name, [old_key]) == {}
    third = run_import(task, jira, esm, state, staging, run_id(3))
    assert (third["created"], third["updated"], third["marked_removed"]) == (0, 0, 0), third


def test_incremental_import_after_a_move_rekeys_the_card(jira, jira_sim, esm, state, staging):
    old_key = _new_issue_with_comments(jira_sim)
    task = make_task(ISSUES_TASK, name="moved_incremental", jql="project in (SUP, OPS)")
    run_import(task, jira, esm, state, staging, run_id(1))
    card_id = by_attr(esm_cards(esm, "incident", task.name), "jira_key")[old_key].data_card_id
    state.clear_cache(task.name, "a cache clear keeps what a moved issue needs")

    new_key = _move(jira_sim, old_key, "OPS")
    second = run_import(task, jira, esm, state, staging, run_id(2))

    cards = _cards(esm, task)
    assert old_key not in cards and [c.data_card_id for c in cards[new_key]] == [card_id]
    assert second["created"] == 0 and second["rekeyed"] == 1, second


@pytest.mark.parametrize("backend", ["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def test_a_project_key_change_rekeys_every_card_and_creates_or_marks_none(
    jira, jira_sim, esm, staging, request, backend,
):
    state = request.getfixturevalue("state" if backend == "sqlite" else "pg_state")
    task = make_task(FULL, name="renamed_project", jql="project = SUP")
    first = run_import(task, jira, esm, state, staging, run_id(1))
    before = {k: c[0].data_card_id for k, c in _cards(esm, task).items()}
    assert len(before) == first["created"] > 10

    session = jira_sim.session()
    session.put(f"{jira_sim.base_url}/rest/api/3/project/SUP", json={"key": "HELP"}).raise_for_status()
    second = run_import(task, jira, esm, state, staging, run_id(2))

    after = {k: [c.data_card_id for c in cs] for k, cs in _cards(esm, task).items()}
    assert after == {f"HELP-{k.split('-')[1]}": [card] for k, card in before.items()}
    assert (second["created"], second["marked_removed"], second["rekeyed"]) == (0, 0, len(before)), second
    assert all(c.value("status") != REMOVED["value"] for c in esm_cards(esm, "incident", task.name).values())
    third = run_import(task, jira, esm, state, staging, run_id(3))
    assert (third["created"], third["updated"], third["marked_removed"]) == (0, 0, 0), third


def test_a_moved_issue_whose_rekey_esm_refused_keeps_its_card_unmarked_until_the_next_run(
    jira, jira_sim, esm, state, staging, run_log,
):
    """ESM refuses the edit that would re-key the card: mark_removed must not mark the old
    card (the issue is there, under its new key), and the next run re-keys it."""
    moving = jira_sim.admin("POST", "issues", json={"project": "SUP", "summary": "moving", "labels": ["moving"]})
    old_key = moving.json()["key"]
    task = make_task(FULL, name="moved_refused", jql="project = SUP OR labels = moving")
    run_import(task, jira, esm, state, staging, run_id(1))
    card_id = by_attr(esm_cards(esm, "incident", task.name), "jira_key")[old_key].data_card_id
    new_key = _move(jira_sim, old_key, "OPS")  # OPS has another workflow: the issue is now in Backlog
    refusing = dict(FULL["attributes"]["status"], map={"Backlog": "99 - No such status"})
    broken = make_task(FULL, name=task.name, jql=task.jql, attributes=dict(FULL["attributes"], status=refusing))

    second = run_import(broken, jira, esm, state, staging, run_id(2), logger=run_log)
    assert [r["key"] for r in second["refused_records"]] == [new_key] and second["marked_removed"] == 0, second
    assert by_attr(esm_cards(esm, "incident", task.name), "jira_key")[old_key].value("status") != REMOVED["value"]
    assert any("were not re-keyed yet" in m and old_key in m for m in run_log.messages)

    third = run_import(task, jira, esm, state, staging, run_id(3))
    cards = _cards(esm, task)
    assert old_key not in cards and [c.data_card_id for c in cards[new_key]] == [card_id]
    assert cards[new_key][0].value("status") != REMOVED["value"]
    assert (third["created"], third["rekeyed"], third["marked_removed"]) == (0, 1, 0), third


def test_a_moved_issue_asked_by_its_old_key_is_paired_and_a_deleted_one_marked_under_a_quiet_cap(
    jira, jira_sim, esm, state, staging, run_log,
):
    """The removal re-check asks Jira for both candidates by key, and Jira quietly answers only
    the first 2 ids of a request and leaves a deleted issue out of its answer (the contract):
    the moved issue answers under its new key, so which key it answered is paired one by one --
    its card (not re-keyed: ESM refused the edit) is not marked; the deleted issue's card is."""
    old_key = jira_sim.admin("POST", "issues", json={"project": "SUP", "summary": "moving", "labels": ["moving"]}).json()["key"]
    doomed = jira_sim.admin("POST", "issues", json={"project": "SUP", "summary": "to be deleted"}).json()["key"]
    task = make_task(FULL, name="moved_paired", jql="project = SUP OR labels = moving")
    run_import(task, jira, esm, state, staging, run_id(1))
    new_key = _move(jira_sim, old_key, "OPS")  # OPS has another workflow: the issue is now in Backlog
    jira_sim.admin("DELETE", f"issues/{doomed}")
    refusing = dict(FULL["attributes"]["status"], map={"Backlog": "99 - No such status"})
    broken = make_task(FULL, name=task.name, jql=task.jql, attributes=dict(FULL["attributes"], status=refusing))

    jira_sim.admin("PUT", "config", json={"bulkfetch_max": 2, "bulkfetch_silent": True})
    try:
        second = run_import(broken, jira, esm, state, staging, run_id(2), logger=run_log)
    finally:
        jira_sim.admin("PUT", "config", json={"bulkfetch_max": 0, "bulkfetch_silent": False})

    assert [r["key"] for r in second["refused_records"]] == [new_key] and second["marked_removed"] == 1, second
    cards = by_attr(esm_cards(esm, "incident", task.name), "jira_key")
    assert cards[old_key].value("status") != REMOVED["value"] and cards[doomed].value("status") == REMOVED["value"]
    assert any("were not re-keyed yet" in m and old_key in m for m in run_log.messages)


def test_a_move_the_state_has_no_issue_id_for_does_as_before_and_says_so(jira, jira_sim, esm, state, staging, run_log):
    """A state database from before issue ids were recorded (or a lost one): the moved issue
    gets a card of its own and the old one is marked removed, as before -- and the log says
    why, naming the new key."""
    old_key = _new_issue_with_comments(jira_sim)
    task = make_task(FULL)
    run_import(task, jira, esm, state, staging, run_id(1))
    with state.engine.begin() as conn:
        conn.execute(state.tables.object_keys.delete())
    new_key = _move(jira_sim, old_key, "OPS")
    second = run_import(task, jira, esm, state, staging, run_id(2), logger=run_log)
    cards = _cards(esm, task)
    assert (second["created"], second["marked_removed"]) == (1, 1) and len(cards[new_key]) == 1
    assert cards[old_key][0].value("status") == REMOVED["value"]
    assert any("moved in Jira to keys that have cards of their own" in m and "predating the issue ids" in m
               and f"{old_key} (card {cards[old_key][0].data_card_id}) is now {new_key}" in m for m in run_log.messages)


def test_diff_passes_on_a_dataset_transformed_before_issue_ids_were_carried(state, staging):
    """A run whose diff step is retried after the upgrade: its transform dataset has no
    ``object_id`` column; the records pass on without one (load then does as before)."""
    from jira_esm_connector.pipeline import diff
    from jira_esm_connector.pipeline.staging import Dataset, DatasetWriter

    task = make_task(FULL)
    writer = DatasetWriter(staging / "old-transform", ["key", "fingerprint", "data", "issue_key", "updated"])
    writer.write_page([{"key": "SUP-1", "fingerprint": "f1", "data": '{"subject": "x"}', "issue_key": None,
                        "updated": None}])
    transformed = {"dataset": str(writer.close().path), "transformed": 1, "quality_checked": False, "carried": 0}
    diffed = diff(task, transformed, state, staging / "run")
    assert diffed["changed"] == 1
    assert list(Dataset(diffed["dataset"]).iter_rows(["key", "object_id"])) == [{"key": "SUP-1", "object_id": None}]


def test_a_moved_issue_the_lagging_index_left_out_is_not_marked_removed(jira, jira_sim, esm, state, staging, run_log):
    """The move changed the issue just now: the lagging search index lists it under neither
    key. Like any issue changed within the overlap, its card waits for the next run (which
    re-keys it) -- it is not marked removed meanwhile."""
    task = make_task(FULL, name="moved_lagging")
    run_import(task, jira, esm, state, staging, run_id(1))
    old_key = sorted(k for k in _cards(esm, task) if k.startswith("SUP-"))[2]
    card_id = _cards(esm, task)[old_key][0].data_card_id
    new_key = _move(jira_sim, old_key, "OPS")

    jira_sim.admin("PUT", "config", json={"search_lag_seconds": 30})
    try:
        second = run_import(task, jira, esm, state, staging, run_id(2), logger=run_log)
    finally:
        jira_sim.admin("PUT", "config", json={"search_lag_seconds": 0})
    assert _cards(esm, task)[old_key][0].value("status") != REMOVED["value"], second
    assert second["marked_removed"] == 0, second
    assert any(old_key in m and "next run" in m for m in run_log.messages), run_log.messages

    third = run_import(task, jira, esm, state, staging, run_id(3))  # the index caught up
    cards = _cards(esm, task)
    assert old_key not in cards and [c.data_card_id for c in cards[new_key]] == [card_id]
    assert cards[new_key][0].value("status") != REMOVED["value"]
    assert (third["created"], third["rekeyed"], third["marked_removed"]) == (0, 1, 0), third



@pytest.mark.parametrize("write_back", ["landed", "refused a week ago"])
def test_an_event_issue_moved_before_the_import_wrote_it_gets_the_event_card(
    jira, jira_sim, esm, esm_clients, state, staging, write_back,
):
    """An event push created SUP-n from an incident; the issue moved to OPS before any import
    wrote it. Its write-back either put SUP-n on the incident, or ESM refused it and the event
    was left failed (its claim too old to be searched again: only the note of its card stays).
    The import meets OPS-m and writes the event's incident -- not a second card (which the
    event's retry, writing the issue's key now, would turn into a duplicate)."""
    from jira_esm_connector.events import run_event
    from jira_esm_connector.markers import EventRef

    from .test_roundtrip import example_task

    create = example_task("event_create_issue.yaml")
    card = str(esm.create_card("incident", {"subject": "Printer on fire"}, folder="incident_management"))
    conf = {"event_id": f"inc-moved-{write_back[:7]}", "datacard_id": card, "subject": "Printer on fire"}
    event_esm = esm_clients()
    real_patch = event_esm.patch_card
    if write_back == "landed":
        run_event(create, conf, jira, event_esm, state)
    else:
        def refuse(*args, **kwargs):
            raise RuntimeError("ESM refused the write-back")

        event_esm.patch_card = refuse
        with pytest.raises(RuntimeError):
            run_event(create, conf, jira, event_esm, state)
        events = state.tables.events
        with state.engine.begin() as conn:
            conn.execute(events.update().values(claimed_at=datetime.now(UTC) - timedelta(days=8)))
    old_key = next(jira.search(f"labels = {EventRef(create.name, conf['event_id']).label}", fields=["summary"]))["key"]
    new_key = _move(jira_sim, old_key, "OPS")

    task = example_task("import_3_issues_to_incidents.yaml", jql=f"key = {new_key}")
    summary = run_import(task, jira, esm, state, staging, run_id(1))
    # the write-back came before the import's look-up (its card held the old key then, or none):
    # the import's write stands, nothing to write again for it
    again = [r for r in state.pending_records(task.name) if "old key" in r["reason"]]
    assert again == [], again
    event_esm.patch_card = real_patch
    assert run_event(create, conf, jira, event_esm, state)["issue_key"] in (old_key, new_key)  # replayed, or retried

    holding = [c.data_card_id for c in esm_cards(esm, "incident").values() if c.value("jira_key") == new_key]
    assert holding == [card], (holding, summary)
    assert (summary["created"], summary["updated"]) == (0, 1), summary


def test_a_move_to_a_key_with_a_card_of_its_own_marks_the_old_card_a_duplicate_and_says_so(
    jira, jira_sim, esm, state, staging, run_log,
):
    """SUP-n moved to OPS-m, and OPS-m already has a card of its own (another writer on the
    shared template made it). The import writes that card (one active card per issue) and
    marks the old key's card removed as the duplicate it is -- the issue keeps its active
    card, so nothing is de-provisioned -- and the log names both cards and says why, not that
    the task lacked the issue's id."""
    old_key = _new_issue_with_comments(jira_sim)
    task = make_task(FULL, name="moved_onto_a_card")
    run_import(task, jira, esm, state, staging, run_id(1))
    old_card = _cards(esm, task)[old_key][0].data_card_id
    new_key = _move(jira_sim, old_key, "OPS")
    other = str(esm.create_card("incident", {"jira_key": new_key, "subject": "made by another writer",
                                             "task_id": "another_task"}, folder="incident_management"))

    second = run_import(task, jira, esm, state, staging, run_id(2), logger=run_log)

    cards = _cards(esm, task)
    assert [c.data_card_id for c in cards[new_key]] == [other] and cards[new_key][0].value("status") != REMOVED["value"]
    assert [c.data_card_id for c in cards[old_key]] == [old_card] and cards[old_key][0].value("status") == REMOVED["value"]
    assert (second["created"], second["rekeyed"], second["marked_removed"]) == (0, 0, 1), second
    said = [m for m in run_log.messages if old_key in m and new_key in m]
    assert any(f"card {old_card}" in m and f"card {other}" in m and "of its own" in m for m in said), said
    assert not any("before this task recorded their ids" in m for m in run_log.messages), run_log.messages


def test_a_move_without_an_id_record_whose_new_key_esm_refused_keeps_the_only_card(
    jira, jira_sim, esm, state, staging, run_log,
):
    """A move the state has no issue id for (a state database from before they were recorded)
    and ESM refuses the record under its new key: the old card is the issue's only card, so it
    is not marked removed (nothing de-provisioned for an issue Jira still has); once the new
    key's record is written, the old card is the duplicate and is marked."""
    moving = jira_sim.admin("POST", "issues", json={"project": "SUP", "summary": "moving", "labels": ["moving2"]})
    old_key = moving.json()["key"]
    task = make_task(FULL, name="moved_unrecorded_refused", jql="project = SUP OR labels = moving2")
    run_import(task, jira, esm, state, staging, run_id(1))
    with state.engine.begin() as conn:
        conn.execute(state.tables.object_keys.delete())
    new_key = _move(jira_sim, old_key, "OPS")  # OPS has another workflow: the issue is now in Backlog
    refusing = dict(FULL["attributes"]["status"], map={"Backlog": "99 - No such status"})
    broken = make_task(FULL, name=task.name, jql=task.jql, attributes=dict(FULL["attributes"], status=refusing))

    second = run_import(broken, jira, esm, state, staging, run_id(2), logger=run_log)
    assert [r["key"] for r in second["refused_records"]] == [new_key] and second["marked_removed"] == 0, second
    assert _cards(esm, task)[old_key][0].value("status") != REMOVED["value"]
    assert any("has written no card for them under any key yet" in m and f"{old_key} (card " in m
               for m in run_log.messages), run_log.messages

    third = run_import(task, jira, esm, state, staging, run_id(3))
    cards = _cards(esm, task)
    assert (third["created"], third["marked_removed"]) == (1, 1), third
    assert cards[old_key][0].value("status") == REMOVED["value"] and len(cards[new_key]) == 1


def test_an_incremental_import_rekeys_a_renamed_projects_cards_on_its_next_run(
    jira, jira_sim, esm, state, staging, run_log,
):
    """A project key change does not move the issues' ``updated``: an incremental run would
    re-key their cards only as each issue next changes (and a comment import meanwhile finds
    no card for the new keys). The run notices the project whose key changed (Jira still
    answers to the old key) and lists its issues in full once: every card re-keyed, none
    created; the run after lists only what changed again, though the card of an issue deleted
    before the change still holds its old key."""
    task = make_task(ISSUES_TASK, name="renamed_incremental", jql="project = SUP")
    first = run_import(task, jira, esm, state, staging, run_id(1))
    before = {k: c[0].data_card_id for k, c in _cards(esm, task).items()}
    assert len(before) == first["created"] > 10
    comments = comment_task("renamed_incremental_comments", "project = SUP")
    assert run_import(comments, jira, esm, state, staging, run_id(1))["created"] > 0

    session = jira_sim.session()
    gone = sorted(before)[0]  # deleted in Jira: an incremental import keeps its card, and its key map row
    session.delete(f"{jira_sim.base_url}/rest/api/3/issue/{gone}").raise_for_status()
    session.put(f"{jira_sim.base_url}/rest/api/3/project/SUP", json={"key": "HELP"}).raise_for_status()
    assert (jira.project_key("SUP"), jira.project_key("HELP"), jira.project_key("NOPE")) == ("HELP", "HELP", None)
    second = run_import(task, jira, esm, state, staging, run_id(2), logger=run_log)

    after = {k: [c.data_card_id for c in cs] for k, cs in _cards(esm, task).items()}
    assert after == {(k if k == gone else f"HELP-{k.split('-')[1]}"): [card] for k, card in before.items()}
    assert (second["created"], second["rekeyed"]) == (0, len(before) - 1), second
    assert any("SUP is now HELP" in m for m in run_log.messages), run_log.messages
    # the comment import finds every issue's card under its new key: nothing refused, nothing new
    again = run_import(comments, jira, esm, state, staging, run_id(2))
    assert (again["created"], again["refused"]) == (0, 0), again
    said = len(run_log.messages)
    jira_sim.admin("DELETE", "stats")
    third = run_import(task, jira, esm, state, staging, run_id(3), logger=run_log)
    assert third["fetched"] < len(before) and (third["created"], third["rekeyed"]) == (0, 0), third
    assert not any("is now HELP" in m for m in run_log.messages[said:]), run_log.messages[said:]
    # what noticing a key change costs each run: one listing of the keys the task holds cards
    # under (HELP, and SUP for the deleted issue's card), and a look-up only of SUP, which is
    # no project's key now -- not a request per project
    asked = jira_sim.stats()["endpoints"]
    assert (asked.get("GET /rest/api/3/project/search"), asked.get("GET /rest/api/3/project/{projectIdOrKey}")) == (1, 1), asked


def test_a_move_onto_a_key_with_a_card_when_the_old_card_is_another_writers_says_it_stays(
    jira, jira_sim, esm, state, staging, run_log,
):
    """As above, but another task wrote the old card last (it owns it now): the import writes
    the new key's card and says the old one stays as it is -- not that it will be marked."""
    old_key = _new_issue_with_comments(jira_sim)
    task = make_task(FULL, name="moved_onto_a_card_of_another")
    run_import(task, jira, esm, state, staging, run_id(1))
    old_card = _cards(esm, task)[old_key][0].data_card_id
    esm.patch_card("incident", old_card, {"task_id": "another_task"})
    new_key = _move(jira_sim, old_key, "OPS")
    other = str(esm.create_card("incident", {"jira_key": new_key, "subject": "made by another writer"},
                                folder="incident_management"))

    second = run_import(task, jira, esm, state, staging, run_id(2), logger=run_log)

    assert [c.data_card_id for c in _cards(esm, task)[new_key]] == [other] and second["created"] == 0, second
    said = [m for m in run_log.messages if f"card {old_card} of {old_key}" in m]
    assert said and all("not this task's card" in m and "stays as it is" in m for m in said), said


def test_an_incremental_import_rekeys_a_project_renamed_back_and_again(jira, jira_sim, esm, state, staging):
    """SUP becomes HELP, back SUP, then HELP again (an admin undoing and redoing a rename). Each
    change is listed in full once: the third one too, although SUP -> HELP was listed before --
    the project has been SUP again since."""
    task = make_task(ISSUES_TASK, name="renamed_back_and_again", jql="project = SUP")
    first = run_import(task, jira, esm, state, staging, run_id(1))
    before = {k: c[0].data_card_id for k, c in _cards(esm, task).items()}
    assert len(before) == first["created"] > 10
    session = jira_sim.session()
    try:
        for n, (project, key) in enumerate([("SUP", "HELP"), ("HELP", "SUP"), ("SUP", "HELP")], start=2):
            session.put(f"{jira_sim.base_url}/rest/api/3/project/{project}", json={"key": key}).raise_for_status()
            summary = run_import(task, jira, esm, state, staging, run_id(n))
            after = {k: [c.data_card_id for c in cs] for k, cs in _cards(esm, task).items()}
            assert after == {f"{key}-{k.split('-')[1]}": [card] for k, card in before.items()}, (n, summary)
            assert (summary["created"], summary["rekeyed"]) == (0, len(before)), (n, summary)
    finally:  # tests outside this directory use the simulator without resetting it: SUP as seeded
        session.put(f"{jira_sim.base_url}/rest/api/3/project/HELP", json={"key": "SUP"})


def test_a_card_rekeyed_without_its_state_write_keeps_the_issue_when_it_moves_again(
    jira, jira_sim, esm, state, staging, run_log,
):
    """A run re-keyed the card (SUP-n -> OPS-m) and died before the state write: the state
    still says SUP-n, card C, while C holds OPS-m. The issue moves again before a run that
    succeeds: no card holds the new key nor SUP-n -- the next run reads card C by its id and
    re-keys it, not a second card, and C (the issue's history) is not marked removed."""
    old_key = _new_issue_with_comments(jira_sim)
    task = make_task(FULL, name="moved_twice_lost_state")
    first = run_import(task, jira, esm, state, staging, run_id(1))
    card_id = _cards(esm, task)[old_key][0].data_card_id
    between = _move(jira_sim, old_key, "OPS")
    esm.patch_card("incident", card_id, {"jira_key": between})  # the re-key ESM saved; the state write was lost
    assert state.get_card_ids(task.name, [old_key, between]) == {old_key: card_id}
    new_key = _move(jira_sim, between, "SUP")

    second = run_import(task, jira, esm, state, staging, run_id(2), logger=run_log)

    cards = _cards(esm, task)
    assert [c.data_card_id for c in cards[new_key]] == [card_id] and between not in cards and old_key not in cards
    assert cards[new_key][0].value("status") != REMOVED["value"]
    assert (second["created"], second["marked_removed"], second["rekeyed"]) == (0, 0, 1), second
    assert sum(len(c) for c in cards.values()) == first["created"]
    assert f"{old_key} is now {new_key} (moved in Jira): card {card_id} re-keyed." in run_log.messages
    third = run_import(task, jira, esm, state, staging, run_id(3))
    assert (third["created"], third["updated"], third["marked_removed"], third["rekeyed"]) == (0, 0, 0, 0), third


@pytest.mark.parametrize("second_card", ["the same card", "another card"])
def test_an_event_issue_a_later_event_noted_again_keeps_the_event_card_when_it_moves(
    jira, jira_sim, esm, esm_clients, state, staging, second_card,
):
    """An event push created SUP-n from incident A (its write-back landed: A holds SUP-n, the
    note has the issue's id). A later update event with a write-back of the issue key, from A
    or from incident B, had its write-back refused: its note of SUP-n (without an id: an update
    creates nothing) must not cost A the issue. The issue moves before any import: the import
    writes A under the new key -- not a second card beside A."""
    from jira_esm_connector.events import run_event
    from jira_esm_connector.markers import EventRef

    from .test_roundtrip import example_task

    create = example_task("event_create_issue.yaml")
    update = example_task("event_update_issue.yaml", name="update_with_write_back",
                          write_back={"template": "incident", "attribute": "jira_key"})
    card = str(esm.create_card("incident", {"subject": "Printer on fire"}, folder="incident_management"))
    other = card if second_card == "the same card" else str(
        esm.create_card("incident", {"subject": "Same printer"}, folder="incident_management"))
    conf = {"event_id": f"inc-noted-twice-{second_card[:5]}", "datacard_id": card, "subject": "Printer on fire"}
    old_key = run_event(create, conf, jira, esm, state)["issue_key"]
    assert old_key == next(jira.search(f"labels = {EventRef(create.name, conf['event_id']).label}",
                                       fields=["summary"]))["key"]
    event_esm = esm_clients()

    def refuse(*args, **kwargs):
        raise RuntimeError("ESM refused the write-back")

    event_esm.patch_card = refuse
    with pytest.raises(RuntimeError):
        run_event(update, {"event_id": f"inc-upd-{second_card[:5]}", "datacard_id": other, "issue_key": old_key,
                           "subject": "Printer still on fire"}, jira, event_esm, state)
    new_key = _move(jira_sim, old_key, "OPS")

    task = example_task("import_3_issues_to_incidents.yaml", jql=f"key = {new_key}")
    summary = run_import(task, jira, esm, state, staging, run_id(1))

    holding = {c.data_card_id: c.value("jira_key") for c in esm_cards(esm, "incident").values()
               if c.value("jira_key") in (old_key, new_key)}
    assert holding == {card: new_key}, (holding, summary)
    assert (summary["created"], summary["updated"], summary["rekeyed"]) == (0, 1, 1), summary
