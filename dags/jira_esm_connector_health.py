"""Daily health check of the Jira <-> ESM connector's connections, token expiry and schedules."""
from jira_esm_connector.dagfactory.health import HEALTH_DAG_ID, build_health_dag

globals()[HEALTH_DAG_ID] = build_health_dag()
