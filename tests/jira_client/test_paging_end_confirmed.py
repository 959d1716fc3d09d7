"""An empty page beyond a page of only the item read last is the end only once a check at the
anchor vouches for it -- and only if that check does not itself say more follow. A deletion
before the boundary and an insertion before it, one on each side of the empty page, cancel out:
the anchor is back at its place, and a check answered with the anchor alone (Jira capping the
page at one item) cannot see that the item after it slid behind the cursor. A group/member
page says so (``isLast: false``, a ``total`` beyond it): the listing is read again, not ended.
(A bare array says nothing: no answer of one item can show two neighbours; see the paginator's
docs.) Each scenario is a scripted Jira: per request a page cap, and one change of the list
right after the answer."""
from __future__ import annotations

import pytest

from jira_esm_connector.jira import JiraClient
from jira_esm_connector.jira.paginators import OffsetArrayPaginator, PagingError, StartAtPaginator


class ScriptedJira:
    """An offset listing over ``self.items`` (account ids). ``script[n]`` = (cap of answer n,
    change applied right after answer n: None, ("del", id) or ("ins", index, id))."""

    def __init__(self, items, script, style):
        self.items, self.script, self.style, self.n, self.log = list(items), list(script), style, 0, []

    def page(self, start_at, max_results):
        cap, change = self.script[self.n] if self.n < len(self.script) else (max_results, None)
        window = self.items[start_at:start_at + min(cap, max_results)]
        vals = [{"accountId": x} for x in window]
        self.log.append((start_at, window))
        if self.style == "array":
            page = vals
        else:
            page = {"startAt": start_at, "maxResults": max_results, "values": vals,
                    "isLast": start_at + len(window) >= len(self.items), "total": len(self.items)}
        if change and change[0] == "del":
            self.items.remove(change[1])
        elif change:
            self.items.insert(change[1], change[2])
        self.n += 1
        if self.n > 500:
            raise RuntimeError("endless listing")
        return page


def drive(paginator, server):
    out, cursor = [], paginator.first()
    while cursor is not None:
        page = server.page(cursor["startAt"], cursor["maxResults"])
        items = paginator.items(page)
        cursor = paginator.next(page, items)
        out += [i["accountId"] for i in items]
    return out


def _client(server):
    client = JiraClient("https://acme.atlassian.net", "ops@acme.example", "tok-review")

    def request(method, path, params=None, json=None, **kw):
        return server.page(params["startAt"], params["maxResults"])

    client.request = request
    return client


# u0..u4 listed; caps 4, 1, 2, 1. After answer 1 (the overlap page [u3] alone) u1 is deleted:
# u4 slides to position 3, the page at 4 is empty. After answer 2 a user is added at the front:
# u3 is back at 3, so the look-back at 3 ([u3] alone) passes and the listing ends. u4 -- there
# all along -- is never listed.
SCRIPT_END = [(4, None), (1, ("del", "u1")), (2, ("ins", 1, "n5")), (1, None)]




def test_group_members_do_not_end_on_a_check_that_says_more_follow():
    """group/member: the check that would end the listing answers isLast: false and total 5,
    with only 4 members handed out: read again from the start, u4 is listed."""
    server = ScriptedJira(["u0", "u1", "u2", "u3", "u4"], SCRIPT_END, "startAt")
    try:
        members = [m["accountId"] for m in _client(server).iter_group_members(group_id="g1", page_size=50)]
    except PagingError:
        return
    last_answer = server.log[-1]
    assert "u4" in members, (
        f"group/member listed {members}; u4 was a member all along. Last page asked: {last_answer}, "
        f"answered isLast: false, total {len(server.items)}"
    )
