"""Attribute / field mapping specs: parsing and validation of what task files declare.

One spec describes how to compute one output value from one input record:

* ``"fields.summary"`` — a path (scheduled imports) or a template (event pushes,
  ``"{{ subject }}"``) — see ``strings=``;
* ``{value: <constant>}``;
* ``{template: "{{ key }}: {{ fields.summary }}"}``;
* ``{from: <path>, ...}`` with, applied in this order:
  ``each`` (pick a sub-path from every list item) → ``transform`` (+ ``format``,
  ``timezone``, ``separator``) → ``map`` (+ ``default``) → ``join`` → ``reference``;
* a list of specs — a multi-value attribute (values flattened, empty ones dropped).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

from ..bounded import short_repr

from .templates import TemplateError, compile_template, is_template, template_variables
from .dates import date_formatter, get_zone
from .paths import path_head

__all__ = [
    "TRANSFORMS",
    "FieldSpec",
    "ReferenceSpec",
    "SpecError",
    "parse_spec",
]

TRANSFORMS = (
    "adf_to_text", "text_to_adf", "date", "datetime", "lower", "upper", "strip", "join",
    "string", "integer", "number", "boolean",
)
_DATE_TRANSFORMS = ("date", "datetime")

Strings = Literal["path", "template"]


class SpecError(ValueError):
    """A spec is malformed. ``subpath`` names the key inside the spec (``("map",)``)."""

    def __init__(self, message: str, subpath: tuple[str | int, ...] = ()) -> None:
        super().__init__(message)
        self.message = message
        self.subpath = subpath


@dataclass(frozen=True)
class ReferenceSpec:
    """Look the value(s) up as ESM data cards of ``template`` whose attribute ``by`` equals them."""

    template: str
    by: str


@dataclass(frozen=True, eq=False, repr=False)
class FieldSpec:
    raw: Any
    source: str | None = None
    template: str | None = None
    const: Any = None
    is_const: bool = False
    each: str | None = None
    transform: str | None = None
    format: str | None = None
    timezone: str | None = None
    separator: str | None = None
    mapping: dict[Any, Any] | None = None
    default: Any = None
    has_default: bool = False
    join: str | None = None
    reference: ReferenceSpec | None = None
    items: tuple["FieldSpec", ...] | None = None

    def __repr__(self) -> str:
        return f"FieldSpec({self.describe()})"

    # ---- introspection used by validators ---------------------------------------
    def sources(self) -> list[str]:
        """Every ``from`` path this spec reads (multi-value items included)."""
        if self.items is not None:
            return [s for item in self.items for s in item.sources()]
        return [self.source] if self.source is not None else []

    def templates(self) -> list[str]:
        if self.items is not None:
            return [t for item in self.items for t in item.templates()]
        return [self.template] if self.template is not None else []

    def references(self) -> list[ReferenceSpec]:
        if self.items is not None:
            return [r for item in self.items for r in item.references()]
        return [self.reference] if self.reference is not None else []

    def describe(self) -> str:
        """Short human description, for DAG docs."""
        if self.items is not None:
            return "[" + ", ".join(i.describe() for i in self.items) + "]"
        if self.is_const:
            return f"constant {short_repr(self.const)}"
        if self.template is not None and self.source is None:
            return f"template {short_repr(self.template)}"
        parts = [str(self.source)]
        if self.each:
            parts.append(f"each {self.each}")
        if self.transform:
            parts.append(self.transform + (f" {self.format}" if self.format else ""))
        if self.mapping is not None:
            parts.append(f"map ({len(self.mapping)} values)")
        if self.has_default:
            parts.append(f"default {short_repr(self.default)}")
        if self.join is not None:
            parts.append(f"join {short_repr(self.join)}")
        if self.reference:
            parts.append(f"→ {self.reference.template} by {self.reference.by}")
        return ", ".join(parts)


_FROM_KEYS = {
    "from", "each", "transform", "format", "timezone", "separator", "map", "default", "join",
    "reference",
}


def _suggest(key: str, allowed: set[str]) -> str:
    import difflib

    close = difflib.get_close_matches(key, sorted(allowed), n=1)
    return f"; did you mean '{close[0]}'?" if close else f"; allowed keys: {', '.join(sorted(allowed))}"


def _nonempty_str(value: Any, key: str) -> str:
    if not isinstance(value, str) or not value.strip():
        raise SpecError(f"must be a non-empty text, got {short_repr(value)}", (key,))
    return value


def _check_template(source: str, subpath: tuple[str | int, ...]) -> str:
    try:
        compile_template(source)
    except TemplateError as exc:
        raise SpecError(str(exc), subpath) from None
    return source


def parse_spec(raw: Any, *, strings: Strings = "path") -> FieldSpec:
    """Validate one spec as written in a task file; raises :class:`SpecError`."""
    if isinstance(raw, FieldSpec):
        return raw
    if isinstance(raw, str):
        return _parse_text(raw, strings)
    if isinstance(raw, list):
        return _parse_list(raw, strings)
    if raw is None:
        raise SpecError("is empty; give a Jira path, {value: ...}, {template: ...} or {from: ...}")
    if not isinstance(raw, dict):
        raise SpecError(
            "must be a Jira path, {value: ...}, {template: ...} or {from: ...}; "
            f"got {type(raw).__name__} {short_repr(raw)}"
        )
    keys = set(raw)
    kinds = [k for k in ("value", "template", "from") if k in raw]
    if not kinds:
        raise SpecError(
            "must have one of 'from' (where the value comes from), 'value' (a constant) or "
            f"'template'; got keys {', '.join(map(str, sorted(keys, key=str))) or 'none'}"
        )
    if len(kinds) > 1:
        raise SpecError(f"use only one of 'from', 'value' and 'template', got {' and '.join(kinds)}")
    kind = kinds[0]
    if kind == "value":
        extra = keys - {"value"}
        if extra:
            key = sorted(map(str, extra))[0]
            raise SpecError("a constant {value: ...} takes no other keys", (key,))
        return FieldSpec(raw=raw, const=raw["value"], is_const=True)
    if kind == "template":
        extra = keys - {"template"}
        if extra:
            key = sorted(map(str, extra))[0]
            raise SpecError("a {template: ...} takes no other keys", (key,))
        return FieldSpec(raw=raw, template=_check_template(_nonempty_str(raw["template"], "template"), ("template",)))
    return _parse_from(raw)


def _parse_text(raw: str, strings: Strings) -> FieldSpec:
    """A plain string: a Jira path, or a template (``{{ ... }}``, or any text where
    ``strings`` is ``"template"``)."""
    if not raw.strip():
        raise SpecError("must not be empty")
    if strings == "template":
        return FieldSpec(raw=raw, template=_check_template(raw, ()))
    if is_template(raw):
        return FieldSpec(raw=raw, template=_check_template(raw, ()))
    return FieldSpec(raw=raw, source=raw.strip())


def _parse_list(raw: list[Any], strings: Strings) -> FieldSpec:
    """A list of specs (not nested), each validated; errors name the item's index."""
    if not raw:
        raise SpecError("a list of values must not be empty")
    items = []
    for n, item in enumerate(raw):
        if isinstance(item, list):
            raise SpecError("lists cannot be nested", (n,))
        try:
            items.append(parse_spec(item, strings=strings))
        except SpecError as exc:
            raise SpecError(exc.message, (n, *exc.subpath)) from None
    return FieldSpec(raw=raw, items=tuple(items))


def _parse_from(raw: dict[str, Any]) -> FieldSpec:
    """``{from: <path>, ...}`` with its options (each, transform, format, timezone,
    separator, map, join, default, reference)."""
    for key in set(raw):
        if key not in _FROM_KEYS:
            raise SpecError(f"unknown key{_suggest(str(key), _FROM_KEYS)}", (key,))
    source = _nonempty_str(raw["from"], "from").strip()
    each = raw.get("each")
    if each is not None:
        each = _nonempty_str(each, "each")
    transform = raw.get("transform")
    if transform is not None and transform not in TRANSFORMS:
        raise SpecError(f"must be one of {', '.join(TRANSFORMS)}, got {short_repr(transform)}", ("transform",))
    fmt, tz = _check_date_options(raw, transform)
    separator = raw.get("separator")
    if separator is not None:
        if transform != "join":
            raise SpecError("'separator' only applies to transform: join (or use join: ', ')", ("separator",))
        if not isinstance(separator, str):
            raise SpecError(f"must be text, got {short_repr(separator)}", ("separator",))
    mapping = raw.get("map")
    if mapping is not None and (not isinstance(mapping, dict) or not mapping):
        raise SpecError("must be a non-empty mapping of source value → target value", ("map",))
    join = raw.get("join")
    if join is not None and not isinstance(join, str):
        raise SpecError(f"must be the separator text, e.g. ', ', got {short_repr(join)}", ("join",))
    reference = _parse_reference(raw["reference"], join, transform) if "reference" in raw else None
    return FieldSpec(
        raw=raw, source=source, each=each, transform=transform, format=fmt, timezone=tz,
        separator=separator, mapping=dict(mapping) if mapping is not None else None,
        default=raw.get("default"), has_default="default" in raw, join=join, reference=reference,
    )


def _check_date_options(raw: dict[str, Any], transform: Any) -> tuple[Any, Any]:
    """(format, timezone) of a ``{from: ...}``: only with transform date or datetime."""
    fmt = raw.get("format")
    if fmt is not None:
        if transform not in _DATE_TRANSFORMS:
            raise SpecError("'format' only applies to transform: date or datetime", ("format",))
        try:
            date_formatter(_nonempty_str(fmt, "format"))
        except ValueError as exc:
            raise SpecError(str(exc), ("format",)) from None
    tz = raw.get("timezone")
    if tz is not None:
        if transform not in _DATE_TRANSFORMS:
            raise SpecError("'timezone' only applies to transform: date or datetime", ("timezone",))
        try:
            get_zone(_nonempty_str(tz, "timezone"))
        except ValueError as exc:
            raise SpecError(str(exc), ("timezone",)) from None
    return fmt, tz


def _parse_reference(ref: Any, join: Any, transform: Any) -> ReferenceSpec:
    """``reference: {template, by}``; a reference cannot also be joined into text."""
    if not isinstance(ref, dict):
        raise SpecError("must be {template: <ESM template>, by: <ESM attribute>}", ("reference",))
    for key in ref:
        if key not in ("template", "by"):
            raise SpecError(f"unknown key{_suggest(str(key), {'template', 'by'})}", ("reference", key))
    for key in ("template", "by"):
        if key not in ref:
            raise SpecError(f"'{key}' is required", ("reference", key))
        _nonempty_str(ref[key], key)
    reference = ReferenceSpec(template=ref["template"], by=ref["by"])
    if join is not None or transform == "join":
        raise SpecError("a reference cannot also be joined into text", ("join",))
    return reference


def spec_read_names(spec: FieldSpec) -> set[str]:
    """Top-level names the spec reads: the head of each ``from`` path and the names its
    templates use (for checking them against what a record or payload holds)."""
    names = {path_head(src) for src in spec.sources()}
    for t in spec.templates():
        names |= template_variables(t)
    return names
