"""Airflow hook and connection type ``efecte_esm`` for the Efecte / Matrix42 ESM REST API.

Connection fields:

* **Host**: the REST base URL, e.g. ``https://esm.example.com/rest-api/itsm/v1``. A host
  without a path gets ``/rest-api/itsm/v1``; a bare host name gets ``https://``.
* **Login** / **Password**: a local ESM user allowed to use the REST API.
* Extras: ``ca_bundle`` (path of a PEM file, or the PEM text itself, for a private CA),
  ``verify`` (``false`` turns certificate checks off -- local testing only),
  ``allow_insecure_http`` (``true`` allows ``http://`` -- local simulators only),
  ``timeout`` (read timeout, seconds, default 60) and ``connect_timeout`` (default 5).

"Test" (UI, ``airflow connections test``) logs in and calls ``GET /echo/jwt``, and
reports a plain reason when that fails: bad credentials, wrong host, TLS, timeout.
"""
from __future__ import annotations

import logging
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from airflow.sdk.bases.hook import BaseHook

from ..connection_extras import ca_bundle_path, extra_bool, extra_seconds, extra_value, warn_if_unverified
from ..http import ConnectorHTTPError, RetryPolicy, redact
from ..masking import mask_secret
from .client import EsmClient

DEFAULT_API_PATH = "/rest-api/itsm/v1"

def _extra(extras: dict[str, Any], name: str) -> Any:
    return extra_value(extras, name, "efecte_esm")


def _as_bool(value: Any, name: str, default: bool) -> bool:
    return extra_bool(value, name, default, service="ESM")


def _as_float(value: Any, name: str, default: float) -> float:
    return extra_seconds(value, name, default, service="ESM")


def base_url_from_connection(host: str | None, *, schema: str | None = None, port: int | None = None) -> str:
    """The REST base URL from the connection's host (and, for a bare host name, schema/port)."""
    raw = (host or "").strip()
    if not raw:
        raise ValueError("ESM connection has no host; set it to the REST base URL, e.g. https://esm.example.com/rest-api/itsm/v1")
    if "://" not in raw:
        scheme = (schema or "").strip().lower()
        scheme = scheme if scheme in ("http", "https") else "https"
        raw = f"{scheme}://{raw}"
    parts = urlsplit(raw)
    netloc = parts.netloc
    if port and parts.port is None and parts.hostname:
        netloc = f"{netloc}:{int(port)}"
    path = parts.path.rstrip("/") or DEFAULT_API_PATH
    return urlunsplit((parts.scheme, netloc, path, parts.query, parts.fragment))


class EsmHook(BaseHook):
    """Gives an :class:`~jira_esm_connector.esm.client.EsmClient` for an ``efecte_esm`` connection."""

    conn_name_attr = "esm_conn_id"
    default_conn_name = "esm_default"
    conn_type = "efecte_esm"
    hook_name = "Efecte ESM"

    def __init__(
        self,
        esm_conn_id: str = default_conn_name,
        *,
        retry: RetryPolicy | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.esm_conn_id = esm_conn_id
        self.retry = retry
        self._client: EsmClient | None = None

    def __repr__(self) -> str:
        return f"EsmHook(esm_conn_id={self.esm_conn_id!r})"

    # -- Airflow UI --------------------------------------------------------------------------
    @classmethod
    def get_ui_field_behaviour(cls) -> dict[str, Any]:
        return {
            "hidden_fields": ["schema", "port"],
            "relabeling": {
                "host": "ESM REST base URL",
                "login": "ESM user",
                "password": "ESM password",
            },
            "placeholders": {
                "host": "https://esm.example.com/rest-api/itsm/v1",
                "login": "integration user (local ESM user)",
                "password": "the user's password",
                "extra": '{"ca_bundle": "/path/to/ca.pem", "verify": true, "allow_insecure_http": false}',
            },
        }

    # -- client ------------------------------------------------------------------------------
    def client_kwargs(self) -> dict[str, Any]:
        """The EsmClient arguments from the Airflow connection (includes the password; never log it)."""
        conn = self.get_connection(self.esm_conn_id)
        extra = conn.extra_dejson or {}
        base_url = base_url_from_connection(conn.host, schema=conn.schema, port=conn.port)
        verify: bool | str = _as_bool(_extra(extra, "verify"), "verify", True)
        ca_bundle = _extra(extra, "ca_bundle")
        if ca_bundle and verify:
            verify = ca_bundle_path(str(ca_bundle))
        return {
            "base_url": base_url,
            "username": conn.login or "",
            "password": conn.password or "",
            "verify": verify,
            "timeout": (
                _as_float(_extra(extra, "connect_timeout"), "connect_timeout", 5.0),
                _as_float(_extra(extra, "timeout"), "timeout", 60.0),
            ),
            "allow_insecure_http": _as_bool(_extra(extra, "allow_insecure_http"), "allow_insecure_http", False),
            "logger": logging.getLogger("jira_esm_connector.esm"),
            # the password and every JWT the client gets go to Airflow's log masker
            "on_secret": mask_secret,
        }

    def get_client(self) -> EsmClient:
        """A logged-out client for this connection (it logs in on first use); cached per hook."""
        if self._client is None:
            kwargs = self.client_kwargs()
            if not kwargs["username"]:
                raise ValueError(f"ESM connection '{self.esm_conn_id}' has no login (ESM user)")
            if not kwargs["password"]:
                raise ValueError(f"ESM connection '{self.esm_conn_id}' has no password")
            warn_if_unverified(kwargs["logger"], "ESM", self.esm_conn_id, kwargs["verify"])
            self._client = EsmClient(**kwargs, retry=self.retry or RetryPolicy())
        return self._client

    def get_conn(self) -> EsmClient:
        return self.get_client()

    def test_connection(self) -> tuple[bool, str]:
        """Log in and call ``GET /echo/jwt``; ``(False, plain reason)`` on failure."""
        password: str | None = None
        try:
            kwargs = self.client_kwargs()
            password = kwargs["password"]
            if not kwargs["username"] or not password:
                return False, "The ESM connection needs a login (ESM user) and a password."
            # Quick answer for the UI: short timeouts, no long retry waits.
            kwargs["timeout"] = (min(kwargs["timeout"][0], 5.0), min(kwargs["timeout"][1], 20.0))
            quick = RetryPolicy(total=1, connect_retries=0, read_retries=0, backoff_base=0.5, backoff_cap=2.0, max_retry_after=5.0)
            with EsmClient(**kwargs, retry=quick) as client:
                client.login()
                client.echo_jwt("airflow connection test")
                return True, f"Logged in to ESM at {client.base_url} as '{client.username}'; echo/jwt answered."
        except ConnectorHTTPError as exc:
            return False, redact(str(exc), [password])
        except ValueError as exc:
            return False, redact(str(exc), [password])
        except Exception as exc:  # the UI shows the text: keep it plain and secret-free
            return False, redact(f"{type(exc).__name__}: {exc}", [password])
