"""The comment import (Jira comments -> worklog entries on the issue's ESM card): the write
lock is checked before each worklog write, and a task file whose entries would carry no text
is refused. Real Jira and ESM simulators, real state store."""
from __future__ import annotations

import importlib
import logging

import pytest

from jira_esm_connector.markers import imported_comment_ids
from jira_esm_connector.pipeline import diff, extract, load, run_dir, run_import, transform
from jira_esm_connector.pipeline.staging import Dataset
from jira_esm_connector.pipeline.template_lock import esm_identity
from jira_esm_connector.state import TemplateLockLostError
from jira_esm_connector.state.lease import template_lock_name

from .conftest import ISSUES_TASK, comment_task, make_task
from .helpers import by_attr, esm_cards, run_id
from .test_template_lock_resends import OTHER, SETTINGS, _db_unreachable_past_the_ttl

load_module = importlib.import_module("jira_esm_connector.pipeline.load")


def _issue_with_comments(jira_sim, n: int, summary: str) -> str:
    return jira_sim.admin("POST", "issues", json={
        "project": "SUP", "summary": summary, "comments": [{"body": f"{summary} comment {i}"} for i in range(n)],
    }).json()["key"]


def _worklog_ids(esm, card_id: str) -> list[str]:
    return imported_comment_ids(esm.get_attribute("incident", card_id, "worklog"))


def test_a_comment_load_that_lost_the_write_lock_stops_before_its_next_worklog_write(
    jira, jira_sim, esm, esm_clients, state, staging, monkeypatch
):
    """Each comment is its own worklog POST: a load whose lock was taken over (its state
    database did not answer past the lock's TTL; another writer -- here the retry of this very
    load -- took the template) must not append the rest of its chunk next to the new holder,
    which read the worklog before those entries existed. Generic loads and mark_removed check
    the lock before each write request too (test_template_lock_lost)."""
    key = _issue_with_comments(jira_sim, 4, "lock lost")
    run_import(make_task(ISSUES_TASK, name="locklost_issues", jql=f"key = {key}"), jira, esm, state, staging, run_id(1))
    card_id = by_attr(esm_cards(esm, "incident"), "jira_key")[key].data_card_id
    task = comment_task("locklost_comments", f"key = {key}")
    path = run_dir(staging, task.name, run_id(1))
    extracted = extract(task, jira, state, path)
    transformed = transform(task, extracted, path)
    diffed = diff(task, transformed, state, path)
    assert diffed["changed"] == 4
    lock_name = template_lock_name(esm_identity(esm), task.template)

    other = esm_clients()  # the new holder's client (another worker)
    real_add = esm.add_attribute_value
    writes: list[str] = []

    def add_then_lose_the_lock(template, card, attribute, value):
        real_add(template, card, attribute, value)
        writes.append(value["value"])
        if len(writes) == 1:
            _db_unreachable_past_the_ttl(state, monkeypatch, lock_name, taken_over=True)
            # the new holder (the retried load) reads the worklog and appends what is missing
            load_module._load_comments(task, Dataset(diffed["dataset"]), other, state, logging.getLogger("other"))

    monkeypatch.setattr(esm, "add_attribute_value", add_then_lose_the_lock)
    with pytest.raises(TemplateLockLostError):
        load(task, diffed, esm, state, settings=SETTINGS)

    ids = _worklog_ids(esm, card_id)
    assert state.get_lease(lock_name).holder == OTHER
    assert len(ids) == len(set(ids)) == 4, f"worklog markers (each comment once expected): {sorted(ids)}"
    assert len(writes) == 1, f"{len(writes) - 1} worklog entries were written after the lock was lost"


@pytest.mark.parametrize("attributes", [
    {"author": {"template": "Jira: {{ author.displayName }}"}},  # value left out
    {"value": "renderedBody"},  # a part of a comment Jira sends only when asked to expand it
], ids=["no-value", "renderedBody"])
def test_a_comment_task_whose_value_reads_nothing_does_not_import_every_comment_as_empty(
    jira, jira_sim, esm, state, staging, attributes
):
    """A comment task that maps only the author (say, to change its prefix, as the example task
    file does), or reads `value` from `renderedBody` (which the comment listing never carries),
    would append every comment as "(empty comment)" with its marker: the text lost for good --
    once the marker is in the worklog, a corrected task file never appends the comment again.
    Either the task file is refused (naming the attribute) or the entry carries the text."""
    from jira_esm_connector.config.errors import TaskFileError

    key = jira_sim.admin("POST", "issues", json={
        "project": "SUP", "summary": "author only", "comments": [{"body": "the words that matter"}],
    }).json()["key"]
    run_import(make_task(ISSUES_TASK, name="authoronly_issues", jql=f"key = {key}"), jira, esm, state, staging, run_id(1))
    spec = {
        "name": "authoronly_comments", "kind": "scheduled", "jira_conn_id": "jira_default",
        "esm_conn_id": "esm_default", "schedule": "*/30 * * * *", "mode": "incremental", "mapping_type": "comment",
        "jql": f"key = {key}", "template": "incident",
        "comments": {"card_key_attribute": "jira_key", "worklog_attribute": "worklog"},
        "attributes": attributes,
    }
    try:
        task = make_task(spec)
    except TaskFileError as exc:
        assert "value" in str(exc) or "renderedBody" in str(exc)
        return
    run_import(task, jira, esm, state, staging, run_id(1))
    card_id = by_attr(esm_cards(esm, "incident"), "jira_key")[key].data_card_id
    texts = [e.get("value") or "" for e in esm.get_attribute("incident", card_id, "worklog")]
    assert any("the words that matter" in t for t in texts), f"worklog entries: {texts}"


