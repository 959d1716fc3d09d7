"""The issue a create made was noted with the event only when Jira *answered*
the create. When the answer was lost (read timeout) and the attempt found the issue through
the label search -- the very case the index-lag guard exists for -- nothing is noted. If the
write-back then fails and someone removes the event's label before the retry, the retry finds
nothing by label and creates a SECOND issue: the same duplicate the note of a created issue is there to prevent. Now the issue found is noted too."""
from __future__ import annotations

import pytest

from jira_esm_connector.events import run_event
from jira_esm_connector.http.errors import RequestTimeoutError, ServiceUnavailableError
from jira_esm_connector.markers import ISSUE_EVENT_PROPERTY, EventRef

from .conftest import EsmDownOnce, example_task, unique


class CreateAnswerLostOnce:
    """The Jira client, but the first issue create's answer is lost after Jira made the issue."""

    def __init__(self, jira):
        self._jira, self.creates = jira, 0

    def __getattr__(self, name):
        return getattr(self._jira, name)

    def create_issue(self, *a, **kw):
        self.creates += 1
        made = self._jira.create_issue(*a, **kw)
        if self.creates == 1:
            raise RequestTimeoutError("Jira did not answer POST /rest/api/3/issue in time", service="Jira")
        return made



def test_an_issue_found_after_a_lost_answer_is_noted_too(jira, esm, state):
    task = example_task("event_create_issue.yaml")
    card = esm.create_card("incident", {"subject": "answer lost"}, folder="incident_management")
    conf = {"event_id": unique(), "datacard_id": card, "subject": "answer lost"}
    flaky_jira, flaky_esm = CreateAnswerLostOnce(jira), EsmDownOnce(esm)
    with pytest.raises(ServiceUnavailableError):  # the issue was found by search; the write-back failed
        run_event(task, conf, flaky_jira, flaky_esm, state, owner="run-1", index_lag_s=0)
    assert flaky_jira.creates == 1
    ref = EventRef(task.name, conf["event_id"])
    first = next(iter(jira.search(f'labels = "{ref.label}"', fields=["labels"])))["key"]
    jira.edit_issue(first, {"labels": ["triaged"]})  # someone tidies the labels before the retry
    retried = run_event(task, conf, flaky_jira, flaky_esm, state, owner="run-1", index_lag_s=0)
    holders = [k for k in {first, retried["issue_key"]}
               if ref.matches(jira.get_issue_property(k, ISSUE_EVENT_PROPERTY, missing_ok=True))]
    assert flaky_jira.creates == 1, f"a second issue {retried['issue_key']} was created beside {first}"
    assert retried["issue_key"] == first and holders == [first]
