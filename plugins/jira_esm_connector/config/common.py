"""Shared building blocks of the task-file models."""
from __future__ import annotations

import difflib
import re
from typing import Annotated, Any

from pydantic import BaseModel, BeforeValidator, ConfigDict, PlainSerializer, model_validator
from pydantic_core import PydanticCustomError

from ..bounded import short_repr
from ..mapping.specs import FieldSpec, SpecError, parse_spec

__all__ = [
    "StrictModel",
    "located",
    "DagId",
    "TaskName",
    "ConnId",
    "HEALTH_DAG_ID",
    "RECONCILE_DAG_ID",
    "RESERVED_DAG_IDS",
    "NonEmptyStr",
    "Number",
    "PathSpec",
    "TemplateSpec",
    "WholeNumber",
]

# Airflow's KEY_REGEX (``^[\w.-]+$``, ASCII here) and max id length.
DAG_ID_RE = re.compile(r"^[A-Za-z0-9_.-]+$")
DAG_ID_MAX = 250

# The connector's own DAGs (dags/jira_esm_connector_health.py, _reconcile.py). A task file
# cannot take their ids: Airflow parses each DAG file on its own, so the two definitions
# would replace each other on every parse, with no import error anywhere.
HEALTH_DAG_ID = "jira_esm_connector_health"
RECONCILE_DAG_ID = "jira_esm_connector_reconcile"
RESERVED_DAG_IDS: dict[str, str] = {
    HEALTH_DAG_ID: "the connector's health check DAG",
    RECONCILE_DAG_ID: "the connector's reconcile DAG",
}


def located(message: str, *subpath: str | int) -> PydanticCustomError:
    """A validation error whose plain ``message`` belongs to ``subpath`` under the current
    model (the loader appends it to the key path). Braces in messages are safe."""
    return PydanticCustomError("located", "{message}", {"message": message, "subpath": tuple(subpath)})


class StrictModel(BaseModel):
    """Unknown keys are errors, with a "did you mean" hint."""

    model_config = ConfigDict(extra="forbid", frozen=True, str_strip_whitespace=True)

    @model_validator(mode="before")
    @classmethod
    def _unknown_keys(cls, data: Any) -> Any:
        if isinstance(data, dict):
            allowed = {f.alias or name for name, f in cls.model_fields.items()}
            for key in data:
                if key not in allowed:
                    close = difflib.get_close_matches(str(key), sorted(allowed), n=1, cutoff=0.6)
                    hint = f"did you mean '{close[0]}'?" if close else f"allowed keys: {', '.join(sorted(allowed))}"
                    raise located(f"unknown key; {hint}", str(key))
        return data


def _dag_id(value: Any) -> Any:
    if not isinstance(value, str):
        raise located(f"must be text, got {short_repr(value)}")
    value = value.strip()
    if not value:
        raise located("must not be empty")
    if len(value) > DAG_ID_MAX:
        raise located(f"must be at most {DAG_ID_MAX} characters (it becomes the Airflow DAG id)")
    if not DAG_ID_RE.match(value):
        raise located(
            f"{short_repr(value)} is not a valid Airflow DAG id: use only letters, digits, '_', '-' and '.'"
        )
    return value


def _task_name(value: Any) -> Any:
    value = _dag_id(value)
    if value in RESERVED_DAG_IDS:
        raise located(
            f"'{value}' is the DAG id of {RESERVED_DAG_IDS[value]}; a task's name becomes its DAG id, "
            "so choose another name"
        )
    return value


def _conn_id(value: Any) -> Any:
    if not isinstance(value, str) or not value.strip():
        raise located(f"must be an Airflow connection id, got {short_repr(value)}")
    value = value.strip()
    if not DAG_ID_RE.match(value):
        raise located(f"{short_repr(value)} is not a valid connection id: use only letters, digits, '_', '-' and '.'")
    return value


def _non_empty_str(value: Any) -> Any:
    if isinstance(value, bool) or not isinstance(value, (str, int, float)):
        raise located(f"must be text, got {short_repr(value)}")
    value = str(value).strip()
    if not value:
        raise located("must not be empty")
    return value


def _not_yes_no(value: Any) -> Any:
    # YAML reads yes/no, true/false and on/off as booleans, and pydantic would take True as 1
    # (one issue per request, a step killed after one minute): never a number
    if isinstance(value, bool):
        raise located(f"must be a number, got {short_repr(value)} (YAML reads yes/no, true/false and on/off "
                      "as a yes-or-no value, not as a number)")
    return value


TAG_MAX = 100  # Airflow refuses a longer DAG tag (the DAG could not be built)


def _tag(value: Any) -> Any:
    value = _non_empty_str(value)
    if len(value) > TAG_MAX:
        raise located(f"is {len(value)} characters long; Airflow takes tags of at most {TAG_MAX}")
    return value


def _spec_validator(strings: str):
    def validate(value: Any) -> FieldSpec:
        try:
            return parse_spec(value, strings=strings)  # type: ignore[arg-type]
        except SpecError as exc:
            raise located(exc.message, *exc.subpath) from None

    return validate


def _spec_raw(spec: FieldSpec) -> Any:
    return spec.raw


DagId = Annotated[str, BeforeValidator(_dag_id)]
TaskName = Annotated[str, BeforeValidator(_task_name)]  # a DagId that is not one of the connector's own
ConnId = Annotated[str, BeforeValidator(_conn_id)]
NonEmptyStr = Annotated[str, BeforeValidator(_non_empty_str)]
Tag = Annotated[str, BeforeValidator(_tag)]
WholeNumber = Annotated[int, BeforeValidator(_not_yes_no)]  # an int, never a yes/no value
Number = Annotated[float, BeforeValidator(_not_yes_no)]  # a float, never a yes/no value
# Scheduled imports: a plain string is a Jira path. Event pushes: a plain string is a template.
PathSpec = Annotated[FieldSpec, BeforeValidator(_spec_validator("path")), PlainSerializer(_spec_raw)]
TemplateSpec = Annotated[FieldSpec, BeforeValidator(_spec_validator("template")), PlainSerializer(_spec_raw)]
