"""One run of a task at a time: a lease in the connector's state database.

Airflow's ``max_active_runs=1`` is not enough on its own: a retry after a missed
heartbeat, a manual run on a second deployment or a second scheduler can start a run of
the same task while another is loading, and two loads of one diff create every card
twice. So every run holds a lease row per task (``leases`` table) from extract to the end:

* **owner** -- the run (Airflow ``run_id``). Its expiry (``run_expires_at``) is the run's
  deadline (``dagrun_timeout``): a run that died on its last try frees the task at the
  latest when Airflow would have given up on it anyway -- or sooner for that same run
  cleared by an operator: its new instance (same run id, new start) takes over the lease
  once the killed attempt's heartbeat has run out.
* **holder** -- the attempt working right now (run id + step + try number). A background
  thread renews its expiry every ``ttl/3`` seconds, so a killed process frees the step
  within ``ttl`` (default 60 s) and an Airflow retry of the same run can take over.

A first step (extract) waits up to ``wait_s`` for a busy lease, then fails with
:class:`LeaseBusyError` naming the run that holds it and when its lease expires. A later
step of a run whose lease was taken over fails with :class:`LeaseLostError` ("superseded"):
its staged data is older than the other run's and must never be written over it.
:meth:`RunLease.check` says so before each write (extract, transform, diff: before each
staged page); it asks the database only when the heartbeat could not renew the claim for
two beats.

Clocks: the store writes and judges every expiry by one clock -- on PostgreSQL the
database's (``clock_timestamp()``), so a worker whose clock runs ahead can never see a live
holder's heartbeat as run out; on SQLite (one machine) the local one. A worker gives only
the heartbeat's lifetime (``holder_ttl_s``). The run deadline (``run_expires_at``) is
Airflow's run start plus its timeout, a time of the scheduler's clock: minutes of skew
there move a dead run's 4-hour deadline by minutes.
"""
from __future__ import annotations

import logging
import threading
import time
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any, Callable, Iterator

from .store import LeaseInfo, StateStoreError

__all__ = [
    "DEFAULT_HOLDER_TTL_S",
    "DEFAULT_WAIT_S",
    "LeaseBusyError",
    "LeaseError",
    "LeaseLostError",
    "RunLease",
    "TEMPLATE_LOCK_PREFIX",
    "TemplateBusyError",
    "TemplateLock",
    "TemplateLockLostError",
    "hold_lease",
    "hold_template_lock",
    "template_lock_name",
]

log = logging.getLogger("jira_esm_connector.lease")

DEFAULT_HOLDER_TTL_S = 60.0
DEFAULT_WAIT_S = 120.0


class LeaseError(StateStoreError):
    """Base of the lease errors (never holds a secret)."""


def _when(moment: datetime | None) -> str:
    return moment.astimezone(timezone.utc).strftime("%Y-%m-%d %H:%M:%S UTC") if moment else "-"


class LeaseBusyError(LeaseError):
    """Another run (or another live attempt of this run) holds the task's lease."""

    def __init__(
        self, task: str, run_id: str, current: LeaseInfo, waited_s: float, now: datetime | None = None,
    ) -> None:
        """``now``: the time the lease was judged by (the claim's: the database's clock)."""
        self.task, self.run_id, self.current, self.waited_s = task, run_id, current, waited_s
        if current.owner_run == run_id:
            who = f"another attempt of this run ({current.holder}) is still working; its heartbeat expires at {_when(current.holder_expires_at)}"
        else:
            if current.holder_live(now or _utcnow()):
                working = f"attempt {current.holder} is working, heartbeat until {_when(current.holder_expires_at)}"
            elif current.holder:
                working = (f"its attempt {current.holder} stopped renewing its heartbeat at "
                           f"{_when(current.holder_expires_at)} (killed or stalled; a retry of that run may continue)")
            else:
                working = "no attempt is working right now (between steps or waiting for a retry)"
            who = f"run '{current.owner_run}' holds it until {_when(current.run_expires_at)} ({working})"
        super().__init__(
            f"Task '{task}' is already running: {who}. Run '{run_id}' waited {waited_s:.0f} s and gives up, "
            "because two runs of one task at once would create duplicate ESM cards. It will run once the "
            "other run has finished; if that run is dead and its lease must go sooner, an operator can "
            f"remove it: python -m jira_esm_connector.pipeline.cache release-lease {task}"
        )


class LeaseLostError(LeaseError):
    """This run no longer owns the task's lease: another run took it over (superseded)."""

    def __init__(self, task: str, run_id: str, current: LeaseInfo | None) -> None:
        self.task, self.run_id, self.current = task, run_id, current
        if current is not None and current.owner_run != run_id:
            why = f"superseded by run '{current.owner_run}' (which took the lease at {_when(current.acquired_at)} after this run's lease expired)"
        elif current is not None and current.holder:
            why = f"another attempt of this run ({current.holder}) took the task over after this attempt's heartbeat ran out"
        else:
            why = "its lease was released or removed by an operator"
        super().__init__(
            f"Run '{run_id}' of task '{task}' stops: {why}. Its staged data may be older than what is in ESM "
            "now and is not written; the next run (or a fresh run from extract) picks the changes up again."
        )


@dataclass
class _Lost:
    current: LeaseInfo | None


def _utcnow() -> datetime:
    return datetime.now(timezone.utc)


class RunLease:
    """A claim of ``task``'s lease by ``holder`` (an attempt) of run ``run_id``.

    ``run_expires_at``: the run's deadline; the lease of a dead run lasts until then
    (``None``: the claim lives by its heartbeat alone).
    ``first_step``: may start the run (take a free or expired lease, waiting up to
    ``wait_s``); a later step only continues a lease its run owns.
    ``run_name``: the Airflow run id when ``run_id`` is a more unique token (see
    :meth:`..store.StateStore.try_acquire_lease`). ``owner_is_over(lease)``: asks the
    orchestrator whether the owning run has ended (e.g. an operator marked it failed
    between two steps), so its lease need not be waited out.
    """

    def __init__(
        self,
        store: Any,
        task: str,
        run_id: str,
        holder: str,
        *,
        run_expires_at: datetime | None,
        first_step: bool = True,
        wait_s: float = DEFAULT_WAIT_S,
        ttl_s: float = DEFAULT_HOLDER_TTL_S,
        poll_s: float | None = None,
        logger: logging.Logger | logging.LoggerAdapter | None = None,
        run_name: str | None = None,
        owner_is_over: Callable[[LeaseInfo], bool] | None = None,
    ) -> None:
        if ttl_s <= 0:
            raise ValueError("the lease heartbeat TTL must be positive")
        self.store, self.task, self.run_id, self.holder = store, task, str(run_id), str(holder)
        self.run_expires_at = run_expires_at
        self.first_step = first_step
        self.wait_s = max(0.0, float(wait_s))
        self.ttl_s = float(ttl_s)
        self.poll_s = poll_s if poll_s is not None else min(5.0, max(0.2, self.ttl_s / 6))
        self.log = logger or log
        self.run_name = run_name
        self.owner_is_over = owner_is_over
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._lost: _Lost | None = None
        self._renewed = 0.0  # time.monotonic() of the last claim or renewal the database confirmed
        self.held = False

    # ---- claim ---------------------------------------------------------------------
    def _owner_over(self, current: LeaseInfo, asked: dict[str, float], now: datetime) -> bool:
        """Ask (at most every 15 s per owner) whether the owning run has ended; never while
        an attempt of it is alive at ``now`` (the claim's clock)."""
        if self.owner_is_over is None or not self.first_step or current.owner_run == self.run_id:
            return False
        if current.holder_live(now) or time.monotonic() - asked.get(current.owner_run, -1e9) < 15:
            return False
        asked[current.owner_run] = time.monotonic()
        try:
            over = bool(self.owner_is_over(current))
        except Exception as exc:  # noqa: BLE001 - unknown (e.g. another deployment's run): wait
            self.log.debug("Could not ask whether run '%s' is over: %s", current.owner_run, exc)
            return False
        if over:
            self.log.warning(
                "Run '%s' still held the lease of task '%s' but has ended (e.g. marked failed between "
                "steps); run '%s' takes the task over.", current.owner_run, self.task, self.run_id,
            )
        return over

    def _try_claim(self, dead_owner: str | None) -> Any:
        """One atomic attempt at the lease (``store.try_acquire_lease``; the heartbeat's
        expiry by the store's clock)."""
        return self.store.try_acquire_lease(
            self.task, self.run_id, self.holder, holder_ttl_s=self.ttl_s,
            run_expires_at=self.run_expires_at, first_step=self.first_step,
            run_name=self.run_name, dead_owner=dead_owner,
        )

    def _busy_error(self, current: LeaseInfo, waited: float, now: datetime | None) -> LeaseError:
        return LeaseBusyError(self.task, self.run_id, current, waited, now)

    def _say_waiting(self, cur: LeaseInfo, waited: float) -> None:
        self.log.warning(
            "Task '%s' is held by run '%s' (attempt %s, run lease until %s, heartbeat until %s); "
            "run '%s' waits up to %.0f s more.",
            self.task, cur.owner_run, cur.holder or "none", _when(cur.run_expires_at),
            _when(cur.holder_expires_at), self.run_id, self.wait_s - waited,
        )

    def _claim_waiting(self, start: float) -> tuple[Any, str | None]:
        """Claim, waiting up to ``wait_s`` for the holder (a line every 30 s): (the claim, the
        dead owner it was taken from, if any). Raises the busy / lost error."""
        announced = -1.0
        dead_owner: str | None = None
        asked: dict[str, float] = {}
        while True:
            claim = self._try_claim(dead_owner)
            if claim.acquired:
                return claim, dead_owner
            if claim.outcome == "busy" and self._owner_over(claim.current, asked, claim.now or _utcnow()):
                dead_owner = claim.current.owner_run
                continue
            if claim.outcome == "lost":
                lost = self._lost_error(claim.current)
                self.log.error("Lease of task '%s' lost: %s", self.task, lost)
                raise lost
            waited = time.monotonic() - start
            if waited >= self.wait_s:
                err = self._busy_error(claim.current, waited, claim.now)
                self.log.error("%s", err)
                raise err
            if announced < 0 or waited - announced >= 30:
                announced = waited
                self._say_waiting(claim.current, waited)
            time.sleep(min(self.poll_s, max(0.05, self.wait_s - waited)))

    def acquire(self) -> LeaseInfo:
        claim, dead_owner = self._claim_waiting(time.monotonic())
        info = claim.current
        self.held = True
        old = claim.taken_over
        # released: no news; a dead owner's: _owner_over said so, and its lease had not run out
        restarted = (old is not None and old.run_name == info.run_name and old.holder is not None
                     and not old.free(claim.now or _utcnow()))
        if restarted:
            self.log.warning(
                "Run '%s' of task '%s' was started again (cleared): its earlier instance '%s' died working -- "
                "attempt %s stopped renewing its heartbeat at %s (killed, e.g. out of memory or a lost node) "
                "and nothing released its lease -- so it is over and this instance takes the task over.",
                info.run_name, self.task, old.owner_run, old.holder, _when(old.holder_expires_at),
            )
        elif old is not None and not old.released and old.owner_run != dead_owner:
            self.log.warning(
                "Run '%s' took over the expired lease of task '%s' from run '%s' (its lease ran out at %s): "
                "that run's later steps will stop instead of writing older data.",
                self.run_id, self.task, old.owner_run, _when(old.run_expires_at),
            )
        # a run that said it was over is no news: the next run taking the task is the normal case
        previous = (f"; the last run '{old.owner_run}' released it at {_when(old.run_expires_at)}"
                    if old is not None and old.released else "")
        self.log.info(
            "Lease of task '%s' held by %s (run lease until %s, heartbeat every %.0f s)%s.",
            self.task, self.holder, _when(info.run_expires_at), self.ttl_s / 3, previous,
        )
        self._start_heartbeat()
        return info

    # ---- heartbeat -------------------------------------------------------------------
    def _start_heartbeat(self) -> None:
        self._renewed = time.monotonic()  # just claimed
        self._stop.clear()
        self._thread = threading.Thread(
            target=self._beat, name=f"lease-heartbeat-{self.task}", daemon=True  # dies with a killed process
        )
        self._thread.start()

    def _beat(self) -> None:
        interval = self.ttl_s / 3
        while not self._stop.wait(interval):
            try:
                ok = self._renew()
            except Exception as exc:  # noqa: BLE001 - a DB blip must not kill the step; the TTL covers it (check)
                self.log.warning("Could not renew the lease of task '%s' (will retry): %s", self.task, type(exc).__name__)
                continue
            if not ok:
                return

    def _renew(self) -> bool:
        """One renewal: True when the database confirmed the claim is still this holder's;
        False (and lost) when it is not."""
        asked = time.monotonic()
        if self.store.renew_lease(self.task, self.run_id, self.holder, holder_ttl_s=self.ttl_s):
            self._renewed = max(self._renewed, asked)
            return True
        current = None
        try:
            current = self.store.get_lease(self.task)
        except Exception:  # noqa: BLE001
            pass
        if self._lost is None:
            self._lost = _Lost(current)
            self.log.error("%s", self._lost_error(current))
        return False

    def _stop_heartbeat(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=10)
            self._thread = None

    @property
    def lost(self) -> bool:
        return self._lost is not None

    def _lost_error(self, current: LeaseInfo | None) -> LeaseError:
        return LeaseLostError(self.task, self.run_id, current)

    def check(self) -> None:
        """Raise :class:`LeaseLostError` if the heartbeat found the lease taken over; call
        before anything that writes (each staged extract page, load, the watermark).

        No I/O while the heartbeat keeps the claim renewed. When it has not for two of its
        beats (the state database did not answer, or this process was frozen), the claim may
        have run out and another attempt taken the task over before the heartbeat could tell:
        the database is asked once now, and a claim it cannot confirm stops the step too."""
        if self._lost is None and self.held and time.monotonic() - self._renewed > self.ttl_s * 2 / 3:
            try:
                self._renew()
            except Exception as exc:
                raise LeaseError(
                    f"Lease of task '{self.task}' ({self.holder}) could not be confirmed: its heartbeat has not "
                    f"been renewed for {time.monotonic() - self._renewed:.0f} s (heartbeat lifetime "
                    f"{self.ttl_s:.0f} s) and the state database does not answer ({type(exc).__name__}). "
                    "Another attempt may have taken the task over, so this one stops before it writes more; "
                    "a retry continues once the database answers."
                ) from None
        if self._lost is not None:
            raise self._lost_error(self._lost.current)

    # ---- end -------------------------------------------------------------------------
    def release(self, *, run_over: bool) -> None:
        """``run_over``: the run ended (finished, or failed for good): remove the lease.
        Otherwise only this attempt lets go; the run keeps the task for its next step/retry."""
        self._stop_heartbeat()
        if not self.held:
            return
        self.held = False
        if self._lost is not None:
            return  # not ours any more: never touch the other run's lease
        try:
            self.store.release_lease(self.task, self.run_id, self.holder, keep_run=not run_over)
        except Exception as exc:  # noqa: BLE001 - the TTLs free it anyway
            self.log.warning(
                "Could not release the lease of task '%s' (%s); it frees itself when it expires.",
                self.task, type(exc).__name__,
            )
            return
        if run_over:
            self.log.info("Lease of task '%s' released: run '%s' is over.", self.task, self.run_id)


@contextmanager
def hold_lease(
    store: Any,
    task: str,
    run_id: str,
    holder: str,
    *,
    run_expires_at: datetime,
    first_step: bool = True,
    last_step: bool = True,
    run_over_on_error: bool | Callable[[BaseException], bool] = True,
    wait_s: float = DEFAULT_WAIT_S,
    ttl_s: float = DEFAULT_HOLDER_TTL_S,
    poll_s: float | None = None,
    logger: logging.Logger | logging.LoggerAdapter | None = None,
    run_name: str | None = None,
    owner_is_over: Callable[[LeaseInfo], bool] | None = None,
) -> Iterator[RunLease]:
    """Hold ``task``'s lease around a block (a whole run, or one step of it).

    On success the lease is released when ``last_step`` (the run is over) and otherwise
    kept for the run's next step. On error ``run_over_on_error`` (a bool, or a function of
    the exception) says whether the run is over (no retry will come: free the task) or an
    Airflow retry of this run will continue (keep the run's claim, drop the holder).
    A lease lost while the block ran raises :class:`LeaseLostError` at the end.
    """
    lease = RunLease(
        store, task, run_id, holder, run_expires_at=run_expires_at, first_step=first_step,
        wait_s=wait_s, ttl_s=ttl_s, poll_s=poll_s, logger=logger, run_name=run_name, owner_is_over=owner_is_over,
    )
    lease.acquire()
    try:
        yield lease
    except BaseException as exc:
        over = run_over_on_error(exc) if callable(run_over_on_error) else bool(run_over_on_error)
        lease.release(run_over=over)
        raise
    lease.release(run_over=last_step)
    lease.check()


# ---- per-template write lock ---------------------------------------------------------------
#
# The task lease above keeps two runs of ONE task apart. Two DIFFERENT tasks may write the
# same ESM template (overlapping selections; "the last one to write a record owns it"), and
# ESM's bulk PUT has no upsert: a load looks its keys up, then creates the cards it did not
# find, so two loads racing create two cards for one key. A template write lock keeps every
# writer of one ESM template (load, mark_removed) apart. It is a row of the same ``leases``
# table under a synthetic name (``esm-template:<ESM host/path>/<template>``; a task name,
# being a DAG id, never holds a ':'), claimed with the same atomic ``try_acquire_lease``:
#
# * owner -- one token per claim (task, run and a random part), so nothing is re-entered;
#   ``run_name`` says which task and run write, ``holder`` which step on which host/process;
# * the run expiry is the first heartbeat's, and only the holder heartbeat is renewed
#   afterwards (every ttl/3 s): a killed writer frees the template within ``ttl_s``;
# * released at the end of the writing step (expiry = now: free at once).

TEMPLATE_LOCK_PREFIX = "esm-template:"
_LOCK_NAME_MAX = 250  # leases.task


def template_lock_name(esm_identity: str, template: str) -> str:
    """The lease name of ``template`` on the ESM ``esm_identity`` (a host/path or a
    connection id -- never a URL with credentials). Shortened with a digest beyond the
    column's 250 characters."""
    name = f"{TEMPLATE_LOCK_PREFIX}{esm_identity}/{template}"
    if len(name) > _LOCK_NAME_MAX:
        import hashlib

        digest = hashlib.sha256(name.encode("utf-8")).hexdigest()[:16]
        name = f"{name[:_LOCK_NAME_MAX - 17]}~{digest}"
    return name


def _writer_text(info: LeaseInfo) -> str:
    return f"{info.run_name or info.owner_run} ({info.holder or 'no step working'})"


class TemplateBusyError(LeaseError):
    """Another load or removal kept the ESM template for longer than this one may wait."""

    def __init__(self, label: str, writer: str, current: LeaseInfo | None, waited_s: float) -> None:
        self.label, self.writer, self.current, self.waited_s = label, writer, current, waited_s
        who = (f"{_writer_text(current)} is writing it, heartbeat until {_when(current.holder_expires_at)}"
               if current is not None else "another writer holds it")
        super().__init__(
            f"{label}: {who}. {writer} waited {waited_s:.0f} s and gives up without writing, because two "
            "writers of one template at once can create duplicate cards. A retry (or the next run) writes "
            "once the other writer has finished; a writer that died frees the template by itself when "
            "its heartbeat runs out."
        )


class TemplateLockLostError(LeaseError):
    """The template's write lock was taken over (this process stalled past its heartbeat)
    or removed by an operator: the writer stops before its next write."""

    def __init__(self, label: str, writer: str, current: LeaseInfo | None) -> None:
        self.label, self.writer, self.current = label, writer, current
        if current is not None and current.holder is not None:
            why = f"{_writer_text(current)} took it over after this writer's heartbeat ran out"
        else:
            why = "it was released or removed by an operator"
        super().__init__(
            f"{label}: {writer} lost its write lock ({why}) and stops writing. What it wrote so far is "
            "recorded; a retry finds those cards by key and goes on."
        )


class TemplateLock(RunLease):
    """The write lock of one ESM template, held by one step (``step``) of task ``writer``'s
    run ``run_id`` (None: a plain call outside any run). ``wait_s``: how long to wait for
    another writer (then :class:`TemplateBusyError`); ``ttl_s``: heartbeat lifetime."""

    def __init__(
        self,
        store: Any,
        esm_identity: str,
        template: str,
        *,
        writer: str,
        run_id: str | None = None,
        step: str = "load",
        wait_s: float = DEFAULT_WAIT_S,
        ttl_s: float = DEFAULT_HOLDER_TTL_S,
        poll_s: float | None = None,
        logger: logging.Logger | logging.LoggerAdapter | None = None,
    ) -> None:
        import os
        import socket
        import uuid

        run_text = f"run '{run_id}'" if run_id else "no Airflow run"
        owner = f"{writer}|{run_id or '-'}|{uuid.uuid4().hex[:12]}"[:300]
        holder = f"{step} on {socket.gethostname()} pid {os.getpid()}"
        super().__init__(
            store, template_lock_name(esm_identity, template), owner, holder,
            run_expires_at=None, first_step=True, wait_s=wait_s, ttl_s=ttl_s, poll_s=poll_s, logger=logger,
            run_name=f"task '{writer}' {run_text}"[:250],
        )
        self.template, self.esm_identity = template, esm_identity
        self.label = f"ESM template '{template}' at {esm_identity}"
        self.writer = f"Task '{writer}' ({run_text}, {step})"
        self._since = 0.0

    def _lost_error(self, current: LeaseInfo | None) -> LeaseError:
        return TemplateLockLostError(self.label, self.writer, current)

    def _try_claim(self, dead_owner: str | None) -> Any:
        # the run expiry is the first heartbeat's: only the holder heartbeat keeps it
        return self.store.try_acquire_lease(
            self.task, self.run_id, self.holder, holder_ttl_s=self.ttl_s, run_expires_at=None, first_step=True,
            run_name=self.run_name,
        )

    def _busy_error(self, current: LeaseInfo, waited: float, now: datetime | None) -> LeaseError:
        return TemplateBusyError(self.label, self.writer, current, waited)

    def _say_waiting(self, cur: LeaseInfo, waited: float) -> None:
        self.log.warning(
            "%s is being written by %s (heartbeat until %s, renewed while it works); %s waits up to "
            "%.0f s more.", self.label, _writer_text(cur) if cur else "another writer",
            _when(cur.holder_expires_at if cur else None), self.writer, self.wait_s - waited,
        )

    def acquire(self) -> LeaseInfo:
        start = time.monotonic()
        claim, _ = self._claim_waiting(start)
        self.held = True
        self._lost = None
        self._since = time.monotonic()
        old = claim.taken_over
        if old is not None and not old.released:
            self.log.warning(
                "%s: the write lock of %s was not released (its heartbeat stopped at %s: the process died "
                "or stalled); %s takes the template over.", self.label, _writer_text(old),
                _when(old.holder_expires_at), self.writer,
            )
        self.log.info("%s: write lock taken by %s after %.1f s (heartbeat every %.0f s).",
                      self.label, self.writer, self._since - start, self.ttl_s / 3)
        self._start_heartbeat()
        return claim.current

    def release(self, *, run_over: bool = True) -> None:
        """Free the template for the next writer (``run_over`` is ignored: a write lock
        never outlives its step)."""
        self._stop_heartbeat()
        if not self.held:
            return
        self.held = False
        if self._lost is not None:
            return  # not ours any more: never touch the other writer's claim
        try:
            self.store.release_lease(self.task, self.run_id, self.holder)
        except Exception as exc:  # noqa: BLE001 - the heartbeat TTL frees it anyway
            self.log.warning("%s: could not release the write lock (%s); it frees itself within %.0f s.",
                             self.label, type(exc).__name__, self.ttl_s)
            return
        self.log.info("%s: write lock released by %s after %.1f s.", self.label, self.writer,
                      time.monotonic() - self._since)


@contextmanager
def hold_template_lock(store: Any, esm_identity: str, template: str, **kwargs: Any) -> Iterator[TemplateLock]:
    """Hold the write lock of ``template`` around a block (see :class:`TemplateLock` for the
    arguments); released at the end, also on an error. Call :meth:`TemplateLock.check`
    before each write: it raises :class:`TemplateLockLostError` once the lock was lost.
    A lock lost while the block ran raises it at the end too (as :func:`hold_lease`): the
    last write may have gone out next to another writer's, so the step must not count as
    done (its run records no watermark or volume)."""
    lock = TemplateLock(store, esm_identity, template, **kwargs)
    lock.acquire()
    try:
        yield lock
        lock.check()  # still held: asks the database if the heartbeat has not renewed it lately
    finally:
        lock.release()
