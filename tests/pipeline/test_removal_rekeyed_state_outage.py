"""``_candidates_from_key_map`` forgot the gone keys of a hand
re-keyed card *before* it noted the key map incomplete -- two separate state writes. When the
step ends between them (the second write fails: a state-database blip, the worker killed at its
execution timeout), the key map is still noted complete but no longer holds the re-keyed card
under any key. Every later run takes the fast path, which only looks at mapped keys: the
card -- whose record is gone from Jira -- is never marked removed (until a cache clear).
Before, the map was noted incomplete first and nothing was forgotten, so the failed run
was simply repeated by the next one, which paged and marked the card. Now the map is noted incomplete first."""
from __future__ import annotations

import pytest

from jira_esm_connector.pipeline import mark_removed

from .conftest import USERS_TASK, make_task
from .test_removal_fast_path import _deleted, _extracted
from .test_removal_hand_rekeyed import gone_and_rekeyed_by_hand


class StateBlip:
    """The state store, but the first 'key map incomplete' write fails (the connection dropped)."""

    def __init__(self, state):
        self._state, self.failed = state, False

    def __getattr__(self, name):
        return getattr(self._state, name)

    def set_key_map_complete(self, task, template, attribute, complete):
        if complete is False and not self.failed:
            self.failed = True
            raise ConnectionError("state database connection lost")
        return self._state.set_key_map_complete(task, template, attribute, complete)


def test_a_failed_incomplete_note_does_not_hide_the_rekeyed_card_for_ever(esm, state, tmp_path, run_log):
    task = make_task(USERS_TASK, name="rekeyed_forget_order")
    fetched = gone_and_rekeyed_by_hand(task, esm, state, tmp_path)

    blip = StateBlip(state)
    with pytest.raises(ConnectionError):  # the run fails; the next one is expected to do the work
        mark_removed(task, _extracted(tmp_path / "e1", fetched), esm, blip, logger=run_log)

    for n in (2, 3):
        mark_removed(task, _extracted(tmp_path / f"e{n}", fetched), esm, state, logger=run_log)
    assert _deleted(esm) == {"acc-7 (old account)"}, (
        "the hand re-keyed card of a record gone from Jira was never marked removed; key map complete: "
        f"{state.key_map_complete(task.name, 'person', 'jira_account_id')}")
