"""Compile mapping specs once per run into fast callables, and apply them to records."""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Callable, Mapping

from ..bounded import short_repr

from .adf import adf_to_text, text_to_adf
from .dates import ESM_DATE_FORMAT, ESM_DATETIME_FORMAT, esm_datetime_formatter, get_zone, to_esm_date
from .paths import compile_path
from .specs import FieldSpec, Strings, parse_spec
from .templates import TemplateError, compile_template, whole_number

__all__ = [
    "MappingError",
    "MappingOptions",
    "Reference",
    "compile_attributes",
    "compile_fields",
    "compile_spec",
]

_MISSING = object()


class MappingError(ValueError):
    """A record could not be mapped; names the attribute and the problem (never the whole record)."""

    def __init__(self, attribute: str, message: str) -> None:
        super().__init__(f"attribute '{attribute}': {message}")
        self.attribute = attribute
        self.message = message


@dataclass(frozen=True)
class MappingOptions:
    """Run-wide defaults for date transforms (each spec may override format/timezone)."""

    date_format: str = ESM_DATE_FORMAT
    datetime_format: str = ESM_DATETIME_FORMAT
    timezone: str = "UTC"


@dataclass(frozen=True)
class Reference:
    """Marker for a reference attribute: the load step resolves ``keys`` to ESM data card
    ids by looking up cards of ``template`` whose attribute ``by`` equals each key.

    ``keys`` is empty when the source list was empty (clear the reference)."""

    template: str
    by: str
    keys: tuple[str, ...]

    def to_dict(self) -> dict[str, Any]:
        return {"$reference": {"template": self.template, "by": self.by, "keys": list(self.keys)}}

    @staticmethod
    def is_reference_dict(value: Any) -> bool:
        return isinstance(value, dict) and set(value) == {"$reference"}

    @classmethod
    def from_dict(cls, value: Mapping[str, Any]) -> "Reference":
        ref = value["$reference"]
        return cls(template=ref["template"], by=ref["by"], keys=tuple(ref["keys"]))


# ---- transforms -------------------------------------------------------------------

def _to_bool(value: Any) -> bool:
    _single(value)  # bool() of a Jira object is True whatever it holds (an option "No")
    if isinstance(value, str):
        low = value.strip().lower()
        if low in ("true", "yes", "1", "on"):
            return True
        if low in ("false", "no", "0", "off", ""):
            return False
        raise ValueError(f"not a yes/no value: {short_repr(value)}")
    return bool(value)


def _to_int(value: Any) -> int:
    _single(value)
    if isinstance(value, bool):
        return int(value)
    if isinstance(value, float):
        if not value.is_integer():
            raise ValueError(f"not a whole number: {short_repr(value)}")
        return int(value)
    text = str(value).strip()
    try:
        return int(text)
    except ValueError as exc:
        try:
            number = float(text)  # "3.0": the whole number 3, as 3.0 from Jira's JSON is
        except ValueError:
            raise exc from None  # not a number at all: int()'s own words
        if not number.is_integer():
            raise ValueError(f"not a whole number: {short_repr(value)}") from None
        return int(number)


def _to_number(value: Any) -> int | float:
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        number = value
    else:
        text = str(_single(value)).strip()
        try:
            return int(text)
        except ValueError:
            number = float(text)
    if not math.isfinite(number):  # float() reads "nan" and "inf": JSON, so ESM, has no such number
        raise ValueError(f"not a finite number: {short_repr(value)}")
    return number


def _single(value: Any) -> Any:
    """``value``, when it is one value; a Jira object or list is refused (ValueError): it has
    no text, yes/no or number of its own, and matches no key of a value map."""
    if isinstance(value, (dict, list, tuple)):
        what = "an object" if isinstance(value, dict) else "a list"
        raise ValueError(
            f"Jira gave {what} {short_repr(value)}, not a single value: pick one of its fields "
            "(a longer path such as fields.x.value, or each: <field> for a list)"
        )
    return value


def _text(value: Any) -> str:
    """The text of one Jira value. A Jira object or list has none: its Python repr would
    reach ESM (``{'id': '1', 'name': 'Network'}``), or be a reference key no card has."""
    if isinstance(value, str):
        return value
    return str(whole_number(_single(value)))


def _scalar_transform(spec: FieldSpec, options: MappingOptions) -> Callable[[Any], Any]:
    kind = spec.transform
    if kind == "adf_to_text":
        return adf_to_text
    if kind == "text_to_adf":
        return lambda v: text_to_adf(str(v))
    if kind == "date":
        fmt, tz = spec.format or options.date_format, spec.timezone or options.timezone
        return lambda v: to_esm_date(v, fmt, tz)
    if kind == "datetime":
        return esm_datetime_formatter(spec.format or options.datetime_format, spec.timezone or options.timezone)
    if kind == "lower":
        return lambda v: _text(v).lower()
    if kind == "upper":
        return lambda v: _text(v).upper()
    if kind == "strip":
        return lambda v: _text(v).strip()
    if kind == "string":
        return _text
    if kind == "integer":
        return _to_int
    if kind == "number":
        return _to_number
    if kind == "boolean":
        return _to_bool
    raise AssertionError(kind)


def _join(value: Any, separator: str) -> str | None:
    if value is None:
        return None
    if isinstance(value, (list, tuple)):
        return separator.join(_text(v) for v in value if v is not None and v != "")
    return _text(value)


def _lookup(mapping: dict[Any, Any], value: Any, by_text: dict[str, Any] | None = None) -> Any:
    if value in mapping:  # an object or list (no key of a map) was refused by _single
        return mapping[value]
    text = str(value)
    if text in mapping:
        return mapping[text]
    whole = whole_number(value)
    if whole is not value and str(whole) in mapping:
        return mapping[str(whole)]  # Jira sends number fields as 3.0; the task file says "3"
    if by_text is not None and not isinstance(value, bool) and text in by_text:
        return by_text[text]  # a number key (YAML `1:`) matches Jira's text id "1"
    return _MISSING


def compile_spec(
    spec: Any, *, strings: Strings = "path", options: MappingOptions | None = None
) -> Callable[[Any], Any]:
    """``spec`` (raw or parsed) -> ``fn(record) -> value``. Raises ValueError/TemplateError
    on bad values; :func:`compile_attributes` turns those into :class:`MappingError`."""
    spec = parse_spec(spec, strings=strings)
    options = options or MappingOptions()
    get_zone(options.timezone)  # fail early on a bad global zone

    if spec.items is not None:
        parts = [compile_spec(item, strings=strings, options=options) for item in spec.items]

        def multi(record: Any) -> list[Any]:
            out: list[Any] = []
            for part in parts:
                value = part(record)
                if isinstance(value, (list, tuple)):
                    out.extend(v for v in value if v is not None and v != "")
                elif value is not None and value != "":
                    out.append(value)
            return out

        return multi

    if spec.is_const:
        const = spec.const
        return lambda record: const

    if spec.template is not None:
        render = compile_template(spec.template)

        def templated(record: Any) -> str | None:
            context = record if isinstance(record, dict) else {"record": record}
            text = render(context)
            return text if text != "" else None

        return templated

    return _compile_from_path(spec, options)


def _compile_scalar(spec: FieldSpec, options: MappingOptions) -> Callable[[Any], Any] | None:
    """What ``transform`` then ``map`` (+ ``default``) do to one value that is not ``None``;
    ``None`` when the spec has neither (the value is kept as it is)."""
    transform = _scalar_transform(spec, options) if spec.transform and spec.transform != "join" else None
    mapping, has_default, default = spec.mapping, spec.has_default, spec.default
    if mapping is None:
        return transform
    by_text = {str(k): v for k, v in mapping.items() if isinstance(k, (int, float)) and not isinstance(k, bool)}

    def mapped(value: Any) -> Any:
        if transform is not None:
            value = transform(value)
            if value is None:
                return default if has_default else None
        found = _lookup(mapping, _single(value), by_text)
        if found is not _MISSING:
            return found
        return default if has_default else value

    return mapped


def _compile_from_path(spec: FieldSpec, options: MappingOptions) -> Callable[[Any], Any]:
    """``{from: ...}`` (or a plain path): each -> transform -> map/default -> join -> reference.

    Lists keep their items that are not ``None`` (ADF transforms take the whole value, except
    after ``each``: one document per item)."""
    get = compile_path(spec.source)
    get_each = compile_path(spec.each) if spec.each is not None else None
    scalar = _compile_scalar(spec, options)
    whole = spec.transform in ("adf_to_text", "text_to_adf") and get_each is None
    join_sep = spec.join if spec.join is not None else (
        (spec.separator if spec.separator is not None else ", ") if spec.transform == "join" else None
    )
    has_default, default, reference = spec.has_default, spec.default, spec.reference
    # a value map gives the default itself, to the values it does not name: one it maps to null stays null
    default_after = has_default and spec.mapping is None
    if get_each is None and scalar is None and not has_default and join_sep is None and reference is None:
        def plain(record: Any) -> Any:  # a bare path: the most common spec by far
            value = get(record)
            if isinstance(value, (list, tuple)):
                return [v for v in value if v is not None]
            return value

        return plain

    def from_path(record: Any) -> Any:
        value = get(record)
        if get_each is not None and value is not None:
            items = value if isinstance(value, (list, tuple)) else [value]
            value = [v for v in map(get_each, items) if v is not None]
        if isinstance(value, (list, tuple)) and not whole:
            value = [v for v in value if v is not None]
            if scalar is not None:
                value = [v for v in map(scalar, value) if v is not None]
        elif value is not None and scalar is not None:
            value = scalar(value)
            if value is None and default_after:
                value = default
        elif value is None and has_default:
            value = default
        if join_sep is not None:
            value = _join(value, join_sep)
        if reference is not None and value is not None:
            many = isinstance(value, (list, tuple))
            # an empty key names no card: no reference (it would wait for a card for ever)
            keys = tuple(text for text in (_text(k) for k in (value if many else [value])) if text.strip())
            value = Reference(reference.template, reference.by, keys) if keys or many else None
        return value

    return from_path


def compile_attributes(
    specs: Mapping[str, Any],
    *,
    strings: Strings = "path",
    options: MappingOptions | None = None,
    drop_none: bool = False,
) -> Callable[[Any], dict[str, Any]]:
    """Compile a whole ``attributes:`` block once; the result maps one record to a dict.

    ``strings="path"`` (scheduled imports): a plain string is a Jira path.
    ``strings="template"`` (event pushes): a plain string is a template over the payload.
    ``drop_none=True`` leaves out attributes whose value is ``None``.
    Errors raise :class:`MappingError` naming the attribute.
    """
    compiled = [(name, compile_spec(spec, strings=strings, options=options)) for name, spec in specs.items()]

    def apply(record: Any) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for name, fn in compiled:
            try:
                value = fn(record)
            except (ValueError, TypeError, TemplateError) as exc:
                raise MappingError(name, str(exc)) from None
            if value is None and drop_none:
                continue
            out[name] = value
        return out

    return apply


def compile_fields(
    specs: Mapping[str, Any], *, options: MappingOptions | None = None
) -> Callable[[Mapping[str, Any]], dict[str, Any]]:
    """Event pushes: Jira field specs over a conf payload. Strings are templates; fields
    whose value comes out empty are left out (an optional payload value was not sent), and so
    is a list of values none of which was sent (``labels: ["{{ a }}", "{{ b }}"]``): ``[]``
    would clear the field in Jira. A constant ``{value: []}`` still clears it."""
    parsed = {name: parse_spec(spec, strings="template") for name, spec in specs.items()}
    apply = compile_attributes(parsed, strings="template", options=options, drop_none=True)
    lists = [name for name, spec in parsed.items() if spec.items is not None]
    if not lists:
        return apply

    def fields(record: Mapping[str, Any]) -> dict[str, Any]:
        out = apply(record)
        for name in lists:
            if out.get(name) == []:
                del out[name]
        return out

    return fields
