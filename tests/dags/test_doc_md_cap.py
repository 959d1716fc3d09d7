"""DAG docs stay bounded however large a task file's texts are (doc_md is stored with every
serialized DAG and rendered in the UI)."""
from __future__ import annotations

import shutil
from pathlib import Path

from jira_esm_connector.dagfactory import build_all_dags
from jira_esm_connector.dagfactory.common import MAX_DOC_MD, cap_doc_md

EXAMPLES = Path(__file__).resolve().parents[2] / "include" / "mappings"


def test_cap_doc_md_keeps_short_text_and_cuts_long_text_with_a_note():
    assert cap_doc_md("short") == "short"
    capped = cap_doc_md("x" * (MAX_DOC_MD * 5))
    assert len(capped) <= MAX_DOC_MD and capped.endswith("(cut: the full details are in the task file)")


def test_huge_task_texts_give_bounded_dag_docs(monkeypatch, tmp_path):
    monkeypatch.setenv("JIRA_ESM_STAGING_DIR", str(tmp_path / "staging"))
    huge = "x" * 300_000
    shutil.copy(EXAMPLES / "event_add_comment.yaml", tmp_path)
    shutil.copy(EXAMPLES / "import_3_issues_to_incidents.yaml", tmp_path)
    shutil.copy(EXAMPLES / "import_1_users_to_persons.yaml", tmp_path)  # the issue import runs after it
    event = tmp_path / "event_add_comment.yaml"
    event.write_text(event.read_text().replace(
        "description: Add an ESM worklog entry to the Jira issue as a comment.", f"description: {huge}"))
    imp = tmp_path / "import_3_issues_to_incidents.yaml"
    imp.write_text(imp.read_text().replace(
        "description: Support issues and incidents from Jira as ESM incidents.", f"description: {huge}"))
    dags = build_all_dags(tmp_path)
    assert len(dags) == 3
    for dag in (dags["add_jira_comment_from_incident"], dags["jira_issues_to_incidents"]):
        assert huge[:1000] in dag.doc_md  # the text is there, just cut
        assert len(dag.doc_md) <= MAX_DOC_MD
