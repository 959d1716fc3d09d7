"""Mapping engine: pure functions from Jira JSON records / event payloads to ESM attributes
or Jira fields. No Airflow, no network."""
from __future__ import annotations

from .adf import adf_to_text, text_to_adf
from .dates import (
    ESM_DATE_FORMAT,
    ESM_DATETIME_FORMAT,
    parse_jira_datetime,
    to_esm_date,
    to_esm_datetime,
)
from .engine import (
    MappingError,
    MappingOptions,
    Reference,
    compile_attributes,
    compile_fields,
    compile_spec,
)
from .fingerprint import canonical_json, fingerprint
from .paths import get_path
from .specs import TRANSFORMS, FieldSpec, ReferenceSpec, SpecError, parse_spec
from .templates import TemplateError, compile_template, template_variables

__all__ = [
    "ESM_DATE_FORMAT",
    "ESM_DATETIME_FORMAT",
    "TRANSFORMS",
    "FieldSpec",
    "MappingError",
    "MappingOptions",
    "Reference",
    "ReferenceSpec",
    "SpecError",
    "TemplateError",
    "adf_to_text",
    "canonical_json",
    "compile_attributes",
    "compile_fields",
    "compile_spec",
    "compile_template",
    "fingerprint",
    "get_path",
    "parse_jira_datetime",
    "parse_spec",
    "template_variables",
    "text_to_adf",
    "to_esm_date",
    "to_esm_datetime",
]
