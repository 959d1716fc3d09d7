"""Every endpoint over real HTTPS, responses checked against the shared OpenAPI document."""
from __future__ import annotations

import requests

from .conftest import vals


def test_login_returns_bearer_jwt_in_body_and_header(esm_sim, esm_openapi):
    resp = requests.post(f"{esm_sim.base_url}/users/login", data={"login": "tester", "password": "test-pass"},
                         verify=esm_sim.ca_pem, timeout=30)
    esm_openapi.validate(resp)
    assert resp.status_code == 200
    token = resp.json()["token"]
    assert token.startswith("Bearer ey") and resp.headers["Authorization"] == token
    assert int(resp.headers["X-Token-Expires-In"]) > 0


def test_login_wrong_password_is_401_without_echoing_it(esm_sim, esm_openapi):
    resp = requests.post(f"{esm_sim.base_url}/users/login", data={"login": "tester", "password": "nope-secret"},
                         verify=esm_sim.ca_pem, timeout=30)
    esm_openapi.validate(resp)
    assert resp.status_code == 401
    assert resp.json()["code"] == 401 and "nope-secret" not in resp.text


def test_echo_and_echo_jwt(esm_api):
    resp = esm_api.get("/echo", params={"message": "hello"}, headers={"Authorization": ""})
    assert resp.status_code == 200 and resp.json()["message"] == "hello"
    assert esm_api.get("/echo/jwt", params={"message": "hi"}).json()["message"] == "hi"
    assert esm_api.get("/echo/jwt", headers={"Authorization": "Bearer not-a-jwt"}).status_code == 401


def test_templates_list_and_detail(esm_api):
    codes = {t["templateCode"] for t in esm_api.get("/dc").json()}
    assert {"incident", "person", "group"} <= codes
    group = esm_api.get("/dc/group").json()
    assert group["allowedFolders"] == [{"folderName": "Groups", "folderCode": "groups"}]
    members = group["attributes"]["members"]
    assert members["multiValue"] is True and members["type"] == "reference" and members["target"] == ["person"]
    assert "5 - Removed" in [v["value"] for v in group["attributes"]["status"]["values"]]
    person_tpl = esm_api.get("/dc/person").json()
    assert "Deleted" in [v["value"] for v in person_tpl["attributes"]["accountStatus"]["values"]]
    incident = esm_api.get("/dc/incident").json()["attributes"]
    assert incident["worklog"]["type"] == "worklog" and incident["reporter"]["target"] == ["person"]
    assert incident["updated"]["type"] == "datetime"
    assert esm_api.get("/dc/nope", validate=False).status_code == 404


def test_create_read_patch_card(esm_api):
    (pid,) = esm_api.make_persons(1)
    body = {"folderCode": "incident_management", "data": {
        "jira_key": vals("SUP-1"), "subject": vals("Printer on fire"), "status": vals("01 - New"),
        "priority": {"values": [{"code": "high"}]}, "reporter": {"values": [{"dataCardId": pid}]},
        "created": vals("2025-03-24T12:57:57+02:00"), "labels": vals("hw", "urgent"), "story_points": vals(3),
        "jira_url": {"values": [{"name": "SUP-1", "location": "https://x.atlassian.net/browse/SUP-1"}]},
    }}
    created = esm_api.post("/dc/incident/data", json=body)
    assert created.status_code == 201, created.text
    cid = created.json()["dataCard"]["dataCardId"]

    card = esm_api.get(f"/dc/incident/data/{cid}").json()
    assert card["name"] == "Printer on fire" and card["folderCode"] == "incident_management"
    data = card["data"]
    assert data["priority"]["values"] == [{"value": "2 - High", "code": "high"}]
    assert data["created"]["values"] == [{"value": "2025-03-24T10:57:57Z"}]
    assert data["reporter"]["values"][0]["dataCardId"] == pid
    assert data["reporter"]["values"][0]["templateCode"] == "person"
    assert [v["value"] for v in data["labels"]["values"]] == ["hw", "urgent"]

    patched = esm_api.patch(f"/dc/incident/data/{cid}", params={"dataCards": "true"},
                            json={"dataCardId": cid, "data": {"status": vals("02 - Solving")}})
    assert patched.status_code == 200, patched.text
    assert patched.json()["dataCard"]["data"]["status"]["values"][0]["value"] == "02 - Solving"
    only = esm_api.get(f"/dc/incident/data/{cid}", params={"selectedAttributes": "status, subject"}).json()
    assert set(only["data"]) == {"status", "subject"}
    assert only["data"]["status"]["values"][0]["value"] == "02 - Solving"
    assert only["data"]["subject"]["values"][0]["value"] == "Printer on fire"

    bad = esm_api.post("/dc/incident/data", json={"folderCode": "incident_management", "data": {"status": vals("99 - Nope")}})
    assert bad.status_code == 400 and "99 - Nope" in bad.json()["message"]


def test_delete_moves_to_trash_then_409(esm_api, esm_sim):
    (pid,) = esm_api.make_persons(1)
    first = esm_api.delete(f"/dc/person/data/{pid}")
    assert first.status_code == 200
    second = esm_api.delete(f"/dc/person/data/{pid}")
    assert second.status_code == 409 and second.json()["code"] == 409
    assert esm_api.get(f"/dc/person/data/{pid}").json()["deleted"] is True
    assert esm_api.get("/dc/person/data", params={"limit": 10}).json()["data"] == []
    assert esm_sim.admin("GET", f"cards/{pid}")["deleted"] is True
    assert esm_api.delete("/dc/person/data/999999999", validate=False).status_code == 404


def test_attribute_endpoints_and_worklog_append(esm_api, esm_sim):
    people = esm_api.make_persons(3)
    out = esm_api.bulk("group", [{"folderCode": "groups", "data": {
        "name": vals("ops"), "members": {"values": [{"dataCardId": people[0]}]}}}])
    gid = out["data"][0]["dataCard"]["dataCardId"]

    added = esm_api.post(f"/dc/group/data/{gid}/members", json={"values": [{"dataCardId": people[1]}]})
    assert added.status_code == 200
    members = esm_api.get(f"/dc/group/data/{gid}/members").json()
    assert [m["dataCardId"] for m in members["values"]] == [people[0], people[1]]
    esm_api.put(f"/dc/group/data/{gid}/members", json={"values": [{"dataCardId": people[2]}]})
    assert [m["dataCardId"] for m in esm_api.get(f"/dc/group/data/{gid}/members").json()["values"]] == [people[2]]
    assert esm_api.delete(f"/dc/group/data/{gid}/members").status_code == 200
    assert esm_api.get(f"/dc/group/data/{gid}/members").json()["values"] == []
    # single-valued attribute with a value: POST refuses
    assert esm_api.post(f"/dc/group/data/{gid}/name", json={"values": [{"value": "x"}]}).status_code == 400
    assert esm_api.get(f"/dc/group/data/{gid}/nope").status_code == 403  # documented: 403 "Resource not found"

    inc = esm_api.post("/dc/incident/data", json={"folderCode": "incident_management", "data": {
        "subject": vals("s"), "worklog": vals("First comment")}}).json()["dataCard"]["dataCardId"]
    esm_api.post(f"/dc/incident/data/{inc}/worklog", json={"values": [{"value": "Second comment"}]})
    esm_api.patch(f"/dc/incident/data/{inc}", json={"dataCardId": str(inc), "data": {"worklog": vals("Third comment")}})
    worklog = esm_api.get(f"/dc/incident/data/{inc}/worklog").json()
    assert worklog["type"] == "worklog"
    assert [w["value"] for w in worklog["values"]] == ["Third comment", "Second comment", "First comment"]
    assert all(w["author"] == "tester" and w["date"].endswith("Z") for w in worklog["values"])
    stored = esm_sim.admin("GET", f"cards/{inc}")["data"]["worklog"]
    assert len(stored) == 3


def test_stream_returns_every_card(esm_api):
    ids = esm_api.make_persons(25)
    resp = esm_api.get("/dc/person/data/stream")
    assert resp.status_code == 200
    body = resp.json()
    assert body["meta"]["count"] == 25
    assert sorted(c["dataCardId"] for c in body["data"]) == sorted(ids)
    full = esm_api.get("/dc/person/data/stream", params={"dataCards": "true", "filter": "$jira_account_id$ = 'p3'"}).json()
    assert [c["data"]["jira_account_id"]["values"][0]["value"] for c in full["data"]] == ["p3"]


def test_list_full_cards_and_limit_rules(esm_api):
    esm_api.make_persons(3)
    page = esm_api.get("/dc/person/data", params={"limit": 2, "dataCards": "true"}).json()
    assert page["meta"]["count"] == 2 and page["data"][0]["templateCode"] == "person"
    assert "next" in page["meta"]["links"]
    for bad in ({}, {"limit": 0}, {"limit": 201}, {"limit": "x"}):
        resp = esm_api.get("/dc/person/data", params=bad, validate=False)
        assert resp.status_code == 400 and "limit" in resp.json()["message"]
    sel = esm_api.get("/dc/person/data", params={"limit": 1, "selectedAttributes": "email"}).json()
    assert set(sel["data"][0]["data"]) == {"email"}


def test_the_requests_used_here_follow_the_document_too(esm_api, esm_openapi, esm_sim):
    login = requests.post(f"{esm_sim.base_url}/users/login", data={"login": "tester", "password": "test-pass"},
                          verify=esm_sim.ca_pem, timeout=30)
    esm_openapi.validate_request(login)
    (pid,) = esm_api.make_persons(1)
    created = esm_api.post("/dc/incident/data", json={"folderCode": "incident_management", "data": {
        "subject": vals("x"), "reporter": {"values": [{"dataCardId": pid}]}}})
    esm_openapi.validate_request(created)
    cid = created.json()["dataCard"]["dataCardId"]
    for resp in (
        esm_api.put("/dc/incident/data", json=[{"dataCardId": cid, "data": {"subject": vals("y")}},
                                               {"folderCode": "incident_management", "data": {"subject": vals("z")}}]),
        esm_api.get("/dc/incident/data", params={"limit": 5, "filterId": 0, "dataCards": "true",
                                                 "filter": "$subject$ = 'y'", "selectedAttributes": "subject"}),
        esm_api.post(f"/dc/incident/data/{cid}/worklog", json={"values": [{"value": "note"}]}),
        esm_api.patch(f"/dc/incident/data/{cid}", json={"dataCardId": cid, "data": {"subject": vals("w")}}),
    ):
        assert resp.status_code == 200, resp.text
        esm_openapi.validate_request(resp)


def test_the_validator_has_teeth(esm_api, esm_openapi):
    """A card whose element type is outside the document's enum must be rejected, so the
    checks above really compare against the document."""
    import json

    import pytest

    (pid,) = esm_api.make_persons(1)
    resp = esm_api.get(f"/dc/person/data/{pid}")
    body = resp.json()
    body["data"]["email"]["type"] = "datetime"
    resp._content = json.dumps(body).encode()
    with pytest.raises(Exception, match="datetime"):
        esm_openapi.validate(resp)
    del body["data"]["email"]["type"]
    body["data"]["email"]["type"] = "string"
    del body["folderCode"]
    resp._content = json.dumps(body).encode()
    with pytest.raises(Exception):
        esm_openapi.validate(resp)


def test_absurd_ids_are_plain_404_and_errors(esm_api):
    huge = "9" * 30
    assert esm_api.get(f"/dc/person/data/{huge}", validate=False).status_code == 404
    assert esm_api.get("/dc/person/data", params={"limit": 5, "filterId": huge}).status_code == 200
    out = esm_api.bulk("incident", [{"dataCardId": huge, "data": {}},
                                    {"folderCode": "incident_management", "data": {"reporter": {"values": [{"dataCardId": huge}]}}}])
    assert out["meta"]["importResult"]["notSavedDataCards"] == 2


def test_a_missing_card_template_or_attribute_answers_each_card_endpoint_as_documented(esm_api):
    """The attribute read documents no 404: a resource it cannot find is 403 "Resource not
    found". Every other card endpoint documents 404 for it. Each answer is validated."""
    card = esm_api.post("/dc/incident/data", json={"folderCode": "incident_management", "data": {
        "subject": vals("s")}}).json()["dataCard"]["dataCardId"]
    for path in ("/dc/incident/data/987654321/subject", f"/dc/incident/data/{card}/nope", f"/dc/nope/data/{card}/subject"):
        assert esm_api.get(path).status_code == 403, path
    gone = "/dc/incident/data/987654321"
    assert esm_api.get(gone).status_code == 404
    assert esm_api.patch(gone, json={"data": {"subject": vals("x")}}).status_code == 404
    assert esm_api.delete(gone).status_code == 404
    assert esm_api.put(gone + "/subject", json={"values": [{"value": "x"}]}).status_code == 404
    assert esm_api.post(gone + "/worklog", json={"values": [{"value": "x"}]}).status_code == 404
    assert esm_api.delete(gone + "/subject").status_code == 404
