"""Two runs of one import at once (issue 8 item 3): the per-task lease makes the second wait,
so one diff is loaded once -- without it, both loads create every card (60 for 30)."""
from __future__ import annotations

import contextlib
import importlib
import threading
import time
from datetime import datetime, timedelta, timezone

import pytest

from jira_esm_connector.config import ConnectorSettings
from jira_esm_connector.esm import EsmClient
from jira_esm_connector.jira import JiraClient
from jira_esm_connector.pipeline import run_import
from jira_esm_connector.state import LeaseBusyError, StateStore

from .conftest import ISSUES_TASK, PG_URL, USERS_TASK, make_task
from .helpers import esm_cards, jira_issues, run_id

# the module, not the `load` function the package re-exports under the same name
load_module = importlib.import_module("jira_esm_connector.pipeline.load")


def _clients(jira_sim, esm_sim):
    jira = JiraClient(jira_sim.base_url, jira_sim.email, jira_sim.token, verify=jira_sim.ca_pem)
    esm = EsmClient(esm_sim.base_url, esm_sim.username, esm_sim.password, verify=esm_sim.ca_pem)
    return jira, esm


def _race(monkeypatch, jira_sim, esm_sim, state_url, staging, *, settings, store_kwargs=None):
    """Two workers (own clients, own state store connection) run the same task at once.
    Both are held right after load's "which cards exist?" questions (is the template empty;
    the look-up by key) until the other is there too (or 3 s passed): the window in which
    two loads both see no card and both create."""
    barrier = threading.Barrier(2)

    def then_meet(real):
        def wrapper(*args, **kwargs):
            found = real(*args, **kwargs)
            with contextlib.suppress(threading.BrokenBarrierError):
                barrier.wait(timeout=3)
            return found
        return wrapper

    monkeypatch.setattr(load_module, "lookup_cards", then_meet(load_module.lookup_cards))
    monkeypatch.setattr(load_module, "_template_is_empty", then_meet(load_module._template_is_empty))
    task = make_task(ISSUES_TASK)
    results: dict[int, object] = {}

    def worker(n: int) -> None:
        jira, esm = _clients(jira_sim, esm_sim)
        store = StateStore(state_url, **(store_kwargs or {}))
        try:
            results[n] = run_import(task, jira, esm, store, staging, run_id(f"race_{n}"), settings=settings)
        except Exception as exc:  # noqa: BLE001 - reported below
            results[n] = exc
        finally:
            jira.close()
            esm.close()
            store.dispose()

    threads = [threading.Thread(target=worker, args=(n,)) for n in (1, 2)]
    for th in threads:
        th.start()
    for th in threads:
        th.join(900)  # generous: on a loaded machine the second run waits out the whole first one
    assert not any(th.is_alive() for th in threads), f"a run did not finish within 15 min: {results}"
    return task, results


def _cards_per_key(esm, task) -> dict[str, int]:
    counts: dict[str, int] = {}
    for card in esm_cards(esm, "incident", task.name).values():
        counts[str(card.value("jira_key"))] = counts.get(str(card.value("jira_key")), 0) + 1
    return counts


@pytest.mark.parametrize("backend", ["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def test_two_concurrent_runs_of_one_task_create_exactly_one_card_per_key(
    backend, request, monkeypatch, jira, esm, jira_sim, esm_sim, tmp_path, staging
):
    if backend == "sqlite":
        url, kwargs = f"sqlite:///{tmp_path}/state.db", {}
    else:
        pg = request.getfixturevalue("pg_state")
        url, kwargs = PG_URL, {"schema": pg.tables.metadata.schema}
    settings = ConnectorSettings(lease_wait_seconds=120, lease_ttl_seconds=2)

    task, results = _race(monkeypatch, jira_sim, esm_sim, url, staging, settings=settings, store_kwargs=kwargs)

    assert all(isinstance(r, dict) for r in results.values()), results
    keys = jira_issues(jira, "project = SUP")
    assert _cards_per_key(esm, task) == {k: 1 for k in keys}
    assert sorted(r["created"] for r in results.values()) == [0, len(keys)]  # the second found them all
    assert StateStore(url, **kwargs).get_lease(task.name).free(datetime.now(timezone.utc))  # released at the end


@contextlib.contextmanager
def _no_lock(*args, **kwargs):
    class _Nothing:
        def check(self) -> None:
            pass

    yield _Nothing()


def test_without_the_lease_the_same_race_duplicates_every_card(monkeypatch, jira, esm, jira_sim, esm_sim, tmp_path, staging):
    """Proof that the race above is real: with the lease and the ESM template's write lock
    (which keeps any two loads of one template apart) switched off, 2 cards per key."""
    monkeypatch.setattr("jira_esm_connector.state.lease.hold_lease", _no_lock)
    monkeypatch.setattr("jira_esm_connector.pipeline.template_lock.hold_template_lock", _no_lock)
    settings = ConnectorSettings(lease_wait_seconds=120, lease_ttl_seconds=2)

    task, results = _race(monkeypatch, jira_sim, esm_sim, f"sqlite:///{tmp_path}/state.db", staging, settings=settings)

    assert all(isinstance(r, dict) for r in results.values()), results
    keys = jira_issues(jira, "project = SUP")
    assert _cards_per_key(esm, task) == {k: 2 for k in keys}


def test_without_the_lease_the_template_write_lock_alone_keeps_one_card_per_key(
    monkeypatch, jira, esm, jira_sim, esm_sim, tmp_path, staging
):
    """Defence in depth: the template's write lock serialises the two loads by itself."""
    monkeypatch.setattr("jira_esm_connector.state.lease.hold_lease", _no_lock)
    settings = ConnectorSettings(lease_wait_seconds=120, lease_ttl_seconds=2)

    task, results = _race(monkeypatch, jira_sim, esm_sim, f"sqlite:///{tmp_path}/state.db", staging, settings=settings)

    assert all(isinstance(r, dict) for r in results.values()), results
    keys = jira_issues(jira, "project = SUP")
    assert _cards_per_key(esm, task) == {k: 1 for k in keys}


def test_second_run_that_cannot_wait_fails_with_a_message_naming_the_first(jira, esm, tmp_path, staging):
    task = make_task(ISSUES_TASK)
    state = StateStore(f"sqlite:///{tmp_path}/state.db")
    from datetime import timedelta

    from jira_esm_connector.state import RunLease

    other = RunLease(state, task.name, "scheduled__2026-11-29T08:00:00+00:00", "scheduled|extract|1",
                     run_expires_at=datetime.now(timezone.utc) + timedelta(hours=4), ttl_s=5)
    other.acquire()
    try:
        with pytest.raises(LeaseBusyError, match=r"run 'scheduled__2026-11-29T08:00:00\+00:00' holds it until"):
            run_import(task, jira, esm, state, staging, run_id("manual"),
                       settings=ConnectorSettings(lease_wait_seconds=0.5, lease_ttl_seconds=5))
        assert esm_cards(esm, "incident") == {}
    finally:
        other.release(run_over=True)
        state.dispose()


def test_extract_that_lost_its_lease_during_a_state_database_blip_stages_no_more_pages(jira, esm, state, staging, monkeypatch):
    """The state database does not answer this attempt's heartbeat for longer than the lease's
    TTL; meanwhile another attempt of the run takes the task over. When the database answers
    again, this attempt stops before it writes another page into the run's extract folder,
    without waiting for its heartbeat's next beat."""
    from jira_esm_connector.pipeline import run_dir
    from jira_esm_connector.state import LeaseLostError

    task = make_task(USERS_TASK, page_size=2)
    run = run_id("blip")
    renew = state.renew_lease
    listed = jira.iter_users
    yielded = []

    def renew_during_blip(*args, **kwargs):
        raise ConnectionError("state database unreachable")

    def users_with_a_blip(*args, **kwargs):
        for n, user in enumerate(listed(*args, **kwargs)):
            if n == 4:  # two pages staged: the database goes away past the TTL, another attempt takes over
                monkeypatch.setattr(state, "renew_lease", renew_during_blip)
                time.sleep(1.0)
                lease = state.get_lease(task.name)
                assert lease.owner_run == run and not lease.holder_live(datetime.now(timezone.utc))
                assert state.try_acquire_lease(
                    task.name, run, f"{run}|run_import|other attempt", first_step=False,
                    holder_expires_at=datetime.now(timezone.utc) + timedelta(hours=1),
                    run_expires_at=datetime.now(timezone.utc) + timedelta(hours=1)).acquired
                monkeypatch.setattr(state, "renew_lease", renew)  # the database is back
            yielded.append(user)
            yield user

    monkeypatch.setattr(jira, "iter_users", users_with_a_blip)
    settings = ConnectorSettings(lease_ttl_seconds=0.6)
    with pytest.raises(LeaseLostError, match="another attempt of this run .* took the task over"):
        run_import(task, jira, esm, state, staging, run, settings=settings)
    pages = sorted((run_dir(staging, task.name, run) / "extract").glob("attempt-*/page-*.parquet"))
    assert len(pages) == 2, pages  # nothing staged after the lease was lost
    assert len(yielded) <= 6
    assert state.get_lease(task.name).holder == f"{run}|run_import|other attempt"  # untouched
