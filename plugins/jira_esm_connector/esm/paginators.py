"""Efecte ESM's keyset paging, in the shape of :mod:`jira_esm_connector.jira.paginators`.

``GET /dc/{template}/data`` answers ``{"data": [cards...], "meta": {"links": {"next": ...}}}``
with card ids strictly decreasing; the next page is asked for with the ``filterId`` of
``meta.links.next`` (or, when the link has none or 0 -- no filter, the top again -- the
smallest id seen). The listing ends
when there is no next link. A page may hold fewer cards than asked, or none, while the
listing goes on (ESM may filter each keyset window): an empty page ends it only when its
link leads nowhere new. The client does the HTTP; the paginator checks each page's shape
and keeps the cursor.
"""
from __future__ import annotations

from collections.abc import Mapping
from typing import Any
from urllib.parse import parse_qs, urlsplit

from ..http.errors import describe_json
from .errors import SERVICE, EsmProtocolError, malformed_answer
from .models import EsmCard, card_from_answer

MAX_PAGE_SIZE = 200  # the API's limit for GET /dc/{template}/data


def _safe_next(link: str) -> str:
    parts = urlsplit(link)
    return f"{parts.path}?{parts.query}"[:200]


def _filter_id_of(next_link: str, cards: list[EsmCard]) -> int | None:
    """The next page's filterId: the link's, else the smallest id seen (None: neither). A
    filterId of 0 is no filter at all (the contract): it would list from the top again, so
    it counts as none."""
    values = parse_qs(urlsplit(next_link).query).get("filterId")
    try:
        if values and int(values[0]) > 0:
            return int(values[0])
        return min(int(c.data_card_id) for c in cards) if cards else None  # keyset by the smallest id seen
    except ValueError:
        raise EsmProtocolError(f"ESM sent a next-page link without a usable filterId: {_safe_next(next_link)}", 200, SERVICE) from None


class KeysetPaginator:
    """Cursor over the cards of one template: ``limit`` per page, then ``filterId`` from the next link.

    Errors name the endpoint (``what``, e.g. ``"GET /dc/incident/data"``); a ``filterId``
    that does not go down stops the listing instead of looping forever.
    """

    where = "params"

    def __init__(self, page_size: int, *, template: str) -> None:
        if not 1 <= int(page_size) <= MAX_PAGE_SIZE:
            raise ValueError(f"ESM page size must be between 1 and {MAX_PAGE_SIZE}, not {page_size}")
        self.page_size = int(page_size)
        self.template = template
        self.what = f"GET /dc/{template}/data"
        self.filter_id: int | None = None
        self.pages_read = 0
        self.items_read = 0

    def first(self) -> dict[str, Any]:
        """Request parameters for the first page."""
        return {"limit": self.page_size}

    def items(self, page: Any) -> list[EsmCard]:
        """The cards of one page (each with a ``dataCardId``)."""
        what, template = self.what, self.template
        if not isinstance(page, Mapping):
            raise malformed_answer(what, f"the page of '{template}' cards is {describe_json(page)}, expected an object")
        if not isinstance(page.get("data"), list):
            raise malformed_answer(what, f"the page of '{template}' cards has no 'data' list ({describe_json(page.get('data'))})")
        return [card_from_answer(c, template, what, n) for n, c in enumerate(page["data"])]

    def next(self, page: Mapping[str, Any], items: list[EsmCard]) -> dict[str, Any] | None:
        """Parameters for the next page, or None when ``page`` was the last."""
        self.pages_read += 1
        self.items_read += len(items)
        meta = page.get("meta") or {}
        if not isinstance(meta, Mapping):
            raise malformed_answer(self.what, f"'meta' is {describe_json(meta)}, expected an object")
        links = meta.get("links") or {}
        if not isinstance(links, Mapping):
            raise malformed_answer(self.what, f"'meta.links' is {describe_json(links)}, expected an object")
        next_link = links.get("next")
        if next_link is not None and not isinstance(next_link, str):
            raise malformed_answer(self.what, f"'meta.links.next' is {describe_json(next_link)}, expected a link")
        if not next_link:
            return None
        next_id = _filter_id_of(next_link, items)
        stuck = next_id is None or (self.filter_id is not None and next_id >= self.filter_id)
        if stuck and not items:
            return None  # an empty page whose link leads nowhere new: the end
        if stuck:
            raise EsmProtocolError(
                f"ESM paging of '{self.template}' did not move forward (filterId {next_id} after {self.filter_id}); stopping",
                200,
                SERVICE,
            )
        self.filter_id = next_id
        return {"limit": self.page_size, "filterId": next_id}
