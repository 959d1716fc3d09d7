"""Moving an issue to another project, and changing a project's key, as Jira Cloud does
them: the issue keeps its id, old keys keep resolving (GET issue, bulkfetch, JQL key /
issue clauses) and a former project key stays an alias in JQL."""
from __future__ import annotations


def _keys(api, jql: str) -> list[str]:
    r = api.post(api.base + "/search/jql", json={"jql": jql, "maxResults": 100, "fields": ["key"]})
    assert r.status_code == 200, r.text
    return sorted(i["key"] for i in r.json()["issues"])


def _bulkfetch(api, validate, keys: list[str]) -> dict:
    return validate(api.post(api.base + "/issue/bulkfetch", json={"issueIdsOrKeys": keys, "fields": ["summary"]})).json()


def test_a_moved_issue_keeps_its_id_and_its_old_key_resolves(api, validate, jira_sim_fresh):
    before = validate(api.get(api.base + "/issue/SUP-5", params={"fields": "updated,status"})).json()
    next_ops = max(int(k.split("-")[1]) for k in _keys(api, "project = OPS")) + 1

    moved = jira_sim_fresh.admin("POST", "issues/SUP-5/move", json={"project": "OPS"})
    assert moved.status_code == 200, moved.text
    new_key = f"OPS-{next_ops}"
    assert moved.json()["key"] == new_key and moved.json()["id"] == before["id"]

    got = validate(api.get(api.base + "/issue/SUP-5", params={"fields": "updated,status"})).json()
    assert (got["id"], got["key"]) == (before["id"], new_key)
    assert got["fields"]["updated"] > before["fields"]["updated"]  # the move is a change
    assert validate(api.get(api.base + f"/issue/{new_key}")).json()["id"] == before["id"]
    fetched = _bulkfetch(api, validate, ["SUP-5", "SUP-6"])
    assert sorted(i["key"] for i in fetched["issues"]) == sorted([new_key, "SUP-6"]) and not fetched["issueErrors"]
    # "if the identifier doesn't match an issue, a case-insensitive search and check for moved
    # issues is performed" (GET issue and bulkfetch): the old key in another case finds it too
    assert [i["key"] for i in _bulkfetch(api, validate, ["sup-5"])["issues"]] == [new_key]
    assert validate(api.get(api.base + "/issue/Sup-5")).json()["key"] == new_key
    assert _keys(api, "key = SUP-5") == [new_key]
    assert _keys(api, "issue in (SUP-5, SUP-6)") == sorted([new_key, "SUP-6"])
    assert _keys(api, f"issuekey = {new_key}") == [new_key]
    assert "SUP-5" not in _keys(api, "project = SUP") and new_key in _keys(api, "project = OPS")
    history = validate(api.get(api.base + "/issue/SUP-5/changelog")).json()["values"]
    assert {"field": "Key", "fromString": "SUP-5", "toString": new_key}.items() <= history[-1]["items"][0].items()
    # the number is never handed out again, and the former key is the moved issue's only
    created = jira_sim_fresh.admin("POST", "issues", json={"project": "OPS", "summary": "after the move"}).json()
    assert created["key"] == f"OPS-{next_ops + 1}"


def test_moving_needs_a_known_other_project(api, jira_sim_fresh):
    def move(key: str, body: dict) -> int:
        return api.post(f"{jira_sim_fresh.base_url}/_admin/issues/{key}/move", json=body).status_code

    assert move("SUP-5", {"project": "NOPE"}) == 400
    assert move("SUP-5", {"project": "SUP"}) == 400
    assert move("SUP-5", {}) == 400
    assert move("NOPE-1", {"project": "OPS"}) == 404


def test_a_project_key_change_rekeys_every_issue_and_keeps_the_old_keys(api, validate, validate_error):
    sup = sorted(_keys(api, "project = SUP"), key=lambda k: int(k.split("-")[1]))
    assert 10 < len(sup) < 100  # all of them in one page
    ids = {i["key"]: i["id"] for i in _bulkfetch(api, validate, sup)["issues"]}
    updated = validate(api.get(api.base + "/issue/SUP-3", params={"fields": "updated"})).json()["fields"]["updated"]

    r = validate(api.put(api.base + "/project/SUP", json={"key": "HELP"}))
    assert r.json()["key"] == "HELP"

    help_keys = [f"HELP-{k.split('-')[1]}" for k in sup]
    assert _keys(api, "project = HELP") == sorted(help_keys)
    assert _keys(api, "project = SUP") == sorted(help_keys)  # the former key is an alias
    assert _keys(api, "project in (SUP, OPS) AND key in (SUP-1, OPS-1)") == ["HELP-1", "OPS-1"]
    got = validate(api.get(api.base + "/issue/SUP-3", params={"fields": "updated"})).json()
    assert (got["key"], got["id"]) == ("HELP-3", ids["SUP-3"])
    assert got["fields"]["updated"] == updated  # nothing in the issue changed
    assert {i["id"] for i in _bulkfetch(api, validate, sup)["issues"]} == set(ids.values())
    assert _keys(api, "key in (SUP-1, SUP-2)") == ["HELP-1", "HELP-2"]
    assert validate(api.get(api.base + "/project/SUP")).json()["key"] == "HELP"
    validate_error(api.get(api.base + "/project/sup"), 404)  # "project key (case sensitive)": former ones too

    validate_error(api.put(api.base + "/project/HELP", json={"key": "OPS"}), 400)  # taken
    validate_error(api.put(api.base + "/project/HELP", json={"key": "help"}), 400)  # not a key
    validate_error(api.put(api.base + "/project/HELP", json={"lead": "x"}), 400)  # not simulated
    validate_error(api.put(api.base + "/project/NOPE", json={"key": "NEW"}), 404)
