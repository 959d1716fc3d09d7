"""Trigger-time validation for event DAGs: JSON schema and Airflow ``Param`` kwargs.

This package does not import Airflow; the DAG factory builds ``Param(**kwargs)`` from
:func:`param_kwargs`, and the runtime refuses conf keys outside :func:`allowed_keys`.
"""
from __future__ import annotations

from typing import Any

from .event import EventTask, PayloadField

__all__ = [
    "DATACARD_ID_PATTERN",
    "EVENT_ID_MAX_LENGTH",
    "EVENT_ID_PATTERN",
    "EVENT_ID_SCHEMA",
    "URI_PATTERN",
    "format_broken",
    "params_schema",
    "allowed_keys",
    "param_kwargs",
    "field_value_problem",
    "empty_optional_fields",
]

EVENT_ID_MAX_LENGTH = 200  # the state store's events.event_id column holds at most this many characters
# Printable text: no control characters (C0, DEL, C1) and no line / paragraph separators --
# an event id lands in logs, the state store and a JQL label hash; a line break in it would
# forge log lines. At least one non-space character.
_CONTROLS = "\\u0000-\\u001f\\u007f-\\u009f\\u2028\\u2029"
# End of text is written (?![\\s\\S]) ("no character follows"), not $: in Python's re, which
# Airflow's jsonschema uses, $ also matches before a final line break, so "4711\\n" would pass.
_END = "(?![\\s\\S])"
# One pass, no nested repetition (a long id must not make the check slow): a lookahead for
# the non-space character, then only non-control characters up to the end.
EVENT_ID_PATTERN = f"^(?=\\s*[^\\s{_CONTROLS}])[^{_CONTROLS}]+{_END}"
# ESM data card ids are positive whole numbers, sent as strings ("4711"; the ESM REST API's
# dataCardId is a string of digits) or as JSON integers. At most 18 digits (a 64-bit id).
DATACARD_ID_PATTERN = f"^[1-9][0-9]{{0,17}}{_END}"
DATACARD_ID_MAX = 10**18 - 1
# jsonschema checks the "uri" format only when the optional rfc3987 package is installed (a
# dependency of neither the connector nor Airflow): without it any text passed, at trigger time
# too. So the rule is written out as a pattern beside the format: an absolute URI -- a scheme,
# then RFC 3986's characters only (no spaces, no line breaks; percent-escapes whole).
URI_PATTERN = f"^[A-Za-z][A-Za-z0-9+.-]*:(?:[A-Za-z0-9._~:/?#\\[\\]@!$&'()*+,;=-]|%[0-9A-Fa-f]{{2}})*{_END}"

EVENT_ID_SCHEMA: dict[str, Any] = {
    "type": "string",
    "minLength": 1,
    "maxLength": EVENT_ID_MAX_LENGTH,
    "pattern": EVENT_ID_PATTERN,
    "title": "Event id",
    "description": "Unique id of this event (printable text, at most 200 characters); "
    "re-triggering the same id never acts twice.",
}


def _datacard_schema(required: bool) -> dict[str, Any]:
    # "pattern" applies to strings only, "minimum"/"maximum" to numbers only (JSON schema)
    return {
        "type": ["string", "integer"],
        "pattern": DATACARD_ID_PATTERN,
        "minimum": 1,
        "maximum": DATACARD_ID_MAX,
        "title": "Data card id",
        "description": "ESM data card the event comes from (a positive whole number, e.g. 4711)"
        + ("; the result is written back to it." if required else "."),
    }


def _field_schema(name: str, field: PayloadField) -> dict[str, Any]:
    schema: dict[str, Any] = {"type": field.type}
    if field.max_length is not None:
        schema["maxLength"] = field.max_length
    if field.min_length is not None:
        schema["minLength"] = field.min_length
    elif field.required and field.type == "string":
        # "" is no value: refused at trigger time, naming the field (not later by Jira, as
        # "cannot create a Jira issue without summary")
        schema["minLength"] = 1
    if field.enum is not None:
        schema["enum"] = list(field.enum)
    if field.format is not None:
        schema["format"] = field.format
    if field.format == "uri":  # beside a pattern of the task's own, hence allOf
        schema["allOf"] = [{"pattern": URI_PATTERN}]
    if field.pattern is not None:
        schema["pattern"] = field.pattern
    schema["title"] = field.title or name.replace("_", " ").capitalize()
    if field.description:
        schema["description"] = field.description
    return schema


def field_value_problem(field: PayloadField, value: Any) -> str | None:
    """Why ``value`` fails ``field``'s own JSON schema -- the one the DAG's Params and
    run_event check a trigger against, format checks included -- or ``None`` when it passes."""
    import jsonschema

    validator = jsonschema.Draft202012Validator(
        _field_schema("value", field), format_checker=jsonschema.Draft202012Validator.FORMAT_CHECKER
    )
    error = jsonschema.exceptions.best_match(validator.iter_errors(value))
    if error is None:
        return None
    rule = error.validator_value
    if error.validator in ("maxLength", "minLength"):
        length = f"{len(value)} character{'' if len(value) == 1 else 's'}"
        if error.validator == "maxLength":
            return f"{length}, more than max_length {rule}"
        return f"{length}, fewer than min_length {rule}" if value else "empty"
    broken = format_broken(error)
    if broken is not None:
        return f"not a valid {broken}"
    if error.validator == "pattern":
        return f"does not match pattern {rule!r}"
    return error.message


def format_broken(error: Any) -> str | None:
    """The format a jsonschema ``error`` says a value is not (``"email"``, ``"uri"``: the URI
    rule is checked as :data:`URI_PATTERN`), or None for an error of another rule."""
    if error.validator == "format":
        return str(error.validator_value)
    if error.validator == "pattern" and error.validator_value == URI_PATTERN:
        return "uri"
    return None


def params_schema(task: EventTask) -> dict[str, Any]:
    """JSON schema (draft 2020-12) of a valid conf payload for ``task``: ``event_id``,
    ``datacard_id`` (required when ``write_back`` is set) and the declared fields; no
    other keys. Optional fields may also be ``null``."""
    properties: dict[str, Any] = {"event_id": dict(EVENT_ID_SCHEMA)}
    required = ["event_id"]
    dc = _datacard_schema(task.requires_datacard_id)
    if task.requires_datacard_id:
        required.append("datacard_id")
        properties["datacard_id"] = dc
    else:
        properties["datacard_id"] = _optional(dc)  # "": no card, as for the other optional fields
    for name, field in task.payload.items():
        schema = _field_schema(name, field)
        if field.required:
            required.append(name)
            properties[name] = schema
        else:
            properties[name] = _optional(schema)
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "title": task.name,
        "type": "object",
        "properties": properties,
        "required": required,
        "additionalProperties": False,
    }


def _nullable(schema: dict[str, Any]) -> dict[str, Any]:
    out = dict(schema)
    types = schema["type"] if isinstance(schema["type"], list) else [schema["type"]]
    out["type"] = ["null", *types]
    if "enum" in out:
        out["enum"] = [*out["enum"], None]
    return out


# rules that speak of a string's content; for an optional field they hold only when it has one
_CONTENT_RULES = ("pattern", "format", "allOf", "minLength")


def _optional(schema: dict[str, Any]) -> dict[str, Any]:
    """An optional field's schema: ``null`` and, for text, ``""`` count as not sent. An ESM
    workflow sends an empty attribute as ``""``: an empty e-mail beside an account id, or an
    empty priority, must not refuse the event (run_event then treats it as left out)."""
    out = _nullable(schema)
    if "string" not in out["type"]:
        return out
    if "enum" in out:
        out["enum"] = [*out["enum"], ""]
    content = {rule: out.pop(rule) for rule in _CONTENT_RULES if rule in out}
    if content:
        out["if"] = {"type": "string", "minLength": 1}
        out["then"] = content
    return out


def empty_optional_fields(task: EventTask, payload: dict[str, Any]) -> list[str]:
    """The optional text fields ``payload`` sends as ``""`` -- to be read as not sent (the
    implicit ``datacard_id`` among them when ``write_back`` does not require it)."""
    names = [name for name, field in task.payload.items()
             if not field.required and field.type == "string" and payload.get(name) == ""]
    if not task.requires_datacard_id and payload.get("datacard_id") == "":
        names.append("datacard_id")
    return names


def allowed_keys(task: EventTask) -> frozenset[str]:
    """Conf keys a trigger may carry; anything else must be refused."""
    return frozenset({"event_id", "datacard_id", *task.payload})


def param_kwargs(task: EventTask) -> dict[str, dict[str, Any]]:
    """``{conf key: kwargs for airflow.sdk.Param}`` in payload order.

    Required fields have no ``default`` key (Airflow then demands a value at trigger time);
    optional ones default to their declared default or ``None`` and accept ``null``.
    Keys are Param's JSON-schema keywords (``type``, ``enum``, ``maxLength``, ``format``, ...)
    plus ``title`` and ``description`` for the UI's trigger form.
    """
    schema = params_schema(task)
    required = set(schema["required"])
    out: dict[str, dict[str, Any]] = {}
    for key, prop in schema["properties"].items():
        kwargs = {k: v for k, v in prop.items()}
        if key not in required:
            field = task.payload.get(key)
            kwargs["default"] = field.default if field is not None else None
        out[key] = kwargs
    return out
