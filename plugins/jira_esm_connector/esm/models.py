"""Typed views of what the ESM REST API v1 returns, and of what the client sends.

Only the parts the connector needs are modelled; each object keeps the raw JSON it was
built from (``raw``) so nothing ESM sent is lost.
"""
from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date, datetime, timezone
from typing import Any, Literal

from ..http.errors import describe_json
from .errors import malformed_answer

__all__ = [
    "StaticValueInfo",
    "AttributeInfo",
    "FolderInfo",
    "TemplateSummary",
    "TemplateInfo",
    "EsmCard",
    "Ref",
    "CardInput",
    "CardOutcome",
    "BulkImportResult",
    "encode_values",
    "encode_card_data",
]


# --------------------------------------------------------------------------- templates


@dataclass(frozen=True)
class StaticValueInfo:
    """One allowed value of a static-value attribute (e.g. ``Deleted``, ``5 - Removed``)."""

    code: str | None
    value: Any


@dataclass(frozen=True)
class AttributeInfo:
    code: str
    name: str
    type: str
    multi_value: bool = False
    file: bool = False
    static_values: tuple[StaticValueInfo, ...] = ()
    targets: tuple[str, ...] = ()  # reference attributes: the template codes they may point to

    @property
    def is_static_value(self) -> bool:
        return self.type == "static-value"

    @property
    def is_reference(self) -> bool:
        return self.type == "reference"

    def allows_static_value(self, value: Any) -> bool:
        """True when ``value`` is one of the static values (matched by value or code)."""
        text = str(value)
        return any(str(sv.value) == text or (sv.code is not None and sv.code == text) for sv in self.static_values)

    @classmethod
    def from_json(cls, code: str, raw: Mapping[str, Any]) -> AttributeInfo:
        return cls(
            code=code,
            name=str(raw.get("name") or code),
            type=str(raw.get("type") or "string"),
            multi_value=bool(raw.get("multiValue", False)),
            file=bool(raw.get("file", False)),
            static_values=tuple(
                StaticValueInfo(code=v.get("code"), value=v.get("value"))
                for v in (raw.get("values") or [])
                if isinstance(v, Mapping)
            ),
            targets=tuple(str(t) for t in (raw.get("target") or [])),
        )


@dataclass(frozen=True)
class FolderInfo:
    code: str
    name: str


@dataclass(frozen=True)
class TemplateSummary:
    """An entry of ``GET /dc``."""

    code: str
    name: str
    url: str | None = None


@dataclass(frozen=True)
class TemplateInfo:
    """``GET /dc/{template}``: attributes (with types, static values, reference targets) and folders."""

    code: str
    name: str
    folders: tuple[FolderInfo, ...]
    attributes: Mapping[str, AttributeInfo]
    raw: Mapping[str, Any] = field(default_factory=dict, repr=False, compare=False)

    @property
    def folder_codes(self) -> tuple[str, ...]:
        return tuple(f.code for f in self.folders)

    def attribute(self, code: str) -> AttributeInfo:
        """The attribute ``code``; :class:`UnknownAttributeError` naming the template if absent."""
        try:
            return self.attributes[code]
        except KeyError:
            from .errors import UnknownAttributeError

            raise UnknownAttributeError.for_attribute(self.code, code, known=sorted(self.attributes)) from None

    @classmethod
    def from_json(cls, raw: Mapping[str, Any]) -> TemplateInfo:
        attributes = {
            str(code): AttributeInfo.from_json(str(code), a)
            for code, a in (raw.get("attributes") or {}).items()
            if isinstance(a, Mapping)
        }
        folders = tuple(
            FolderInfo(code=str(f.get("folderCode")), name=str(f.get("folderName") or f.get("folderCode")))
            for f in (raw.get("allowedFolders") or [])
            if isinstance(f, Mapping) and f.get("folderCode")
        )
        return cls(
            code=str(raw.get("code") or ""),
            name=str(raw.get("name") or raw.get("code") or ""),
            folders=folders,
            attributes=attributes,
            raw=dict(raw),
        )


# --------------------------------------------------------------------------- cards


@dataclass(frozen=True)
class EsmCard:
    """A data card as read from ESM.

    ``data`` is ESM's own ``{attribute: {"name", "type", "values": [...]}}`` map (empty
    for the short info elements returned with ``dataCards=false``).
    """

    data_card_id: str
    name: str | None = None
    template_code: str | None = None
    folder_code: str | None = None
    deleted: bool = False
    hidden: bool = False
    data: Mapping[str, Any] = field(default_factory=dict, repr=False)

    def values(self, attribute: str) -> list[Any]:
        """The raw value elements of ``attribute`` (``[]`` when empty or not returned)."""
        element = self.data.get(attribute)
        if not isinstance(element, Mapping):
            return []
        return list(element.get("values") or [])

    def value(self, attribute: str, default: Any = None) -> Any:
        """The first plain value of ``attribute``: ``value`` for most types, the card id for references."""
        for v in self.values(attribute):
            if isinstance(v, Mapping):
                if "value" in v:
                    return v["value"]
                if "dataCardId" in v:
                    return v["dataCardId"]
                if "location" in v:
                    return v["location"]
            else:
                return v
        return default

    def plain_values(self, attribute: str) -> list[Any]:
        """Every plain value of ``attribute`` (see :meth:`value`)."""
        out: list[Any] = []
        for v in self.values(attribute):
            if isinstance(v, Mapping):
                out.append(v.get("value", v.get("dataCardId", v.get("location"))))
            else:
                out.append(v)
        return out

    @classmethod
    def from_json(cls, raw: Mapping[str, Any], template: str | None = None) -> EsmCard:
        data = raw.get("data")
        return cls(
            data_card_id=str(raw.get("dataCardId")),
            name=raw.get("name"),
            template_code=raw.get("templateCode") or template,
            folder_code=raw.get("folderCode"),
            deleted=bool(raw.get("deleted", False)),
            hidden=bool(raw.get("hidden", False)),
            data=data if isinstance(data, Mapping) else {},
        )


def card_from_answer(item: Any, template: str, what: str, n: int | None = None) -> EsmCard:
    """One card of ESM's answer to ``what``: an object with a ``dataCardId`` (a card without
    one cannot be matched or updated; taking ``"None"`` for its id would duplicate it later)."""
    where = "the card" if n is None else f"item {n} of 'data'"
    if not isinstance(item, Mapping):
        raise malformed_answer(what, f"{where} is {describe_json(item)}, expected an object")
    card_id = item.get("dataCardId")
    if card_id in (None, "") or isinstance(card_id, (bool, dict, list)):
        raise malformed_answer(what, f"{where} has no dataCardId")
    if item.get("deleted") not in (None, True, False):
        # listings leave trashed cards out: a "false" taken for true would hide a live card
        # (and a new one be created for its key), a "true" taken for false revive one
        raise malformed_answer(what, f"{where} (card {card_id}): 'deleted' is {describe_json(item.get('deleted'))}, "
                                     "expected true or false")
    return EsmCard.from_json(item, template)


@dataclass(frozen=True)
class Ref:
    """A value for a reference attribute: the id of the card it points to."""

    data_card_id: str


@dataclass(frozen=True)
class CardInput:
    """A card to write with :meth:`EsmClient.bulk_import`.

    ``data`` maps attribute codes to values: a scalar, a ``date``/``datetime``, a
    :class:`Ref`, a dict that already is an ESM value element (``{"value": ...}``), a list
    of those for multi-value attributes, or ``None`` to clear. ``data_card_id`` set means
    "edit this card", unset means "create". ``ref`` is the caller's own handle (e.g. the
    Jira key) and comes back untouched in the card's :class:`CardOutcome`.
    """

    data: Mapping[str, Any]
    data_card_id: str | None = None
    folder: str | None = None
    ref: Any = None
    # the folder an edited card is in now, when the caller read it (never sent): a 403 on a
    # card in the write's own folder says ESM refuses the template, not one read-only folder
    in_folder: str | None = None


@dataclass
class BulkWrites:
    """What the bulk writes of one run learned about a template, shared by its chunks (worker
    threads): has ESM accepted a card yet? Until it has, a 403 may mean the account lost its
    rights to the whole template (:meth:`EsmClient.iter_bulk_import` asks)."""

    accepted: bool = False
    # set once ESM refused the template: (cards tried alone, ESM's words); the other chunks
    # then stop at their first 403 instead of asking again
    refused: tuple[int, tuple[str, ...]] | None = None


CardStatus = Literal["created", "updated", "refused"]


@dataclass(frozen=True)
class CardOutcome:
    """What ESM did with one input card of a bulk import."""

    index: int  # position in the input sequence
    status: CardStatus
    data_card_id: str | None
    reasons: tuple[str, ...] = ()
    ref: Any = None
    card: CardInput | None = field(default=None, repr=False)
    # ESM's answer did not say what became of this card: a new one may exist all the same
    uncertain: bool = False

    @property
    def ok(self) -> bool:
        return self.status != "refused"

    @property
    def reason(self) -> str:
        return "; ".join(self.reasons)


@dataclass
class BulkImportResult:
    """Per-card outcomes of a bulk import, in input order, with counts."""

    outcomes: list[CardOutcome] = field(default_factory=list)
    chunks: int = 0

    @property
    def created(self) -> list[CardOutcome]:
        return [o for o in self.outcomes if o.status == "created"]

    @property
    def updated(self) -> list[CardOutcome]:
        return [o for o in self.outcomes if o.status == "updated"]

    @property
    def refused(self) -> list[CardOutcome]:
        return [o for o in self.outcomes if o.status == "refused"]

    @property
    def saved(self) -> list[CardOutcome]:
        return [o for o in self.outcomes if o.ok]

    def counts(self) -> dict[str, int]:
        return {
            "handled": len(self.outcomes),
            "created": len(self.created),
            "updated": len(self.updated),
            "refused": len(self.refused),
        }

    def __len__(self) -> int:
        return len(self.outcomes)


# --------------------------------------------------------------------------- encoding


# exact types sent as they are: checked first, as most values are plain (a load encodes
# every attribute of every card; the ABC checks below cost several times more)
_PLAIN_TYPES = frozenset({str, int, float, bool})


def _encode_one(value: Any) -> dict[str, Any]:
    if type(value) in _PLAIN_TYPES:
        return {"value": value}
    if isinstance(value, Ref):
        return {"dataCardId": str(value.data_card_id)}
    if isinstance(value, Mapping):
        return dict(value)  # already an ESM value element
    if isinstance(value, datetime):
        if value.tzinfo is not None:
            value = value.astimezone(timezone.utc).replace(tzinfo=None)
        return {"value": value.strftime("%Y-%m-%dT%H:%M:%SZ")}
    if isinstance(value, date):
        return {"value": value.isoformat()}
    if isinstance(value, (str, int, float, bool)):
        return {"value": value}
    raise TypeError(f"cannot send a {type(value).__name__} as an ESM attribute value")


def encode_values(value: Any) -> dict[str, Any]:
    """``{"values": [...]}`` for one attribute (lists/tuples become several values)."""
    if value is None:
        return {"values": []}
    kind = type(value)
    if kind in _PLAIN_TYPES:
        return {"values": [{"value": value}]}
    if kind is list or kind is tuple:
        return {"values": [_encode_one(v) for v in value if v is not None]}
    if isinstance(value, Mapping) and "values" in value and len(value) <= 3:
        return {"values": [_encode_one(v) for v in value["values"]]}
    if isinstance(value, (list, tuple)):
        return {"values": [_encode_one(v) for v in value if v is not None]}
    return {"values": [_encode_one(value)]}


def encode_card_data(data: Mapping[str, Any]) -> dict[str, Any]:
    return {str(code): encode_values(v) for code, v in data.items()}


def as_card_input(card: CardInput | Mapping[str, Any]) -> CardInput:
    """Accept a :class:`CardInput` or a plain dict (``dataCardId``/``folderCode`` keys are lifted out)."""
    if isinstance(card, CardInput):
        return card
    if not isinstance(card, Mapping):
        raise TypeError(f"a card must be a CardInput or a mapping, not {type(card).__name__}")
    data = dict(card)
    card_id = data.pop("dataCardId", None)
    folder = data.pop("folderCode", None)
    if "data" in data and isinstance(data["data"], Mapping) and len(data) == 1:
        data = dict(data["data"])
    return CardInput(data=data, data_card_id=str(card_id) if card_id else None, folder=folder)


