"""A card whose own record set the removal value (its mapping gave it: a deactivated user, a
cancelled issue) follows the record when it changes back; a card mark_removed disabled, or one
disabled by hand, stays disabled (the connector never re-enables a card on its own). Real ESM
simulator over HTTPS, real state store; diff datasets staged by hand so keys and values are known."""
from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any

import pytest

from jira_esm_connector.esm import eql
from jira_esm_connector.pipeline import diff, load, mark_removed, run_import
from jira_esm_connector.pipeline.transform import encode_data

from .conftest import ISSUES_TASK, USERS_TASK, make_task
from .helpers import by_attr, esm_cards, run_id
from .test_parallel_load import _stage

# the faults suite's removal setting for issues; a status map may well give it too (Jira "Won't Do")
CANCELLED = "07 - Cancelled"


def _record(key: str, object_id: str | None = None, **data: Any) -> dict[str, Any]:
    encoded = encode_data({"jira_key": key, **data})
    return {"key": key, "fingerprint": hashlib.sha256(encoded.encode()).hexdigest(), "data": encoded,
            "issue_key": None, "updated": "2026-01-01T00:00:00+00:00", "object_id": object_id}


def _cards_by_key(esm, template: str = "incident", task_name: str | None = None) -> dict[str, list[Any]]:
    flt = eql.eq("task_id", task_name) if task_name else None
    out: dict[str, list[Any]] = {}
    for card in esm.iter_cards(template, filter=flt):
        out.setdefault(str(card.value("jira_key")), []).append(card)
    return out


def _run(task, records, esm, state, path: Path) -> dict[str, Any]:
    """diff + load of ``records`` as one run does."""
    return load(task, diff(task, _stage(path / "t", records), state, path / "run"), esm, state)


def test_a_card_the_import_cancelled_follows_its_issue_when_jira_reopens_it(esm, state, tmp_path):
    task = make_task(ISSUES_TASK, mode="full", removed={"attribute": "status", "value": CANCELLED})
    # run 1: the issue is "Won't Do" in Jira: the mapping writes Cancelled (no removal involved)
    first = _run(task, [_record("SUP-1", subject="Printer", status=CANCELLED)], esm, state, tmp_path / "r1")
    assert first["created"] == 1
    # run 2: the issue is reopened in Jira ("In Progress")
    reopened = _record("SUP-1", subject="Printer", status="02 - Solving")
    second = _run(task, [reopened], esm, state, tmp_path / "r2")

    card = _cards_by_key(esm, task_name=task.name)["SUP-1"][0]
    cached = state.get_fingerprints(task.name, ["SUP-1"]).get("SUP-1")
    assert card.value("status") == "02 - Solving", (
        f"Jira says In Progress, the ESM card still says {card.value('status')!r} "
        f"(kept_disabled={second['kept_disabled']}), and the task cache holds the reopened record as written "
        f"({cached == reopened['fingerprint']}): no later run writes it again")




def test_a_person_the_import_disabled_is_active_again_when_jira_reactivates_the_user(jira, jira_sim, esm, state, staging):
    """The same with a user import whose removal value is one its mapping gives (``active: false`` ->
    Disabled): a user deactivated in Jira and reactivated keeps a Disabled person card -- an
    identity left de-provisioned although the user is active in Jira, and the cache says done."""
    task = make_task(USERS_TASK, removed={"attribute": "accountStatus", "value": "Disabled"})
    run_import(task, jira, esm, state, staging, run_id(1))
    people = by_attr(esm_cards(esm, "person", task.name), "jira_account_id")
    user = next(a for a, c in people.items() if c.value("accountStatus") == "Active")

    jira_sim.admin("PATCH", f"users/{user}", json={"active": False})  # deactivated in Jira
    run_import(task, jira, esm, state, staging, run_id(2))
    assert by_attr(esm_cards(esm, "person", task.name), "jira_account_id")[user].value("accountStatus") == "Disabled"

    jira_sim.admin("PATCH", f"users/{user}", json={"active": True})  # and reactivated
    third = run_import(task, jira, esm, state, staging, run_id(3))
    fourth = run_import(task, jira, esm, state, staging, run_id(4))

    status = by_attr(esm_cards(esm, "person", task.name), "jira_account_id")[user].value("accountStatus")
    assert status == "Active", (
        f"user {user} is active in Jira again, its person card stays {status!r} "
        f"(run 3: updated={third['updated']}, result={ {k: v for k, v in third.items() if k in ('updated', 'kept_disabled', 'summary')} }; run 4 wrote "
        f"{fourth['updated']}: the record is cached as written)")


def test_a_card_disabled_by_hand_or_by_removal_stays_disabled_when_its_record_changes(esm, state, tmp_path):
    """SUP-1's card is set Cancelled by hand in ESM; SUP-2's card by mark_removed (its issue was
    not listed). Neither record ever said Cancelled: when each changes (back in Jira, edited),
    its card stays disabled -- the import does not undo a person's or the removal's decision."""
    task = make_task(ISSUES_TASK, mode="full", removed={"attribute": "status", "value": CANCELLED})
    _run(task, [_record(k, subject="v1", status="02 - Solving") for k in ("SUP-1", "SUP-2")], esm, state,
         tmp_path / "r1")
    cards = _cards_by_key(esm, task_name=task.name)
    esm.patch_card("incident", cards["SUP-1"][0].data_card_id, {"status": CANCELLED})  # by hand
    extracted = {"dataset": _stage(tmp_path / "listed", [_record("SUP-1", subject="v1", status="02 - Solving")])[
        "dataset"], "fetched": 1}
    assert mark_removed(task, extracted, esm, state, allow_mass_removal=True, allow_shrink=True)["marked_removed"] == 1
    second = _run(task, [_record(k, subject="v2", status="02 - Solving") for k in ("SUP-1", "SUP-2")], esm, state,
                  tmp_path / "r2")
    cards = _cards_by_key(esm, task_name=task.name)
    assert {k: (c[0].value("subject"), c[0].value("status")) for k, c in cards.items()} == {
        "SUP-1": ("v2", CANCELLED), "SUP-2": ("v2", CANCELLED)}
    assert second["kept_disabled"] == 2


def test_a_card_its_record_cancelled_follows_it_back_after_a_crash_before_the_state_write(esm, state, tmp_path):
    """Run 1 writes SUP-1 with the Cancelled its own mapping gives; ESM saves the card, then the
    worker dies (or the state database is unreachable) before ``record_loaded``: the state never
    learns that the record itself disabled the card. Run 2: Jira reopened the issue. The card
    was disabled by its record, not by removal nor by hand: it follows the record (as it does
    without the crash) -- the note is made before the write."""
    task = make_task(ISSUES_TASK, name="crash_own", mode="full", removed={"attribute": "status", "value": CANCELLED})
    real = state.record_loaded
    died = []

    def dies_once(*args, **kwargs):
        if kwargs.get("card_ids") and not died:  # what ESM's answer teaches: the worker dies first
            died.append(1)
            raise RuntimeError("worker killed after ESM's answer, before the state write")
        return real(*args, **kwargs)

    state.record_loaded = dies_once  # the instance only
    with pytest.raises(Exception):
        _run(task, [_record("SUP-1", subject="Printer", status=CANCELLED)], esm, state, tmp_path / "r1")
    del state.record_loaded
    assert _cards_by_key(esm, task_name=task.name)["SUP-1"][0].value("status") == CANCELLED  # ESM saved it

    second = _run(task, [_record("SUP-1", subject="Printer", status="02 - Solving")], esm, state, tmp_path / "r2")
    third = _run(task, [_record("SUP-1", subject="Printer", status="02 - Solving")], esm, state, tmp_path / "r3")
    card = _cards_by_key(esm, task_name=task.name)["SUP-1"][0]
    assert card.value("status") == "02 - Solving", (
        f"the record that cancelled its card is reopened, the card stays {card.value('status')!r} for good "
        f"(run 2 kept_disabled={second['kept_disabled']}, run 3 updated={third['updated']})")


def test_a_moved_issue_whose_record_cancelled_its_card_follows_it_back(esm, state, tmp_path):
    """SUP-1 (issue id 10001) is 'Won't Do': its mapping writes Cancelled. The issue moves to OPS
    (key OPS-7, same id) and is reopened there: the load re-keys the card (found by the issue id)
    -- the card its own record cancelled follows the record as it would without the move, and
    no note is left under the old key."""
    task = make_task(ISSUES_TASK, name="moved_own", mode="full", removed={"attribute": "status", "value": CANCELLED})
    first = _run(task, [_record("SUP-1", "10001", subject="Printer", status=CANCELLED)], esm, state, tmp_path / "r1")
    assert first["created"] == 1
    card_id = _cards_by_key(esm, task_name=task.name)["SUP-1"][0].data_card_id

    second = _run(task, [_record("OPS-7", "10001", subject="Printer", status="02 - Solving")], esm, state, tmp_path / "r2")
    cards = _cards_by_key(esm, task_name=task.name)
    assert "SUP-1" not in cards and [c.data_card_id for c in cards["OPS-7"]] == [card_id], second  # re-keyed
    assert cards["OPS-7"][0].value("status") == "02 - Solving", (
        f"the moved issue was reopened, its card (which its own record had cancelled) stays "
        f"{cards['OPS-7'][0].value('status')!r} (kept_disabled={second['kept_disabled']})")
    # and no stale note is left under the old key
    assert "SUP-1" not in state.disabled_by_record(task.name)
