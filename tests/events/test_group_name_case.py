"""Jira matches group names without regard to case (the simulator's groups.name is
COLLATE NOCASE; group/bulk?groupName=..., DELETE /group?groupname=... find the group): the
group events find it whatever the case ESM spells it in."""
from __future__ import annotations

import pytest

from jira_esm_connector.events import EventRefused, create_group, run_event
from jira_esm_connector.http.errors import NotFoundError, RequestTimeoutError, ServiceUnavailableError
from jira_esm_connector.markers import EventRef

from .conftest import example_task, unique


class LookupFailsOnce:
    """The Jira client, but the first group lookup answers 503 (Jira overloaded)."""

    def __init__(self, jira):
        self._jira = jira
        self.failed = False

    def __getattr__(self, name):
        return getattr(self._jira, name)

    def find_group(self, name):
        if not self.failed:
            self.failed = True
            raise ServiceUnavailableError("Jira answered 503", status=503)
        return self._jira.find_group(name)


def test_jira_itself_finds_the_group_whatever_the_case(jira):
    name = unique("Review-Contractors")
    jira.create_group(name)
    found = list(jira.iter_groups(group_names=[name.lower()]))
    assert [g["name"] for g in found] == [name]  # Jira (the simulator) matches without case


def test_delete_group_retried_after_a_503_does_not_report_success_while_the_group_stays(jira, state):
    name = unique("Review-Contractors")
    jira.create_group(name)
    task = example_task("event_delete_group.yaml")
    conf = {"event_id": unique(), "name": name.lower()}  # ESM's card spells it in lower case
    with pytest.raises(ServiceUnavailableError):  # transient: Airflow retries the task
        run_event(task, conf, LookupFailsOnce(jira), None, state, owner="run-1")
    retried = run_event(task, conf, jira, None, state, owner="run-1")
    still_there = [g["name"] for g in jira.iter_groups(group_names=[name])]
    assert still_there == [] or retried["deleted"] is not False, (
        f"the event succeeded with {retried} but Jira still has the group {still_there}"
    )


def test_delete_group_named_in_other_case_is_not_refused(jira, state):
    name = unique("Review-Contractors")
    jira.create_group(name)
    task = example_task("event_delete_group.yaml")
    result = run_event(task, {"event_id": unique(), "name": name.upper()}, jira, None, state)
    assert result["deleted"] is True
    assert list(jira.iter_groups(group_names=[name])) == []


def _delete_if_there(jira, group_id: str) -> None:
    try:
        jira.delete_group(group_id=group_id)
    except NotFoundError:
        pass


def test_a_resumed_create_group_does_not_take_a_group_in_another_case_for_its_own(jira, request):
    """A resumed event (check_first) looks for the group an earlier attempt may have made.
    That attempt sent the name as the payload spells it, and Jira keeps a name as sent: a
    group Jira finds in another case ("Review-Contractors" for "review-contractors") was made
    by someone else. It was reported as created by this event; refused now, naming it."""
    name = unique("Review-Contractors")
    held = jira.create_group(name)
    request.addfinalizer(lambda: _delete_if_there(jira, held["groupId"]))
    with pytest.raises(EventRefused, match=f"already has the group '{name}' .* another Unicode form or case"):
        create_group(jira, EventRef("t", unique()), name.lower(), check_first=True)
    assert [g["groupId"] for g in jira.iter_groups(group_names=[name])] == [held["groupId"]]


class CreateAnswerLost:
    """The Jira client, but the answer to the first group create is lost (read timeout),
    and the request never reached Jira."""

    def __init__(self, jira):
        self._jira = jira
        self.lost = False

    def __getattr__(self, name):
        return getattr(self._jira, name)

    def create_group(self, name):
        if not self.lost:
            self.lost = True
            raise RequestTimeoutError("Jira did not answer in time", None)
        return self._jira.create_group(name)


def test_create_group_whose_answer_was_lost_does_not_take_a_group_in_another_case_for_its_own(jira, request):
    """After a create without an answer the connector looks for the group before repeating the
    request; finding one in another case, made by someone else, it reported the group created."""
    name = unique("Review-Contractors")
    held = jira.create_group(name)
    request.addfinalizer(lambda: _delete_if_there(jira, held["groupId"]))
    with pytest.raises(EventRefused, match=f"already has the group '{name}' .* another Unicode form or case"):
        create_group(CreateAnswerLost(jira), EventRef("t", unique()), name.lower())
    assert [g["groupId"] for g in jira.iter_groups(group_names=[name])] == [held["groupId"]]
