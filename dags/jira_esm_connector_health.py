"""Airflow DAG: daily health check of the Jira <-> ESM connector's connections, API token
expiry and schedules (see jira_esm_connector.health)."""
from jira_esm_connector.dagfactory.health import HEALTH_DAG_ID, build_health_dag

globals()[HEALTH_DAG_ID] = build_health_dag()
