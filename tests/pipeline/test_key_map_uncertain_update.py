"""the key map's coverage note after an edit whose answer ESM left out.

ESM answered a bulk PUT with fewer per-card results than cards sent; the client then marks
the edit whose result is missing ``refused`` + ``uncertain`` ("ESM's answer did not say what
happened to this card"). load counts such an outcome as uncertain only for a NEW card, so
when the edited card was not yet this task's (another task wrote it last), the edit may
have stamped this task's id on it while the key map never learns its key -- and the
coverage note is set back to complete. mark_removed then trusts the map and never looks at
that card again: a record gone from Jira keeps an active card (paging would mark it)."""
from __future__ import annotations

from jira_esm_connector.pipeline import mark_removed

from .conftest import USERS_TASK, make_task
from .test_removal_fast_path import _extracted, _load_people, _people


def test_an_edit_esm_did_not_answer_for_leaves_the_key_map_marked_complete_without_its_key(esm, state, tmp_path):
    task = make_task(USERS_TASK)
    other = make_task(USERS_TASK, name="other_users")
    _load_people(other, esm, state, tmp_path / "other", ["acc-1"])  # the other task wrote acc-1 last
    mine = ["acc-2", "acc-3", "acc-4", "acc-5", "acc-6"]
    _load_people(task, esm, state, tmp_path / "l1", mine)
    mark_removed(task, _extracted(tmp_path / "e1", mine), esm, state)  # pages once: the map is complete
    assert state.key_map_complete(task.name, "person", "jira_account_id")
    state.record_run(task.name, "manual__earlier", {"fetched": len(mine)}, len(mine))  # that run's volume
    card = _people(esm)["acc-1"][0].data_card_id

    # acc-1 enters this task's selection; ESM saves the edit but its answer leaves that card out
    real = esm.request

    def answer_without_the_card(method, path, *args, **kwargs):
        out = real(method, path, *args, **kwargs)
        if method == "PUT" and path.endswith("/data") and isinstance(out, dict):
            out = {**out, "data": [i for i in out.get("data") or []
                                   if str((i.get("dataCard") or {}).get("dataCardId")) != card]}
        return out

    esm.request = answer_without_the_card
    try:
        loaded = _load_people(task, esm, state, tmp_path / "l2", ["acc-1"])
    finally:
        esm.request = real
    assert loaded["refused"] == 1  # reported as "did not say what happened"; retried next run
    assert _people(esm, task.name).get("acc-1"), "the edit was applied: the card now carries this task's id"

    # before the next run, acc-1 is deleted in Jira: the next full run does not fetch it
    result = mark_removed(task, _extracted(tmp_path / "e2", mine), esm, state)

    status = _people(esm)["acc-1"][0].value("accountStatus")
    assert status == "Deleted", (
        f"card {card} carries task '{task.name}', its record was not fetched, yet it stays {status!r}: "
        f"key map complete={state.key_map_complete(task.name, 'person', 'jira_account_id')}, "
        f"mapped={state.get_card_ids(task.name, ['acc-1'])}, marked={result['marked_removed']}"
    )
