"""``kind: event`` task files: ESM -> Jira pushes triggered with a conf payload."""
from __future__ import annotations

import re
from typing import Any, Literal

from pydantic import Field, field_validator, model_validator

from ..bounded import short_repr
from ..mapping.specs import FieldSpec, spec_read_names
from .common import ConnId, NonEmptyStr, StrictModel, Tag, TaskName, TemplateSpec, WholeNumber, located
from .operation_specs import BLOCKS, OPERATION_SPECS, OPERATIONS, SUB_BLOCKS

__all__ = [
    "OPERATIONS",
    "RESERVED_PAYLOAD_KEYS",
    "JIRA_PRODUCTS",
    "EventTask",
    "GroupRef",
    "PayloadField",
    "TransitionSpec",
    "UserRef",
    "WriteBack",
]

# The operation names, in the order of the table in operation_specs (pydantic lists them so).
Operation = Literal[OPERATIONS]  # type: ignore[valid-type]

# Always part of the payload; a task file cannot redeclare them.
RESERVED_PAYLOAD_KEYS = ("event_id", "datacard_id")
JIRA_PRODUCTS = ("jira-core", "jira-servicedesk", "jira-product-discovery", "jira-software")
_FIELD_NAME_RE = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
_TYPES = {"string": str, "integer": int, "number": (int, float), "boolean": bool}


class PayloadField(StrictModel):
    """One value the ESM workflow sends in the trigger's conf."""

    type: Literal["string", "integer", "number", "boolean"] = "string"
    required: bool = False
    max_length: WholeNumber | None = Field(None, ge=1)
    min_length: WholeNumber | None = Field(None, ge=0)
    enum: list[Any] | None = None
    format: Literal["email", "date", "date-time", "uri", "uuid"] | None = None
    pattern: str | None = None
    title: str | None = None
    description: str | None = None
    default: Any = None

    @model_validator(mode="after")
    def _consistent(self) -> "PayloadField":
        if self.type != "string":
            for key in ("max_length", "min_length", "format", "pattern"):
                if getattr(self, key) is not None:
                    raise located(f"only applies to type: string (this field is {self.type})", key)
        if self.min_length is not None and self.max_length is not None and self.min_length > self.max_length:
            raise located(
                f"must be at most max_length ({self.max_length}): no value can be at least {self.min_length} "
                f"and at most {self.max_length} characters long", "min_length",
            )
        if self.pattern is not None:
            try:
                re.compile(self.pattern)
            except re.error as exc:
                raise located(f"not a valid regular expression: {exc}", "pattern") from None
        from .params import field_value_problem  # params builds on this module

        if self.enum is not None:
            if not self.enum:
                raise located("must list at least one allowed value", "enum")
            for n, v in enumerate(self.enum):
                if not _is_type(v, self.type):
                    raise located(f"value {short_repr(v)} is not of type {self.type}", "enum", n)
                problem = field_value_problem(self, v)
                if problem is not None:
                    raise located(
                        f"value {short_repr(v)} breaks this field's own rules ({problem}): a trigger can never send it",
                        "enum", n,
                    )
        if self.default is not None:
            if self.required:
                raise located("a required field cannot have a default", "default")
            if not _is_type(self.default, self.type):
                raise located(f"must be of type {self.type}, got {short_repr(self.default)}", "default")
            if self.enum is not None and self.default not in self.enum:
                raise located(f"must be one of the enum values, got {short_repr(self.default)}", "default")
            problem = field_value_problem(self, self.default)
            if problem is not None:
                raise located(
                    f"{short_repr(self.default)} breaks this field's own rules ({problem}): every trigger "
                    "that leaves the field out would be refused", "default",
                )
        return self


def _is_type(value: Any, kind: str) -> bool:
    if kind != "boolean" and isinstance(value, bool):
        return False
    return isinstance(value, _TYPES[kind])


class TransitionSpec(StrictModel):
    to: TemplateSpec  # target status name, e.g. "Done"
    resolution: TemplateSpec | None = None  # e.g. "Fixed"


class UserRef(StrictModel):
    """A Jira user: by ``account_id`` or ``email``; ``products`` for ``create_user`` (not
    given: jira-software; ``[]``: no product access, as Jira's createUser reads an empty list)."""

    account_id: TemplateSpec | None = None
    email: TemplateSpec | None = None
    products: list[Literal["jira-core", "jira-servicedesk", "jira-product-discovery", "jira-software"]] | None = None


class GroupRef(StrictModel):
    """A Jira group: by ``name`` or ``id`` (group id)."""

    name: TemplateSpec | None = None
    id: TemplateSpec | None = None


class WriteBack(StrictModel):
    """Write the operation's result (issue key, comment id, account id, group id) to
    ``attribute`` of the originating ESM card (``template`` + the payload's ``datacard_id``)."""

    template: NonEmptyStr
    attribute: NonEmptyStr


class EventTask(StrictModel):
    name: TaskName
    kind: Literal["event"] = "event"
    description: str | None = None
    tags: list[Tag] = []
    operation: Operation
    jira_conn_id: ConnId
    esm_conn_id: ConnId
    payload: dict[str, PayloadField] = {}
    fields: dict[NonEmptyStr, TemplateSpec] = {}
    issue: TemplateSpec | None = None
    comment: TemplateSpec | None = None
    transition: TransitionSpec | None = None
    user: UserRef | None = None
    group: GroupRef | None = None
    write_back: WriteBack | None = None

    @field_validator("payload", mode="before")
    @classmethod
    def _payload_names(cls, value: Any) -> Any:
        if value is None:
            return {}
        if isinstance(value, dict):
            for name, spec in value.items():
                if name in RESERVED_PAYLOAD_KEYS:
                    raise located(f"'{name}' is always part of the payload; do not declare it", name)
                if not isinstance(name, str) or not _FIELD_NAME_RE.match(name):
                    raise located(
                        f"payload field names must be letters, digits and '_' (not starting with a digit), got {short_repr(name)}",
                        str(name),
                    )
                if spec is None:
                    value = {**value, name: {}}
        return value

    @model_validator(mode="after")
    def _operation_rules(self) -> "EventTask":
        """The operation's blocks and requirements, as its entry in OPERATION_SPECS declares."""
        spec = OPERATION_SPECS[self.operation]
        for block in BLOCKS:
            present = bool(getattr(self, block)) if block == "fields" else getattr(self, block) is not None
            if present and block not in spec.blocks:
                users = sorted(o for o, s in OPERATION_SPECS.items() if block in s.blocks)
                raise located(f"{spec.name} does not use '{block}' (it is for {', '.join(users)})", block)
        for sub in SUB_BLOCKS:
            block, key = sub.split(".")
            model = getattr(self, block)
            if model is not None and getattr(model, key) and sub not in spec.blocks:
                users = sorted(o for o, s in OPERATION_SPECS.items() if sub in s.blocks)
                raise located(f"only {' and '.join(users)} takes {key}", block, key)
        problem = spec.problem(self)
        if problem is not None:
            raise located(problem[0], *problem[1])
        self._check_payload_references()
        return self

    def _check_payload_references(self) -> None:
        known = set(self.payload) | set(RESERVED_PAYLOAD_KEYS)
        for path, spec in self.specs():
            names = spec_read_names(spec)
            unknown = sorted(names - known)
            if unknown:
                declared = ", ".join(sorted(known))
                raise located(
                    f"refers to {', '.join(short_repr(u) for u in unknown)}, which is not a declared payload field "
                    f"(declared: {declared})",
                    *path,
                )

    # ---- helpers for the runtime ----------------------------------------------------
    def specs(self) -> list[tuple[tuple[str, ...], FieldSpec]]:
        """Every mapping spec in the file with its key path."""
        out: list[tuple[tuple[str, ...], FieldSpec]] = [(("fields", k), v) for k, v in self.fields.items()]
        for block in ("issue", "comment"):
            spec = getattr(self, block)
            if spec is not None:
                out.append(((block,), spec))
        for block, keys in (("transition", ("to", "resolution")), ("user", ("account_id", "email")), ("group", ("name", "id"))):
            model = getattr(self, block)
            if model is not None:
                for key in keys:
                    spec = getattr(model, key)
                    if spec is not None:
                        out.append(((block, key), spec))
        return out

    @property
    def requires_datacard_id(self) -> bool:
        return self.write_back is not None


class RenderedEvent(StrictModel):
    """Everything an operation needs, computed from one payload (values, not specs)."""

    model_config = StrictModel.model_config | {"frozen": False}

    operation: str
    fields: dict[str, Any] = {}
    issue: str | None = None
    comment: str | None = None
    transition_to: str | None = None
    resolution: str | None = None
    account_id: str | None = None
    email: str | None = None
    products: list[str] | None = None  # None: the task file gives none (create_user's default applies)
    group_name: str | None = None
    group_id: str | None = None


def event_renderer(task: EventTask):
    """Compile the task's specs once; returns ``render(payload: dict) -> RenderedEvent``.

    ``payload`` is the validated conf (``event_id``, ``datacard_id`` and declared fields).
    Declared fields missing from it count as ``None`` (optional ones render empty and the
    field is left out). Raises :class:`~jira_esm_connector.mapping.MappingError` naming the
    key when a value cannot be mapped.
    """
    from ..mapping.engine import MappingError, compile_fields, compile_spec
    from ..mapping.templates import TemplateError

    fields_fn = compile_fields(task.fields)
    singles = {
        "issue": task.issue,
        "comment": task.comment,
        "transition_to": task.transition.to if task.transition else None,
        "resolution": task.transition.resolution if task.transition else None,
        "account_id": task.user.account_id if task.user else None,
        "email": task.user.email if task.user else None,
        "group_name": task.group.name if task.group else None,
        "group_id": task.group.id if task.group else None,
    }
    compiled = {k: compile_spec(v, strings="template") for k, v in singles.items() if v is not None}
    names = list(task.payload) + list(RESERVED_PAYLOAD_KEYS)

    def render(payload: dict[str, Any]) -> RenderedEvent:
        context = {name: payload.get(name) for name in names}
        out: dict[str, Any] = {"operation": task.operation, "fields": fields_fn(context)}
        for key, fn in compiled.items():
            try:
                value = fn(context)
            except (ValueError, TypeError, TemplateError) as exc:
                raise MappingError(key, str(exc)) from None
            out[key] = None if value is None else str(value)
        if task.user is not None:
            out["products"] = None if task.user.products is None else list(task.user.products)
        return RenderedEvent(**out)

    return render
