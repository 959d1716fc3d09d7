"""The import steps called directly against the running Jira and ESM simulators (real
HTTPS), one test per "Shown by" case of issue 4."""
from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest

from jira_esm_connector.mapping import adf_to_text
from jira_esm_connector.markers import worklog_marker
from jira_esm_connector.pipeline import (
    QualityError,
    RemovalLimitError,
    ShrinkLimitError,
    diff,
    extract,
    finish,
    load,
    run_dir,
    run_import,
    transform,
)

from .conftest import ISSUES_TASK, USERS_TASK, comment_task, make_task
from .helpers import esm_stats, by_attr, esm_cards, esm_writes, jira_issues, reset_esm_stats, run_id

FULL_ISSUES = dict(ISSUES_TASK, name="test_issues_full", mode="full", removed=False)


def test_first_run_creates_every_card_with_values_and_task_id(jira, esm, state, staging):
    task = make_task(ISSUES_TASK)
    summary = run_import(task, jira, esm, state, staging, run_id(1))

    issues = jira_issues(jira, "project = SUP", fields=("summary", "description", "status", "labels", "created", "updated"))
    cards = by_attr(esm_cards(esm, "incident", task.name), "jira_key")
    assert set(cards) == set(issues) and len(issues) > 20
    assert summary["fetched"] == summary["transformed"] == summary["created"] == len(issues)
    assert (summary["updated"], summary["refused"], summary["unchanged"]) == (0, 0, 0)
    for key, issue in issues.items():
        card, fields = cards[key], issue["fields"]
        assert card.value("task_id") == task.name
        assert card.value("subject") == fields["summary"]
        status = fields["status"]["name"]
        expected = {"In Progress": "02 - Solving", "Done": "05 - Solved", "Resolved": "05 - Solved",
                    "Closed": "06 - Closed"}.get(status, "01 - New")
        assert card.value("status") == expected
        assert sorted(card.plain_values("labels")) == sorted(fields.get("labels") or [])
        if fields.get("description"):
            assert card.value("description") == adf_to_text(fields["description"])
        created = datetime.strptime(fields["created"], "%Y-%m-%dT%H:%M:%S.%f%z").astimezone(timezone.utc)
        assert card.value("created") == created.strftime("%Y-%m-%dT%H:%M:%SZ")
    assert card.folder_code == "incident_management"
    # the watermark comes from the data (newest `updated`), not from the wall clock
    newest = max(datetime.strptime(i["fields"]["updated"], "%Y-%m-%dT%H:%M:%S.%f%z") for i in issues.values())
    assert state.get_watermark(task.name) == newest.astimezone(timezone.utc)


def test_unchanged_rerun_writes_nothing_to_esm(jira, esm, esm_sim, state, staging):
    users = make_task(USERS_TASK)
    issues = make_task(ISSUES_TASK)
    run_import(users, jira, esm, state, staging, run_id(1))
    run_import(issues, jira, esm, state, staging, run_id(1))
    before = {c: card.data for c, card in esm_cards(esm, "incident").items()}
    reset_esm_stats(esm_sim)

    again_users = run_import(users, jira, esm, state, staging, run_id(2))
    again_issues = run_import(issues, jira, esm, state, staging, run_id(2))

    assert esm_writes(esm_sim) == 0, esm_stats(esm_sim)
    assert (again_users["created"], again_users["updated"], again_users["marked_removed"]) == (0, 0, 0)
    assert again_users["unchanged"] == again_users["fetched"] > 0
    assert (again_issues["created"], again_issues["updated"]) == (0, 0)
    assert {c: card.data for c, card in esm_cards(esm, "incident").items()} == before


def test_incremental_run_updates_exactly_the_three_changed_issues(jira, jira_sim, esm, esm_sim, state, staging):
    task = make_task(ISSUES_TASK)
    first = run_import(task, jira, esm, state, staging, run_id(1))
    keys = sorted(jira_issues(jira, "project = SUP"))[:3]
    for n, key in enumerate(keys):
        jira_sim.admin("PATCH", f"issues/{key}", json={"summary": f"Changed in Jira #{n}"})
    reset_esm_stats(esm_sim)

    second = run_import(task, jira, esm, state, staging, run_id(2))

    assert second["updated"] == 3 and second["created"] == 0 and second["refused"] == 0
    assert second["fetched"] < first["fetched"]  # only what changed since the watermark (+ overlap)
    cards = by_attr(esm_cards(esm, "incident", task.name), "jira_key")
    assert [cards[k].value("subject") for k in keys] == [f"Changed in Jira #{n}" for n in range(3)]
    assert len(cards) == first["created"]
    assert state.get_watermark(task.name) > datetime.now(timezone.utc) - timedelta(minutes=5)


def test_issue_at_the_minute_boundary_of_the_watermark_is_not_missed(jira, jira_sim, esm, state, staging):
    task = make_task(ISSUES_TASK)
    run_import(task, jira, esm, state, staging, run_id(1))
    watermark = state.get_watermark(task.name)
    # Jira compares `updated` to the minute: an issue in the watermark's minute, but before
    # it, and one in the minute before, would be lost without the overlap.
    at_minute = watermark.replace(second=0, microsecond=0)
    made = [
        jira_sim.admin("POST", "issues", json={"project": "SUP", "summary": f"Boundary {n}", "updated": when.isoformat()}).json()["key"]
        for n, when in enumerate([watermark, at_minute, at_minute - timedelta(seconds=30)])
    ]

    summary = run_import(task, jira, esm, state, staging, run_id(2))

    assert summary["created"] == 3
    cards = by_attr(esm_cards(esm, "incident", task.name), "jira_key")
    assert all(key in cards for key in made)


def test_user_deleted_in_jira_is_marked_deleted_and_stays_so(jira, jira_sim, esm, state, staging, run_log):
    task = make_task(USERS_TASK)
    run_import(task, jira, esm, state, staging, run_id(1))
    user = next(u for u in jira.iter_users() if u.get("active"))
    gone = user["accountId"]
    jira_sim.admin("DELETE", f"users/{gone}")

    second = run_import(task, jira, esm, state, staging, run_id(2))
    assert second["marked_removed"] == 1
    cards = by_attr(esm_cards(esm, "person", task.name), "jira_account_id")
    assert cards[gone].value("accountStatus") == "Deleted"
    assert all(c.value("accountStatus") != "Deleted" for k, c in cards.items() if k != gone)

    third = run_import(task, jira, esm, state, staging, run_id(3))
    assert third["marked_removed"] == 0
    # The account comes back in Jira: the connector never re-enables the card on its own.
    jira_sim.admin("POST", "users", json={"accountId": gone, "email": user.get("emailAddress"),
                                          "displayName": user["displayName"] + " (back)"})
    fourth = run_import(task, jira, esm, state, staging, run_id(4), logger=run_log)
    card = by_attr(esm_cards(esm, "person", task.name), "jira_account_id")[gone]
    assert fourth["updated"] == 1 and card.value("display_name").endswith("(back)")
    assert card.value("accountStatus") == "Deleted"
    assert f"Card {card.data_card_id} ({gone}) is disabled (accountStatus = Deleted); the import leaves it disabled." \
        in run_log.messages
    assert any(m.startswith("Loaded into ESM 'person'") and m.endswith(", 1 kept disabled.") for m in run_log.messages)


def test_cache_clear_hour_pushes_everything_and_leaves_the_watermark(jira, esm, esm_sim, state, staging):
    now = datetime.now(timezone.utc).replace(microsecond=0)
    clear_hour = (now.hour + 2) % 24
    full = make_task(FULL_ISSUES, cache={"clear_hours": [clear_hour]})
    incremental = make_task(ISSUES_TASK, cache={"clear_hours": [clear_hour]})
    first = run_import(full, jira, esm, state, staging, run_id(1), now=now)
    run_import(incremental, jira, esm, state, staging, run_id(1), now=now)
    watermark = state.get_watermark(incremental.name)

    later = now + timedelta(minutes=30)
    if later.hour == clear_hour:  # pragma: no cover - only near midnight edge cases
        later = now
    quiet = run_import(full, jira, esm, state, staging, run_id(2), now=later)
    assert quiet["unchanged"] == quiet["fetched"] and quiet["updated"] == 0 and not quiet["cache_cleared"]

    after_clear = now.replace(minute=0, second=0) + timedelta(hours=2, minutes=5)
    reset_esm_stats(esm_sim)
    pushed = run_import(full, jira, esm, state, staging, run_id(3), now=after_clear)
    assert pushed["cache_cleared"] and pushed["updated"] == first["created"] and pushed["unchanged"] == 0
    assert esm_writes(esm_sim) >= 1

    again = run_import(incremental, jira, esm, state, staging, run_id(2), now=after_clear)
    assert again["cache_cleared"]
    assert state.get_watermark(incremental.name) == watermark


def test_batch_failing_an_expectation_loads_nothing(jira, esm, esm_sim, state, staging):
    task = make_task(
        ISSUES_TASK,
        quality=[
            {"expect_column_values_to_not_be_null": {"column": "subject"}},
            {"expect_column_values_to_be_in_set": {"column": "status", "value_set": ["01 - New", "02 - Solving"]}},
        ],
    )
    reset_esm_stats(esm_sim)
    with pytest.raises(QualityError) as err:
        run_import(task, jira, esm, state, staging, run_id(1))

    solved = [k for k, i in jira_issues(jira, "project = SUP").items()
              if i["fields"]["status"]["name"] in ("Done", "Resolved", "Closed")]
    message = str(err.value)
    assert "expect_column_values_to_be_in_set" in message and "nothing was loaded" in message
    assert "expect_column_values_to_not_be_null" not in message  # that one passed
    assert solved and f"{len(solved)} record(s) failed: " in message
    listed = message.split("record(s) failed: ")[1].split(" and ")[0].split(", ")
    assert len(listed) == min(20, len(solved)) and set(listed) <= set(solved)
    assert esm_cards(esm, "incident", task.name) == {} and esm_writes(esm_sim) == 0
    assert state.get_watermark(task.name) is None


def test_cards_esm_refuses_are_reported_and_retried_next_run(jira, esm, state, staging, run_log):
    bad_map = dict(ISSUES_TASK["attributes"]["status"], map={"Resolved": "99 - No such status"})
    broken = make_task(ISSUES_TASK, attributes=dict(ISSUES_TASK["attributes"], status=bad_map))
    first = run_import(broken, jira, esm, state, staging, run_id(1), logger=run_log)

    done = sorted(k for k, i in jira_issues(jira, "project = SUP").items() if i["fields"]["status"]["name"] == "Resolved")
    assert done and first["refused"] == len(done)
    assert first["created"] == first["fetched"] - len(done)
    assert sorted(r["key"] for r in first["refused_records"]) == done
    logged = "\n".join(run_log.messages)
    assert all(f"ESM refused record {key}" in logged for key in done)

    # The next run (mapping fixed) fetches them again -- the watermark was held -- and loads them.
    fixed = make_task(ISSUES_TASK)
    second = run_import(fixed, jira, esm, state, staging, run_id(2))
    assert second["created"] == len(done) and second["refused"] == 0
    cards = by_attr(esm_cards(esm, "incident", fixed.name), "jira_key")
    assert all(cards[k].value("status") == "05 - Solved" for k in done)
    assert len(cards) == first["fetched"]


def test_safety_limit_trips_when_a_jql_typo_would_remove_most_cards(jira, esm, state, staging):
    removal = {"attribute": "status", "value": "07 - Cancelled"}
    task = make_task(FULL_ISSUES, removed=removal)
    first = run_import(task, jira, esm, state, staging, run_id(1))

    typo = make_task(FULL_ISSUES, removed=removal, jql='project = SUP AND summary ~ "prnter"')
    with pytest.raises(RemovalLimitError) as err:
        run_import(typo, jira, esm, state, staging, run_id(2))
    assert "allow_mass_removal" in str(err.value) and f"of {first['created']} active" in str(err.value)
    cards = esm_cards(esm, "incident", task.name)
    assert all(c.value("status") != "07 - Cancelled" for c in cards.values())

    # the typo also makes this run's fetch far smaller than the last one's: the shrink limit
    # holds on its own, and names its own override
    with pytest.raises(ShrinkLimitError) as err:
        run_import(typo, jira, esm, state, staging, run_id(3), allow_mass_removal=True)
    assert "allow_shrink" in str(err.value) and f"than the {first['fetched']} of the last successful run" in str(err.value)
    assert all(c.value("status") != "07 - Cancelled" for c in esm_cards(esm, "incident", task.name).values())

    forced = run_import(typo, jira, esm, state, staging, run_id(4), allow_mass_removal=True, allow_shrink=True)
    assert forced["marked_removed"] == first["created"]
    assert all(c.value("status") == "07 - Cancelled" for c in esm_cards(esm, "incident", task.name).values())


def test_a_few_removed_issues_are_marked_within_the_limit(jira, jira_sim, esm, state, staging):
    task = make_task(FULL_ISSUES, removed={"attribute": "status", "value": "07 - Cancelled", "max_share": 0.2})
    run_import(task, jira, esm, state, staging, run_id(1))
    gone = sorted(jira_issues(jira, "project = SUP"))[:2]
    for key in gone:
        jira_sim.admin("DELETE", f"issues/{key}")
    summary = run_import(task, jira, esm, state, staging, run_id(2))
    assert summary["marked_removed"] == 2
    cards = by_attr(esm_cards(esm, "incident", task.name), "jira_key")
    assert [cards[k].value("status") for k in gone] == ["07 - Cancelled"] * 2


def test_crash_after_esm_saved_but_before_state_was_written_duplicates_nothing(jira, esm, esm_sim, state, staging):
    task = make_task(ISSUES_TASK)
    path = run_dir(staging, task.name, run_id(1))
    extracted = extract(task, jira, state, path)
    transformed = transform(task, extracted, path)
    diffed = diff(task, transformed, state, path)
    first = load(task, diffed, esm, state)
    # simulate the crash: ESM has the cards, the state store knows nothing about them
    keys = [str(k) for k in by_attr(esm_cards(esm, "incident"), "jira_key")]
    state.delete_fingerprints(task.name, keys)
    state.forget_card_ids(task.name, keys)

    retry = load(task, diffed, esm, state)  # an Airflow task retry re-runs load on the same diff

    assert first["created"] == len(keys) and retry["created"] == 0 and retry["updated"] == len(keys)
    assert len(esm_cards(esm, "incident")) == len(keys)
    assert state.get_card_ids(task.name, keys).keys() == set(keys)
    # and a retry after everything was saved and recorded writes nothing at all
    reset_esm_stats(esm_sim)
    again = load(task, diffed, esm, state)
    assert again["already_loaded"] == len(keys) and again["updated"] == again["created"] == 0
    assert esm_writes(esm_sim) == 0
    # the run's summary adds up: the records a retried load found saved are not lost from it
    summary = finish(task, state, run_id(1), extracted, transformed, diffed, again)
    assert summary["already_loaded"] == len(keys) == summary["transformed"], summary
    assert f"already loaded {len(keys)}" in summary["summary"]


def test_group_members_become_references_to_person_cards(jira, jira_sim, esm, state, staging):
    run_import(make_task(USERS_TASK), jira, esm, state, staging, run_id(1))
    groups = make_task({
        "name": "test_groups", "kind": "scheduled", "jira_conn_id": "jira_default", "esm_conn_id": "esm_default",
        "schedule": "0 * * * *", "mode": "full", "mapping_type": "group", "template": "group", "folder": "groups",
        "key": {"jira": "groupId", "esm": "jira_group_id"},
        # 1 of 8 groups deleted is a 12.5 % smaller fetch: above the default shrink limit of 10 %
        "removed": {"max_shrink": 0.2},
        "attributes": {
            "name": "name",
            "status": {"value": "1 - Active"},
            "members": {"from": "members", "each": "accountId",
                        "reference": {"template": "person", "by": "jira_account_id"}},
        },
    })
    summary = run_import(groups, jira, esm, state, staging, run_id(1))

    persons = {c.value("jira_account_id"): cid for cid, c in esm_cards(esm, "person").items()}
    cards = by_attr(esm_cards(esm, "group", groups.name), "jira_group_id")
    jira_groups = list(jira.iter_groups())
    assert summary["created"] == len(jira_groups) == len(cards)
    with_members = 0
    for group in jira_groups:
        members = [m["accountId"] for m in jira.iter_group_members(group_id=group["groupId"])]
        card = cards[group["groupId"]]
        assert card.value("name") == group["name"] and card.value("status") == "1 - Active"
        assert sorted(str(v) for v in card.plain_values("members")) == sorted(persons[m] for m in members)
        with_members += bool(members)
    assert with_members > 0

    # a group deleted in Jira gets the SPEC default for groups: status = "5 - Removed"
    jira_sim.admin("DELETE", f"groups/{jira_groups[0]['groupId']}")
    again = run_import(groups, jira, esm, state, staging, run_id(2))
    cards = by_attr(esm_cards(esm, "group", groups.name), "jira_group_id")
    assert again["marked_removed"] == 1 and cards[jira_groups[0]["groupId"]].value("status") == "5 - Removed"
    assert all(c.value("status") == "1 - Active" for k, c in cards.items() if k != jira_groups[0]["groupId"])


def test_comments_become_worklog_entries_and_connector_comments_are_skipped(jira, esm, state, staging):
    issues = make_task(ISSUES_TASK, jql="key in (SUP-1, SUP-2)")
    run_import(issues, jira, esm, state, staging, run_id(1))
    marker = {"source": "esm", "event_id": "evt-1", "task": "add_jira_comment_from_incident"}
    pushed = jira.add_comment("SUP-1", {"type": "doc", "version": 1, "content": [
        {"type": "paragraph", "content": [{"type": "text", "text": "From ESM, must not come back"}]}]},
        properties={"jira_esm_connector.origin": marker})
    comments_task = make_task({
        "name": "test_comments", "kind": "scheduled", "jira_conn_id": "jira_default", "esm_conn_id": "esm_default",
        "schedule": "*/30 * * * *", "mode": "incremental", "mapping_type": "comment",
        "jql": "key in (SUP-1, SUP-2)", "template": "incident",
        "comments": {"card_key_attribute": "jira_key", "worklog_attribute": "worklog"},
    })
    summary = run_import(comments_task, jira, esm, state, staging, run_id(1))

    expected = {k: [c for c in jira.iter_comments(k) if c["id"] != pushed["id"]] for k in ("SUP-1", "SUP-2")}
    total = sum(len(v) for v in expected.values())
    assert summary["created"] == total and summary["refused"] == 0
    cards = by_attr(esm_cards(esm, "incident", issues.name), "jira_key")
    for key, comments in expected.items():
        entries = esm.get_attribute("incident", cards[key].data_card_id, "worklog")
        texts = [e.get("value") for e in entries]
        assert sorted(texts) == sorted(f"{adf_to_text(c['body'])}\n\n{worklog_marker(c['id'])}" for c in comments)
        assert not any("From ESM, must not come back" in t for t in texts)

    again = run_import(comments_task, jira, esm, state, staging, run_id(2))
    assert again["created"] == 0

    # ESM worklogs only grow: after a cache clear the comments are pushed again, but each
    # card's worklog already holds them (by their markers), so nothing is appended twice.
    # (a full run of the same task: an incremental one fetches nothing, the watermark is past these issues)
    full = make_task(dict(comments_task.model_dump(mode="json", exclude_none=True), mode="full"))
    after_clear = run_import(full, jira, esm, state, staging, run_id(3), clear_cache=True)
    assert after_clear["fetched"] == total and after_clear["created"] == 0
    for key, comments in expected.items():
        entries = esm.get_attribute("incident", cards[key].data_card_id, "worklog")
        assert len(entries) == len(comments)


def test_connector_comments_are_skipped_when_jira_does_not_embed_properties(jira, esm, state, staging, monkeypatch):
    """The contract lists only renderedBody for the comment listing's expand: a Jira that
    ignores expand=properties must not make the import bring the connector's own comments
    back (each one's origin property is then read on its own)."""
    issues = make_task(ISSUES_TASK, jql="key in (SUP-3)")
    run_import(issues, jira, esm, state, staging, run_id(1))
    marker = {"source": "esm", "event_id": "evt-2", "task": "add_jira_comment_from_incident"}
    jira.add_comment("SUP-3", {"type": "doc", "version": 1, "content": [
        {"type": "paragraph", "content": [{"type": "text", "text": "Pushed from ESM, not embedded"}]}]},
        properties={"jira_esm_connector.origin": marker})
    listed = jira.iter_comments_of

    def without_properties(*args, **kwargs):
        for key, comments in listed(*args, **kwargs):
            yield key, [{k: v for k, v in c.items() if k != "properties"} for c in comments]

    monkeypatch.setattr(jira, "iter_comments_of", without_properties)
    comments_task = comment_task("test_comments_unembedded", "key in (SUP-3)")
    summary = run_import(comments_task, jira, esm, state, staging, run_id(1))
    card = by_attr(esm_cards(esm, "incident", issues.name), "jira_key")["SUP-3"]
    texts = [e.get("value") for e in esm.get_attribute("incident", card.data_card_id, "worklog")]
    assert not any("Pushed from ESM, not embedded" in t for t in texts), texts
    assert summary["created"] == len(texts)


def test_comment_deleted_before_its_property_read_is_not_imported(jira, esm, state, staging, monkeypatch, caplog):
    """A comment deleted between the listing (which did not embed properties) and the read of
    its origin property is gone: not imported, not counted as the connector's own, logged;
    the import goes on with the others."""
    issues = make_task(ISSUES_TASK, jql="key in (SUP-4)")
    run_import(issues, jira, esm, state, staging, run_id(1))
    doomed = jira.add_comment("SUP-4", {"type": "doc", "version": 1, "content": [
        {"type": "paragraph", "content": [{"type": "text", "text": "Deleted while the import runs"}]}]})
    jira.add_comment("SUP-4", {"type": "doc", "version": 1, "content": [
        {"type": "paragraph", "content": [{"type": "text", "text": "Still there"}]}]})
    listed = jira.iter_comments_of

    def without_properties_then_deleted(*args, **kwargs):
        for key, comments in listed(*args, **kwargs):
            jira.request("DELETE", f"/rest/api/3/issue/{key}/comment/{doomed['id']}")
            yield key, [{k: v for k, v in c.items() if k != "properties"} for c in comments]

    monkeypatch.setattr(jira, "iter_comments_of", without_properties_then_deleted)
    comments_task = comment_task("test_comments_deleted", "key in (SUP-4)")
    with caplog.at_level("INFO", logger="jira_esm_connector"):
        summary = run_import(comments_task, jira, esm, state, staging, run_id(1))
    remaining = list(jira.iter_comments("SUP-4"))
    card = by_attr(esm_cards(esm, "incident", issues.name), "jira_key")["SUP-4"]
    texts = [e.get("value") for e in esm.get_attribute("incident", card.data_card_id, "worklog")]
    assert not any("Deleted while the import runs" in t for t in texts), texts
    assert summary["created"] == summary["fetched"] == len(remaining) == len(texts) > 0
    assert f"comment {doomed['id']} of SUP-4" in caplog.text and "deleted" in caplog.text


@pytest.mark.postgres
def test_state_on_postgresql_full_cycle(jira, jira_sim, esm, esm_sim, pg_state, staging):
    task = make_task(ISSUES_TASK)
    first = run_import(task, jira, esm, pg_state, staging, run_id(1))
    reset_esm_stats(esm_sim)
    quiet = run_import(task, jira, esm, pg_state, staging, run_id(2))
    assert first["created"] > 0 and esm_writes(esm_sim) == 0 and quiet["updated"] == 0
    key = sorted(jira_issues(jira, "project = SUP"))[0]
    jira_sim.admin("PATCH", f"issues/{key}", json={"summary": "Changed (PostgreSQL state)"})
    third = run_import(task, jira, esm, pg_state, staging, run_id(3))
    assert third["updated"] == 1
    assert pg_state.get_watermark(task.name) > datetime.now(timezone.utc) - timedelta(minutes=5)


def test_the_documented_example_task_file_works_as_written(jira, esm, state, staging, tmp_path):
    """docs/TASK_FILES.md's complete example, copied verbatim into a task file: a different
    project, other attributes, a value map, a join and a reference -- no code changes."""
    from jira_esm_connector.config import load_task_file

    from .conftest import REPO_ROOT

    doc = (REPO_ROOT / "docs" / "TASK_FILES.md").read_text()
    example = doc.split("## A complete example", 1)[1].split("```yaml\n", 1)[1].split("```", 1)[0]
    (tmp_path / "eng.yaml").write_text(example)
    task = load_task_file(tmp_path / "eng.yaml")
    run_import(make_task(USERS_TASK), jira, esm, state, staging, run_id(0))

    summary = run_import(task, jira, esm, state, staging, run_id(1))

    issues = {i["key"]: i for i in jira.search("project = ENG AND issuetype in (Bug, Task)",
                                                 fields=["summary", "priority", "labels", "reporter"])}
    persons = {c.value("jira_account_id"): cid for cid, c in esm_cards(esm, "person").items()}
    cards = by_attr(esm_cards(esm, "incident", task.name), "jira_key")
    assert issues and summary["created"] == len(issues) == len(cards) and summary["refused"] == 0
    priorities = {"Highest": "1 - Critical", "High": "2 - High"}
    for key, issue in issues.items():
        fields, card = issue["fields"], cards[key]
        assert card.value("subject") == fields["summary"]
        assert card.value("priority") == priorities.get((fields.get("priority") or {}).get("name"), "3 - Normal")
        assert (card.value("labels") or "") == ", ".join(fields.get("labels") or [])
        if fields.get("reporter"):
            assert str(card.value("reporter")) == persons[fields["reporter"]["accountId"]]


def test_schedule_more_frequent_than_the_vendor_table_allows_is_warned_in_log_and_docs(jira, esm, state, staging, run_log):
    from jira_esm_connector.dagfactory.imports import import_doc_md
    from jira_esm_connector.pipeline import read_status

    task = make_task(USERS_TASK, schedule="*/5 * * * *")  # full imports of <= 500 users: every 30 min at most
    summary = run_import(task, jira, esm, state, staging, run_id(1), logger=run_log)

    assert "suggested schedule: '*/30 * * * *'" in summary["schedule_warning"]
    assert any(m.startswith("Scheduling: Task 'test_users' runs every 5 min") for m in run_log.messages)
    assert any(m.startswith("Import 'test_users' finished: fetched") for m in run_log.messages)
    assert state.last_volume(task.name) == summary["fetched"]
    assert read_status(staging, task.name)["warning"] == summary["schedule_warning"]

    class Settings:
        staging_dir = staging
        cache_clear_hours = [0]

    assert "Scheduling warning" in import_doc_md(task, Settings())


def test_records_are_staged_page_by_page_and_xcom_gets_only_references(jira, esm, state, staging):
    from jira_esm_connector.pipeline import Dataset
    from jira_esm_connector.pipeline.staging import FILE_ROWS

    task = make_task(ISSUES_TASK, page_size=10)
    path = run_dir(staging, task.name, run_id(1))
    extracted = extract(task, jira, state, path)
    total = len(jira_issues(jira, "project = SUP"))
    assert extracted["pages"] == -(-total // 10) == len(Dataset(extracted["dataset"]).files())
    assert extracted["fetched"] == total
    transformed = transform(task, extracted, path)
    diffed = diff(task, transformed, state, path)
    # transform and diff gather the pages into files of FILE_ROWS rows
    for dataset in (transformed["dataset"], diffed["dataset"]):
        assert len(Dataset(dataset).files()) == -(-total // FILE_ROWS) and Dataset(dataset).count() == total
    for handoff in (extracted, transformed, diffed):  # what XCom carries: paths and counts, no records
        assert len(repr(handoff)) < 1000 and str(path) in handoff["dataset"]
    assert load(task, diffed, esm, state)["created"] == total


def test_incremental_run_from_a_watermark_in_the_helsinki_autumn_ambiguous_hour(jira, jira_sim, esm, state, staging):
    """Issue 8 item 6: the watermark goes to Jira as epoch milliseconds (no zone, no
    repeated hour) and the connector no longer asks Jira for the user's time zone."""
    task = make_task(ISSUES_TASK, jql="project = SUP AND labels = dst-test")
    first_pass = datetime(2024, 10, 27, 0, 30, tzinfo=timezone.utc)  # 03:30 EEST; 03:30 EET follows an hour later
    made = {
        when: jira_sim.admin("POST", "issues", json={
            "project": "SUP", "summary": f"DST {when:%H:%M}", "labels": ["dst-test"], "updated": when.isoformat(),
        }).json()["key"]
        for when in (first_pass - timedelta(minutes=5),    # before the watermark - overlap: not fetched
                     first_pass + timedelta(minutes=10),   # 03:40 EEST
                     first_pass + timedelta(minutes=50),   # 04:20 EEST -> 03:20 EET: local time is before the mark
                     first_pass + timedelta(minutes=70))   # 03:40 EET
    }
    state.set_watermark(task.name, first_pass)
    jira_sim.admin("DELETE", "stats")

    extracted = extract(task, jira, state, run_dir(staging, task.name, run_id(1)))

    from jira_esm_connector.pipeline.staging import Dataset

    fetched = {row["key"] for row in Dataset(extracted["dataset"]).iter_rows(["key"])}
    assert fetched == {key for when, key in made.items() if when >= first_pass - timedelta(minutes=1)}
    assert f"updated >= {int((first_pass - timedelta(minutes=1)).timestamp() * 1000)}" in extracted["jql"]
    endpoints = jira_sim.admin("GET", "stats").json()["endpoints"]
    assert "GET /rest/api/3/myself" not in endpoints and endpoints.get("POST /rest/api/3/search/jql")
