"""The write lock of an ESM template, shared by the steps that write cards (load,
mark_removed): no two connector writers -- two tasks whose selections overlap, a load and
another task's removal -- write one template of one ESM at the same time. ESM's bulk PUT
has no upsert: a load looks its keys up, then creates the cards it did not find, so two
loads at once each create a card for a shared key (see :class:`..state.lease.TemplateLock`).

The lock lives in the state database (``leases`` row ``esm-template:<ESM>/<template>``),
so it holds across workers and hosts. The ESM is named by the host and path of the
client's base URL (which never carries credentials: :func:`..http.session.validate_base_url`
refuses them), so two connection ids for one ESM share the lock; a client without a base
URL is named by the task's ``esm_conn_id``.

A write the ESM client is about to send again after a retry wait (429, 503 with Retry-After:
up to ``max_retry_after`` each, minutes in all) first checks the lock, as each chunk does:
lost meanwhile, the write stops instead of going out next to the lock's new holder.

Cost: two state-database writes per step (take, release) plus a heartbeat every ttl/3 s;
no ESM request. Waiting: up to the step's deadline (task ``timeouts`` /
``JIRA_ESM_TASK_TIMEOUT_MINUTES``) less a margin for the writing itself, logged every 30 s
with the writer that holds the template.
"""
from __future__ import annotations

import logging
from contextlib import AbstractContextManager, contextmanager, nullcontext
from typing import Any, Callable, Iterator
from urllib.parse import urlsplit

from ..http import DEFAULT_PORTS
from ..state.lease import DEFAULT_HOLDER_TTL_S, TemplateLock, hold_template_lock

__all__ = ["esm_identity", "lock_wait_seconds", "writing_template", "DEFAULT_LOCK_WAIT_S"]

DEFAULT_LOCK_WAIT_S = 30 * 60.0  # when the task has no deadline to go by


def esm_identity(esm: Any, conn_id: str | None = None) -> str:
    """``host[:port]/path`` of the ESM client's base URL; else the connection id."""
    base = getattr(esm, "base_url", None)
    if isinstance(base, str) and base:
        try:
            parts = urlsplit(base)
            host = (parts.hostname or "").lower()
            default = DEFAULT_PORTS.get(parts.scheme.lower())
            port = f":{parts.port}" if parts.port and parts.port != default else ""
        except ValueError:
            host = ""
        if host:
            return f"{host}{port}{parts.path.rstrip('/')}"
    return f"conn {conn_id}" if conn_id else "esm"


def lock_wait_seconds(task: Any, settings: Any = None) -> float:
    """How long a writer waits for the template: its step deadline less a margin (a tenth,
    at most 5 min) for its own writing -- or :data:`DEFAULT_LOCK_WAIT_S`."""
    try:
        step, _run = task.deadlines(settings)
        step_s = step.total_seconds()
    except Exception:  # noqa: BLE001 - a task without deadlines (a test double)
        return DEFAULT_LOCK_WAIT_S
    return max(1.0, step_s - min(300.0, step_s / 10))


@contextmanager
def writing_template(
    task: Any,
    esm: Any,
    state: Any,
    *,
    step: str,
    run_id: str | None = None,
    settings: Any = None,
    wait_s: float | None = None,
    logger: logging.Logger | logging.LoggerAdapter | None = None,
) -> Iterator[TemplateLock]:
    """Hold the write lock of ``task.template`` on ``esm`` around a block (waiting for
    another writer as the module docs say); ``check()`` the yielded lock before each write.
    ``esm``'s writes resent after a retry wait check it too (module docs)."""
    with hold_template_lock(
        state, esm_identity(esm, getattr(task, "esm_conn_id", None)), task.template,
        writer=task.name, run_id=run_id, step=step,
        wait_s=lock_wait_seconds(task, settings) if wait_s is None else wait_s,
        ttl_s=float(getattr(settings, "lease_ttl_seconds", None) or DEFAULT_HOLDER_TTL_S),
        logger=logger,
    ) as lock, _resends_checked(esm, lock.check):
        yield lock


def _resends_checked(esm: Any, check: Callable[[], None]) -> AbstractContextManager[Any]:
    """``esm.resends_checked(check)``; a client without retries of its own (a test double)
    resends nothing."""
    install = getattr(esm, "resends_checked", None)
    return install(check) if install is not None else nullcontext()
