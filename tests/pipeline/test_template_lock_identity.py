"""the ESM template write lock is named after the ESM's host, port and path; the
default port spelled out (a connection whose Port field says 443) gives the same ESM a
second name, so two tasks writing one template through the two connections do not keep
each other out (the lock exists because two loads at once create duplicate cards)."""
from __future__ import annotations

from types import SimpleNamespace

from jira_esm_connector.hooks.esm import base_url_from_connection
from jira_esm_connector.http.session import validate_base_url
from jira_esm_connector.pipeline.template_lock import esm_identity
from jira_esm_connector.state.lease import template_lock_name


def _client(host: str, port: int | None = None) -> SimpleNamespace:
    # what EsmHook builds: base_url_from_connection, then the client's validate_base_url
    return SimpleNamespace(base_url=validate_base_url(base_url_from_connection(host, port=port)))


def test_one_esm_reached_through_two_connections_has_one_template_lock():
    plain = _client("https://esm.example.com/rest-api/itsm/v1")
    with_port = _client("esm.example.com", port=443)  # bare host name + the UI's Port field
    assert plain.base_url.startswith("https://esm.example.com") and with_port.base_url.startswith("https://esm.example.com")
    assert template_lock_name(esm_identity(plain), "person") == template_lock_name(esm_identity(with_port), "person")
