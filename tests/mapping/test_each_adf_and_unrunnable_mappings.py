"""Mappings that used to load and then write the wrong thing, or nothing, to ESM: ``each`` then
an ADF transform (the Python repr of the documents), LIKE-pattern expectations (GX cannot
evaluate them on a pandas batch: every run failed), a path into ``renderedFields`` (never
expanded: always empty). Real simulators for the imports."""
from __future__ import annotations

import pytest

from jira_esm_connector.config.errors import TaskFileError
from jira_esm_connector.mapping import compile_spec
from jira_esm_connector.pipeline import run_import

from tests.pipeline.conftest import ISSUES_TASK, make_task
# the pipeline fixtures (real clients on the running simulators, a fresh state store)
from tests.pipeline.conftest import esm, jira, state, staging  # noqa: F401
from tests.pipeline.helpers import by_attr, esm_cards, run_id


def _doc(*texts: str) -> dict:
    return {"type": "doc", "version": 1,
            "content": [{"type": "paragraph", "content": [{"type": "text", "text": t}]} for t in texts]}


# ---- 1. each + adf_to_text writes the Python repr of the ADF documents -------------------

def test_each_then_adf_to_text_converts_every_item_not_the_python_repr_of_the_list():
    """docs/TASK_FILES.md: steps apply each -> transform -> ...; `each` gives one value per
    item. With transform: adf_to_text the whole list went to adf_to_text, which wrote str(list)."""
    record = {"fields": {"comment": {"comments": [{"body": _doc("first")}, {"body": _doc("second")}]}}}
    joined = compile_spec({"from": "fields.comment.comments", "each": "body", "transform": "adf_to_text", "join": "\n"})
    listed = compile_spec({"from": "fields.comment.comments", "each": "body", "transform": "adf_to_text"})
    assert joined(record) == "first\nsecond"
    assert listed(record) == ["first", "second"]


def test_an_import_writes_the_text_of_each_comment_not_python_repr(jira_sim, jira, esm, state, staging):
    key = jira_sim.admin("POST", "issues", json={
        "project": "SUP", "summary": "comments as text",
        "comments": [{"body": _doc("first comment")}, {"body": _doc("second comment")}],
    }).json()["key"]
    attributes = dict(ISSUES_TASK["attributes"])
    attributes["description"] = {"from": "fields.comment.comments", "each": "body", "transform": "adf_to_text",
                                 "join": "\n"}
    task = make_task(ISSUES_TASK, name="comment_bodies_as_text", jql=f"key = {key}", attributes=attributes)

    run_import(task, jira, esm, state, staging, run_id(1))

    card = by_attr(esm_cards(esm, "incident", task.name), "jira_key")[key]
    assert card.value("description") == "first comment\nsecond comment"


# ---- 2. LIKE-pattern expectations are accepted but can never run on the pandas batch ----

LIKE_EXPECTATIONS = [
    ("expect_column_values_to_match_like_pattern", {"column": "subject", "like_pattern": "%"}),
    ("expect_column_values_to_match_like_pattern_list", {"column": "subject", "like_pattern_list": ["%"]}),
    ("expect_column_values_to_not_match_like_pattern", {"column": "subject", "like_pattern": "zz%zz"}),
    ("expect_column_values_to_not_match_like_pattern_list", {"column": "subject", "like_pattern_list": ["zz%zz"]}),
]


@pytest.mark.parametrize(("name", "kwargs"), LIKE_EXPECTATIONS, ids=[n for n, _ in LIKE_EXPECTATIONS])
def test_a_like_pattern_expectation_is_refused_in_the_task_file_or_evaluated(name, kwargs, jira_sim, jira, esm, state,
                                                                               staging):
    """config/expectations.py: expectations that need a SQL datasource are left out, batches
    are pandas frames. GX has no pandas provider for the LIKE-pattern metrics, yet the four
    are in KNOWN_EXPECTATIONS: the task file loads, and every run then fails in transform with
    'could not be evaluated: No provider found ...' -- for a batch every record of which
    satisfies the expectation. Either the file is refused (naming the key) or the gate runs it."""
    key = jira_sim.admin("POST", "issues", json={"project": "SUP", "summary": "plain subject"}).json()["key"]
    try:
        task = make_task(ISSUES_TASK, name="like_pattern_check", jql=f"key = {key}", quality=[{name: kwargs}])
    except TaskFileError as exc:  # refused where the task file says it: fine
        assert "quality" in str(exc), exc
        return
    summary = run_import(task, jira, esm, state, staging, run_id(1))  # raised QualityError before the fix
    assert summary["created"] == 1, summary


# ---- 3. a path into renderedFields is accepted, and always reads nothing ----------------

def test_a_rendered_field_path_is_refused_or_reaches_esm(jira_sim, jira, esm, state, staging):
    """extract.search_fields names renderedFields as a path the mapping may read (it asks for
    *all then), but the search and bulk fetch never ask Jira to expand renderedFields, which
    Jira only sends on request: the attribute is written empty for every issue, silently."""
    key = jira_sim.admin("POST", "issues", json={
        "project": "SUP", "summary": "rendered", "description": _doc("Rendered body text")}).json()["key"]
    attributes = dict(ISSUES_TASK["attributes"])
    attributes["description"] = "renderedFields.description"
    try:
        task = make_task(ISSUES_TASK, name="rendered_description", jql=f"key = {key}", attributes=attributes)
    except TaskFileError as exc:  # refused, naming the attribute: fine
        assert "description" in str(exc), exc
        return
    run_import(task, jira, esm, state, staging, run_id(1))
    card = by_attr(esm_cards(esm, "incident", task.name), "jira_key")[key]
    assert "Rendered body text" in str(card.value("description") or ""), card.value("description")
