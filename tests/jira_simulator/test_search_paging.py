"""search/jql paging: nextPageToken keyset pages return every issue exactly once."""
from __future__ import annotations

import pytest

ALL = "project in (SUP, ENG, OPS)"


def _page_all(session, url, jql, page_size, fields=None, method="GET"):
    ids, token, pages = [], None, 0
    while True:
        if method == "GET":
            params = {"jql": jql, "maxResults": page_size}
            if fields:
                params["fields"] = fields
            if token:
                params["nextPageToken"] = token
            resp = session.get(url, params=params)
        else:
            body = {"jql": jql, "maxResults": page_size}
            if fields:
                body["fields"] = fields.split(",")
            if token:
                body["nextPageToken"] = token
            resp = session.post(url, json=body)
        assert resp.status_code == 200, resp.text
        data = resp.json()
        pages += 1
        ids.extend(i["id"] for i in data["issues"])
        if data["isLast"]:
            assert "nextPageToken" not in data
            return ids, pages
        assert data["nextPageToken"] and len(data["issues"]) > 0
        token = data["nextPageToken"]


@pytest.fixture(scope="module")
def seeded_total(jira_sim):
    jira_sim.reset()
    return jira_sim.seed["issues"]


@pytest.mark.parametrize("page_size", [1, 7, 100, 5000])
def test_every_issue_exactly_once(jira_sim, seeded_total, page_size):
    s = jira_sim.session()
    url = jira_sim.base_url + "/rest/api/3/search/jql"
    ids, pages = _page_all(s, url, ALL, page_size)
    assert len(ids) == seeded_total
    assert len(set(ids)) == seeded_total
    expected_pages = -(-seeded_total // min(page_size, 5000))
    assert pages == expected_pages


@pytest.mark.parametrize("method", ["GET", "POST"])
def test_page_size_capped_when_fields_requested(jira_sim, seeded_total, method):
    """5000 is honoured for id-only pages; with fields Jira returns fewer per page (100)."""
    s = jira_sim.session()
    url = jira_sim.base_url + "/rest/api/3/search/jql"
    ids, pages = _page_all(s, url, ALL + " ORDER BY updated DESC", 5000, fields="summary,status", method=method)
    assert sorted(ids) == sorted(set(ids)) and len(ids) == seeded_total
    assert pages == -(-seeded_total // 100)


def test_keyset_order_with_ties_and_descending(jira_sim, seeded_total):
    s = jira_sim.session()
    url = jira_sim.base_url + "/rest/api/3/search/jql"
    # status has many ties: the id tie-breaker must keep pages disjoint
    ids, _ = _page_all(s, url, ALL + " ORDER BY status DESC, created ASC", 13)
    assert len(ids) == len(set(ids)) == seeded_total
    keys, token = [], None
    while True:
        params = {"jql": "project = SUP ORDER BY key DESC", "maxResults": 9, "fields": "key"}
        if token:
            params["nextPageToken"] = token
        data = s.get(url, params=params).json()
        keys += [i["key"] for i in data["issues"]]
        if data["isLast"]:
            break
        token = data["nextPageToken"]
    nums = [int(k.split("-")[1]) for k in keys]
    assert nums == sorted(nums, reverse=True) and len(nums) == len(set(nums))


def test_page_token_is_bound_to_its_query(jira_sim, validate_error):
    s = jira_sim.session()
    url = jira_sim.base_url + "/rest/api/3/search/jql"
    token = s.get(url, params={"jql": "project = SUP", "maxResults": 1}).json()["nextPageToken"]
    validate_error(s.get(url, params={"jql": "project = ENG", "nextPageToken": token}), 400)
    validate_error(s.get(url, params={"jql": "project = SUP", "nextPageToken": "garbage!"}), 400)


def test_approximate_count_matches_paging(jira_sim, seeded_total):
    s = jira_sim.session()
    r = s.post(jira_sim.base_url + "/rest/api/3/search/approximate-count", json={"jql": ALL})
    assert r.json() == {"count": seeded_total}
