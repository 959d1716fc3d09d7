"""Import DAGs built from task files: shape, parse-time behaviour, import errors for broken
files, and whole runs with ``dag.test`` against the simulators."""
from __future__ import annotations

from pathlib import Path

import pytest

from jira_esm_connector.dagfactory import build_all_dags, load_tasks, task_file_errors
from jira_esm_connector.esm import EsmClient, eql
from jira_esm_connector.state import StateStore

from tests.fixtures.examples import EXAMPLES, IMPORT_EXAMPLES, REPO_ROOT
from tests.fixtures.examples import copy_import_examples as _copy_examples

BROKEN = """\
name: broken_import
kind: scheduled
jira_conn_id: jira_default
esm_conn_id: esm_default
schedule: "@hourly"
mode: ful
mapping_type: user
template: person
folder: persons
key: {jira: accountId, esm: jira_account_id}
attributes: {email: emailAddress}
"""


def _esm(esm_sim) -> EsmClient:
    return EsmClient(esm_sim.base_url, esm_sim.username, esm_sim.password, verify=esm_sim.ca_pem)


def _result(dag_run, task_id: str):
    """The XCom return value of one task of a finished run (the run's result for the last task)."""
    from airflow.models.xcom import XComModel
    from airflow.utils.session import create_session

    with create_session() as session:
        row = session.execute(
            XComModel.get_many(run_id=dag_run.run_id, dag_ids=dag_run.dag_id, task_ids=task_id, key="return_value")
            .with_only_columns(XComModel.value)
        ).first()
    return XComModel.deserialize_value(row) if row is not None else None


def _states(dag_run) -> dict[str, str]:
    return {ti.task_id: str(ti.state) for ti in dag_run.get_task_instances()}


# --------------------------------------------------------------------------- shape


def test_every_example_import_becomes_a_dag_with_the_spec_shape():
    dags = build_all_dags(EXAMPLES)
    imports = {n: d for n, d in dags.items() if "import" in d.tags}
    assert set(imports) == {"jira_users_to_persons", "jira_groups_to_groups", "jira_issues_to_incidents", "jira_comments_to_worklog"}
    for name, dag in imports.items():
        full = name in ("jira_users_to_persons", "jira_groups_to_groups")
        ids = [t.task_id for t in dag.tasks]
        assert ids == ["extract", "transform", "diff", "load"] + (["mark_removed"] if full else []) + ["finish"]
        assert dag.task_dict["transform"].upstream_task_ids == {"extract"}
        assert dag.task_dict["load"].upstream_task_ids >= {"diff"}
        assert dag.task_dict["finish"].downstream_task_ids == set()  # the run's result
        assert dag.task_dict["finish"].upstream_task_ids >= {"load"} | ({"mark_removed"} if full else set())
        assert dag.max_active_runs == 1 and dag.catchup is False
        for t in dag.tasks:
            assert t.pool == "jira_esm_connector"
            assert t.retries == 3 and t.retry_exponential_backoff
        assert {"import", f"mapping:{dag.tags and next(t for t in dag.tags if t.startswith('mapping:'))[8:]}"} <= set(dag.tags)
        assert "clear_cache" in dag.params
        assert ("allow_mass_removal" in dag.params) == full
        assert ("allow_shrink" in dag.params) == full
        # group imports listing members: the membership safety limit's override (pipeline/memberships.py)
        assert ("allow_member_removal" in dag.params) == ("mapping:group" in dag.tags)
    doc = imports["jira_issues_to_incidents"].doc_md
    for text in ("project in (SUP, OPS)", "incremental", "30 * * * *", "`incident`", "fields.summary", "→ person by jira_account_id"):
        assert text in doc
    assert "mapping:user" in imports["jira_users_to_persons"].tags


def test_parsing_does_no_network_or_database_io(no_io_at_parse_time, monkeypatch, tmp_path):
    monkeypatch.setenv("JIRA_ESM_STAGING_DIR", str(tmp_path / "staging"))
    dags = build_all_dags(EXAMPLES)
    assert "jira_issues_to_incidents" in dags
    assert not no_io_at_parse_time.exists()


def test_scheduling_table_warning_reaches_the_dag_docs(monkeypatch, tmp_path):
    from jira_esm_connector.pipeline.finish import status_file

    monkeypatch.setenv("JIRA_ESM_STAGING_DIR", str(tmp_path))
    path = status_file(tmp_path, "jira_issues_to_incidents")
    path.parent.mkdir(parents=True)
    path.write_text('{"volume": 20000, "warning": "runs every 30 min ... suggested schedule: \'0 * * * *\'"}')
    doc = build_all_dags(EXAMPLES)["jira_issues_to_incidents"].doc_md
    assert "Scheduling warning" in doc and "suggested schedule" in doc and "20,000 records" in doc


def test_broken_task_file_is_an_import_error_naming_file_and_key_others_still_load(monkeypatch, tmp_path):
    from airflow.dag_processing.dagbag import DagBag

    mappings = tmp_path / "mappings"
    mappings.mkdir()
    _copy_examples(mappings, "users")
    (mappings / "broken_users.yaml").write_text(BROKEN)
    (mappings / "not_yaml.yaml").write_text("name: [unclosed\n")
    monkeypatch.setenv("JIRA_ESM_MAPPINGS_DIR", str(mappings))
    monkeypatch.setenv("JIRA_ESM_STAGING_DIR", str(tmp_path / "staging"))

    bag = DagBag(dag_folder=str(REPO_ROOT / "dags"))

    assert "jira_users_to_persons" in bag.dag_ids
    assert "broken_import" not in bag.dag_ids
    errors = {Path(k).name: v for k, v in bag.import_errors.items()}
    assert set(errors) == {"jira_esm_connector_task_file_errors.py"}
    text = errors["jira_esm_connector_task_file_errors.py"]
    assert "broken_users.yaml: key 'mode': must be 'full' or 'incremental'" in text
    assert "not_yaml.yaml: line" in text
    assert task_file_errors(mappings) and len(task_file_errors(mappings)) == 2


def test_all_good_task_files_give_no_import_error(monkeypatch, tmp_path):
    from airflow.dag_processing.dagbag import DagBag

    monkeypatch.setenv("JIRA_ESM_MAPPINGS_DIR", str(EXAMPLES))
    monkeypatch.setenv("JIRA_ESM_STAGING_DIR", str(tmp_path / "staging"))
    bag = DagBag(dag_folder=str(REPO_ROOT / "dags"))
    assert bag.import_errors == {}
    assert {"jira_users_to_persons", "jira_issues_to_incidents"} <= set(bag.dag_ids)


# --------------------------------------------------------------------------- whole runs


def test_full_user_import_dag_run_creates_persons_and_returns_the_counts(airflow_db, connector_env, esm_sim, jira_sim):
    _copy_examples(connector_env, "users")
    dag = build_all_dags()["jira_users_to_persons"]

    run = dag.test()

    assert str(run.state) == "success", _states(run)
    summary = _result(run, "finish")
    esm = _esm(esm_sim)
    persons = list(esm.iter_cards("person", filter=eql.eq("task_id", "jira_users_to_persons")))
    assert summary["created"] == summary["fetched"] == len(persons) > 0
    assert summary["summary"].startswith("Import 'jira_users_to_persons' finished: fetched")
    assert set(_result(run, "extract")) >= {"dataset", "fetched", "pages"}  # XCom: references and counts only
    esm.close()


def test_incremental_dag_reruns_with_clear_cache_param_push_everything(airflow_db, connector_env, esm_sim, tmp_path):
    _copy_examples(connector_env, "users", "issues")
    dags = build_all_dags()
    assert str(dags["jira_users_to_persons"].test().state) == "success"
    first = dags["jira_issues_to_incidents"].test()
    assert str(first.state) == "success", _states(first)
    created = _result(first, "load")["created"]
    state = StateStore(f"sqlite:///{tmp_path}/state.db")
    mark = state.get_watermark("jira_issues_to_incidents")

    quiet = dags["jira_issues_to_incidents"].test()
    cleared = dags["jira_issues_to_incidents"].test(run_conf={"clear_cache": True})

    assert _result(quiet, "load")["updated"] == 0
    result = _result(cleared, "finish")
    assert result["cache_cleared"] and result["updated"] == result["fetched"] > 0 and created > 0
    assert state.get_watermark("jira_issues_to_incidents") == mark
    # reporter references resolved to the person cards of the user import
    esm = _esm(esm_sim)
    card = next(esm.iter_cards("incident", filter=eql.eq("task_id", "jira_issues_to_incidents")))
    assert card.values("reporter") and "dataCardId" in card.values("reporter")[0]
    esm.close()
    state.dispose()


def test_dag_run_with_a_failing_expectation_fails_before_load(airflow_db, connector_env, esm_sim):
    text = (EXAMPLES / "import_1_users_to_persons.yaml").read_text().replace(
        "value_set: [Active, Disabled]", "value_set: [Disabled]"
    )
    (connector_env / "users.yaml").write_text(text)
    dag = build_all_dags()["jira_users_to_persons"]

    run = dag.test()

    states = _states(run)
    assert str(run.state) == "failed"
    assert states["transform"] == "failed" and states["load"] == "upstream_failed", states
    assert list(_esm(esm_sim).iter_cards("person")) == []


def test_safety_limit_param_override_through_run_conf(airflow_db, connector_env, esm_sim, jira_sim):
    _copy_examples(connector_env, "users")
    dag = build_all_dags()["jira_users_to_persons"]
    assert str(dag.test().state) == "success"
    users = jira_sim.session().get(f"{jira_sim.base_url}/rest/api/3/users/search", params={"maxResults": 1000}).json()
    for user in users[: len(users) // 2 + 2]:
        jira_sim.admin("DELETE", f"users/{user['accountId']}")

    refused = dag.test()
    assert str(refused.state) == "failed" and _states(refused)["mark_removed"] == "failed"
    # more than half the users gone is also a fetch far smaller than the last run's: both
    # safety limits trip, and both overrides are needed
    allowed = dag.test(run_conf={"allow_mass_removal": True, "allow_shrink": True})
    assert str(allowed.state) == "success"
    assert _result(allowed, "mark_removed")["marked_removed"] == len(users) // 2 + 2


def test_a_connection_a_retry_cannot_fix_fails_the_step_at_once(airflow_db, connector_env, monkeypatch):
    # an http:// Jira host without the opt-in is refused when the client is built: a
    # retry meets the same connection, so the step fails without Airflow's retries
    from devtools.airflow_standalone import connection_json

    _copy_examples(connector_env, "users")
    monkeypatch.setenv("AIRFLOW_CONN_JIRA_DEFAULT", connection_json(
        "jira_cloud", "http://jira.example.test", "svc@example.test", "token", allow_insecure_http=False,
    ))
    monkeypatch.setenv("JIRA_ESM_TASK_RETRIES", "2")
    monkeypatch.setenv("JIRA_ESM_RETRY_DELAY_S", "0")
    dag = build_all_dags()["jira_users_to_persons"]

    run = dag.test()

    assert str(run.state) == "failed"
    extract = next(ti for ti in run.get_task_instances() if ti.task_id == "extract")
    assert str(extract.state) == "failed" and extract.try_number == 1


def test_a_run_conf_key_the_import_does_not_take_fails_the_run_naming_it(airflow_db, connector_env, esm_sim):
    # Airflow lets undeclared conf keys through: a misspelt clear_cache must not be ignored
    from airflow.sdk.exceptions import AirflowFailException

    _copy_examples(connector_env, "users", "issues")
    dags = build_all_dags()

    run = dags["jira_users_to_persons"].test(run_conf={"clear_cach": True})

    assert str(run.state) == "failed" and _states(run)["extract"] == "failed"
    assert list(_esm(esm_sim).iter_cards("person")) == []
    from jira_esm_connector.dagfactory.imports import _check_run_conf

    incremental = load_tasks()[1].tasks["jira_issues_to_incidents"]
    with pytest.raises(AirflowFailException, match=r"does not take: allow_mass_removal \(it takes: clear_cache\)"):
        _check_run_conf(incremental, {"clear_cache": True, "allow_mass_removal": True})
    _check_run_conf(incremental, {"clear_cache": True})
    _check_run_conf(incremental, None)


def test_import_dags_still_build_when_the_event_dag_module_is_missing(monkeypatch):
    import sys

    monkeypatch.setitem(sys.modules, "jira_esm_connector.dagfactory.events", None)  # import -> ImportError
    dags = build_all_dags(EXAMPLES)
    assert {"jira_users_to_persons", "jira_issues_to_incidents"} <= set(dags)
    assert all("import" in d.tags for d in dags.values())
    assert task_file_errors(EXAMPLES) == []
