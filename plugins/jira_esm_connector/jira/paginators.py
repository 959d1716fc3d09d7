"""One small class per Jira paging style.

A paginator knows where the items are in a page, what to send for the first page and,
given the page just read, what to send for the next one (or that there is none). The
client does the HTTP; the paginator only keeps the cursor. Styles:

* :class:`TokenPaginator` -- ``nextPageToken`` / ``isLast`` (``/rest/api/3/search/jql``).
* :class:`StartAtPaginator` -- ``startAt`` / ``maxResults`` with ``isLast`` or ``total``
  (comments, ``group/bulk``, ``group/member``).
* :class:`OffsetArrayPaginator` -- ``startAt`` / ``maxResults`` over bare JSON arrays
  (``users/search``, ``user/search``): the end is an empty page.

A page shorter than asked is never taken as the end: Atlassian lowers ``maxResults`` at
will (per endpoint, per site, under load), so a short page only says how far to advance.
Listings end on an empty page, a confirmed ``isLast: true``, or a reported ``total``
reached. A truncated listing would otherwise look complete, and a full import would mark
every record it did not see as removed.
"""
from __future__ import annotations

from abc import ABC, abstractmethod
from typing import Any

from ..http.errors import MalformedResponseError, describe_json


class PagingError(MalformedResponseError, RuntimeError):
    """The service's paging answers do not add up (the same cursor twice) or a page is not
    of the expected shape (``issues: null``, a string where the list belongs). The client
    re-raises it naming the endpoint."""


def _object_page(page: Any) -> dict[str, Any]:
    if not isinstance(page, dict):
        raise PagingError(f"the page is {describe_json(page)}, expected an object")
    return page


def _object_list(page: dict[str, Any], key: str) -> list[Any]:
    """``page[key]``, which must be a list of objects: a missing or null list is not an
    empty page (a full import would take it for "everything is gone")."""
    if key not in page:
        raise PagingError(f"the page has no '{key}' list")
    return _objects(page[key], f"'{key}'")


def _objects(items: Any, what: str) -> list[Any]:
    if not isinstance(items, list):
        raise PagingError(f"{what} is {describe_json(items)}, expected a list of objects")
    for n, item in enumerate(items):
        if not isinstance(item, dict):
            raise PagingError(f"item {n} of {what} is {describe_json(item)}, expected an object")
    return items


def _optional(page: dict[str, Any], key: str, kinds: tuple[type, ...], expected: str) -> Any:
    value = page.get(key)
    if value is not None and (not isinstance(value, kinds) or (bool not in kinds and isinstance(value, bool))):
        raise PagingError(f"'{key}' is {describe_json(value)}, expected {expected}")
    return value


class Paginator(ABC):
    """Cursor over one paged listing. ``where`` is ``"params"`` (query) or ``"json"`` (body)."""

    where: str = "params"

    def __init__(self, page_size: int) -> None:
        if page_size < 1:
            raise ValueError("page_size must be at least 1")
        self.page_size = page_size
        self.pages_read = 0
        self.items_read = 0

    @abstractmethod
    def first(self) -> dict[str, Any]:
        """Request parameters (or body fields) for the first page."""

    @abstractmethod
    def items(self, page: Any) -> list[Any]:
        """The items of one page."""

    @abstractmethod
    def _next(self, page: Any, items: list[Any]) -> dict[str, Any] | None:
        """Parameters for the next page, or None when ``page`` was the last."""

    def next(self, page: Any, items: list[Any]) -> dict[str, Any] | None:
        self.pages_read += 1
        self.items_read += len(items)
        return self._next(page, items)


class TokenPaginator(Paginator):
    """``nextPageToken`` paging: the server hands out an opaque token until ``isLast``."""

    def __init__(self, page_size: int, *, items_key: str = "issues", where: str = "json") -> None:
        super().__init__(page_size)
        self.items_key = items_key
        self.where = where
        self._seen_tokens: set[str] = set()

    def first(self) -> dict[str, Any]:
        return {"maxResults": self.page_size}

    def items(self, page: Any) -> list[Any]:
        page = _object_page(page)
        items = _object_list(page, self.items_key)
        _optional(page, "nextPageToken", (str,), "a string")
        _optional(page, "isLast", (bool,), "true or false")
        return list(items)

    def _next(self, page: Any, items: list[Any]) -> dict[str, Any] | None:
        token = page.get("nextPageToken")
        if page.get("isLast") is True:
            return None
        if not token:
            if page.get("isLast") is False:
                # more pages, but no way to ask for them: ending here would pass a truncated
                # listing off as complete (a full import would mark the rest removed)
                raise PagingError("the page says more follow (isLast: false) but gives no nextPageToken")
            return None
        if token in self._seen_tokens:
            raise PagingError("Jira returned the same nextPageToken twice; stopping instead of looping forever.")
        self._seen_tokens.add(token)
        return {"maxResults": self.page_size, "nextPageToken": token}


class StartAtPaginator(Paginator):
    """``startAt`` paging over ``{"values"|"comments": [...], "isLast"?, "total"?}`` pages."""

    def __init__(self, page_size: int, *, items_key: str = "values") -> None:
        super().__init__(page_size)
        self.items_key = items_key
        self.start_at = 0
        self._previous: list[Any] | None = None

    def first(self) -> dict[str, Any]:
        return {"startAt": 0, "maxResults": self.page_size}

    def items(self, page: Any) -> list[Any]:
        page = _object_page(page)
        items = _object_list(page, self.items_key)
        _optional(page, "startAt", (int,), "a whole number")
        _optional(page, "total", (int,), "a whole number")
        _optional(page, "isLast", (bool,), "true or false")
        return list(items)

    def _next(self, page: Any, items: list[Any]) -> dict[str, Any] | None:
        if not items:
            return None
        if items == self._previous:
            # a server that ignores startAt (and sends neither isLast nor total) would page forever
            raise PagingError("the same page came back twice (startAt ignored?); stopping instead of looping forever")
        self._previous = items
        started = page.get("startAt")
        self.start_at = int(self.start_at if started is None else started) + len(items)
        is_last = page.get("isLast")
        if is_last is True:
            return None
        total = page.get("total")
        if is_last is None and isinstance(total, int) and self.start_at >= total:
            return None
        return {"startAt": self.start_at, "maxResults": self.page_size}


class OffsetArrayPaginator(Paginator):
    """Bare JSON arrays: advance ``startAt`` by what came back; only an empty page ends it.

    These pages carry no ``isLast`` or ``total``, and Jira may return fewer items than
    ``maxResults`` on any page (its cap is not the documented one), so the listing costs
    one extra, empty request -- the price of never taking a capped page for the end.
    ``max_page_size`` is the server's documented maximum (1000 for users): asking for more
    is pointless.
    """

    def __init__(self, page_size: int, *, max_page_size: int = 1000) -> None:
        super().__init__(min(page_size, max_page_size))
        self.start_at = 0
        self._previous_first: Any = None

    def first(self) -> dict[str, Any]:
        return {"startAt": 0, "maxResults": self.page_size}

    def items(self, page: Any) -> list[Any]:
        if not isinstance(page, list):
            raise PagingError(f"the page is {describe_json(page)}, expected a list")
        return _objects(page, "the page")

    def _next(self, page: Any, items: list[Any]) -> dict[str, Any] | None:
        if not items:
            return None
        if self.start_at and items[0] == self._previous_first:
            # a server that ignores startAt would send the first page for ever
            raise PagingError(
                f"Jira returned the same page again at offset {self.start_at} (is the start offset ignored?); "
                "stopping instead of looping forever."
            )
        self._previous_first = items[0]
        self.start_at += len(items)
        return {"startAt": self.start_at, "maxResults": self.page_size}
