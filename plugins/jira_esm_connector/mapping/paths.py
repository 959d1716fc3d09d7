"""Dotted-path access into Jira JSON records (``fields.status.name``, ``fields.labels.0``)."""
from __future__ import annotations

from functools import lru_cache
from typing import Any


@lru_cache(maxsize=4096)
def split_path(path: str) -> tuple[str | int, ...]:
    """``"fields.components[0].name"`` / ``"fields.components.0.name"`` -> parts.

    Numeric parts become list indexes (negative ones too, so ``-1`` is "the last")."""
    parts: list[str | int] = []
    for raw in path.replace("[", ".").replace("]", "").split("."):
        if raw == "":
            continue
        try:
            parts.append(int(raw))
        except ValueError:
            parts.append(raw)
    return tuple(parts)


def get_path(record: Any, path: str | None) -> Any:
    """Value at ``path`` in nested dicts/lists; anything missing -> ``None``.

    An empty path (``""`` or ``"."``) returns the record itself. A numeric part indexes a
    list; on a dict it is tried as a string key (Jira ids like ``"10010"`` stay reachable).
    """
    if path is None:
        return None
    value = record
    for part in split_path(path):
        if value is None:
            return None
        if isinstance(part, int):
            if isinstance(value, (list, tuple)):
                if -len(value) <= part < len(value):
                    value = value[part]
                else:
                    return None
            elif isinstance(value, dict):
                value = value.get(str(part))
            else:
                return None
        elif isinstance(value, dict):
            value = value.get(part)
        else:
            return None
    return value
