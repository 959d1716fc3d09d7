"""Safe YAML reading for task files.

* ``yes``/``no``/``on``/``off`` stay text (only ``true``/``false`` are booleans), so value
  maps like ``{Yes: ...}`` mean what they say; so do YAML 1.1's other implicit types
  (``0777``, ``12:30``, ``1_000``, ``0b11``, dates such as ``2024-05-01``): YAML 1.2 numbers
  only;
* a key written twice in one mapping is an error (PyYAML would silently keep the last one);
* errors carry line numbers;
* anchors and aliases (``&x`` / ``*x``) are refused: a few hundred bytes of nested aliases
  ("billion laughs") expand to gigabytes as soon as anything walks the value (an error
  message, the DAG docs), and task files have no need for them;
* the text size and the number of YAML nodes are capped, so a huge or generated file is
  refused with a plain message instead of stalling every DAG-file parse.
"""
from __future__ import annotations

import re
from typing import Any

import yaml

__all__ = ["YamlProblem", "load_yaml", "MAX_YAML_CHARS", "MAX_YAML_NODES"]

# A real task file is a few KiB with a few hundred nodes; these leave plenty of room.
MAX_YAML_CHARS = 1024 * 1024
MAX_YAML_NODES = 50_000


class YamlProblem(ValueError):
    def __init__(self, message: str, line: int | None) -> None:
        super().__init__(message)
        self.message = message
        self.line = line


# libyaml's parser when installed: several times faster, and every DAG file parse (also at
# the start of each task, e.g. an interactive event push) reads every task file
class _Loader(getattr(yaml, "CSafeLoader", yaml.SafeLoader)):  # type: ignore[misc]
    pass


# Replace YAML 1.1's booleans (yes/no/on/off/y/n), numbers and dates by YAML 1.2 ones: 1.1
# reads 0777 as octal 511, 12:30 as base-60 750, 1_000 as 1000, 0b11 as 3, 2024-05-01 as a
# date (which no text map key equals) and a lone '=' as a tag it cannot build. Those stay the
# text written; a key that takes a number still reads '0100' as 100.
_YAML_1_1_ONLY = {"tag:yaml.org,2002:" + t for t in ("bool", "int", "float", "timestamp", "value")}
_Loader.yaml_implicit_resolvers = {
    k: [(tag, rx) for tag, rx in v if tag not in _YAML_1_1_ONLY]
    for k, v in yaml.SafeLoader.yaml_implicit_resolvers.copy().items()
}
_Loader.add_implicit_resolver(
    "tag:yaml.org,2002:bool", re.compile(r"^(?:true|True|TRUE|false|False|FALSE)$"), list("tTfF")
)
_Loader.add_implicit_resolver(
    "tag:yaml.org,2002:int", re.compile(r"^(?:[-+]?(?:0|[1-9][0-9]*)|0x[0-9a-fA-F]+)$"), list("-+0123456789")
)
_Loader.add_implicit_resolver(
    "tag:yaml.org,2002:float",
    re.compile(r"^(?:[-+]?(?:[0-9]+\.[0-9]*|\.[0-9]+)(?:[eE][-+][0-9]+)?|[-+]?\.(?:inf|Inf|INF)|\.(?:nan|NaN|NAN))$"),
    list("-+0123456789."),
)


def _construct_mapping(loader: _Loader, node: yaml.MappingNode, deep: bool = False) -> dict:
    loader.flatten_mapping(node)
    seen: dict[Any, int] = {}
    for key_node, _ in node.value:
        key = loader.construct_object(key_node, deep=True)
        try:
            hash(key)
        except TypeError:
            raise yaml.constructor.ConstructorError(
                None, None, "a mapping key must be plain text", key_node.start_mark
            ) from None
        line = key_node.start_mark.line + 1
        if key in seen:
            raise yaml.constructor.ConstructorError(
                None, None, f"key '{key}' appears twice (lines {seen[key]} and {line})", key_node.start_mark
            )
        seen[key] = line
    return loader.construct_mapping(node, deep=deep)


_Loader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _construct_mapping)


def _check_events(text: str) -> None:
    """Refuse anchors/aliases and too many nodes before anything is built.

    A pass over libyaml's parse events is cheap (no Python objects per value) and sees
    anchors, which the composed node graph no longer shows.
    """
    nodes = 0
    for event in yaml.parse(text, Loader=_Loader):
        if isinstance(event, yaml.AliasEvent):
            raise YamlProblem(
                f"alias '*{event.anchor}' is not allowed in task files (write the value out instead)",
                event.start_mark.line + 1,
            )
        if isinstance(event, (yaml.ScalarEvent, yaml.SequenceStartEvent, yaml.MappingStartEvent)):
            if event.anchor is not None:
                raise YamlProblem(
                    f"anchor '&{event.anchor}' is not allowed in task files (anchors and aliases are not supported)",
                    event.start_mark.line + 1,
                )
            nodes += 1
            if nodes > MAX_YAML_NODES:
                raise YamlProblem(
                    f"too many values (more than {MAX_YAML_NODES}); a task file this large is not supported",
                    event.start_mark.line + 1,
                )


# Could the text hold an anchor or alias? (one needs whitespace, a flow indicator, the line
# start -- or the ':' of a quoted key or a flow '?', which libyaml lets a node follow at once:
# {"a":&x 1}, [?&x 1] --
# before '&'/'*' and a name after it). Cron schedules such as "*/30 * * * *" do not match;
# any match only means the exact check below runs.
_MAYBE_ANCHOR = re.compile(r"(?:^|[\s\[{,:?])[&*][^\s\]},]", re.MULTILINE)
# Below this size a file cannot hold MAX_YAML_NODES values (each needs 2+ characters).
_SMALL = 2 * MAX_YAML_NODES


# characters YAML reserves at the start of a value: a cron ("*/30 * * * *" reads as an alias), a
# preset (@hourly) or a strftime pattern (%d.%m.%Y) written without quotes
_QUOTE_ME = "*&@`%"


def _hint(text: str, exc: yaml.MarkedYAMLError) -> str:
    """What libyaml's words ("found character that cannot start any token", "did not find
    expected alphabetic or numeric character") mean at the character they point at."""
    for mark in (exc.context_mark, exc.problem_mark):
        if mark is None:
            continue
        lines = text.splitlines()
        row = lines[mark.line] if 0 <= mark.line < len(lines) else ""
        char = row[mark.column:mark.column + 1]
        if char == "\t":
            return " (a tab character: YAML indents with spaces only)"
        if char and char in _QUOTE_ME:
            return f" (a value starting with '{char}' must be quoted, e.g. schedule: \"*/30 * * * *\")"
    return ""


def load_yaml(text: str) -> Any:
    if len(text) > MAX_YAML_CHARS:
        raise YamlProblem(
            f"is too large ({len(text)} characters; at most {MAX_YAML_CHARS} are allowed)", None
        )
    try:
        # the event pass costs about a third of a load: skip it when it cannot find anything
        if len(text) >= _SMALL or _MAYBE_ANCHOR.search(text):
            _check_events(text)
        return yaml.load(text, Loader=_Loader)  # noqa: S506 - SafeLoader subclass
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = mark.line + 1 if mark is not None else None
        problem = exc.problem or str(exc)
        if exc.context and "appears twice" not in problem:
            problem = f"{exc.context}: {problem}" if "while" not in exc.context else problem
        raise YamlProblem(f"YAML syntax error: {problem}{_hint(text, exc)}", line) from None
    except yaml.reader.ReaderError as exc:
        # a character YAML does not allow (NUL, other control characters): say which, and where
        position = exc.position if isinstance(exc.position, int) else 0
        line = text.count("\n", 0, position) + 1
        char = exc.character if isinstance(exc.character, int) else ord(str(exc.character)[:1] or "?")
        raise YamlProblem(f"control character U+{char:04X} is not allowed in a task file", line) from None
    except yaml.YAMLError as exc:
        raise YamlProblem(f"YAML syntax error: {exc}", None) from None
    except RecursionError:
        # PyYAML builds nested values recursively: a few hundred levels exhaust Python's stack
        raise YamlProblem("is nested too deeply (values inside values hundreds of levels down); "
                          "a task file needs a few levels", None) from None
