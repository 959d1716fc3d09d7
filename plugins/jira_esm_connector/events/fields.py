"""Jira fields of an event, computed from the task file's ``fields:`` mapping and the payload.

A mapping key is a Jira field id (``summary``, ``priority``, ``customfield_10042``) or a
field *name* as shown in Jira (``"ESM reference"``); names are resolved through Jira's
field list (``JiraClient.fields``). The list is cached per process, per Jira site and account, for
:data:`FIELD_CACHE_TTL_S` (an event push is interactive: one Jira round trip less); a name
the cached list does not know is looked up once more in a fresh list before the event
fails, so a custom field created a minute ago is found.
Values come from the mapping engine: constants, templates over the payload
(``"{{ subject }}"``), ``{from: description, transform: text_to_adf}``, value maps.
Payload fields the caller did not send render as empty and are left out.
"""
from __future__ import annotations

import logging
import threading
import time
from collections.abc import Mapping
from typing import Any

from ..protocols import JiraApi
from .errors import EventConfigError

__all__ = ["FIELD_CACHE_TTL_S", "FieldResolver", "clear_field_cache", "resolve_fields"]

log = logging.getLogger("jira_esm_connector.events")

# Jira's system field ids are lower-case words; custom ones customfield_NNNNN.
_SYSTEM_FIELD_IDS = {
    "summary", "description", "project", "issuetype", "priority", "labels", "assignee",
    "reporter", "duedate", "components", "fixVersions", "versions", "environment", "parent",
    "resolution", "timetracking", "security", "timeestimate", "timeoriginalestimate",
}


FIELD_CACHE_TTL_S = 300.0

# (site URL, account e-mail) -> (monotonic time fetched, field list); shared by the resolvers
# of one process (a worker running many pushes, the benchmarks, the tests)
_cache: dict[tuple[str, str], tuple[float, list[dict[str, Any]]]] = {}
_cache_lock = threading.Lock()


def clear_field_cache() -> None:
    """Forget every cached field list (tests; after changing fields in Jira by hand)."""
    with _cache_lock:
        _cache.clear()


def _cache_key(jira: JiraApi) -> tuple[str, str] | None:
    site = getattr(jira, "base_url", None)
    if not isinstance(site, str) or not site:
        return None  # a client we cannot tell apart from others: no sharing
    return (site.rstrip("/"), str(getattr(jira, "email", "") or ""))


class FieldResolver:
    """Field id for a field id or name, from Jira's field list: the process-wide cached
    list when younger than ``ttl`` seconds, refetched once when a name is not in it."""

    def __init__(self, jira: JiraApi, *, ttl: float | None = None) -> None:
        self._jira = jira
        self._fields: list[dict[str, Any]] | None = None
        self._fresh = False  # True once this resolver fetched the list itself
        self._resolved: dict[str, str] = {}
        self._ttl = FIELD_CACHE_TTL_S if ttl is None else float(ttl)
        self._key = _cache_key(jira)

    def _fetch(self) -> list[dict[str, Any]]:
        fields = list(self._jira.fields() or [])
        log.info("Read %d field definitions from Jira", len(fields))
        if self._key is not None and self._ttl > 0:
            with _cache_lock:
                _cache[self._key] = (time.monotonic(), fields)
        self._fields, self._fresh = fields, True
        return fields

    def _all(self) -> list[dict[str, Any]]:
        if self._fields is None:
            hit = None
            if self._key is not None and self._ttl > 0:
                with _cache_lock:
                    hit = _cache.get(self._key)
            if hit is not None and time.monotonic() - hit[0] < self._ttl:
                self._fields = hit[1]
            else:
                self._fetch()
        return self._fields  # type: ignore[return-value]

    def _matches(self, key: str) -> tuple[bool, list[str]]:
        """(is a field id or key, ids of the fields with that name)."""
        fields = self._all()
        if any(f.get("id") == key or f.get("key") == key for f in fields):
            return True, [key]
        exact = [f for f in fields if f.get("name") == key]
        if not exact:
            exact = [f for f in fields if str(f.get("name", "")).casefold() == key.casefold()]
        return False, sorted({str(f.get("id")) for f in exact})

    def resolve(self, key: str) -> str:
        if key in self._resolved:
            return self._resolved[key]
        if key in _SYSTEM_FIELD_IDS or key.startswith("customfield_"):
            self._resolved[key] = key
            return key
        is_id, ids = self._matches(key)
        if not ids and not self._fresh:
            # not in the cached list: the field may be new (or renamed) -- ask Jira once more
            log.info("Field '%s' is not in the cached field list; reading the list from Jira again", key)
            self._fetch()
            is_id, ids = self._matches(key)
        if is_id:
            self._resolved[key] = key
            return key
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
