"""Shared HTTP plumbing for the Jira and ESM clients (requests + urllib3 Retry).

Public API::

    RetryPolicy, LoggingRetry                 -- retry rules and the retry that logs itself
    build_session(...)                        -- a requests.Session with those retries mounted
    resends_checked(sessions, check)          -- writes resent after a retry wait only if check() passes
    validate_base_url(url, allow_insecure_http=...)
    error_for_response(response, service=...) -- typed error for a non-2xx response
    error_for_exception(exc, service=..., url=...) -- typed error for a transport failure
    service_messages(response)                -- the service's own error messages, verbatim
    redact(text, secrets=()), safe_path(url)
    BasicAuth(user, password), BearerAuth(token) -- auth objects with secret-free reprs
    SiteLimiter, site_limiter(base_url, ...)  -- one request-rate limiter per site and process
    ConnectorHTTPError and subclasses (see .errors)

POST (and PATCH) requests are retried only on 429 and on connect failures; never on 5xx,
read timeouts or resets, because they may have taken effect. Callers that create things
check whether the object exists before repeating such a request themselves.

The read timeout bounds each socket read; an answer's whole body must arrive within
``BODY_DEADLINE_READ_TIMEOUTS`` (4) read timeouts (a trickling answer is given up).
"""
from __future__ import annotations

from .auth import BasicAuth, BearerAuth
from .errors import (
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
    describe_json,
)
from .ratelimit import SiteLimiter, site_limiter
from .redact import REDACTED, redact, safe_path
from .retry import IDEMPOTENT_METHODS, LoggingRetry, RetryPolicy, describe_transport_error
from .session import (
    DEFAULT_PORTS,
    DOT_SEGMENTS,
    build_session,
    error_for_exception,
    error_for_response,
    path_segment,
    resends_checked,
    service_messages,
    validate_base_url,
)

__all__ = [
    "DEFAULT_PORTS",
    "DOT_SEGMENTS",
    "IDEMPOTENT_METHODS",
    "REDACTED",
    "AuthenticationError",
    "BadRequestError",
    "BasicAuth",
    "BearerAuth",
    "ConflictError",
    "ConnectorHTTPError",
    "HostUnreachableError",
    "InsecureURLError",
    "LoggingRetry",
    "MalformedResponseError",
    "NotFoundError",
    "PermissionDeniedError",
    "RateLimitedError",
    "RequestTimeoutError",
    "RetryPolicy",
    "ServiceUnavailableError",
    "SiteLimiter",
    "TLSError",
    "build_session",
    "describe_json",
    "describe_transport_error",
    "error_for_exception",
    "error_for_response",
    "redact",
    "resends_checked",
    "safe_path",
    "service_messages",
    "site_limiter",
    "path_segment",
    "validate_base_url",
]
