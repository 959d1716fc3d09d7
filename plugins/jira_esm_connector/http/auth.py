"""requests auth objects whose repr never shows the secret."""
from __future__ import annotations

import requests
from requests.auth import AuthBase, HTTPBasicAuth


class BasicAuth(HTTPBasicAuth):
    """HTTP basic auth (Jira: e-mail + API token) with a repr that hides the password."""

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
