"""``kind: scheduled`` task files: Jira -> ESM imports."""
from __future__ import annotations

import difflib
import re
from datetime import timedelta
from typing import Any, Literal

from pydantic import Field, field_serializer, field_validator, model_validator

from ..bounded import short_repr
from ..mapping.engine import MappingOptions
from ..mapping.paths import path_head
from ..mapping.specs import FieldSpec, spec_read_names
from ..mapping.templates import template_paths
from .common import ConnId, DagId, NonEmptyStr, Number, PathSpec, StrictModel, Tag, TaskName, WholeNumber, located
from .expectations import KNOWN_EXPECTATIONS, named_columns
from .scheduling import validate_schedule

__all__ = [
    "CacheSettings",
    "CommentSettings",
    "KeySpec",
    "MemberRemovalSettings",
    "QualityExpectation",
    "RemovalSettings",
    "ScheduledTask",
    "TimeoutSettings",
    "DEFAULT_REMOVAL",
    "WORKLOG_ENTRY_FIELDS",
    "DEFAULT_COMMENT_ATTRIBUTES",
]

MappingType = Literal["generic", "user", "group", "comment"]

# SPEC §4 defaults: what "removed" means for person and group cards.
DEFAULT_REMOVAL: dict[str, tuple[str, str]] = {
    "user": ("accountStatus", "Deleted"),
    "group": ("status", "5 - Removed"),
}

# A comment import writes one ESM worklog entry per Jira comment (ESM WorklogComment schema).
WORKLOG_ENTRY_FIELDS = ("value", "author", "date")
DEFAULT_COMMENT_ATTRIBUTES: dict[str, Any] = {
    "value": {"from": "body", "transform": "adf_to_text"},
    "author": "author.displayName",
    "date": {"from": "created", "transform": "datetime"},
}

_QUOTED = re.compile(r'"(?:[^"\\]|\\.)*"|\'(?:[^\'\\]|\\.)*\'')
_ORDER_BY = re.compile(r"\border\s+by\b", re.IGNORECASE)

_INCREMENTAL_REFUSED = (
    "incremental imports need a change timestamp, which Jira does not keep for {kind}s; use mode: full"
)


class KeySpec(StrictModel):
    """Which Jira value identifies a record, and which ESM attribute holds it on the card."""

    jira: NonEmptyStr
    esm: NonEmptyStr


class RemovalSettings(StrictModel):
    """Full imports: cards of this task not fetched this run get ``attribute`` = ``value``.

    Safety nets (each overridable for one run by a DAG parameter): ``max_share`` -- never
    mark more than this share of the task's active cards (``allow_mass_removal``);
    ``max_shrink`` -- mark nothing when this run fetched more than this share fewer records
    than the last successful run (``allow_shrink``). ``reactivate`` (opt-in, the vendor never
    does it) puts a disabled card back to its active value when its record reappears.
    """

    enabled: bool = True  # `removed: false` in a task file -> enabled=False
    attribute: NonEmptyStr | None = None
    value: NonEmptyStr | None = None
    max_share: Number = 0.5
    max_shrink: Number = 0.10
    reactivate: bool = False
    active_value: NonEmptyStr | None = None

    @field_validator("max_share", mode="after")
    @classmethod
    def _max_share(cls, value: float) -> float:
        return _safety_share(value, "the task's active cards", "removal", "mark more cards", "allow_mass_removal")

    @field_validator("max_shrink", mode="after")
    @classmethod
    def _max_shrink(cls, value: float) -> float:
        if not 0 <= value < 1:
            raise located(
                f"must be at least 0 and less than 1 (how much smaller than the last successful run a run's "
                f"fetch may be before nothing is marked removed, e.g. 0.1), got {value!r}. To mark removed "
                "records once anyway, trigger the run with the parameter allow_shrink: true"
            )
        return value


def _safety_share(value: float, of_what: str, limit: str, to_do: str, override: str) -> float:
    # 1 (100 %) would make the limit unreachable -- the share can never exceed it -- and
    # silently switch the safety net off; a one-off mass change has its own override.
    if not 0 < value < 1:
        raise located(
            f"must be more than 0 and less than 1 (a share of {of_what}, e.g. 0.5), got {value!r}; 1 or more would "
            f"switch the {limit} safety limit off. To {to_do} once, trigger the run with the parameter {override}: true"
        )
    return value


class MemberRemovalSettings(StrictModel):
    """Group imports: ``max_share`` -- never remove more than this share of the task's group
    memberships in one run; the groups that would lose members keep their previous ones
    (``allow_member_removal`` overrides it for one run). A group losing every member is held
    back whatever the share (pipeline/memberships.py)."""

    max_share: Number = 0.5

    @field_validator("max_share", mode="after")
    @classmethod
    def _max_share(cls, value: float) -> float:
        return _safety_share(value, "the task's group memberships", "membership", "remove more memberships",
                             "allow_member_removal")


class CacheSettings(StrictModel):
    """``clear_hours``: UTC hours at which the task cache is cleared (``[]``: never by clock)."""

    clear_hours: list[int]

    @field_validator("clear_hours", mode="before")
    @classmethod
    def _hours(cls, value: Any) -> Any:
        return parse_clear_hours(value)


def parse_clear_hours(value: Any) -> list[int]:
    """``0``, ``"6,12"``, ``[6, 12]`` -> sorted unique hours 0..23; ValueError otherwise."""
    if value is None or value == "":
        return []
    if isinstance(value, bool):
        raise ValueError(f"must be hours of the day 0-23, got {short_repr(value)}")
    if isinstance(value, (int, float)):
        items: list[Any] = [value]
    elif isinstance(value, str):
        items = [p.strip() for p in value.split(",") if p.strip()]
    elif isinstance(value, (list, tuple)):
        items = list(value)
    else:
        raise ValueError(f"must be hours of the day 0-23, e.g. [0] or [6, 12], got {short_repr(value)}")
    hours: set[int] = set()
    for item in items:
        try:
            if isinstance(item, bool) or (isinstance(item, float) and not item.is_integer()):
                raise ValueError  # 6.5 is no hour of the day (int() would make it 6); 6.0 is 6
            hour = int(item)
        except (TypeError, ValueError):
            raise ValueError(f"must be whole hours of the day 0-23, got {short_repr(item)}") from None
        if not 0 <= hour <= 23:
            raise ValueError(f"must be hours of the day 0-23, got {hour}")
        hours.add(hour)
    return sorted(hours)


class TimeoutSettings(StrictModel):
    """Deadlines overriding the global ones: ``task_minutes`` per step (Airflow
    ``execution_timeout``), ``run_minutes`` per run (``dagrun_timeout``, also the longest a
    dead run's lease blocks the task)."""

    task_minutes: WholeNumber | None = Field(None, ge=1, le=7 * 24 * 60)
    run_minutes: WholeNumber | None = Field(None, ge=1, le=7 * 24 * 60)

    @model_validator(mode="after")
    def _order(self) -> "TimeoutSettings":
        if self.task_minutes is not None and self.run_minutes is not None and self.run_minutes < self.task_minutes:
            raise located(
                f"must be at least task_minutes ({self.task_minutes}): a run holds at least one step", "run_minutes"
            )
        return self


class CommentSettings(StrictModel):
    """Comment imports: every Jira comment becomes a worklog entry on its issue's ESM card."""

    card_key_attribute: NonEmptyStr  # the issue card attribute holding the Jira issue key
    worklog_attribute: NonEmptyStr  # the worklog attribute the entries are appended to
    skip_marked: bool = True  # skip comments the connector itself pushed to Jira (no ping-pong)


class QualityExpectation(StrictModel):
    """One great-expectations expectation: ``name`` (snake_case), its GX class, kwargs."""

    name: str
    class_name: str
    kwargs: dict[str, Any] = {}


class ScheduledTask(StrictModel):
    name: TaskName
    kind: Literal["scheduled"] = "scheduled"
    description: str | None = None
    tags: list[Tag] = []
    jira_conn_id: ConnId
    esm_conn_id: ConnId
    schedule: str | None  # cron or preset; null = only run by hand (or after the tasks in `after`)
    after: list[DagId] = []  # imports this one runs after (Airflow Assets; ordering.py checks the names)
    mode: Literal["full", "incremental"]
    mapping_type: MappingType
    jql: str | None = None
    template: NonEmptyStr
    folder: NonEmptyStr | None = None
    key: KeySpec | None = None
    attributes: dict[NonEmptyStr, PathSpec] = {}
    removed: RemovalSettings | None = None
    cache: CacheSettings | None = None
    timeouts: TimeoutSettings | None = None
    task_id_attribute: NonEmptyStr = "task_id"
    quality: list[QualityExpectation] = []
    page_size: WholeNumber | None = Field(None, ge=1, le=5000)
    overlap_minutes: WholeNumber = Field(1, ge=0, le=1440)
    include_members: bool | None = None
    member_removal: MemberRemovalSettings | None = None
    comments: CommentSettings | None = None
    timezone: str | None = None
    date_format: str | None = None
    datetime_format: str | None = None

    # ---- field-level --------------------------------------------------------------
    @field_validator("schedule", mode="before")
    @classmethod
    def _schedule(cls, value: Any) -> Any:
        if value is None:
            return None
        if not isinstance(value, str):
            raise located(f"must be a cron expression such as '*/30 * * * *' or a preset such as '@hourly', got {short_repr(value)}")
        try:
            return validate_schedule(value)
        except ValueError as exc:
            raise located(str(exc)) from None

    @field_validator("after", mode="before")
    @classmethod
    def _after_list(cls, value: Any) -> Any:
        if value is None:
            return []
        if isinstance(value, str):
            return [value]  # `after: jira_users_to_persons` means a list of one
        if not isinstance(value, list):
            raise located(f"must be a list of import task names, e.g. [jira_users_to_persons], got {short_repr(value)}")
        return value

    @field_validator("after", mode="after")
    @classmethod
    def _after_unique(cls, value: list[str]) -> list[str]:
        for n, name in enumerate(value):
            if name in value[:n]:
                raise located(f"'{name}' is listed twice", n)
        return value

    @field_validator("removed", mode="before")
    @classmethod
    def _removed(cls, value: Any) -> Any:
        if value is False:
            return {"enabled": False}
        if value is True:
            return {}
        if value is not None and not isinstance(value, dict):
            raise located(
                f"must be {{attribute: <ESM attribute>, value: <its 'removed' value>, max_share: 0.5, "
                f"max_shrink: 0.1, reactivate: false}} "
                f"or false, got {short_repr(value)}"
            )
        return value

    @field_validator("quality", mode="before")
    @classmethod
    def _quality(cls, value: Any) -> Any:
        if value is None:
            return []
        if not isinstance(value, list):
            raise located("must be a list of expectations, e.g. - expect_column_values_to_not_be_null: {column: subject}")
        out = []
        for n, item in enumerate(value):
            if isinstance(item, str):
                item = {item: {}}
            if not isinstance(item, dict) or len(item) != 1:
                raise located("each entry must be one expectation: {<expectation name>: {<arguments>}}", n)
            (name, kwargs), = item.items()
            if name not in KNOWN_EXPECTATIONS:
                import difflib

                close = difflib.get_close_matches(str(name), list(KNOWN_EXPECTATIONS), n=1)
                hint = f"; did you mean '{close[0]}'?" if close else ""
                raise located(f"unknown great-expectations expectation '{name}'{hint}", n)
            if kwargs is None:
                kwargs = {}
            if not isinstance(kwargs, dict):
                raise located(f"the arguments must be a mapping such as {{column: subject}}, got {short_repr(kwargs)}", n, name)
            out.append({"name": name, "class_name": KNOWN_EXPECTATIONS[name], "kwargs": kwargs})
        return out

    @field_serializer("quality")
    def _dump_quality(self, quality: list[QualityExpectation]) -> list[dict[str, Any]]:
        # back to the task-file form, so a dump validates again
        return [{q.name: dict(q.kwargs)} for q in quality]

    @field_validator("timezone")
    @classmethod
    def _timezone(cls, value: str | None) -> str | None:
        if value is not None:
            from ..mapping.dates import get_zone

            get_zone(value)
        return value

    @field_validator("date_format", "datetime_format")
    @classmethod
    def _date_pattern(cls, value: str | None) -> str | None:
        if value is not None:
            from ..mapping.dates import date_formatter

            date_formatter(value)  # a ValueError names the pattern letter it does not know
        return value

    # ---- cross-field --------------------------------------------------------------
    @model_validator(mode="after")
    def _consistency(self) -> "ScheduledTask":
        kind = self.mapping_type
        if self.name in self.after:
            raise located(
                f"'{self.name}' is this task itself; a task cannot run after itself", "after", self.after.index(self.name)
            )
        if kind in ("user", "group") and self.mode == "incremental":
            raise located(_INCREMENTAL_REFUSED.format(kind=kind), "mode")
        if kind in ("generic", "comment"):
            if not self.jql or not self.jql.strip():
                raise located(f"is required for {kind} imports: the JQL that selects the issues", "jql")
            if _ORDER_BY.search(_QUOTED.sub('""', self.jql)):
                raise located(
                    "must not contain ORDER BY: the connector adds its own ordering (and, for incremental "
                    "imports, the 'updated >=' condition)", "jql",
                )
        elif self.jql is not None:
            raise located(f"{kind} imports list all Jira {kind}s; jql is only for generic and comment imports", "jql")
        if kind == "comment":
            if self.comments is None:
                raise located(
                    "is required for comment imports: {card_key_attribute: <issue card attribute with the "
                    "Jira key>, worklog_attribute: <worklog attribute>}", "comments",
                )
            for name in self.attributes:
                if name not in WORKLOG_ENTRY_FIELDS:
                    raise located(
                        f"a comment import fills worklog entries, whose fields are {', '.join(WORKLOG_ENTRY_FIELDS)}",
                        "attributes", name,
                    )
            if self.attributes and "value" not in self.attributes:
                # without it every entry would be written as "(empty comment)" -- for good: its
                # marker keeps a corrected task file from appending the comment again
                raise located(
                    "must map 'value', the worklog entry's text (e.g. value: {from: body, transform: adf_to_text}); "
                    "leave attributes out for the defaults", "attributes",
                )
            self._check_comment_paths()
            if self.removed is not None and self.removed.enabled:
                raise located("comment imports do not mark removed records; remove this key", "removed")
        else:
            if self.comments is not None:
                raise located("only for mapping_type: comment", "comments")
            if self.key is None:
                raise located(
                    "is required: {jira: <Jira path of the record's id>, esm: <ESM attribute holding it>}", "key"
                )
            self._check_key_path()
            if kind == "user" and self.key.jira != "accountId":
                raise located(
                    f"is '{self.key.jira}', but must be accountId for a user import: the one value every Jira user "
                    "record has and that never "
                    "changes (app accounts have no e-mail address, a profile may hide it, and a changed one would "
                    "make a second card and mark the first removed)", "key", "jira",
                )
            if self.folder is None:
                raise located(f"is required: the ESM folder new {self.template} cards are created in", "folder")
            if not self.attributes:
                raise located("is required: at least one ESM attribute mapped from Jira", "attributes")
        if self.task_id_attribute in self.attributes:
            raise located(
                f"'{self.task_id_attribute}' is stamped by the connector with the task's id "
                "(task_id_attribute); do not map it", "attributes", self.task_id_attribute,
            )
        if self.include_members is not None and kind != "group":
            raise located("only for mapping_type: group", "include_members")
        if self.member_removal is not None and kind != "group":
            raise located("only for mapping_type: group (the safety limit on group memberships)", "member_removal")
        if self.include_members is False and self.attributes_reading("members"):
            raise located(
                f"is false, but {', '.join(self.attributes_reading('members'))} read(s) the group's members: unlisted, "
                "every group would be written without members; leave include_members out", "include_members",
            )
        self._check_removal()
        self._check_distinct_attributes(self.removal)
        self._check_quality_columns()
        if kind == "generic":
            self._check_issue_paths()
        return self

    def _check_key_path(self) -> None:
        """``key.jira`` names a value the records have: an issue's ``key``, ``id`` or a
        ``fields.`` path; a group's ``groupId`` or ``name`` (also what the removal check asks
        Jira by). Any other path is empty in every record -- every run would stop at transform."""
        assert self.key is not None
        path = self.key.jira
        if self.mapping_type == "generic" and path_head(path) not in _ISSUE_PARTS:
            close = difflib.get_close_matches(path_head(path), sorted(_ISSUE_PARTS), n=1)
            hint = f"; did you mean '{close[0]}'?" if close else ""
            raise located(
                f"is '{path}', which an issue does not have (the listing gives key, id and fields.<field id>){hint}",
                "key", "jira",
            )
        if self.mapping_type == "group" and path not in _GROUP_KEYS:
            close = difflib.get_close_matches(path, _GROUP_KEYS, n=1)
            hint = f"; did you mean '{close[0]}'?" if close else ""
            raise located(f"is '{path}', but a group is identified by groupId or name{hint}", "key", "jira")

    def _check_issue_paths(self) -> None:
        """An issue import's attributes read ``key``, ``id`` and ``fields``: every other part of
        an issue (``renderedFields``, ``changelog``, ``names``, ...) Jira sends only when asked
        to expand it, which the connector does not -- such an attribute would be written empty,
        silently, on every card."""
        for name, spec in self.effective_attributes.items():
            heads = spec_read_names(spec)
            for head in sorted(heads - _ISSUE_PARTS):
                raise located(
                    f"reads '{head}', which Jira sends only when asked to expand it, and an import does not: read "
                    "key, id or fields.<field id> (e.g. fields.description with transform: adf_to_text)",
                    "attributes", name,
                )

    def _check_comment_paths(self) -> None:
        """A comment import's attributes read the comment Jira lists and, under ``issue``, the
        issue's key, id, summary and updated (all the listing asks for): anything else --
        ``renderedBody``, another issue field -- would be written empty on every entry, and an
        entry is never written again."""
        for name, spec in self.effective_attributes.items():
            heads = spec_read_names(spec)
            for head in sorted(heads - _COMMENT_PARTS):
                raise located(
                    f"reads '{head}', which the comment listing does not carry: read {', '.join(sorted(_COMMENT_PARTS))} "
                    f"(the issue as {', '.join(_COMMENT_ISSUE_PATHS)})", "attributes", name,
                )
            read = [*spec.sources(), *(path for t in spec.templates() for path in template_paths(t))]
            for src in read:
                if path_head(src) == "issue" and not any(
                    src == p or src.startswith(p + ".") or src.startswith(p + "[") for p in _COMMENT_ISSUE_PATHS
                ):
                    raise located(
                        f"reads '{src}': a comment import knows of its issue only {', '.join(_COMMENT_ISSUE_PATHS)}",
                        "attributes", name,
                    )

    def _check_quality_columns(self) -> None:
        """Each column an expectation names is one the batch has (an attribute, or the key's):
        a typo would otherwise fail every run at the quality gate, after the whole extract."""
        columns = [*self.effective_attributes, *([self.key.esm] if self.key is not None else [])]
        for n, expectation in enumerate(self.quality):
            for arg, column in named_columns(expectation.kwargs):
                if column not in columns:
                    import difflib

                    close = difflib.get_close_matches(column, columns, n=1)
                    hint = f"; did you mean '{close[0]}'?" if close else f"; the columns are: {', '.join(columns)}"
                    raise located(f"'{column}' is not an attribute this task maps{hint}", "quality", n, expectation.name, arg)

    def _check_removal(self) -> None:
        removed = self.removed
        if self.mode == "incremental":
            if removed is not None and removed.enabled:
                raise located(
                    "only full imports mark removed records (an incremental run does not see everything); "
                    "remove this key or use mode: full", "removed",
                )
            return
        if self.mapping_type == "generic" and removed is None:
            raise located(
                "full imports of generic templates must say how removed records are marked, e.g. "
                "removed: {attribute: status, value: '05 - Removed'} — or removed: false to leave them as they are",
                "removed",
            )
        if removed is not None and removed.enabled and self.mapping_type == "generic":
            for key in ("attribute", "value"):
                if getattr(removed, key) is None:
                    raise located(f"is required for generic templates (there is no default)", "removed", key)
        if removed is not None and removed.enabled and self.mapping_type in DEFAULT_REMOVAL:
            default_attribute, default_value = DEFAULT_REMOVAL[self.mapping_type]
            if removed.attribute not in (None, default_attribute) and removed.value is None:
                # the default value belongs to the default attribute, not to the one chosen here
                raise located(
                    f"is required when removed.attribute is '{removed.attribute}': the default value "
                    f"{default_value!r} is for {default_attribute}, the default attribute of {self.mapping_type} imports",
                    "removed", "value",
                )
        removal = self.removal
        if removal is None:
            return
        if removal.active_value is not None and str(removal.active_value) == str(removal.value):
            raise located(
                f"must differ from the removal value {removal.value!r}: it is the value a card gets back "
                "when its record reappears", "removed", "active_value",
            )
        if removal.reactivate and removal.active_value is None and removal.attribute not in self.attributes:
            raise located(
                f"is required when reactivate is true and the mapping does not set '{removal.attribute}': "
                f"the value '{removal.attribute}' gets back when a removed record reappears in Jira "
                "(e.g. active_value: Active)", "removed", "active_value",
            )

    def _check_distinct_attributes(self, removal: RemovalSettings | None) -> None:
        """The key attribute, the task-id stamp and the removal attribute must be three
        different ESM attributes: load writes the stamp over the card's key, and marking a
        card removed would overwrite its key or its stamp -- the card is then no longer found
        by its key, or no longer counted as this task's."""
        # (ESM attribute, key path, set in the file?, what it is)
        roles: list[tuple[str, str, bool, str]] = []
        if self.key is not None:
            roles.append((self.key.esm, "key.esm", True, "key.esm (the attribute holding the record's key)"))
        explicit = "task_id_attribute" in self.model_fields_set
        roles.append((
            self.task_id_attribute, "task_id_attribute", explicit,
            "task_id_attribute (" + ("" if explicit else "by default; ")
            + "the attribute the connector stamps with the task's id)",
        ))
        if removal is not None and removal.attribute is not None:
            explicit = self.removed is not None and self.removed.attribute is not None
            roles.append((
                removal.attribute, "removed.attribute", explicit,
                "removed.attribute (" + ("" if explicit else f"the default of {self.mapping_type} imports; ")
                + "the attribute removed records are marked in)",
            ))
        for n, (attribute, path, explicit, role) in enumerate(roles):
            for other_attribute, other_path, other_explicit, other_role in roles[:n]:
                if attribute == other_attribute:
                    # name the key the file sets (the later one when it sets both)
                    blamed = path if explicit or not other_explicit else other_path
                    raise located(
                        f"'{attribute}' is both {other_role} and {role}; they must be different ESM attributes",
                        *blamed.split("."),
                    )

    # ---- derived values -------------------------------------------------------------
    @property
    def removal(self) -> RemovalSettings | None:
        """Effective removal settings (SPEC defaults filled in); ``None``: do not mark removed."""
        if self.mode != "full" or self.mapping_type == "comment":
            return None
        given = self.removed or RemovalSettings()
        if not given.enabled:
            return None
        attribute, value = DEFAULT_REMOVAL.get(self.mapping_type, (None, None))
        if given.attribute not in (None, attribute):
            value = None  # the default value belongs to the default attribute (validation demands one)
        return given.model_copy(update={"attribute": given.attribute or attribute, "value": given.value or value})

    @property
    def record_key_path(self) -> str:
        """Jira path of the id that identifies a record (comments: the comment id)."""
        return self.key.jira if self.key is not None else "id"

    @property
    def effective_attributes(self) -> dict[str, FieldSpec]:
        if self.mapping_type == "comment" and not self.attributes:
            from ..mapping.specs import parse_spec

            return {k: parse_spec(v) for k, v in DEFAULT_COMMENT_ATTRIBUTES.items()}
        return dict(self.attributes)

    @property
    def fetch_members(self) -> bool:
        """Group imports: whether members must be listed (explicit, or any attribute reads
        ``members``: a ``from`` path or a template)."""
        if self.mapping_type != "group":
            return False
        if self.include_members is not None:
            return self.include_members
        return bool(self.attributes_reading("members"))

    @property
    def membership_attributes(self) -> list[str]:
        """Group imports: the attributes whose values are a group's members (``from: members``,
        one value per member, not joined into one text); the load's membership safety limit
        guards them (pipeline/memberships.py). An attribute that merely reads ``members`` -- a
        template counting them, a joined text of names -- holds no member: counted as one, its
        text would keep an emptied group from looking emptied."""
        if not self.fetch_members:
            return []
        return [name for name, spec in self.effective_attributes.items() if _lists_members(spec)]

    @property
    def member_derived_attributes(self) -> list[str]:
        """Group imports: every attribute that reads ``members`` (the member attributes and
        what is worked out from the members, such as a count): a group whose members are held
        back is written without any of them, so its card stays consistent with the members it keeps."""
        return self.attributes_reading("members") if self.fetch_members else []

    @property
    def member_share(self) -> float:
        """The membership safety limit's share (``member_removal.max_share``, default 0.5)."""
        return (self.member_removal or MemberRemovalSettings()).max_share

    def attributes_reading(self, field: str) -> list[str]:
        """The attributes that read the record's top-level ``field`` (``members``,
        ``emailAddress``): through a ``from`` path or a template."""
        return [
            name for name, spec in self.effective_attributes.items()
            if field in spec_read_names(spec)
        ]

    def clear_hours(self, default: list[int] | None = None) -> list[int]:
        """Cache clear hours: the task's override, else the global default (``[0]``)."""
        if self.cache is not None:
            return list(self.cache.clear_hours)
        return list(default) if default is not None else [0]

    def deadlines(self, settings: Any | None = None) -> tuple[timedelta, timedelta]:
        """``(step deadline, run deadline)``: the task's ``timeouts``, else the global
        settings (``JIRA_ESM_TASK_TIMEOUT_MINUTES`` / ``JIRA_ESM_RUN_TIMEOUT_MINUTES``), else
        60 min / 4 h. ValueError (naming the key) when the run deadline is the shorter."""
        given = self.timeouts or TimeoutSettings()
        task_min = given.task_minutes or getattr(settings, "task_timeout_minutes", None) or 60
        run_min = given.run_minutes or getattr(settings, "run_timeout_minutes", None) or 240
        if run_min < task_min:
            source = "timeouts.run_minutes" if given.run_minutes else "JIRA_ESM_RUN_TIMEOUT_MINUTES"
            raise ValueError(
                f"key 'timeouts': the run deadline ({run_min} min, from {source}) is shorter than the step "
                f"deadline ({task_min} min); set timeouts.run_minutes to at least {task_min}"
            )
        return timedelta(minutes=task_min), timedelta(minutes=run_min)

    def mapping_options(self, settings: Any | None = None) -> MappingOptions:
        """Date options: task values, else global settings, else ESM REST defaults."""
        base = MappingOptions()
        return MappingOptions(
            date_format=self.date_format or getattr(settings, "date_format", None) or base.date_format,
            datetime_format=self.datetime_format or getattr(settings, "datetime_format", None) or base.datetime_format,
            timezone=self.timezone or getattr(settings, "timezone", None) or base.timezone,
        )

    def references(self) -> list[tuple[str, Any]]:
        """(attribute, ReferenceSpec) for every reference attribute — the load step resolves them."""
        return [(name, ref) for name, spec in self.attributes.items() for ref in spec.references()]


def _lists_members(spec: FieldSpec) -> bool:
    """Does the spec (or one of a multi-value spec's items) give a group's members as values:
    a ``from`` path into ``members``, neither a template nor joined into one text?"""
    items = spec.items if spec.items is not None else (spec,)
    return any(
        item.source is not None and item.template is None and item.join is None and item.transform != "join"
        and path_head(item.source) == "members"
        for item in items
    )


_GROUP_KEYS = ("groupId", "name")  # what identifies a group record of /group/bulk
# what an issue holds without an expand (search/jql and issue/bulkfetch answers)
_ISSUE_PARTS = frozenset({"key", "id", "self", "fields"})
# what the comment listing carries (the contract's Comment without renderedBody, which Jira
# sends only when expanded, and the properties the listing reads for its own marker), plus
# the issue it belongs to, listed with these fields only
_COMMENT_PARTS = frozenset({"author", "body", "created", "id", "jsdAuthorCanSeeRequest", "jsdPublic", "self",
                            "updateAuthor", "updated", "visibility", "issue"})
_COMMENT_ISSUE_PATHS = ("issue.key", "issue.id", "issue.fields.summary", "issue.fields.updated")
