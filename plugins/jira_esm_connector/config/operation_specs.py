"""The event operations, each declared once: the table :data:`OPERATION_SPECS`.

One :class:`OperationSpec` per operation says which blocks of a ``kind: event`` task file it
takes, what it needs in them, which result value ``write_back`` writes to the ESM card and
which function performs it. Everything else reads this table: the task-file model
(:mod:`.event`: the ``operation`` values, block and requirement checks), the runtime
(:mod:`jira_esm_connector.events.runner`: dispatch and write-back). Adding an operation is
one entry here plus its handler function in :mod:`jira_esm_connector.events.handlers`.

Direction of imports: ``config`` never imports ``events``; a handler is named by its
function name in ``jira_esm_connector.events.handlers`` and looked up there by the events
package (:func:`jira_esm_connector.events.handlers.handler_for`).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

__all__ = [
    "BLOCKS",
    "OPERATIONS",
    "OPERATION_SPECS",
    "SUB_BLOCKS",
    "NeedsAnyOf",
    "NeedsFields",
    "NeedsValue",
    "OperationSpec",
]

# The operation-specific blocks of an event task file, in the order they are checked.
BLOCKS = ("fields", "issue", "comment", "transition", "user", "group")
# Keys inside a block that only some operations take, as "block.key".
SUB_BLOCKS = ("user.products",)


def _present(value: Any) -> bool:
    """Given: not None, and (for ``fields``, a mapping) not empty."""
    return value is not None and not (isinstance(value, dict) and not value)


@dataclass(frozen=True)
class NeedsValue:
    """The value at ``path`` (a block, or a block's key) must be given (non-empty)."""

    path: tuple[str, ...]
    message: str  # "{op}" stands for the operation's name

    def problem(self, task: Any) -> tuple[str, tuple[str, ...]] | None:
        value = task
        for key in self.path:
            value = getattr(value, key, None) if value is not None else None
        return None if _present(value) else (self.message, self.path)


@dataclass(frozen=True)
class NeedsAnyOf:
    """The ``block`` must be given with at least one of ``keys``."""

    block: str
    keys: tuple[str, ...]
    message: str

    def problem(self, task: Any) -> tuple[str, tuple[str, ...]] | None:
        model = getattr(task, self.block)
        if model is not None and any(getattr(model, k) is not None for k in self.keys):
            return None
        return self.message, (self.block,)


@dataclass(frozen=True)
class NeedsFields:
    """``fields`` must map each of ``names``; the message gets "; missing: ..." appended."""

    names: tuple[str, ...]
    message: str

    def problem(self, task: Any) -> tuple[str, tuple[str, ...]] | None:
        missing = [f for f in self.names if f not in task.fields]
        if not missing:
            return None
        return f"{self.message}; missing: {', '.join(missing)}", ("fields",)


Requirement = NeedsValue | NeedsAnyOf | NeedsFields


@dataclass(frozen=True)
class OperationSpec:
    """One event operation.

    ``blocks``: the task-file blocks it takes (from :data:`BLOCKS` and :data:`SUB_BLOCKS`);
    ``requires``: what must be given in them, checked in this order when the file loads;
    ``result_key``: the result value ``write_back`` writes to the ESM card;
    ``handler``: the function of :mod:`jira_esm_connector.events.handlers` that performs it.
    """

    name: str
    blocks: frozenset[str]
    requires: tuple[Requirement, ...]
    result_key: str
    handler: str

    def problem(self, task: Any) -> tuple[str, tuple[str, ...]] | None:
        """The first unmet requirement as ``(message, key path)``, or None."""
        for requirement in self.requires:
            found = requirement.problem(task)
            if found is not None:
                return found[0].replace("{op}", self.name), found[1]
        return None


_ISSUE = NeedsValue(("issue",), 'is required for {op}: the issue key or id, e.g. "{{ issue_key }}"')
_USER = NeedsAnyOf("user", ("account_id", "email"), "{op} needs the user's account_id or email")
_GROUP = NeedsAnyOf("group", ("name", "id"), "{op} needs the group's name or id")


def _spec(name: str, blocks: str, requires: tuple[Requirement, ...], result_key: str) -> OperationSpec:
    return OperationSpec(name, frozenset(blocks.split()), requires, result_key, handler=name)


_SPECS = (
    _spec("create_issue", "fields", (
        NeedsFields(("project", "issuetype", "summary"), "{op} needs at least project, issuetype and summary"),
    ), "issue_key"),
    _spec("update_issue", "issue fields", (
        NeedsValue(("fields",), "{op} needs at least one field to change"), _ISSUE,
    ), "issue_key"),
    _spec("add_comment", "issue comment", (
        _ISSUE, NeedsValue(("comment",), 'is required for {op}: the comment text, e.g. "{{ comment }}"'),
    ), "comment_id"),
    _spec("transition_issue", "issue transition comment fields", (
        _ISSUE, NeedsValue(("transition",), "is required for {op}: {to: <target status>, resolution: <optional>}"),
    ), "issue_key"),
    _spec("create_user", "user user.products", (
        NeedsValue(("user", "email"), "{op} needs the new user's e-mail"),
    ), "account_id"),
    _spec("delete_user", "user", (_USER,), "account_id"),
    _spec("create_group", "group", (NeedsValue(("group", "name"), "{op} needs the group's name"),), "group_id"),
    _spec("delete_group", "group", (_GROUP,), "group_id"),
    _spec("add_user_to_group", "user group", (_USER, _GROUP), "account_id"),
    _spec("remove_user_from_group", "user group", (_USER, _GROUP), "account_id"),
)

OPERATION_SPECS: dict[str, OperationSpec] = {spec.name: spec for spec in _SPECS}
OPERATIONS: tuple[str, ...] = tuple(OPERATION_SPECS)
