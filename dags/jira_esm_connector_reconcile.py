"""Airflow DAG: on-demand reconciliation of one scheduled task's Jira records with its ESM
cards, read-only (see jira_esm_connector.pipeline.reconcile)."""
from jira_esm_connector.dagfactory.reconcile import RECONCILE_DAG_ID, build_reconcile_dag

globals()[RECONCILE_DAG_ID] = build_reconcile_dag()
