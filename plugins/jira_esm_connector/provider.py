"""Airflow provider metadata for the connector (entry point ``apache_airflow_provider``).

Airflow reads this while it loads its configuration, so this module must import nothing
but the standard library. Connection types with their UI fields (``conn-fields``) and
field behaviour live in :data:`CONNECTION_TYPES`; add a connection type by appending a
dict to that list (the ESM connection type is added the same way).
"""
from __future__ import annotations

from typing import Any

PACKAGE_NAME = "airflow-jira-esm-connector"


def _string(label: str, description: str, **schema: Any) -> dict[str, Any]:
    return {"label": label, "description": description, "schema": {"type": ["string", "null"], **schema}}


def _boolean(label: str, description: str, default: bool) -> dict[str, Any]:
    return {"label": label, "description": description, "schema": {"type": ["boolean", "null"], "default": default}}


JIRA_CLOUD_CONNECTION: dict[str, Any] = {
    "connection-type": "jira_cloud",
    "hook-class-name": "jira_esm_connector.hooks.jira.JiraCloudHook",
    "hook-name": "Jira Cloud",
    "conn-fields": {
        # not "token_expires" (read too, from older connections): Airflow hides the value of every
        # extra whose name holds "token" -- as '***' in the connection form, and in every task
        # log line holding that date, the expiry warning's among them
        "expiry_date": _string(
            "API token expiry date",
            "YYYY-MM-DD. From 30 days before it, every use of the connection logs a warning; "
            "after it a 401 is reported as 'API token expired or revoked'.",
            format="date",
        ),
        "ca_bundle": _string(
            "CA bundle path",
            "Path to a PEM file with the certificate authority to trust (e.g. the local simulator's "
            "ca.pem). Empty: the system's trusted CAs.",
        ),
        "verify": _boolean("Verify TLS certificates", "Leave on. Turn off only for local testing.", True),
        "allow_insecure_http": _boolean(
            "Allow plain http (local testing only)",
            "Allows an http:// host, e.g. a local simulator. Never for a real Jira site.",
            False,
        ),
    },
    "ui-field-behaviour": {
        "hidden-fields": ["schema"],  # port shown: Airflow 3.3.2's Test button needs it (docs/OPERATIONS.md)
        "relabeling": {"host": "Jira site URL", "login": "E-mail", "password": "API token"},
        "placeholders": {
            "host": "https://your-site.atlassian.net",
            "port": "443 (the site URL's port is used; Airflow 3.3.2's Test button needs a value)",
            "login": "the e-mail of the account that created the API token",
            "password": "API token",
            "expiry_date": "2027-01-31",
            "ca_bundle": "/path/to/ca.pem",
        },
    },
}

EFECTE_ESM_CONNECTION: dict[str, Any] = {
    "connection-type": "efecte_esm",
    "hook-class-name": "jira_esm_connector.hooks.esm.EsmHook",
    "hook-name": "Efecte ESM",
    "conn-fields": {
        "ca_bundle": _string(
            "CA bundle path",
            "Path to a PEM file with the certificate authority to trust (e.g. the local simulator's "
            "ca.pem), or the PEM text itself. Empty: the system's trusted CAs.",
        ),
        "verify": _boolean("Verify TLS certificates", "Leave on. Turn off only for local testing.", True),
        "allow_insecure_http": _boolean(
            "Allow plain http (local testing only)",
            "Allows an http:// base URL, e.g. a local simulator. Never for a real ESM.",
            False,
        ),
    },
    "ui-field-behaviour": {
        "hidden-fields": ["schema"],  # port shown: Airflow 3.3.2's Test button needs it (docs/OPERATIONS.md)
        "relabeling": {"host": "ESM REST base URL", "login": "ESM user", "password": "ESM password"},
        "placeholders": {
            "host": "https://esm.example.com/rest-api/itsm/v1",
            "port": "443 (a port in the URL wins; Airflow 3.3.2's Test button needs a value)",
            "login": "a local ESM user allowed to use the REST API",
            "password": "the ESM user's password",
            "ca_bundle": "/path/to/ca.pem",
        },
    },
}

# One entry per connection type this distribution provides. Extend, don't replace.
CONNECTION_TYPES: list[dict[str, Any]] = [JIRA_CLOUD_CONNECTION, EFECTE_ESM_CONNECTION]


def get_provider_info() -> dict[str, Any]:
    """Provider info in the shape of a provider.yaml (see Airflow's provider_info.schema.json)."""
    return {
        "package-name": PACKAGE_NAME,
        "name": "Jira Cloud <-> ESM connector",
        "description": "Jira Cloud <-> Efecte/Matrix42 ESM connector: connection types with UI fields and Test.",
        "connection-types": [dict(c) for c in CONNECTION_TYPES],
    }
