"""An incremental task's watermark holds for the task file it was reached under: after the
JQL, the mapping (or the date settings, or the connector's version) changed, the issues the
task now selects or maps differently have not changed in Jira since the watermark -- an
incremental run would never fetch them. The next run fetches everything once instead, and
the task cache keeps ESM from being written where nothing changed."""
from __future__ import annotations

from jira_esm_connector.pipeline import run_import
from jira_esm_connector.pipeline.cache import main as cache_cli

from .conftest import ISSUES_TASK, make_task
from .helpers import by_attr, esm_cards, jira_issues, run_id


def _by_age(jira) -> list[str]:
    issues = jira_issues(jira, "project = SUP")
    return sorted(issues, key=lambda k: (issues[k]["fields"]["updated"], k))


def test_a_wider_jql_brings_the_issues_it_now_selects(jira, esm, state, staging, caplog):
    oldest, *_, second_newest, newest = _by_age(jira)
    task = make_task(ISSUES_TASK, jql=f"key in ({second_newest}, {newest})")
    assert run_import(task, jira, esm, state, staging, run_id(1))["created"] == 2

    wider = make_task(ISSUES_TASK, jql=f"key in ({oldest}, {second_newest}, {newest})")
    with caplog.at_level("WARNING", logger="jira_esm_connector"):
        summary = run_import(wider, jira, esm, state, staging, run_id(2))

    assert oldest in by_attr(esm_cards(esm, "incident", task.name), "jira_key")
    assert (summary["created"], summary["updated"]) == (1, 0), summary  # the two it had are not written again
    assert "changed since its watermark" in caplog.text

    # and the run after it is incremental again: nothing changed, nothing fetched but the overlap
    again = run_import(wider, jira, esm, state, staging, run_id(3))
    assert (again["created"], again["updated"]) == (0, 0), again


def test_a_changed_mapping_reaches_the_cards_of_unchanged_issues(jira, esm, state, staging):
    task = make_task(ISSUES_TASK)
    first = run_import(task, jira, esm, state, staging, run_id(1))
    attributes = dict(task.model_dump(mode="json")["attributes"])
    attributes["subject"] = {"from": "fields.summary", "transform": "upper"}
    remapped = make_task(ISSUES_TASK, attributes=attributes)

    summary = run_import(remapped, jira, esm, state, staging, run_id(2))

    assert summary["updated"] == first["created"], summary
    cards = list(esm_cards(esm, "incident", task.name).values())
    assert cards and all(c.value("subject") == c.value("subject").upper() for c in cards)
    assert any(c.value("subject") != c.value("subject").lower() for c in cards)


def test_a_watermark_recorded_before_digests_were_kept_is_used_as_it_is(jira, esm, state, staging):
    """After the upgrade that brought this, a watermark without a digest is trusted (no surprise
    full read); the run records the digest."""
    task = make_task(ISSUES_TASK)
    first = run_import(task, jira, esm, state, staging, run_id(1))
    watermark = state.get_watermark(task.name)
    with state.engine.begin() as conn:
        conn.execute(state.tables.watermark_digests.delete())

    second = run_import(task, jira, esm, state, staging, run_id(2))

    assert second["fetched"] < first["fetched"]
    assert state.get_watermark(task.name) >= watermark
    assert state.get_watermark_digest(task.name) is not None


def test_the_cache_cli_resets_a_watermark(jira, esm, state, staging, capsys):
    task = make_task(ISSUES_TASK)
    first = run_import(task, jira, esm, state, staging, run_id(1))
    assert cache_cli(["reset-watermark", task.name, "--db-url", str(state.engine.url.render_as_string(hide_password=False))]) == 0
    assert "forgotten" in capsys.readouterr().out
    assert state.get_watermark(task.name) is None and state.get_watermark_digest(task.name) is None
    assert run_import(task, jira, esm, state, staging, run_id(2))["fetched"] == first["fetched"]
