"""Staging folders: one folder per exact task name / run id, and cleanup that keeps only
what a retry may still need (staged files hold Jira data)."""
from __future__ import annotations

import os
import time

import pytest

from jira_esm_connector.config.settings import ConnectorSettings
from jira_esm_connector.pipeline.staging import (
    _temp_name, cleanup_old_runs, cleanup_unknown_tasks, run_dir, safe_name, write_text,
)

# pairs the old cleaning (replace unsafe characters, strip '._', cut at 180) gave one folder
COLLIDING = [
    ("jira_issues", "jira_issues."),
    ("jira_issues", "_jira_issues_"),
    ("jira_issues", ".jira_issues"),
    ("a" * 180, "a" * 180 + "b"),
    ("a" * 200 + "x", "a" * 200 + "y"),
    ("manual__2026-01-01T00:00:00+00:00", "manual__2026-01-01T00_00_00_00_00"),
    ("a b", "a_b"),
    ("a/b", "a?b"),
    ("", "."),
    ("run", "..."),
    ("jira_issues", "Jira_Issues"),  # one folder on a case-insensitive file system
    ("Jira_Issues", "JIRA_ISSUES"),
]


@pytest.mark.parametrize(("one", "other"), COLLIDING)
def test_names_that_used_to_share_a_folder_get_their_own(one, other):
    assert safe_name(one).casefold() != safe_name(other).casefold()


@pytest.mark.parametrize("name", ["jira_issues_to_incidents", "import-1.users", "a" * 180, "x"])
def test_safe_names_stay_as_they_are(name):
    assert safe_name(name) == name


@pytest.mark.parametrize("name", [
    "manual__2026-01-01T00:00:00+00:00", "_x_", "a" * 500, "../etc/passwd", ".", "", "ä/ö", "a\\b",
])
def test_other_names_are_a_readable_slug_a_tilde_and_a_hash(name):
    out = safe_name(name)
    slug, sep, digest = out.rpartition("~")
    assert sep and len(digest) == 12 and len(out) <= 180 + 13
    assert "/" not in out and "\\" not in out and out not in (".", "..") and not out.startswith((".", "_"))
    assert safe_name(name) == out  # stable


def test_run_dirs_of_colliding_names_are_different(tmp_path):
    assert run_dir(tmp_path, "t", "manual__1:00") != run_dir(tmp_path, "t", "manual__1_00")
    assert run_dir(tmp_path, "t.", "r") != run_dir(tmp_path, "t", "r")


def _age(path, hours):
    past = time.time() - hours * 3600
    os.utime(path, (past, past))


def test_cleanup_keeps_the_current_run_and_recent_runs_only(tmp_path):
    old = run_dir(tmp_path, "t", "old")
    recent = run_dir(tmp_path, "t", "recent")
    current = run_dir(tmp_path, "t", "current")
    (old / "extract").mkdir()
    _age(old, 30)      # younger than the old one day, older than the retention
    _age(recent, 1)
    _age(current, 48)  # e.g. an old run cleared for a re-run
    assert cleanup_old_runs(tmp_path, "t", current_run="current", retention_hours=6) == 1
    assert not old.exists() and recent.exists() and current.exists()


def test_run_dir_marks_a_run_as_in_use(tmp_path):
    path = run_dir(tmp_path, "t", "r")
    _age(path, 48)
    run_dir(tmp_path, "t", "r")  # the next step of the same run
    assert cleanup_old_runs(tmp_path, "t", retention_hours=6) == 0 and path.exists()


def test_retention_comes_from_the_environment(tmp_path, monkeypatch):
    monkeypatch.setenv("JIRA_ESM_STAGING_RETENTION_HOURS", "2")
    assert ConnectorSettings().staging_retention_hours == 2
    path = run_dir(tmp_path, "t", "r")
    _age(path, 3)
    assert cleanup_old_runs(tmp_path, "t") == 1 and not path.exists()
    monkeypatch.setenv("JIRA_ESM_STAGING_RETENTION_HOURS", "0")
    with pytest.raises(ValueError):
        ConnectorSettings()


def test_folders_of_deleted_tasks_are_removed(tmp_path):
    kept = run_dir(tmp_path, "still_here", "r").parent
    odd = run_dir(tmp_path, "odd name!", "r").parent
    gone = run_dir(tmp_path, "deleted_task", "r").parent
    fresh = run_dir(tmp_path, "renamed_a_moment_ago", "r").parent
    status = tmp_path / "_status"
    status.mkdir()
    (status / "deleted_task.json").write_text("{}")
    (status / "still_here.json").write_text("{}")
    for path in (kept, odd, gone, status / "deleted_task.json", status / "still_here.json"):
        _age(path, 48)
    removed = cleanup_unknown_tasks(tmp_path, {"still_here", "odd name!"}, retention_hours=6)
    assert removed == ["deleted_task"]
    assert kept.exists() and odd.exists() and fresh.exists() and not gone.exists()
    assert status.is_dir() and sorted(p.name for p in status.iterdir()) == ["still_here.json"]


def test_a_status_file_left_half_written_by_a_killed_writer_is_removed_once_older_than_the_retention(tmp_path):
    """write_text writes into a temp file of its own, then renames it; a process killed in
    between (SIGKILL, a lost worker) leaves the temp file, which nothing else ever removes.
    The cleanup removes those older than the retention -- no live writer takes hours over a
    small file -- and leaves a fresh one (a writer at work) and the status files alone."""
    status = tmp_path / "_status"
    write_text(status / "still_here.json", "{}")
    stale = status / _temp_name(status / "still_here.json").name
    stale_gone_task = status / _temp_name(status / "deleted_task.json").name
    fresh = status / _temp_name(status / "still_here.json").name
    for path in (stale, stale_gone_task, fresh):
        path.write_text('{"half": ')
    for path in (stale, stale_gone_task, status / "still_here.json"):
        _age(path, 48)

    cleanup_unknown_tasks(tmp_path, {"still_here"}, retention_hours=6)

    assert sorted(p.name for p in status.iterdir()) == sorted([fresh.name, "still_here.json"])


def test_health_dag_cleans_staging_only_when_every_task_file_loaded(tmp_path):
    from jira_esm_connector.config import load_task_dir
    from jira_esm_connector.dagfactory.health import _remove_staging_of_deleted_tasks

    staging = tmp_path / "staging"
    gone = run_dir(staging, "deleted_task", "r").parent
    _age(gone, 48)
    settings = ConnectorSettings(staging_dir=staging, staging_retention_hours=6)
    mappings = tmp_path / "mappings"
    mappings.mkdir()
    (mappings / "broken.yaml").write_text("name: [\n")
    assert _remove_staging_of_deleted_tasks(load_task_dir(mappings), settings) == [] and gone.exists()
    (mappings / "broken.yaml").unlink()
    assert _remove_staging_of_deleted_tasks(load_task_dir(mappings), settings) == ["deleted_task"]
    assert not gone.exists()
