"""a record key the connector cannot keep: longer than the state store's 400-character
``record_key`` column (below), or holding a NUL character (UNKEEPABLE).

SQLite ignores VARCHAR lengths, PostgreSQL (the production state database) enforces them.
The key is written to ESM first and to the state store afterwards, so on PostgreSQL the
chunk's cards are in ESM while ``record_loaded`` fails: nothing of the chunk is recorded,
the load step fails, and every retry / later run writes the same cards again and fails
again (the watermark never moves)."""
from __future__ import annotations

import pytest

from jira_esm_connector.pipeline import load

from .conftest import ISSUES_TASK, make_task
from .test_parallel_load import _cards_by_key, _record, _stage


def _run(task, diffed, esm, state):
    try:
        return load(task, diffed, esm, state, chunk_size=10, concurrency=1), None
    except Exception as exc:  # noqa: BLE001 - inspected below
        return None, exc


@pytest.mark.postgres
def test_long_record_key_on_postgresql_is_never_half_written(esm, pg_state, tmp_path):
    task = make_task(ISSUES_TASK)
    long_key = "LONG-" + "x" * 420  # accepted by ESM and by SQLite
    keys = ["LK-1", "LK-2", "LK-3", long_key]
    diffed = _stage(tmp_path / "diffed", [_record(k, f"subject {k[:10]}") for k in keys])

    result, error = _run(task, diffed, esm, pg_state)

    written = _cards_by_key(esm, task.name)
    recorded = pg_state.get_fingerprints(task.name, keys)
    # either the bad key is refused before anything is written, or what ESM saved is recorded
    assert error is None or not written, f"load failed after writing {len(written)} card(s) to ESM: {error!r:.160}"
    assert set(recorded) >= {"LK-1", "LK-2", "LK-3"}, (result, recorded)


# keys the connector cannot keep: longer than the state store's column, or holding a NUL,
# which no ESM filter can name (created once, the card could never be found again: every
# later run would fail in its look-up, or write a second card)
UNKEEPABLE = pytest.mark.parametrize("bad_key, said", [
    ("LONG-" + "x" * 420, "at most 400"),
    ("SUP-\x00-9", "NUL character"),
], ids=["too-long", "nul"])


@UNKEEPABLE
def test_transform_refuses_a_key_the_connector_cannot_keep(bad_key, said):
    """The record is refused at transform, named and with the reason, before anything is loaded."""
    import json

    from jira_esm_connector.pipeline.transform import RecordMapper

    mapper = RecordMapper(make_task(ISSUES_TASK))
    rows = [{"key": k, "updated": None, "record": json.dumps({"key": k, "fields": {"summary": "s"}})}
            for k in ("SUP-1", bad_key)]
    mapped = [row["key"] for row, _ in mapper.map_page(rows)]
    assert mapped == ["SUP-1"]
    assert mapper.problem_count == 1 and said in mapper.problems[0][1]


@UNKEEPABLE
def test_load_refuses_a_key_the_connector_cannot_keep_without_writing_it(esm, state, tmp_path, bad_key, said):
    task = make_task(ISSUES_TASK)
    for run in (1, 2):  # the second run looks its cards up: the bad key must not sink it
        diffed = _stage(tmp_path / f"diffed{run}", [_record(k, f"subject {run}") for k in ("LK-7", bad_key)])
        result = load(task, diffed, esm, state, chunk_size=10, concurrency=1)
        assert result["refused"] == 1 and said in result["refused_records"][0]["reason"]
    cards = _cards_by_key(esm, task.name)
    assert set(cards) == {"LK-7"} and cards["LK-7"][0].value("subject") == "subject 2"


def test_a_reference_to_a_key_no_filter_can_name_is_not_found_rather_than_failing_the_load(esm):
    from jira_esm_connector.pipeline.load import lookup_cards

    card = str(esm.create_card("incident", {"jira_key": "LK-8", "subject": "s"}, folder="incident_management"))
    found = lookup_cards(esm, "incident", "jira_key", ["SUP-\x00-1", "LK-8"])
    assert {k: c.data_card_id for k, c in found.items()} == {"LK-8": card}


def test_a_refused_records_reason_in_the_result_is_bounded(esm, state, tmp_path):
    """Up to 100 refused records go into the run's result (XCom): ESM's words are cut."""
    from jira_esm_connector.pipeline.transform import encode_with_fingerprint

    task = make_task(ISSUES_TASK)

    row = _record("LK-9", "subject")
    text, digest = encode_with_fingerprint({"jira_key": "LK-9", "subject": "s", "status": "x" * 3000})
    row.update(data=text, fingerprint=digest)
    diffed = _stage(tmp_path / "diffed2", [row])
    result = load(task, diffed, esm, state, chunk_size=10, concurrency=1)
    assert result["refused"] == 1
    reason = result["refused_records"][0]["reason"]  # ESM echoes the 3,000-character value
    assert len(reason) == 500 and reason.startswith("status:") and reason.endswith("…")
