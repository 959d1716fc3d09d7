"""The baseline of the unnamed-user check of a user import's removal (pipeline/removal.py) is a
run whose removal step ran through: not one whose refused removal an operator set to success
by hand. Real Jira and ESM simulators over HTTPS (a forwarding proxy where Jira must answer as
it does in an outage)."""
from __future__ import annotations

import copy
import json

import pytest

from jira_esm_connector.config import parse_task
from jira_esm_connector.esm import eql
from jira_esm_connector.jira import JiraClient
from jira_esm_connector.pipeline import ShrinkLimitError, diff, extract, finish, load, mark_removed, run_import, transform
from jira_esm_connector.pipeline.staging import run_dir

USERS_TASK = {
    "name": "ops_users", "kind": "scheduled", "jira_conn_id": "jira_default", "esm_conn_id": "esm_default",
    "schedule": "0 * * * *", "mode": "full", "mapping_type": "user", "template": "person", "folder": "persons",
    "key": {"jira": "accountId", "esm": "jira_account_id"},
    "attributes": {
        "email": "emailAddress",
        "display_name": "displayName",
        "accountStatus": {"from": "active", "map": {True: "Active", False: "Disabled"}, "default": "Active"},
    },
}


def make_task(base, **changes):
    data = copy.deepcopy(base)
    data.update(changes)
    return parse_task(data, f"{data['name']}.yaml")


def run_id(n) -> str:
    return f"manual__ops_{n}"


@pytest.fixture
def esm(esm_sim, esm_clients):
    esm_sim.reset()
    return esm_clients()


@pytest.fixture
def state(sqlite_state):
    return sqlite_state


@pytest.fixture
def staging(tmp_path):
    path = tmp_path / "staging"
    path.mkdir()
    return path


def persons(esm, task) -> dict:
    return {str(c.value("jira_account_id")): c
            for c in esm.iter_cards("person", filter=eql.eq("task_id", task.name))}


@pytest.fixture
def proxied_jira(jira_sim_scratch, proxy):
    client = JiraClient(proxy.url, jira_sim_scratch.email, jira_sim_scratch.token, allow_insecure_http=True)
    yield client
    client.close()


def _unnamed(account_ids: set[str]):
    """users/search as Jira answers when its directory cannot give these users (an outage):
    the contract's fallback values, account id 'unknown'."""
    def rewrite(body: bytes) -> bytes:
        users = json.loads(body)
        for user in users:
            if user.get("accountId") in account_ids:
                user.update({"accountId": "unknown", "accountType": "unknown", "active": False,
                             "displayName": "Former user", "self": ""})
                user.pop("emailAddress", None)
        return json.dumps(users).encode()
    return rewrite


def test_a_run_whose_removal_step_gave_no_result_is_not_the_unnamed_user_baseline(
    jira_sim_scratch, proxied_jira, proxy, esm, state, staging,
):
    """Jira's directory cannot name one live user (account id 'unknown'): mark_removed refuses
    (ShrinkLimitError, "more unnamed users than the last successful run"). The operator marks
    mark_removed "success" in the Airflow UI to get the run's loads through -- finish then runs
    with removed=None (the case finish already guards for the volume baseline). finish still
    records that run's unnamed_users count, which mark_removed reads as the baseline of the
    last *successful* run: the next run with the same outage passes the check and marks the
    live person Deleted (de-provisioned)."""
    sim = jira_sim_scratch
    for n in range(30):
        sim.admin("POST", "users", json={"email": f"ops.{n}@example.com", "displayName": f"Ops {n}"})
    task = make_task(USERS_TASK)
    first = run_import(task, proxied_jira, esm, state, staging, run_id(1))
    assert first["unnamed_users"] == 0
    hidden = next(a for a, c in persons(esm, task).items() if c.value("email") == "ops.3@example.com")
    proxy.rewrite_response("GET", "/rest/api/3/users/search", _unnamed({hidden}))  # the outage

    # run 2, step by step as the DAG runs it; mark_removed refuses
    path = run_dir(staging, task.name, run_id(2))
    extracted = extract(task, proxied_jira, state, path)
    transformed = transform(task, extracted, path)
    diffed = diff(task, transformed, state, path)
    loaded = load(task, diffed, esm, state)
    with pytest.raises(ShrinkLimitError):
        mark_removed(task, extracted, esm, state)
    # the operator marks mark_removed "success": Airflow hands finish removed=None
    finish(task, state, run_id(2), extracted, transformed, diffed, loaded, None, staging_root=staging)

    # the outage goes on: the same listing must still be refused, the person kept
    try:
        with pytest.raises(ShrinkLimitError):
            run_import(task, proxied_jira, esm, state, staging, run_id(3))
    finally:
        status = persons(esm, task)[hidden].value("accountStatus")
        assert status != "Deleted", (
            "a live person Jira could not name was marked Deleted: the refused run's unnamed-user count became "
            f"the baseline (recorded runs: {[r['counts'].get('unnamed_users') for r in state.recent_runs(task.name)]})")
