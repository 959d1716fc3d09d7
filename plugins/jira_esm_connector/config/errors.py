"""Errors about task files, worded for an operator: file, key path, problem."""
from __future__ import annotations

from typing import Any, Iterable

from ..bounded import MAX_REPR, cut as _cut, short_repr

__all__ = ["TaskFileError", "format_key_path", "short_repr", "MAX_REPR", "MAX_MESSAGE", "MAX_PROBLEMS"]

# Safety net for any message, whatever produced it, and for the number of problems listed.
MAX_MESSAGE = 1000
MAX_PROBLEMS = 30


def format_key_path(loc: Iterable[Any]) -> str:
    """``("attributes", "status", "map")`` -> ``attributes.status.map``; list positions
    as ``quality[0]``."""
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += ("." if out else "") + str(part)
    return out


class TaskFileError(ValueError):
    """One problem in one task file.

    ``str(err)`` reads ``jira_issues.yaml: key 'mode': must be 'full' or 'incremental', got 'ful'``
    (or ``jira_issues.yaml: line 4: ...`` for YAML syntax problems).
    """

    def __init__(
        self,
        file: str,
        message: str,
        *,
        key: str | None = None,
        line: int | None = None,
        problems: list[tuple[str | None, str]] | None = None,
    ) -> None:
        self.file = file
        self.key = key
        self.line = line
        self.message = message
        # Every problem found in the file as (key path or None, message); the first is `key`/`message`.
        self.problems = problems or [(key, message)]
        super().__init__(self._render())

    @staticmethod
    def _one(file: str, key: str | None, message: str, line: int | None = None) -> str:
        message = _cut(str(message), MAX_MESSAGE)
        key = _cut(key, MAX_REPR) if key else key
        where = f"{file}:"
        if line is not None:
            where += f" line {line}:"
        if key:
            where += f" key '{key}':"
        return f"{where} {message}"

    def _render(self) -> str:
        first = self._one(self.file, self.key, self.message, self.line)
        if len(self.problems) <= 1:
            return first
        rest = [self._one(self.file, k, m) for k, m in self.problems[1:MAX_PROBLEMS]]
        if len(self.problems) > MAX_PROBLEMS:
            rest.append(f"{self.file}: ... and {len(self.problems) - MAX_PROBLEMS} more problems")
        return "\n".join([first, *rest])
