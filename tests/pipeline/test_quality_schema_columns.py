"""The quality gate's frame carries the connector's own ``__key__`` column (used to name
failing records); schema expectations written against "the ESM attribute names"
(docs/TASK_FILES.md, key ``quality``) must not see it -- they failed on every batch."""
from __future__ import annotations

import copy

import pytest

from jira_esm_connector.config import parse_task
from jira_esm_connector.pipeline.transform import quality_gate

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")

TASK = {
    "name": "schema_columns", "kind": "scheduled", "jira_conn_id": "jira_default", "esm_conn_id": "esm_default",
    "schedule": None, "mode": "incremental", "mapping_type": "generic", "jql": "project = SUP",
    "template": "incident", "folder": "incident_management", "key": {"jira": "key", "esm": "jira_key"},
    "attributes": {"subject": "fields.summary", "status": {"value": "01 - New"}},
}


@pytest.mark.parametrize("expectation", [
    {"expect_table_columns_to_match_set": {"column_set": ["subject", "status", "jira_key"]}},
    {"expect_table_column_count_to_equal": {"value": 3}},
], ids=lambda e: next(iter(e)))
def test_schema_expectations_see_the_esm_attributes_only(expectation):
    task = parse_task(dict(copy.deepcopy(TASK), quality=[expectation]), "schema_columns.yaml")
    gate = quality_gate(task)
    for n in range(3):
        gate.add({"__key__": f"SUP-{n}", "subject": f"s{n}", "status": "01 - New", "jira_key": f"SUP-{n}"})
    assert [f.describe() for f in gate.finish()] == []
    # and a schema that does not match still fails
    wrong = {name: ({"column_set": ["subject"]} if "set" in name else {"value": 2}) for name in expectation}
    gate = quality_gate(parse_task(dict(copy.deepcopy(TASK), quality=[wrong]), "schema_columns.yaml"))
    gate.add({"__key__": "SUP-1", "subject": "s", "status": "01 - New", "jira_key": "SUP-1"})
    assert len(gate.finish()) == 1
