"""Jira fields of an event, computed from the task file's ``fields:`` mapping and the payload.

A mapping key is a Jira field id (``summary``, ``priority``, ``customfield_10042``) or a
field *name* as shown in Jira (``"ESM reference"``); names are resolved through
``GET /rest/api/3/field`` once per run (:class:`FieldResolver` caches the list).
Values come from the mapping engine: constants, templates over the payload
(``"{{ subject }}"``), ``{from: description, transform: text_to_adf}``, value maps.
Payload fields the caller did not send render as empty and are left out.
"""
from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

from .errors import EventConfigError

__all__ = ["FieldResolver", "resolve_fields"]

log = logging.getLogger("jira_esm_connector.events")

# Jira's system field ids are lower-case words; custom ones customfield_NNNNN.
_SYSTEM_FIELD_IDS = {
    "summary", "description", "project", "issuetype", "priority", "labels", "assignee",
    "reporter", "duedate", "components", "fixVersions", "versions", "environment", "parent",
    "resolution", "timetracking", "security", "timeestimate", "timeoriginalestimate",
}


class FieldResolver:
    """Field id for a field id or name, from ``/rest/api/3/field`` fetched at most once."""

    def __init__(self, jira: Any) -> None:
        self._jira = jira
        self._fields: list[dict[str, Any]] | None = None
        self._resolved: dict[str, str] = {}

    def _all(self) -> list[dict[str, Any]]:
        if self._fields is None:
            self._fields = list(self._jira.fields() or [])
            log.info("Read %d field definitions from Jira", len(self._fields))
        return self._fields

    def resolve(self, key: str) -> str:
        if key in self._resolved:
            return self._resolved[key]
        if key in _SYSTEM_FIELD_IDS or key.startswith("customfield_"):
            self._resolved[key] = key
            return key
        fields = self._all()
        if any(f.get("id") == key or f.get("key") == key for f in fields):
            self._resolved[key] = key
            return key
        exact = [f for f in fields if f.get("name") == key]
        if not exact:
            exact = [f for f in fields if str(f.get("name", "")).casefold() == key.casefold()]
        ids = sorted({str(f.get("id")) for f in exact})
        if not ids:
            raise EventConfigError(
                f"field '{key}' in the task's fields: Jira has no field with that id or name "
                "(check the spelling, or use the field id such as customfield_10042)"
            )
        if len(ids) > 1:
            raise EventConfigError(
                f"field '{key}' in the task's fields: several Jira fields have that name "
                f"({', '.join(ids)}); use the field id instead"
            )
        log.info("Field '%s' is Jira field %s", key, ids[0])
        self._resolved[key] = ids[0]
        return ids[0]


def resolve_fields(values: Mapping[str, Any], resolver: FieldResolver) -> dict[str, Any]:
    """Mapped field values keyed by Jira field id (names resolved; labels merged)."""
    out: dict[str, Any] = {}
    for key, value in values.items():
        field_id = resolver.resolve(key)
        if field_id in out:
            raise EventConfigError(f"fields '{key}' and another key both map to Jira field {field_id}")
        out[field_id] = value
    return out
