"""Pure pieces of the pipeline: the watermark JQL, field selection, staging, the cache CLI."""
from __future__ import annotations

import subprocess
import sys
from datetime import datetime, timezone
from zoneinfo import ZoneInfo

from jira_esm_connector.pipeline import search_fields
from jira_esm_connector.pipeline.staging import Dataset, DatasetWriter, safe_name
from jira_esm_connector.pipeline.watermark import ORDER, split_order_by, watermark_jql
from jira_esm_connector.state import StateStore

from .conftest import ISSUES_TASK, make_task

HELSINKI = ZoneInfo("Europe/Helsinki")


def test_watermark_jql_is_floored_moved_back_by_the_overlap_and_in_the_users_zone():
    mark = datetime(2026, 1, 1, 0, 0, 30, tzinfo=timezone.utc)  # 02:00:30 in Helsinki
    assert watermark_jql("project = SUP", mark, HELSINKI) == (
        f'(project = SUP) AND updated >= "2026/01/01 01:59" {ORDER}'
    )
    assert watermark_jql("project = SUP", mark, HELSINKI, overlap_minutes=5) == (
        f'(project = SUP) AND updated >= "2026/01/01 01:55" {ORDER}'
    )
    # summer time: UTC+3
    summer = datetime(2026, 7, 1, 21, 30, tzinfo=timezone.utc)
    assert '"2026/07/02 00:29"' in watermark_jql("project = SUP", summer, HELSINKI)


def test_watermark_jql_keeps_an_or_inside_the_task_jql_bounded():
    mark = datetime(2026, 1, 1, tzinfo=timezone.utc)
    jql = watermark_jql("project = SUP OR project = OPS", mark, timezone.utc)
    assert jql.startswith("(project = SUP OR project = OPS) AND updated >=")
    assert watermark_jql("project = SUP", None, None) == f"project = SUP {ORDER}"


def test_split_order_by_ignores_order_by_inside_quotes():
    assert split_order_by('summary ~ "order by me" ORDER BY key DESC') == ('summary ~ "order by me"', "ORDER BY key DESC")
    assert split_order_by("project = RECORDER") == ("project = RECORDER", "")


def test_search_asks_jira_only_for_the_fields_the_mapping_reads():
    task = make_task(ISSUES_TASK)
    assert search_fields(task) == ["created", "description", "labels", "status", "summary", "updated"]
    templated = make_task(ISSUES_TASK, attributes={"subject": {"template": "{{ key }}: {{ fields.summary }}"}})
    assert search_fields(templated) == ["*all"]


def test_staged_pages_round_trip_and_a_rerun_starts_clean(tmp_path):
    writer = DatasetWriter(tmp_path / "extract", ["key", "record"])
    writer.write_page([{"key": "A-1", "record": {"x": [1, "ä"]}}, {"key": "A-2", "record": None}])
    writer.write_page([{"key": "A-3", "record": {"y": True}}])
    data = writer.close()
    assert data.count() == 3 and len(data.files()) == 2
    assert [r["key"] for r in data.iter_rows()] == ["A-1", "A-2", "A-3"]
    assert next(data.iter_rows())["record"] == '{"x":[1,"ä"]}'
    again = DatasetWriter(tmp_path / "extract", ["key", "record"]).close()  # an Airflow retry
    assert again.count() == 0
    # readable slug + hash of the exact run id (tests/pipeline/test_staging_names.py)
    assert safe_name("manual__2026-01-01T00:00:00+00:00").startswith("manual__2026-01-01T00_00_00_00_00~")
    assert Dataset(tmp_path / "extract").count() == 0


def test_cache_cli_clears_fingerprints_but_not_the_watermark(tmp_path):
    url = f"sqlite:///{tmp_path}/state.db"
    store = StateStore(url)
    mark = datetime(2026, 1, 1, tzinfo=timezone.utc)
    store.set_watermark("jira_issues_to_incidents", mark)
    store.put_fingerprints("jira_issues_to_incidents", {"SUP-1": "a" * 64, "SUP-2": "b" * 64})
    store.put_fingerprints("other_task", {"X-1": "c" * 64})
    store.dispose()

    out = subprocess.run(
        [sys.executable, "-m", "jira_esm_connector.pipeline.cache", "--db-url", url, "clear", "jira_issues_to_incidents"],
        capture_output=True, text=True, timeout=60,
    )
    assert out.returncode == 0, out.stderr
    assert "2 record fingerprint(s) forgotten" in out.stdout

    store = StateStore(url)
    assert store.get_fingerprints("jira_issues_to_incidents", ["SUP-1", "SUP-2"]) == {}
    assert store.get_fingerprints("other_task", ["X-1"]) == {"X-1": "c" * 64}
    assert store.get_watermark("jira_issues_to_incidents") == mark
    assert "by hand" in store.last_cache_clear("jira_issues_to_incidents")[1]
    store.dispose()

    status = subprocess.run(
        [sys.executable, "-m", "jira_esm_connector.pipeline.cache", "--db-url", url, "status", "jira_issues_to_incidents"],
        capture_output=True, text=True, timeout=60,
    )
    assert "0 cached record(s)" in status.stdout and "2026-01-01T00:00:00+00:00" in status.stdout


def test_incremental_user_import_is_refused_with_a_plain_message():
    import pytest

    from jira_esm_connector.config import TaskFileError

    from .conftest import USERS_TASK

    with pytest.raises(TaskFileError) as err:
        make_task(USERS_TASK, mode="incremental")
    assert "key 'mode'" in str(err.value) and "use mode: full" in str(err.value)
