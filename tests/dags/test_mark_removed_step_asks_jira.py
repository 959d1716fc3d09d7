"""What the import DAG's steps hand
the pipeline functions must be what the in-process runner hands them -- a check the DAG leaves
out is a check production never makes."""
from __future__ import annotations

from jira_esm_connector.dagfactory import build_all_dags
from jira_esm_connector.esm import EsmClient

from tests.fixtures.airflow_e2e import connection_json
from tests.fixtures.examples import copy_import_examples

from .test_import_dags import _result, _states


def test_group_import_dag_asks_jira_before_marking_a_group_the_listing_left_out(
    airflow_db, connector_env, esm_sim, jira_sim, proxy, monkeypatch,
):
    """The group import's mark_removed step marks a group card '5 - Removed' only when Jira,
    asked for that group alone, does not have it (pipeline/removal.py ``_groups_gone_from_jira``,
    as ``run_import`` does). The DAG's step opened no Jira client for group imports, so the
    question was never asked: a live group that one run's group/bulk listing left out (its
    total consistent, within the shrink and share limits) was marked removed -- every member
    de-provisioned -- on the strength of that listing alone."""
    monkeypatch.setenv("AIRFLOW_CONN_JIRA_DEFAULT", connection_json(
        "jira_cloud", proxy.url, jira_sim.email, jira_sim.token))
    for n in range(6):  # one group of 14 left out is under the shrink limit (10 %)
        jira_sim.admin("POST", "groups", json={"name": f"listed team {n:02d}"})
    copy_import_examples(connector_env, "users", "groups")
    dags = build_all_dags()
    assert str(dags["jira_users_to_persons"].test().state) == "success"
    first = dags["jira_groups_to_groups"].test()
    assert str(first.state) == "success", _states(first)
    fetched = _result(first, "finish")["fetched"]
    assert fetched >= 11
    listed = jira_sim.session().get(f"{jira_sim.base_url}/rest/api/3/group/bulk",
                                    params={"maxResults": 1000}).json()["values"]
    lost = sorted(g["groupId"] for g in listed)[-1]

    proxy.leave_group_out_of_listing(lost)
    try:
        second = dags["jira_groups_to_groups"].test()
    finally:
        proxy.rewrite_response("GET", "/rest/api/3/group/bulk", None)

    assert str(second.state) == "success", _states(second)
    esm = EsmClient(esm_sim.base_url, esm_sim.username, esm_sim.password, verify=esm_sim.ca_pem)
    try:
        removed = [c.value("jira_group_id") for c in esm.iter_cards("group") if c.value("status") == "5 - Removed"]
    finally:
        esm.close()
    assert _result(second, "mark_removed")["marked_removed"] == 0 and not removed, (
        f"a live Jira group the listing left out was marked removed: {removed}")
