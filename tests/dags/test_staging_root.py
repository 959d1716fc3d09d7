"""The import DAG with ``JIRA_ESM_STAGING_URL`` set stages through an Airflow
``ObjectStoragePath`` (here fsspec's ``memory://``, certainly not the local disk): every
step reads and writes through the store, and the run ends as with a local folder."""
from __future__ import annotations

import uuid
from pathlib import Path
from types import SimpleNamespace

import fsspec
import pytest

from jira_esm_connector.dagfactory import build_all_dags
from jira_esm_connector.dagfactory.common import staging_description, staging_root
from jira_esm_connector.esm import eql
from jira_esm_connector.pipeline.staging import RemotePath

from .test_import_dags import EXAMPLES, _copy_examples, _esm, _result, _states

MEMORY = fsspec.filesystem("memory")


@pytest.fixture
def memory_url():
    name = f"dag-staging-{uuid.uuid4().hex[:8]}"
    yield f"memory://{name}"
    try:
        MEMORY.rm(f"/{name}", recursive=True)
    except FileNotFoundError:
        pass


def test_import_dag_run_with_a_staging_url_stages_only_on_the_object_store(
    airflow_db, connector_env, esm_sim, tmp_path, monkeypatch, memory_url,
):
    monkeypatch.setenv("JIRA_ESM_STAGING_URL", memory_url)
    _copy_examples(connector_env, "users")
    dag = build_all_dags()["jira_users_to_persons"]

    run = dag.test()

    assert str(run.state) == "success", _states(run)
    for step in ("extract", "transform", "diff"):
        dataset = _result(run, step)["dataset"]
        # memory's canonical URL has the root's "/" (memory:///name/...)
        assert dataset.startswith(memory_url.replace("://", ":///") + "/jira_users_to_persons/"), dataset
        assert MEMORY.exists(f"{dataset.removeprefix('memory://')}/_pages.json")
    summary = _result(run, "finish")
    esm = _esm(esm_sim)
    persons = list(esm.iter_cards("person", filter=eql.eq("task_id", "jira_users_to_persons")))
    esm.close()
    assert summary["created"] == summary["fetched"] == len(persons) > 0
    assert not (tmp_path / "staging").exists()  # JIRA_ESM_STAGING_DIR: never used


def test_staging_root_from_the_settings():
    local = SimpleNamespace(staging_url=None, staging_conn_id=None, staging_dir=Path("/srv/staging"))
    assert staging_root(local) == Path("/srv/staging")
    shared = SimpleNamespace(staging_url="file:///mnt/shared/staging", staging_conn_id=None, staging_dir=Path("/x"))
    assert staging_root(shared) == Path("/mnt/shared/staging")  # a shared volume: the local fast path
    remote = staging_root(SimpleNamespace(staging_url="memory://bucket/staging", staging_conn_id=None, staging_dir=None))
    assert isinstance(remote, RemotePath) and str(remote) == "memory:///bucket/staging"
    described = SimpleNamespace(staging_url="s3://secret_user@bucket/staging", staging_conn_id="aws_staging")
    assert staging_description(described) == "s3://bucket/staging (connection aws_staging)"


def test_parsing_with_a_staging_url_does_no_io(no_io_at_parse_time, monkeypatch):
    monkeypatch.setenv("JIRA_ESM_STAGING_URL", "s3://bucket/staging")
    monkeypatch.setenv("JIRA_ESM_STAGING_CONN_ID", "aws_staging")
    dags = build_all_dags(EXAMPLES)
    assert "jira_issues_to_incidents" in dags and not no_io_at_parse_time.exists()
