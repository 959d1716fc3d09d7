"""The load step gives each ESM card to one record, chunks at ESM at once included. Real ESM simulator over HTTPS, a fresh state
store per test; the diff datasets are staged by hand so keys, issue ids and chunk borders
are known."""
from __future__ import annotations

import hashlib
import threading
from contextlib import contextmanager

import pytest

from jira_esm_connector.pipeline import load
from jira_esm_connector.pipeline.transform import encode_data

from .conftest import ISSUES_TASK, make_task
from .test_parallel_load import _cards_by_key, _record, _stage
from .test_removal_memberships import GROUPS_TASK

CF = "customfield_10050"
WAIT_S = 3  # how long a chunk reading a card waits for the other chunk to read it


@pytest.mark.parametrize("concurrency", [1, 2])
def test_a_custom_field_value_moving_between_issues_in_chunks_at_esm_at_once_keeps_one_card_per_issue(
    esm, state, tmp_path, concurrency
):
    """An import keyed by a custom field (an asset tag). Issue 1 held "X" (card C); now issue 2
    holds "X" and issue 1 holds "Y". Written one chunk after the other, the load learns that
    issue 2 is written under "X" before it looks at issue 1, and leaves card C to the value "X"
    (a custom field's value is no issue's own); issue 1 gets a card of its own. With both chunks
    at ESM at once, issue 1's chunk re-keyed card C to "Y" while issue 2's chunk wrote issue 2
    onto the same card C under "X": two issues, one card (the key map naming it for both), and
    the issue whose write came first lost its card for good (both fingerprints cached)."""
    task = make_task(ISSUES_TASK, name=f"cf_swap_parallel_{concurrency}", key={"jira": f"fields.{CF}", "esm": "jira_key"})
    load(task, _stage(tmp_path / "d1", [_record("X", "issue one", "10001")]), esm, state)
    card = _cards_by_key(esm, task.name)["X"][0].data_card_id

    records = [_record("X", "issue two", "10002"), _record("Y", "issue one, new tag", "10001")]
    result = load(task, _stage(tmp_path / "d2", records), esm, state, chunk_size=1, concurrency=concurrency)

    cards = _cards_by_key(esm, task.name)
    held = {key: [(c.data_card_id, c.value("subject")) for c in found] for key, found in cards.items()}
    assert sorted(cards) == ["X", "Y"], f"{result}; cards by key: {held}"
    assert all(len(found) == 1 for found in cards.values()), held
    assert cards["X"][0].value("subject") == "issue two" and cards["Y"][0].value("subject") == "issue one, new tag"
    assert cards["X"][0].data_card_id == card, held  # the card stays with its value
    ids = state.get_card_ids(task.name, ["X", "Y"])
    assert ids == {"X": card, "Y": cards["Y"][0].data_card_id}, ids


@contextmanager
def _reads_at_once(esm, chunks: int):
    """While the block runs, a card read by its id waits (up to ``WAIT_S``) until ``chunks``
    reads were made: chunks at ESM at once have each read the card before either writes it."""
    real_get_card = esm.get_card
    all_read = threading.Barrier(chunks, timeout=WAIT_S)

    def get_card(*args, **kwargs):
        found = real_get_card(*args, **kwargs)
        try:
            all_read.wait()
        except threading.BrokenBarrierError:
            pass  # no other chunk read it
        return found

    esm.get_card = get_card
    try:
        yield
    finally:
        esm.get_card = real_get_card


@pytest.mark.parametrize("concurrency", [1, 2])
def test_two_issues_created_from_one_card_in_chunks_at_esm_at_once_get_one_card_each(
    esm, state, tmp_path, concurrency
):
    """Two event pushes from one incident (ESM sent the event again under a new event id) each
    created an issue and could not write its key back: both keys are noted with that card. The
    load gives the card to one of them and a new card to the other -- in one chunk (the chunk's
    own check) and one chunk after the other (the first recorded, the card holds its key when
    the second reads it). With both chunks at ESM at once, each read the card holding no key
    yet and wrote its issue onto it: two issues, one card, one issue's data overwritten and
    never written again (both cached)."""
    task = make_task(ISSUES_TASK, name=f"one_origin_parallel_{concurrency}")
    card = str(esm.create_card("incident", {"subject": "Printer on fire"}, folder="incident_management"))
    for n, key in enumerate(("SUP-801", "SUP-802"), start=1):
        state.note_event_card("incident", "jira_key", key, card, task="create_issue", event_id=f"same-card-{n}")

    records = [_record("SUP-801", "first issue"), _record("SUP-802", "second issue")]
    with _reads_at_once(esm, concurrency):
        result = load(task, _stage(tmp_path / "d", records), esm, state, chunk_size=1, concurrency=concurrency)

    cards = _cards_by_key(esm, task.name)
    held = {key: [(c.data_card_id, c.value("subject")) for c in found] for key, found in cards.items()}
    assert sorted(cards) == ["SUP-801", "SUP-802"], f"{result}; cards by key: {held}"
    assert all(len(found) == 1 for found in cards.values()), held
    assert card in (cards["SUP-801"][0].data_card_id, cards["SUP-802"][0].data_card_id), held
    assert (result["created"], result["updated"]) == (1, 1), result


@pytest.mark.parametrize("concurrency", [1, 2])
def test_two_groups_created_from_one_card_in_chunks_looked_up_at_once_get_one_card_each(
    esm, state, tmp_path, concurrency
):
    """As above for a group import, whose cards are looked up by the membership check (chunks
    at ESM at once) before anything is written: both groups got the card an event push created
    them from, and both were written onto it."""
    task = make_task(GROUPS_TASK, name=f"one_origin_groups_{concurrency}")
    card = str(esm.create_card("group", {"name": "Printers"}, folder="groups"))
    for n, key in enumerate(("gid-801", "gid-802"), start=1):
        state.note_event_card("group", "jira_group_id", key, card, task="create_group", event_id=f"same-group-{n}")
    records = []
    for key in ("gid-801", "gid-802"):
        data = encode_data({"jira_group_id": key, "name": f"group {key}", "status": "1 - Active"})
        records.append({"key": key, "fingerprint": hashlib.sha256(data.encode()).hexdigest(), "data": data,
                        "issue_key": None, "updated": None, "object_id": None})

    with _reads_at_once(esm, concurrency):
        result = load(task, _stage(tmp_path / "d", records), esm, state, chunk_size=1, concurrency=concurrency)

    found: dict[str, list[str]] = {}
    for group in esm.iter_cards("group"):
        found.setdefault(str(group.value("jira_group_id")), []).append(group.data_card_id)
    assert len(found.get("gid-801", [])) == 1 and len(found.get("gid-802", [])) == 1, f"{result}; {found}"
    assert card in found["gid-801"] + found["gid-802"], found
