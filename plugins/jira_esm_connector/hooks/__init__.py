"""Airflow hooks for the connector's connection types (the only Airflow imports of the clients).

* :mod:`.base` -- :class:`~.base.ConnectorHook`: extras (plain or ``extra__<type>__`` names),
  booleans, seconds, TLS verify and CA bundle (a path or the PEM text), the cached client,
  and a plain-worded connection test.
* :mod:`.jira` -- :class:`~.jira.JiraCloudHook` (``jira_cloud``) gives a
  :class:`~jira_esm_connector.jira.JiraClient`.
* :mod:`.esm` -- :class:`~.esm.EsmHook` (``efecte_esm``) gives an
  :class:`~jira_esm_connector.esm.EsmClient`.

The clients under ``jira/`` and ``esm/`` import nothing from Airflow; ``provider.py``
names these classes by dotted path. Nothing is imported here, so importing the package
does not import Airflow.
"""
