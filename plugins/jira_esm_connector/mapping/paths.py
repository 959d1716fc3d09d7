"""Dotted-path access into Jira JSON records (``fields.status.name``, ``fields.labels.0``)."""
from __future__ import annotations

from functools import lru_cache
from typing import Any, Callable


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


def path_head(path: str) -> str:
    """The top-level name a dotted path starts with: ``"members[0].name"`` -> ``"members"``."""
    return path.split(".", 1)[0].split("[", 1)[0]


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


def compile_path(path: str | None) -> Callable[[Any], Any]:
    """``get_path`` for one fixed path, resolved once: ``fn(record)`` gives exactly what
    ``get_path(record, path)`` gives. Paths of names only (the usual Jira paths, ``key``,
    ``fields.status.name``) skip the per-record parsing and type checks of list indexes."""
    if path is None:
        return lambda record: None
    parts = split_path(path)
    if not parts:
        return lambda record: record
    if any(isinstance(p, int) for p in parts):
        return lambda record: get_path(record, path)
    if len(parts) == 1:
        (name,) = parts

        def one(record: Any) -> Any:
            return record.get(name) if isinstance(record, dict) else None

        return one
    if len(parts) > 2:
        def names(record: Any) -> Any:
            value = record
            for name in parts:
                if not isinstance(value, dict):
                    return None
                value = value.get(name)
            return value

        return names
    first, second = parts

    def two(record: Any) -> Any:
        if isinstance(record, dict):
            value = record.get(first)
            if isinstance(value, dict):
                return value.get(second)
        return None

    return two
