"""Jira Cloud <-> ESM connector on Airflow: one DAG per task file in include/mappings/ (JIRA_ESM_MAPPINGS_DIR).

Broken task files are reported as import errors by jira_esm_connector_task_file_errors.py.
"""
from jira_esm_connector.dagfactory import build_all_dags

globals().update(build_all_dags())
