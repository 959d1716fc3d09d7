"""One small class per Jira paging style.

A paginator knows where the items are in a page, what to send for the first page and,
given the page just read, what to send for the next one (or that there is none). The
client does the HTTP; the paginator only keeps the cursor. Styles:

* :class:`TokenPaginator` -- ``nextPageToken`` / ``isLast`` (``/rest/api/3/search/jql``).
* :class:`StartAtPaginator` -- ``startAt`` / ``maxResults`` with ``isLast`` or ``total``
  (comments, ``group/bulk``, ``group/member``).
* :class:`OffsetArrayPaginator` -- ``startAt`` / ``maxResults`` over bare JSON arrays
  (``users/search``, ``user/search``): the end is an empty page.

The two offset styles start each page one item early, to see whether the list moved under
them (an item deleted before the offset would otherwise go unread): see
:class:`_OffsetPaginator`.

A page shorter than asked is never taken as the end: Atlassian lowers ``maxResults`` at
will (per endpoint, per site, under load), so a short page only says how far to advance.
Listings end on an empty page, a confirmed ``isLast: true``, or a reported ``total``
reached -- and an empty page that says more follow (``isLast: false``, a ``total`` beyond
it) is refused (:class:`PagingError`), not taken for the end. A page saying ``isLast: true``
while its ``total`` counts items beyond it is not the end either: paging goes on (logged
once), and an empty page that still counts more is refused as above. A truncated listing would otherwise look complete, and a full import would mark
every record it did not see as removed (or write a group without the members it left out).
"""
from __future__ import annotations

import json
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
    notice: str | None = None  # something the client should log once (then sets it back to None)

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


class _OffsetPaginator(Paginator):
    """``startAt`` paging over a list that may change while it is read.

    Offsets move when Jira adds or deletes an item before them between two pages: after a
    deletion, the next unread item slides back across the page boundary and plain offset
    paging never reads it -- a full import would then mark a live user or group removed, or
    write a group without one of its members. So every page after the first is a *check*:
    it starts at the *anchor*, the last item read that has an id of its own, and must repeat
    what was read from there on before anything new counts. Repeated, nothing before the
    boundary moved (in the same answer). Another item there (or an item this pass already
    read as new): the listing is read again from the start, at most ``MAX_RESTARTS`` times
    (then :class:`PagingError`), and items already handed out are not handed out again.

    A check that holds nothing new is the end, or a server capping pages below what it
    repeats (down to one item). Then the next page is read at the boundary itself, and the
    check after it tells whether anything moved meanwhile: anchor still in place, what was
    read stands; an empty page beyond it is the end only then (and only if that check does
    not say more follow: ``isLast: false``, a ``total`` beyond it). Pages of one item cost
    two requests each, and a listing ends with one or two requests more. What a server
    answering one item per page cannot show: a deletion and an insertion before the
    boundary that cancel out between two requests -- no answer holds two neighbours.

    Items are told apart by ``id_keys`` (the first one an item has). An id in ``anonymous``
    names no item (Jira lists every corrupted record of a deleted user with the account id
    "unknown"): such an item is told apart by its place alone, is never an anchor, and two of
    them are never taken for one item read twice. Such records (of users deleted long ago)
    are taken not to come and go while a listing is read: one deleted among several in a row,
    behind a check the page cap cut short, would go unseen. More than ``MAX_UNNAMED_RUN`` of
    them in a row look like a server that ignores ``startAt``: :class:`PagingError`.
    """

    MAX_RESTARTS = 3
    MAX_UNNAMED_RUN = 5000

    def __init__(self, page_size: int, *, id_keys: tuple[str, ...], anonymous: frozenset[str] = frozenset()) -> None:
        super().__init__(page_size)
        self.id_keys = id_keys
        self.anonymous = anonymous
        self.restarts = 0
        self._handed_out: set[Any] = set()
        self._requested = 0
        self._page_length = 0
        self._moved = False
        self._read: list[Any] = []  # identities of the last page's new items
        self._reset()

    def _reset(self) -> None:
        """A new pass from the start of the listing."""
        self.start_at = 0  # positions this pass has read
        self._anchor: tuple[int, Any] | None = None  # (place, identity) of the last named item read
        self._tail: list[Any] = []  # identities read after the anchor (after the start: no anchor yet)
        self._mode = "plain"  # the next page starts at start_at ("plain") or at the anchor ("check")
        self._checks_plain = False  # the next check also vouches for the plain page before it
        self._plain_ends = False  # ... which was empty or said it was the last
        self._this_pass: set[Any] = set()
        self.unnamed_read = 0  # records of an ``anonymous`` id this pass read (a restart reads them again)

    def _identity(self, item: dict[str, Any], position: int) -> Any:
        for key in self.id_keys:
            value = item.get(key)
            if value not in (None, ""):
                return ("at", position) if str(value) in self.anonymous else str(value)
        return json.dumps(item, sort_keys=True, default=str)

    def _cursor(self) -> dict[str, Any]:
        at_anchor = self._anchor[0] if self._anchor else 0
        self._requested = at_anchor if self._mode == "check" else self.start_at
        return {"startAt": self._requested, "maxResults": self.page_size}

    def first(self) -> dict[str, Any]:
        return self._cursor()

    @abstractmethod
    def _page_items(self, page: Any) -> list[Any]:
        """The page's items, shape checked."""

    def _ends(self, page: Any) -> bool:
        """Does the page itself say it is the last (beyond an empty page)?"""
        return False

    def _says_more(self, page: Any) -> str | None:
        """What in an empty page says more follow (then it is no end), or None."""
        return None

    def _more_beyond(self, page: Any, boundary: int) -> bool:
        """Does the page say items follow position ``boundary`` - 1?"""
        return False

    def items(self, page: Any) -> list[Any]:
        raw = self._page_items(page)
        identities = [self._identity(item, self._requested + n) for n, item in enumerate(raw)]
        self._moved = False
        known: list[Any] = []
        if self._mode == "check":
            known = ([self._anchor[1]] if self._anchor else []) + self._tail
            head = identities[:len(known)]
            if head != known[:len(head)] or (known and not raw):
                self._moved = True  # not what was read from the anchor on: the list moved under us
                return []
        fresh = identities[len(known):]
        if any(ident in self._this_pass for ident in fresh):
            self._moved = True  # an item of an earlier page again: the list moved under us
            return []
        self._this_pass.update(fresh)
        self.unnamed_read += sum(isinstance(ident, tuple) for ident in fresh)
        self._page_length, self._read = len(raw), fresh
        out = []
        for ident, item in zip(fresh, raw[len(known):]):
            if ident not in self._handed_out:  # read by an earlier pass: handed out once
                self._handed_out.add(ident)
                out.append(item)
        return out

    def _next(self, page: Any, items: list[Any]) -> dict[str, Any] | None:
        if self._moved:
            return self._restart()
        ends = self._ends(page)
        self._tail += self._read
        if self._mode == "plain":
            if not self._read and (more := self._says_more(page)):
                # taken for the end, the items it leaves out would look gone: a group's
                # members, removed from its card
                raise PagingError(f"the page at position {self._requested} is empty although {more}")
            first_page = self.start_at == 0
            self.start_at += len(self._read)
            if first_page:  # nothing before the first page can move under it
                self._settle()
                if not self._read or ends:
                    return None
            else:  # beyond a check that held nothing new: the check after it vouches for it
                self._checks_plain, self._plain_ends = True, ends or not self._read
            self._mode = "check"
            return self._cursor()
        if self._read:  # new items after what the check repeated
            self.start_at = self._requested + self._page_length
            self._checks_plain = False
            self._settle()
            return None if ends else self._cursor()
        if self._checks_plain:
            self._checks_plain = False
            if self._plain_ends:
                if self._more_beyond(page, self.start_at):  # the end read before, yet more follow: the list moved
                    return self._restart()
                return None  # the end, confirmed: nothing before it had moved
            self._settle()
        elif ends:
            return None
        self._mode = "plain"  # nothing new: the end, or a server capping pages below what the check repeats
        return self._cursor()

    def _settle(self) -> None:
        """The last named item read becomes the anchor, the items after it the tail."""
        base = self._anchor[0] + 1 if self._anchor else 0
        for n in range(len(self._tail) - 1, -1, -1):
            if not isinstance(self._tail[n], tuple):
                self._anchor, self._tail = (base + n, self._tail[n]), self._tail[n + 1:]
                break
        if len(self._tail) > self.MAX_UNNAMED_RUN:
            raise PagingError(
                f"more than {self.MAX_UNNAMED_RUN} records in a row name no one (account id 'unknown'): a server "
                "that ignores startAt? Stopping rather than page for ever."
            )

    def _restart(self) -> dict[str, Any]:
        self.restarts += 1
        if self.restarts > self.MAX_RESTARTS:
            raise PagingError(
                f"the listing changed between its pages {self.restarts} times while it was read (items added or deleted in "
                "Jira while it was read, or a server that ignores startAt); stopping rather than leave records "
                "out, which a full import would take for removed. The next run reads it again."
            )
        self.notice = (
            f"the listing changed while it was read (the page at position {self._requested} does not hold what "
            f"was read there): reading it again from the start ({self.restarts} of {self.MAX_RESTARTS}); what was "
            "read already is not read twice"
        )
        self._reset()
        return self._cursor()


class StartAtPaginator(_OffsetPaginator):
    """``startAt`` paging over ``{"values"|"comments": [...], "isLast"?, "total"?}`` pages."""

    def __init__(
        self, page_size: int, *, items_key: str = "values", id_keys: tuple[str, ...] = ("id",),
        anonymous: frozenset[str] = frozenset(),
    ) -> None:
        super().__init__(page_size, id_keys=id_keys, anonymous=anonymous)
        self.items_key = items_key
        self._contradicted = False  # a page said isLast: true with a total beyond it (logged once)

    def _page_items(self, page: Any) -> list[Any]:
        page = _object_page(page)
        items = _object_list(page, self.items_key)
        _optional(page, "startAt", (int,), "a whole number")
        _optional(page, "total", (int,), "a whole number")
        _optional(page, "isLast", (bool,), "true or false")
        return list(items)

    def _ends(self, page: Any) -> bool:
        is_last = page.get("isLast")
        total = page.get("total")
        beyond = self._requested + self._page_length  # the position after this page
        if is_last is True and isinstance(total, int) and total > beyond:
            # the page contradicts itself: taken for the end, the items its total counts would
            # look gone (a group's members, removed from its card). Read on: the next page shows
            # which is right -- more items, or an empty page still counting more (PagingError)
            if not self._contradicted:
                self._contradicted = True
                self.notice = (f"the page at position {self._requested} says it is the last (isLast: true) but "
                               f"its total says {total} item(s), {beyond} reached: reading on")
            return False
        if is_last is not None:
            return is_last is True
        return isinstance(total, int) and beyond >= total

    def _more_beyond(self, page: Any, boundary: int) -> bool:
        total = page.get("total")
        if isinstance(total, int) and total > boundary:
            return True
        # a page cut short before the boundary says "more" of what was read already
        return page.get("isLast") is False and self._requested + self._page_length >= boundary

    def _says_more(self, page: Any) -> str | None:
        total = page.get("total")
        if page.get("isLast") is False:
            return "it says more follow (isLast: false)"
        if isinstance(total, int) and total > self._requested:
            return f"it says the listing holds {total} item(s) (total)"
        return None


class OffsetArrayPaginator(_OffsetPaginator):
    """Bare JSON arrays: advance ``startAt`` by what came back; only an empty page ends it.

    These pages carry no ``isLast`` or ``total``, and Jira may return fewer items than
    ``maxResults`` on any page (its cap is not the documented one), so the listing costs
    one or two extra requests -- the price of never taking a capped page for the end.
    ``max_page_size`` is the server's documented maximum (1000 for users): asking for more
    is pointless.
    """

    def __init__(
        self, page_size: int, *, max_page_size: int = 1000, id_keys: tuple[str, ...] = ("accountId",),
        anonymous: frozenset[str] = frozenset(),
    ) -> None:
        super().__init__(min(page_size, max_page_size), id_keys=id_keys, anonymous=anonymous)

    def _page_items(self, page: Any) -> list[Any]:
        if not isinstance(page, list):
            raise PagingError(f"the page is {describe_json(page)}, expected a list")
        return _objects(page, "the page")
