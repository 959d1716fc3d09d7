"""Airflow hook for the ``jira_cloud`` connection type.

Connection fields: host = full site URL (``https://<site>.atlassian.net``), login = the
e-mail of the account that created the API token, password = the API token. Extra fields
(UI fields from ``provider.py``): ``expiry_date`` (the API token's, YYYY-MM-DD; ``token_expires``
in older connections, whose value Airflow masks as a secret), ``ca_bundle`` (path or PEM text),
``verify`` (bool), ``allow_insecure_http`` (bool, local testing only), optionally
``timeout`` (read timeout, seconds; a whole answer must arrive within 4 of them).

The request rate and concurrency toward the site are not per connection but per process
and site: they come from :class:`~jira_esm_connector.config.settings.ConnectorSettings`
(``JIRA_ESM_JIRA_RATE_LIMIT``, ``JIRA_ESM_JIRA_CONCURRENCY``).
"""
from __future__ import annotations

import base64
import logging
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from ..config.settings import ConnectorSettings
from ..http import RetryPolicy
from ..jira.client import JiraClient
from ..masking import mask_secret
from .base import ConnectorHook

# The extra holding the API token's expiry date. Its name must not hold "token": Airflow hides
# the value of such an extra as a secret (the form, every task log line with that date in it).
EXPIRY_EXTRA = "expiry_date"


def _mask_credentials(email: str, api_token: str) -> None:
    """Register the API token, and the Basic auth value it travels in, with Airflow's masker."""
    if not api_token:
        return
    mask_secret(api_token)
    mask_secret(base64.b64encode(f"{email}:{api_token}".encode()).decode())


def site_url(host: str | None, port: int | None = None, schema: str | None = None) -> str:
    """The Jira site URL from the connection's host (a full URL, or a bare host name)."""
    host = (host or "").strip()
    if not host:
        return ""
    if "://" in host:
        return host
    scheme = schema if schema in ("http", "https") else "https"
    url = f"{scheme}://{host}"
    parts = urlsplit(url)
    if port and ":" not in parts.netloc:  # after the host name, before any path
        url = urlunsplit(parts._replace(netloc=f"{parts.netloc}:{port}"))
    return url


class JiraCloudHook(ConnectorHook):
    """Gives tasks a :class:`JiraClient` for a ``jira_cloud`` connection and tests the connection."""

    conn_name_attr = "jira_conn_id"
    default_conn_name = "jira_default"
    conn_type = "jira_cloud"
    hook_name = "Jira Cloud"
    service = "Jira"
    secret_kwarg = "api_token"

    def __init__(self, jira_conn_id: str = default_conn_name, *, retry: RetryPolicy | None = None, **kwargs: Any) -> None:
        super().__init__(jira_conn_id, retry=retry, **kwargs)

    def client_kwargs(self) -> dict[str, Any]:
        """The JiraClient arguments this connection describes (includes the token: never log it)."""
        conn = self.get_connection(self.jira_conn_id)
        extras = self.connection_extras(conn)
        timeout_value = self.extra(extras, "timeout")
        kwargs: dict[str, Any] = {
            "base_url": site_url(conn.host, conn.port, conn.schema),
            "email": conn.login or "",
            "api_token": conn.password or "",
            "verify": self.tls_verify(extras),
            "allow_insecure_http": self.extra_bool(extras, "allow_insecure_http", False),
            "token_expires": self.extra(extras, EXPIRY_EXTRA) or self.extra(extras, "token_expires"),
            "logger": logging.getLogger("jira_esm_connector.jira"),
        }
        settings = ConnectorSettings()
        kwargs["rate_limit"] = settings.jira_rate_limit
        kwargs["concurrency"] = settings.jira_concurrency
        if timeout_value is not None:
            kwargs["timeout"] = (5, self.extra_seconds(extras, "timeout", 60.0))
        if self.retry is not None:
            kwargs["retry"] = self.retry
        _mask_credentials(kwargs["email"], kwargs["api_token"])
        return kwargs

    def _new_client(self, kwargs: dict[str, Any]) -> JiraClient:
        return JiraClient(**kwargs)

    def get_client(self) -> JiraClient:
        """A JiraClient for this connection (one per hook; its session is reused)."""
        return super().get_client()

    def _test(self, kwargs: dict[str, Any]) -> tuple[bool, str]:
        """``GET /rest/api/3/myself``."""
        # Quick answer for the UI: fewer retries than a task would use.
        kwargs.setdefault("retry", RetryPolicy(total=2, backoff_base=0.5, backoff_cap=2, max_retry_after=5, connect_retries=1, read_retries=1))
        client = JiraClient(**kwargs, warn_token_expiry=False)  # its message says it (test_connection)
        try:
            return client.test_connection()
        finally:
            client.close()
