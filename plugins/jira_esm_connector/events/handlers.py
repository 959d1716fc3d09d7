"""One handler per event operation: the rendered task-file values to an operation call.

Each handler takes an :class:`Act` (what :func:`~.runner.run_event` knows about the event)
and returns the operation's result dict. Which handler performs which operation is declared
once, in :data:`jira_esm_connector.config.operation_specs.OPERATION_SPECS` (its ``handler``
names a function of this module); :func:`handler_for` looks it up.
"""
from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from ..config.event import RenderedEvent
from ..config.operation_specs import OPERATION_SPECS
from ..http import DOT_SEGMENTS
from ..mapping import text_to_adf
from ..markers import EventRef, came_from_jira
from ..protocols import JiraApi
from . import operations as ops
from .errors import PayloadError
from .fields import FieldResolver, resolve_fields

__all__ = ["Act", "Handler", "handler_for"]

log = logging.getLogger("jira_esm_connector.events")


@dataclass
class Act:
    """One event about to be performed: the client, the event, the rendered values."""

    jira: JiraApi
    ref: EventRef
    rendered: RenderedEvent
    check_first: bool
    guard: ops.CreateGuard
    payload: Any = None  # the validated conf the values were rendered from

    def came_from_jira(self, text: str) -> bool:
        """The comment text ends with the import's marker, or holds a payload value that does
        (a task template may put words after the forwarded worklog entry)."""
        if came_from_jira(text):
            return True
        return any(isinstance(v, str) and came_from_jira(v) and v.strip() in text
                   for v in (self.payload or {}).values())

    def __post_init__(self) -> None:
        self._resolver = FieldResolver(self.jira)

    def fields(self) -> dict[str, Any]:
        """The mapped fields keyed by Jira field id."""
        return resolve_fields(self.rendered.fields, self._resolver)

    def issue(self) -> str:
        key = _require(self.rendered.issue, "the issue key")
        if key in DOT_SEGMENTS:  # a path step, not a key: refused now rather than retried (the clients refuse it too)
            raise PayloadError(f"the issue key came out as {key!r} for this payload, which names no issue")
        return key


Handler = Callable[[Act], dict[str, Any]]


def handler_for(operation: str) -> Handler:
    """The function performing ``operation``, as its spec names it."""
    return globals()[OPERATION_SPECS[operation].handler]


def _require(value: str | None, what: str) -> str:
    if value is None or not str(value).strip():
        raise PayloadError(f"{what} came out empty for this payload")
    return str(value).strip()


def create_issue(act: Act) -> dict[str, Any]:
    return ops.create_issue(act.jira, act.ref, act.fields(), check_first=act.check_first, guard=act.guard)


def update_issue(act: Act) -> dict[str, Any]:
    return ops.update_issue(act.jira, act.ref, act.issue(), act.fields(), guard=act.guard)


def add_comment(act: Act) -> dict[str, Any]:
    rendered = act.rendered
    text = _require(rendered.comment, "the comment text")
    if act.came_from_jira(text):
        log.info(
            "The comment came from Jira (it ends with the comment import's [Jira comment N] marker): "
            "not pushing it back"
        )
        return {"issue_key": rendered.issue, "comment_id": None, "skipped": "the comment came from Jira (no ping-pong)"}
    body = text_to_adf(text)
    return ops.add_comment(act.jira, act.ref, act.issue(), body, check_first=act.check_first, guard=act.guard)


def transition_issue(act: Act) -> dict[str, Any]:
    rendered = act.rendered
    comment = rendered.comment
    if comment and act.came_from_jira(comment):
        log.info("The transition's comment came from Jira (it ends with the comment import's "
                 "[Jira comment N] marker): not pushing it back")
        comment = None
    return ops.transition_issue(
        act.jira, act.ref, act.issue(), _require(rendered.transition_to, "the target status"),
        resolution=rendered.resolution or None,
        comment_adf=text_to_adf(comment) if comment else None,
        fields=act.fields() or None,
        check_first=act.check_first,
        guard=act.guard,
    )


DEFAULT_PRODUCTS = ["jira-software"]  # create_user's products when the task file gives none


def create_user(act: Act) -> dict[str, Any]:
    rendered = act.rendered
    # an explicit products: [] creates the user without product access (Jira's createUser)
    products = DEFAULT_PRODUCTS if rendered.products is None else rendered.products
    return ops.create_user(
        act.jira, act.ref, _require(rendered.email, "the user's e-mail"), products, check_first=act.check_first,
        guard=act.guard,
    )


def delete_user(act: Act) -> dict[str, Any]:
    rendered = act.rendered
    return ops.delete_user(
        act.jira, act.ref, account_id=rendered.account_id or None, email=rendered.email or None,
        check_first=act.check_first, guard=act.guard,
    )


def create_group(act: Act) -> dict[str, Any]:
    return ops.create_group(
        act.jira, act.ref, _require(act.rendered.group_name, "the group name"), check_first=act.check_first,
        guard=act.guard,
    )


def delete_group(act: Act) -> dict[str, Any]:
    rendered = act.rendered
    return ops.delete_group(
        act.jira, act.ref, name=rendered.group_name or None, group_id=rendered.group_id or None,
        check_first=act.check_first, guard=act.guard,
    )


def _membership_args(act: Act) -> dict[str, Any]:
    rendered = act.rendered
    return {
        "group_name": rendered.group_name or None, "group_id": rendered.group_id or None,
        "account_id": rendered.account_id or None, "email": rendered.email or None,
        "check_first": act.check_first, "guard": act.guard,
    }


def add_user_to_group(act: Act) -> dict[str, Any]:
    return ops.add_user_to_group(act.jira, act.ref, **_membership_args(act))


def remove_user_from_group(act: Act) -> dict[str, Any]:
    return ops.remove_user_from_group(act.jira, act.ref, **_membership_args(act))
