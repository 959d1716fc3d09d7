"""Objects an event push created whose key is not on their ESM card yet.

An event push with a write-back (``create_issue``, ``create_user``, ``create_group``)
creates the object in Jira, then writes its key (issue key, account id, group id) to the ESM
card the event came from. A worker killed between the two leaves the object in Jira and the
card without the key until the event's retry. An import meeting the object in that window
found no card with the key and created a second one; the retried write-back then gave the
key to two cards.

The claim of such an event notes that card (``StateStore.begin_event``'s ``origin``, in the
claim's own statement) until the event is done. After its listing, an import asks for the
unfinished events writing back to its template and key attribute -- usually none, and then
nothing else is asked -- finds their objects in Jira as the event's own retry does (an issue
by the event's label, confirmed by its event property; a user by e-mail; a group by name)
and notes each object's card (``StateStore.note_event_card``): load then writes that card
rather than creating one. A user whose e-mail Jira hides is not found: its window stays open.
"""
from __future__ import annotations

import logging
from typing import Any

from ..jira.client import AmbiguousGroupError, group_name
from ..jira.jql import jql_list
from ..markers import ISSUE_EVENT_PROPERTY, EventRef, email_key, user_with_email
from ..protocols import JiraApi, StateApi

__all__ = ["note_event_objects"]

_LABELS_PER_SEARCH = 50  # labels in one JQL (about 2,500 characters)
# the import's key -> what the event writes back, for each kind of import
_KEYS = {"generic": "key", "user": "accountId", "group": "groupId"}

Origins = list[tuple[EventRef, dict[str, str]]]


def note_event_objects(task: Any, jira: JiraApi, state: StateApi, lg: logging.Logger | logging.LoggerAdapter) -> int:
    """Note the ESM card of each object an unfinished event push created for this task's
    template and key attribute (module docs); returns how many were noted. Only imports keyed
    by what the event writes back (issue key, account id, group id)."""
    kind = task.mapping_type
    if _KEYS.get(kind) != task.record_key_path:
        return 0
    origins = [(EventRef(t, e), origin) for t, e, origin in state.event_origins(task.template, task.key.esm)]
    if not origins:
        return 0
    find = {"generic": _issues, "user": _users, "group": _groups}[kind]
    noted = 0
    for key, ref, card_id in find(jira, origins):
        state.note_event_card(task.template, task.key.esm, key, card_id, task=ref.task, event_id=ref.event_id)
        noted += 1
        lg.info("%s was created by event %s of %s from %s card %s, whose write-back is still to come: this "
                "import writes that card.", key, ref.event_id, ref.task, task.template, card_id)
    return noted


def _issues(jira: JiraApi, origins: Origins) -> list[tuple[str, EventRef, str]]:
    """(issue key, event, card) of the issues carrying an event's label and property."""
    events = {ref.label: (ref, origin["card_id"]) for ref, origin in origins}
    labels = sorted(events)
    found = []
    for first in range(0, len(labels), _LABELS_PER_SEARCH):
        jql = f"labels in {jql_list(labels[first:first + _LABELS_PER_SEARCH])}"
        for issue in jira.search(jql, fields=["labels"], page_size=100):
            for label in (issue.get("fields") or {}).get("labels") or []:
                if label not in events:
                    continue
                ref, card_id = events[label]
                # the label alone proves nothing: anybody can set one
                if ref.matches(jira.get_issue_property(issue["key"], ISSUE_EVENT_PROPERTY, missing_ok=True)):
                    found.append((issue["key"], ref, card_id))
    return found


def _users(jira: JiraApi, origins: Origins) -> list[tuple[str, EventRef, str]]:
    """(account id, event, card) of the users with an event's e-mail (Jira keeps it unique)."""
    found = []
    for ref, origin in origins:
        if not email_key(origin.get("email")):
            continue
        user = user_with_email(jira.find_users(origin["email"]), origin["email"])  # asked as the event's retry asks
        if user is not None and user.get("accountId"):
            found.append((str(user["accountId"]), ref, origin["card_id"]))
    return found


def _groups(jira: JiraApi, origins: Origins) -> list[tuple[str, EventRef, str]]:
    """(group id, event, card) of the groups with an event's name (Jira keeps it unique). Only
    a group named as the event's create sent it (composed, :func:`group_name`): Jira's look-up
    also answers with a group named so in another case or Unicode form, which the event did
    not make (``create_group`` refuses to make a look-alike) -- its id on the event's card
    would tie that card to someone else's group."""
    found = []
    for ref, origin in origins:
        name = group_name(origin["group_name"]) if origin.get("group_name") else None
        try:
            group = jira.find_group(name) if name else None
        except AmbiguousGroupError:  # look-alike groups: which one the event made cannot be told
            group = None
        if group is not None and group.get("groupId") and group.get("name") == name:
            found.append((str(group["groupId"]), ref, origin["card_id"]))
    return found
