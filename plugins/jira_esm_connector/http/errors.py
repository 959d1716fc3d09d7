"""Typed, plainly worded errors shared by the Jira and ESM clients.

Every message is written for an operator reading a task log at 3 a.m.: it names the
service and host, says what went wrong and, where it helps, what to do. No message,
``str()`` or ``repr()`` ever contains a credential.
"""
from __future__ import annotations

from typing import Any


class ConnectorHTTPError(Exception):
    """Base class: something went wrong talking to Jira or ESM.

    ``status`` is the HTTP status when the service answered, ``service`` a short name
    such as ``"Jira"`` or ``"ESM"``; ``details`` carries the service's own error
    messages (list of strings) when it sent any.
    """

    def __init__(
        self,
        message: str,
        status: int | None = None,
        service: str | None = None,
        *,
        details: list[str] | None = None,
        method: str | None = None,
        path: str | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.status = status
        self.service = service
        self.details = list(details or [])
        self.method = method
        self.path = path

    def __str__(self) -> str:
        return self.message

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.message!r}, status={self.status!r}, service={self.service!r})"

    def __reduce__(self) -> tuple[Any, ...]:
        # picklable (Airflow may ship exceptions between processes)
        return (_rebuild, (type(self), self.message, self.status, self.service, self.details, self.method, self.path))


def _rebuild(cls, message, status, service, details, method, path):  # type: ignore[no-untyped-def]
    return cls(message, status, service, details=details, method=method, path=path)


class AuthenticationError(ConnectorHTTPError):
    """401: bad credentials, or the API token expired / was revoked."""


class PermissionDeniedError(ConnectorHTTPError):
    """403: the account is authenticated but lacks a permission."""


class NotFoundError(ConnectorHTTPError):
    """404: the object does not exist (or the account cannot see it), or the host serves no such API."""


class ConflictError(ConnectorHTTPError):
    """409: the object already exists / is in a conflicting state."""


class BadRequestError(ConnectorHTTPError):
    """400 (and other 4xx): the service refused the request; its own messages are kept verbatim."""


class RateLimitedError(ConnectorHTTPError):
    """429 still answered after every retry."""


class ServiceUnavailableError(ConnectorHTTPError):
    """5xx after every retry, or the connection was lost mid-request."""


class HostUnreachableError(ConnectorHTTPError):
    """Wrong host: DNS failure, connection refused, or not the expected API at that address."""


class TLSError(ConnectorHTTPError):
    """TLS handshake failed (certificate not trusted, wrong host name, protocol mismatch)."""


class RequestTimeoutError(ConnectorHTTPError):
    """Connect or read timeout."""


class MalformedResponseError(ConnectorHTTPError):
    """The service answered, but not in the shape its API defines: cut-off or invalid JSON,
    a wrong type where a list or object belongs, a missing key. The message names the
    endpoint (method and path, never the query string) and what was wrong."""


def describe_json(value: Any) -> str:
    """A JSON value's kind in plain words (never the value itself: messages stay short)."""
    if value is None:
        return "empty (null)"
    if isinstance(value, bool):
        return "true/false"
    if isinstance(value, (int, float)):
        return "a number"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, list):
        return "a list"
    if isinstance(value, dict):
        return "an object"
    return type(value).__name__


class InsecureURLError(ConnectorHTTPError, ValueError):
    """The configured base URL is not https (and the local-testing opt-in is off) or is malformed."""


__all__ = [
    "AuthenticationError",
    "BadRequestError",
    "ConflictError",
    "ConnectorHTTPError",
    "HostUnreachableError",
    "InsecureURLError",
    "MalformedResponseError",
    "NotFoundError",
    "PermissionDeniedError",
    "RateLimitedError",
    "RequestTimeoutError",
    "ServiceUnavailableError",
    "TLSError",
    "describe_json",
]
