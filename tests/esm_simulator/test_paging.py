"""Keyset paging (limit + filterId, meta.links.next) returns every card exactly once, even
while other cards are being created during the walk."""
from __future__ import annotations

import threading
import time
from urllib.parse import parse_qs, urlparse

import pytest

from .conftest import person


def walk(esm_api, limit: int, params: dict | None = None, on_page=None) -> list[str]:
    seen: list[str] = []
    resp = esm_api.get("/dc/person/data", params={"limit": limit, **(params or {})})
    pages = 0
    while True:
        assert resp.status_code == 200, resp.text
        body = resp.json()
        ids = [c["dataCardId"] for c in body["data"]]
        assert body["meta"]["count"] == len(ids) <= limit
        assert ids == sorted(ids, key=int, reverse=True)  # descending id order
        seen += ids
        pages += 1
        if on_page:
            on_page(pages)
        nxt = body["meta"]["links"].get("next")
        if not nxt:
            return seen
        q = parse_qs(urlparse(nxt).query)
        assert q["limit"] == [str(limit)] and q["filterId"] == [ids[-1]]
        assert nxt.startswith(esm_api.sim.base_url + "/dc/person/data?")
        resp = esm_api.call("GET", nxt[len(esm_api.sim.base_url):])


@pytest.mark.parametrize("limit", [1, 7, 200])
def test_every_card_exactly_once_while_cards_are_added(esm_api, limit):
    total = 230 if limit != 1 else 60
    existing = set(esm_api.make_persons(total, prefix=f"l{limit}-"))

    added: list[str] = []
    stop = threading.Event()

    def writer():
        api2 = type(esm_api)(esm_api.sim, esm_api.openapi)
        n = 0
        while not stop.is_set() and n < 40:
            out = api2.bulk("person", [person(f"new-{limit}-{n}")])
            added.append(out["data"][0]["dataCard"]["dataCardId"])
            n += 1

    def wait_for_writer(page: int) -> None:
        if page == 1:  # make sure cards really are created between our page requests
            deadline = time.monotonic() + 20
            while len(added) < 5 and time.monotonic() < deadline:
                time.sleep(0.01)

    t = threading.Thread(target=writer)
    t.start()
    try:
        seen = walk(esm_api, limit, on_page=wait_for_writer)
    finally:
        stop.set()
        t.join()
    assert len(seen) == len(set(seen)), "a card was returned twice"
    assert existing <= set(seen), "a card that existed before paging was missed"
    # only cards added during the walk may appear besides those, never anything else
    assert set(seen) - existing <= set(added)
    assert len(added) >= 5, "the writer added nothing; the test would prove nothing"


def test_next_link_keeps_filter_and_is_absent_on_last_page(esm_api):
    esm_api.bulk("person", [person(f"a{i}", status="Deleted" if i % 2 else "Active") for i in range(9)])
    seen = walk(esm_api, 2, {"filter": "$accountStatus$ = 'Deleted'", "dataCards": "true"})
    assert len(seen) == 4
    exact = esm_api.get("/dc/person/data", params={"limit": 9}).json()
    assert exact["meta"]["count"] == 9 and "next" not in exact["meta"]["links"]


def test_filter_id_zero_means_from_the_top(esm_api):
    ids = esm_api.make_persons(3)
    body = esm_api.get("/dc/person/data", params={"limit": 10, "filterId": 0}).json()
    assert [c["dataCardId"] for c in body["data"]] == sorted(ids, key=int, reverse=True)
    below = esm_api.get("/dc/person/data", params={"limit": 10, "filterId": max(map(int, ids))}).json()
    assert len(below["data"]) == 2


def test_filtered_pages_may_hold_fewer_cards_than_asked_or_none_while_next_goes_on(esm_api, esm_sim):
    """The filter_in_window knob: each page holds the matches among the next `limit` cards,
    as the contract allows (count below limit, links.next present); a walk by the next
    links still returns every matching card exactly once."""
    ids = esm_api.make_persons(12, prefix="w")
    wanted = {ids[0], ids[5]}  # the oldest and one in the middle
    flt = " or ".join(f"$jira_account_id$ = 'w{ids.index(i)}'" for i in sorted(wanted))
    esm_sim.admin("POST", "paging", {"filter_in_window": True})
    seen: list[str] = []
    counts: list[int] = []
    try:
        resp = esm_api.get("/dc/person/data", params={"limit": 3, "filter": flt})
        while True:
            body = resp.json()
            counts.append(body["meta"]["count"])
            seen += [c["dataCardId"] for c in body["data"]]
            nxt = body["meta"]["links"].get("next")
            if not nxt:
                break
            resp = esm_api.call("GET", nxt[len(esm_api.sim.base_url):])
    finally:
        esm_sim.admin("POST", "paging", {"filter_in_window": False})
    assert sorted(seen) == sorted(wanted)
    assert counts == [0, 0, 1, 1]  # 12 cards in windows of 3, newest first
    assert esm_api.get("/dc/person/data", params={"limit": 3, "filter": flt}).json()["meta"]["count"] == 2


def test_list_trashed_knob_lists_trashed_cards_with_deleted_true(esm_api, esm_sim):
    """The list_trashed knob: listings -- filtered or not, paged or streamed -- include the
    cards in the trash, whole cards marked ``deleted: true`` as a read by id shows them; off
    (the default) they are answered by id only."""
    ids = esm_api.make_persons(3, prefix="t")
    assert esm_api.delete(f"/dc/person/data/{ids[1]}").status_code == 200
    flt = "$jira_account_id$ = 't1'"

    def listed(**params: str) -> dict[str, bool]:
        body = esm_api.get("/dc/person/data", params={"limit": 10, "dataCards": "true", **params}).json()
        return {c["dataCardId"]: c["deleted"] for c in body["data"]}

    def streamed() -> list[str]:
        body = esm_api.get("/dc/person/data/stream", validate=False).json()
        return [c["dataCardId"] for c in body["data"]]

    assert listed() == {ids[2]: False, ids[0]: False}
    assert listed(filter=flt) == {} and ids[1] not in streamed()
    esm_sim.admin("POST", "trash", {"list_trashed": True})
    try:
        assert listed() == {ids[2]: False, ids[1]: True, ids[0]: False}
        assert listed(filter=flt) == {ids[1]: True}
        assert ids[1] in streamed()
        assert esm_api.get(f"/dc/person/data/{ids[1]}").json()["deleted"] is True
    finally:
        esm_sim.admin("POST", "trash", {"list_trashed": False})
    assert listed() == {ids[2]: False, ids[0]: False}
