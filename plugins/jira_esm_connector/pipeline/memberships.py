"""The membership safety limit of group imports.

A group import writes each group's member list over the card's: a member the listing
leaves out is removed from the ESM group, and in ESM a group membership grants access. A
member listing that is well formed but short -- a Jira glitch, a permission change of the
connector's account, a listing cut short -- looks exactly like people leaving their groups.
So before the load writes anything, it compares each changed group's members with those its
ESM card holds (read by the look-up the load makes anyway: no extra request, and none at all
on an unchanged re-run, whose diff passes no group on):

* **share**: when the run would remove more than ``member_removal.max_share`` (default 0.5,
  the card removal limit's default) of the task's memberships in total -- those the changed
  groups' cards hold plus those of the groups this run leaves unchanged --, every group that
  would lose members keeps its previous ones;
* **emptied**: a group whose card has members and whose listing has none keeps them, whatever
  the share (one member list gone is the commonest listing fault, and a share over the whole
  task would not notice it).

A per-task total, not a per-group share: one person leaving a group of two is half of that
group, an everyday change. The groups held back are written without their member attributes
(their other attributes go through) and are logged by key and name; the run goes on and counts
them (``groups_held_back``). They are not cached as done: the task cache keeps
:func:`held_back_print` of the record instead of its fingerprint, which never equals a
record's own, so diff passes the group on every run and every run checks it again. Held back
again with the very record written then, it costs no write (nothing but the members it keeps
could differ); a record changed since is written again, without its members while held back. The run
parameter ``allow_member_removal`` lets one run through. It is a parameter of its own, not
``allow_mass_removal``: a run that legitimately marks many deleted groups removed must still
protect the memberships of the others, and a task with ``removed: false`` has no
``allow_mass_removal`` at all.

A group whose member listing holds more records with the account id 'unknown' than the last
successful run wrote it with (Jira's fallback record of a member its directory could not give
names no one) never comes here: extract stages it as its key alone, so the run leaves its card
as it is (:mod:`.extract`).
"""
from __future__ import annotations

import hashlib
import logging
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from ..mapping import Reference

__all__ = ["GroupChange", "HELD_BACK_PREFIX", "held_back_print", "is_held_back_print", "membership_attributes", "member_ids", "count_members", "new_member_ids", "groups_to_hold_back"]

log = logging.getLogger("jira_esm_connector.pipeline")

_LISTED = 20  # groups named in one log line


@dataclass(frozen=True)
class GroupChange:
    """One changed group with a card: its members on the card, how many this run removes, its members after."""

    key: str
    name: str | None
    before: int
    removed: int
    after: int

    def describe(self) -> str:
        label = f"{self.key} ({self.name})" if self.name else self.key
        return f"{label}: {self.removed} of {self.before} member(s) gone, {self.after} left"


def membership_attributes(task: Any) -> list[str]:
    """The task's attributes holding a group's members (``[]``: no membership limit applies)."""
    return list(getattr(task, "membership_attributes", None) or [])


# how a held-back print begins: a record's own fingerprint (hex digits) never does, and the
# cache CLI and the reconcile report tell the groups held back from the cached records by it
HELD_BACK_PREFIX = "held:"


def held_back_print(fingerprint: str) -> str:
    """What the task cache keeps for a group written without its members, ``fingerprint``
    being its record's: never a record's own fingerprint (diff passes the group on, the
    membership check sees it again), the same for the same record (the load need not write
    it again while it is held back). As long as a fingerprint (the cache's column)."""
    digest = hashlib.sha256(f"held back\x00{fingerprint}".encode("utf-8")).hexdigest()
    return HELD_BACK_PREFIX + digest[len(HELD_BACK_PREFIX):]


def is_held_back_print(cached: str | None) -> bool:
    """Is this what the task cache keeps for a group held back (not a record cached as done)?"""
    return bool(cached) and str(cached).startswith(HELD_BACK_PREFIX)


def _text(value: Any) -> str | None:
    if isinstance(value, Mapping):  # an ESM value element: a reference by its card id
        for name in ("dataCardId", "value", "location"):
            if value.get(name) not in (None, ""):
                return str(value[name])
        return None
    card_id = getattr(value, "data_card_id", None)  # a Ref to write
    if card_id is not None:
        return str(card_id)
    return None if value in (None, "") else str(value)


def member_ids(values: Iterable[Any]) -> set[str]:
    """A card's value elements, or the values the load writes, as comparable texts (a
    reference: the id of the card it points to)."""
    return {t for t in (_text(v) for v in values) if t is not None}


def _as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else ([] if value is None else [value])


def count_members(data: Mapping[str, Any], attributes: Iterable[str]) -> int:
    """How many members a mapped record lists in ``attributes`` (reference keys, before they are resolved)."""
    count = 0
    for name in attributes:
        for value in _as_list(data.get(name)):
            count += len(value.keys) if isinstance(value, Reference) else int(value not in (None, ""))
    return count


def new_member_ids(data: Mapping[str, Any], attributes: Iterable[str], resolver: Any) -> set[str]:
    """The members the load would write for a mapped record: references resolved by
    ``resolver`` (a key with no card is left out, as the load leaves it out)."""
    out: set[str] = set()
    for name in attributes:
        for value in _as_list(data.get(name)):
            if isinstance(value, Reference):
                refs, _missing = resolver.resolve(value)
                out |= member_ids(refs)
            else:
                out |= member_ids([value])
    return out


def groups_to_hold_back(
    task: Any, changes: list[GroupChange], unchanged_memberships: int | None, *, allow: bool, lg: Any = None,
) -> set[str]:
    """The keys of the groups whose members are not written this run (module docs); logs why."""
    lg = lg or log
    removed = sum(c.removed for c in changes)
    total = sum(c.before for c in changes) + int(unchanged_memberships or 0)
    share = removed / total if total else 0.0
    emptied = [c for c in changes if c.before and not c.after]
    lg.info(
        "Membership check: this run's member listings remove %d of the %d membership(s) of task '%s' (%.0f%%; "
        "limit %.0f%%), in %d group(s); %d group(s) would lose every member.",
        removed, total, task.name, share * 100, task.member_share * 100, sum(1 for c in changes if c.removed),
        len(emptied),
    )
    if removed and share > task.member_share:
        held = [c for c in changes if c.removed]
        why = (f"this run's member listings would remove {removed} of the task's {total} group memberships "
               f"({share:.0%}, more than the safety limit of {task.member_share:.0%}, member_removal.max_share)")
    elif emptied:
        held = emptied
        why = "this run's member listings would leave them without any member"
    else:
        return set()
    message = (
        f"Task '{task.name}': {len(held)} group(s) keep their previous members in ESM: {why}. A member listing cut "
        f"short (a Jira glitch, a permission change of the connector's Jira account) looks exactly like people "
        f"leaving their groups, and an ESM group membership grants access. Their other attributes are written; "
        f"their members are not, and every run checks them again. If these people really left, trigger the DAG once "
        f"with the parameter allow_member_removal = true. Groups: "
        + "; ".join(c.describe() for c in held[:_LISTED]) + (f"; and {len(held) - _LISTED} more" if len(held) > _LISTED else "")
    )
    if allow:
        lg.warning("Membership safety limit overridden for this run (allow_member_removal): %s", message)
        return set()
    lg.warning("%s", message)
    return {c.key for c in held}
