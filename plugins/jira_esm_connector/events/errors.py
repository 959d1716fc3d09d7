"""Errors of event pushes, worded for an operator reading a task log.

* :class:`PayloadError` -- the conf payload is wrong (unknown key, missing ``event_id``,
  a value the mapping cannot use). Permanent: retrying the same payload cannot help.
* :class:`EventRefused` -- Jira (or ESM) refused the change for good (4xx: missing
  required field, unknown project, transition not available, permission ...). The
  service's own words are in the message, verbatim. Permanent.
* :class:`EventConfigError` -- the task file asks for something Jira does not have (a
  custom field name that matches no field, or several). Permanent.

Anything else (timeouts, 5xx, 429 after every retry) is transient: the DAG task fails
and Airflow retries it; the exactly-once record makes that retry safe.
"""
from __future__ import annotations

from ..bounded import shown_key
from ..http.errors import (
    AuthenticationError,
    ConnectorHTTPError,
    RateLimitedError,
    InsecureURLError,
    MalformedResponseError,
    RequestTimeoutError,
    ServiceUnavailableError,
    TLSError,
)

__all__ = [
    "EventError",
    "PayloadError",
    "EventRefused",
    "EventConfigError",
    "is_permanent",
    "is_transient",
    "shown_key",
]


class EventError(Exception):
    """Base class. ``permanent``: retrying the same event cannot succeed."""

    permanent = True

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message

    def __str__(self) -> str:
        return self.message

    def __reduce__(self):  # picklable with its message
        return (type(self), (self.message,))


class PayloadError(EventError):
    """The trigger's conf payload cannot be used as it is."""


class EventConfigError(EventError):
    """The task file asks for something the Jira site does not have."""


class EventRefused(EventError):
    """Jira or ESM refused the change (a 4xx): the message carries its own words."""


def is_transient(exc: BaseException) -> bool:
    """Worth retrying later: Jira/ESM overloaded, unreachable or slow (not a refusal)."""
    if isinstance(exc, EventError):
        return not exc.permanent
    if isinstance(exc, (ServiceUnavailableError, RateLimitedError, RequestTimeoutError)):
        return True
    if isinstance(exc, MalformedResponseError):
        # a cut-off body, a proxy's error page: the request may have taken effect (a create is
        # checked before it is repeated) and the next attempt usually gets a proper answer
        return True
    if isinstance(exc, (AuthenticationError, TLSError, InsecureURLError)):
        return False  # bad credentials / certificates do not fix themselves
    if isinstance(exc, ConnectorHTTPError):
        # no status: the service could not be reached at all (reset, DNS, refused connection)
        return exc.status is None or exc.status >= 500
    return False


def is_permanent(exc: BaseException) -> bool:
    """A refusal or a bad payload/task: fail the run now, no retries."""
    if isinstance(exc, EventError):
        return exc.permanent
    if isinstance(exc, ConnectorHTTPError):
        return not is_transient(exc)
    return False
