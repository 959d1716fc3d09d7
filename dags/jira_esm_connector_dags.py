"""Jira Cloud <-> ESM connector on Airflow: one DAG per task file in include/mappings/ (JIRA_ESM_MAPPINGS_DIR).

Broken task files are reported as import errors by jira_esm_connector_task_file_errors.py.
"""
from pathlib import Path

from jira_esm_connector.dagfactory import build_all_dags

# the task files next to this folder (dags/ and include/ are siblings); JIRA_ESM_MAPPINGS_DIR wins
TASK_FOLDER = Path(__file__).resolve().parent.parent / "include" / "mappings"

globals().update(build_all_dags(default_mappings_dir=TASK_FOLDER))
