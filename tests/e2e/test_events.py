"""Event pushes end to end: a real `airflow standalone` wired to the simulators, triggered
through the REST API with plain HTTP and with the official `apache-airflow-client`.

Shown here: a bad payload is refused at trigger time (HTTP 400 naming the field, no run
created); every operation changes the simulator as expected and returns its result as the
run's result; the same event_id twice creates one issue; write-back lands on the ESM card;
an undeclared conf key fails the run without touching Jira.
"""
from __future__ import annotations

import time
import uuid

import pytest
import requests

from jira_esm_connector.esm import EsmClient
from jira_esm_connector.jira import JiraClient
from jira_esm_connector.markers import EventRef

pytestmark = pytest.mark.airflow_e2e

EVENT_DAGS = (
    "create_jira_issue_from_incident",
    "update_jira_issue_from_incident",
    "add_jira_comment_from_incident",
    "transition_jira_issue_from_incident",
    "create_jira_user",
    "delete_jira_user",
    "create_jira_group",
    "delete_jira_group",
    "add_jira_user_to_group",
    "remove_jira_user_from_group",
)
CREATE = "create_jira_issue_from_incident"


def _id(prefix: str = "e2e") -> str:
    return f"{prefix}-{uuid.uuid4().hex[:10]}"


@pytest.fixture(scope="module")
def airflow(airflow_e2e):
    for dag_id in EVENT_DAGS:
        airflow_e2e.wait_for_dag(dag_id, timeout=180)
    return airflow_e2e


@pytest.fixture(scope="module")
def jira(jira_sim):
    client = JiraClient(jira_sim.base_url, jira_sim.email, jira_sim.token, verify=jira_sim.ca_pem)
    yield client
    client.close()


@pytest.fixture(scope="module")
def esm(esm_sim):
    client = EsmClient(esm_sim.base_url, esm_sim.username, esm_sim.password, verify=esm_sim.ca_pem)
    yield client
    client.close()


@pytest.fixture(scope="module")
def api_client(airflow):
    """The official Airflow Python client, logged in with a token from /auth/token."""
    import airflow_client.client as af

    config = af.Configuration(host=airflow.base_url, access_token=airflow.token())
    with af.ApiClient(config) as client:
        yield client


def _runs(airflow, dag_id) -> int:
    resp = airflow.api("GET", f"/dags/{dag_id}/dagRuns", params={"limit": 1})
    resp.raise_for_status()
    return resp.json()["total_entries"]


def _trigger_ok(airflow, dag_id, conf) -> str:
    """Trigger with our own run id, as an ESM workflow would: a trigger that failed with a
    5xx (airflow standalone's SQLite metadata DB is sometimes locked on a busy machine) can
    be repeated safely -- Airflow answers 409 if the run exists, and the event_id keeps
    Jira from seeing the event twice anyway."""
    run_id = f"esm__{uuid.uuid4().hex}"
    body = {"logical_date": None, "dag_run_id": run_id, "conf": conf}
    problem = "?"
    for _attempt in range(4):
        try:
            # standalone's API server waits up to 60 s for a SQLite lock on a busy machine
            resp = requests.post(
                f"{airflow.base_url}/api/v2/dags/{dag_id}/dagRuns", json=body, timeout=120,
                headers={"Authorization": f"Bearer {airflow.token()}"},
            )
        except requests.Timeout:  # a busy API server: ask again, the run id keeps it single
            problem = "timeout"
            continue
        if resp.status_code in (200, 409):
            return run_id
        assert resp.status_code >= 500, resp.text
        problem = f"{resp.status_code} {resp.text[:300]}"
        time.sleep(1)
    raise AssertionError(f"triggering {dag_id} kept failing: {problem}")


def _wait(airflow, dag_id, run_id, timeout=240) -> dict:
    """Like AirflowStandalone.wait_for_run, tolerating a slow answer from a busy API server."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            run = airflow.api("GET", f"/dags/{dag_id}/dagRuns/{run_id}").json()
        except requests.Timeout:
            continue
        if run.get("state") in ("success", "failed"):
            return run
        time.sleep(0.25)
    raise TimeoutError(f"run {run_id} of {dag_id} not finished after {timeout} s")


def _result(airflow, dag_id, run_id) -> dict:
    run = _wait(airflow, dag_id, run_id)
    assert run["state"] == "success", f"{dag_id} run {run_id} ended {run['state']}"
    return airflow.last_task_result(dag_id, run_id)


def _run(airflow, dag_id, conf) -> dict:
    return _result(airflow, dag_id, _trigger_ok(airflow, dag_id, conf))


def _issues_for(jira, dag_id, event_id):
    ref = EventRef(dag_id, event_id)
    return list(jira.search(f'labels = "{ref.label}"', fields=["summary"]))


# ---- trigger-time validation ------------------------------------------------------------------

@pytest.mark.parametrize(
    "conf, field",
    [
        ({"event_id": "x1", "datacard_id": "1"}, "subject"),  # required field missing
        ({"event_id": "x2", "datacard_id": "1", "subject": "s" * 256}, "subject"),  # too long
        ({"event_id": "x3", "datacard_id": "1", "subject": "s", "priority": "9 - Whenever"}, "priority"),  # not in enum
        ({"event_id": "x4", "datacard_id": "1", "subject": 42}, "subject"),  # wrong type
        ({"datacard_id": "1", "subject": "s"}, "event_id"),  # no event id
        ({"event_id": "x5", "datacard_id": "INC-1", "subject": "s"}, "datacard_id"),  # not a card id
        ({"event_id": "x6\nforged log line", "datacard_id": "1", "subject": "s"}, "event_id"),  # control character
    ],
)
def test_bad_payload_is_refused_with_400_naming_the_field_and_no_run(airflow, conf, field):
    before = _runs(airflow, CREATE)
    resp = airflow.trigger(CREATE, conf)
    assert resp.status_code == 400, resp.text
    assert field in resp.json()["detail"]
    assert _runs(airflow, CREATE) == before


def test_bad_payload_through_the_official_client_is_a_400_naming_the_field(airflow, api_client):
    from airflow_client.client.api.dag_run_api import DagRunApi
    from airflow_client.client.exceptions import ApiException
    from airflow_client.client.models.trigger_dag_run_post_body import TriggerDAGRunPostBody

    before = _runs(airflow, "create_jira_user")
    body = TriggerDAGRunPostBody(logical_date=None, conf={"event_id": _id(), "datacard_id": "1", "email": "not an e-mail"})
    for _attempt in range(4):  # a 5xx is standalone's busy SQLite metadata DB: ask again
        with pytest.raises(ApiException) as err:
            DagRunApi(api_client).trigger_dag_run("create_jira_user", body)
        if err.value.status < 500:
            break
        time.sleep(1)
    assert err.value.status == 400
    assert "email" in err.value.body
    assert _runs(airflow, "create_jira_user") == before


def test_params_show_the_payload_fields_for_the_trigger_form(airflow):
    details = airflow.api("GET", f"/dags/{CREATE}/details").json()
    params = details["params"]
    assert set(params) >= {"event_id", "datacard_id", "subject", "description", "priority"}
    assert params["subject"]["schema"]["maxLength"] == 255
    assert params["subject"]["description"] == "Incident subject"
    assert "2 - High" in params["priority"]["schema"]["enum"]


def test_an_undeclared_conf_key_fails_the_run_without_touching_jira(airflow, jira):
    event_id = _id("undeclared")
    run_id = _trigger_ok(airflow, CREATE, {"event_id": event_id, "datacard_id": "1", "subject": "s", "colour": "red"})
    run = _wait(airflow, CREATE, run_id, timeout=180)
    assert run["state"] == "failed"
    assert _issues_for(jira, CREATE, event_id) == []


# ---- every operation ----------------------------------------------------------------------------

def test_create_issue_twice_with_the_same_event_id_creates_one_issue_and_writes_back(airflow, jira, esm):
    card = esm.create_card("incident", {"subject": "Printer on fire"}, folder="incident_management")
    conf = {"event_id": _id("inc"), "datacard_id": card, "subject": "Printer on fire – 打印机", "priority": "2 - High",
            "description": 'Smoke. " OR project = X'}
    started = time.monotonic()
    first = _run(airflow, CREATE, conf)
    elapsed = time.monotonic() - started
    second = _run(airflow, CREATE, conf)
    assert first["replayed"] is False and second["replayed"] is True
    assert first["issue_key"] == second["issue_key"]
    assert [i["key"] for i in _issues_for(jira, CREATE, conf["event_id"])] == [first["issue_key"]]
    fields = jira.get_issue(first["issue_key"], fields=["summary", "priority", "customfield_10050"])["fields"]
    assert fields["summary"] == conf["subject"] and fields["priority"]["name"] == "High"
    assert fields["customfield_10050"] == card
    assert esm.get_card("incident", card).value("jira_key") == first["issue_key"]
    print(f"create_issue push: trigger -> success in {elapsed:.1f} s")


def test_issue_operations_via_plain_http(airflow, jira):
    created = jira.create_issue({"project": {"key": "SUP"}, "issuetype": {"name": "Task"}, "summary": "before"})
    key = created["key"]
    upd = _run(airflow, "update_jira_issue_from_incident",
               {"event_id": _id(), "issue_key": key, "subject": "after", "priority": "1 - Critical"})
    assert upd["issue_key"] == key
    com = _run(airflow, "add_jira_comment_from_incident",
               {"event_id": _id(), "issue_key": key, "text": "Soitettu käyttäjälle.", "author": "ESM"})
    tr = _run(airflow, "transition_jira_issue_from_incident",
              {"event_id": _id(), "issue_key": key, "status": "05 - Solved"})
    fields = jira.get_issue(key, fields=["summary", "priority", "status", "resolution"])["fields"]
    assert fields["summary"] == "after" and fields["priority"]["name"] == "Highest"
    assert fields["status"]["name"] == tr["status"] and fields["status"]["name"] in ("Done", "Resolved")
    comments = list(jira.iter_comments(key))
    assert [c["id"] for c in comments] == [com["comment_id"]]


def test_user_and_group_operations_via_the_official_client(airflow, api_client, jira, esm):
    from airflow_client.client.api.dag_run_api import DagRunApi
    from airflow_client.client.models.trigger_dag_run_post_body import TriggerDAGRunPostBody

    runs = DagRunApi(api_client)

    def push(dag_id, conf):
        from airflow_client.client.exceptions import ApiException

        body = TriggerDAGRunPostBody(logical_date=None, dag_run_id=f"esm__{uuid.uuid4().hex}", conf=conf)
        for _attempt in range(4):
            try:
                runs.trigger_dag_run(dag_id, body)
                break
            except ApiException as exc:  # 5xx: standalone's busy SQLite; 409: the earlier try made it
                if exc.status == 409:
                    break
                if exc.status < 500:
                    raise
                time.sleep(1)
        return _result(airflow, dag_id, body.dag_run_id)

    email = f"{_id('hire')}@example.com"
    group = _id("esm-admins")
    person = esm.create_card("person", {"email": email}, folder="persons")
    group_card = esm.create_card("group", {"name": group}, folder="groups")

    user = push("create_jira_user", {"event_id": _id(), "datacard_id": person, "email": email})
    grp = push("create_jira_group", {"event_id": _id(), "datacard_id": group_card, "name": group})
    assert jira.get_user(user["account_id"])["emailAddress"] == email
    assert jira.find_group(group)["groupId"] == grp["group_id"]
    assert esm.get_card("person", person).value("jira_account_id") == user["account_id"]
    assert esm.get_card("group", group_card).value("jira_group_id") == grp["group_id"]

    push("add_jira_user_to_group", {"event_id": _id(), "email": email, "group": group})
    assert user["account_id"] in {m["accountId"] for m in jira.iter_group_members(group_name=group)}
    push("remove_jira_user_from_group", {"event_id": _id(), "account_id": user["account_id"], "group": group})
    assert user["account_id"] not in {m["accountId"] for m in jira.iter_group_members(group_name=group)}
    push("delete_jira_group", {"event_id": _id(), "name": group})
    assert jira.find_group(group) is None
    push("delete_jira_user", {"event_id": _id(), "email": email})
    assert not [u for u in jira.find_users(email) if u.get("emailAddress") == email]


def test_jira_5xx_during_create_then_airflow_retry_ends_with_one_issue(airflow, jira, jira_sim, esm):
    """Jira answers 503 to the first try's create (a 503 does not prove Jira did not act: the
    connector looks for the issue in Jira, finds nothing, gives up transiently); Airflow
    retries the task; the retry resumes the event, checks Jira again and creates the issue
    once."""
    card = esm.create_card("incident", {"subject": "503 then retry"}, folder="incident_management")
    conf = {"event_id": _id("retry"), "datacard_id": card, "subject": "503 then retry"}
    jira_sim.admin("POST", "faults", json={"type": "status", "status": 503, "count": 1,
                                           "path": "/rest/api/3/issue", "method": "POST"})
    try:
        run_id = _trigger_ok(airflow, "create_jira_issue_from_incident", {**conf})
        run = _wait(airflow, CREATE, run_id, timeout=240)
    finally:
        jira_sim.admin("DELETE", "faults")
    tis = airflow.api("GET", f"/dags/{CREATE}/dagRuns/{run_id}/taskInstances").json()["task_instances"]
    assert tis[0]["try_number"] == 2
    assert run["state"] == "success"
    issues = _issues_for(jira, CREATE, conf["event_id"])
    assert [i["key"] for i in issues] == [airflow.last_task_result(CREATE, run_id)["issue_key"]]
    assert esm.get_card("incident", card).value("jira_key") == issues[0]["key"]
