"""read_ahead: a listing drawn on a thread of its own, one page ahead of the bulk fetches."""
from __future__ import annotations

import threading

import pytest

from jira_esm_connector.http.parallel import read_ahead

WAIT_S = 5.0


def test_every_item_comes_once_in_order():
    assert list(read_ahead(iter(range(50)), depth=1)) == list(range(50))
    assert list(read_ahead([], depth=3)) == []


def test_an_error_of_the_listing_comes_after_the_items_before_it():
    def listing():
        yield "page 1"
        yield "page 2"
        raise ConnectionError("Jira went away on page 3")

    got = []
    with pytest.raises(ConnectionError, match="page 3"):
        for page in read_ahead(listing()):
            got.append(page)
    assert got == ["page 1", "page 2"]


def test_the_next_page_is_read_while_the_consumer_still_works_on_this_one():
    second_asked = threading.Event()

    def listing():
        yield "page 1"
        second_asked.set()  # reached only when someone asks for page 2
        yield "page 2"

    pages = read_ahead(listing())
    assert next(pages) == "page 1"
    # the consumer has not asked for page 2 yet: only a listing that runs ahead gets there
    assert second_asked.wait(WAIT_S)
    assert list(pages) == ["page 2"]


def test_a_consumer_that_stops_stops_the_listing():
    pulled = []
    closed = threading.Event()

    def endless_listing():
        try:
            n = 0
            while True:
                n += 1
                pulled.append(n)
                yield n
        finally:
            closed.set()

    before = set(threading.enumerate())
    pages = read_ahead(endless_listing(), depth=2, name="test-listing")
    assert next(pages) == 1
    pages.close()
    assert closed.wait(WAIT_S)  # the listing's own clean-up ran
    assert len(pulled) <= 1 + 2 + 1  # the page taken, the queue, one blocked on the full queue
    assert not [t for t in set(threading.enumerate()) - before if t.name == "test-listing" and t.is_alive()]


def test_depth_must_be_at_least_one():
    with pytest.raises(ValueError, match="depth"):
        next(read_ahead([1], depth=0))
