"""The event's ledger of changes: a retry or re-trigger treats "already there" / "already gone"
as its own earlier work only when an earlier attempt sent that change, and repeats no change
Jira confirmed (event operations other than create_issue, which keeps its own notes)."""
from __future__ import annotations

import pytest

from jira_esm_connector.events import EventRefused, run_event
from jira_esm_connector.events.errors import is_permanent
from jira_esm_connector.http.errors import RequestTimeoutError

from .conftest import CommentsDown, FirstCallFails, delete_group_if_there, example_task, issue_status, unique


def _times_out_once(jira, method: str) -> FirstCallFails:
    """The Jira client, but the first call of ``method`` times out (Jira never got it: the
    failure is transient and nothing was changed)."""
    return FirstCallFails(jira, method, RequestTimeoutError(f"Jira did not answer {method} in time", service="Jira"))


def _transient_then_retry(task, conf, first_client, second_client, state):
    """Attempt 1 fails transiently (before any change was sent); Airflow's retry (same run,
    same owner) then runs the event again. Returns the retry's result (or raises its error)."""
    with pytest.raises(Exception) as first:
        run_event(task, conf, first_client, None, state, owner="run-1")
    assert not is_permanent(first.value), first.value
    return run_event(task, conf, second_client, None, state, owner="run-1")


# ---- delete_user / delete_group: a retry does not call a never-existing target "deleted" ----

def test_a_retried_delete_user_by_an_account_id_jira_never_had_is_refused_not_reported_done(jira, state):
    """The ESM workflow de-provisions a leaver by a wrong (stale, mistyped) account id. The first
    attempt's look-up times out; the retry (check_first) reads 404 for the id and reports the
    event done ("deleted": False) -- the workflow goes on as if the leaver's Jira account were
    gone, while the real account stays active. Without the timeout the event is refused
    ("Jira has no user with the account id ..."); Jira keeps a deleted user's account (GET
    /user still answers it), so a 404 never means "an earlier attempt deleted it"."""
    task = example_task("event_delete_user.yaml")
    account_id = f"0000{unique('nosuch')}"
    conf = {"event_id": unique(), "account_id": account_id}
    with pytest.raises(EventRefused, match=f"no user with the account id {account_id}"):
        _transient_then_retry(task, conf, _times_out_once(jira, "get_user"), jira, state)


def test_a_retriggered_refused_delete_user_stays_refused(jira, state):
    """Same, through a re-trigger of the refused event (an ESM workflow retrying a failed step):
    the first run is refused, the second -- same event id, same payload -- succeeds."""
    task = example_task("event_delete_user.yaml")
    account_id = f"0000{unique('nosuch')}"
    conf = {"event_id": unique(), "account_id": account_id}
    with pytest.raises(EventRefused):
        run_event(task, conf, jira, None, state)
    with pytest.raises(EventRefused, match=f"no user with the account id {account_id}"):
        run_event(task, conf, jira, None, state)


def test_a_retried_delete_group_of_a_name_jira_never_had_is_refused_not_reported_done(jira, state):
    """delete_group of a mistyped group name: the first attempt's look-up times out before any
    DELETE was sent; the retry finds no group and reports success ("already gone: an earlier
    attempt deleted it"), although no attempt ever deleted anything. The event should fail as
    it does without the timeout ("Jira has no group named ...")."""
    task = example_task("event_delete_group.yaml")
    name = unique("never-was-a-group")
    conf = {"event_id": unique(), "name": name}
    with pytest.raises(EventRefused, match="no group named"):
        _transient_then_retry(task, conf, _times_out_once(jira, "find_group"), jira, state)


# ---- transition_issue: a retry must not redo the transition it already made -----------------

def _resolved_then_comment_failed(jira, state, summary: str) -> tuple[str, object, dict]:
    """(issue key, task, conf) of a transition event whose try resolved the issue and then
    failed retriably on its comment (503)."""
    key = jira.create_issue({"project": {"key": "SUP"}, "issuetype": {"name": "Task"}, "summary": summary})["key"]
    task = example_task("event_transition_issue.yaml")
    conf = {"event_id": unique(), "issue_key": key, "status": "05 - Solved", "comment": "Solved in ESM."}
    with pytest.raises(Exception) as first:
        run_event(task, conf, CommentsDown(jira), None, state, owner="run-1")
    assert not is_permanent(first.value) and issue_status(jira, key) == "Resolved"
    return key, task, conf


def test_a_retried_transition_event_does_not_undo_a_reopen_made_after_its_transition(jira, state, monkeypatch):
    """Attempt 1 resolves the issue, then its comment fails (503): the event fails retriably.
    Before Airflow's retry (minutes later) a person reopens the issue. The retry only had the
    comment left to do, but it reads the status, finds the issue out of "Resolved" and resolves
    it again -- undoing the person's later change with a transition this event already made."""
    monkeypatch.setattr("jira_esm_connector.events.operations.LOOKUP_PAUSES", (0.0,))
    key, task, conf = _resolved_then_comment_failed(jira, state, "reopened")

    reopen = next(t for t in jira.get_transitions(key) if t["to"]["name"] == "Open")
    jira.transition_issue(key, reopen["id"])  # a person reopens it: it is not solved after all

    retried = run_event(task, conf, jira, None, state, owner="run-1")  # Airflow's retry
    assert issue_status(jira, key) == "Open", retried  # the person's reopen stands
    assert retried.get("comment_id")  # what was left to do is done


# ---- create_group: a re-trigger of a refused create must not adopt somebody else's group ------

def test_a_retriggered_create_group_refused_as_existing_does_not_adopt_the_existing_group(jira, esm, state, request):
    """Jira already has the group (made by hand, or by another card's event). The create_group
    event is refused with Jira's "A group with that name already exists." -- right. The ESM
    workflow retries the failed step (same event id, same payload): the retry is "resumed"
    (check_first), finds the group by its name, reports success and writes that group's id on
    the event's card. No attempt of this event made that group; the card is now tied to
    someone else's group (a later delete_group for the card deletes it), and the same event
    was first refused, then reported done."""
    name = unique("existing-group")
    existing = jira.create_group(name)
    request.addfinalizer(lambda: delete_group_if_there(jira, existing["groupId"]))
    card = esm.create_card("group", {"name": name}, folder="groups")
    task = example_task("event_create_group.yaml")
    conf = {"event_id": unique(), "datacard_id": card, "name": name}
    with pytest.raises(EventRefused, match="already exists"):
        run_event(task, conf, jira, esm, state)
    try:
        run_event(task, conf, jira, esm, state)  # the workflow's retry of the failed step
    except EventRefused:
        pass  # refused again: consistent
    assert not esm.get_card("group", card).value("jira_group_id"), "the card was tied to a group the event did not make"


# ---- an event begun under a version without the ledger ------------------------------------

def test_an_event_begun_without_the_ledger_is_checked_in_jira_before_each_change(jira, state):
    """An event whose first attempt ran under a connector version that kept no ledger (its claim
    carries no ledger note) may have sent any change: the resumed attempt looks first, as
    before, so a group that earlier attempt deleted is "already gone", not "never was"."""
    task = example_task("event_delete_group.yaml")
    name = unique("deleted-by-an-older-version")
    conf = {"event_id": unique(), "name": name}
    state.begin_event(task.name, conf["event_id"], owner="run-0")  # the older version's claim
    state.fail_event(task.name, conf["event_id"], "RequestTimeoutError: Jira did not answer in time")
    result = run_event(task, conf, jira, None, state, owner="run-1")
    assert result["deleted"] is False and result["replayed"] is False


# ---- a re-trigger with another payload -------------------------------------------------------

def test_a_retrigger_after_a_refused_try_that_sent_nothing_is_not_told_its_payload_was_not_acted_on(
    jira, state, close_accounts_after, caplog,
):
    """An ESM workflow de-provisions a leaver with a mistyped account id: Jira has no such user,
    the event is refused (nothing was sent to Jira: the ledger is empty). The operator fixes
    the account id on the card and the workflow re-triggers the failed step (same event id).
    The retry deletes the right user -- it acted on its own payload, fully: it is not told
    ``payload_differs`` (a workflow reads that as "your payload was not applied"), since the
    earlier try did nothing at all."""
    account_id = jira.create_user(f"{unique('leaver')}@example.com", ["jira-software"])["accountId"]
    close_accounts_after.append(account_id)
    task = example_task("event_delete_user.yaml")
    event_id = unique("leaver")
    with pytest.raises(EventRefused):
        run_event(task, {"event_id": event_id, "account_id": f"0000{unique('typo')}"}, jira, None, state, owner="run-1")
    with caplog.at_level("WARNING", logger="jira_esm_connector.events"):
        fixed = run_event(task, {"event_id": event_id, "account_id": account_id}, jira, None, state, owner="run-2")
    assert fixed["deleted"] is True and fixed["account_id"] == account_id  # the fixed payload was acted on
    warned = [r.getMessage() for r in caplog.records if r.levelname == "WARNING"]
    assert "payload_differs" not in fixed, (fixed, warned)


def test_a_retrigger_naming_another_issue_than_its_kept_transition_is_refused_not_half_applied(
    jira, state, monkeypatch,
):
    """Try 1 (payload A: SUP-a, "05 - Solved", comment) resolves SUP-a -- confirmed in the
    ledger -- then its comment fails (503). The event id is sent again with payload B naming
    another issue SUP-b (a corrected key). Keeping A's transition and posting B's comment on
    SUP-b would apply half of each: the try is refused, naming both issues."""
    monkeypatch.setattr("jira_esm_connector.events.operations.LOOKUP_PAUSES", (0.0,))
    a, task, conf_a = _resolved_then_comment_failed(jira, state, "issue a")
    b = jira.create_issue({"project": {"key": "SUP"}, "issuetype": {"name": "Task"}, "summary": "issue b"})["key"]
    with pytest.raises(EventRefused, match=f"already did its transition on issue_key {a}"):
        run_event(task, {**conf_a, "issue_key": b}, jira, None, state, owner="run-2")
    assert [c["id"] for c in jira.iter_comments(b)] == []  # payload B: nothing half-applied
    assert jira.get_issue(b, fields=["status"])["fields"]["status"]["name"] != "Resolved"
