"""Reconciliation (issue 8) against the running Jira and ESM simulators: a clean import
reconciles to zeros; deliberate divergences are each counted exactly; nothing is written
to Jira, ESM or the state store."""
from __future__ import annotations

import pytest

from jira_esm_connector.esm import eql
from jira_esm_connector.pipeline import run_import
from jira_esm_connector.pipeline.reconcile import reconcile, reconcile_summary_line

from .conftest import ISSUES_TASK, USERS_TASK, make_task
from .helpers import by_attr, esm_cards, esm_stats, esm_writes, jira_issues, reset_esm_stats, run_id

REMOVAL = {"attribute": "status", "value": "07 - Cancelled", "max_share": 0.5}
FULL_ISSUES = dict(ISSUES_TASK, name="test_issues_full", mode="full", removed=REMOVAL)
GROUPS_TASK = {
    "name": "test_groups", "kind": "scheduled", "jira_conn_id": "jira_default", "esm_conn_id": "esm_default",
    "schedule": "0 * * * *", "mode": "full", "mapping_type": "group", "template": "group", "folder": "groups",
    "key": {"jira": "groupId", "esm": "jira_group_id"},
    "attributes": {
        "name": "name",
        "status": {"value": "1 - Active"},
        "members": {"from": "members", "each": "accountId", "reference": {"template": "person", "by": "jira_account_id"}},
    },
}
ZERO = ("missing_in_esm", "not_in_jira", "wrongly_removed", "duplicate_keys", "duplicate_cards", "stale",
        "owned_by_other_task")
# POSTs that only read (Jira's search and bulk fetch are POSTs)
_JIRA_READ_POSTS = ("/search/jql", "/issue/bulkfetch", "/search/approximate-count")


def jira_writes(jira_sim) -> dict[str, int]:
    endpoints = jira_sim.stats().get("endpoints") or {}
    return {
        name: n for name, n in endpoints.items()
        if name.split(" ")[0] in ("POST", "PUT", "PATCH", "DELETE") and not name.endswith(_JIRA_READ_POSTS)
    }


def state_snapshot(state, task_name: str, keys) -> tuple:
    return (
        sorted(state.iter_fingerprints(task_name)), sorted(state.all_card_ids(task_name).items()),
        state.get_watermark(task_name), state.last_cache_clear(task_name), state.recent_runs(task_name),
        sorted(state.get_card_ids(task_name, keys).items()),
    )


def reconcile_read_only(task, jira, jira_sim, esm, esm_sim, state, **kwargs):
    """Reconcile while proving that it writes nothing anywhere."""
    keys = list(state.all_card_ids(task.name))
    before = state_snapshot(state, task.name, keys)
    reset_esm_stats(esm_sim)
    jira_sim.admin("DELETE", "stats")
    report = reconcile(task, jira, esm, state, **kwargs)
    assert esm_writes(esm_sim) == 0, esm_stats(esm_sim)
    assert jira_writes(jira_sim) == {}
    assert state_snapshot(state, task.name, keys) == before
    return report


def test_after_a_clean_import_everything_reconciles_to_zero(jira, jira_sim, esm, esm_sim, state, staging, run_log):
    task = make_task(FULL_ISSUES)
    summary = run_import(task, jira, esm, state, staging, run_id(1))

    report = reconcile_read_only(task, jira, jira_sim, esm, esm_sim, state, sample_size=1000, logger=run_log)

    total = summary["created"]
    assert total > 20
    assert {k: report[k] for k in ZERO} == dict.fromkeys(ZERO, 0), report
    assert report["jira_records"] == report["esm_active_cards"] == report["esm_cards"] == total
    assert report["stale_sampled"] == total and report["stale_examples"] == []
    assert report["missing_in_esm_keys"] == report["not_in_jira_keys"] == report["wrongly_removed_keys"] == []
    assert report["notes"] == []
    line = (f"Reconciliation of 'test_issues_full': Jira {total} records, ESM {total} active cards; missing in ESM 0, "
            f"not in Jira 0, wrongly removed 0, duplicates 0, stale 0 of {total} sampled.")
    assert report["summary"] == line and line in run_log.messages
    assert len(repr(report)) < 5000  # the run's result (XCom): counts and a few keys, no records


def test_each_deliberate_divergence_is_counted_exactly(jira, jira_sim, esm, esm_sim, state, staging, run_log):
    task = make_task(FULL_ISSUES)
    run_import(task, jira, esm, state, staging, run_id(1))
    cards = by_attr(esm_cards(esm, "incident", task.name), "jira_key")
    total = len(cards)
    deleted_card, removed_live, edited, duplicated, deleted_issue = sorted(cards)[:5]

    esm.delete_card("incident", cards[deleted_card].data_card_id)                       # missing in ESM
    added = jira_sim.admin("POST", "issues", json={"project": "SUP", "summary": "Added after the import"}).json()["key"]
    jira_sim.admin("DELETE", f"issues/{deleted_issue}")                                   # not in Jira
    esm.set_attribute("incident", cards[removed_live].data_card_id, "status", "07 - Cancelled")  # wrongly removed
    esm.set_attribute("incident", cards[edited].data_card_id, "subject", "Edited by hand in ESM")  # stale
    original = esm.get_card("incident", cards[duplicated].data_card_id)                  # duplicate, same values
    esm.create_card(
        "incident", {name: original.plain_values(name) for name in original.data}, folder="incident_management",
    )

    report = reconcile_read_only(task, jira, jira_sim, esm, esm_sim, state, sample_size=1000, logger=run_log)

    assert report["missing_in_esm"] == 2 and sorted(report["missing_in_esm_keys"]) == sorted([deleted_card, added])
    assert report["not_in_jira"] == 1 and report["not_in_jira_keys"] == [deleted_issue]
    assert report["wrongly_removed"] == 1 and report["wrongly_removed_keys"] == [removed_live]
    assert (report["duplicate_keys"], report["duplicate_cards"], report["duplicate_key_examples"]) == (1, 1, [duplicated])
    assert report["stale"] == 1
    assert report["stale_examples"] == [{"key": edited, "card_id": cards[edited].data_card_id, "attributes": ["subject"]}]
    assert report["owned_by_other_task"] == 0
    # Jira: total - 1 deleted + 1 added; ESM: total - 1 deleted + 1 duplicate, one of them marked removed
    assert report["jira_records"] == total
    assert (report["esm_cards"], report["esm_active_cards"], report["esm_removed_cards"]) == (total, total - 1, 1)
    # sampled: every key with an active card that Jira still selects
    assert report["stale_sampled"] == total - 3
    # read-only hints from the task cache: the next import would skip these two as unchanged
    assert report["missing_but_cached"] == 1 and report["stale_but_cached"] == 1
    assert any("clear_cache" in note for note in report["notes"])
    assert report["summary"] == (
        f"Reconciliation of 'test_issues_full': Jira {total} records, ESM {total - 1} active cards; missing in ESM 2, "
        f"not in Jira 1, wrongly removed 1, duplicates 1, stale 1 of {total - 3} sampled."
    )
    logged = "\n".join(run_log.messages)
    assert report["summary"] in logged and f"Stale card {edited}" in logged and removed_live in logged

    # The import with clear_cache repairs what it may; a removed card stays removed (never re-enabled).
    run_import(task, jira, esm, state, staging, run_id(2), clear_cache=True)
    after = reconcile(task, jira, esm, state, sample_size=1000)
    assert (after["missing_in_esm"], after["not_in_jira"], after["stale"]) == (0, 0, 0), after
    assert after["wrongly_removed"] == 1 and after["duplicate_keys"] == 1


def test_group_members_compare_by_resolved_card_id(jira, jira_sim, esm, esm_sim, state, staging):
    run_import(make_task(USERS_TASK), jira, esm, state, staging, run_id(1))
    groups = make_task(GROUPS_TASK)
    run_import(groups, jira, esm, state, staging, run_id(1))

    clean = reconcile_read_only(groups, jira, jira_sim, esm, esm_sim, state, sample_size=100)
    assert {k: clean[k] for k in ZERO} == dict.fromkeys(ZERO, 0), clean
    assert clean["stale_sampled"] == clean["jira_records"] > 0

    group = next(g for g in jira.iter_groups() if list(jira.iter_group_members(group_id=g["groupId"])))
    member = next(iter(jira.iter_group_members(group_id=group["groupId"])))["accountId"]
    jira_sim.admin("DELETE", f"groups/{group['groupId']}/members/{member}")

    report = reconcile_read_only(groups, jira, jira_sim, esm, esm_sim, state, sample_size=100)
    assert report["stale"] == 1 and report["stale_examples"][0]["key"] == group["groupId"]
    assert report["stale_examples"][0]["attributes"] == ["members"]


def test_users_removed_marks_and_the_sample_is_bounded(jira, jira_sim, esm, esm_sim, state, staging):
    task = make_task(USERS_TASK)
    run_import(task, jira, esm, state, staging, run_id(1))
    gone = next(u for u in jira.iter_users() if u.get("active"))["accountId"]
    jira_sim.admin("DELETE", f"users/{gone}")
    run_import(task, jira, esm, state, staging, run_id(2))  # marks the card Deleted: that is right

    report = reconcile_read_only(task, jira, jira_sim, esm, esm_sim, state, sample_size=5, seed=7)
    assert {k: report[k] for k in ZERO} == dict.fromkeys(ZERO, 0), report
    assert report["esm_removed_cards"] == 1 and report["stale_sampled"] == 5
    assert reconcile(task, jira, esm, sample_size=0)["stale_sampled"] == 0

    # the account comes back in Jira: its card stays Deleted, and reconciliation says so
    jira_sim.admin("POST", "users", json={"accountId": gone, "displayName": "Back again"})
    back = reconcile(task, jira, esm, sample_size=0)
    assert back["wrongly_removed"] == 1 and back["wrongly_removed_keys"] == [gone]


def test_incremental_task_reports_unselected_cards_with_a_note(jira, jira_sim, esm, esm_sim, state, staging):
    task = make_task(ISSUES_TASK)
    run_import(task, jira, esm, state, staging, run_id(1))
    key = sorted(jira_issues(jira, "project = SUP"))[0]
    jira_sim.admin("DELETE", f"issues/{key}")

    report = reconcile_read_only(task, jira, jira_sim, esm, esm_sim, state, sample_size=10)
    assert report["not_in_jira"] == 1 and report["not_in_jira_keys"] == [key]
    assert report["wrongly_removed"] == 0 and report["esm_removed_cards"] == 0
    assert any("incremental import" in note for note in report["notes"])


def test_card_owned_by_another_task_is_not_missing(jira, jira_sim, esm, esm_sim, state, staging):
    task = make_task(FULL_ISSUES)
    run_import(task, jira, esm, state, staging, run_id(1))
    other = make_task(FULL_ISSUES, name="test_issues_other", jql="key = SUP-1")
    run_import(other, jira, esm, state, staging, run_id(1))  # the last writer owns SUP-1 now

    report = reconcile_read_only(task, jira, jira_sim, esm, esm_sim, state, sample_size=0)
    assert report["missing_in_esm"] == 0 and report["owned_by_other_task"] == 1
    assert report["owned_by_other_task_keys"] == ["SUP-1"]


def test_cards_of_a_task_named_alike_that_esm_filter_returns_are_not_counted(
    jira, jira_sim, esm, esm_sim, state, staging, monkeypatch
):
    """An ESM comparing text without regard to case returns, for a filter on this task's id,
    the cards of a task named alike too (as mark_removed's paging is guarded against): they
    are not this task's cards -- not counted, not "not in Jira"."""
    task = make_task(FULL_ISSUES, jql="key in (SUP-1, SUP-2, SUP-3)")
    other = make_task(FULL_ISSUES, name=FULL_ISSUES["name"].upper(), jql="key in (SUP-4, SUP-5)")
    run_import(task, jira, esm, state, staging, run_id(1))
    run_import(other, jira, esm, state, staging, run_id(2))
    own, loose = eql.eq("task_id", task.name), eql.any_of("task_id", [task.name, other.name])
    real = esm.iter_cards
    monkeypatch.setattr(esm, "iter_cards", lambda template, *, filter=None, **kw: real(
        template, filter=filter.replace(own, loose) if filter else filter, **kw))

    report = reconcile_read_only(task, jira, jira_sim, esm, esm_sim, state, sample_size=0)

    assert report["esm_cards"] == report["esm_active_cards"] == report["jira_records"] == 3, report
    assert (report["not_in_jira"], report["not_in_jira_keys"], report["duplicate_keys"]) == (0, [], 0)


def test_comment_task_compares_comments_with_worklog_markers(jira, jira_sim, esm, esm_sim, state, staging):
    from jira_esm_connector.markers import worklog_marker

    issues = make_task(ISSUES_TASK, jql="key in (SUP-1, SUP-2)")
    run_import(issues, jira, esm, state, staging, run_id(1))
    pushed = jira.add_comment("SUP-1", _adf("From ESM"), properties={"jira_esm_connector.origin": {"source": "esm"}})
    task = make_task({
        "name": "test_comments", "kind": "scheduled", "jira_conn_id": "jira_default", "esm_conn_id": "esm_default",
        "schedule": "*/30 * * * *", "mode": "incremental", "mapping_type": "comment",
        "jql": "key in (SUP-1, SUP-2, SUP-3)", "template": "incident",
        "comments": {"card_key_attribute": "jira_key", "worklog_attribute": "worklog"},
    })
    jira.add_comment("SUP-3", _adf("On an issue without a card"))
    on_sup3 = len(list(jira.iter_comments("SUP-3")))
    summary = run_import(task, jira, esm, state, staging, run_id(1))
    assert summary["refused"] == on_sup3  # SUP-3 has no card

    clean = reconcile_read_only(task, jira, jira_sim, esm, esm_sim, state)
    assert (clean["missing_in_esm"], clean["not_in_jira"], clean["duplicate_keys"]) == (on_sup3, 0, 0), clean
    assert clean["issues_without_card"] == 1 and clean["missing_in_esm_keys"][0].startswith("SUP-3#")
    assert clean["jira_records"] == summary["fetched"] and clean["jira_issues"] == 3
    assert clean["esm_worklog_entries"] == summary["created"] and clean["skipped_connector_comments"] == 1
    assert pushed["id"] not in "".join(clean["missing_in_esm_keys"])

    card = by_attr(esm_cards(esm, "incident", issues.name), "jira_key")["SUP-2"].data_card_id
    new = jira.add_comment("SUP-2", _adf("Written after the import"))                     # missing in ESM
    imported = next(key for key in ("SUP-1", "SUP-2") if any(c["id"] != pushed["id"] for c in jira.iter_comments(key)))
    first = next(c["id"] for c in jira.iter_comments(imported) if c["id"] != pushed["id"])
    on_card = by_attr(esm_cards(esm, "incident", issues.name), "jira_key")[imported].data_card_id
    esm.add_attribute_value("incident", on_card, "worklog", {"value": f"again\n\n{worklog_marker(first)}"})  # duplicate
    esm.add_attribute_value("incident", card, "worklog", {"value": f"gone\n\n{worklog_marker('999999')}"})  # not in Jira

    report = reconcile_read_only(task, jira, jira_sim, esm, esm_sim, state)
    assert report["missing_in_esm"] == on_sup3 + 1 and f"SUP-2#{new['id']}" in report["missing_in_esm_keys"]
    assert (report["not_in_jira"], report["not_in_jira_keys"]) == (1, ["SUP-2#999999"])
    assert (report["duplicate_keys"], report["duplicate_key_examples"]) == (1, [f"{imported}#{first}"])
    assert report["summary"] == (
        f"Reconciliation of 'test_comments': Jira {summary['fetched'] + 1} comments on 3 issues, "
        f"ESM {summary['created'] + 2} worklog entries on 2 cards; missing in ESM {on_sup3 + 1}, not in Jira 1, "
        f"duplicates 1."
    )


def _adf(text: str) -> dict:
    return {"type": "doc", "version": 1, "content": [{"type": "paragraph", "content": [{"type": "text", "text": text}]}]}


@pytest.mark.parametrize("counts, expected", [
    (dict(jira_records=1234, esm_active_cards=1230, missing_in_esm=4, not_in_jira=0, wrongly_removed=0,
          duplicate_keys=0, stale=1, stale_sampled=200),
     "Reconciliation of 'X': Jira 1,234 records, ESM 1,230 active cards; missing in ESM 4, not in Jira 0, "
     "wrongly removed 0, duplicates 0, stale 1 of 200 sampled."),
])
def test_summary_line(counts, expected):
    assert reconcile_summary_line("X", counts) == expected


@pytest.mark.parametrize("mapped, on_card, equal", [
    (3, [{"value": "3"}], True),
    (3.0, [{"value": 3}], True),
    (2.5, [{"value": "2.50"}], True),
    (True, [{"value": "true"}], True),
    (["b", "a"], [{"value": "a"}, {"value": "b"}], True),  # multi-value: as a set
    ("", [], True),
    (None, [], True),
    ("01 - New", [{"value": "02 - Solving"}], False),
    ("x", [], False),
])
def test_values_compare_as_the_load_step_sends_them(mapped, on_card, equal):
    from jira_esm_connector.pipeline.reconcile import _expected, _values

    expected, missing = _expected(mapped, resolver=None)
    assert (expected == _values(on_card)) is equal and missing == []


COMMENTS_TASK = {
    "name": "test_comments", "kind": "scheduled", "jira_conn_id": "jira_default", "esm_conn_id": "esm_default",
    "schedule": "*/30 * * * *", "mode": "incremental", "mapping_type": "comment",
    "jql": "key in (SUP-1, SUP-2, SUP-3, SUP-4)", "template": "incident",
    "comments": {"card_key_attribute": "jira_key", "worklog_attribute": "worklog"},
}


def test_comment_task_counts_an_issue_listed_twice_once(jira, jira_sim, esm, esm_sim, state, staging, monkeypatch):
    """Jira's listing is ordered by `updated`: an issue changed (e.g. commented on) while the
    listing pages comes back at its end. Its comments are one issue's, counted once -- as the
    import reads them once."""
    run_import(make_task(ISSUES_TASK, jql=COMMENTS_TASK["jql"]), jira, esm, state, staging, run_id(1))
    for key in ("SUP-1", "SUP-2", "SUP-3", "SUP-4"):
        jira.add_comment(key, _adf(f"On {key}"))
    task = make_task(COMMENTS_TASK)
    summary = run_import(task, jira, esm, state, staging, run_id(1))
    assert summary["refused"] == 0

    jira_sim.admin("PUT", "config", json={"max_results_cap": 2})
    real_pages = jira.iter_search_pages

    def pages(jql, **kwargs):
        for number, page in enumerate(real_pages(jql, **kwargs)):
            yield page
            if number == 0:  # changed while the listing pages: it is listed again at the end
                jira_sim.admin("PATCH", f"issues/{page.issues[0]['key']}", json={"summary": "changed while listed"})

    monkeypatch.setattr(jira, "iter_search_pages", pages)
    report = reconcile_read_only(task, jira, jira_sim, esm, esm_sim, state)
    assert (report["jira_issues"], report["esm_active_cards"]) == (4, 4), report
    assert report["jira_records"] == report["esm_worklog_entries"] == summary["fetched"], report
    assert (report["missing_in_esm"], report["not_in_jira"], report["duplicate_keys"]) == (0, 0, 0), report


def test_comment_task_ignores_markers_quoted_in_a_comment(jira, jira_sim, esm, esm_sim, state, staging):
    """A Jira comment may quote another's marker ("see [Jira comment 10001]"): only the marker
    that ends a worklog entry names the comment the entry holds; a quoted one is words."""
    from jira_esm_connector.markers import worklog_marker

    run_import(make_task(ISSUES_TASK, jql="key in (SUP-1, SUP-2)"), jira, esm, state, staging, run_id(1))
    task = make_task(COMMENTS_TASK, jql="key in (SUP-1, SUP-2)")
    first = jira.add_comment("SUP-1", _adf("The printer is on fire"))
    elsewhere = jira.add_comment("SUP-2", _adf("Same here"))
    run_import(task, jira, esm, state, staging, run_id(1))
    jira.add_comment("SUP-1", _adf(f"As said in {worklog_marker(first['id'])} and {worklog_marker(elsewhere['id'])}"))
    summary = run_import(task, jira, esm, state, staging, run_id(2))
    assert summary["created"] == 1

    report = reconcile_read_only(task, jira, jira_sim, esm, esm_sim, state)
    assert (report["missing_in_esm"], report["not_in_jira"], report["duplicate_keys"]) == (0, 0, 0), report
    assert report["jira_records"] == report["esm_worklog_entries"], report


def test_a_card_whose_record_maps_to_the_removal_value_is_not_wrongly_removed(
    jira, jira_sim, esm, esm_sim, state, staging,
):
    """The task maps Jira's "Done" to the very value that marks a card removed: the import
    writes it as mapped (the record itself says so), and such a card is right, not wrongly
    removed -- re-enabling it by hand, as the report advises for those, would be wrong."""
    done = sorted(jira_issues(jira, "project = SUP"))[:3]
    for key in done:
        jira_sim.admin("PATCH", f"issues/{key}", json={"status": "Done"})
    attributes = dict(FULL_ISSUES["attributes"])
    attributes["status"] = dict(attributes["status"], map={**attributes["status"]["map"], "Done": "07 - Cancelled"})
    task = make_task(FULL_ISSUES, attributes=attributes)
    run_import(task, jira, esm, state, staging, run_id(1))
    assert all(i["fields"]["status"]["name"] != "Done" or k in done for k, i in jira_issues(jira, "project = SUP").items())

    report = reconcile_read_only(task, jira, jira_sim, esm, esm_sim, state, sample_size=1000)
    assert report["esm_removed_cards"] == len(done)
    assert (report["wrongly_removed"], report["wrongly_removed_keys"]) == (0, []), report
    assert {k: report[k] for k in ZERO} == dict.fromkeys(ZERO, 0), report


def test_a_card_the_running_import_creates_meanwhile_is_not_owned_by_another_task(
    jira, jira_sim, esm, esm_sim, state, staging, monkeypatch,
):
    """Reconciliation may run while the import runs: a card the import creates after ESM was
    read is this task's card, not one "another task wrote last, or made by hand"."""
    task = make_task(FULL_ISSUES)
    run_import(task, jira, esm, state, staging, run_id(1))
    cards = by_attr(esm_cards(esm, "incident", task.name), "jira_key")
    key = sorted(cards)[0]
    original = esm.get_card("incident", cards[key].data_card_id)
    values = {name: original.plain_values(name) for name in original.data}
    esm.delete_card("incident", cards[key].data_card_id)
    real_pages = jira.iter_search_pages

    def pages(jql, **kwargs):  # ESM was read; the import (re)creates the card while Jira is listed
        yield from real_pages(jql, **kwargs)
        esm.create_card("incident", values, folder="incident_management")

    monkeypatch.setattr(jira, "iter_search_pages", pages)
    report = reconcile(task, jira, esm, state, sample_size=0)
    assert (report["owned_by_other_task"], report["owned_by_other_task_keys"]) == (0, []), report
    assert report["missing_in_esm"] == 0, report


def test_comment_deleted_before_its_property_read_is_not_compared(caplog):
    """A listing without embedded properties makes reconciliation read each comment's origin
    property on its own; a comment deleted meanwhile is gone (neither expected in ESM nor
    counted as the connector's own), and the comparison goes on."""
    from jira_esm_connector.http.errors import NotFoundError
    from jira_esm_connector.pipeline.reconcile import _issue_comment_ids

    class Unembedded:
        def iter_comments(self, key, *, expand_properties=False):
            return iter([{"id": "1"}, {"id": "2"}, {"id": "3"}])

        def comment_property_of(self, comment, key):
            if comment["id"] == "2":
                raise NotFoundError("Can not find a comment for the id: 2.", 404, "Jira")
            return {"source": "esm"} if comment["id"] == "3" else None

    with caplog.at_level("INFO", logger="jira_esm_connector"):
        assert _issue_comment_ids(Unembedded(), "SUP-1", True) == ({"1"}, 1)
    assert "comment 2 of SUP-1" in caplog.text


def test_a_trashed_card_an_esm_lists_is_missing_in_esm_not_an_active_card(jira, jira_sim, esm, esm_sim, state, staging):
    """An ESM whose listings include trashed cards (``deleted: true``; the simulator's
    list_trashed knob): the record whose card is in the trash is missing in ESM, as when ESM
    does not list it, and the trashed card is counted nowhere."""
    task = make_task(FULL_ISSUES)
    run_import(task, jira, esm, state, staging, run_id(1))
    cards = by_attr(esm_cards(esm, "incident", task.name), "jira_key")
    trashed = sorted(cards)[0]
    esm.delete_card("incident", cards[trashed].data_card_id)

    esm_sim.admin("POST", "trash", {"list_trashed": True})
    try:
        report = reconcile_read_only(task, jira, jira_sim, esm, esm_sim, state, sample_size=1000)
    finally:
        esm_sim.admin("POST", "trash", {"list_trashed": False})

    assert (report["missing_in_esm"], report["missing_in_esm_keys"]) == (1, [trashed]), report
    assert report["esm_cards"] == report["esm_active_cards"] == len(cards) - 1
    assert (report["duplicate_keys"], report["stale"], report["not_in_jira"]) == (0, 0, 0)
