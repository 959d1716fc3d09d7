"""The static expectation list matches the installed great-expectations."""
from __future__ import annotations

from jira_esm_connector.config import KNOWN_EXPECTATIONS


def test_known_expectations_exist_in_gx():
    import great_expectations.expectations as gxe

    for name, class_name in KNOWN_EXPECTATIONS.items():
        cls = getattr(gxe, class_name)
        assert cls.expectation_type == name
    # and the common ones a task file is likely to use are there
    for name in ("expect_column_values_to_not_be_null", "expect_column_values_to_be_unique",
                 "expect_table_row_count_to_be_between", "expect_column_values_to_match_regex"):
        assert name in KNOWN_EXPECTATIONS


def test_declared_expectation_builds_a_gx_object(examples):
    import great_expectations.expectations as gxe

    from jira_esm_connector.config import load_task_file

    task = load_task_file(examples / "jira_issues_to_incidents.yaml")
    built = [getattr(gxe, q.class_name)(**q.kwargs) for q in task.quality]
    assert built[0].column == "subject"
