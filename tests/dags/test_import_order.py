"""Imports in dependency order, the Airflow way: each import's ``finish`` updates its Asset
``esm://<template>/<task>`` when (and only when) the run succeeded, and a task file's
``after`` schedules its DAG on the Assets of the imports it follows."""
from __future__ import annotations

import shutil

from airflow.sdk import Asset, AssetAll, AssetOrTimeSchedule

from jira_esm_connector.dagfactory import build_all_dags, task_file_errors
from jira_esm_connector.dagfactory.common import ASSET_GROUP, import_asset_uri

from .test_import_dags import EXAMPLES, IMPORT_EXAMPLES, _result, _states

USERS, GROUPS = "jira_users_to_persons", "jira_groups_to_groups"
ISSUES, COMMENTS = "jira_issues_to_incidents", "jira_comments_to_worklog"
USERS_URI = "esm://person/jira_users_to_persons"


def _asset(template: str, task: str) -> Asset:
    uri = f"esm://{template}/{task}"
    return Asset(name=uri, uri=uri, group=ASSET_GROUP, extra={"template": template, "task": task})


# --------------------------------------------------------------------------- shape


def test_every_import_updates_its_asset_from_finish_only():
    dags = build_all_dags(EXAMPLES)
    templates = {USERS: "person", GROUPS: "group", ISSUES: "incident", COMMENTS: "incident"}
    for name, template in templates.items():
        dag = dags[name]
        with_outlets = {t.task_id: list(t.outlets) for t in dag.tasks if t.outlets}
        assert with_outlets == {"finish": [_asset(template, name)]}, with_outlets


def test_the_example_chain_users_then_groups_and_issues_then_comments():
    dags = build_all_dags(EXAMPLES)

    users = dags[USERS]
    assert users.timetable.expression == "0 * * * *"  # the head keeps its plain cron
    # no clock of their own: the assets of the imports they follow
    assert dags[GROUPS].timetable.asset_condition == AssetAll(_asset("person", USERS))
    assert dags[COMMENTS].timetable.asset_condition == AssetAll(_asset("incident", ISSUES))
    # a clock and an `after`: either one starts a run
    issues = dags[ISSUES].timetable
    assert isinstance(issues, AssetOrTimeSchedule)
    assert issues.asset_condition == AssetAll(_asset("person", USERS))
    assert issues.timetable.expression == "30 * * * *" and str(issues.timetable.timezone) == str(users.timetable.timezone) == "UTC"
    assert "after `jira_users_to_persons`" in dags[ISSUES].doc_md and "also at `30 * * * *`" in dags[ISSUES].doc_md
    assert "`esm://incident/jira_comments_to_worklog`" in dags[COMMENTS].doc_md


def test_after_several_imports_waits_for_all_of_them(tmp_path):
    for path in IMPORT_EXAMPLES:
        shutil.copy(path, tmp_path / path.name)
    comments = tmp_path / "import_4_comments_to_worklog.yaml"
    comments.write_text(comments.read_text().replace(
        "after: [jira_issues_to_incidents]", "after: [jira_issues_to_incidents, jira_groups_to_groups]"))

    dag = build_all_dags(tmp_path)[COMMENTS]

    assert dag.timetable.asset_condition == AssetAll(_asset("incident", ISSUES), _asset("group", GROUPS))


def test_asset_uris_are_valid_for_any_template_name():
    class Task:
        template = "Incident card/ä"
        name = "imports.v2"

    assert import_asset_uri(Task) == "esm://Incident%20card%2F%C3%A4/imports.v2"


def test_an_after_naming_a_missing_task_is_an_import_error_and_the_others_keep_their_dags(tmp_path):
    shutil.copy(EXAMPLES / "import_1_users_to_persons.yaml", tmp_path)
    shutil.copy(EXAMPLES / "import_4_comments_to_worklog.yaml", tmp_path)  # its issue import is missing

    assert set(build_all_dags(tmp_path)) == {USERS}
    [problem] = task_file_errors(tmp_path)
    assert problem.startswith(
        "import_4_comments_to_worklog.yaml: key 'after[0]': there is no import task named 'jira_issues_to_incidents'"
    )


def test_a_task_after_one_whose_dag_cannot_be_built_is_refused_too(tmp_path, monkeypatch):
    # the users file loads, but its DAG cannot be built (a step deadline longer than the
    # global run deadline): its followers must not wait for an asset nothing will update
    for path in IMPORT_EXAMPLES:
        shutil.copy(path, tmp_path / path.name)
    users = tmp_path / "import_1_users_to_persons.yaml"
    users.write_text(users.read_text() + "\ntimeouts: {task_minutes: 300}\n")
    monkeypatch.delenv("JIRA_ESM_RUN_TIMEOUT_MINUTES", raising=False)

    assert set(build_all_dags(tmp_path)) == set()  # groups and issues after users, comments after issues
    problems = task_file_errors(tmp_path)
    assert problems[0].startswith("import_1_users_to_persons.yaml: the DAG could not be built")
    assert any(p.startswith("import_2_groups_to_groups.yaml: key 'after[0]': 'jira_users_to_persons' "
                            "(import_1_users_to_persons.yaml) has a problem of its own") for p in problems)
    assert any(p.startswith("import_4_comments_to_worklog.yaml: key 'after[0]': 'jira_issues_to_incidents'") for p in problems)
    assert len(problems) == 4


def _stored(dag):
    """The DAG as the DAG processor stores it and the scheduler reads it."""
    from airflow.serialization.serialized_objects import DagSerialization

    return DagSerialization.deserialize_dag(DagSerialization.serialize_dag(dag))


def _uris(condition) -> set[str]:
    return {asset.uri for _key, asset in condition.iter_assets()}


def test_the_scheduler_sees_the_asset_schedules(tmp_path):
    dags = build_all_dags(EXAMPLES)
    users, groups, issues, comments = (_stored(dags[n]).timetable for n in (USERS, GROUPS, ISSUES, COMMENTS))
    assert (type(users).__name__, users.summary) == ("CronTriggerTimetable", "0 * * * *")
    assert (type(groups).__name__, _uris(groups.asset_condition)) == (
        "AssetTriggeredTimetable", {"esm://person/jira_users_to_persons"})
    assert (type(issues).__name__, issues.summary, _uris(issues.asset_condition)) == (
        "AssetOrTimeSchedule", "Asset or 30 * * * *", {"esm://person/jira_users_to_persons"})
    assert _uris(comments.asset_condition) == {"esm://incident/jira_issues_to_incidents"}
    # several names: all of them (not any one) must have been updated
    for path in IMPORT_EXAMPLES:
        shutil.copy(path, tmp_path / path.name)
    file = tmp_path / "import_4_comments_to_worklog.yaml"
    file.write_text(file.read_text().replace("after: [jira_issues_to_incidents]", "after: [jira_issues_to_incidents, jira_groups_to_groups]"))
    both = _stored(build_all_dags(tmp_path)[COMMENTS]).timetable.asset_condition
    assert type(both).__name__ == "SerializedAssetAll"
    assert _uris(both) == {"esm://incident/jira_issues_to_incidents", "esm://group/jira_groups_to_groups"}


# --------------------------------------------------------------------------- runs


def _unpause(*dag_ids: str) -> None:
    from airflow.models.dag import DagModel
    from airflow.utils.session import create_session

    with create_session() as session:
        for dag_model in session.query(DagModel).filter(DagModel.dag_id.in_(dag_ids)):
            dag_model.is_paused = False


def _asset_events(uri: str) -> list:
    from airflow.models.asset import AssetEvent, AssetModel
    from airflow.utils.session import create_session

    with create_session() as session:
        rows = session.query(AssetEvent).join(AssetModel, AssetEvent.asset_id == AssetModel.id).filter(
            AssetModel.uri == uri).order_by(AssetEvent.id).all()
        return [(row.source_run_id, dict(row.extra or {})) for row in rows]


def _dags_started_by_assets() -> set[str]:
    """The DAGs the scheduler would now start because their assets were updated."""
    from airflow.models.dag import DagModel
    from airflow.utils.session import create_session

    with create_session() as session:
        _dags, triggered = DagModel.dags_needing_dagruns(session)
        return set(triggered)


def _clear_asset_queue() -> None:
    from airflow.models.asset import AssetDagRunQueue
    from airflow.utils.session import create_session

    with create_session() as session:
        session.query(AssetDagRunQueue).delete()


def test_a_successful_import_starts_its_followers_and_a_failed_one_does_not(airflow_db, connector_env, esm_sim):
    for path in IMPORT_EXAMPLES:
        shutil.copy(path, connector_env / path.name)
    users = build_all_dags()[USERS]
    assert str(users.test().state) == "success"  # also writes every DAG of the folder to Airflow's DB
    _unpause(GROUPS, ISSUES, COMMENTS)  # paused DAGs are never started by assets
    _clear_asset_queue()
    before = _asset_events(USERS_URI)

    run = users.test()

    assert str(run.state) == "success", _states(run)
    events = _asset_events(USERS_URI)
    assert len(events) == len(before) + 1
    source_run_id, extra = events[-1]
    summary = _result(run, "finish")
    assert source_run_id == run.run_id
    assert extra == {"run_id": run.run_id, **{k: summary[k] for k in (
        "fetched", "transformed", "unchanged", "created", "updated", "already_loaded", "refused", "references_pending",
        "marked_removed")}}
    # groups and issues follow the user import; comments wait for the issue import
    assert {GROUPS, ISSUES} <= _dags_started_by_assets() and COMMENTS not in _dags_started_by_assets()

    # a failed run records no asset event and starts nothing
    _clear_asset_queue()
    broken = connector_env / "import_1_users_to_persons.yaml"
    broken.write_text(broken.read_text().replace("value_set: [Active, Disabled]", "value_set: [Disabled]"))
    failed = build_all_dags()[USERS].test()

    assert str(failed.state) == "failed" and _states(failed)["finish"] == "upstream_failed"
    assert len(_asset_events(USERS_URI)) == len(events)
    assert not {GROUPS, ISSUES, COMMENTS} & _dags_started_by_assets()
