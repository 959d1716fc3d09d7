"""The comment pager and the comment property read: the one place their REST paths live."""
from __future__ import annotations

import pytest

from jira_esm_connector.http.errors import NotFoundError
from jira_esm_connector.jira import JiraClient


class Recorded(JiraClient):
    """A client whose requests are answered from ``answers`` and recorded (no network)."""

    def __init__(self, *answers):
        super().__init__("https://your-site.atlassian.net", "me@example.com", "token")
        self.answers = list(answers)
        self.asked = []

    def request(self, method, path, *, params=None, json=None):
        self.asked.append((method, path, params))
        answer = self.answers.pop(0)
        if isinstance(answer, Exception):
            raise answer
        return answer


def _page(ids, start, total):
    return {"comments": [{"id": i} for i in ids], "startAt": start, "maxResults": 2, "total": total}


def test_iter_comments_pages_and_asks_for_properties_only_when_told():
    # the second page starts at the comment read last (it must still be there: see the paginators)
    client = Recorded(_page(["1", "2"], 0, 3), _page(["2", "3"], 1, 3))
    assert [c["id"] for c in client.iter_comments("SUP-1", page_size=2, expand_properties=True)] == ["1", "2", "3"]
    assert [p for _m, _p, p in client.asked] == [
        {"expand": "properties", "startAt": 0, "maxResults": 2},
        {"expand": "properties", "startAt": 1, "maxResults": 2},
    ]
    plain = Recorded(_page([], 0, 0))
    assert list(plain.iter_comments("SUP 1/x", order_by="-created")) == []
    assert plain.asked[0][1] == "/rest/api/3/issue/SUP%201%2Fx/comment"
    assert "expand" not in plain.asked[0][2] and plain.asked[0][2]["orderBy"] == "-created"


def test_get_comment_property():
    client = Recorded({"key": "p.x", "value": {"a": 1}})
    assert client.get_comment_property("10001", "p.x") == {"a": 1}
    assert client.asked == [("GET", "/rest/api/3/comment/10001/properties/p.x", None)]
    missing = NotFoundError("no", 404, "Jira", details=["The property with key 'p.x' does not exist."])
    assert Recorded(missing).get_comment_property("10001", "p.x", missing_ok=True) is None
    with pytest.raises(NotFoundError):
        Recorded(missing).get_comment_property("10001", "p.x")
    gone = NotFoundError("no", 404, "Jira", details=["Can not find a comment for the id: 10001."])
    with pytest.raises(NotFoundError):
        Recorded(gone).get_comment_property("10001", "p.x", missing_ok=True)


def test_comment_property_of_reads_the_embedded_one_or_asks_jira():
    embedded = {"id": "7", "properties": [{"key": "p.x", "value": {"a": 1}}]}
    client = Recorded()
    assert client.comment_property_of(embedded, "p.x") == {"a": 1}
    assert client.comment_property_of({"id": "7", "properties": []}, "p.x") is None
    assert client.asked == []  # embedded: no request
    missing = NotFoundError("no", 404, "Jira", details=["The property with key 'p.x' does not exist."])
    asked = Recorded({"key": "p.x", "value": {"b": 2}}, missing)
    assert asked.comment_property_of({"id": "8"}, "p.x") == {"b": 2}  # not embedded: read on its own
    assert asked.comment_property_of({"id": "9"}, "p.x") is None
    assert [path for _m, path, _p in asked.asked] == [
        "/rest/api/3/comment/8/properties/p.x", "/rest/api/3/comment/9/properties/p.x"]
