"""Records identified by their place (account id "unknown": Jira's corrupted records of deleted
users).

1. Such a record as the anchor: any "unknown" record at that place would pass the check. Two
   users deleted before the boundary between two pages slid a live user behind the cursor. The
   anchor is now the last record with an id of its own.
2. A server that ignores startAt, whose page holds only "unknown" records: every answer looked
   like new records at new places, and the listing never ended. Now a run of more than
   ``MAX_UNNAMED_RUN`` such records stops it (lowered here to keep the test short).
"""
from __future__ import annotations

import pytest

from jira_esm_connector.jira import JiraClient
from jira_esm_connector.jira.paginators import OffsetArrayPaginator, PagingError, StartAtPaginator, _OffsetPaginator


def _user(tag):
    return {"accountId": "unknown" if tag.startswith("ghost") else tag, "tag": tag}


class Jira:
    def __init__(self, tags, caps, after=None, ignore_start_at=False, style="startAt"):
        self.tags, self.caps, self.after, self.ignore, self.style = list(tags), list(caps), after or {}, ignore_start_at, style
        self.n, self.log = 0, []

    def request(self, method, path, params=None, json=None, **kw):
        start = 0 if self.ignore else params["startAt"]
        cap = self.caps[self.n] if self.n < len(self.caps) else params["maxResults"]
        window = self.tags[start:start + min(cap, params["maxResults"])]
        self.log.append((params["startAt"], window))
        vals = [_user(t) for t in window]
        page = vals if self.style == "array" else {
            "startAt": start, "maxResults": params["maxResults"], "values": vals,
            "isLast": start + len(window) >= len(self.tags), "total": len(self.tags)}
        for tag in self.after.get(self.n, ()):  # users deleted right after this answer
            self.tags.remove(tag)
        self.n += 1
        if self.n > 2000:
            raise RuntimeError(f"endless listing: {self.n} requests, pages so far {self.log[:6]} ...")
        return page


def _client(jira):
    client = JiraClient("https://acme.atlassian.net", "ops@acme.example", "tok-review")
    client.request = jira.request
    return client


# a, b, ghost1, x, ghost2, m: page 1 (capped at 3) = [a, b, ghost1]; a and b are deleted right
# after it; the next page at 2 reads [ghost2, m] -- ghost2 passes for ghost1 -- and x, a member
# all along, slid to 1, behind the cursor.
TAGS = ["a", "b", "ghost1", "x", "ghost2", "m"]


def test_group_members_two_deletions_before_an_unknown_record_drop_no_live_member():
    jira = Jira(TAGS, caps=[3], after={0: ("a", "b")})
    try:
        members = [u["accountId"] for u in _client(jira).iter_group_members(group_id="g1", page_size=50)]
    except PagingError:
        return
    assert "x" in members, f"group/member listed {members}; x was a member all along; pages {jira.log}"


def test_users_search_two_deletions_before_an_unknown_record_skip_no_live_user():
    jira = Jira(TAGS, caps=[3], after={0: ("a", "b")}, style="array")
    try:
        users = [u["accountId"] for u in _client(jira).iter_users(page_size=1000)]
    except PagingError:
        return
    assert "x" in users, f"users/search listed {users}; x was never deleted (it would be marked Deleted); pages {jira.log}"


def test_contrast_the_same_deletions_before_a_named_anchor_are_caught():
    """Passes: with a named record in ghost1's place the overlap check sees the list moved."""
    tags = ["a", "b", "c", "x", "ghost2", "m"]
    jira = Jira(tags, caps=[3], after={0: ("a", "b")})
    members = [u["accountId"] for u in _client(jira).iter_group_members(group_id="g1", page_size=50)]
    assert "x" in members


@pytest.mark.parametrize("style", ["array", "startAt"])
def test_a_server_ignoring_startAt_with_an_unknown_first_user_is_stopped(style, monkeypatch):
    """Jira answers one user per page and ignores startAt; the first user is a corrupted
    record (the fake server gives up after 2000 requests: an endless listing)."""
    monkeypatch.setattr(_OffsetPaginator, "MAX_UNNAMED_RUN", 50)
    jira = Jira(["ghost1", "u1", "u2"], caps=[1] * 5000, ignore_start_at=True, style=style)
    client = _client(jira)
    listing = client.iter_users(page_size=1000) if style == "array" else client.iter_group_members(group_id="g1")
    try:
        with pytest.raises(PagingError):
            list(listing)
    except RuntimeError as exc:
        pytest.fail(f"{exc}")


def test_a_server_ignoring_startAt_with_a_page_of_unknown_records_is_stopped(monkeypatch):
    """The same at the paginator, page size 2, every answer [ghost, ghost]."""
    monkeypatch.setattr(_OffsetPaginator, "MAX_UNNAMED_RUN", 50)
    pag = OffsetArrayPaginator(2, anonymous=frozenset({"unknown"}))
    ghost = {"accountId": "unknown"}
    cursor, handed, n = pag.first(), 0, 0
    try:
        while cursor is not None and n < 1000:
            page = [ghost, ghost]  # startAt ignored
            items = pag.items(page)
            cursor = pag.next(page, items)
            handed += len(items)
            n += 1
    except PagingError:
        return
    assert cursor is None, f"still paging after {n} requests, {handed} records handed out from a listing of 2; next {cursor}"
