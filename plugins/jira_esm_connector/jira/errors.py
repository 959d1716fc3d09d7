"""Typed Jira errors: the shared HTTP errors, re-exported under the Jira package."""
from __future__ import annotations

from ..http.errors import (
    AuthenticationError,
    BadRequestError,
    ConflictError,
    ConnectorHTTPError,
    HostUnreachableError,
    InsecureURLError,
    MalformedResponseError,
    NotFoundError,
    PermissionDeniedError,
    RateLimitedError,
    RequestTimeoutError,
    ServiceUnavailableError,
    TLSError,
)
from .paginators import PagingError

JiraError = ConnectorHTTPError  # every Jira client error is a ConnectorHTTPError with service="Jira"

__all__ = [
    "AuthenticationError",
    "BadRequestError",
    "ConflictError",
    "ConnectorHTTPError",
    "HostUnreachableError",
    "InsecureURLError",
    "JiraError",
    "MalformedResponseError",
    "NotFoundError",
    "PagingError",
    "PermissionDeniedError",
    "RateLimitedError",
    "RequestTimeoutError",
    "ServiceUnavailableError",
    "TLSError",
]
