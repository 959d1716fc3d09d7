"""Reading task files: one file -> one task, a folder -> tasks + per-file errors."""
from __future__ import annotations

import difflib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Union

from pydantic import ValidationError

from .errors import TaskFileError, format_key_path, short_repr
from .event import EventTask
from .ordering import check_run_order
from .scheduled import ScheduledTask
from .yamlio import MAX_YAML_CHARS, YamlProblem, load_yaml

__all__ = ["Task", "LoadResult", "load_task_file", "load_task_dir", "parse_task", "TASK_FILE_SUFFIXES"]

Task = Union[ScheduledTask, EventTask]
TASK_FILE_SUFFIXES = (".yaml", ".yml")
_KINDS = {"scheduled": ScheduledTask, "event": EventTask}


@dataclass
class LoadResult:
    tasks: dict[str, Task] = field(default_factory=dict)
    errors: list[TaskFileError] = field(default_factory=list)
    files: dict[str, Path] = field(default_factory=dict)  # task name -> file it came from


def _plain(err: dict[str, Any]) -> tuple[str, str]:
    """pydantic error -> (key path, plain message)."""
    loc = list(err.get("loc", ()))
    kind = err.get("type", "")
    ctx = err.get("ctx") or {}
    value = err.get("input")
    msg = str(err.get("msg", ""))
    if kind == "located":
        loc += list(ctx.get("subpath", ()))
        msg = ctx.get("message", msg)
    elif kind == "missing":
        msg = "is required"
    elif kind == "literal_error":
        msg = f"must be {ctx.get('expected')}, got {short_repr(value)}"
    elif kind in ("string_type",):
        msg = f"must be text, got {short_repr(value)}"
    elif kind in ("int_type", "int_parsing", "int_from_float"):
        msg = f"must be a whole number, got {short_repr(value)}"
    elif kind in ("float_type", "float_parsing"):
        msg = f"must be a number, got {short_repr(value)}"
    elif kind in ("bool_type", "bool_parsing"):
        msg = f"must be true or false, got {short_repr(value)}"
    elif kind in ("dict_type", "model_type", "model_attributes_type"):
        msg = f"must be a mapping of keys to values, got {short_repr(value)}"
    elif kind in ("list_type",):
        msg = f"must be a list, got {short_repr(value)}"
    elif kind in ("greater_than", "greater_than_equal", "less_than", "less_than_equal"):
        bound = {"greater_than": "greater than", "greater_than_equal": "at least",
                 "less_than": "less than", "less_than_equal": "at most"}[kind]
        limit = next(iter(ctx.values()), "?")
        msg = f"must be {bound} {limit}, got {short_repr(value)}"
    elif kind == "value_error":
        msg = msg.removeprefix("Value error, ")
    if msg[:1].isupper() and not msg[1:2].isupper():
        msg = msg[:1].lower() + msg[1:]
    return format_key_path(loc), msg


def parse_task(data: Any, file: str = "<task>") -> Task:
    """Validate already-parsed YAML data; raises :class:`TaskFileError`."""
    if not isinstance(data, dict):
        raise TaskFileError(file, f"must be a mapping of keys (name, kind, ...), got {type(data).__name__}")
    kind = data.get("kind")
    if kind is None:
        typo = difflib.get_close_matches("kind", [k for k in data if isinstance(k, str)], n=1, cutoff=0.6)
        if typo:  # e.g. "knd:" -- name the key that is there, not only the one that is missing
            raise TaskFileError(file, "unknown key; did you mean 'kind'?", key=typo[0])
        raise TaskFileError(file, "is required: scheduled (a Jira import) or event (a push to Jira)", key="kind")
    model = _KINDS.get(kind) if isinstance(kind, str) else None
    if model is None:
        raise TaskFileError(file, f"must be 'scheduled' or 'event', got {short_repr(kind)}", key="kind")
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        problems = [_plain(e) for e in exc.errors()]
        # de-duplicate, keep order
        seen: set[tuple[str, str]] = set()
        problems = [p for p in problems if not (p in seen or seen.add(p))]
        key, message = problems[0]
        raise TaskFileError(file, message, key=key or None, problems=[(k or None, m) for k, m in problems]) from None


def load_task_file(path: str | Path) -> Task:
    """Read and validate one task file; raises :class:`TaskFileError` naming the file."""
    path = Path(path)
    name = path.name
    try:
        with path.open("rb") as fh:
            # read one byte more than allowed: a huge file is refused without reading it all
            raw = fh.read(MAX_YAML_CHARS + 1)
    except OSError as exc:
        raise TaskFileError(name, f"cannot be read: {exc.strerror or exc}") from None
    if len(raw) > MAX_YAML_CHARS:
        raise TaskFileError(name, f"is too large (more than {MAX_YAML_CHARS} characters); a task file is a few KiB")
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = raw.count(b"\n", 0, exc.start) + 1
        raise TaskFileError(
            name, f"is not UTF-8 text (byte 0x{raw[exc.start]:02x} at position {exc.start}); save it as UTF-8",
            line=line,
        ) from None
    if text.startswith("\ufeff"):
        text = text[1:]  # a UTF-8 byte-order mark (some Windows editors write one)
    try:
        data = load_yaml(text)
    except YamlProblem as exc:
        raise TaskFileError(name, exc.message, line=exc.line) from None
    if data is None:
        raise TaskFileError(name, "is empty")
    try:
        return parse_task(data, name)
    except TaskFileError:
        raise
    except (RecursionError, ValueError, TypeError) as exc:
        # not one of the checks' own messages: still this file's error alone (the DAG files
        # build every task's DAG from one folder, and one file must not take the others down)
        raise TaskFileError(name, f"cannot be read as a task file: {type(exc).__name__}: {exc}") from None


def load_task_dir(directory: str | Path) -> LoadResult:
    """Load every ``*.yaml``/``*.yml`` file (sorted by name, hidden files skipped).

    A broken file adds one :class:`TaskFileError` and never affects the others -- except a
    task that runs ``after`` it, which is refused too (:mod:`.ordering`: nothing runs out of
    order); a task name used by an earlier file makes the later file an error.
    """
    result = LoadResult()
    directory = Path(directory)
    if not directory.is_dir():
        result.errors.append(TaskFileError(str(directory), "task folder does not exist"))
        return result
    files = sorted(
        p for p in directory.iterdir()
        if p.is_file() and p.suffix.lower() in TASK_FILE_SUFFIXES and not p.name.startswith(".")
    )
    for path in files:
        try:
            task = load_task_file(path)
        except TaskFileError as exc:
            result.errors.append(exc)
            continue
        if task.name in result.tasks:
            result.errors.append(TaskFileError(
                path.name, f"name '{task.name}' is already used by {result.files[task.name].name}; task names must be unique",
                key="name",
            ))
            continue
        result.tasks[task.name] = task
        result.files[task.name] = path
    check_run_order(result)
    return result
