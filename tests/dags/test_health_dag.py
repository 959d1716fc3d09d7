"""The health DAG run end to end: connections tested against the simulators, and each
import's last successful run (counts, age) in its result."""
from __future__ import annotations

import shutil

from jira_esm_connector.dagfactory.health import build_health_dag
from jira_esm_connector.state import StateStore

from .test_import_dags import IMPORT_EXAMPLES, _result, _states


def test_health_dag_reports_each_imports_last_run(airflow_db, connector_env, tmp_path):
    for path in IMPORT_EXAMPLES:
        shutil.copy(path, connector_env / path.name)
    counts = {"fetched": 12, "transformed": 12, "unchanged": 5, "created": 3, "updated": 4, "refused": 0,
              "references_pending": 0, "marked_removed": 1}
    state = StateStore(f"sqlite:///{tmp_path}/state.db")
    state.record_run("jira_users_to_persons", "scheduled__2026-01-01T00:00:00+00:00", counts, volume=12)
    state.dispose()

    run = build_health_dag(connector_env).test()

    assert str(run.state) == "success", _states(run)
    report = _result(run, "check")
    runs = {r["task"]: r for r in report["last_runs"]}
    assert set(runs) == {"jira_users_to_persons", "jira_groups_to_groups", "jira_issues_to_incidents",
                         "jira_comments_to_worklog"}
    users = runs["jira_users_to_persons"]
    assert users["counts"] == counts and users["run_id"].startswith("scheduled__") and users["warning"] is None
    assert 0 <= users["age_hours"] < 1 and users["overdue_after_hours"] == 2.0
    # the others never ran: said plainly, and listed among the warnings
    assert set(report["overdue_warnings"]) == set(runs) - {"jira_users_to_persons"}
    # after issues, which run at :30 and after the hourly user import at :00: every 30 min
    assert runs["jira_comments_to_worklog"]["overdue_after_hours"] == 1.0
