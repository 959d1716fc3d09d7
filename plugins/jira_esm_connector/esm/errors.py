"""ESM-specific typed errors, on top of the shared HTTP errors.

They subclass the shared classes (:mod:`jira_esm_connector.http.errors`), so code that
catches ``NotFoundError`` or ``BadRequestError`` keeps working, while code that cares can
tell "unknown template" from "unknown attribute" from "refused static value".
Messages are plain and never contain a password or token.
"""
from __future__ import annotations

from collections.abc import Iterable

from ..http.errors import (
    AuthenticationError,
    BadRequestError,
    HostUnreachableError,
    MalformedResponseError,
    NotFoundError,
    PermissionDeniedError,
)

SERVICE = "ESM"

__all__ = [
    "SERVICE",
    "EsmBadCredentialsError",
    "UnknownTemplateError",
    "UnknownAttributeError",
    "RefusedValueError",
    "CardNotFoundError",
    "TemplateWriteForbiddenError",
    "EsmProtocolError",
    "NotAnEsmApiError",
    "malformed_answer",
]


class EsmBadCredentialsError(AuthenticationError):
    """``POST /users/login`` refused the user name / password."""

    @classmethod
    def for_user(cls, username: str, base_url: str) -> EsmBadCredentialsError:
        return cls(
            f"bad credentials for ESM user '{username}' at {base_url}: ESM refused the login "
            "(check the connection's login and password)",
            401,
            SERVICE,
            method="POST",
            path="/users/login",
        )


class UnknownTemplateError(NotFoundError):
    """The template code does not exist in this ESM."""

    @classmethod
    def for_template(cls, template: str, detail: str | None = None) -> UnknownTemplateError:
        msg = f"ESM has no template '{template}' (check the template code; GET /dc lists the templates)"
        if detail:
            msg += f"; ESM said: {detail}"
        return cls(msg, 404, SERVICE, details=[detail] if detail else None)


class UnknownAttributeError(BadRequestError):
    """The attribute code does not exist on the template."""

    @classmethod
    def for_attribute(
        cls, template: str, attribute: str, *, known: Iterable[str] = (), detail: str | None = None
    ) -> UnknownAttributeError:
        msg = f"ESM template '{template}' has no attribute '{attribute}'"
        known = list(known)
        if known:
            shown = ", ".join(known[:30]) + (", ..." if len(known) > 30 else "")
            msg += f" (its attributes: {shown})"
        if detail:
            msg += f"; ESM said: {detail}"
        return cls(msg, 400, SERVICE, details=[detail] if detail else None)


class RefusedValueError(BadRequestError):
    """ESM refused a value, typically a static value that is not in the attribute's list."""


class CardNotFoundError(NotFoundError):
    """No data card with that id in the template (or it is not visible to the user)."""

    @classmethod
    def for_card(cls, template: str, card_id: str, detail: str | None = None) -> CardNotFoundError:
        msg = f"ESM has no data card {card_id} in template '{template}'"
        if detail:
            msg += f"; ESM said: {detail}"
        return cls(msg, 404, SERVICE, details=[detail] if detail else None)


class TemplateWriteForbiddenError(PermissionDeniedError):
    """ESM refused with 403 every card of a template the connector tried alone, even in the
    task's own folder, and accepted none: the account may not write the template at all."""

    @classmethod
    def for_template(cls, template: str, folder: str, tried: int, messages: Iterable[str]) -> TemplateWriteForbiddenError:
        messages = list(messages)
        said = "; ".join(messages)
        return cls(
            f"ESM refuses every write to template '{template}' (403): it refused {tried} card(s) of folder "
            f"'{folder}' one by one and accepted none in this run; the connector's ESM account may have lost its "
            "rights to the template, or to an attribute every one of these writes sets (check its role in ESM). "
            "The refused cards are not cached: the first run after "
            "the rights are back loads them." + (f" ESM said: {said}" if said else ""),
            403,
            SERVICE,
            details=messages,
        )


class EsmProtocolError(MalformedResponseError):
    """ESM answered, but not in the shape the REST API v1 defines."""


def malformed_answer(what: str, problem: str, status: int | None = 200) -> EsmProtocolError:
    """``what`` is the endpoint as ``"GET /dc/incident/data"`` (never a query string)."""
    method, _, path = what.partition(" ")
    return EsmProtocolError(
        f"ESM's answer to {what} is not what the ESM REST API returns: {problem}",
        status, SERVICE, method=method or None, path=path or None,
    )


class NotAnEsmApiError(HostUnreachableError):
    """Something answered at the base URL, but it is not the ESM REST API (wrong host or path)."""
