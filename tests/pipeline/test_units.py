"""Pure pieces of the pipeline: the watermark JQL, field selection, staging, the cache CLI."""
from __future__ import annotations

import subprocess
import sys
from datetime import datetime, timedelta, timezone
from zoneinfo import ZoneInfo

import pytest

from jira_esm_connector.pipeline import search_fields
from jira_esm_connector.pipeline.staging import Dataset, DatasetWriter, safe_name
from jira_esm_connector.pipeline.watermark import ORDER, watermark_jql
from jira_esm_connector.state import StateStore

from .conftest import ISSUES_TASK, make_task

HELSINKI = ZoneInfo("Europe/Helsinki")


def _ms(moment: datetime) -> int:
    return int(moment.timestamp() * 1000)


def test_watermark_jql_is_floored_moved_back_by_the_overlap_in_epoch_milliseconds():
    mark = datetime(2026, 1, 1, 0, 0, 30, tzinfo=timezone.utc)
    assert watermark_jql("project = SUP", mark) == (
        f"(project = SUP) AND updated >= {_ms(datetime(2025, 12, 31, 23, 59, tzinfo=timezone.utc))} {ORDER}"
    )
    assert watermark_jql("project = SUP", mark, overlap_minutes=5) == (
        f"(project = SUP) AND updated >= {_ms(datetime(2025, 12, 31, 23, 55, tzinfo=timezone.utc))} {ORDER}"
    )
    # the same instant whatever zone the stored value carries
    assert watermark_jql("project = SUP", mark.astimezone(HELSINKI)) == watermark_jql("project = SUP", mark)
    # a clause listed whatever its change time (a project whose key changed), still within the task's JQL
    assert watermark_jql("project = SUP", mark, also='project in ("HELP")') == (
        f"(project = SUP) AND (updated >= {_ms(datetime(2025, 12, 31, 23, 59, tzinfo=timezone.utc))} "
        f'OR project in ("HELP")) {ORDER}'
    )


def _instants_jira_may_read(clause_value: str, zone) -> list[datetime]:
    """Every instant a Jira in ``zone`` may take the value of ``updated >= <value>`` for:
    one for epoch milliseconds; for a local "yyyy/MM/dd HH:mm" both readings of an
    ambiguous wall-clock time (the autumn hour that happens twice)."""
    if clause_value.isdigit():
        return [datetime.fromtimestamp(int(clause_value) / 1000, timezone.utc)]
    local = datetime.strptime(clause_value.strip('"'), "%Y/%m/%d %H:%M")
    return sorted({local.replace(tzinfo=zone, fold=f).astimezone(timezone.utc) for f in (0, 1)})


@pytest.mark.parametrize("mark", [
    datetime(2024, 10, 27, 0, 30, tzinfo=timezone.utc),   # 03:30 EEST: first pass through 03:00-04:00
    datetime(2024, 10, 27, 1, 30, tzinfo=timezone.utc),   # 03:30 EET: second pass
    datetime(2024, 10, 27, 1, 0, 20, tzinfo=timezone.utc),  # just after the change, overlap crosses it
])
def test_watermark_in_the_helsinki_autumn_ambiguous_hour_skips_nothing(mark):
    """Whatever way Jira resolves local times, the run must fetch from watermark - overlap
    or earlier; a local time in the repeated hour read as its later occurrence skipped an hour."""
    jql = watermark_jql("project = SUP", mark)
    value = jql.split("updated >= ", 1)[1].split(" ORDER BY", 1)[0]
    since = mark.replace(second=0, microsecond=0) - timedelta(minutes=1)
    readings = _instants_jira_may_read(value, HELSINKI)
    assert readings == [since], f"{value!r} may be read as {readings}, fetching from {since} is needed"


def test_watermark_jql_keeps_order_by_text_inside_quotes_in_the_condition():
    # a JQL's own ORDER BY is refused by the task model; quoted text is only a condition
    assert watermark_jql('summary ~ "order by me"', None) == f'summary ~ "order by me" {ORDER}'
    assert watermark_jql("project = RECORDER", None) == f"project = RECORDER {ORDER}"


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
    assert safe_name("manual__2026-01-01T00:00:00+00:00").startswith("manual__2026-01-01t00_00_00_00_00~")
    assert not data.path.exists() and Dataset(again.path).count() == 0  # the earlier attempt's pages are gone


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


def test_cache_cli_refuses_to_clear_a_task_the_state_database_does_not_know(tmp_path, capsys):
    from jira_esm_connector.pipeline.cache import main as cache_cli

    url = f"sqlite:///{tmp_path}/state.db"
    store = StateStore(url)
    store.put_fingerprints("jira_issues_to_incidents", {"SUP-1": "a" * 64})
    store.dispose()
    assert cache_cli(["--db-url", url, "clear", "jira_issues_to_incident"]) == 1  # one letter short
    said = capsys.readouterr()
    assert "'jira_issues_to_incident' has no cached records" in said.err and "Check the name" in said.err
    store = StateStore(url)
    assert store.get_fingerprints("jira_issues_to_incidents", ["SUP-1"]) == {"SUP-1": "a" * 64}
    assert store.last_cache_clear("jira_issues_to_incident") is None  # no clear recorded for the typo
    store.dispose()
    # the other commands go on, but say that the name, or the database, looks wrong
    for command in ("status", "reset-watermark", "release-lease"):
        assert cache_cli(["--db-url", url, command, "jira_issues_to_incident"]) == 0
        assert "holds nothing of task 'jira_issues_to_incident'" in capsys.readouterr().err
    assert cache_cli(["--db-url", url, "status", "jira_issues_to_incidents"]) == 0
    assert "holds nothing" not in capsys.readouterr().err


def test_cache_cli_shows_and_releases_a_dead_runs_lease(tmp_path, capsys):
    from datetime import timedelta

    from jira_esm_connector.pipeline.cache import main

    url = f"sqlite:///{tmp_path}/state.db"
    store = StateStore(url)
    now = datetime.now(timezone.utc)
    assert store.try_acquire_lease("t", "scheduled__dead", "scheduled__dead|load|try 4",
                                   holder_expires_at=now - timedelta(minutes=1), run_expires_at=now + timedelta(hours=3)).acquired
    assert main(["--db-url", url, "status", "t"]) == 0
    assert "lease: held by run 'scheduled__dead' until" in capsys.readouterr().out
    assert main(["--db-url", url, "release-lease", "t"]) == 0
    assert "held by run 'scheduled__dead'" in capsys.readouterr().out
    assert store.get_lease("t") is None
    assert main(["--db-url", url, "status", "t"]) == 0
    assert "lease: free" in capsys.readouterr().out
    # a run that finished released its lease; one that died let it run out
    assert store.try_acquire_lease("t", "scheduled__done", "scheduled__done|finish|try 1",
                                   holder_expires_at=now + timedelta(minutes=1), run_expires_at=now + timedelta(hours=3)).acquired
    assert store.release_lease("t", "scheduled__done")
    assert main(["--db-url", url, "status", "t"]) == 0
    assert "lease: free (last run 'scheduled__done': released it at " in capsys.readouterr().out
    store.dispose()


def test_cache_cli_lists_the_esm_templates_being_written(tmp_path, capsys):
    from jira_esm_connector.pipeline.cache import main
    from jira_esm_connector.state import TemplateLock

    url = f"sqlite:///{tmp_path}/state.db"
    store = StateStore(url)
    assert main(["--db-url", url, "template-locks"]) == 0
    assert "No ESM template is being written." in capsys.readouterr().out
    lock = TemplateLock(store, "esm.example.com/rest-api/itsm/v1", "incident", writer="issues_sup",
                        run_id="scheduled__1", ttl_s=30)
    lock.acquire()
    try:
        # a task's run lease is not a template lock (and "esm_template_x" is no prefix match)
        store.try_acquire_lease("esm_template_x", "r", "h", holder_expires_at=datetime.now(timezone.utc) + timedelta(minutes=1),
                                run_expires_at=datetime.now(timezone.utc) + timedelta(hours=1))
        assert main(["--db-url", url, "template-locks"]) == 0
        out = capsys.readouterr().out.strip().splitlines()
        assert len(out) == 1 and out[0].startswith(
            "esm.example.com/rest-api/itsm/v1/incident: written by task 'issues_sup' run 'scheduled__1' (load on ")
        assert "heartbeat until" in out[0]
    finally:
        lock.release()
    assert main(["--db-url", url, "template-locks"]) == 0
    assert "No ESM template is being written." in capsys.readouterr().out
    store.dispose()


def test_incremental_user_import_is_refused_with_a_plain_message():
    import pytest

    from jira_esm_connector.config import TaskFileError

    from .conftest import USERS_TASK

    with pytest.raises(TaskFileError) as err:
        make_task(USERS_TASK, mode="incremental")
    assert "key 'mode'" in str(err.value) and "use mode: full" in str(err.value)


def test_per_record_log_lines_stop_after_the_first_hundred_of_a_run_even_from_many_threads():
    import threading

    from jira_esm_connector.pipeline.load import _MAX_LISTED, RecordLines

    said: list[str] = []
    lines = RecordLines(lambda message, *args: said.append(message % args), "More follow.")
    threads = [threading.Thread(target=lambda t=t: [lines("record %s-%s", t, n) for n in range(60)]) for t in range(5)]
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    assert _MAX_LISTED == 100 and len(said) == 101 and said.count("More follow.") == 1
    records = [m for m in said if m != "More follow."]
    assert len(set(records)) == 100 and all(m.startswith("record ") for m in records)
