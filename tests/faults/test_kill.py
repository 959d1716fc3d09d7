"""SIGKILL at named points (tests/faults/child.py), then the re-run an Airflow retry or the
next scheduled run would make."""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from collections.abc import Callable

import pytest

from .check import (
    Counts,
    check_created_once,
    check_import,
    check_issue_events,
    check_not_member,
    esm_cards_by_key,
    jira_group_member_ids,
    jira_groups,
    jira_issues,
    jira_users,
)
from .harness import (
    COMMENTS_INCREMENTAL,
    CREATE_TASK,
    GROUPS_FULL,
    ISSUES_FULL,
    ISSUES_INCREMENTAL,
    USERS_FULL,
    REPO_ROOT,
    create_payload,
    event_task,
    import_until_done,
    make_task,
    new_run_id,
    touch_every_issue,
)

KILL_ENV = "FAULT_KILL_AT"


def run_child(env, spec: dict, kill_at: str) -> subprocess.CompletedProcess:
    path = env.workdir / f"spec-{kill_at}.json"
    path.write_text(json.dumps({**env.child_spec(), **spec}))
    pythonpath = os.pathsep.join([str(REPO_ROOT / "plugins"), str(REPO_ROOT), os.environ.get("PYTHONPATH", "")])
    return subprocess.run(
        [sys.executable, "-m", "tests.faults.child", str(path)], cwd=REPO_ROOT, capture_output=True, text=True,
        env={**os.environ, "PYTHONPATH": pythonpath, KILL_ENV: kill_at}, timeout=120,
    )


def _assert_killed(proc: subprocess.CompletedProcess) -> None:
    assert proc.returncode == -signal.SIGKILL, f"child was not killed ({proc.returncode}):\n{proc.stderr[-3000:]}"


def _first_run(env, task) -> dict:
    """Nothing before: the killed run is the task's first."""
    return {}


def _persons_first(env, task) -> dict:
    """The persons the groups' members reference are in ESM; groups go in chunks of 3."""
    import_until_done(env, make_task(USERS_FULL), attempts=1)
    return {"chunk_size": 3}


def _issue_cards_first(env, task) -> dict:
    """The issues' cards exist (the comment import appends to their worklogs)."""
    import_until_done(env, make_task(ISSUES_FULL), attempts=1)
    return {}


def _imported_then_touched(env, task) -> dict:
    import_until_done(env, task, attempts=1)  # cards exist: a half listing must not remove any
    touch_every_issue(env, task)  # the killed run must read them (unchanged ones it would carry)
    return {}


def _imported_then_members_changed(env, task) -> dict:
    """Groups imported; then two of them lose a member in Jira (their cards are written one
    chunk each, so the kill falls between the two)."""
    _persons_first(env, task)
    import_until_done(env, task, attempts=1)
    changed = 0
    for group_id in sorted(jira_groups(env.jira_sim)):
        members = sorted(jira_group_member_ids(env.jira_sim, group_id))
        if members and changed < 2:
            env.jira_sim.admin("DELETE", f"groups/{group_id}/members/{members[0]}")
            changed += 1
    assert changed == 2
    return {"chunk_size": 1}


def _imported_then_edited_in_esm(env, task) -> dict:
    """Imported; then cards edited by hand in ESM, and the run asked to clear the cache (what
    the parameter is for: every record is pushed again)."""
    import_until_done(env, task, attempts=1)
    esm = env.esm()
    for card in list(esm.iter_cards(task.template))[:5]:
        esm.patch_card(task.template, card.data_card_id, {"subject": "edited by hand in ESM"})
    return {"clear_cache": True}


def _imported_then_some_gone(env, task) -> dict:
    """Imported; then a few records leave Jira (within the removal share and shrink limits:
    three groups are added first, so one of eleven goes)."""
    if task.mapping_type == "group":
        for n in range(3):
            env.jira_sim.admin("POST", "groups", json={"name": f"kill-extra-{n}"})
        _persons_first(env, task)
    import_until_done(env, task, attempts=1)
    if task.mapping_type == "generic":
        gone = sorted(jira_issues(env.jira_sim, task.jql))[:3]
        path = "issues"
    elif task.mapping_type == "user":
        gone, path = sorted(jira_users(env.jira_sim))[:2], "users"
    else:
        gone, path = sorted(jira_groups(env.jira_sim))[:1], "groups"
    for key in gone:
        env.jira_sim.admin("DELETE", f"{path}/{key}")
    return {"gone": gone}


def _not_marked(env, task, keys: list[str]) -> list[str]:
    """Which of ``keys`` (gone from Jira) have a card not marked removed."""
    if not keys:
        return []
    removal = task.removal
    cards = esm_cards_by_key(env.esm(), task.template, task.key.esm)
    return [k for k in keys if not cards.get(k)
            or any(str(c.value(removal.attribute)) != str(removal.value) for c in cards[k])]


@pytest.mark.parametrize(
    "kill_at, base, before",
    [
        ("extract-fetch-2", ISSUES_FULL, _imported_then_touched),
        ("cache-after-clear", ISSUES_FULL, _imported_then_edited_in_esm),
        ("load-after-esm-answer", ISSUES_FULL, _first_run),
        ("load-after-esm-answer", USERS_FULL, _first_run),
        ("load-after-esm-answer", GROUPS_FULL, _persons_first),
        ("load-after-esm-answer", GROUPS_FULL, _imported_then_members_changed),
        ("comment-after-esm-answer", COMMENTS_INCREMENTAL, _issue_cards_first),
        ("removal-before-mark", ISSUES_FULL, _imported_then_some_gone),
        ("removal-before-mark", USERS_FULL, _imported_then_some_gone),
        ("removal-before-mark", GROUPS_FULL, _imported_then_some_gone),
        ("removal-after-esm-answer", ISSUES_FULL, _imported_then_some_gone),
        ("removal-after-esm-answer", USERS_FULL, _imported_then_some_gone),
        ("removal-after-esm-answer", GROUPS_FULL, _imported_then_some_gone),
        ("finish-before-watermark", ISSUES_INCREMENTAL, _first_run),
        ("finish-before-watermark", COMMENTS_INCREMENTAL, _issue_cards_first),
        ("finish-before-run-record", ISSUES_FULL, _first_run),
    ],
    ids=lambda v: v if isinstance(v, str) else v["name"] if isinstance(v, dict) else v.__name__.strip("_"),
)
def test_sigkill_import_then_rerun(env, report, kill_at, base, before):
    task = make_task(base)
    spec = before(env, task)
    gone = spec.pop("gone", [])
    run_id = new_run_id(task.name)
    _assert_killed(run_child(env, {"task": base, "run_id": run_id, **spec}, kill_at))
    # Airflow's retry of the killed task: the same run (and parameters), taking over once
    # the dead worker's lease heartbeat has run out
    runs = 1 + import_until_done(env, task, attempts=2, run_id=run_id, clear_cache=spec.get("clear_cache", False)).runs
    env.calm()
    after_retry = check_import(task, env.jira_sim, env.esm())
    runs += import_until_done(env, task, attempts=1).runs  # and the next scheduled run
    assert not _not_marked(env, task, gone), "records gone from Jira whose cards were not marked removed"
    report(f"SIGKILL {base['mapping_type']} import at {kill_at} ({before.__name__.strip('_')})", runs,
           after_retry.add(check_import(task, env.jira_sim, env.esm())))


def test_sigkill_between_esm_answer_and_state_write_of_a_rekey(env, report):
    """A project key change (SUP -> HELP) re-keys every issue card; the worker dies right after
    ESM saved the second chunk of re-keys, before the state store heard of it. The retry and
    the next run converge: the same cards, one per issue, under the new keys, none marked
    removed, and nothing left under the old keys in the state store."""
    task = make_task(ISSUES_FULL)
    import_until_done(env, task, attempts=1)
    before = {k: cs[0].data_card_id for k, cs in esm_cards_by_key(env.esm(), task.template, task.key.esm).items()}
    assert len(before) > 2 * 20  # more than two chunks: the kill falls before the last one
    jira = env.jira_sim.session()
    jira.put(f"{env.jira_sim.base_url}/rest/api/3/project/SUP", json={"key": "HELP"}).raise_for_status()
    run_id = new_run_id(task.name)
    _assert_killed(run_child(env, {"task": ISSUES_FULL, "run_id": run_id}, "load-after-esm-answer"))
    runs = 1 + import_until_done(env, task, attempts=2, run_id=run_id).runs
    runs += import_until_done(env, task, attempts=1).runs
    env.calm()
    after = esm_cards_by_key(env.esm(), task.template, task.key.esm)
    assert {k: [c.data_card_id for c in cs] for k, cs in after.items()} == {
        f"HELP-{k.split('-')[1]}": [card] for k, card in before.items()}
    state = env.state()
    assert state.get_card_ids(task.name, before) == {} and state.get_fingerprints(task.name, before) == {}
    report("SIGKILL import between ESM's answer and the state write of re-keys (project key changed)", runs,
           check_import(task, env.jira_sim, env.esm()))


def test_sigkill_event_between_jira_answer_and_state_write(env, report):
    """Jira created the issue; the worker dies before the outcome is recorded. The task
    retry (same run id, so it takes the event over at once) must not create a second."""
    raw, task = event_task(CREATE_TASK)
    event_ids = ["kill-1"]
    runs = 0
    for event_id in event_ids:
        owner = f"manual__{event_id}"
        payload = create_payload(event_id)
        _assert_killed(run_child(env, {"task": raw, "event": payload, "owner": owner}, "event-after-jira-answer"))
        from jira_esm_connector.events import run_event

        result = run_event(task, payload, env.jira(), env.esm(), env.state(), owner=owner)
        assert result["issue_key"]
        runs += 2
    env.calm()
    report("SIGKILL event after Jira answered", runs, check_issue_events(env.jira_sim, task.name, event_ids))


def _member_to_remove(env) -> tuple[dict, Callable[[], Counts]]:
    """A payload removing one member from one group, and how the check reads Jira afterwards."""
    group_id = sorted(jira_groups(env.jira_sim))[0]
    account_id = sorted(jira_group_member_ids(env.jira_sim, group_id))[0]
    name = jira_groups(env.jira_sim)[group_id]["name"]
    return {"account_id": account_id, "group": name}, lambda: check_not_member(env.jira_sim, group_id, [account_id])


@pytest.mark.parametrize("file_name", ["event_create_user.yaml", "event_create_group.yaml",
                                       "event_remove_user_from_group.yaml"])
def test_sigkill_identity_event_between_jira_answer_and_state_write(env, report, file_name):
    """Jira created the user / group, or removed the member; the worker dies before the
    outcome is recorded. The task retry must not create a second one, nor undo anything."""
    raw, task = event_task(file_name)
    if task.operation == "create_user":
        fields, check = {"email": "kill.answer@example.com"}, lambda: check_created_once(
            jira_users(env.jira_sim), "emailAddress", ["kill.answer@example.com"])
    elif task.operation == "create_group":
        fields, check = {"name": "kill-answer-group"}, lambda: check_created_once(
            jira_groups(env.jira_sim), "name", ["kill-answer-group"])
    else:
        fields, check = _member_to_remove(env)
    payload, owner = {"event_id": f"kill-{task.operation}", **fields}, f"manual__kill-{task.operation}"
    _assert_killed(run_child(env, {"task": raw, "event": payload, "owner": owner}, "event-after-jira-answer"))
    from jira_esm_connector.events import run_event

    run_event(task, payload, env.jira(), env.esm(), env.state(), owner=owner)
    env.calm()
    report(f"SIGKILL {task.operation} event after Jira answered", 2, check())


# (event task file, write-back, the card it comes from, payload, the import that meets the object)
WRITE_BACK_CASES = {
    "issue": (CREATE_TASK, {"template": "incident", "attribute": "jira_key"},
              ("incident", {"subject": "Printer on fire"}, "incident_management"),
              {"subject": "Printer on fire", "priority": "3 - Normal"}, ISSUES_FULL),  # Medium: the JQL selects it
    "user": ("event_create_user.yaml", {"template": "person", "attribute": "jira_account_id"},
             ("person", {"email": "kill.hire@example.com"}, "persons"), {"email": "kill.hire@example.com"}, USERS_FULL),
    "group": ("event_create_group.yaml", {"template": "group", "attribute": "jira_group_id"},
              ("group", {"name": "kill-printer-admins"}, "groups"), {"name": "kill-printer-admins"}, GROUPS_FULL),
}


@pytest.mark.parametrize("kind", sorted(WRITE_BACK_CASES))
def test_sigkill_event_before_write_back_then_import(env, report, kind):
    """Jira created the object; the worker dies before its key is written back to the ESM card
    the event came from. An import meets the object before the event's retry: it must write
    that card, not create a second one that the retried write-back makes a duplicate."""
    file_name, write_back, (template, data, folder), fields, base = WRITE_BACK_CASES[kind]
    raw, task = event_task(file_name, write_back=write_back)
    esm = env.esm()
    if kind == "group":
        _persons_first(env, None)  # the groups' members are checked too
    origin = esm.create_card(template, data, folder=folder)
    event_id = f"wb-kill-{kind}"
    payload, owner = {"event_id": event_id, "datacard_id": origin, **fields}, f"manual__{event_id}"
    _assert_killed(run_child(env, {"task": raw, "event": payload, "owner": owner}, "event-before-write-back"))
    imports = make_task(base)
    runs = 1 + import_until_done(env, imports, attempts=1).runs
    from jira_esm_connector.config.operation_specs import OPERATION_SPECS
    from jira_esm_connector.events import run_event

    result = run_event(task, payload, env.jira(), esm, env.state(), owner=owner)
    key = result[OPERATION_SPECS[task.operation].result_key]
    runs += 1 + import_until_done(env, imports, attempts=1).runs  # the event's retry, the next import
    env.calm()
    holders = [c.data_card_id for c in esm_cards_by_key(esm, template, write_back["attribute"]).get(key, [])]
    assert holders == [origin], f"{key} should be on the event's card {origin} only, is on {holders}"
    counts = check_import(imports, env.jira_sim, esm)
    if kind == "issue":
        counts = counts.add(check_issue_events(env.jira_sim, task.name, [event_id]))
    report(f"SIGKILL {kind} event before write-back, import in between", runs, counts)
