"""Airflow DAG: daily health check of the Jira <-> ESM connector's connections, API token
expiry and schedules (see jira_esm_connector.health)."""
from pathlib import Path

from jira_esm_connector.dagfactory.health import HEALTH_DAG_ID, build_health_dag

# the task files next to this folder (dags/ and include/ are siblings); JIRA_ESM_MAPPINGS_DIR wins
TASK_FOLDER = Path(__file__).resolve().parent.parent / "include" / "mappings"

globals()[HEALTH_DAG_ID] = build_health_dag(default_mappings_dir=TASK_FOLDER)
