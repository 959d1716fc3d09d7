"""Airflow DAG: on-demand reconciliation of one scheduled task's Jira records with its ESM
cards, read-only (see jira_esm_connector.pipeline.reconcile)."""
from pathlib import Path

from jira_esm_connector.dagfactory.reconcile import RECONCILE_DAG_ID, build_reconcile_dag

# the task files next to this folder (dags/ and include/ are siblings); JIRA_ESM_MAPPINGS_DIR wins
TASK_FOLDER = Path(__file__).resolve().parent.parent / "include" / "mappings"

globals()[RECONCILE_DAG_ID] = build_reconcile_dag(default_mappings_dir=TASK_FOLDER)
