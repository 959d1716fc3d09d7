"""Efecte / Matrix42 ESM REST API v1: client, keyset paginator, typed errors, EQL builder.

No Airflow here: the hook is :class:`jira_esm_connector.hooks.esm.EsmHook`.
"""
from __future__ import annotations

from .client import MAX_CHUNK_SIZE, MAX_PAGE_SIZE, EsmClient, Refusal
from .eql import any_of, eq, eql_and, eql_attr, eql_not, eql_or, eql_quote, gt, lt, ne
from .errors import (
    CardNotFoundError,
    EsmBadCredentialsError,
    EsmProtocolError,
    NotAnEsmApiError,
    RefusedValueError,
    TemplateWriteForbiddenError,
    UnknownAttributeError,
    UnknownTemplateError,
)
from .models import (
    AttributeInfo,
    BulkImportResult,
    BulkWrites,
    CardInput,
    CardOutcome,
    EsmCard,
    FolderInfo,
    Ref,
    StaticValueInfo,
    TemplateInfo,
    TemplateSummary,
)
from .paginators import KeysetPaginator

__all__ = [
    "MAX_CHUNK_SIZE",
    "MAX_PAGE_SIZE",
    "AttributeInfo",
    "BulkImportResult",
    "BulkWrites",
    "CardInput",
    "CardNotFoundError",
    "CardOutcome",
    "EsmBadCredentialsError",
    "EsmCard",
    "EsmClient",
    "EsmProtocolError",
    "FolderInfo",
    "KeysetPaginator",
    "NotAnEsmApiError",
    "Ref",
    "Refusal",
    "RefusedValueError",
    "StaticValueInfo",
    "TemplateInfo",
    "TemplateSummary",
    "TemplateWriteForbiddenError",
    "UnknownAttributeError",
    "UnknownTemplateError",
    "any_of",
    "eq",
    "eql_and",
    "eql_attr",
    "eql_not",
    "eql_or",
    "eql_quote",
    "gt",
    "lt",
    "ne",
]
