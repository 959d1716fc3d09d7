"""A transition event's comment was created without the claim check (``still_ours``) that
the add_comment operation and the issue create use.

Try 1 of a run moves the issue and freezes before the transition's comment (lost heartbeats:
Airflow marks the try failed and starts try 2 of the same run, which takes the event over at
once). Try 2 finds the issue in the target status, looks for the event's comment, finds none
and adds it. Try 1 woke and added the comment a second time: two comments for one event, and
its success overwrote the recorded result. Now the transition's comment goes through the same
guard: try 1 finds the event no longer its own and stops. (A try that freezes inside the
comment's own request, after the check, is the window no check can close.)"""
from __future__ import annotations

import threading

from jira_esm_connector.events import run_event

from .conftest import example_task, unique
from .zombies import frozen_try


class StallBeforeComment:
    """The Jira client, but once the transition took effect the worker freezes until woken
    (try 1's worker, before its comment)."""

    def __init__(self, jira, stalled: threading.Event, wakes: threading.Event):
        self._jira, self.stalled, self.wakes = jira, stalled, wakes

    def __getattr__(self, name):
        return getattr(self._jira, name)

    def transition_issue(self, *a, **kw):
        done = self._jira.transition_issue(*a, **kw)
        self.stalled.set()
        assert self.wakes.wait(60)
        return done


def _zombie_then_retry(jira, state):
    """Try 1 freezes after the transition; try 2 of the same run handles the event; try 1
    wakes. ``(issue key, task, conf, try 2's result, try 1's outcome)``."""
    key = jira.create_issue({"project": {"key": "SUP"}, "issuetype": {"name": "Task"}, "summary": "zombie transition"})["key"]
    task = example_task("event_transition_issue.yaml")
    conf = {"event_id": unique(), "issue_key": key, "status": "05 - Solved", "comment": "Solved in ESM."}
    zombie, retry = frozen_try(
        lambda stalled, wakes: run_event(task, conf, StallBeforeComment(jira, stalled, wakes), None, state, owner="run-1"),
        lambda: run_event(task, conf, jira, None, state, owner="run-1"),  # try 2 of the same run
    )
    return key, task, conf, retry, zombie


def test_a_zombie_transition_try_does_not_add_the_comment_a_second_time(jira, state):
    key, _task, _conf, retry, zombie = _zombie_then_retry(jira, state)
    comments = [str(c["id"]) for c in jira.iter_comments(key)]
    assert comments == [retry["comment_id"]], (comments, zombie)


def test_a_zombie_transition_try_does_not_overwrite_the_retrys_recorded_result(jira, state):
    """Same race: the zombie's success overwrote the recorded (replayed) result, which then
    named the zombie's comment, not the one the retry returned."""
    _key, task, conf, retry, zombie = _zombie_then_retry(jira, state)
    replay = run_event(task, conf, jira, None, state, owner="run-2")
    assert replay["replayed"] is True
    assert replay["comment_id"] == retry["comment_id"], (replay, retry, zombie)
