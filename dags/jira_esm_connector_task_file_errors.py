"""Reports broken connector task files (include/mappings/*.yaml) as an Airflow import error
naming each file, key and problem; defines no DAG. The valid tasks' DAGs come from
jira_esm_connector_dags.py and are not affected.
"""
from pathlib import Path

from jira_esm_connector.dagfactory import raise_task_file_errors

# the task files next to this folder (dags/ and include/ are siblings); JIRA_ESM_MAPPINGS_DIR wins
TASK_FOLDER = Path(__file__).resolve().parent.parent / "include" / "mappings"

raise_task_file_errors(default_mappings_dir=TASK_FOLDER)
