"""Reports broken connector task files (include/mappings/*.yaml) as an Airflow import error
naming each file, key and problem; defines no DAG. The valid tasks' DAGs come from
jira_esm_connector_dags.py and are not affected.
"""
from jira_esm_connector.dagfactory import raise_task_file_errors

raise_task_file_errors()
