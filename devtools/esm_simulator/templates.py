"""Template definitions (from ``templates.yaml``) and value checking/normalisation.

A template knows its attributes; an attribute knows how to turn the ``values`` list of a
write request into the stored form, or why it cannot (``ValueProblem``).
"""
from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Any

import yaml

DEFAULT_TEMPLATES_FILE = Path(__file__).with_name("templates.yaml")

ATTRIBUTE_TYPES = {
    "string", "number", "date", "datetime", "static-value", "reference", "worklog", "external-reference",
}
# DataCardElement.type in the OpenAPI enum has no "datetime": a datetime attribute is "date" there.
ELEMENT_TYPE = {"datetime": "date"}
# Value types kept in the value index (EQL filters); worklog entries and links are not filterable.
INDEXED_TYPES = {"string", "number", "date", "datetime", "static-value", "reference"}


class ValueProblem(ValueError):
    """A value that an attribute refuses; the message is shown to the API caller."""


@dataclass(frozen=True)
class StaticValue:
    code: str
    value: str


@dataclass(frozen=True)
class Attribute:
    code: str
    name: str
    type: str
    multi_value: bool = False
    static_values: tuple[StaticValue, ...] = ()
    target: tuple[str, ...] = ()

    @property
    def element_type(self) -> str:
        return ELEMENT_TYPE.get(self.type, self.type)

    def info(self) -> dict[str, Any]:
        """RESTAttribute (AttributeInfo) shape."""
        out: dict[str, Any] = {
            "name": self.name, "multiValue": self.multi_value, "type": self.type, "file": False,
        }
        if self.static_values:
            out["values"] = [{"code": s.code, "value": s.value} for s in self.static_values]
        if self.target:
            out["target"] = list(self.target)
        return out

    def find_static(self, value: Any, code: Any) -> StaticValue | None:
        for s in self.static_values:
            if value is not None and s.value == value:
                return s
            if value is None and code is not None and s.code == code:
                return s
        return None

    def normalise(self, values: Any, author: str) -> list[dict[str, Any]]:
        """Return stored value elements; references are returned as {"dataCardId": "..."}
        and must still be checked for existence by the caller."""
        if not isinstance(values, list):
            raise ValueProblem(f"'values' of attribute '{self.code}' must be a list")
        if len(values) > 1 and not self.multi_value and self.type != "worklog":
            raise ValueProblem(f"Attribute '{self.code}' is single-valued but {len(values)} values were given")
        # one function per type, looked up once: a bulk import normalises ~9 values per card
        one = _NORMALISERS.get(self.type, _unsupported)
        out = []
        for item in values:
            if not isinstance(item, dict):
                raise ValueProblem(f"Each value of attribute '{self.code}' must be an object")
            out.append(one(self, item, author))
        return out


def _reference(attr: Attribute, item: dict[str, Any], _author: str) -> dict[str, Any]:
    ref = item.get("dataCardId")
    if ref is None or not _CARD_ID.fullmatch(str(ref)):
        raise ValueProblem(f"Reference attribute '{attr.code}' needs a numeric 'dataCardId'")
    return {"dataCardId": str(int(str(ref)))}


def _external_reference(attr: Attribute, item: dict[str, Any], _author: str) -> dict[str, Any]:
    name, location = item.get("name"), item.get("location")
    if not isinstance(location, str) or not location:
        raise ValueProblem(f"External reference '{attr.code}' needs a 'location'")
    return {"name": str(name) if name else location, "location": location}


def _static_value(attr: Attribute, item: dict[str, Any], _author: str) -> dict[str, Any]:
    value, code = item.get("value"), item.get("code")
    found = attr.find_static(value, code)
    if found is None:
        raise ValueProblem(
            f"Couldn't find static-value with value: {value} and code: {code} "
            f"from attribute: {attr.name}"
        )
    return {"value": found.value, "code": found.code}


def _value_of(attr: Attribute, item: dict[str, Any]) -> Any:
    value = item.get("value")
    if value is None:
        raise ValueProblem(f"A value of attribute '{attr.code}' has no 'value'")
    return value


def _string(attr: Attribute, item: dict[str, Any], _author: str) -> dict[str, Any]:
    value = _value_of(attr, item)
    if isinstance(value, (dict, list)):
        raise ValueProblem(f"Attribute '{attr.code}' takes text, not {type(value).__name__}")
    return {"value": str(value)}


def _number(attr: Attribute, item: dict[str, Any], _author: str) -> dict[str, Any]:
    return {"value": parse_number(_value_of(attr, item), attr.code)}


def _date(attr: Attribute, item: dict[str, Any], _author: str) -> dict[str, Any]:
    return {"value": parse_date(_value_of(attr, item), attr.code)}


def _datetime(attr: Attribute, item: dict[str, Any], _author: str) -> dict[str, Any]:
    return {"value": parse_datetime(_value_of(attr, item), attr.code)}


def _worklog(attr: Attribute, item: dict[str, Any], author: str) -> dict[str, Any]:
    value = _value_of(attr, item)
    if not isinstance(value, str) or not value.strip():
        raise ValueProblem(f"Worklog entry of '{attr.code}' must be non-empty text")
    return {"author": author, "value": value, "date": now_iso()}


def _unsupported(attr: Attribute, _item: dict[str, Any], _author: str) -> dict[str, Any]:
    raise ValueProblem(f"Attribute '{attr.code}' has unsupported type {attr.type}")


_CARD_ID = re.compile(r"\d{1,18}")
_NORMALISERS = {
    "reference": _reference, "external-reference": _external_reference, "static-value": _static_value,
    "string": _string, "number": _number, "date": _date, "datetime": _datetime, "worklog": _worklog,
}


@dataclass(frozen=True)
class Folder:
    code: str
    name: str


@dataclass
class Template:
    code: str
    name: str
    name_attribute: str
    allowed_folders: tuple[str, ...]
    attributes: dict[str, Attribute] = field(default_factory=dict)
    template_id: str = ""

    @cached_property
    def reference_codes(self) -> tuple[str, ...]:
        """The codes of its reference attributes (a bulk import checks each card's)."""
        return tuple(code for code, a in self.attributes.items() if a.type == "reference")

    def info(self, folders: dict[str, Folder]) -> dict[str, Any]:
        """RESTTemplateInfo shape."""
        return {
            "name": self.name,
            "code": self.code,
            "allowedFolders": [
                {"folderName": folders[f].name, "folderCode": f} for f in self.allowed_folders
            ],
            "attributes": {code: a.info() for code, a in self.attributes.items()},
        }


@dataclass
class Catalog:
    folders: dict[str, Folder]
    templates: dict[str, Template]


def load_catalog(path: str | Path = DEFAULT_TEMPLATES_FILE) -> Catalog:
    raw = yaml.safe_load(Path(path).read_text(encoding="utf-8"))
    folders = {f["code"]: Folder(f["code"], f["name"]) for f in raw["folders"]}
    templates: dict[str, Template] = {}
    for index, (code, spec) in enumerate(raw["templates"].items(), start=1):
        attrs = {}
        for acode, a in spec["attributes"].items():
            if a["type"] not in ATTRIBUTE_TYPES:
                raise ValueError(f"{path}: template {code} attribute {acode}: unknown type {a['type']}")
            attrs[acode] = Attribute(
                code=acode,
                name=a.get("name", acode),
                type=a["type"],
                multi_value=bool(a.get("multi_value", False)),
                static_values=tuple(StaticValue(str(s["code"]), str(s["value"])) for s in a.get("values", [])),
                target=tuple(a.get("target", [])),
            )
        for f in spec["allowed_folders"]:
            if f not in folders:
                raise ValueError(f"{path}: template {code}: unknown folder {f}")
        if spec["name_attribute"] not in attrs:
            raise ValueError(f"{path}: template {code}: name_attribute not among its attributes")
        templates[code] = Template(
            code=code,
            name=spec.get("name", code),
            name_attribute=spec["name_attribute"],
            allowed_folders=tuple(spec["allowed_folders"]),
            attributes=attrs,
            template_id=str(1000 + index),
        )
    return Catalog(folders=folders, templates=templates)


# --- value parsing -------------------------------------------------------------------

def now_iso() -> str:
    return dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def parse_number(value: Any, code: str) -> int | float:
    if isinstance(value, bool):
        raise ValueProblem(f"Attribute '{code}' takes a number, not a boolean")
    if isinstance(value, (int, float)):
        return value
    try:
        text = str(value).strip()
        return int(text) if re.fullmatch(r"-?\d+", text) else float(text)
    except ValueError:
        raise ValueProblem(f"Attribute '{code}' takes a number, got '{value}'") from None


_DATE_FORMATS = ("%Y-%m-%d", "%d.%m.%Y")
_DATETIME_FORMATS = ("%Y-%m-%d %H:%M:%S", "%Y-%m-%d %H:%M", "%d.%m.%Y %H:%M:%S", "%d.%m.%Y %H:%M")


def parse_datetime(value: Any, code: str) -> str:
    """Any accepted date/time form -> 'YYYY-MM-DDTHH:MM:SSZ' (UTC). Naive times are UTC."""
    text = str(value).strip()
    parsed: dt.datetime | None = None
    try:
        parsed = dt.datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        for fmt in _DATETIME_FORMATS + _DATE_FORMATS:
            try:
                parsed = dt.datetime.strptime(text, fmt)
                break
            except ValueError:
                continue
    if parsed is None:
        raise ValueProblem(
            f"Attribute '{code}' takes a date-time like 2021-03-24T10:57:57Z, got '{value}'"
        )
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=dt.timezone.utc)
    return parsed.astimezone(dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def parse_date(value: Any, code: str) -> str:
    text = str(value).strip()
    for fmt in _DATE_FORMATS:
        try:
            return dt.datetime.strptime(text, fmt).strftime("%Y-%m-%d")
        except ValueError:
            continue
    try:
        return dt.datetime.fromisoformat(text.replace("Z", "+00:00")).strftime("%Y-%m-%d")
    except ValueError:
        raise ValueProblem(f"Attribute '{code}' takes a date like 2021-03-24, got '{value}'") from None
