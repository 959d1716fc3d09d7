"""An event try that lost its claim (frozen while its retry handled the event, woken after a
later event) changes nothing in Jira: every change, not only creates, is checked against the
claim first. On the real PostgreSQL state database (as on a Celery deployment) and the Jira
simulator."""
from __future__ import annotations

import itertools
import os
import uuid
from pathlib import Path

import pytest

from jira_esm_connector.config import load_task_file
from jira_esm_connector.events import run_event
from jira_esm_connector.http import RetryPolicy
from jira_esm_connector.state import StateStore

from tests.events.zombies import StallAfterClaim, frozen_try

from .conftest import PG_URL

MAPPINGS = Path(__file__).resolve().parents[2] / "include" / "mappings"
_COUNTER = itertools.count(1)


def unique(prefix: str = "evt") -> str:
    return f"{prefix}-{os.getpid()}-{next(_COUNTER)}-{uuid.uuid4().hex[:6]}"

FAST_RETRY = RetryPolicy(total=3, backoff_base=0.05, backoff_cap=0.2, jitter=0.0, connect_retries=1, read_retries=1)


def _task(file_name: str):
    return load_task_file(MAPPINGS / file_name)


@pytest.fixture
def pg_state(pg_schema):
    """The connector's state store on the real PostgreSQL (as on a Celery deployment)."""
    store = StateStore(PG_URL, schema=pg_schema, connect_backoff_s=0.01)
    yield store
    store.dispose()


@pytest.fixture
def jira(jira_clients):
    return jira_clients(retry=FAST_RETRY)


# ---- an event try that lost its claim still writes to Jira -------------------------------------

def _zombie_try_after(task, conf, jira, state, then):
    """Try 1 of run-1 claims the event and freezes; ``then()`` runs (try 2 of run-1 handles the
    event, later events follow); try 1 wakes and goes on. Returns try 1's result or error."""
    return frozen_try(
        lambda stalled, wakes: run_event(task, conf, jira, None, StallAfterClaim(state, stalled, wakes), owner="run-1"),
        then,
    )[0]


def test_a_zombie_removal_try_does_not_remove_the_user_a_later_event_added_back(
    jira, pg_state, request, close_accounts_after,
):
    """Event E1 removes user U from group G. Try 1 of its run claims E1 and freezes; try 2 of
    the same run takes E1 over at once and removes U. A later event E2 adds U back to G. Try 1
    wakes and removes U again: U ends outside G although ESM's last word (E2) put him in, and
    E1 was handled twice. Only creates check that the event is still the try's own
    (``still_ours``); a membership change goes out from a try that lost its claim."""
    group = jira.create_group(unique("zombie-grp"))
    request.addfinalizer(lambda: jira.delete_group(group_id=group["groupId"]))
    account_id = jira.create_user(f"{unique('member')}@example.com", ["jira-software"])["accountId"]
    close_accounts_after.append(account_id)
    jira.add_user_to_group(account_id, group_id=group["groupId"])
    remove, add = _task("event_remove_user_from_group.yaml"), _task("event_add_user_to_group.yaml")
    e1 = {"event_id": unique("rm"), "account_id": account_id, "group": group["name"]}
    e2 = {"event_id": unique("add"), "account_id": account_id, "group": group["name"]}

    def retry_then_later_event():
        run_event(remove, e1, jira, None, pg_state, owner="run-1")  # try 2 of run-1: removes U
        run_event(add, e2, jira, None, pg_state, owner="run-2")  # the later event: U back in G

    zombie = _zombie_try_after(remove, e1, jira, pg_state, retry_then_later_event)
    members = {m["accountId"] for m in jira.iter_group_members(group_id=group["groupId"])}
    assert account_id in members, f"try 1 (a zombie) removed the user again after the later event; it got: {zombie!r}"


def test_a_zombie_update_try_does_not_overwrite_a_later_events_value(jira, pg_state):
    """As above for update_issue: E1 sets the summary to A (try 1 freezes after its claim,
    try 2 sets A), E2 sets B; try 1 wakes and sets A again over ESM's newer B."""
    key = jira.create_issue({"project": {"key": "SUP"}, "issuetype": {"name": "Task"}, "summary": "start"})["key"]
    update = _task("event_update_issue.yaml")
    e1 = {"event_id": unique("upd"), "issue_key": key, "subject": "A: older value"}
    e2 = {"event_id": unique("upd"), "issue_key": key, "subject": "B: newer value"}

    def retry_then_later_event():
        run_event(update, e1, jira, None, pg_state, owner="run-1")
        run_event(update, e2, jira, None, pg_state, owner="run-2")

    zombie = _zombie_try_after(update, e1, jira, pg_state, retry_then_later_event)
    summary = jira.get_issue(key, fields=["summary"])["fields"]["summary"]
    assert summary == "B: newer value", f"try 1 (a zombie) wrote its older value over the later event's; it got: {zombie!r}"
