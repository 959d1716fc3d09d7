"""Operational knobs through /_admin/: injected errors, connection resets, latency, stats."""
from __future__ import annotations

import time

import pytest
import requests

from .conftest import vals


def test_injected_errors_then_normal_again(esm_api, esm_sim):
    esm_sim.admin("POST", "errors", {"count": 2, "status": 503, "path_contains": "/dc/"})
    assert esm_api.get("/echo/jwt").status_code == 200  # path does not match: untouched
    first = esm_api.get("/dc/person/data", params={"limit": 1}, validate=False)
    second = esm_api.get("/dc/person/data", params={"limit": 1}, validate=False)
    assert first.status_code == second.status_code == 503
    assert first.headers["Retry-After"] == "1"
    assert esm_api.get("/dc/person/data", params={"limit": 1}).status_code == 200


def test_connection_reset(esm_api, esm_sim):
    esm_sim.admin("POST", "resets", {"count": 1})
    with pytest.raises(requests.ConnectionError):
        requests.get(f"{esm_sim.base_url}/echo", verify=esm_sim.ca_pem, timeout=10)
    assert requests.get(f"{esm_sim.base_url}/echo", verify=esm_sim.ca_pem, timeout=10).status_code == 200
    assert esm_sim.admin("GET", "stats")["requests"]["injected connection reset"] == 1


def test_latency(esm_api, esm_sim):
    esm_sim.admin("POST", "latency", {"seconds": 0.5})
    t0 = time.monotonic()
    esm_api.get("/echo")
    assert time.monotonic() - t0 >= 0.5
    esm_sim.admin("POST", "latency", {"seconds": 0})
    fastest = 10.0
    for _ in range(3):  # the best of three, so a busy machine does not fail the test
        t0 = time.monotonic()
        esm_api.get("/echo")
        fastest = min(fastest, time.monotonic() - t0)
    assert fastest < 0.5


def test_stats_count_requests_per_endpoint(esm_api, esm_sim):
    esm_sim.admin("POST", "stats/reset")
    for _ in range(3):
        esm_api.get("/dc/person/data", params={"limit": 1})
    esm_api.put("/dc/person/data", json=[])
    stats = esm_sim.admin("GET", "stats")
    assert stats["requests"]["GET /rest-api/itsm/v1/dc/{templateCode}/data"] == 3
    assert stats["requests"]["PUT /rest-api/itsm/v1/dc/{templateCode}/data"] == 1
    assert stats["statuses"]["200"] >= 4


def test_reset_wipes_cards_and_seed_adds_them(esm_api, esm_sim):
    out = esm_sim.admin("POST", "seed", {"seed": 7, "persons": 5, "groups": 2, "incidents": 4})
    assert out == {"persons": 5, "groups": 2, "incidents": 4}
    assert esm_sim.admin("GET", "stats")["cards"]["incident"]["active"] == 4
    group = esm_api.get("/dc/group/data", params={"limit": 1, "dataCards": "true"}).json()["data"][0]
    assert group["data"]["status"]["values"][0]["value"] == "1 - Active"
    esm_sim.reset()
    assert esm_sim.admin("GET", "stats")["cards"] == {}


def test_rate_limit_answers_429_with_retry_after(esm_api, esm_sim):
    esm_sim.admin("POST", "ratelimit", {"per_second": 0.2})  # one request per 5 s
    first = esm_api.get("/echo")
    limited = esm_api.get("/echo", validate=False)
    assert first.status_code == 200 and limited.status_code == 429
    assert 1 <= int(limited.headers["Retry-After"]) <= 5 and limited.json()["code"] == 429
    assert esm_sim.admin("GET", "stats")["requests"]["rate limited"] == 1
    esm_sim.admin("POST", "ratelimit", {"per_second": 0})
    assert esm_api.get("/echo").status_code == 200


def test_forbidden_folders_answer_every_write_with_403_as_documented(esm_api, esm_sim):
    """The read_only_folders knob: the user may read cards of a folder but not update them.
    Every write touching one answers 403 ("User is forbidden to update the resource"), a bulk
    PUT as a whole, saving nothing of it; reads are untouched. Each answer is validated."""
    def make(folder: str) -> str:
        body = {"folderCode": folder, "data": {"subject": vals(folder)}}
        return esm_api.post("/dc/incident/data", json=body).json()["dataCard"]["dataCardId"]

    archived, open_card = make("incident_archive"), make("incident_management")
    esm_sim.admin("POST", "forbidden", {"folders": ["incident_archive"]})
    try:
        card = f"/dc/incident/data/{archived}"
        new_there = {"folderCode": "incident_archive", "data": {"subject": vals("x")}}
        answers = [
            esm_api.post("/dc/incident/data", json=new_there),
            esm_api.patch(card, json={"dataCardId": archived, "data": {"subject": vals("x")}}),
            esm_api.patch(f"/dc/incident/data/{open_card}", json={"dataCardId": open_card, "folderCode": "incident_archive",
                                                                  "data": {}}),
            esm_api.put(card + "/subject", json={"values": [{"value": "x"}]}),
            esm_api.post(card + "/worklog", json={"values": [{"value": "x"}]}),
            esm_api.delete(card + "/subject"),
            esm_api.delete(card),
            esm_api.put("/dc/incident/data", json=[{"dataCardId": open_card, "data": {"subject": vals("changed")}},
                                                   {"dataCardId": archived, "data": {"subject": vals("x")}}]),
        ]
        assert [a.status_code for a in answers] == [403] * len(answers)
        assert "forbidden" in answers[0].json()["message"]
        assert esm_api.get(card).json()["data"]["subject"]["values"] == [{"value": "incident_archive"}]
        assert esm_api.get(f"/dc/incident/data/{open_card}").json()["data"]["subject"]["values"] == [
            {"value": "incident_management"}]  # the bulk saved nothing
        assert esm_api.bulk("incident", [{"dataCardId": open_card, "data": {"subject": vals("ok")}}])[
            "meta"]["importResult"]["savedDataCards"] == 1
    finally:
        esm_sim.admin("POST", "forbidden", {"folders": []})
    assert esm_api.delete(f"/dc/incident/data/{archived}").status_code == 200


def test_forbidden_attributes_answer_every_write_of_them_with_403(esm_api, esm_sim):
    body = {"folderCode": "incident_management", "data": {"subject": vals("s")}}
    card = esm_api.post("/dc/incident/data", json=body).json()["dataCard"]["dataCardId"]
    esm_sim.admin("POST", "forbidden", {"attributes": ["incident.worklog"]})
    try:
        path = f"/dc/incident/data/{card}"
        answers = [
            esm_api.post(path + "/worklog", json={"values": [{"value": "x"}]}),
            esm_api.patch(path, json={"dataCardId": card, "data": {"worklog": vals("x")}}),
            esm_api.put("/dc/incident/data", json=[{"dataCardId": card, "data": {"worklog": vals("x")}}]),
        ]
        assert [a.status_code for a in answers] == [403] * 3
        assert "forbidden to update attribute 'worklog'" in answers[0].json()["message"]
        assert esm_api.put(path + "/subject", json={"values": [{"value": "other attributes can"}]}).status_code == 200
        assert esm_api.get(path + "/worklog").json()["values"] == []
    finally:
        esm_sim.admin("POST", "forbidden", {})


def test_a_forbidden_template_answers_every_write_with_403_and_still_reads(esm_api, esm_sim):
    """The read_only_templates knob: the account lost its role for a whole template. Every
    write -- create, PATCH, DELETE, attribute writes, a bulk PUT -- answers 403 as documented
    and saves nothing; reads and the other templates are untouched. Each answer is validated."""
    body = {"folderCode": "incident_management", "data": {"subject": vals("before")}}
    card = esm_api.post("/dc/incident/data", json=body).json()["dataCard"]["dataCardId"]
    esm_sim.admin("POST", "forbidden", {"templates": ["incident"]})
    try:
        path = f"/dc/incident/data/{card}"
        answers = [
            esm_api.post("/dc/incident/data", json={"folderCode": "incident_management", "data": {"subject": vals("x")}}),
            esm_api.patch(path, json={"dataCardId": card, "data": {"subject": vals("x")}}),
            esm_api.put(path + "/subject", json={"values": [{"value": "x"}]}),
            esm_api.post(path + "/worklog", json={"values": [{"value": "x"}]}),
            esm_api.delete(path + "/subject"),
            esm_api.delete(path),
            esm_api.put("/dc/incident/data", json=[{"dataCardId": card, "data": {"subject": vals("x")}},
                                                   {"folderCode": "incident_management", "data": {"subject": vals("y")}}]),
        ]
        assert [a.status_code for a in answers] == [403] * len(answers)
        assert "forbidden to update data cards of template 'incident'" in answers[0].json()["message"]
        assert esm_api.get(path).json()["data"]["subject"]["values"] == [{"value": "before"}]
        assert esm_api.get("/dc/incident").status_code == 200
        assert esm_api.bulk("person", [{"folderCode": "persons", "data": {"email": vals("x@example.com")}}])[
            "meta"]["importResult"]["savedDataCards"] == 1
    finally:
        esm_sim.admin("POST", "forbidden", {})
    assert esm_api.patch(f"/dc/incident/data/{card}", json={"dataCardId": card, "data": {"subject": vals("after")}}
                         ).status_code == 200
