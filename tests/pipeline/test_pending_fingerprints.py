"""A record saved WITHOUT some references must not keep the fingerprint of the version ESM
held before: when Jira went back to that version (assignee A -> B (no person card) -> A),
diff found it "unchanged", and the card kept the partial write (assignee empty) while the
record stayed pending for ever. Real ESM simulator; diff datasets staged by hand."""
from __future__ import annotations

from pathlib import Path
from typing import Any

from jira_esm_connector.mapping import Reference
from jira_esm_connector.pipeline import diff, load
from jira_esm_connector.pipeline.staging import DatasetWriter
from jira_esm_connector.pipeline.transform import TRANSFORM_COLUMNS, encode_with_fingerprint

from .conftest import ISSUES_TASK, make_task
from .helpers import by_attr, esm_cards

ASSIGNEE = {"from": "fields.assignee.accountId", "reference": {"template": "person", "by": "jira_account_id"}}


def _record(key: str, assignee: str) -> dict[str, Any]:
    data = {"jira_key": key, "subject": "Printer on fire", "status": "01 - New",
            "assignee": Reference("person", "jira_account_id", (assignee,))}
    text, digest = encode_with_fingerprint(data)
    return {"key": key, "fingerprint": digest, "data": text, "issue_key": None,
            "updated": "2026-01-01T00:00:00+00:00"}


def _stage(path: Path, records: list[dict[str, Any]]) -> dict[str, Any]:
    writer = DatasetWriter(path, TRANSFORM_COLUMNS)
    writer.write_page(records)
    return {"dataset": str(writer.close().path), "transformed": len(records), "quality_checked": False}


def test_record_reverted_after_a_partial_write_gets_its_reference_back(esm, state, tmp_path):
    task = make_task(ISSUES_TASK, attributes=dict(ISSUES_TASK["attributes"], assignee=ASSIGNEE))
    alice = esm.create_card("person", {"jira_account_id": "acc-alice", "display_name": "Alice"}, folder="persons")

    def run(n: int, assignee: str) -> dict[str, Any]:
        staged = _stage(tmp_path / f"t{n}", [_record("SUP-1", assignee)])
        return load(task, diff(task, staged, state, tmp_path / f"run{n}"), esm, state)

    # 1. assigned to Alice, who has a person card: saved fully
    run(1, "acc-alice")
    # 2. reassigned to Bob, who has no person card: saved without the assignee, pending
    second = run(2, "acc-bob")
    assert second["unresolved_references"] == 1 and state.pending_keys(task.name) == ["SUP-1"]
    # 3. reassigned back to Alice: the card must point to Alice again
    run(3, "acc-alice")

    card = by_attr(esm_cards(esm, "incident", task.name), "jira_key")["SUP-1"]
    assert str(card.value("assignee")) == alice, "card lost its assignee: the stale fingerprint hid the change"
    assert state.pending_keys(task.name) == []
