from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import ValidationError

from jira_esm_connector.config import ConnectorSettings


def test_defaults(monkeypatch, tmp_path):
    for var in ("STATE_DB_URL", "STAGING_DIR", "CACHE_CLEAR_HOURS", "POOL", "POOL_SLOTS", "MAPPINGS_DIR"):
        monkeypatch.delenv(f"JIRA_ESM_{var}", raising=False)
    monkeypatch.setenv("AIRFLOW_HOME", str(tmp_path))
    s = ConnectorSettings()
    assert s.state_db_url == f"sqlite:///{tmp_path}/jira_esm_state.db"
    assert s.staging_dir == tmp_path / "jira_esm_staging"
    assert s.cache_clear_hours == [0]
    assert (s.pool, s.pool_slots) == ("jira_esm_connector", 6)
    # the task folder never depends on where the package is installed: the DAG files pass
    # theirs, else AIRFLOW_HOME's include/mappings
    assert s.mappings_dir is None
    assert s.task_folder(Path("/dags/../include/mappings")) == Path("/dags/../include/mappings")
    assert s.task_folder() == tmp_path / "include" / "mappings"
    assert (s.task_retries, s.retry_delay_s) == (3, 60)


def test_mappings_dir_env_wins_over_the_dag_files_folder(monkeypatch, tmp_path):
    monkeypatch.setenv("JIRA_ESM_MAPPINGS_DIR", str(tmp_path))
    assert ConnectorSettings().task_folder(Path("/elsewhere")) == tmp_path


def test_retry_settings_from_env_fall_back_to_defaults_when_not_numbers(monkeypatch):
    monkeypatch.setenv("JIRA_ESM_TASK_RETRIES", "2")
    monkeypatch.setenv("JIRA_ESM_RETRY_DELAY_S", "soon")
    s = ConnectorSettings()
    assert (s.task_retries, s.retry_delay_s) == (2, 60)


def test_env_overrides(monkeypatch):
    monkeypatch.setenv("JIRA_ESM_CACHE_CLEAR_HOURS", "6,12")
    monkeypatch.setenv("JIRA_ESM_POOL_SLOTS", "3")
    monkeypatch.setenv("JIRA_ESM_STATE_DB_URL", "postgresql+psycopg2://svc:s3cret@db/state")
    s = ConnectorSettings()
    assert s.cache_clear_hours == [6, 12] and s.pool_slots == 3
    assert "s3cret" not in repr(s)


@pytest.mark.parametrize("hours", ["25", "a,b", "6;12"])
def test_bad_clear_hours(monkeypatch, hours):
    monkeypatch.setenv("JIRA_ESM_CACHE_CLEAR_HOURS", hours)
    with pytest.raises(ValidationError):
        ConnectorSettings()


def test_index_lag_seconds(monkeypatch):
    monkeypatch.delenv("JIRA_ESM_INDEX_LAG_SECONDS", raising=False)
    assert ConnectorSettings().index_lag_seconds == 60
    monkeypatch.setenv("JIRA_ESM_INDEX_LAG_SECONDS", "120")
    assert ConnectorSettings().index_lag_seconds == 120
    monkeypatch.setenv("JIRA_ESM_INDEX_LAG_SECONDS", "-1")
    with pytest.raises(ValidationError):
        ConnectorSettings()


def test_deadline_and_lease_settings(monkeypatch):
    for var in ("TASK_TIMEOUT_MINUTES", "RUN_TIMEOUT_MINUTES", "LEASE_WAIT_SECONDS", "LEASE_TTL_SECONDS"):
        monkeypatch.delenv(f"JIRA_ESM_{var}", raising=False)
    s = ConnectorSettings()
    assert (s.task_timeout_minutes, s.run_timeout_minutes) == (60, 240)
    assert (s.lease_wait_seconds, s.lease_ttl_seconds) == (120, 60)
    monkeypatch.setenv("JIRA_ESM_TASK_TIMEOUT_MINUTES", "30")
    monkeypatch.setenv("JIRA_ESM_RUN_TIMEOUT_MINUTES", "90")
    monkeypatch.setenv("JIRA_ESM_LEASE_WAIT_SECONDS", "5")
    s = ConnectorSettings()
    assert (s.task_timeout_minutes, s.run_timeout_minutes, s.lease_wait_seconds) == (30, 90, 5)
    monkeypatch.setenv("JIRA_ESM_RUN_TIMEOUT_MINUTES", "20")
    with pytest.raises(ValidationError, match="JIRA_ESM_RUN_TIMEOUT_MINUTES \\(20\\) must be at least"):
        ConnectorSettings()


def test_staging_url_and_connection(monkeypatch):
    s = ConnectorSettings()
    assert s.staging_url is None and s.staging_conn_id is None  # the local folder staging_dir
    monkeypatch.setenv("JIRA_ESM_STAGING_URL", "s3://bucket/jira-esm-staging")
    monkeypatch.setenv("JIRA_ESM_STAGING_CONN_ID", "aws_staging")
    s = ConnectorSettings()
    assert (s.staging_url, s.staging_conn_id) == ("s3://bucket/jira-esm-staging", "aws_staging")
    monkeypatch.setenv("JIRA_ESM_STAGING_URL", " ")
    monkeypatch.setenv("JIRA_ESM_STAGING_CONN_ID", "")
    assert (ConnectorSettings().staging_url, ConnectorSettings().staging_conn_id) == (None, None)
    monkeypatch.setenv("JIRA_ESM_STAGING_URL", "/mnt/shared/staging")
    with pytest.raises(ValueError, match="JIRA_ESM_STAGING_URL '/mnt/shared/staging' is not a URL"):
        ConnectorSettings()
