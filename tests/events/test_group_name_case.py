"""Jira matches group names without regard to case (the simulator's groups.name is
COLLATE NOCASE; group/bulk?groupName=..., DELETE /group?groupname=... find the group): the
group events find it whatever the case ESM spells it in."""
from __future__ import annotations

import pytest

from jira_esm_connector.events import EventRefused, create_group, run_event
from jira_esm_connector.http.errors import RequestTimeoutError, ServiceUnavailableError
from jira_esm_connector.markers import EventRef

from .conftest import FirstCallFails, delete_group_if_there, example_task, unique


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
        overloaded = FirstCallFails(jira, "find_group", ServiceUnavailableError("Jira answered 503", status=503))
        run_event(task, conf, overloaded, None, state, owner="run-1")
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


def test_a_resumed_create_group_does_not_take_a_group_in_another_case_for_its_own(jira, request):
    """A resumed event (check_first) looks for the group an earlier attempt may have made.
    That attempt sent the name as the payload spells it, and Jira keeps a name as sent: a
    group Jira finds in another case ("Review-Contractors" for "review-contractors") was made
    by someone else. It was reported as created by this event; refused now, naming it."""
    name = unique("Review-Contractors")
    held = jira.create_group(name)
    request.addfinalizer(lambda: delete_group_if_there(jira, held["groupId"]))
    with pytest.raises(EventRefused, match=f"already has the group '{name}' .* another Unicode form or case"):
        create_group(jira, EventRef("t", unique()), name.lower(), check_first=True)
    assert [g["groupId"] for g in jira.iter_groups(group_names=[name])] == [held["groupId"]]


def test_create_group_whose_answer_was_lost_does_not_take_a_group_in_another_case_for_its_own(jira, request):
    """After a create without an answer the connector looks for the group before repeating the
    request; finding one in another case, made by someone else, it reported the group created."""
    name = unique("Review-Contractors")
    held = jira.create_group(name)
    request.addfinalizer(lambda: delete_group_if_there(jira, held["groupId"]))
    with pytest.raises(EventRefused, match=f"already has the group '{name}' .* another Unicode form or case"):
        lost = FirstCallFails(jira, "create_group", RequestTimeoutError("Jira did not answer in time", None))
        create_group(lost, EventRef("t", unique()), name.lower())
    assert [g["groupId"] for g in jira.iter_groups(group_names=[name])] == [held["groupId"]]
