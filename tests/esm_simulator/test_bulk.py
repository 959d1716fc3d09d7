"""Bulk import (PUT /dc/{template}/data): refused cards reported one by one, the rest saved."""
from __future__ import annotations

from .conftest import person, vals


def test_refused_cards_are_reported_one_by_one_and_the_rest_saved(esm_api, esm_sim):
    (pid,) = esm_api.make_persons(1)
    trashed = esm_api.make_persons(1, prefix="t")[0]
    esm_api.delete(f"/dc/person/data/{trashed}")
    group = esm_api.bulk("group", [{"folderCode": "groups", "data": {"name": vals("g")}}])["data"][0]["dataCard"]["dataCardId"]
    cards = [
        {"folderCode": "incident_management", "data": {"jira_key": vals("OK-1"), "subject": vals("fine")}},
        {"folderCode": "incident_management", "data": {"jira_key": vals("BAD-1"), "colour": vals("red")}},
        {"folderCode": "incident_management", "data": {"jira_key": vals("BAD-2"), "status": vals("99 - Nope")}},
        {"data": {"jira_key": vals("BAD-3")}},
        {"folderCode": "persons", "data": {"jira_key": vals("BAD-4")}},
        {"folderCode": "no_such_folder", "data": {"jira_key": vals("BAD-5")}},
        {"folderCode": "incident_management", "data": {"jira_key": vals("BAD-6"), "reporter": {"values": [{"dataCardId": "987654321"}]}}},
        {"folderCode": "incident_management", "data": {"jira_key": vals("BAD-7"), "reporter": {"values": [{"dataCardId": trashed}]}}},
        {"folderCode": "incident_management", "data": {"jira_key": vals("BAD-8"), "reporter": {"values": [{"dataCardId": group}]}}},
        {"folderCode": "incident_management", "data": {"jira_key": vals("BAD-9"), "created": vals("yesterday")}},
        {"folderCode": "incident_management", "data": {"jira_key": vals("BAD-10", "two")}},
        {"dataCardId": "987654321", "data": {"jira_key": vals("BAD-11")}},
        {"folderCode": "incident_management", "data": {"jira_key": vals("OK-2"), "reporter": {"values": [{"dataCardId": pid}]},
                                                        "status": {"values": [{"value": "05 - Solved", "code": "solved"}]}}},
    ]
    out = esm_api.bulk("incident", cards)
    assert out["meta"]["importResult"] == {"handledDataCards": 13, "savedDataCards": 2, "notSavedDataCards": 11}
    assert len(out["data"]) == 13
    expect = {
        1: ("colour", "no attribute 'colour'"), 2: ("status", "99 - Nope"), 3: ("folderCode", "missing"),
        4: ("folderCode", "not allowed"), 5: ("folderCode", "does not exist"), 6: ("reporter", "does not exist"),
        7: ("reporter", "trash"), 8: ("reporter", "takes person"), 9: ("created", "date-time"),
        10: ("jira_key", "single-valued"), 11: ("dataCardId", "not found"),
    }
    for index, (attr, words) in expect.items():
        errors = out["data"][index]["errors"]
        assert errors and errors[0]["attributeCode"] == attr and words in errors[0]["message"], (index, errors)
    saved = [out["data"][0]["dataCard"], out["data"][12]["dataCard"]]
    assert all("errors" not in out["data"][i] for i in (0, 12))
    stored = {c["data"]["jira_key"][0]["value"] for c in esm_sim.admin("GET", "cards?template=incident")["cards"]}
    assert stored == {"OK-1", "OK-2"}
    assert saved[0]["url"] == f"/dc/incident/data/{saved[0]['dataCardId']}"


def test_bulk_modifies_by_data_card_id_and_keeps_other_attributes(esm_api):
    ids = esm_api.make_persons(2)
    out = esm_api.bulk("person", [
        {"dataCardId": ids[0], "data": {"accountStatus": vals("Deleted"), "task_id": vals("task-a")}},
        person("p-new"),
    ])
    assert out["meta"]["importResult"]["savedDataCards"] == 2
    assert out["data"][0]["dataCard"]["dataCardId"] == ids[0]
    card = esm_api.get(f"/dc/person/data/{ids[0]}").json()["data"]
    assert card["accountStatus"]["values"][0]["value"] == "Deleted"
    assert card["task_id"]["values"][0]["value"] == "task-a"
    assert card["jira_account_id"]["values"][0]["value"] == "p0"  # untouched
    found = esm_api.get("/dc/person/data", params={"limit": 10, "filter": "$task_id$ = 'task-a' and $accountStatus$ <> 'Active'"}).json()
    assert [c["dataCardId"] for c in found["data"]] == [ids[0]]


def test_bulk_rejects_a_non_array_and_an_unknown_template(esm_api):
    resp = esm_api.put("/dc/person/data", json={"not": "a list"}, validate=False)
    assert resp.status_code == 400 and "array" in resp.json()["message"]
    assert esm_api.put("/dc/nope/data", json=[], validate=False).status_code == 404
    resp = esm_api.put("/dc/person/data", data=b"{broken", headers={"Content-Type": "application/json"}, validate=False)
    assert resp.status_code == 400


def test_bulk_import_of_many_cards_is_fast(esm_api):
    import time
    cards = [person(f"bulk{i}") for i in range(2000)]
    t0 = time.monotonic()
    out = esm_api.bulk("person", cards)
    assert out["meta"]["importResult"]["savedDataCards"] == 2000
    assert time.monotonic() - t0 < 15


def test_a_mixed_bulk_answers_each_card_with_its_own_id_and_saves_its_own_values(esm_api):
    """Creates and edits of one request are saved together (one statement per kind): every
    answer names the card that holds that input's values, in input order, and EQL finds the
    edited values, not the old ones."""
    old = esm_api.make_persons(3, prefix="old")
    cards = []
    for i in range(30):
        if i % 10 == 3:
            cards.append({"dataCardId": old[i // 10], "data": {"display_name": vals(f"edited {i}")}})
        elif i % 10 == 7:
            cards.append({"folderCode": "persons", "data": {"colour": vals("red")}})  # refused
        else:
            cards.append(person(f"new{i}"))
    out = esm_api.bulk("person", cards)

    assert out["meta"]["importResult"] == {"handledDataCards": 30, "savedDataCards": 27, "notSavedDataCards": 3}
    new_ids = []
    for i, item in enumerate(out["data"]):
        if i % 10 == 7:
            assert item["errors"] and "dataCard" not in item
            continue
        card = esm_api.get(f"/dc/person/data/{item['dataCard']['dataCardId']}").json()["data"]
        if i % 10 == 3:
            assert item["dataCard"]["dataCardId"] == old[i // 10]
            assert card["display_name"]["values"][0]["value"] == f"edited {i}"
            assert card["jira_account_id"]["values"][0]["value"] == f"old{i // 10}"  # untouched
        else:
            assert card["jira_account_id"]["values"][0]["value"] == f"new{i}"
            new_ids.append(int(item["dataCard"]["dataCardId"]))
    assert new_ids == sorted(new_ids) and len(set(new_ids)) == 24 and min(new_ids) > max(int(o) for o in old)
    found = esm_api.get("/dc/person/data", params={"limit": 10, "filter": "$display_name$ = 'edited 13'"}).json()
    assert [c["dataCardId"] for c in found["data"]] == [old[1]]
    gone = esm_api.get("/dc/person/data", params={"limit": 10, "filter": "$display_name$ = 'User old1'"}).json()
    assert gone["data"] == []


def test_new_cards_get_ids_above_every_card_that_ever_existed_even_after_a_wipe(esm_api, esm_sim):
    """The bulk import hands out ids itself (one executemany, no RETURNING per card): like
    AUTOINCREMENT they stay above any id ever used, so descending keyset paging never meets
    a card twice, even when the newest cards are gone."""
    before = [int(i) for i in esm_api.make_persons(3, prefix="gone")]
    esm_sim.admin("POST", "wipe")
    out = esm_api.bulk("person", [person(f"after{i}") for i in range(3)])
    after = [int(item["dataCard"]["dataCardId"]) for item in out["data"]]
    assert after == sorted(after) and len(set(after)) == 3 and min(after) > max(before)
    for card_id, i in zip(after, range(3)):
        card = esm_api.get(f"/dc/person/data/{card_id}").json()["data"]
        assert card["jira_account_id"]["values"][0]["value"] == f"after{i}"
