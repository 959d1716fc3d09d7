"""Run in child processes by the concurrency test (must be importable by `spawn`)."""
from __future__ import annotations

from datetime import datetime, timezone


def hammer(url: str, kwargs: dict, task: str, rounds: int, shared_events: int) -> dict:
    from jira_esm_connector.state import StateStore

    store = StateStore(url, **kwargs)
    claimed = []
    try:
        for r in range(rounds):
            store.put_fingerprints(task, {f"{task}-{r}-{i}": f"fp{r}" for i in range(100)})
            store.put_card_ids(task, {f"{task}-{r}": str(r)})
            store.set_watermark(task, datetime(2024, 1, 1, 0, r, tzinfo=timezone.utc))
            store.record_run(task, f"run{r}", {"fetched": 100}, 100 + r)
            for e in range(shared_events):
                rec = store.begin_event("shared", f"ev-{r}-{e}", owner=task)
                if rec.claimed:
                    claimed.append(rec.event_id)
                    store.complete_event("shared", rec.event_id, {"by": task})
        return {"claimed": claimed}
    finally:
        store.dispose()


def hold_lease_forever(url: str, kwargs: dict, task: str, run_id: str, holder: str, ttl_s: float, ready) -> None:
    """Take a task's lease with a heartbeat and sit on it until killed (a crashed worker)."""
    import time
    from datetime import timedelta

    from jira_esm_connector.state import RunLease, StateStore

    store = StateStore(url, **kwargs)
    lease = RunLease(
        store, task, run_id, holder, ttl_s=ttl_s, wait_s=0,
        run_expires_at=datetime.now(timezone.utc) + timedelta(hours=1),
    )
    lease.acquire()
    ready.set()
    while True:
        time.sleep(1)


def hold_template_lock_forever(url: str, kwargs: dict, esm_identity: str, template: str, writer: str,
                               ttl_s: float, ready) -> None:
    """Take an ESM template's write lock with a heartbeat and sit on it until killed (a load
    whose worker crashed mid-write)."""
    import time

    from jira_esm_connector.state import StateStore, TemplateLock

    store = StateStore(url, **kwargs)
    lock = TemplateLock(store, esm_identity, template, writer=writer, run_id="scheduled__killed", ttl_s=ttl_s, wait_s=0)
    lock.acquire()
    ready.set()
    while True:
        time.sleep(1)
