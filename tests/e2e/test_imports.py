"""Scheduled imports end to end: a real `airflow standalone` (scheduler, DAG processor, API
server) wired to the simulators parses the project's DAG files over include/mappings/; an
import is triggered through the REST API, like an operator's "run now", and ESM is checked.
"""
from __future__ import annotations

import pytest

from jira_esm_connector.esm import EsmClient, eql
from jira_esm_connector.jira import JiraClient

pytestmark = pytest.mark.airflow_e2e

IMPORTS = ("jira_users_to_persons", "jira_groups_to_groups", "jira_issues_to_incidents", "jira_comments_to_worklog")


def _stop(airflow, dag_id: str) -> None:
    """Pause a DAG and end its active runs (a paused DAG's runs would otherwise wait forever)."""
    airflow.api("PATCH", f"/dags/{dag_id}", json={"is_paused": True})
    for state in ("running", "queued"):
        runs = airflow.api("GET", f"/dags/{dag_id}/dagRuns", params={"state": state}).json().get("dag_runs", [])
        for run in runs:
            airflow.api("PATCH", f"/dags/{dag_id}/dagRuns/{run['dag_run_id']}", json={"state": "failed"})


@pytest.fixture
def quiet_imports(airflow_e2e):
    """The example imports are unpaused in the test Airflow (cron schedules are off, but a
    finished import's Asset starts its followers): keep the other imports from running
    alongside, and afterwards stop all of them, so later tests in the session see no
    background writes to the simulators."""
    for dag_id in IMPORTS:
        airflow_e2e.wait_for_dag(dag_id, timeout=180)
    for dag_id in IMPORTS[1:]:
        _stop(airflow_e2e, dag_id)
    yield airflow_e2e
    for dag_id in IMPORTS:
        _stop(airflow_e2e, dag_id)


def _run(airflow, dag_id: str, conf: dict | None = None) -> tuple[dict, dict]:
    resp = airflow.trigger(dag_id, conf or {})
    assert resp.status_code == 200, resp.text
    run = airflow.wait_for_run(dag_id, resp.json()["dag_run_id"], timeout=300)
    return run, airflow.last_task_result(dag_id, run["dag_run_id"])


@pytest.mark.timeout(900)  # includes starting airflow standalone on a busy 2-core machine
def test_import_triggered_through_the_rest_api_fills_esm(quiet_imports, jira_sim, esm_sim):
    airflow_e2e = quiet_imports
    for dag_id in IMPORTS:
        details = airflow_e2e.wait_for_dag(dag_id, timeout=180)
        assert details["max_active_runs"] == 1
        assert "import" in [t["name"] for t in details["tags"]]
    errors = airflow_e2e.api("GET", "/importErrors").json()
    assert errors["total_entries"] == 0, errors

    run, result = _run(airflow_e2e, "jira_users_to_persons", {"clear_cache": True})

    assert run["state"] == "success", run
    jira = JiraClient(jira_sim.base_url, jira_sim.email, jira_sim.token, verify=jira_sim.ca_pem)
    esm = EsmClient(esm_sim.base_url, esm_sim.username, esm_sim.password, verify=esm_sim.ca_pem)
    try:
        users = {u["accountId"]: u for u in jira.iter_users()}
        cards = {
            c.value("jira_account_id"): c
            for c in esm.iter_cards("person", filter=eql.eq("task_id", "jira_users_to_persons"))
        }
        assert set(users) <= set(cards)
        sample = next(iter(users.values()))
        assert cards[sample["accountId"]].value("display_name") == sample["displayName"]
        assert result["fetched"] == len(users) and result["refused"] == 0
        assert result["created"] + result["updated"] == result["fetched"]  # clear_cache: everything pushed
        assert result["summary"].startswith("Import 'jira_users_to_persons' finished")
        # the task log carries the one-line summary (what an operator reads in the UI)
        log = airflow_e2e.api(
            "GET", f"/dags/jira_users_to_persons/dagRuns/{run['dag_run_id']}/taskInstances/finish/logs/1",
            params={"full_content": "true"},
        )
        assert log.status_code == 200, log.text
        assert "Import 'jira_users_to_persons' finished: fetched" in log.text
        assert jira_sim.token not in log.text and esm_sim.password not in log.text

        # a second run right after writes nothing: its counts say so
        run, again = _run(airflow_e2e, "jira_users_to_persons")
        assert run["state"] == "success"
        assert again["created"] == again["updated"] == 0 and again["unchanged"] == again["fetched"]
    finally:
        jira.close()
        esm.close()
