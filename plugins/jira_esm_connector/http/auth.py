"""requests auth objects whose repr never shows the secret."""
from __future__ import annotations

import base64

import requests
from requests.auth import AuthBase, HTTPBasicAuth


class BasicAuth(HTTPBasicAuth):
    """HTTP basic auth (Jira: e-mail + API token) with a repr that hides the password. The
    credentials are sent as UTF-8 (RFC 7617): requests encodes text as latin-1, so an e-mail
    address with a character outside it (an internationalised domain) raised
    UnicodeEncodeError on every request."""

    def __call__(self, request: requests.PreparedRequest) -> requests.PreparedRequest:
        user, password = (v.encode("utf-8") if isinstance(v, str) else v for v in (self.username, self.password))
        request.headers["Authorization"] = "Basic " + base64.b64encode(user + b":" + password).decode("ascii")
        return request

    def __repr__(self) -> str:
        return f"BasicAuth(username={self.username!r}, password='***')"


class BearerAuth(AuthBase):
    """``Authorization: Bearer <token>`` (ESM JWT) with a repr that hides the token."""

    def __init__(self, token: str) -> None:
        self.token = token

    def __call__(self, request: requests.PreparedRequest) -> requests.PreparedRequest:
        request.headers["Authorization"] = f"Bearer {self.token}"
        return request

    def __eq__(self, other: object) -> bool:
        return isinstance(other, BearerAuth) and other.token == self.token

    def __repr__(self) -> str:
        return "BearerAuth(token='***')"


class NoAuth(AuthBase):
    """No credentials -- and none from ``~/.netrc`` either: requests looks a request without
    an auth object up there, and a Basic entry for the host would replace (or add) the
    ``Authorization`` header of a service that signs in otherwise (ESM's JWT, its login)."""

    def __call__(self, request: requests.PreparedRequest) -> requests.PreparedRequest:
        return request

    def __repr__(self) -> str:
        return "NoAuth()"
