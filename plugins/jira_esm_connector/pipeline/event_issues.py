"""Issues an event push created whose key is not on their ESM card yet.

An event push (``create_issue`` with a write-back) creates the issue in Jira, then writes
its key to the ESM card the event came from. A worker killed between the two leaves the
issue in Jira and the card without the key until the event's retry. An import meeting the
issue in that window found no card with the key and created a second one; the retried
write-back then gave the key to two cards.

The claim of such an event notes that card (``StateStore.begin_event``'s ``origin``, in the
claim's own statement), until the event is done. Before an issue import loads, it asks for
the unfinished events writing back to its template and key attribute -- usually none, and
then nothing else is asked -- finds their issues in Jira by the event's label (confirmed by
the issue's event property, as the event's own retry does) and notes each issue's card
(``StateStore.note_event_card``): load then writes that card rather than creating one.

Users and groups an event created carry no such mark in Jira (their retry finds them by
e-mail / name, which the claim does not hold): their window stays open.
"""
from __future__ import annotations

import logging
from typing import Any

from ..jira.jql import jql_list
from ..markers import ISSUE_EVENT_PROPERTY, EventRef
from ..protocols import JiraApi, StateApi

__all__ = ["note_event_issues"]

_LABELS_PER_SEARCH = 50  # labels in one JQL (about 2,500 characters)


def note_event_issues(task: Any, jira: JiraApi, state: StateApi, lg: logging.Logger | logging.LoggerAdapter) -> int:
    """Note the ESM card of each issue an unfinished event push created for this task's
    template and key attribute (module docs); returns how many were noted. Only imports
    keyed by the issue key: that is what the event writes back."""
    if task.mapping_type != "generic" or task.record_key_path != "key":
        return 0
    events = {EventRef(t, e).label: (EventRef(t, e), card) for t, e, card in state.event_origins(task.template, task.key.esm)}
    labels = sorted(events)
    noted = 0
    for first in range(0, len(labels), _LABELS_PER_SEARCH):
        jql = f"labels in {jql_list(labels[first:first + _LABELS_PER_SEARCH])}"
        for issue in jira.search(jql, fields=["labels"], page_size=100):
            for label in (issue.get("fields") or {}).get("labels") or []:
                if label not in events:
                    continue
                ref, card_id = events[label]
                if not ref.matches(jira.get_issue_property(issue["key"], ISSUE_EVENT_PROPERTY, missing_ok=True)):
                    continue  # the label alone proves nothing: anybody can set one
                state.note_event_card(task.template, task.key.esm, issue["key"], card_id,
                                      task=ref.task, event_id=ref.event_id)
                noted += 1
                lg.info("%s was created by event %s of %s from %s card %s, whose write-back is still to come: "
                        "this import writes that card.", issue["key"], ref.event_id, ref.task, task.template, card_id)
    return noted
