"""Airflow hook and connection type ``efecte_esm`` for the Efecte / Matrix42 ESM REST API.

Connection fields:

* **Host**: the REST base URL, e.g. ``https://esm.example.com/rest-api/itsm/v1``. A host
  without a path gets ``/rest-api/itsm/v1``; a bare host name gets ``https://``. In a
  connection URI (``efecte-esm://user:pw@esm.example.com/efecte/rest-api/itsm/v1``) the path
  is what Airflow calls the schema, and is used as the path.
* **Login** / **Password**: a local ESM user allowed to use the REST API.
* Extras: ``ca_bundle`` (path of a PEM file, or the PEM text itself, for a private CA),
  ``verify`` (``false`` turns certificate checks off -- local testing only),
  ``allow_insecure_http`` (``true`` allows ``http://`` -- local simulators only),
  ``timeout`` (read timeout, seconds, default 60; a whole answer must arrive within 4 of
  them) and ``connect_timeout`` (default 5).

"Test" (UI, ``airflow connections test``) logs in and calls ``GET /echo/jwt``, and
reports a plain reason when that fails: bad credentials, wrong host, TLS, timeout.
"""
from __future__ import annotations

import logging
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from ..esm.client import EsmClient
from ..http import RetryPolicy
from ..masking import mask_secret
from .base import ConnectorHook

DEFAULT_API_PATH = "/rest-api/itsm/v1"


def base_url_from_connection(host: str | None, *, schema: str | None = None, port: int | None = None) -> str:
    """The REST base URL from the connection's host (and, for a bare host name, schema/port;
    a ``schema`` other than http/https is the path a connection URI named)."""
    raw = (host or "").strip()
    if not raw:
        raise ValueError("ESM connection has no host; set it to the REST base URL, e.g. https://esm.example.com/rest-api/itsm/v1")
    # ``schema`` is http/https for a bare host name; in a connection URI Airflow keeps the path there
    schema_text = (schema or "").strip()
    schema_path = "" if schema_text.lower() in ("", "http", "https") else "/" + schema_text.strip("/")
    if "://" not in raw:
        scheme = schema_text.lower()
        scheme = scheme if scheme in ("http", "https") else "https"
        raw = f"{scheme}://{raw}"
    parts = urlsplit(raw)
    try:
        written_port = parts.port
    except ValueError:
        # unreadable (e.g. user-info whose password holds '/', '?' or '#'): the client refuses
        # it without repeating it; Python's own error would quote a piece of the password
        return raw
    netloc = parts.netloc
    if port and written_port is None and parts.hostname:
        netloc = f"{netloc}:{int(port)}"
    path = parts.path.rstrip("/") or schema_path.rstrip("/") or DEFAULT_API_PATH
    return urlunsplit((parts.scheme, netloc, path, parts.query, parts.fragment))


class EsmHook(ConnectorHook):
    """Gives an :class:`~jira_esm_connector.esm.client.EsmClient` for an ``efecte_esm`` connection."""

    conn_name_attr = "esm_conn_id"
    default_conn_name = "esm_default"
    conn_type = "efecte_esm"
    hook_name = "Efecte ESM"
    service = "ESM"
    secret_kwarg = "password"

    def __init__(self, esm_conn_id: str = default_conn_name, *, retry: RetryPolicy | None = None, **kwargs: Any) -> None:
        super().__init__(esm_conn_id, retry=retry, **kwargs)

    # -- client ------------------------------------------------------------------------------
    def client_kwargs(self) -> dict[str, Any]:
        """The EsmClient arguments from the Airflow connection (includes the password; never log it)."""
        conn = self.get_connection(self.esm_conn_id)
        extra = self.connection_extras(conn)
        base_url = base_url_from_connection(conn.host, schema=conn.schema, port=conn.port)
        return {
            "base_url": base_url,
            "username": conn.login or "",
            "password": conn.password or "",
            "verify": self.tls_verify(extra),
            "timeout": (
                self.extra_seconds(extra, "connect_timeout", 5.0),
                self.extra_seconds(extra, "timeout", 60.0),
            ),
            "allow_insecure_http": self.extra_bool(extra, "allow_insecure_http", False),
            "logger": logging.getLogger("jira_esm_connector.esm"),
            # the password and every JWT the client gets go to Airflow's log masker
            "on_secret": mask_secret,
        }

    def _require_credentials(self, kwargs: dict[str, Any]) -> None:
        if not kwargs["username"]:
            raise ValueError(f"ESM connection '{self.esm_conn_id}' has no login (ESM user)")
        if not kwargs["password"]:
            raise ValueError(f"ESM connection '{self.esm_conn_id}' has no password")

    def _new_client(self, kwargs: dict[str, Any]) -> EsmClient:
        return EsmClient(**kwargs, retry=self.retry or RetryPolicy())

    def get_client(self) -> EsmClient:
        """A logged-out client for this connection (it logs in on first use); cached per hook."""
        return super().get_client()

    def _test(self, kwargs: dict[str, Any]) -> tuple[bool, str]:
        """Log in and call ``GET /echo/jwt``."""
        if not kwargs["username"] or not kwargs["password"]:
            return False, "The ESM connection needs a login (ESM user) and a password."
        # Quick answer for the UI: short timeouts, no long retry waits.
        kwargs["timeout"] = (min(kwargs["timeout"][0], 5.0), min(kwargs["timeout"][1], 20.0))
        quick = RetryPolicy(total=1, connect_retries=0, read_retries=0, backoff_base=0.5, backoff_cap=2.0, max_retry_after=5.0)
        with EsmClient(**kwargs, retry=quick) as client:
            client.login()
            client.echo_jwt("airflow connection test")
            return True, f"Logged in to ESM at {client.base_url} as '{client.username}'; echo/jwt answered."

    def _failure_text(self, exc: Exception) -> str:
        # a bad extra or a missing host is already a plain sentence
        return str(exc) if isinstance(exc, ValueError) else super()._failure_text(exc)
