"""A card in a folder the integration user may not update (an archive): ESM answers each
write touching it with 403, as the contract documents ("User is forbidden to update the
resource"), a bulk PUT as a whole. That one card is refused with ESM's words; the other
records of the run still load (before, the one 403 stopped every run at the same place).
An account that may not write the template at all (its role lost) is told apart: the load
fails after a few requests, saying so, instead of refusing every card at two requests each."""
from __future__ import annotations

import pytest

from jira_esm_connector.esm import TemplateWriteForbiddenError
from jira_esm_connector.pipeline import run_import

from .conftest import ISSUES_TASK, comment_task, make_task
from .helpers import by_attr, esm_cards, esm_stats, reset_esm_stats, run_id

_BULK_PUT = "PUT /rest-api/itsm/v1/dc/{templateCode}/data"


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


@pytest.fixture
def incident_forbidden(esm_sim):
    yield lambda: esm_sim.admin("POST", "forbidden", {"templates": ["incident"]})
    esm_sim.admin("POST", "forbidden", {})


def _issues(jira_sim, n: int, label: str | None = None) -> list[str]:
    extra = {"labels": [label]} if label else {}
    return [jira_sim.admin("POST", "issues", json={"project": "SUP", "summary": f"issue {i}", **extra}).json()["key"]
            for i in range(n)]


def _assert_template_refused(err, puts: int) -> None:
    text = str(err.value)
    assert "ESM refuses every write to template 'incident' (403)" in text, text
    assert "may have lost its rights" in text and "forbidden to update data cards of template 'incident'" in text
    # per chunk at ESM at once (4): the chunk, then up to 3 cards alone -- not 2 per card
    assert puts <= 16, puts


def test_an_account_that_may_not_write_the_template_fails_the_load_after_a_few_requests(
        jira, jira_sim, esm, esm_sim, state, staging, incident_forbidden):
    """The role is lost after the cards were made: the daily cache clear pushes every record
    again as an edit. Before, each of the 60 cards cost ~2 requests (105 PUTs) and the run
    ended "60 refused", every run. Nothing refused is cached; with the role back all load."""
    keys = _issues(jira_sim, 60)
    task = make_task(ISSUES_TASK, name="forbidden_template_edits", jql=f"key in ({', '.join(keys)})")
    assert run_import(task, jira, esm, state, staging, run_id(1), chunk_size=4)["created"] == 60
    incident_forbidden()
    reset_esm_stats(esm_sim)

    with pytest.raises(TemplateWriteForbiddenError) as err:
        run_import(task, jira, esm, state, staging, run_id(2), chunk_size=4, clear_cache=True)

    _assert_template_refused(err, esm_stats(esm_sim).get(_BULK_PUT, 0))
    assert state.get_fingerprints(task.name, keys) == {}
    esm_sim.admin("POST", "forbidden", {})
    third = run_import(task, jira, esm, state, staging, run_id(3), chunk_size=4)
    assert (third["updated"], third["created"], third["refused"]) == (60, 0, 0), third
    assert len(esm_cards(esm, "incident", task.name)) == 60


def test_a_first_import_into_a_template_the_account_may_not_write_fails_and_loads_once_allowed(
        jira, jira_sim, esm, esm_sim, state, staging, incident_forbidden):
    """New cards into the task's folder, refused with 403: the same clear failure, no card
    made; once the role is back the retry creates each card once."""
    keys = _issues(jira_sim, 60)
    task = make_task(ISSUES_TASK, name="forbidden_template_creates", jql=f"key in ({', '.join(keys)})")
    incident_forbidden()
    reset_esm_stats(esm_sim)

    with pytest.raises(TemplateWriteForbiddenError) as err:
        run_import(task, jira, esm, state, staging, run_id(1), chunk_size=4)

    _assert_template_refused(err, esm_stats(esm_sim).get(_BULK_PUT, 0))
    assert state.get_fingerprints(task.name, keys) == {} and esm_cards(esm, "incident") == {}
    esm_sim.admin("POST", "forbidden", {})
    again = run_import(task, jira, esm, state, staging, run_id(2), chunk_size=4)
    assert (again["created"], again["refused"]) == (60, 0), again
    assert sorted(by_attr(esm_cards(esm, "incident", task.name), "jira_key")) == sorted(keys)


def test_a_run_whose_only_changes_are_archived_cards_refuses_them_and_does_not_fail(
        jira, jira_sim, esm, state, staging, archive_read_only):
    """The cards refused with 403 are all in the read-only folder and ESM accepted nothing
    yet: no card of the task's own folder to ask with, so nothing says the template is
    refused -- the cards are refused one by one, as before."""
    keys = _two_issues(jira_sim)
    task = make_task(ISSUES_TASK, name="read_only_only_archived", jql=f"key in ({', '.join(keys)})")
    run_import(task, jira, esm, state, staging, run_id(1))
    for key in keys:
        _archive(esm, task, key)
    archive_read_only()
    for key in keys:
        jira_sim.admin("PATCH", f"issues/{key}", json={"summary": f"{key} changed in Jira"})

    second = run_import(task, jira, esm, state, staging, run_id(2))

    assert (second["updated"], second["refused"]) == (0, 2), second
    assert all("forbidden" in r["reason"] for r in second["refused_records"])


@pytest.mark.parametrize("paging", [False, True], ids=["from-key-map", "paging"])
def test_marking_removed_cards_in_a_template_the_account_may_not_write_fails_after_a_few_requests(
        jira, jira_sim, esm, esm_sim, state, staging, incident_forbidden, paging):
    """A run with nothing to load but issues gone from Jira: mark_removed's one bulk PUT is
    refused with 403. Before, the chunk was split card by card (2 requests per card, 79 PUTs
    for 40 cards) and the run ended "40 refused removals", every run; now it fails the way the
    load does, naming the template. With the role back the cards are marked."""
    label = f"forbidden-removals-{'paging' if paging else 'map'}"
    keys = _issues(jira_sim, 60, label)  # selected by the label: Jira refuses a JQL naming a deleted key
    task = make_task(ISSUES_TASK, name="forbidden_template_removals", mode="full",
                     jql=f"labels = {label}", removed={"attribute": "status", "value": "07 - Cancelled"})
    assert run_import(task, jira, esm, state, staging, run_id(1))["created"] == 60
    if paging:  # the candidates are found by reading every card of the task (module docs of removal)
        state.set_key_map_complete(task.name, task.template, task.key.esm, False)
    gone = keys[:40]
    for key in gone:
        jira_sim.admin("DELETE", f"issues/{key}")
    incident_forbidden()
    reset_esm_stats(esm_sim)

    with pytest.raises(TemplateWriteForbiddenError) as err:
        run_import(task, jira, esm, state, staging, run_id(2), allow_mass_removal=True, allow_shrink=True)

    _assert_template_refused(err, esm_stats(esm_sim).get(_BULK_PUT, 0))
    assert esm_stats(esm_sim).get(_BULK_PUT, 0) <= 4  # the chunk, then up to 3 cards alone
    esm_sim.admin("POST", "forbidden", {})
    third = run_import(task, jira, esm, state, staging, run_id(3), allow_mass_removal=True, allow_shrink=True)
    assert third["marked_removed"] == 40, third
    cards = by_attr(esm_cards(esm, "incident", task.name), "jira_key")
    assert sorted(k for k, c in cards.items() if c.value("status") == "07 - Cancelled") == sorted(gone)
