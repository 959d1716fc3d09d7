"""A mapped key the fast removal check no longer finds, whose card is
still the task's under another key (edited in ESM by hand), makes the step page
(``_read_unlisted`` clears the key-map-complete note). The paging marks the card and notes
the map complete again -- but it only *adds* rows to the key map (``put_card_ids`` upserts):
the stale row (the record's old key -> that card) stays. So every later run finds the same
mapped key gone, reads the same card (now disabled: ``_read_unlisted`` does not look at
that), warns again and pages the whole template again -- for ever, with nothing changed.
Fixtures as tests/pipeline/test_removal_hand_rekeyed.py. Now the stale row is forgotten before the step pages."""
from __future__ import annotations

from jira_esm_connector.pipeline import mark_removed

from .conftest import USERS_TASK, make_task
from .test_removal_fast_path import _deleted, _extracted
from .test_removal_hand_rekeyed import gone_and_rekeyed_by_hand

FAST = "Removal check from the key map"
PAGING = "is not known to be complete"
HELD = "the key map no longer says which cards"


def test_after_the_hand_rekeyed_card_is_marked_later_runs_use_the_key_map_again(esm, state, tmp_path, run_log):
    task = make_task(USERS_TASK, name="rekeyed_gone_pages")
    fetched = gone_and_rekeyed_by_hand(task, esm, state, tmp_path)

    first = mark_removed(task, _extracted(tmp_path / "e1", fetched), esm, state, logger=run_log)
    assert first["marked_removed"] == 1 and _deleted(esm) == {"acc-7 (old account)"}

    # nothing changes any more: the runs that follow
    paged_runs = []
    for n in (2, 3, 4):
        del run_log.messages[:]
        later = mark_removed(task, _extracted(tmp_path / f"e{n}", fetched), esm, state, logger=run_log)
        assert later["marked_removed"] == 0
        if any(PAGING in m or HELD in m for m in run_log.messages) or not any(FAST in m for m in run_log.messages):
            paged_runs.append(n)
    assert not paged_runs, f"runs {paged_runs} paged the whole template again although nothing changed"
