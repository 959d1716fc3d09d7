"""The read-only POST endpoints (search/jql, issue/bulkfetch ...) are retried like a GET;
every other POST is not repeated after an answer that may follow Jira's action (5xx, reset).
requests picks a connection adapter by URL *prefix*, compared in lower case, so the mount for
``/rest/api/3/issue/bulkfetch`` also covered the issues of a project keyed BULKFETCH."""
from __future__ import annotations

import pytest

from jira_esm_connector.http import ConnectorHTTPError, RetryPolicy
from jira_esm_connector.mapping import text_to_adf

FAST = RetryPolicy(total=3, backoff_base=0.01, backoff_cap=0.05, jitter=0.0)
KEY = "BULKFETCH-7"  # a valid issue key: project keys are 2-10 capital letters


def _calls(jira_sim, endpoint: str) -> int:
    return int(jira_sim.stats()["endpoints"].get(endpoint, 0))


@pytest.mark.parametrize("what", ["comment", "transitions"])
def test_a_post_on_an_issue_whose_key_starts_like_a_read_only_path_is_not_repeated(jira_sim, what):
    """A gateway's 502 can come after Jira added the comment / made the transition: sent
    again, the comment would be doubled, the issue moved two steps."""
    endpoint = f"POST /rest/api/3/issue/{{issueIdOrKey}}/{what}"
    jira_sim.admin("POST", "faults", json={"type": "status", "status": 502, "count": 1,
                                            "path": f"/rest/api/3/issue/{KEY}/{what}", "method": "POST"})
    before = _calls(jira_sim, endpoint)
    client = jira_sim.client(retry=FAST)
    try:
        with pytest.raises(ConnectorHTTPError) as err:
            if what == "comment":
                client.add_comment(KEY, text_to_adf("once only"))
            else:
                client.transition_issue(KEY, "31")
    finally:
        client.close()
        jira_sim.admin("DELETE", "faults")
    assert _calls(jira_sim, endpoint) - before == 1, "the POST was sent again"
    assert err.value.status == 502


def test_the_read_only_posts_are_still_retried(jira_sim):
    jira_sim.admin("POST", "faults", json={"type": "status", "status": 502, "count": 1,
                                            "path": "/rest/api/3/issue/bulkfetch", "method": "POST"})
    client = jira_sim.client(retry=FAST)
    try:
        assert [i["key"] for i in client.bulk_fetch(["SUP-1"], fields=["summary"])] == ["SUP-1"]
    finally:
        client.close()
        jira_sim.admin("DELETE", "faults")
