"""Running imports and events under faults: clients, small task definitions, the pipeline
steps with a chosen bulk chunk size, "Airflow retries" (re-runs), hooks that fire between
pages, and a TCP forwarder that can make the PostgreSQL state database vanish for a while.

Nothing here lives in the connector package: every fault is injected from the outside
(simulator knobs, wrapped client methods, killed processes, closed sockets).
"""
from __future__ import annotations

import copy
import itertools
import logging
import socket
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from types import SimpleNamespace
from typing import Any

from jira_esm_connector.config import parse_task
from jira_esm_connector.esm import EsmClient
from jira_esm_connector.http import RetryPolicy
from jira_esm_connector.jira import JiraClient
from jira_esm_connector.pipeline import run_import
from jira_esm_connector.state import StateStore

REPO_ROOT = Path(__file__).resolve().parents[2]
log = logging.getLogger("tests.faults")

# Quick retries (the suite must stay fast) but honouring Retry-After, capped at 3 s.
FAST_RETRY = RetryPolicy(
    total=6, backoff_base=0.05, backoff_cap=0.4, jitter=0.0, connect_retries=2, read_retries=2, max_retry_after=3.0
)
CHUNK = 20  # ESM bulk chunk size in the suite: several chunks per run, so faults can hit "mid-load"
PAGE = 10   # Jira page size asked by the tasks: several pages per listing
# about 50 of the simulator's seeded issues (SUP has 84): small enough for a 3-minute suite
JQL = "project = SUP AND priority in (Medium, Low)"

STATUS_MAP = {"In Progress": "02 - Solving", "Done": "05 - Solved", "Resolved": "05 - Solved", "Closed": "06 - Closed"}
ISSUE_REMOVED = ("status", "07 - Cancelled")

ISSUES_FULL: dict[str, Any] = {
    "name": "fault_issues",
    "kind": "scheduled",
    "jira_conn_id": "jira_default",
    "esm_conn_id": "esm_default",
    "schedule": None,
    "mode": "full",
    "mapping_type": "generic",
    "jql": JQL,
    "template": "incident",
    "folder": "incident_management",
    "key": {"jira": "key", "esm": "jira_key"},
    "page_size": PAGE,
    "attributes": {
        "subject": "fields.summary",
        "status": {"from": "fields.status.name", "map": STATUS_MAP, "default": "01 - New"},
        "labels": "fields.labels",
    },
    "removed": {"attribute": ISSUE_REMOVED[0], "value": ISSUE_REMOVED[1]},
}

ISSUES_INCREMENTAL: dict[str, Any] = {
    **{k: v for k, v in ISSUES_FULL.items() if k != "removed"},
    "name": "fault_issues_incr",
    "mode": "incremental",
}

USERS_FULL: dict[str, Any] = {
    "name": "fault_users",
    "kind": "scheduled",
    "jira_conn_id": "jira_default",
    "esm_conn_id": "esm_default",
    "schedule": None,
    "mode": "full",
    "mapping_type": "user",
    "template": "person",
    "folder": "persons",
    "key": {"jira": "accountId", "esm": "jira_account_id"},
    "page_size": PAGE,
    "attributes": {
        "email": "emailAddress",
        "display_name": "displayName",
        "accountStatus": {"from": "active", "map": {True: "Active", False: "Disabled"}, "default": "Active"},
    },
}

GROUPS_FULL: dict[str, Any] = {
    "name": "fault_groups",
    "kind": "scheduled",
    "jira_conn_id": "jira_default",
    "esm_conn_id": "esm_default",
    "schedule": None,
    "mode": "full",
    "mapping_type": "group",
    "template": "group",
    "folder": "groups",
    "key": {"jira": "groupId", "esm": "jira_group_id"},
    "page_size": 3,
    "attributes": {
        "name": "name",
        "status": {"value": "1 - Active"},
        "members": {"from": "members", "each": "accountId", "reference": {"template": "person", "by": "jira_account_id"}},
    },
}

COMMENTS_INCREMENTAL: dict[str, Any] = {
    "name": "fault_comments",
    "kind": "scheduled",
    "jira_conn_id": "jira_default",
    "esm_conn_id": "esm_default",
    "schedule": None,
    "mode": "incremental",
    "mapping_type": "comment",
    "jql": JQL,
    "template": "incident",
    "page_size": PAGE,
    "comments": {"card_key_attribute": "jira_key", "worklog_attribute": "worklog"},
    "attributes": {
        "value": {"from": "body", "transform": "adf_to_text"},
        "author": {"template": "Jira: {{ author.displayName }}"},
    },
}


EVENT_MAPPINGS = REPO_ROOT / "include" / "mappings"
CREATE_TASK = "event_create_issue.yaml"
COMMENT_TASK = "event_add_comment.yaml"


def event_task(file_name: str, **changes: Any):
    """(raw dict, task model) of an example event task file, without write-back to ESM and
    with a name of its own."""
    import yaml

    raw = yaml.safe_load((EVENT_MAPPINGS / file_name).read_text())
    raw.pop("write_back", None)
    raw["name"] = "fault_" + raw["name"]
    raw.update(changes)
    return raw, parse_task(raw, file_name)


def create_payload(event_id: str) -> dict[str, Any]:
    return {"event_id": event_id, "datacard_id": "4711", "subject": f"fault suite {event_id}", "priority": "2 - High"}


def make_task(base: dict[str, Any], **changes: Any):
    data = copy.deepcopy(base)
    data.update(changes)
    return parse_task(data, f"{data['name']}.yaml")


_RUN_IDS = itertools.count(1)


def new_run_id(prefix: str = "fault") -> str:
    return f"manual__{prefix}_{next(_RUN_IDS)}"


# ---- the environment of one case ---------------------------------------------------------

@dataclass
class FaultEnv:
    """Simulators (reset for the case), a fresh SQLite state file and a staging folder."""

    jira_sim: Any
    esm_sim: Any
    workdir: Path
    state_url: str = ""
    _clients: list[Any] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.state_url = self.state_url or f"sqlite:///{self.workdir / 'state.db'}"
        self.staging = self.workdir / "staging"
        self.staging.mkdir(exist_ok=True)

    def jira(self, *, timeout: Any = (5, 30), retry: RetryPolicy = FAST_RETRY) -> JiraClient:
        c = JiraClient(self.jira_sim.base_url, self.jira_sim.email, self.jira_sim.token,
                       verify=self.jira_sim.ca_pem, timeout=timeout, retry=retry)
        self._clients.append(c)
        return c

    def esm(self, *, timeout: Any = (5, 30), retry: RetryPolicy = FAST_RETRY) -> EsmClient:
        c = EsmClient(self.esm_sim.base_url, self.esm_sim.username, self.esm_sim.password,
                      verify=self.esm_sim.ca_pem, timeout=timeout, retry=retry)
        self._clients.append(c)
        return c

    def state(self, url: str | None = None, **kw: Any) -> StateStore:
        s = StateStore(url or self.state_url, **kw)
        self._clients.append(s)
        return s

    def close(self) -> None:
        for c in self._clients:
            try:
                (c.dispose if isinstance(c, StateStore) else c.close)()
            except Exception:  # noqa: BLE001 - best effort
                pass

    # knobs back to normal, data kept (what the checks read must not be faulted)
    def calm(self) -> None:
        self.jira_sim.admin("POST", "reset", json={"data": False, "stats": False})
        self.esm_sim.admin("POST", "reset", {})

    def child_spec(self) -> dict[str, Any]:
        """What a child process needs to build the same clients (tests/faults/child.py)."""
        return {
            "jira": {"base_url": self.jira_sim.base_url, "ca": self.jira_sim.ca_pem,
                     "email": self.jira_sim.email, "token": self.jira_sim.token},
            "esm": {"base_url": self.esm_sim.base_url, "ca": self.esm_sim.ca_pem,
                    "user": self.esm_sim.username, "password": self.esm_sim.password},
            "state_url": self.state_url,
            "staging": str(self.staging),
        }


# ---- running ---------------------------------------------------------------------------

# Short lease timings: a killed worker's step is free again within a second or two, as
# Airflow's retry of the same run would find it after JIRA_ESM_LEASE_TTL_SECONDS.
LEASE_SETTINGS = SimpleNamespace(lease_ttl_seconds=1.5, lease_wait_seconds=20.0, cache_clear_hours=None)


def run_steps(task: Any, jira: Any, esm: Any, state: Any, staging: Path, run_id: str, *,
              chunk_size: int = CHUNK, logger: Any = None, clear_cache: bool = False) -> dict[str, Any]:
    """The connector's ``run_import`` (its lease included), with the bulk chunk size chosen here;
    ``clear_cache``: the run parameter of that name."""
    return run_import(task, jira, esm, state, staging, run_id, settings=LEASE_SETTINGS,
                      chunk_size=chunk_size, logger=logger, clear_cache=clear_cache)


@dataclass
class Attempts:
    runs: int = 0
    errors: list[str] = field(default_factory=list)
    last: Any = None


def with_retries(fn: Callable[[], Any], *, attempts: int = 4, delay: float = 0.3,
                 before_retry: Callable[[], None] | None = None) -> Attempts:
    """Call ``fn`` until it succeeds, at most ``attempts`` times (an Airflow task with
    retries, or the next scheduled run): every failure is kept for the report."""
    out = Attempts()
    for n in range(attempts):
        out.runs += 1
        try:
            out.last = fn()
            return out
        except Exception as exc:  # noqa: BLE001 - a failed attempt is what is being tested
            out.errors.append(f"{type(exc).__name__}: {str(exc)[:300]}")
            log.info("attempt %d failed: %s", n + 1, out.errors[-1])
            if n + 1 < attempts:
                time.sleep(delay)
                if before_retry is not None:
                    before_retry()
    raise AssertionError(f"no attempt of {attempts} succeeded: {out.errors}")


def tolerant(fn: Callable[[], Attempts], attempts: int) -> Attempts:
    """Like ``fn()``, but a case that ends with every attempt failed still gets its row in
    the table (what ESM holds then is what the check reports)."""
    try:
        return fn()
    except AssertionError as exc:
        return Attempts(runs=attempts, errors=[str(exc)[:500]])


def import_until_done(env: FaultEnv, task: Any, *, attempts: int = 4, delay: float = 0.3,
                      jira: Any = None, esm: Any = None, state: Any = None,
                      before_retry: Callable[[], None] | None = None, run_id: str | None = None,
                      clear_cache: bool = False) -> Attempts:
    """Run the import until it succeeds; ``run_id`` given: every attempt is that run's retry
    (as Airflow retries a task), else each attempt is a new run; ``clear_cache`` as for
    :func:`run_steps` (an Airflow retry has the run's parameters)."""
    jira = jira or env.jira()
    esm = esm or env.esm()
    state = state or env.state()
    return with_retries(
        lambda: run_steps(task, jira, esm, state, env.staging, run_id or new_run_id(task.name), clear_cache=clear_cache),
        attempts=attempts, delay=delay, before_retry=before_retry,
    )


def touch_every_issue(env: FaultEnv, task: Any) -> None:
    """Change every issue the task selects, so that its next full run must read them all
    again (a full run carries the issues unchanged since ESM accepted them)."""
    for page in env.jira().iter_issue_ids(task.jql, with_key=True):
        for issue in page.issues:
            env.jira_sim.admin("PATCH", f"issues/{issue['key']}", json={"summary": f"Touched ({issue['key']})"})


# ---- hooks between pages / chunks (test-side wrappers, never in the connector) ------------

class Hook:
    """Wrap a generator method of one object so that ``action`` runs once, after the
    ``after``-th item was consumed (i.e. before the next page or chunk is asked for)."""

    def __init__(self, obj: Any, method: str, after: int, action: Callable[[], None]) -> None:
        self.obj, self.method, self.after, self.action = obj, method, after, action
        self.count = 0
        self.fired = False
        original = getattr(obj, method)

        def wrapped(*args: Any, **kwargs: Any):
            for item in original(*args, **kwargs):
                yield item
                self.count += 1
                if not self.fired and self.count >= self.after:
                    self.fired = True
                    self.action()

        setattr(obj, method, wrapped)

    def remove(self) -> None:
        try:
            delattr(self.obj, self.method)
        except AttributeError:
            pass


def after_pages(jira: Any, n: int, action: Callable[[], None]) -> Hook:
    """Fire after the n-th page of any Jira listing (all listings go through ``paginate``)."""
    return Hook(jira, "paginate", n, action)


def after_chunks(esm: Any, n: int, action: Callable[[], None]) -> Hook:
    """Fire after ESM answered the n-th bulk PUT chunk (and the load step recorded it)."""
    return Hook(esm, "iter_bulk_import", n, action)


class BeforeCall:
    """Wrap a plain method of one object so that ``action`` runs once, right before its
    ``nth`` call."""

    def __init__(self, obj: Any, method: str, nth: int, action: Callable[[], None]) -> None:
        self.calls = 0
        self.fired = False
        original = getattr(obj, method)

        def wrapped(*args: Any, **kwargs: Any):
            self.calls += 1
            if not self.fired and self.calls >= nth:
                self.fired = True
                action()
            return original(*args, **kwargs)

        setattr(obj, method, wrapped)


def before_put(esm: Any, nth: int, action: Callable[[], None]) -> BeforeCall:
    """Fire right before the ``nth`` bulk ``PUT /dc/{template}/data`` request."""
    return BeforeCall(esm, "_put_cards", nth, action)


def later(seconds: float, action: Callable[[], None]) -> threading.Thread:
    t = threading.Thread(target=lambda: (time.sleep(seconds), action()), daemon=True)
    t.start()
    return t


# ---- PostgreSQL behind a forwarder that can go away ---------------------------------------

class TcpForwarder:
    """127.0.0.1:<port> -> target. ``outage(seconds)`` drops every connection and refuses new
    ones for a while, then listens again on the same port: the database "goes away"."""

    def __init__(self, target: tuple[str, int]) -> None:
        self.target = target
        self._conns: list[socket.socket] = []
        self._lock = threading.Lock()
        self._listener = socket.socket()
        self._listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self._listener.bind(("127.0.0.1", 0))
        self.port = self._listener.getsockname()[1]
        self._stop = False
        self._start_listening()

    def _start_listening(self) -> None:
        if self._listener is None:
            self._listener = socket.socket()
            self._listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            self._listener.bind(("127.0.0.1", self.port))
        self._listener.listen(32)
        listener = self._listener
        threading.Thread(target=self._accept, args=(listener,), daemon=True).start()

    def _accept(self, listener: socket.socket) -> None:
        while True:
            try:
                client, _ = listener.accept()
            except OSError:
                return
            try:
                upstream = socket.create_connection(self.target, timeout=5)
                upstream.settimeout(None)
            except OSError:
                client.close()
                continue
            with self._lock:
                self._conns += [client, upstream]
            for a, b in ((client, upstream), (upstream, client)):
                threading.Thread(target=self._pipe, args=(a, b), daemon=True).start()

    @staticmethod
    def _pipe(src: socket.socket, dst: socket.socket) -> None:
        try:
            while True:
                data = src.recv(65536)
                if not data:
                    break
                dst.sendall(data)
        except OSError:
            pass
        finally:
            for s in (src, dst):
                try:
                    s.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass

    def _drop_all(self) -> None:
        with self._lock:
            conns, self._conns = self._conns, []
        for s in conns:
            # shutdown first: a plain close() from this thread would not end the recv()
            # another thread is blocked in, and the connection would live on
            for step in (lambda: s.shutdown(socket.SHUT_RDWR), s.close):
                try:
                    step()
                except OSError:
                    pass

    def down(self) -> None:
        if self._listener is not None:
            for step in (lambda: self._listener.shutdown(socket.SHUT_RDWR), self._listener.close):
                try:
                    step()
                except OSError:
                    pass
            self._listener = None
        self._drop_all()

    def up(self) -> None:
        if self._listener is None:
            self._start_listening()

    def outage(self, seconds: float) -> threading.Thread:
        self.down()
        return later(seconds, self.up)

    def close(self) -> None:
        self.down()
