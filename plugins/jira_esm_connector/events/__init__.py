"""Event pushes (ESM -> Jira): one plain function per operation and :func:`run_event`.

``run_event(task, conf, jira, esm, state)`` checks the conf payload, claims the event in the
state store (exactly once by ``event_id``), maps the payload to Jira values, performs the
operation, writes the result back to the ESM card when the task asks, and returns the
result dict (``issue_key`` / ``comment_id`` / ``account_id`` / ``group_id`` ..., plus
``event_id`` and ``replayed``). The markers that identify an event's objects in Jira
(``EventRef``, the property keys) live in :mod:`jira_esm_connector.markers`. No Airflow imports here: the DAG factory
(:mod:`jira_esm_connector.dagfactory.events`) wraps it in a task.
"""
from __future__ import annotations

from .errors import EventConfigError, EventError, EventRefused, PayloadError, is_permanent, is_transient
from .fields import FieldResolver, clear_field_cache, resolve_fields
from .operations import (
    CreateGuard,
    CreateUnconfirmed,
    add_comment,
    add_user_to_group,
    create_group,
    create_issue,
    create_user,
    delete_group,
    delete_user,
    find_comment_for_event,
    find_issue_for_event,
    remove_user_from_group,
    transition_issue,
    update_issue,
)
from .runner import EventBusy, check_payload, run_event, write_back

__all__ = [
    "CreateGuard",
    "CreateUnconfirmed",
    "EventBusy",
    "EventConfigError",
    "EventError",
    "EventRefused",
    "FieldResolver",
    "clear_field_cache",
    "PayloadError",
    "add_comment",
    "add_user_to_group",
    "check_payload",
    "create_group",
    "create_issue",
    "create_user",
    "delete_group",
    "delete_user",
    "find_comment_for_event",
    "find_issue_for_event",
    "is_permanent",
    "is_transient",
    "remove_user_from_group",
    "resolve_fields",
    "run_event",
    "transition_issue",
    "update_issue",
    "write_back",
]
