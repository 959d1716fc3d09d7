"""A connector whose transform changed what it makes of a record reads every issue again once
(TRANSFORM_REVISION is part of the task digest). Real simulators over HTTPS."""
from __future__ import annotations

from datetime import datetime, timedelta, timezone

from jira_esm_connector.pipeline import run_import

from .conftest import ISSUES_TASK, make_task
from .helpers import by_attr, esm_cards, run_id


def _doc(*texts: str) -> dict:
    return {"type": "doc", "version": 1,
            "content": [{"type": "paragraph", "content": [{"type": "text", "text": t}]} for t in texts]}


def test_the_each_adf_to_text_fix_reaches_the_card_of_an_issue_that_did_not_change(
    jira_sim, jira, esm, state, staging, monkeypatch,
):
    """A change of what the transform makes of the same Jira record: after
    ``each``, adf_to_text used to get the whole list and ESM got the Python repr of the
    documents. pipeline/carry.py: "Bump [TRANSFORM_REVISION] when transform's output for the
    same Jira record changes without a version change" -- that is what makes an incremental
    task's watermark (and a full import's carry) read every issue again once
    (_incremental_start: a watermark reached under another digest is not used). Without it,
    after the upgrade an incremental import never reads an issue that did not change in Jira
    again, and its card keeps the repr for good.

    The state the release before the fix (TRANSFORM_REVISION 2) left: run 1 under its digest;
    its card text and cached fingerprint as that release wrote them."""
    from jira_esm_connector.esm.models import CardInput
    from jira_esm_connector.pipeline import carry

    hours_ago = (datetime.now(timezone.utc) - timedelta(hours=3)).isoformat()
    quiet = jira_sim.admin("POST", "issues", json={
        "project": "SUP", "summary": "comments as text", "updated": hours_ago,
        "comments": [{"body": _doc("first comment")}, {"body": _doc("second comment")}],
    }).json()["key"]
    busy = jira_sim.admin("POST", "issues", json={"project": "SUP", "summary": "changes now"}).json()["key"]
    attributes = dict(ISSUES_TASK["attributes"])
    attributes["description"] = {"from": "fields.comment.comments", "each": "body", "transform": "adf_to_text",
                                 "join": "\n"}
    task = make_task(ISSUES_TASK, name="comment_bodies_upgrade", jql=f"key in ({quiet}, {busy})",
                     attributes=attributes)

    with monkeypatch.context() as previous_release:
        previous_release.setattr(carry, "TRANSFORM_REVISION", 2)
        run_import(task, jira, esm, state, staging, run_id(1))
    card = by_attr(esm_cards(esm, "incident", task.name), "jira_key")[quiet]
    old_text = str([_doc("first comment"), _doc("second comment")])  # what that release wrote
    outcome = esm.bulk_import("incident", [CardInput(data={"description": old_text}, data_card_id=card.data_card_id,
                                                     ref=quiet)]).outcomes
    assert all(o.ok for o in outcome), outcome
    state.put_fingerprints(task.name, {quiet: "0" * 64})  # the fingerprint of what it wrote, not today's
    assert by_attr(esm_cards(esm, "incident", task.name), "jira_key")[quiet].value("description") == old_text

    # the upgraded connector's next run; nothing changed in Jira
    run_import(task, jira, esm, state, staging, run_id(2))

    card = by_attr(esm_cards(esm, "incident", task.name), "jira_key")[quiet]
    assert card.value("description") == "first comment\nsecond comment", (
        "the card of an issue that did not change keeps the Python repr the previous release wrote")
