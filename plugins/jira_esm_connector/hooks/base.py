"""The base of the Jira and ESM Airflow hooks: one way to read a connection.

Extras are read by plain name or by the ``extra__<conn_type>__<name>`` name older forms
used (:mod:`jira_esm_connector.connection_extras`); booleans and seconds give a plain
error naming the field; ``verify`` and ``ca_bundle`` (a path or the PEM text itself)
become the client's ``verify``. The client is made once per hook; "Test" answers
``(False, plain reason)`` with no secret in it.
"""
from __future__ import annotations

from typing import Any

from airflow.sdk.bases.hook import BaseHook

from ..connection_extras import (
    ca_bundle_path,
    check_extras_text,
    extra_bool,
    extra_seconds,
    extra_value,
    warn_if_unverified,
)
from ..http import ConnectorHTTPError, RetryPolicy, redact


class ConnectorHook(BaseHook):
    """Shared parts of :class:`~.jira.JiraCloudHook` and :class:`~.esm.EsmHook`.

    A subclass sets ``conn_name_attr``, ``conn_type``, ``service`` (``"Jira"``/``"ESM"``
    in messages) and ``secret_kwarg`` (the client argument holding the secret), and
    implements :meth:`client_kwargs`, :meth:`_new_client` and :meth:`_test`.
    """

    conn_name_attr = "conn_id"
    conn_type = ""
    service = "service"
    secret_kwarg = "password"

    def __init__(self, conn_id: str, *, retry: RetryPolicy | None = None, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        setattr(self, self.conn_name_attr, conn_id)
        self.retry = retry
        self._client: Any = None

    @property
    def conn_id(self) -> str:
        return getattr(self, self.conn_name_attr)

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.conn_name_attr}={self.conn_id!r})"

    # -- extras ------------------------------------------------------------------------------
    def connection_extras(self, conn: Any) -> dict[str, Any]:
        """The connection's extra fields; a plain error when they are not a JSON object
        (Airflow would read them as none at all)."""
        check_extras_text(conn.extra, service=self.service, conn_id=self.conn_id)
        extras = conn.extra_dejson
        return extras if isinstance(extras, dict) else {}

    def extra(self, extras: dict[str, Any], name: str) -> Any:
        return extra_value(extras, name, self.conn_type)

    def extra_bool(self, extras: dict[str, Any], name: str, default: bool) -> bool:
        return extra_bool(self.extra(extras, name), name, default, service=self.service)

    def extra_seconds(self, extras: dict[str, Any], name: str, default: float) -> float:
        return extra_seconds(self.extra(extras, name), name, default, service=self.service)

    def tls_verify(self, extras: dict[str, Any]) -> bool | str:
        """``verify`` (default on) and ``ca_bundle`` (a path, or the PEM text written to a private file)."""
        verify: bool | str = self.extra_bool(extras, "verify", True)
        ca_bundle = self.extra(extras, "ca_bundle")
        if ca_bundle and verify is not False:
            verify = ca_bundle_path(str(ca_bundle))
        return verify

    # -- client ------------------------------------------------------------------------------
    def client_kwargs(self) -> dict[str, Any]:
        """The client's arguments from the Airflow connection (include the secret: never log them)."""
        raise NotImplementedError

    def _new_client(self, kwargs: dict[str, Any]) -> Any:
        raise NotImplementedError

    def _require_credentials(self, kwargs: dict[str, Any]) -> None:
        """Raise a plain error when the connection lacks a login or secret (default: the client does)."""

    def get_client(self) -> Any:
        """The client for this connection (one per hook; its session is reused)."""
        if self._client is None:
            kwargs = self.client_kwargs()
            self._require_credentials(kwargs)
            warn_if_unverified(kwargs["logger"], self.service, self.conn_id, kwargs["verify"])
            self._client = self._new_client(kwargs)
        return self._client

    def get_conn(self) -> Any:
        return self.get_client()

    # -- connection test ---------------------------------------------------------------------
    def _test(self, kwargs: dict[str, Any]) -> tuple[bool, str]:
        raise NotImplementedError

    def _failure_text(self, exc: Exception) -> str:
        return f"{type(exc).__name__}: {exc}"

    def test_connection(self) -> tuple[bool, str]:
        """``(True, what answered)`` or ``(False, plain reason)``; never raises, never shows the secret."""
        secrets: list[str | None] = []
        try:
            kwargs = self.client_kwargs()
            secrets.append(kwargs[self.secret_kwarg])
            return self._test(kwargs)
        except ConnectorHTTPError as exc:
            return False, redact(str(exc), secrets)
        except Exception as exc:  # bad extras, unknown connection, ...: still a plain answer
            return False, redact(self._failure_text(exc), secrets)
