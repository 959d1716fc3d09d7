"""Airflow hook for the ``jira_cloud`` connection type.

Connection fields: host = full site URL (``https://<site>.atlassian.net``), login = the
e-mail of the account that created the API token, password = the API token. Extra fields
(UI fields from ``provider.py``): ``token_expires`` (YYYY-MM-DD), ``ca_bundle`` (path or PEM text),
``verify`` (bool), ``allow_insecure_http`` (bool, local testing only), optionally
``timeout`` (read timeout, seconds).
"""
from __future__ import annotations

import base64
import logging
from typing import Any

from airflow.sdk.bases.hook import BaseHook

from ..connection_extras import ca_bundle_path, extra_bool, extra_seconds, extra_value, warn_if_unverified
from ..http import ConnectorHTTPError, RetryPolicy, redact
from ..masking import mask_secret
from .client import JiraClient

def _extra(extras: dict[str, Any], name: str) -> Any:
    return extra_value(extras, name, "jira_cloud")


def _as_bool(value: Any, default: bool, name: str) -> bool:
    return extra_bool(value, name, default, service="Jira")


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
    if port and ":" not in host:
        url += f":{port}"
    return url


class JiraCloudHook(BaseHook):
    """Gives tasks a :class:`JiraClient` for a ``jira_cloud`` connection and tests the connection."""

    conn_name_attr = "jira_conn_id"
    default_conn_name = "jira_default"
    conn_type = "jira_cloud"
    hook_name = "Jira Cloud"

    def __init__(self, jira_conn_id: str = default_conn_name, *, retry: RetryPolicy | None = None, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.jira_conn_id = jira_conn_id
        self.retry = retry
        self._client: JiraClient | None = None

    def __repr__(self) -> str:
        return f"JiraCloudHook(jira_conn_id={self.jira_conn_id!r})"

    def client_kwargs(self) -> dict[str, Any]:
        """The JiraClient arguments this connection describes (includes the token: never log it)."""
        conn = self.get_connection(self.jira_conn_id)
        extras = conn.extra_dejson or {}
        verify: bool | str = _as_bool(_extra(extras, "verify"), True, "verify")
        ca_bundle = _extra(extras, "ca_bundle")
        if ca_bundle and verify is not False:
            verify = ca_bundle_path(str(ca_bundle))
        timeout_value = _extra(extras, "timeout")
        kwargs: dict[str, Any] = {
            "base_url": site_url(conn.host, conn.port, conn.schema),
            "email": conn.login or "",
            "api_token": conn.password or "",
            "verify": verify,
            "allow_insecure_http": _as_bool(_extra(extras, "allow_insecure_http"), False, "allow_insecure_http"),
            "token_expires": _extra(extras, "token_expires"),
            "logger": logging.getLogger("jira_esm_connector.jira"),
        }
        if timeout_value is not None:
            kwargs["timeout"] = (5, extra_seconds(timeout_value, "timeout", 60.0, service="Jira"))
        if self.retry is not None:
            kwargs["retry"] = self.retry
        _mask_credentials(kwargs["email"], kwargs["api_token"])
        return kwargs

    def get_client(self) -> JiraClient:
        """A JiraClient for this connection (one per hook; its session is reused)."""
        if self._client is None:
            kwargs = self.client_kwargs()
            warn_if_unverified(kwargs["logger"], "Jira", self.jira_conn_id, kwargs["verify"])
            self._client = JiraClient(**kwargs)
        return self._client

    def get_conn(self) -> JiraClient:
        return self.get_client()

    def test_connection(self) -> tuple[bool, str]:
        """``GET /rest/api/3/myself``; ``(False, plain reason)`` on any failure."""
        secrets: list[str] = []
        try:
            kwargs = self.client_kwargs()
            secrets.append(kwargs["api_token"])
            # Quick answer for the UI: fewer retries than a task would use.
            kwargs.setdefault("retry", RetryPolicy(total=2, backoff_base=0.5, backoff_cap=2, max_retry_after=5, connect_retries=1, read_retries=1))
            client = JiraClient(**kwargs)
            try:
                return client.test_connection()
            finally:
                client.close()
        except ConnectorHTTPError as exc:
            return False, redact(str(exc), secrets)
        except Exception as exc:  # bad extras, unknown connection, ...: still a plain answer
            return False, redact(f"{type(exc).__name__}: {exc}", secrets)
