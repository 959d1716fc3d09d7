"""A card the key map knows that ESM's search does not return yet (written moments ago, not
yet searchable): the load reads it by its mapped id before calling it gone, and writes it --
no second card for the key. A mapped card that is really gone is still created again
(tests/pipeline/test_parallel_load.py). Real ESM simulator; the search lag is a wrapper
that hides one card from filtered listings."""
from __future__ import annotations

from jira_esm_connector.pipeline import load

from .conftest import ISSUES_TASK, make_task
from .test_parallel_load import _cards_by_key, _record, _stage


def test_a_mapped_card_the_search_does_not_return_yet_is_written_not_doubled(esm, state, tmp_path):
    task = make_task(ISSUES_TASK)
    keys = ["LAG-1", "LAG-2", "LAG-3"]
    load(task, _stage(tmp_path / "d1", [_record(k, "v1") for k in keys]), esm, state)
    card = _cards_by_key(esm, task.name)["LAG-2"][0].data_card_id
    assert state.get_card_ids(task.name, ["LAG-2"]) == {"LAG-2": card}

    real = esm.iter_cards

    def search_without_the_card(template, *, filter=None, **kwargs):
        # the template's plain listing shows it; a search by key does not yet
        return (c for c in real(template, filter=filter, **kwargs) if not filter or c.data_card_id != card)

    esm.iter_cards = search_without_the_card
    try:
        result = load(task, _stage(tmp_path / "d2", [_record("LAG-2", "v2")]), esm, state)
    finally:
        esm.iter_cards = real

    cards = _cards_by_key(esm, task.name)
    assert [c.data_card_id for c in cards["LAG-2"]] == [card], f"LAG-2 has cards {[c.data_card_id for c in cards['LAG-2']]}"
    assert result["created"] == 0 and result["updated"] == 1
    assert cards["LAG-2"][0].value("subject") == "v2"
    assert state.get_card_ids(task.name, ["LAG-2"]) == {"LAG-2": card}
