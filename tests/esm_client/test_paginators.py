"""ESM's keyset paginator on its own: the cursor, the end of a listing, and answers that do not add up."""
from __future__ import annotations

import pytest

from jira_esm_connector.esm import EsmProtocolError, KeysetPaginator


def _page(ids: list[int], next_link: str | None) -> dict:
    return {"data": [{"dataCardId": str(i)} for i in ids], "meta": {"links": {"next": next_link} if next_link else {}}}


def test_cursor_follows_the_next_links_filter_id_and_ends_without_one():
    p = KeysetPaginator(2, template="incident")
    assert p.first() == {"limit": 2}
    page = _page([9, 8], "/dc/incident/data?limit=2&filterId=8")
    cards = p.items(page)
    assert [c.data_card_id for c in cards] == ["9", "8"]
    assert p.next(page, cards) == {"limit": 2, "filterId": 8}
    last = _page([7], None)
    assert p.next(last, p.items(last)) is None
    assert (p.pages_read, p.items_read) == (2, 3)


def test_a_link_without_filter_id_continues_below_the_smallest_id_seen():
    p = KeysetPaginator(2, template="incident")
    page = _page([5, 3], "/dc/incident/data?limit=2")
    assert p.next(page, p.items(page)) == {"limit": 2, "filterId": 3}


def test_an_empty_page_goes_on_by_its_link_and_ends_where_the_link_leads_nowhere_new():
    p = KeysetPaginator(2, template="incident")
    empty = _page([], "/dc/incident/data?limit=2&filterId=8")  # ESM filtered the whole window
    assert p.next(empty, p.items(empty)) == {"limit": 2, "filterId": 8}
    for link in ("/dc/incident/data?limit=2&filterId=8", "/dc/incident/data?limit=2"):
        assert p.next(_page([], link), []) is None


@pytest.mark.parametrize("first", [None, 8])
def test_a_link_with_filter_id_0_goes_on_below_the_smallest_id_seen_never_back_to_the_top(first):
    """The contract: "Only data cards with id:s lower than filterId will be shown if filterId
    is not empty or 0" -- a next link with filterId 0 leads back to the newest card. Followed,
    the listing repeated every card from the top."""
    p = KeysetPaginator(2, template="incident")
    if first is not None:
        page = _page([9, first], f"/dc/incident/data?limit=2&filterId={first}")
        p.next(page, p.items(page))
    page = _page([7, 6], "/dc/incident/data?limit=2&filterId=0")
    assert p.next(page, p.items(page)) == {"limit": 2, "filterId": 6}
    assert p.next(_page([], "/dc/incident/data?limit=2&filterId=0"), []) is None  # an empty page: the end


def test_paging_that_does_not_move_forward_stops_with_a_plain_error():
    p = KeysetPaginator(2, template="incident")
    page = _page([9, 8], "/dc/incident/data?filterId=8")
    p.next(page, p.items(page))
    with pytest.raises(EsmProtocolError, match="did not move forward"):
        p.next(page, p.items(page))


@pytest.mark.parametrize("page, words", [
    ([], "expected an object"),
    ({"data": None}, "no 'data' list"),
    ({"data": [{"name": "x"}]}, "item 0 of 'data' has no dataCardId"),
    ({"data": [{"dataCardId": "7", "deleted": "false"}]}, "item 0 of 'data' .card 7.: 'deleted' is a string, expected true or false"),
])
def test_malformed_pages_name_the_endpoint(page, words):
    with pytest.raises(EsmProtocolError, match=words) as info:
        KeysetPaginator(200, template="incident").items(page)
    assert str(info.value).startswith("ESM's answer to GET /dc/incident/data is not what")


def test_page_size_is_checked():
    with pytest.raises(ValueError, match="between 1 and 200"):
        KeysetPaginator(201, template="incident")
