"""A create_issue event's noted issue deleted before the retry, while Jira's search
index still lists it (search/jql is eventually consistent: a deleted issue lingers in it for a
while, as a new one is missing for a while).

``_noted_issue`` treats the deletion as expected ("deleted meanwhile: the label search
decides"), but the label search (``find_issue_for_event``) then reads the property of the very
same deleted issue by key, Jira answers 404 for the *issue*, ``get_issue_property(missing_ok=True)``
re-raises it, and ``_call`` turns that 404 into a permanent ``EventRefused`` ("Jira refused to
look up the event's issue ... (HTTP 404)"): the event failed for good (AirflowFailException, no
retry) instead of the deleted issue simply not counting as the event's. Now a search hit Jira no longer has is skipped."""
from __future__ import annotations

import pytest

from jira_esm_connector.events import is_permanent, run_event
from jira_esm_connector.http.errors import ServiceUnavailableError
from jira_esm_connector.markers import EventRef

from .conftest import EsmDownOnce, example_task, unique



class LaggingIndex:
    """The Jira client, but its search index still lists issues deleted a moment ago."""

    def __init__(self, jira, stale):
        self._jira, self.stale = jira, stale  # stale: {label jql: [{"key", "id"}]}

    def __getattr__(self, name):
        return getattr(self._jira, name)

    def search(self, jql, *a, **kw):
        hits = list(self._jira.search(jql, *a, **kw))
        seen = {h["key"] for h in hits}
        return hits + [h for h in self.stale.get(jql, []) if h["key"] not in seen]


def test_a_deleted_noted_issue_still_in_the_index_does_not_fail_the_event_for_good(jira, jira_sim, esm, state):
    task = example_task("event_create_issue.yaml")
    card = esm.create_card("incident", {"subject": "deleted before retry"}, folder="incident_management")
    conf = {"event_id": unique(), "datacard_id": card, "subject": "deleted before retry"}
    flaky_esm = EsmDownOnce(esm)
    with pytest.raises(ServiceUnavailableError):  # issue X created and noted; write-back failed
        run_event(task, conf, jira, flaky_esm, state, owner="run-1", index_lag_s=0)
    ref = EventRef(task.name, conf["event_id"])
    jql = f"labels = {jira_quote(ref.label)}"
    hit = next(iter(jira.search(jql, fields=["summary"])))
    assert state.get_event(task.name, conf["event_id"]).notes.get("created_issue_id") == str(hit["id"])
    jira_sim.admin("DELETE", f"issues/{hit['key']}")  # a person deletes X before the retry
    lagging = LaggingIndex(jira, {jql: [{"key": hit["key"], "id": hit["id"], "fields": {"summary": "x"}}]})
    try:
        retried = run_event(task, conf, lagging, flaky_esm, state, owner="run-1", index_lag_s=0)
    except Exception as exc:  # noqa: BLE001
        assert not is_permanent(exc), f"the retry failed for good on a deleted issue the index still lists: {exc}"
    else:
        assert retried["issue_key"] != hit["key"]


def jira_quote(value: str) -> str:
    from jira_esm_connector.jira import jql_quote

    return jql_quote(value)
