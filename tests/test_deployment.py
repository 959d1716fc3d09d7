"""The production layout in docker-compose.yaml (no Docker engine here: its structure is
checked against what SPEC §7 asks of it) and the project's two-command contract."""
from __future__ import annotations

import re

import yaml

from tests.conftest import REPO_ROOT

COMPOSE = yaml.safe_load((REPO_ROOT / "docker-compose.yaml").read_text())


def test_compose_has_every_airflow_component_and_the_backing_services():
    services = set(COMPOSE["services"])
    assert {
        "postgres", "redis", "airflow-apiserver", "airflow-scheduler", "airflow-dag-processor",
        "airflow-triggerer", "airflow-worker", "airflow-init",
    } <= services


def test_compose_runs_celery_on_postgres_and_redis_with_the_state_db_on_postgres():
    env = COMPOSE["services"]["airflow-worker"]["environment"]
    assert env["AIRFLOW__CORE__EXECUTOR"] == "CeleryExecutor"
    assert env["AIRFLOW__DATABASE__SQL_ALCHEMY_CONN"].startswith("postgresql")
    assert env["AIRFLOW__CELERY__BROKER_URL"].startswith("redis://")
    assert env["JIRA_ESM_STATE_DB_URL"].startswith("postgresql")
    # the connector's state is not Airflow's metadata database
    assert env["JIRA_ESM_STATE_DB_URL"].rsplit("/", 1)[1] != env["AIRFLOW__DATABASE__SQL_ALCHEMY_CONN"].rsplit("/", 1)[1]


def test_workers_share_the_staging_volume_and_the_pool_is_created():
    for name in ("airflow-worker", "airflow-scheduler", "airflow-dag-processor"):
        service = COMPOSE["services"][name]
        staging = service["environment"]["JIRA_ESM_STAGING_DIR"]
        assert any(v.startswith("staging:") and v.endswith(staging) for v in service["volumes"])
    init = " ".join(COMPOSE["services"]["airflow-init"]["command"])
    assert re.search(r"airflow pools set jira_esm_connector 6", init)


def test_readme_and_ci_keep_the_two_command_contract():
    readme = (REPO_ROOT / "README.md").read_text()
    assert "make demo" in readme and "make test" in readme
    ci = (REPO_ROOT / ".ci" / "run").read_text()
    assert "make test" in ci
