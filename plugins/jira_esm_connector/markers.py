"""The connector's markers: how it recognises what it wrote, in Jira and in ESM.

One neutral module, imported by both ``pipeline/`` (the imports) and ``events/`` (the
pushes), so neither has to know the other's conventions.

Every object an event creates carries the event's identity, so that a retry after a crash
(Jira answered, the state record was not written) finds it instead of creating a second:

* issues: the issue property ``jira_esm_connector.event`` = ``{"event_id", "task"}``, set
  in the create request itself, plus a label ``esm-event-<hash>`` derived from task and
  event id. Lookup searches the label (``labels = "esm-event-..."``) and confirms each hit
  by reading its property. Not property JQL: Jira Cloud indexes an entity property for JQL
  only when an installed app declares it, which a REST client cannot. The label holds only
  hex digits, so no payload text ever reaches the JQL unescaped. Search lags behind
  creates (eventually consistent): see :class:`~.events.operations.CreateGuard`.
* comments: the comment property ``jira_esm_connector.origin`` =
  ``{"source": "esm", "event_id", "task"}``. The comment import skips comments carrying it
  (no ping-pong) and a retried ``add_comment`` finds its comment by it.
* the other direction: the comment import ends every worklog entry it writes into ESM with
  the marker ``[Jira comment N]`` (:func:`worklog_marker`). An ``add_comment`` event whose
  comment text ends with that exact marker came from Jira in the first place and is not
  pushed back (result ``skipped``). Only the marker counts: an ESM comment that merely
  starts with ``Jira:`` (the example import's author prefix, a task-file template, or
  simply words a person typed) is pushed like any other.
* users by e-mail, groups by name: Jira itself keeps those unique.
"""
from __future__ import annotations

import functools
import hashlib
import re
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

__all__ = [
    "ISSUE_EVENT_PROPERTY",
    "COMMENT_ORIGIN_PROPERTY",
    "EVENT_LABEL_PREFIX",
    "IMPORTED_COMMENT_PREFIX",
    "WORKLOG_MARKER_RE",
    "EventRef",
    "ascii_lower",
    "came_from_jira",
    "connector_comment_or_gone",
    "email_key",
    "imported_comment_id",
    "imported_comment_ids",
    "is_connector_comment",
    "user_with_email",
    "worklog_marker",
]

ISSUE_EVENT_PROPERTY = "jira_esm_connector.event"
COMMENT_ORIGIN_PROPERTY = "jira_esm_connector.origin"
EVENT_LABEL_PREFIX = "esm-event-"
IMPORTED_COMMENT_PREFIX = "Jira:"  # the example import's author prefix; NOT a skip criterion


# Every "[Jira comment N]" marker in a worklog: the comment ids it already holds.
WORKLOG_MARKER_RE = re.compile(r"\[Jira comment (\d+)\]")
# The exact marker the comment import ends each worklog entry with (worklog_marker), at the
# very end of the text: a marker quoted mid-text is a person's words.
_IMPORTED_ENTRY_END = re.compile(r"\[Jira comment ([0-9]+)\]\s*\Z")


_ASCII_LOWER = str.maketrans("ABCDEFGHIJKLMNOPQRSTUVWXYZ", "abcdefghijklmnopqrstuvwxyz")


def ascii_lower(text: str) -> str:
    """``text`` with its ASCII letters lowercased, every other character as it is."""
    return text.translate(_ASCII_LOWER)


@functools.lru_cache(maxsize=4096)
def _lowers_apart(char: str) -> bool:
    """Does ``char`` lowercase without becoming (partly) ASCII? True for an ASCII character.
    False for a look-alike ("\u212a" Kelvin sign -> "k", "\u0130" -> "i" + dot): it stays as
    it is, apart from the letter it mimics."""
    return char.isascii() or not any(c.isascii() for c in char.lower())


def email_key(email: Any) -> str:
    """An e-mail address for comparing (a user is found by it): lowercased, as Jira compares
    addresses, non-ASCII letters too ("\u00c5SA@..." is "\u00e5sa@..."). Not ``casefold()``:
    it makes different small letters one ("\u00b5" micro sign and "\u03bc" mu, final and
    other sigma) and look-alikes ASCII ("\u017fupport@..." with a long s), so a payload
    address could select -- and delete -- another user; a non-ASCII character never lowers
    to an ASCII one here (it stays as it is)."""
    text = str(email or "").strip()
    if text.isascii():
        return ascii_lower(text)
    if all(_lowers_apart(c) for c in text):
        return text.lower()  # as Jira: "\u03a3" ending a word is the final "\u03c2"
    # letter by letter, a capital sigma cannot be told final ("\u03c2") or not: kept as it is
    return "".join(c.lower() if _lowers_apart(c) and c != "\u03a3" else c for c in text)


def user_with_email(users: Iterable[dict[str, Any]], email: Any) -> dict[str, Any] | None:
    """The first of ``users`` (Jira user objects) whose ``emailAddress`` is ``email`` by
    :func:`email_key`, or None. An empty address matches no one: it is not a hidden one."""
    wanted = email_key(email)
    if not wanted:
        return None
    return next((user for user in users if email_key(user.get("emailAddress")) == wanted), None)


def worklog_marker(comment_id: str) -> str:
    """The tag that ends a worklog entry imported from Jira comment ``comment_id``."""
    return f"[Jira comment {comment_id}]"


def came_from_jira(text: str | None) -> bool:
    """A comment text that the comment import brought into ESM (must not go back): it ends
    with the ``[Jira comment N]`` marker the import appends to every worklog entry."""
    return imported_comment_id(text) is not None


def imported_comment_id(text: str | None) -> str | None:
    """The id of the Jira comment a worklog entry was imported from: the marker that ends
    its text (a marker quoted mid-text is a person's words), or None."""
    if not text:
        return None
    found = _IMPORTED_ENTRY_END.search(text)
    return found.group(1) if found else None


def imported_comment_ids(entries: Iterable[Any]) -> list[str]:
    """The Jira comment id of each worklog entry the comment import wrote (value elements,
    ``{"value": text, ...}``, or texts), one per entry, in order (:func:`imported_comment_id`)."""
    found = (imported_comment_id(e.get("value") if isinstance(e, dict) else e) for e in entries)
    return [comment_id for comment_id in found if comment_id is not None]


@dataclass(frozen=True)
class EventRef:
    """One event: the task (DAG id) that handles it and the caller's ``event_id``."""

    task: str
    event_id: str

    @property
    def digest(self) -> str:
        return hashlib.sha256(f"{self.task}\x00{self.event_id}".encode()).hexdigest()

    @property
    def label(self) -> str:
        """A Jira label naming this event: ASCII, no spaces, safe in JQL."""
        return EVENT_LABEL_PREFIX + self.digest[:32]

    def issue_property(self) -> dict[str, Any]:
        return {"event_id": self.event_id, "task": self.task}

    def comment_property(self) -> dict[str, Any]:
        return {"source": "esm", "event_id": self.event_id, "task": self.task}

    def matches(self, value: Any) -> bool:
        """Does a stored property value name this very event?"""
        return (
            isinstance(value, dict)
            and value.get("event_id") == self.event_id
            and value.get("task") == self.task
        )


def connector_comment_or_gone(comment: dict[str, Any], jira: Any, skip_marked: bool = True) -> bool | None:
    """What a comment import (and its reconciliation) makes of a listed comment: True for the
    connector's own (with ``skip_marked``), None for one deleted since it was listed (the
    read of its origin property answered 404), else False."""
    from .http.errors import NotFoundError

    if not skip_marked:
        return False
    try:
        return is_connector_comment(comment, jira)
    except NotFoundError:
        return None


def is_connector_comment(comment: dict[str, Any], jira: Any = None) -> bool:
    """True for a Jira comment the connector pushed (its origin property is set). Listed with
    ``expand=properties``, the comment carries its properties; when Jira did not embed them,
    ``jira`` (a JiraClient) reads the property (without it, such a comment counts as not ours);
    a comment deleted since it was listed then raises NotFoundError: the caller treats it as gone."""
    if not isinstance(comment.get("properties"), list) and jira is not None:
        return jira.comment_property_of(comment, COMMENT_ORIGIN_PROPERTY) is not None
    for prop in comment.get("properties") or []:
        if isinstance(prop, dict) and prop.get("key") == COMMENT_ORIGIN_PROPERTY:
            return True
    return False
