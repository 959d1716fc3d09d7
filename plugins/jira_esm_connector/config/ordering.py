"""Order between imports: the ``after`` key of a scheduled task, checked across the task folder.

A task with ``after: [a, b]`` is started by Airflow once every import it names has had a
successful run since its own last run (Airflow Assets, see dagfactory/imports.py). That only
means something when each name is another import of the same folder and the names form no
circle, so :func:`check_run_order` refuses, with the loader's errors (file, key, "did you
mean"):

* a name that is no task of the folder, or an event task;
* tasks that run after each other in a circle (none of them would ever start);
* a task that runs after a refused or broken one: it is refused too, so nothing ever runs
  out of order because its predecessor's file has a problem (fix that file and both return).

A refused task leaves ``LoadResult.tasks`` (it gets no DAG) and adds one error.
"""
from __future__ import annotations

import difflib
from typing import TYPE_CHECKING, Any, Mapping

from .errors import TaskFileError

if TYPE_CHECKING:  # pragma: no cover
    from .loader import LoadResult

__all__ = ["after_refused_message", "check_run_order", "find_cycles"]


def _after(task: Any) -> list[str]:
    return list(getattr(task, "after", None) or [])


def _refuse(result: "LoadResult", name: str, key: str, message: str, refused: dict[str, str]) -> None:
    path = result.files.pop(name, None)
    file = path.name if path is not None else name
    result.tasks.pop(name, None)
    refused[name] = file
    result.errors.append(TaskFileError(file, message, key=key))


def after_refused_message(dep: str, file: str) -> str:
    """Why a task that runs after ``dep`` (from ``file``), which has a problem, is refused too."""
    return (
        f"'{dep}' ({file}) has a problem of its own (see its error), so this task cannot run "
        "after it and is not scheduled either; fix that file first"
    )


def _missing_message(dep: str, result: "LoadResult", refused: Mapping[str, str]) -> str:
    if dep in refused:
        return after_refused_message(dep, refused[dep])
    other = result.tasks.get(dep)
    if other is not None:
        return f"'{dep}' is an event task (kind: event); a task can only run after imports (kind: scheduled)"
    names = sorted(n for n, t in result.tasks.items() if getattr(t, "kind", None) == "scheduled")
    close = difflib.get_close_matches(dep, names, n=1, cutoff=0.6)
    hint = f" (did you mean '{close[0]}'?)" if close else (f" (imports: {', '.join(names)})" if names else "")
    return f"there is no import task named '{dep}' in the task folder{hint}; if its file has an error, fix that first"


def _refuse_unresolved(result: "LoadResult", refused: dict[str, str]) -> None:
    """Refuse tasks naming a task that is not a valid import here, until none is left."""
    changed = True
    while changed:
        changed = False
        for name, task in sorted(result.tasks.items()):
            for n, dep in enumerate(_after(task)):
                other = result.tasks.get(dep)
                if other is not None and getattr(other, "kind", None) == "scheduled":
                    continue
                _refuse(result, name, f"after[{n}]", _missing_message(dep, result, refused), refused)
                changed = True
                break


def find_cycles(graph: Mapping[str, list[str]]) -> list[list[str]]:
    """Circles in ``{task: [tasks it runs after]}`` as found by a depth-first walk (each one
    as the path ``[a, b, ...]`` where a runs after b, ..., and the last after a). Iterative:
    a long chain of task files cannot exhaust Python's recursion limit."""
    cycles: list[list[str]] = []
    done: set[str] = set()
    for start in sorted(graph):
        if start in done:
            continue
        path: list[str] = [start]
        on_path = {start}
        pending = [iter(graph.get(start, ()))]
        while pending:
            dep = next(pending[-1], None)
            if dep is None:
                pending.pop()
                done.add(path[-1])
                on_path.discard(path.pop())
                continue
            if dep in on_path:
                cycles.append(path[path.index(dep):])
            elif dep not in done and dep in graph:
                path.append(dep)
                on_path.add(dep)
                pending.append(iter(graph.get(dep, ())))
    return cycles


def check_run_order(result: "LoadResult") -> None:
    """Refuse the tasks whose ``after`` cannot be honoured (see the module docs)."""
    refused: dict[str, str] = {}
    _refuse_unresolved(result, refused)
    while True:
        graph = {n: _after(t) for n, t in result.tasks.items() if _after(t)}
        cycles = find_cycles(graph)
        if not cycles:
            return
        for cycle in cycles:
            circle = " -> ".join([*cycle, cycle[0]])
            for name in cycle:
                if name in result.tasks:
                    position = _after(result.tasks[name]).index(cycle[(cycle.index(name) + 1) % len(cycle)])
                    _refuse(
                        result, name, f"after[{position}]",
                        f"these tasks run after each other in a circle, so none of them would ever start: "
                        f"{circle} (each runs after the next); remove one of these names from 'after'",
                        refused,
                    )
        _refuse_unresolved(result, refused)  # tasks after one of the circle
