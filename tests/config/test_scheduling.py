"""The vendor scheduling table and schedule warnings."""
from __future__ import annotations

from datetime import timedelta

import pytest

from jira_esm_connector.config import (
    load_task_file,
    recommended_schedule,
    schedule_warning,
    shortest_interval,
    suggest_cron,
)

M = timedelta(minutes=1)
H = timedelta(hours=1)


@pytest.mark.parametrize("mapping_type,volume,expected", [
    ("user", 10, (30 * M, 10 * M)),
    ("user", 500, (30 * M, 10 * M)),
    ("user", 1999, (H, 15 * M)),
    ("user", 4000, (4 * H, 15 * M)),
    ("user", 9999, (12 * H, 30 * M)),
    ("user", 49_999, (24 * H, H)),
    ("user", 80_000, (24 * H, H)),
    ("group", 999, (30 * M, 10 * M)),
    ("group", 1500, (H, 15 * M)),
    ("group", 2500, (4 * H, 15 * M)),
    ("group", 4000, (12 * H, 30 * M)),
    ("group", 6000, (24 * H, H)),
    ("generic", 1500, (H, 15 * M)),
])
def test_vendor_table(mapping_type, volume, expected):
    assert recommended_schedule(mapping_type, volume) == expected


@pytest.mark.parametrize("schedule,expected", [
    ("*/10 * * * *", 10 * M),
    ("@hourly", H),
    ("0 6,12 * * *", 6 * H),
    ("0 0 * * 1-5", 24 * H),
    ("@daily", 24 * H),
    ("15,45 * * * *", 30 * M),
])
def test_shortest_interval(schedule, expected):
    assert shortest_interval(schedule) == expected


def test_suggest_cron():
    assert suggest_cron(15 * M) == "*/15 * * * *"
    assert suggest_cron(H) == "0 * * * *"
    assert suggest_cron(4 * H) == "0 */4 * * *"
    assert suggest_cron(24 * H) == "0 0 * * *"


def test_warning_when_scheduled_too_often(examples):
    users = load_task_file(examples / "jira_users_to_persons.yaml")  # full, hourly
    assert schedule_warning(users, None) is None
    assert schedule_warning(users, 1500) is None
    msg = schedule_warning(users, 3000)
    assert msg == (
        "Task 'jira_users_to_persons' runs every 1 hour (schedule '0 * * * *'), but with 3,000 users in "
        "its last run the recommended interval for full imports is at least 4 hours; "
        "suggested schedule: '0 */4 * * *'."
    )
    issues = load_task_file(examples / "jira_issues_to_incidents.yaml")  # incremental, every 30 min
    assert schedule_warning(issues, 9_000) is None
    assert "at least 1 hour" in schedule_warning(issues, 40_000)
    assert "at least 1 hour" in schedule_warning(issues, 60_000)
    assert "evaluate separately" in schedule_warning(issues, 60_000)
