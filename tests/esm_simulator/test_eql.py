"""The EQL filter subset over HTTP."""
from __future__ import annotations

import pytest

from .conftest import vals


@pytest.fixture
def incidents(esm_api):
    (pid,) = esm_api.make_persons(1)
    rows = [
        ("SUP-1", "01 - New", "2025-01-10T08:00:00Z", "It's broken"),
        ("SUP-2", "02 - Solving", "2025-02-10T08:00:00Z", "Slow VPN"),
        ("SUP-3", "05 - Solved", "2025-03-10T08:00:00Z", "Printer on fire"),
        ("SUP-4", "01 - New", "2025-04-10T08:00:00Z", "Back\\slash"),
    ]
    cards = [{"folderCode": "incident_management", "data": {
        "jira_key": vals(k), "status": vals(s), "updated": vals(u), "subject": vals(subj),
        "reporter": {"values": [{"dataCardId": pid}]} if k == "SUP-2" else {"values": []}}}
        for k, s, u, subj in rows]
    out = esm_api.bulk("incident", cards)
    assert out["meta"]["importResult"]["savedDataCards"] == 4
    return esm_api, pid


def keys(api, flt: str) -> list[str]:
    resp = api.get("/dc/incident/data", params={"limit": 200, "filter": flt, "selectedAttributes": "jira_key"})
    assert resp.status_code == 200, resp.text
    return sorted(c["data"]["jira_key"]["values"][0]["value"] for c in resp.json()["data"])


@pytest.mark.parametrize("flt, expected", [
    ("$status$ = '01 - New'", ["SUP-1", "SUP-4"]),
    ("$status$ <> '01 - New'", ["SUP-2", "SUP-3"]),
    ("$status$ != '01 - New'", ["SUP-2", "SUP-3"]),
    ("$updated$ > '2025-02-10'", ["SUP-2", "SUP-3", "SUP-4"]),
    ("$updated$ > '2025-02-10 08:00'", ["SUP-3", "SUP-4"]),
    ("$updated$ < '2025-02-10T09:00:00+01:00'", ["SUP-1"]),
    ("$updated$ >= '2025-02-10T08:00:00Z' and $updated$ <= '10.03.2025 08:00'", ["SUP-2", "SUP-3"]),
    ("$status$ = '01 - New' and $updated$ > '2025-03-01'", ["SUP-4"]),
    ("$status$ = '05 - Solved' or $jira_key$ = 'SUP-1'", ["SUP-1", "SUP-3"]),
    ("not $status$ = '01 - New'", ["SUP-2", "SUP-3"]),
    ("not ($status$ = '01 - New' or $status$ = '02 - Solving')", ["SUP-3"]),
    ("($status$ = '01 - New' or $status$ = '05 - Solved') and not $jira_key$ = 'SUP-4'", ["SUP-1", "SUP-3"]),
    ("$jira_key$ in ('SUP-2', 'SUP-4', 'SUP-9')", ["SUP-2", "SUP-4"]),
    ("$subject$ = 'It''s broken'", ["SUP-1"]),
    ("$subject$ = 'It\\'s broken'", ["SUP-1"]),
    ("$subject$ = 'Back\\\\slash'", ["SUP-4"]),
    ("$jira_key$ = 'SUP-1' OR $jira_key$ = 'SUP-2' AND $status$ = '01 - New'", ["SUP-1"]),
    ("$jira_key$ = 'nope'", []),
    ("$jira_key$ = 'SUP-1'' or ''1''=''1'", []),
])
def test_filters(incidents, flt, expected):
    api, _ = incidents
    assert keys(api, flt) == expected


def test_reference_filter_by_card_id(incidents):
    api, pid = incidents
    assert keys(api, f"$reporter$ = '{pid}'") == ["SUP-2"]


@pytest.mark.parametrize("flt, words", [
    ("$status$ = ", "quoted value"),
    ("$status$ = '01 - New' and", "attribute"),
    ("$nope$ = 'x'", "no attribute 'nope'"),
    ("$status$ > '01 - New'", "date and number"),
    ("($status$ = 'x'", "')'"),
    ("$status$ = 'unterminated", "not closed"),
    ("status = 'x'", "unexpected"),
    ("$updated$ > 'next tuesday'", "date-time"),
    ("$worklog$ = 'x'", "cannot be filtered"),
    ("", None),
])
def test_invalid_filters_are_400_with_a_clear_message(incidents, flt, words):
    api, _ = incidents
    resp = api.get("/dc/incident/data", params={"limit": 5, "filter": flt}, validate=False)
    if words is None:  # an empty filter means no filter
        assert resp.status_code == 200 and len(resp.json()["data"]) == 4
        return
    assert resp.status_code == 400, resp.text
    body = resp.json()
    assert body["code"] == 400 and words in body["message"], body["message"]
    assert body["message"].startswith("Invalid EQL filter")


def test_filters_matching_many_cards(esm_api):
    """Above 5,000 matching values the simulator probes per card instead of listing ids;
    results must be the same."""
    from .conftest import person

    cards = [person(f"d{i}", status="Deleted" if i % 10 == 0 else "Active", task_id=vals("dense"))
             for i in range(5200)]
    cards += [person(f"o{i}", task_id=vals("other")) for i in range(50)]
    out = esm_api.bulk("person", cards)
    assert out["meta"]["importResult"]["savedDataCards"] == 5250

    def count(flt: str) -> int:
        total, params = 0, {"limit": 200, "filter": flt}
        while True:
            body = esm_api.get("/dc/person/data", params=params).json()
            total += body["meta"]["count"]
            nxt = body["meta"]["links"].get("next")
            if not nxt:
                return total
            params["filterId"] = body["data"][-1]["dataCardId"]

    assert count("$task_id$ = 'dense'") == 5200
    assert count("$task_id$ = 'dense' and $accountStatus$ <> 'Deleted'") == 4680
    assert count("$task_id$ <> 'dense'") == 50
    assert count("not $task_id$ = 'other' and $accountStatus$ = 'Deleted'") == 520
    stream = esm_api.get("/dc/person/data/stream", params={"filter": "$accountStatus$ = 'Active'"}).json()
    assert stream["meta"]["count"] == 4680 + 50


def test_reference_filter_by_referenced_card_name(incidents):
    api, pid = incidents
    assert keys(api, "$reporter$ = 'User p0'") == ["SUP-2"]
    assert keys(api, "$reporter$ in ('Nobody', 'User p0')") == ["SUP-2"]
    assert keys(api, "$reporter$ <> 'User p0'") == ["SUP-1", "SUP-3", "SUP-4"]


def test_relative_dates(esm_api):
    import datetime as dt

    now = dt.datetime.now(dt.timezone.utc)
    stamps = {"OLD": now - dt.timedelta(days=40), "WEEK": now - dt.timedelta(days=3), "HOUR": now - dt.timedelta(minutes=30)}
    esm_api.bulk("incident", [{"folderCode": "incident_management", "data": {
        "jira_key": vals(k), "updated": vals(t.strftime("%Y-%m-%dT%H:%M:%SZ"))}} for k, t in stamps.items()])
    assert keys(esm_api, "$updated$ > 'now - 2w'") == ["HOUR", "WEEK"]
    assert keys(esm_api, "$updated$ > 'now - 1h'") == ["HOUR"]
    assert keys(esm_api, "$updated$ < 'now - 1M'") == ["OLD"]
    assert keys(esm_api, "$updated$ >= 'start_day'") == (["HOUR"] if stamps["HOUR"].date() == now.date() else [])
    assert keys(esm_api, "$updated$ < 'now'") == ["HOUR", "OLD", "WEEK"]
