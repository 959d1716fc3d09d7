"""The table of event operations: one entry per operation drives the task-file checks."""
from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

from jira_esm_connector.config import OPERATION_SPECS, OPERATIONS
from jira_esm_connector.config.event import EventTask
from jira_esm_connector.config.operation_specs import BLOCKS, SUB_BLOCKS

ROOT = Path(__file__).resolve().parents[2]


def test_each_operation_is_one_entry_and_the_model_takes_exactly_those():
    assert OPERATIONS == tuple(OPERATION_SPECS) and len(set(OPERATIONS)) == len(OPERATIONS)
    assert EventTask.model_fields["operation"].annotation.__args__ == OPERATIONS
    for name, spec in OPERATION_SPECS.items():
        assert spec.name == name and spec.result_key and spec.handler
        assert spec.blocks <= set(BLOCKS) | set(SUB_BLOCKS), name


def test_task_files_doc_lists_every_operation():
    text = (ROOT / "docs" / "TASK_FILES.md").read_text(encoding="utf-8")
    row = next(line for line in text.splitlines() if line.startswith("| `operation` |"))
    assert tuple(re.findall(r"`([a-z_]+)`", row.split("|")[2])) == OPERATIONS


def test_every_operation_has_an_example_task_file():
    examples = {p.stem for p in (ROOT / "include" / "mappings").glob("event_*.yaml")}
    assert {f"event_{op}" for op in OPERATIONS} <= examples


def test_config_does_not_import_events_pipeline_airflow_or_http():
    code = (
        "import sys, jira_esm_connector.config\n"
        "bad = [m for m in sys.modules if m.startswith(('jira_esm_connector.events', "
        "'jira_esm_connector.pipeline', 'jira_esm_connector.http', 'airflow', 'requests'))]\n"
        "assert not bad, bad\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True, env={**os.environ, "PYTHONPATH": str(ROOT / "plugins")})
