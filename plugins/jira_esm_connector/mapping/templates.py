"""Sandboxed Jinja2 templates for mapping values (``"{{ subject }}"``).

Templates only substitute and format values: the sandbox refuses attribute tricks that
reach Python internals, undefined names are errors (typos fail loudly), and ``None``
renders as an empty string, as does a field that a value lacks (``{{ fields.assignee.displayName }}``
of an unassigned issue, a custom field Jira leaves out): missing data, as for a path.
"""
from __future__ import annotations

from functools import lru_cache
from typing import Any

from jinja2 import ChainableUndefined, StrictUndefined, TemplateSyntaxError, meta, nodes
from jinja2.exceptions import SecurityError, UndefinedError
from jinja2.sandbox import ImmutableSandboxedEnvironment
from jinja2.utils import missing

from ..bounded import short_repr

__all__ = ["TemplateError", "compile_template", "template_paths", "template_variables", "is_template", "whole_number"]


class TemplateError(ValueError):
    """A template is malformed or could not be rendered (undefined name, refused operation)."""


_EXACT_WHOLE = 2**53  # doubles hold every whole number up to here exactly


def whole_number(value: Any) -> Any:
    """A whole-number float as an int (Jira sends number fields as doubles: 3 comes as 3.0,
    whose text "3.0" matches no ESM value "3"); anything else as it is."""
    if isinstance(value, float) and value.is_integer() and abs(value) <= _EXACT_WHOLE:
        return int(value)
    return value


def _finalize(value: Any) -> Any:
    value = whole_number(value)
    if isinstance(value, (dict, list, tuple)):  # its Python repr is no text for ESM or Jira
        what = "an object" if isinstance(value, dict) else "a list"
        raise TemplateError(
            f"template writes {what} {short_repr(value)}, not a single value: pick one of its fields "
            "({{ x.value }}) or join a list ({{ x | join(', ') }})"
        )
    return "" if value is None else value


class _FieldUndefined(ChainableUndefined):
    """A field a value lacks renders empty (and so do fields of it); a name the context lacks
    (no value to look in) and a refused operation stay errors (StrictUndefined)."""

    __slots__ = ()

    def __new__(cls, hint: Any = None, obj: Any = missing, name: Any = None, exc: Any = UndefinedError):
        if obj is missing or hint is not None or exc is not UndefinedError:
            return StrictUndefined(hint, obj, name, exc)
        return super().__new__(cls)


_ENV = ImmutableSandboxedEnvironment(
    undefined=_FieldUndefined, autoescape=False, finalize=_finalize, keep_trailing_newline=True
)


def is_template(text: str) -> bool:
    return "{{" in text or "{%" in text


@lru_cache(maxsize=2048)
def _parse(source: str):
    try:
        return _ENV.parse(source)
    except TemplateSyntaxError as exc:
        raise TemplateError(f"template syntax error: {exc.message} (line {exc.lineno})") from None


def template_variables(source: str) -> set[str]:
    """Top-level names a template refers to (``{{ fields.summary }}`` -> ``{"fields"}``)."""
    return set(meta.find_undeclared_variables(_parse(source)))


def _chain(node: Any) -> list[str] | None:
    """``a.b['c']`` -> ``["a", "b", "c"]`` (``*`` for a computed key); None unless it starts at a name."""
    parts: list[str] = []
    while isinstance(node, (nodes.Getattr, nodes.Getitem)):
        if isinstance(node, nodes.Getattr):
            parts.append(node.attr)
        else:
            parts.append(node.arg.value if isinstance(node.arg, nodes.Const) and isinstance(node.arg.value, str) else "*")
        node = node.node
    return [node.name, *reversed(parts)] if isinstance(node, nodes.Name) else None


def template_paths(source: str) -> set[str]:
    """The dotted paths a template reads (``{{ issue.fields.summary }}`` -> ``{"issue.fields.summary"}``;
    a bare name is its own path), for checking them against what a record carries."""
    paths: set[str] = set()

    def visit(node: Any) -> None:
        if isinstance(node, (nodes.Getattr, nodes.Getitem)):
            chain = _chain(node)
            if chain:
                paths.add(".".join(chain))
            inner = node
            while isinstance(inner, (nodes.Getattr, nodes.Getitem)):
                if isinstance(inner, nodes.Getitem):
                    visit(inner.arg)
                inner = inner.node
            if not isinstance(inner, nodes.Name):
                visit(inner)
            return
        if isinstance(node, nodes.Name) and node.ctx == "load":
            paths.add(node.name)
        for child in node.iter_child_nodes():
            visit(child)

    visit(_parse(source))
    return paths


@lru_cache(maxsize=2048)
def compile_template(source: str):
    """Compile once; returns ``render(context: dict) -> str``."""
    _parse(source)  # raise TemplateError with a plain message on bad syntax
    template = _ENV.from_string(source)

    def render(context: dict[str, Any]) -> str:
        try:
            return template.render(context)
        except UndefinedError as exc:
            raise TemplateError(f"template refers to an unknown value: {exc.message}") from None
        except SecurityError as exc:
            raise TemplateError(f"template operation refused: {exc}") from None

    return render
