"""A card in a folder the integration user may not update (an archive): ESM answers each
write touching it with 403, as the contract documents ("User is forbidden to update the
resource"), a bulk PUT as a whole. That one card is refused with ESM's words; the other
records of the run still load (before, the one 403 stopped every run at the same place)."""
from __future__ import annotations

import pytest

from jira_esm_connector.pipeline import run_import

from .conftest import ISSUES_TASK, comment_task, make_task
from .helpers import by_attr, esm_cards, run_id


@pytest.fixture
def archive_read_only(esm_sim):
    yield lambda: esm_sim.admin("POST", "forbidden", {"folders": ["incident_archive"]})
    esm_sim.admin("POST", "forbidden", {"folders": []})


def _two_issues(jira_sim, **extra) -> list[str]:
    return [jira_sim.admin("POST", "issues", json={"project": "SUP", "summary": f"issue {n}", **extra}).json()["key"]
            for n in (1, 2)]


def _archive(esm, task, key) -> str:
    card = by_attr(esm_cards(esm, "incident", task.name), "jira_key")[key]
    esm.patch_card("incident", card.data_card_id, {}, folder="incident_archive")  # an agent archives it
    return card.data_card_id


def test_an_edit_esm_forbids_is_refused_and_the_other_records_load(jira, jira_sim, esm, state, staging,
                                                                    archive_read_only):
    archived_key, other_key = _two_issues(jira_sim)
    task = make_task(ISSUES_TASK, name="read_only_issues", jql=f"key in ({archived_key}, {other_key})")
    run_import(task, jira, esm, state, staging, run_id(1))
    _archive(esm, task, archived_key)
    archive_read_only()
    for key in (archived_key, other_key):
        jira_sim.admin("PATCH", f"issues/{key}", json={"summary": f"{key} changed in Jira"})

    second = run_import(task, jira, esm, state, staging, run_id(2))

    assert (second["updated"], second["refused"]) == (1, 1), second
    (refused,) = second["refused_records"]
    assert refused["key"] == archived_key and "forbidden" in refused["reason"], refused
    cards = by_attr(esm_cards(esm, "incident", task.name), "jira_key")
    assert cards[other_key].value("subject") == f"{other_key} changed in Jira"


def test_a_comment_esm_forbids_is_refused_and_the_other_comments_load(jira, jira_sim, esm, state, staging,
                                                                       archive_read_only):
    archived_key, other_key = _two_issues(jira_sim, comments=[{"body": "a word"}])
    issues = make_task(ISSUES_TASK, name="read_only_commented", jql=f"key in ({archived_key}, {other_key})")
    run_import(issues, jira, esm, state, staging, run_id(1))
    _archive(esm, issues, archived_key)
    archive_read_only()

    result = run_import(comment_task("read_only_comments", f"key in ({archived_key}, {other_key})"),
                        jira, esm, state, staging, run_id(1))

    assert (result["created"], result["refused"]) == (1, 1), result
    assert "forbidden" in result["refused_records"][0]["reason"], result["refused_records"]
    other = by_attr(esm_cards(esm, "incident", issues.name), "jira_key")[other_key]
    assert [e["value"].split("\n")[0] for e in other.values("worklog")] == ["a word"]


def test_a_worklog_esm_forbids_writing_is_reported_as_forbidden_not_as_missing(jira, jira_sim, esm, esm_sim, state,
                                                                              staging):
    """The contract documents 403 on an attribute WRITE as "User is forbidden to update the
    resource" (only the attribute read uses 403 for "Resource not found"). The client read a
    403 naming the attribute as "template has no attribute 'worklog'", dropping ESM's words:
    the operator was sent to look for a missing attribute."""
    key = jira_sim.admin("POST", "issues", json={"project": "SUP", "summary": "s", "comments": [{"body": "w"}]}).json()["key"]
    run_import(make_task(ISSUES_TASK, name="forbidden_worklog_issues", jql=f"key = {key}"),
               jira, esm, state, staging, run_id(1))
    esm_sim.admin("POST", "forbidden", {"attributes": ["incident.worklog"]})
    try:
        result = run_import(comment_task("forbidden_worklog", f"key = {key}"), jira, esm, state, staging, run_id(1))
    finally:
        esm_sim.admin("POST", "forbidden", {})

    (refused,) = result["refused_records"]
    assert "forbidden to update attribute 'worklog'" in refused["reason"], refused
    assert "has no attribute" not in refused["reason"]
