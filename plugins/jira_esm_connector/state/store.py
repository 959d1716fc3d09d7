"""The connector's state store: watermarks, task cache, key map, run stats, event records,
records with pending references.

SQLAlchemy Core on SQLite (default; WAL, busy timeout, write transactions taken with
``BEGIN IMMEDIATE`` so two processes never deadlock on a lock upgrade) or PostgreSQL.
The schema is created and migrated on first use. Every method is one short transaction,
so different tasks (and processes) can use the store at the same time, and runs again on a
new connection when its connection drops (see :func:`transaction`).
"""
from __future__ import annotations

import functools
import logging
import time
import zlib
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any, Callable, Iterable, Iterator, Mapping

import sqlalchemy as sa
from sqlalchemy import event as sa_event
from sqlalchemy.engine import make_url
from sqlalchemy.pool import StaticPool

from ..http.redact import redact
from .schema import MIGRATIONS, PENDING_REASON_MAX, RECORD_KEY_MAX, SCHEMA_VERSION, Tables, UTCDateTime

__all__ = [
    "EventRecord", "LeaseClaim", "LeaseInfo", "StateStore", "StateStoreError", "connect_with_retry",
    "db_url_secrets", "safe_db_url",
]

log = logging.getLogger("jira_esm_connector.state")

_CHUNK = 500
_MAX_CONNECT_DELAY_S = 8.0
_MAX_ERROR = 2000
# event note (kept with the claim until the event is done): the ESM card the event writes its
# result back to, {"template", "attribute", "card_id"} and what finds the object it creates
# ("email", "group_name"; an issue: the event's label) -- see StateStore.event_origins
ORIGIN_NOTE = "origin"
# unfinished events older than this are not offered to imports (StateStore.event_origins)
ORIGINS_WITHIN = timedelta(days=7)
EVENT_CARDS_KEPT = timedelta(days=7)  # a noted event card, after its event is done
# the reason of a record written in full but held pending because an event's write-back landed
# on its card (StateStore._written_over_by_events): it misses no reference, the next run writes
# it again to re-key the card. Its start tells the two kinds of pending record apart (it stays
# within the stored reason, which PENDING_REASON_MAX may cut).
_REKEY_REASON = ("event {event_id} wrote the issue's old key {key} to its card {card} while this task gave the card "
                 "the key {mine}: written again to re-key the card")
# its start up to the old key, as a LIKE pattern (derived: the two cannot drift apart)
_REKEY_REASON_LIKE = _REKEY_REASON.split(" to its card")[0].format(event_id="%", key="%")


class StateStoreError(RuntimeError):
    """The state database cannot be used (wrong URL, newer schema, ...); never holds a password."""


# Query-string parameters that may carry a secret (``?password=``, libpq's ``sslpassword``,
# ``sslkey``, tokens of cloud drivers, ...): matched as parts of the parameter name.
_SECRET_PARAM_PARTS = ("pass", "pwd", "secret", "token", "key", "auth", "credential")


def _secret_param(name: str) -> bool:
    lowered = name.lower()
    return any(part in lowered for part in _SECRET_PARAM_PARTS)


def _url_secrets(url: sa.URL) -> list[str]:
    """The password and every secret-looking query value of a parsed URL."""
    found = [url.password] if url.password else []
    for name, value in url.query.items():
        if _secret_param(name):
            found += [value] if isinstance(value, str) else list(value)
    return [str(v) for v in found if v]


def _render_safe(url: sa.URL) -> str:
    query = {k: ("***" if _secret_param(k) else v) for k, v in url.query.items()}
    # the URL renderer percent-encodes the mask; show it as the password mask reads
    return url.set(query=query).render_as_string(hide_password=True).replace("%2A%2A%2A", "***")


def db_url_secrets(url: str) -> list[str]:
    """The secret values in a database URL (password, secret query values), e.g. to
    register them with a log masker."""
    try:
        return _url_secrets(make_url(url))
    except Exception:  # noqa: BLE001 - an unparseable URL is refused where it is opened
        return []


def safe_db_url(url: str) -> str:
    """A database URL fit for logs and errors: the password and secret-looking
    query-string values (``?password=``, ``sslpassword``, ``token``, ...) become ``***``."""
    try:
        return _render_safe(make_url(url))
    except Exception:  # noqa: BLE001 - never echo an unparseable URL (may hold a secret)
        return "<unparseable database URL>"


def _first_line(exc: BaseException, secrets: Iterable[str] = ()) -> str:
    """The first line of a (driver) error, with ``secrets`` scrubbed."""
    text = str(getattr(exc, "orig", None) or exc).strip()
    return redact(text.splitlines()[0] if text else "", secrets)


def connect_with_retry(
    connect: Callable[[], Any],
    *,
    retriable: tuple[type[BaseException], ...],
    retries: int,
    backoff_s: float,
    where: str,
    secrets: Iterable[str] = (),
    sleep: Callable[[float], None] = time.sleep,
) -> Any:
    """``connect()``, retried ``retries`` times on ``retriable`` errors with exponential
    backoff (``backoff_s``, doubling, at most 8 s), one log line per retry. A database that
    restarts or fails over for a few seconds must not fail a run. ``where`` is the URL with
    the password hidden; ``secrets`` (password, secret query values) are scrubbed from driver
    messages."""
    for attempt in range(retries + 1):
        try:
            return connect()
        except retriable as exc:
            if attempt >= retries:
                log.error(
                    "State database %s still unreachable after %d attempt(s); giving up.", where, attempt + 1
                )
                raise
            delay = min(backoff_s * (2 ** attempt), _MAX_CONNECT_DELAY_S)
            reason = _first_line(exc, secrets)
            log.warning(
                "State database %s unreachable (%s: %s); retry %d of %d in %.1f s.",
                where, type(exc).__name__, reason, attempt + 1, retries, delay,
            )
            sleep(delay)
    raise AssertionError("unreachable")  # pragma: no cover


# Set on the driver error when the connection dropped while COMMIT was under way: the
# transaction may or may not have been applied.
_COMMIT_IN_DOUBT = "jesm_commit_in_doubt"


def transaction(*, idempotent: bool) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """Marks a :class:`StateStore` method that is ONE transaction: when the database
    connection drops under it (a restart, a failover, a proxy closing idle connections --
    connections are only checked when taken from the pool, so one can die between the check
    and the query), the whole method runs again on a new connection, whose opening is
    retried with backoff. Re-running is safe while the transaction did not reach COMMIT: the
    database rolled it back. When the connection dropped during the COMMIT itself, whether it
    was applied is unknown, and the method runs again only if it is ``idempotent`` (running
    it twice leaves the same state and returns the same); otherwise the error is raised."""

    def decorate(method: Callable[..., Any]) -> Callable[..., Any]:
        @functools.wraps(method)
        def run(self: "StateStore", *args: Any, **kwargs: Any) -> Any:
            attempt = 0
            while True:
                try:
                    return method(self, *args, **kwargs)
                except sa.exc.DBAPIError as exc:
                    if not exc.connection_invalidated:
                        raise
                    attempt += 1
                    reason = f"{type(exc.orig or exc).__name__}: {_first_line(exc, self._secrets)}"
                    if getattr(exc, _COMMIT_IN_DOUBT, False) and not idempotent:
                        log.error(
                            "State database %s: the connection dropped while committing %s (%s); whether it "
                            "was saved is unknown, and running it twice is not safe: not run again.",
                            self._safe_url, method.__name__, reason,
                        )
                        raise
                    if attempt > self._connect_retries:
                        log.error(
                            "State database %s: the connection dropped in %s again (%s); giving up after "
                            "%d attempt(s).", self._safe_url, method.__name__, reason, attempt,
                        )
                        raise
                    log.warning(
                        "State database %s: the connection dropped in %s (%s); running it again on a new "
                        "connection (retry %d of %d).",
                        self._safe_url, method.__name__, reason, attempt, self._connect_retries,
                    )

        return run

    return decorate


def _switch_to_wal(cur: Any, wait_s: float) -> None:
    """``PRAGMA journal_mode=WAL``, waiting up to ``wait_s`` for the lock it needs: SQLite
    answers "database is locked" at once, without its busy handler, when another connection
    holds the file -- e.g. two tasks opening a new state database at the same moment."""
    deadline = time.monotonic() + wait_s
    while True:
        try:
            cur.execute("PRAGMA journal_mode=WAL")
            return
        except Exception as exc:  # noqa: BLE001 - sqlite3.OperationalError; others re-raised below
            if "locked" not in str(exc).lower() or time.monotonic() >= deadline:
                raise
            time.sleep(0.05)


def _with_origin(notes: Any, origin: Mapping[str, str] | None) -> Any:
    """An unfinished event's notes with ``origin`` (StateStore.begin_event) added."""
    if not origin:
        return notes
    return {**(notes if isinstance(notes, dict) else {}), ORIGIN_NOTE: dict(origin)}


def _utcnow() -> datetime:
    return datetime.now(timezone.utc)


def _aware(value: datetime, what: str) -> datetime:
    if not isinstance(value, datetime):
        raise TypeError(f"{what} must be a datetime, got {type(value).__name__}")
    if value.tzinfo is None:
        raise ValueError(f"{what} must be time-zone aware (naive datetimes are ambiguous)")
    return value.astimezone(timezone.utc)


def _executemany_sqlite(conn: sa.Connection, table: sa.Table, stmt: Any, rows: list[dict[str, Any]]) -> None:
    """``stmt`` for every row in one driver executemany: compiled once, each distinct value
    bound once. SQLAlchemy's per-row parameter handling cost more than SQLite's own work
    (a load writes ~400 rows per chunk, which all share one timestamp)."""
    dialect = conn.dialect
    compiled = stmt.compile(dialect=dialect, column_keys=list(rows[0]))
    names = list(compiled.positiontup or ())
    if not names or set(names) != set(rows[0]):  # a value SQLAlchemy fills in itself (a column default)
        conn.execute(stmt, rows)
        return
    processors = [(i, process) for i, process in
                  ((i, table.c[name].type.dialect_impl(dialect).bind_processor(dialect)) for i, name in enumerate(names))
                  if process is not None]
    bound: dict[tuple[int, Any], Any] = {}
    params: list[tuple[Any, ...]] = []
    for row in rows:
        values = [row[name] for name in names]
        for i, process in processors:
            raw = values[i]
            if raw is None:
                continue
            try:
                values[i] = bound[(i, raw)]
            except KeyError:
                values[i] = bound[(i, raw)] = process(raw)
            except TypeError:  # an unhashable value (JSON): bound on its own
                values[i] = process(raw)
        params.append(tuple(values))
    conn.exec_driver_sql(compiled.string, params)


def _chunks(items: list[Any], size: int = _CHUNK) -> Iterator[list[Any]]:
    for i in range(0, len(items), size):
        yield items[i:i + size]


@dataclass(frozen=True)
class EventRecord:
    """Outcome of :meth:`StateStore.begin_event` / :meth:`StateStore.get_event`.

    ``claimed``: this caller now owns the event and must act (then ``complete_event`` or
    ``fail_event``). ``resumed``: an earlier attempt started and did not finish — it may
    have acted already, so check Jira before acting again. When ``status == "done"``,
    ``result`` is the earlier result: return it, do nothing. Until then the same column
    holds the attempts' :attr:`notes` (see :meth:`StateStore.note_event`).
    """

    task: str
    event_id: str
    status: str  # running | done | failed
    attempts: int
    result: Any
    error: str | None
    owner: str | None
    claimed: bool
    resumed: bool
    created_at: datetime
    claimed_at: datetime
    finished_at: datetime | None
    payload_digest: str | None = None  # of the payload the last try acted on (None: not recorded)
    # a resumed claim: the digest of the payload the unfinished try before it acted on
    earlier_payload_digest: str | None = None

    @property
    def done(self) -> bool:
        return self.status == "done"

    @property
    def notes(self) -> dict[str, Any]:
        """What earlier attempts of an unfinished event wrote down (e.g. when a create whose
        outcome is unknown was sent); empty once the event is done."""
        if self.done or not isinstance(self.result, dict):
            return {}
        return dict(self.result)


@dataclass(frozen=True)
class LeaseInfo:
    """A task's lease row: the run that owns it and the attempt (holder) working now."""

    task: str
    owner_run: str
    run_expires_at: datetime
    holder: str | None
    holder_expires_at: datetime | None
    acquired_at: datetime
    run_name: str = ""
    updated_at: datetime | None = None

    @property
    def released(self) -> bool:
        """The run said it was over (:meth:`StateStore.release_lease` without ``keep_run``):
        the lease did not run out under a run that may still come back. A release sets the
        run expiry to the moment of the update itself, which no other write does (an
        acquire or a heartbeat leaves the run expiry in the future of its update)."""
        return self.holder is None and self.updated_at is not None and self.run_expires_at == self.updated_at

    def holder_live(self, now: datetime) -> bool:
        return self.holder is not None and self.holder_expires_at is not None and self.holder_expires_at > now

    def free(self, now: datetime) -> bool:
        """Nobody can still be working under it: run lease and holder heartbeat both ran out."""
        return self.run_expires_at <= now and not self.holder_live(now)


@dataclass(frozen=True)
class LeaseClaim:
    """Outcome of :meth:`StateStore.try_acquire_lease`.

    ``outcome``: ``acquired``; ``busy`` (another run, or another live attempt of this run,
    holds it: wait or give up); ``lost`` (a later step whose run no longer owns the lease:
    the run was superseded and must stop). ``current`` is the row as found (``None``: no
    row); after ``acquired`` it is the new row and ``taken_over`` the expired lease of
    another run that was replaced, if any. ``now``: the time the lease was judged by (the
    database's clock on PostgreSQL): judge ``current`` with it, never with a local clock.
    """

    outcome: str
    current: LeaseInfo | None
    taken_over: LeaseInfo | None = None
    now: datetime | None = None

    @property
    def acquired(self) -> bool:
        return self.outcome == "acquired"


class StateStore:
    """``StateStore(url)``; ``url`` is any SQLAlchemy URL (``sqlite:///path.db``,
    ``postgresql+psycopg2://user@host/db``). ``table_prefix`` / ``schema`` place the tables
    (tests use them to isolate runs)."""

    def __init__(
        self,
        url: str,
        *,
        table_prefix: str = "",
        schema: str | None = None,
        busy_timeout_s: float = 30.0,
        engine: sa.Engine | None = None,
        connect_retries: int = 4,
        connect_backoff_s: float = 0.5,
    ) -> None:
        try:
            parsed = make_url(url)
        except Exception:  # noqa: BLE001 - the URL may hold a password: never echo it
            raise StateStoreError("the state database URL cannot be parsed (check JIRA_ESM_STATE_DB_URL)") from None
        self._safe_url = _render_safe(parsed)
        secrets = self._secrets = _url_secrets(parsed)
        self.dialect = parsed.get_backend_name()
        self.tables = Tables(table_prefix, schema)
        # statements built once (an event push runs a few per transaction: building them cost
        # more than SQLite's work); SQLAlchemy caches their compiled form
        self._statements: dict[tuple[Any, ...], Any] = {}
        self._schema = schema
        self._lock_key = zlib.crc32(f"jira_esm_state:{schema}:{table_prefix}".encode()) & 0x7FFFFFFF
        self._connect_retries = max(0, int(connect_retries))
        self._connect_backoff_s = max(0.0, float(connect_backoff_s))
        self.engine = engine or self._make_engine(parsed, busy_timeout_s)
        try:
            self._migrate()
        except sa.exc.OperationalError as exc:
            self.engine.dispose()
            # the driver's message may echo connection parameters: scrub the URL's secrets
            detail = _first_line(exc, secrets)
            raise StateStoreError(
                f"cannot open the state database {self._safe_url}: {type(exc.orig).__name__}: {detail}"
            ) from None

    def __repr__(self) -> str:
        return f"StateStore({self._safe_url!r})"

    # ---- engine and schema ---------------------------------------------------------
    def _make_engine(self, url: sa.URL, busy_timeout_s: float) -> sa.Engine:
        if self.dialect != "sqlite":
            engine = sa.create_engine(url, pool_pre_ping=True, future=True)
            self._retry_connects(engine, _url_secrets(url))
            return engine
        database = url.database or ""
        memory = database in ("", ":memory:") or database.startswith("file::memory:")
        kwargs: dict[str, Any] = {"connect_args": {"timeout": busy_timeout_s, "check_same_thread": False}}
        if memory:
            kwargs["poolclass"] = StaticPool
        else:
            Path(database).expanduser().parent.mkdir(parents=True, exist_ok=True)
        engine = sa.create_engine(url, **kwargs)
        busy_ms = int(busy_timeout_s * 1000)

        @sa_event.listens_for(engine, "connect")
        def _on_connect(dbapi_conn: Any, _record: Any) -> None:
            # Let SQLAlchemy (not pysqlite) decide when transactions begin.
            dbapi_conn.isolation_level = None
            cur = dbapi_conn.cursor()
            cur.execute(f"PRAGMA busy_timeout={busy_ms}")
            if not memory:
                _switch_to_wal(cur, busy_timeout_s)
            cur.execute("PRAGMA synchronous=NORMAL")
            cur.close()

        @sa_event.listens_for(engine, "begin")
        def _on_begin(conn: sa.Connection) -> None:
            # Writers take the write lock up front (no read->write upgrade deadlocks between
            # processes); readers use a deferred transaction and never block writers (WAL).
            if conn.get_execution_options().get("jesm_write"):
                conn.exec_driver_sql("BEGIN IMMEDIATE")
            else:
                conn.exec_driver_sql("BEGIN")

        return engine

    def _retry_connects(self, engine: sa.Engine, secrets: list[str]) -> None:
        """Every new DB connection (first use, pool refill, pre-ping reconnect) is retried on
        the driver's OperationalError (refused, reset, server starting up). Not for SQLite:
        a local file that cannot be opened does not come back by waiting."""
        retries, backoff, where = self._connect_retries, self._connect_backoff_s, self._safe_url

        @sa_event.listens_for(engine, "do_connect")
        def _connect(dialect: Any, _conn_rec: Any, cargs: Any, cparams: Any) -> Any:
            return connect_with_retry(
                lambda: dialect.connect(*cargs, **cparams),
                retriable=(dialect.loaded_dbapi.OperationalError,),
                retries=retries, backoff_s=backoff, where=where,
                secrets=secrets,
            )

    def _migrate(self) -> None:
        t = self.tables
        with self._write() as conn:
            if self.dialect == "postgresql":
                conn.execute(sa.text("SELECT pg_advisory_xact_lock(:k)"), {"k": self._lock_key})
                if self._schema:
                    conn.execute(sa.text(f'CREATE SCHEMA IF NOT EXISTS "{self._schema}"'))
            t.schema_version.create(conn, checkfirst=True)
            t.schema_migrations.create(conn, checkfirst=True)
            current = conn.execute(sa.select(t.schema_version.c.version).where(t.schema_version.c.id == 1)).scalar()
            current = current or 0
            if current > SCHEMA_VERSION:
                raise StateStoreError(
                    f"the state database has schema version {current}, newer than this connector "
                    f"understands ({SCHEMA_VERSION}); upgrade the connector"
                )
            recorded = set(conn.execute(sa.select(t.schema_migrations.c.version)).scalars())
            # none recorded: a database from before the record, holding every version up to its own
            applied = recorded or {v for v in MIGRATIONS if v <= current}
            for version in sorted(v for v in MIGRATIONS if v > current or v not in applied):
                MIGRATIONS[version](conn, t)
            if set(MIGRATIONS) - recorded:
                conn.execute(sa.insert(t.schema_migrations),
                             [{"version": v, "applied_at": _utcnow()} for v in sorted(set(MIGRATIONS) - recorded)])
            if current < SCHEMA_VERSION:
                now = _utcnow()
                if current == 0:
                    conn.execute(sa.insert(t.schema_version).values(id=1, version=SCHEMA_VERSION, updated_at=now))
                else:
                    conn.execute(
                        sa.update(t.schema_version).where(t.schema_version.c.id == 1)
                        .values(version=SCHEMA_VERSION, updated_at=now)
                    )

    @contextmanager
    def _write(self) -> Iterator[sa.Connection]:
        """One write transaction (committed on success, rolled back on error). A connection
        lost during the commit is marked on the error (see :func:`transaction`)."""
        with self.engine.connect().execution_options(jesm_write=True) as conn:
            tx = conn.begin()
            try:
                yield conn
            except BaseException:
                tx.rollback()
                raise
            try:
                tx.commit()
            except sa.exc.DBAPIError as exc:
                setattr(exc, _COMMIT_IN_DOUBT, True)
                raise

    @transaction(idempotent=True)
    def schema_version(self) -> int:
        with self.engine.connect() as conn:
            return int(conn.execute(sa.select(self.tables.schema_version.c.version)).scalar() or 0)

    def dispose(self) -> None:
        self.engine.dispose()

    def drop_all(self) -> None:
        """Drop every table of this store (tests, or an operator resetting everything)."""
        with self._write() as conn:
            self.tables.metadata.drop_all(conn)

    def _upsert(
        self, conn: sa.Connection, table: sa.Table, rows: list[dict[str, Any]], keys: list[str],
        keep: tuple[str, ...] = (),
    ) -> None:
        """Insert or update ``rows``; columns in ``keep`` are only written on insert."""
        if not rows:
            return
        update_cols = [c for c in rows[0] if c not in keys and c not in keep]
        if self.dialect in ("postgresql", "sqlite"):
            stmt = self._statement(("upsert", table.name, tuple(keys), tuple(update_cols)),
                                   lambda: self._upsert_statement(table, keys, update_cols))
            if self.dialect == "sqlite" and len(rows) > 1:
                _executemany_sqlite(conn, table, stmt, rows)
                return
            for chunk in _chunks(rows):
                conn.execute(stmt, chunk)
            return
        for row in rows:  # other dialects: portable update-then-insert
            cond = sa.and_(*(table.c[k] == row[k] for k in keys))
            res = conn.execute(sa.update(table).where(cond).values({c: row[c] for c in update_cols}))
            if res.rowcount == 0:
                conn.execute(sa.insert(table).values(row))

    def _statement(self, key: tuple[Any, ...], build: Callable[[], Any]) -> Any:
        """The statement ``build`` makes, built once per store and ``key``."""
        stmt = self._statements.get(key)
        if stmt is None:
            stmt = self._statements[key] = build()
        return stmt

    def _upsert_statement(self, table: sa.Table, keys: list[str], update_cols: list[str]) -> Any:
        if self.dialect == "postgresql":
            from sqlalchemy.dialects.postgresql import insert
        else:
            from sqlalchemy.dialects.sqlite import insert
        stmt = insert(table)
        return stmt.on_conflict_do_update(index_elements=keys, set_={c: stmt.excluded[c] for c in update_cols})

    # ---- watermarks -----------------------------------------------------------------
    @transaction(idempotent=True)
    def get_watermark(self, task: str) -> datetime | None:
        t = self.tables.watermarks
        with self.engine.connect() as conn:
            return conn.execute(sa.select(t.c.value).where(t.c.task == task)).scalar()

    @transaction(idempotent=True)
    def get_watermark_digest(self, task: str) -> str | None:
        """The digest of the task its watermark was reached under (``None``: not recorded)."""
        t = self.tables.watermark_digests
        with self.engine.connect() as conn:
            return conn.execute(sa.select(t.c.digest).where(t.c.task == task)).scalar()

    @transaction(idempotent=True)
    def set_watermark(self, task: str, value: datetime | None, digest: str | None = None) -> None:
        """Call only after a successful run. Cache clears never touch watermarks. ``digest``:
        the task's digest the run fetched under (:func:`..pipeline.carry.task_digest`); with
        ``value`` ``None`` only the digest is recorded, for a watermark the task already has."""
        now = _utcnow()
        with self._write() as conn:
            if value is not None:
                row = {"task": task, "value": _aware(value, "watermark"), "updated_at": now}
                self._upsert(conn, self.tables.watermarks, [row], ["task"])
            if digest is not None:
                self._upsert(conn, self.tables.watermark_digests,
                             [{"task": task, "digest": str(digest)[:64], "updated_at": now}], ["task"])

    @transaction(idempotent=False)
    def reset_watermark(self, task: str) -> bool:
        """Operator action: the next incremental run fetches everything again."""
        with self._write() as conn:
            conn.execute(sa.delete(self.tables.watermark_digests).where(self.tables.watermark_digests.c.task == task))
            t = self.tables.watermarks
            return conn.execute(sa.delete(t).where(t.c.task == task)).rowcount > 0

    # ---- full imports: what the last successful run saw --------------------------------
    @transaction(idempotent=True)
    def get_full_sync(self, task: str) -> tuple[datetime, str] | None:
        """``(since, digest)`` of the task's last successful full run, or ``None``."""
        t = self.tables.full_syncs
        with self.engine.connect() as conn:
            row = conn.execute(sa.select(t.c.since, t.c.digest).where(t.c.task == task)).first()
        return (row[0], row[1]) if row else None

    @transaction(idempotent=True)
    def set_full_sync(self, task: str, since: datetime, digest: str) -> None:
        """Call only after a successful full run (``since``: Jira's time when its listing began)."""
        since = _aware(since, "since")
        with self._write() as conn:
            self._upsert(
                conn, self.tables.full_syncs,
                [{"task": task, "since": since, "digest": str(digest)[:64], "updated_at": _utcnow()}], ["task"],
            )

    # ---- task cache -----------------------------------------------------------------
    @transaction(idempotent=True)
    def get_fingerprints(self, task: str, keys: Iterable[Any]) -> dict[str, str]:
        """``{key: fingerprint}`` for the keys that are cached (missing keys are absent)."""
        t = self.tables.task_cache
        wanted = list(dict.fromkeys(str(k) for k in keys))
        out: dict[str, str] = {}
        with self.engine.connect() as conn:
            for chunk in _chunks(wanted):
                rows = conn.execute(
                    sa.select(t.c.record_key, t.c.fingerprint).where(t.c.task == task, t.c.record_key.in_(chunk))
                )
                out.update({k: fp for k, fp in rows})
        return out

    def iter_fingerprints(self, task: str, page_size: int = 5000) -> Iterator[tuple[str, str]]:
        """Every cached (key, fingerprint) of the task in key order, read page by page
        (no connection is held while the caller works between pages)."""
        t = self.tables.task_cache
        yield from self._iter_by_key(t, t.c.fingerprint, t.c.task == task, page_size)

    def _iter_by_key(self, t: sa.Table, value: sa.Column, where: Any, page_size: int) -> Iterator[tuple[str, str]]:
        """(record_key, value) rows of ``t`` matching ``where``, in key order, a page per query."""
        after: str | None = None
        while True:
            query = sa.select(t.c.record_key, value).where(where)
            if after is not None:
                query = query.where(t.c.record_key > after)
            rows = self._read_all(query.order_by(t.c.record_key).limit(page_size))
            yield from ((k, v) for k, v in rows)
            if len(rows) < page_size:
                return
            after = rows[-1][0]

    @transaction(idempotent=True)
    def _read_all(self, query: Any) -> list[Any]:
        with self.engine.connect() as conn:
            return conn.execute(query).all()

    @transaction(idempotent=True)
    def count_fingerprints(self, task: str, starting: str | None = None) -> int:
        """How many fingerprints the task cache keeps for ``task`` (``starting``: only those that
        begin with it, e.g. the membership limit's held-back prints)."""
        t = self.tables.task_cache
        where = [t.c.task == task]
        if starting:
            where.append(t.c.fingerprint.startswith(starting, autoescape=True))
        with self.engine.connect() as conn:
            return int(conn.execute(sa.select(sa.func.count()).select_from(t).where(*where)).scalar() or 0)

    @transaction(idempotent=True)
    def put_fingerprints(self, task: str, fingerprints: Mapping[Any, str]) -> None:
        with self._write() as conn:
            self._put_fingerprints(conn, task, fingerprints, _utcnow())

    def _put_fingerprints(self, conn: sa.Connection, task: str, fingerprints: Mapping[Any, str], now: datetime) -> None:
        rows = [{"task": task, "record_key": str(k), "fingerprint": fp, "updated_at": now} for k, fp in fingerprints.items()]
        self._upsert(conn, self.tables.task_cache, rows, ["task", "record_key"])

    @transaction(idempotent=False)
    def delete_fingerprints(self, task: str, keys: Iterable[Any], *, marking_removed: bool = False) -> int:
        """Forget the fingerprints of ``keys``. ``marking_removed``: their cards are about to be
        marked removed, so they are no longer cards their own record disabled
        (:meth:`disabled_by_record`): a record that comes back does not re-enable them."""
        keys = list(keys)
        t = self.tables.task_cache
        with self._write() as conn:
            if marking_removed:
                own = self.tables.disabled_by_record
                self._delete_keys(conn, own, own.c.task == task, keys)
            return self._delete_keys(conn, t, t.c.task == task, keys)

    @transaction(idempotent=True)
    def disabled_by_record(self, task: str) -> set[str]:
        """The keys whose cards the task last wrote with the removal value its own mapping gave
        (see :meth:`record_loaded`'s ``disabled``; a load reads them once)."""
        t = self.tables.disabled_by_record
        with self.engine.connect() as conn:
            return set(conn.execute(sa.select(t.c.record_key).where(t.c.task == task)).scalars())

    @transaction(idempotent=True)
    def record_loaded(
        self, task: str, *, card_ids: Mapping[Any, Any], fingerprints: Mapping[Any, str],
        pending: Mapping[Any, str], resolved: Iterable[Any] = (), forgotten: Iterable[Any] = (),
        object_ids: Mapping[Any, Any] | None = None, rekeyed: Iterable[Any] = (),
        written_since: datetime | None = None, held_before: Mapping[str, str] | None = None,
        disabled: Iterable[Any] = (), enabled: Iterable[Any] = (),
    ) -> list[str]:
        """What ESM's answer to one load chunk teaches, in ONE transaction (a crash keeps all of
        it or none; and one commit instead of up to five, which load pays per chunk): the
        mapped card ids ESM no longer has (``forgotten``), the card ids of the cards it saved,
        the fingerprints of records saved fully, the records saved without some references
        (``pending``: key -> what is missing) and the pending ones now complete (``resolved``).
        ``object_ids`` (key -> Jira issue id) of the saved cards go to the object map (the
        card id from ``card_ids``); ``rekeyed``: the old keys of records whose card now holds
        a new key (a moved issue) -- their fingerprints, pending entries and key map rows go,
        the new key has its own. The key map's scope is the task. ``written_since``: when the
        chunk's cards were looked up, ``held_before``: key -> the key its card held then -- a
        saved issue whose card an event push wrote another key of the issue to since then is
        fetched again (:meth:`_written_over_by_events`). ``disabled``: keys saved with the
        removal value their own mapping gave; ``enabled``: keys among those saved with another
        value again (:meth:`disabled_by_record`). Returns the keys held pending so, in order
        (none of them is resolved, whatever the caller asked)."""
        forgotten, resolved, rekeyed = list(forgotten), list(resolved), list(rekeyed)
        disabled, enabled = list(disabled), list(enabled)
        object_ids = object_ids or {}
        if not (card_ids or fingerprints or pending or resolved or forgotten or rekeyed or disabled or enabled):
            return []
        now = _utcnow()
        with self._write() as conn:
            own = self.tables.disabled_by_record
            if enabled:
                self._delete_keys(conn, own, own.c.task == task, enabled)
            self._upsert(conn, own, [{"task": task, "record_key": str(k), "updated_at": now} for k in disabled],
                         ["task", "record_key"])
            if rekeyed:
                for table in (self.tables.task_cache, self.tables.pending_records, self.tables.disabled_by_record):
                    self._delete_keys(conn, table, table.c.task == task, rekeyed)
                forgotten += rekeyed
            if forgotten:
                self._delete_keys(conn, self.tables.key_map, self.tables.key_map.c.scope == task, forgotten)
            rows = [{"task": task, "object_id": str(ident), "record_key": str(key), "card_id": str(card_ids[key]),
                     "updated_at": now} for key, ident in object_ids.items() if key in card_ids and ident]
            self._upsert(conn, self.tables.object_keys, rows, ["task", "object_id"])
            late = self._written_over_by_events(conn, rows, written_since, held_before or {}) \
                if written_since and rows else {}
            if late:
                fingerprints = {k: v for k, v in fingerprints.items() if str(k) not in late}
                pending = {**pending, **late}
                # a record pending before and written in full now stays pending all the same
                resolved = [k for k in resolved if str(k) not in late]
            if card_ids:
                self._put_card_ids(conn, task, card_ids, now)
            if fingerprints:
                self._put_fingerprints(conn, task, fingerprints, now)
            if pending:
                # saved without some references: what the cache held (an earlier, complete
                # version) no longer describes the card, so diff must not call it unchanged
                self._delete_keys(conn, self.tables.task_cache, self.tables.task_cache.c.task == task, pending)
                self._put_pending(conn, task, pending, now)
            if resolved:
                self._delete_keys(conn, self.tables.pending_records, self.tables.pending_records.c.task == task, resolved)
        return sorted(late)

    def _written_over_by_events(
        self, conn: sa.Connection, rows: list[dict[str, Any]], since: datetime, held_before: Mapping[str, str],
    ) -> dict[str, str]:
        """``{record key: why}`` of the written ``rows`` (object map rows) whose card a successful
        event push noted at or after ``since`` under another key of the same issue -- one the
        card did not hold when looked up (``held_before``): that write-back of the issue's key
        from before a move may have landed after this write, and the event's success came before
        this record, so it found nothing to write again (:meth:`_write_again_after_late_write_back`).
        Fetched and written again next run, which re-keys the card while the note lasts (a spare
        write when the write-back landed between the look-up and this write)."""
        t, events = self.tables.event_cards, self.tables.events
        written = {(row["object_id"], row["card_id"]): row["record_key"] for row in rows}
        query = self._statement(("event cards noted since",), lambda: sa.select(
            t.c.record_key, t.c.card_id, t.c.object_id, t.c.event_id).where(
            t.c.object_id.in_(sa.bindparam("idents", expanding=True)),
            t.c.created_at >= sa.bindparam("since", type_=UTCDateTime),
            # a write-back that failed put no key on the card (its retry writes the issue's key now)
            sa.exists().where(events.c.task == t.c.task, events.c.event_id == t.c.event_id,
                              events.c.status == "done")))
        late: dict[str, str] = {}
        for chunk in _chunks(sorted({row["object_id"] for row in rows})):
            for key, card, ident, event_id in conn.execute(query, {"idents": chunk, "since": _aware(since, "since")}):
                mine = written.get((ident, card))
                if mine is not None and mine != key and held_before.get(mine) != key:
                    late[mine] = _REKEY_REASON.format(event_id=event_id, key=key, card=card, mine=mine)
        if late:
            log.warning("%d card(s) written just now may hold their issue's old key again (an event push wrote it "
                        "back after the issue moved): the next run writes them again and re-keys them: %s",
                        len(late), "; ".join(f"{k}: {why}" for k, why in sorted(late.items()))[:1500])
        return late

    @transaction(idempotent=True)
    def key_prefixes(self, scope: str) -> list[str]:
        """The distinct parts before the first "-" of the record keys ``scope`` holds cards for
        (an issue import's project keys), in order; keys without "-" are left out. One query."""
        t = self.tables.key_map
        key = t.c.record_key
        if self.dialect == "postgresql":
            prefix = sa.func.split_part(key, "-", 1)
        else:
            prefix = sa.func.substr(key, 1, sa.func.instr(key, "-") - 1)
        query = sa.select(prefix).where(t.c.scope == scope, key.like("%-%")).group_by(prefix).order_by(prefix)
        with self.engine.connect() as conn:
            return [str(p) for p in conn.execute(query).scalars() if p]

    @transaction(idempotent=True)
    def renamed_projects_listed(self, task: str) -> set[tuple[str, str]]:
        """The (old key, new key) project key changes the task listed the project in full for."""
        t = self.tables.renamed_projects
        with self.engine.connect() as conn:
            return {(o, n) for o, n in conn.execute(sa.select(t.c.old_key, t.c.new_key).where(t.c.task == task))}

    @transaction(idempotent=True)
    def note_renamed_projects_listed(self, task: str, renamed: Mapping[str, str]) -> None:
        """A run of ``task`` that listed these projects (old key -> new key) in full succeeded.
        A change away from a key a project has again now (renamed back) is forgotten: should
        the project leave that key once more, that change is listed again."""
        now = _utcnow()
        rows = [{"task": task, "old_key": str(o)[:100], "new_key": str(n)[:100], "listed_at": now}
                for o, n in renamed.items()]
        t = self.tables.renamed_projects
        with self._write() as conn:
            back = [str(n)[:100] for n in renamed.values()]
            if back:
                conn.execute(sa.delete(t).where(t.c.task == task, t.c.old_key.in_(back)))
            self._upsert(conn, self.tables.renamed_projects, rows, ["task", "old_key", "new_key"])

    @transaction(idempotent=True)
    def object_keys(self, task: str, object_ids: Iterable[Any]) -> dict[str, tuple[str, str]]:
        """``{Jira object id: (record key, card id)}`` the task last wrote those objects under
        (ids never written are absent); see :meth:`record_loaded`. A cache clear keeps them."""
        t = self.tables.object_keys
        wanted = list(dict.fromkeys(str(i) for i in object_ids if i not in (None, "")))
        out: dict[str, tuple[str, str]] = {}
        with self.engine.connect() as conn:
            for chunk in _chunks(wanted):
                rows = conn.execute(sa.select(t.c.object_id, t.c.record_key, t.c.card_id)
                                    .where(t.c.task == task, t.c.object_id.in_(chunk)))
                out.update({ident: (key, card) for ident, key, card in rows})
        return out

    @transaction(idempotent=True)
    def object_ids_of(self, task: str, keys: Iterable[Any]) -> dict[str, list[str]]:
        """``{record key: [Jira object ids]}`` of the records the task last wrote under those keys
        (keys never written with an id are absent; a key several issues shared -- a custom
        field -- has several): :meth:`object_keys` the other way round."""
        t = self.tables.object_keys
        wanted = list(dict.fromkeys(str(k) for k in keys if k not in (None, "")))
        out: dict[str, list[str]] = {}
        with self.engine.connect() as conn:
            for chunk in _chunks(wanted):
                rows = conn.execute(sa.select(t.c.record_key, t.c.object_id)
                                    .where(t.c.task == task, t.c.record_key.in_(chunk)))
                for key, ident in rows:
                    out.setdefault(key, []).append(ident)
        return out

    @staticmethod
    def _delete_keys(conn: sa.Connection, table: sa.Table, scope: sa.ColumnElement[bool], keys: Iterable[Any]) -> int:
        """Delete the rows of ``keys`` (``record_key``) within ``scope``; how many there were."""
        n = 0
        for chunk in _chunks(list(dict.fromkeys(str(k) for k in keys))):
            n += conn.execute(sa.delete(table).where(scope, table.c.record_key.in_(chunk))).rowcount
        return n

    @transaction(idempotent=False)
    def clear_cache(self, task: str, reason: str, *, now: datetime | None = None) -> int:
        """Forget every fingerprint of ``task`` (the next run pushes everything) and record
        when and why. Watermarks are not touched. Returns how many were forgotten."""
        now = _aware(now, "now") if now is not None else _utcnow()
        t = self.tables.task_cache
        with self._write() as conn:
            deleted = conn.execute(sa.delete(t).where(t.c.task == task)).rowcount
            self._upsert(
                conn, self.tables.cache_clears,
                [{"task": task, "cleared_at": now, "reason": str(reason)[:400]}], ["task"],
            )
        return deleted

    @transaction(idempotent=True)
    def last_cache_clear(self, task: str) -> tuple[datetime, str] | None:
        t = self.tables.cache_clears
        with self.engine.connect() as conn:
            row = conn.execute(sa.select(t.c.cleared_at, t.c.reason).where(t.c.task == task)).first()
        return (row[0], row[1]) if row else None

    def cache_due_for_clear(self, task: str, now: datetime, clear_hours: Iterable[int]) -> bool:
        """True when a configured UTC clear hour (``HH:00``) lies after the last clear and at
        or before ``now`` — or the cache was never cleared. No hours: never due."""
        hours = sorted({int(h) for h in clear_hours})
        if not hours:
            return False
        now = _aware(now, "now")
        last = self.last_cache_clear(task)
        if last is None:
            return True
        return hour_boundary_crossed(last[0], now, hours)

    # ---- key -> data card id map ----------------------------------------------------------
    # A hint for load (ESM is asked for the truth; ids ESM no longer has are forgotten) and,
    # while key_map_coverage says it is complete, mark_removed's list of the task's cards.
    @transaction(idempotent=True)
    def get_card_ids(self, scope: str, keys: Iterable[Any]) -> dict[str, str]:
        """``scope`` is a task name or an ESM template (a key map shared by tasks)."""
        with self.engine.connect() as conn:
            return self._key_map_rows(conn, scope, self.tables.key_map.c.record_key, keys)

    @transaction(idempotent=True)
    def keys_of_cards(self, scope: str, card_ids: Iterable[Any]) -> dict[str, str]:
        """``{key: card id}`` of the keys ``scope`` maps to one of ``card_ids`` (the map read
        backwards: which records were written to these cards)."""
        with self.engine.connect() as conn:
            return self._key_map_rows(conn, scope, self.tables.key_map.c.card_id, card_ids)

    def _key_map_rows(self, conn: sa.Connection, scope: str, column: Any, values: Iterable[Any]) -> dict[str, str]:
        """``{key: card id}`` of ``scope``'s key map rows whose ``column`` is one of ``values``."""
        t = self.tables.key_map
        out: dict[str, str] = {}
        for chunk in _chunks(list(dict.fromkeys(str(v) for v in values))):
            rows = conn.execute(sa.select(t.c.record_key, t.c.card_id).where(t.c.scope == scope, column.in_(chunk)))
            out.update({k: c for k, c in rows})
        return out

    @transaction(idempotent=True)
    def all_card_ids(self, scope: str) -> dict[str, str]:
        t = self.tables.key_map
        with self.engine.connect() as conn:
            return {k: c for k, c in conn.execute(sa.select(t.c.record_key, t.c.card_id).where(t.c.scope == scope))}

    def iter_card_ids(self, scope: str, page_size: int = 5000) -> Iterator[tuple[str, str]]:
        """Every (key, card id) of ``scope`` in key order, read page by page (no connection
        is held while the caller works between pages)."""
        t = self.tables.key_map
        yield from self._iter_by_key(t, t.c.card_id, t.c.scope == scope, page_size)

    @transaction(idempotent=True)
    def put_card_ids(self, scope: str, card_ids: Mapping[Any, Any]) -> None:
        with self._write() as conn:
            self._put_card_ids(conn, scope, card_ids, _utcnow())

    def _put_card_ids(self, conn: sa.Connection, scope: str, card_ids: Mapping[Any, Any], now: datetime) -> None:
        rows = [{"scope": scope, "record_key": str(k), "card_id": str(v), "updated_at": now} for k, v in card_ids.items()]
        self._upsert(conn, self.tables.key_map, rows, ["scope", "record_key"])

    @transaction(idempotent=False)
    def forget_card_ids(self, scope: str, keys: Iterable[Any]) -> int:
        t = self.tables.key_map
        with self._write() as conn:
            return self._delete_keys(conn, t, t.c.scope == scope, keys)

    @transaction(idempotent=True)
    def key_map_complete(self, scope: str, template: str, key_attribute: str) -> bool:
        """True when the key map of ``scope`` is known to hold every card that carries its
        task id in ``template`` (keyed by ``key_attribute``); see :meth:`set_key_map_complete`."""
        t = self.tables.key_map_coverage
        with self.engine.connect() as conn:
            row = conn.execute(sa.select(t.c.template, t.c.key_attribute).where(t.c.scope == scope)).first()
        return row is not None and (row[0], row[1]) == (template, key_attribute)

    @transaction(idempotent=True)
    def set_key_map_complete(self, scope: str, template: str, key_attribute: str, complete: bool = True) -> None:
        """Record that the key map of ``scope`` holds (or, ``complete=False``, may no longer
        hold) every card carrying its task id in ``template``. Cleared before any write that
        could stamp a card the map might then miss; set only by a step that knows."""
        t = self.tables.key_map_coverage
        with self._write() as conn:
            if complete:
                row = {"scope": scope, "template": template, "key_attribute": key_attribute, "updated_at": _utcnow()}
                self._upsert(conn, t, [row], ["scope"])
            else:
                conn.execute(sa.delete(t).where(t.c.scope == scope))

    # ---- records with pending references --------------------------------------------------
    @transaction(idempotent=True)
    def put_pending(self, task: str, reasons: Mapping[Any, str]) -> None:
        """Remember records saved without some references (``{key: why}``); ``first_seen``
        stays what it was when a record is already pending."""
        with self._write() as conn:
            self._put_pending(conn, task, reasons, _utcnow())

    def _put_pending(self, conn: sa.Connection, task: str, reasons: Mapping[Any, str], now: datetime) -> None:
        rows = [
            {"task": task, "record_key": str(k), "reason": str(why)[:PENDING_REASON_MAX], "first_seen": now,
             "updated_at": now}
            for k, why in reasons.items()
        ]
        self._upsert(conn, self.tables.pending_records, rows, ["task", "record_key"], keep=("first_seen",))

    @transaction(idempotent=False)
    def delete_pending(self, task: str, keys: Iterable[Any]) -> int:
        t = self.tables.pending_records
        with self._write() as conn:
            return self._delete_keys(conn, t, t.c.task == task, keys)

    @transaction(idempotent=True)
    def pending_keys(self, task: str) -> list[str]:
        """The task's pending record keys, oldest first."""
        t = self.tables.pending_records
        with self.engine.connect() as conn:
            rows = conn.execute(
                sa.select(t.c.record_key).where(t.c.task == task).order_by(t.c.first_seen, t.c.record_key)
            )
            return [k for (k,) in rows]

    def _pending_of(self, task: str, rekey: bool | None) -> Any:
        """The condition of ``task``'s pending records; ``rekey``: True only those held pending to
        re-key their card (:meth:`_written_over_by_events`), False only those waiting for references."""
        t = self.tables.pending_records
        if rekey is None:
            return t.c.task == task
        held = t.c.reason.like(_REKEY_REASON_LIKE)
        return sa.and_(t.c.task == task, held if rekey else sa.not_(held))

    @transaction(idempotent=True)
    def pending_records(self, task: str, limit: int | None = None, rekey: bool | None = None) -> list[dict[str, Any]]:
        """``[{"record_key", "reason", "first_seen", "updated_at"}]``, oldest first (operators, tests);
        ``rekey``: of one kind only (:meth:`_pending_of`)."""
        t = self.tables.pending_records
        query = (
            sa.select(t.c.record_key, t.c.reason, t.c.first_seen, t.c.updated_at)
            .where(self._pending_of(task, rekey)).order_by(t.c.first_seen, t.c.record_key)
        )
        if limit is not None:
            query = query.limit(limit)
        with self.engine.connect() as conn:
            return [dict(r) for r in conn.execute(query).mappings()]

    @transaction(idempotent=True)
    def count_pending(self, task: str, rekey: bool | None = None) -> int:
        """``rekey``: of one kind only (:meth:`_pending_of`)."""
        t = self.tables.pending_records
        with self.engine.connect() as conn:
            return int(conn.execute(sa.select(sa.func.count()).select_from(t).where(self._pending_of(task, rekey)))
                       .scalar() or 0)

    # ---- run statistics ---------------------------------------------------------------------
    @transaction(idempotent=True)
    def record_run(self, task: str, run_id: str, counts: Mapping[str, int], volume: int | None) -> None:
        """Store a run's counts and measured volume (records the task selects)."""
        row = {"task": task, "run_id": str(run_id), "counts": dict(counts), "volume": volume, "recorded_at": _utcnow()}
        with self._write() as conn:
            self._upsert(conn, self.tables.runs, [row], ["task", "run_id"])

    @transaction(idempotent=True)
    def last_volume(self, task: str) -> int | None:
        t = self.tables.runs
        with self.engine.connect() as conn:
            return conn.execute(
                sa.select(t.c.volume).where(t.c.task == task, t.c.volume.is_not(None))
                .order_by(t.c.recorded_at.desc()).limit(1)
            ).scalar()

    @transaction(idempotent=True)
    def recent_runs(self, task: str, limit: int = 10) -> list[dict[str, Any]]:
        t = self.tables.runs
        with self.engine.connect() as conn:
            rows = conn.execute(
                sa.select(t.c.run_id, t.c.counts, t.c.volume, t.c.recorded_at)
                .where(t.c.task == task).order_by(t.c.recorded_at.desc()).limit(limit)
            ).mappings()
            return [dict(r) for r in rows]

    # ---- events (exactly-once pushes) ---------------------------------------------------------
    def _event_row(self, conn: sa.Connection, task: str, event_id: str) -> Any:
        t = self.tables.events
        return conn.execute(sa.select(t).where(t.c.task == task, t.c.event_id == event_id)).mappings().first()

    @staticmethod
    def _record(row: Any, *, claimed: bool, resumed: bool, earlier_payload_digest: str | None = None) -> EventRecord:
        return EventRecord(
            task=row["task"], event_id=row["event_id"], status=row["status"], attempts=row["attempts"],
            result=row["result"], error=row["error"], owner=row["owner"], claimed=claimed, resumed=resumed,
            created_at=row["created_at"], claimed_at=row["claimed_at"], finished_at=row["finished_at"],
            payload_digest=row.get("payload_digest"), earlier_payload_digest=earlier_payload_digest,
        )

    @transaction(idempotent=False)
    def begin_event(
        self,
        task: str,
        event_id: str,
        *,
        owner: str | None = None,
        stale_after: timedelta = timedelta(minutes=10),
        now: datetime | None = None,
        origin: Mapping[str, str] | None = None,
        payload_digest: str | None = None,
        first_notes: Mapping[str, Any] | None = None,
    ) -> EventRecord:
        """Claim ``event_id`` for ``task`` atomically; ``origin``: the ESM card the event writes
        its result back to (``{"template", "attribute", "card_id"}``), noted in the claim's
        own statement (no extra write) until the event is done (:meth:`event_origins`).
        ``first_notes``: notes the event starts with when this claim is its first (kept by
        later attempts: they tell what the first attempt's version of the connector noted).
        ``payload_digest``: of the payload this try acts on, kept with a claim it wins (the
        record of a done event carries the digest its last try acted on; a resumed claim
        tells the digest of the try before it, ``earlier_payload_digest``).

        * new event -> claimed;
        * done -> not claimed, carries the earlier ``result``;
        * failed -> claimed again (``resumed``: check Jira first);
        * running under the same ``owner`` (e.g. the Airflow run id: a task retry) or not
          heard of for ``stale_after`` (a crashed worker) -> claimed, ``resumed``;
        * running elsewhere -> not claimed, ``status == "running"``.
        """
        t = self.tables.events
        given = now
        event_id = str(event_id)
        for _ in range(20):
            with self._write() as conn:
                # claims are stamped and judged stale by one clock, as leases are: the database's
                # on PostgreSQL (a worker whose clock runs ahead took a live try's claim)
                now = self._lease_clock(conn, given)
                row = self._event_row(conn, task, event_id)
                if row is None:
                    values = dict(task=task, event_id=event_id, status="running", owner=owner, attempts=1,
                                  result=_with_origin(dict(first_notes) if first_notes else None, origin),
                                  error=None, claimed_at=now, created_at=now,
                                  finished_at=None, payload_digest=payload_digest)
                    if self._insert_if_absent(conn, t, values, ["task", "event_id"]):
                        return self._record(values, claimed=True, resumed=False)
                    continue  # somebody inserted first: look again
                status = row["status"]
                if status == "done":
                    return self._record(row, claimed=False, resumed=False)
                take_over = status == "failed" or (
                    status == "running"
                    and ((owner is not None and row["owner"] == owner) or row["claimed_at"] <= now - stale_after)
                )
                if not take_over:
                    return self._record(row, claimed=False, resumed=False)
                res = conn.execute(
                    sa.update(t)
                    .where(t.c.task == task, t.c.event_id == event_id, t.c.status == status,
                           t.c.attempts == row["attempts"])
                    .values(status="running", owner=owner, attempts=row["attempts"] + 1, claimed_at=now,
                            error=row["error"], finished_at=None, result=_with_origin(row["result"], origin),
                            payload_digest=payload_digest)
                )
                if res.rowcount == 1:
                    new = dict(row)
                    new.update(status="running", owner=owner, attempts=row["attempts"] + 1, claimed_at=now, finished_at=None,
                               result=_with_origin(row["result"], origin), payload_digest=payload_digest)
                    return self._record(new, claimed=True, resumed=True,
                                        earlier_payload_digest=row.get("payload_digest"))
        raise StateStoreError(f"could not claim event {event_id!r} of task {task!r}: too much contention")

    def _insert_if_absent(self, conn: sa.Connection, table: sa.Table, values: dict[str, Any], keys: list[str]) -> bool:
        if self.dialect == "postgresql":
            from sqlalchemy.dialects.postgresql import insert
        elif self.dialect == "sqlite":
            from sqlalchemy.dialects.sqlite import insert
        else:
            try:
                with conn.begin_nested():
                    conn.execute(sa.insert(table).values(values))
                return True
            except sa.exc.IntegrityError:
                return False
        res = conn.execute(insert(table).values(values).on_conflict_do_nothing(index_elements=keys))
        return res.rowcount == 1

    @transaction(idempotent=True)
    def note_event_card(
        self, template: str, attribute: str, key: str, card_id: str, *, task: str, event_id: str,
        object_id: str | None = None,
    ) -> None:
        """An event push created the Jira object ``key`` (``object_id``: an issue's id, which a
        move keeps) for ESM card ``card_id`` and could not write ``key`` to its ``attribute``
        (yet): see ``Tables.event_cards``."""
        with self._write() as conn:
            self._note_event_card(conn, {"template": template, "attribute": attribute, "key": key,
                                         "card_id": card_id, "object_id": object_id}, task, event_id)

    def _note_event_card(self, conn: sa.Connection, note: Mapping[str, Any], task: str, event_id: str) -> None:
        now = _utcnow()
        ident = str(note.get("object_id") or "").strip()[:100] or None
        row = {"template": note["template"], "attribute": note["attribute"],
               "record_key": str(note["key"])[:RECORD_KEY_MAX], "card_id": str(note["card_id"])[:100], "task": task,
               "event_id": str(event_id)[:200], "created_at": now, "object_id": ident}
        conn.execute(self._statement(("prune event cards",), self._prune_event_cards), {"before": now - EVENT_CARDS_KEPT})
        if ident is None and self._noted_with_an_issue_id(conn, row):
            # the note of the event that created the issue stays: an update event's refused
            # write-back of the same key (no id: it created nothing) must not cost a moved issue
            # its card (an import finds it only by the id)
            return
        self._upsert(conn, self.tables.event_cards, [row], ["template", "attribute", "record_key"])

    def _noted_with_an_issue_id(self, conn: sa.Connection, row: Mapping[str, Any]) -> bool:
        """Is ``row``'s key noted already, with the id of the issue an event created?"""
        t = self.tables.event_cards
        query = self._statement(("event card noted with an id",), lambda: sa.select(t.c.object_id).where(
            t.c.template == sa.bindparam("template"), t.c.attribute == sa.bindparam("attribute"),
            t.c.record_key == sa.bindparam("record_key"), t.c.object_id.is_not(None)))
        return conn.execute(query, {k: row[k] for k in ("template", "attribute", "record_key")}).first() is not None

    def _prune_event_cards(self) -> Any:
        """The notes of events done long ago (before ``:before``): their write-back put the key
        on the card, where the import's look-up finds it (this map is read only for a key no
        card holds). A note is written before or with its event's end: only notes that old can
        go, found by the index of created_at -- not a scan of every note at every push."""
        cards, events = self.tables.event_cards, self.tables.events
        before = sa.bindparam("before", type_=UTCDateTime)
        done_long_ago = sa.exists().where(
            events.c.task == cards.c.task, events.c.event_id == cards.c.event_id,
            events.c.status == "done", events.c.finished_at < before)
        return sa.delete(cards).where(cards.c.created_at < before, done_long_ago)

    @transaction(idempotent=True)
    def event_cards(self, template: str, attribute: str, keys: Iterable[Any]) -> dict[str, str]:
        """``{key: card id}`` of the ``keys`` an event push created a Jira object for, from a
        card of ``template`` whose ``attribute`` it writes the key to."""
        t = self.tables.event_cards
        with self.engine.connect() as conn:
            rows = self._event_card_rows(conn, t.c.record_key, template, attribute, keys)
        return {key: card for key, card, _ident in rows}

    @transaction(idempotent=True)
    def event_cards_of_objects(
        self, template: str, attribute: str, object_ids: Iterable[Any],
    ) -> dict[str, tuple[str, str]]:
        """``{object id: (key, card id)}`` of the Jira issues (by id) an event push created from
        a card of ``template`` whose ``attribute`` it writes the key to, under the key they had
        then: an issue moved since answers under another key."""
        t = self.tables.event_cards
        with self.engine.connect() as conn:
            rows = self._event_card_rows(conn, t.c.object_id, template, attribute, object_ids)
        return {ident: (key, card) for key, card, ident in rows}

    def _event_card_rows(
        self, conn: sa.Connection, column: Any, template: str, attribute: str, values: Iterable[Any],
    ) -> list[tuple[str, str, str | None]]:
        """(key, card id, object id) of the notes whose ``column`` is one of ``values``, oldest first."""
        t = self.tables.event_cards
        wanted = list(dict.fromkeys(str(v) for v in values if v not in (None, "")))
        rows: list[tuple[str, str, str | None]] = []
        for chunk in _chunks(wanted):
            rows.extend((key, card, ident) for key, card, ident in conn.execute(
                sa.select(t.c.record_key, t.c.card_id, t.c.object_id)
                .where(t.c.template == template, t.c.attribute == attribute, column.in_(chunk))
                .order_by(t.c.created_at)))
        return rows

    @transaction(idempotent=True)
    def event_origins(
        self, template: str, attribute: str, *, now: datetime | None = None
    ) -> list[tuple[str, str, dict[str, str]]]:
        """``[(task, event_id, origin)]`` of the events not done (running, crashed, failed;
        claimed within :data:`ORIGINS_WITHIN`) that write their result back to ``attribute`` of
        a ``template`` card (``origin``: as given to :meth:`begin_event`, ``card_id`` and what
        finds the created object): the objects they created in Jira may not be on that card yet."""
        t = self.tables.events
        since = (_aware(now, "now") if now is not None else _utcnow()) - ORIGINS_WITHIN
        with self.engine.connect() as conn:
            rows = conn.execute(sa.select(t.c.task, t.c.event_id, t.c.result)
                                .where(t.c.status != "done", t.c.claimed_at >= since)).all()
        found = []
        for task, event_id, notes in rows:
            origin = notes.get(ORIGIN_NOTE) if isinstance(notes, dict) else None
            if isinstance(origin, dict) and (origin.get("template"), origin.get("attribute")) == (template, attribute):
                found.append((task, event_id, {str(k): str(v) for k, v in origin.items()}))
        return found

    @transaction(idempotent=True)
    def note_event(self, task: str, event_id: str, notes: Mapping[str, Any], *, attempt: int | None = None) -> bool:
        """Merge ``notes`` (JSON values; None removes a key) into a running or failed event's
        notes, kept across attempts until the event is done. They live in the ``result``
        column, unused until then (no schema change). ``attempt``: the noting claim's
        :attr:`EventRecord.attempts` -- once another attempt has claimed the event, this one's
        notes are its own stale view and must not erase or overwrite the newer attempt's.
        False: no such unfinished event, or (``attempt``) it is no longer this attempt's."""
        t = self.tables.events
        event_id = str(event_id)
        with self._write() as conn:
            row = self._event_row(conn, task, event_id)
            if row is None or row["status"] == "done" or (attempt is not None and row["attempts"] != int(attempt)):
                return False
            merged = dict(row["result"]) if isinstance(row["result"], dict) else {}
            for key, value in notes.items():
                if value is None:
                    merged.pop(key, None)
                else:
                    merged[key] = value
            # the attempts condition: another attempt may have claimed the event since the read
            return conn.execute(
                sa.update(t).where(t.c.task == task, t.c.event_id == event_id, t.c.status != "done",
                                   t.c.attempts == row["attempts"])
                .values(result=merged or None)
            ).rowcount == 1

    def complete_event(self, task: str, event_id: str, result: Any, *, card: Mapping[str, Any] | None = None,
                       attempt: int | None = None) -> None:
        """Record success with its JSON-serialisable ``result`` (e.g. ``{"key": "SUP-12"}``).
        ``card``: the card the event created an issue for, noted in the same transaction (as
        :meth:`note_event_card` takes it: ``template``, ``attribute``, ``key``, ``card_id``,
        ``object_id``): the issue may move before an import writes it. ``attempt``: the
        succeeding claim's :attr:`EventRecord.attempts` -- when another attempt has claimed the
        event since, that attempt acts (or acted) last: its claim and its result stand, this
        one's success is not recorded (the card is still noted: its write-back happened)."""
        self._finish_event(task, event_id, status="done", result=result, error=None, card=card, attempt=attempt)

    def fail_event(self, task: str, event_id: str, error: str, *, attempt: int | None = None) -> None:
        """Record a failed attempt; ``error`` must already be free of secrets (it is truncated).
        The event's notes stay: the next attempt needs them. ``attempt``: the failing claim's
        :attr:`EventRecord.attempts` -- when another attempt has claimed the event since (this
        one's claim went stale), the failure is that attempt's alone and is not recorded."""
        self._finish_event(task, event_id, status="failed", result=None, error=str(error)[:_MAX_ERROR],
                           keep_notes=True, attempt=attempt)

    @transaction(idempotent=True)
    def _finish_event(
        self, task: str, event_id: str, *, status: str, result: Any, error: str | None, keep_notes: bool = False,
        attempt: int | None = None, card: Mapping[str, Any] | None = None,
    ) -> None:
        t = self.tables.events
        now = _utcnow()
        event_id = str(event_id)
        values: dict[str, Any] = dict(status=status, error=error, finished_at=now)
        if not keep_notes:
            values["result"] = result
        where = [t.c.task == task, t.c.event_id == event_id]
        # a late outcome of an attempt that lost its claim never overwrites another's success,
        # nor ends the claim of the attempt that took the event over and is still acting
        if status == "failed":
            where.append(t.c.status != "done")
        if attempt is not None:
            where.append(t.c.attempts == int(attempt))
        with self._write() as conn:
            if card is not None:
                self._note_event_card(conn, card, task, event_id)
                self._write_again_after_late_write_back(conn, card, event_id, now)
            if conn.execute(sa.update(t).where(*where).values(**values)).rowcount == 1:
                return
            row = self._event_row(conn, task, event_id) if status == "failed" or attempt is not None else None
            if row is None:
                conn.execute(sa.insert(t).values(
                    task=task, event_id=event_id, status=status, owner=None, attempts=1, result=result,
                    error=error, claimed_at=now, created_at=now, finished_at=now,
                ))
            elif status == "failed" and row["status"] != "done":
                log.warning("Event %s of %s: this attempt's failure is not recorded: attempt %s of run %s has "
                            "taken the event over and is handling it.", event_id, task, row["attempts"], row["owner"])
            elif status == "done":
                log.warning("Event %s of %s: this attempt's success is not recorded: attempt %s (run %s, now %s) "
                            "took the event over; its outcome stands.", event_id, task, row["attempts"],
                            row["owner"], row["status"])

    def _write_again_after_late_write_back(self, conn: sa.Connection, card: Mapping[str, Any], event_id: str,
                                           now: datetime) -> None:
        """An event wrote the issue key ``card["key"]`` to its card: when an import task already
        wrote that issue (by id) to the same card under another key -- the issue moved, and the
        import re-keyed the card before this write-back landed, putting the old key back --, the
        task forgets its fingerprint and fetches it again (pending): its next run re-keys the card."""
        ident = str(card.get("object_id") or "").strip()
        if not ident:
            return
        t = self.tables.object_keys
        query = self._statement(("object written elsewhere",), lambda: sa.select(t.c.task, t.c.record_key).where(
            t.c.object_id == sa.bindparam("ident"), t.c.card_id == sa.bindparam("card"),
            t.c.record_key != sa.bindparam("key")))
        rows = conn.execute(query, {"ident": ident, "card": str(card["card_id"]), "key": str(card["key"])}).all()
        for task, key in rows:
            cache = self.tables.task_cache
            self._delete_keys(conn, cache, cache.c.task == task, [key])
            self._put_pending(conn, task, {key: (
                f"event {event_id} wrote the issue's old key {card['key']} to its card {card['card_id']} after "
                f"this task gave the card the key {key}: written again to re-key the card")}, now)
            log.warning("Event %s wrote the issue key %s to ESM card %s, which task %s had re-keyed to %s (the issue "
                        "moved in Jira): the task's next run writes %s again and re-keys the card.",
                        event_id, card["key"], card["card_id"], task, key, key)

    # ---- run leases (one run of a task at a time; see lease.py for the protocol) ------------
    def _lease_clock(self, conn: sa.Connection, now: datetime | None = None) -> datetime:
        """The time leases are written and judged by: ``now`` when the caller gives one
        (tests simulate time with it); else the database's clock on PostgreSQL -- the workers
        run on several machines, and one whose clock runs ahead would see a live holder's
        heartbeat as run out and take its lease (two writers at once) -- and this machine's
        clock on SQLite (one file, one machine)."""
        if now is not None:
            return _aware(now, "now")
        if self.dialect == "postgresql":
            return conn.execute(sa.select(sa.func.clock_timestamp())).scalar_one().astimezone(timezone.utc)
        return _utcnow()

    @staticmethod
    def _lease(row: Any) -> LeaseInfo:
        return LeaseInfo(
            task=row["task"], owner_run=row["owner_run"], run_expires_at=row["run_expires_at"],
            holder=row["holder"], holder_expires_at=row["holder_expires_at"], acquired_at=row["acquired_at"],
            run_name=row["run_name"], updated_at=row["updated_at"],
        )

    @transaction(idempotent=True)
    def get_lease(self, task: str) -> LeaseInfo | None:
        t = self.tables.leases
        with self.engine.connect() as conn:
            row = conn.execute(sa.select(t).where(t.c.task == task)).mappings().first()
        return self._lease(row) if row else None

    @transaction(idempotent=True)
    def lease_now(self) -> datetime:
        """The time leases are judged by now (:meth:`_lease_clock`): what an operator's tool
        must compare them with -- its own machine's clock may run ahead or behind."""
        with self.engine.connect() as conn:
            return self._lease_clock(conn)

    @transaction(idempotent=True)
    def list_leases(self, prefix: str = "") -> list[LeaseInfo]:
        """Lease rows whose name starts with ``prefix`` (e.g. the ESM template write locks,
        ``esm-template:``), by name."""
        t = self.tables.leases
        query = sa.select(t).order_by(t.c.task)
        if prefix:
            escaped = prefix.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
            query = query.where(t.c.task.like(f"{escaped}%", escape="\\"))
        with self.engine.connect() as conn:
            return [self._lease(row) for row in conn.execute(query).mappings()]

    @transaction(idempotent=False)
    def try_acquire_lease(
        self,
        task: str,
        run_id: str,
        holder: str,
        *,
        holder_expires_at: datetime | None = None,
        run_expires_at: datetime | None = None,
        first_step: bool = True,
        run_name: str | None = None,
        dead_owner: str | None = None,
        now: datetime | None = None,
        holder_ttl_s: float | None = None,
    ) -> LeaseClaim:
        """One atomic attempt to make ``holder`` (an attempt of run ``run_id``) the lease holder.

        ``run_id`` identifies one run instance (the DAG uses the Airflow run id plus the
        run's start time: two deployments produce the same scheduled run ids, and clearing
        a finished run starts it anew); ``run_name`` is the Airflow run id alone (default
        ``run_id``). ``dead_owner``: an owner the caller knows is over (Airflow says its
        run ended, e.g. marked failed between steps): treated as free once no attempt of it
        is alive.

        Expiries: ``holder_ttl_s`` (what a worker passes) makes the holder's heartbeat run
        out that many seconds after the lease clock's now (:meth:`_lease_clock`: on
        PostgreSQL the database's, so workers' clocks never matter); ``holder_expires_at``
        gives it as a time of ``now``'s clock instead. ``run_expires_at`` ``None``: the claim
        lives by its heartbeat alone (a template write lock).

        * no lease -> taken (``first_step`` only: a later step finding no lease was released
          or replaced meanwhile -> ``lost``);
        * owned by ``run_id`` and no *other* live holder -> taken (next step, an Airflow retry
          after the previous attempt's heartbeat ran out, or a step of a finished run cleared
          by an operator while no other run has run since); another live holder -> ``busy``;
        * owned by another run -> for a later step ``lost`` (superseded), except a free lease
          of the same ``run_name`` (a step of an ended run re-run by an operator, nobody
          else ran since) -> taken; for a first step ``busy``, unless both the run lease
          and the holder heartbeat expired (or it is ``dead_owner``'s) -> taken over;
        * owned by an earlier instance of the same ``run_name`` (an operator cleared the run
          and Airflow started it again) whose attempt's heartbeat ran out without a release
          (killed on its last try) -> taken over by a first or a later step: that instance is
          over, and Airflow runs one instance of a run id at a time.

        The run expiry only ever moves forward. SQLite serialises this with ``BEGIN
        IMMEDIATE``, PostgreSQL with a row lock (``SELECT ... FOR UPDATE``) and
        insert-if-absent for the first claim.
        """
        t = self.tables.leases
        if (holder_ttl_s is None) == (holder_expires_at is None):
            raise ValueError("give the holder's heartbeat either as holder_ttl_s or as holder_expires_at")
        given_now = now
        run_id, holder = str(run_id)[:300], str(holder)[:400]
        run_name = str(run_name)[:250] if run_name is not None else run_id[:250]
        for _ in range(20):
            with self._write() as conn:
                row = conn.execute(sa.select(t).where(t.c.task == task).with_for_update()).mappings().first()
                now = self._lease_clock(conn, given_now)  # after the row lock: a wait for it is not counted
                holder_exp = (now + timedelta(seconds=holder_ttl_s) if holder_ttl_s is not None
                              else _aware(holder_expires_at, "holder_expires_at"))
                run_exp = max(_aware(run_expires_at, "run_expires_at") if run_expires_at is not None else holder_exp,
                              holder_exp)
                if row is None:
                    if not first_step:
                        return LeaseClaim("lost", None, now=now)
                    values = dict(task=task, owner_run=run_id, run_name=run_name, run_expires_at=run_exp,
                                  holder=holder, holder_expires_at=holder_exp, acquired_at=now, updated_at=now)
                    if self._insert_if_absent(conn, t, values, ["task"]):
                        return LeaseClaim("acquired", self._lease(values), now=now)
                    continue  # another run inserted first: look again
                found = self._lease(row)
                if found.owner_run == run_id:
                    if found.holder != holder and found.holder_live(now):
                        return LeaseClaim("busy", found, now=now)
                    values = dict(holder=holder, holder_expires_at=holder_exp, updated_at=now,
                                  run_expires_at=max(found.run_expires_at, run_exp))
                    conn.execute(sa.update(t).where(t.c.task == task).values(values))
                    return LeaseClaim("acquired", LeaseInfo(
                        task=task, owner_run=run_id, run_expires_at=values["run_expires_at"], holder=holder,
                        holder_expires_at=holder_exp, acquired_at=found.acquired_at, run_name=run_name,
                        updated_at=now,
                    ), now=now)
                # an earlier instance of this very run (cleared and started again) whose attempt
                # died working: its heartbeat ran out with nothing released, and it is over
                restarted = found.run_name == run_name and found.holder is not None and not found.holder_live(now)
                if not first_step:
                    if not (found.run_name == run_name and (found.free(now) or restarted)):
                        return LeaseClaim("lost", found, now=now)
                elif not (found.free(now) or restarted
                          or (dead_owner == found.owner_run and not found.holder_live(now))):
                    return LeaseClaim("busy", found, now=now)
                conn.execute(sa.update(t).where(t.c.task == task, t.c.owner_run == found.owner_run).values(
                    owner_run=run_id, run_name=run_name, run_expires_at=run_exp, holder=holder,
                    holder_expires_at=holder_exp, acquired_at=now, updated_at=now,
                ))
                return LeaseClaim("acquired", LeaseInfo(
                    task=task, owner_run=run_id, run_expires_at=run_exp, holder=holder,
                    holder_expires_at=holder_exp, acquired_at=now, run_name=run_name, updated_at=now,
                ), taken_over=found, now=now)
        raise StateStoreError(f"could not take the lease of task {task!r}: too much contention")

    @transaction(idempotent=True)
    def renew_lease(
        self, task: str, run_id: str, holder: str, holder_expires_at: datetime | None = None, *,
        holder_ttl_s: float | None = None,
    ) -> bool:
        """Heartbeat: push the holder expiry forward -- ``holder_ttl_s`` seconds past the
        lease clock's now (:meth:`_lease_clock`), or to ``holder_expires_at``. False when the
        lease is no longer this holder's (released, or taken over after it expired)."""
        t = self.tables.leases
        if (holder_ttl_s is None) == (holder_expires_at is None):
            raise ValueError("give the holder's heartbeat either as holder_ttl_s or as holder_expires_at")
        with self._write() as conn:
            now = self._lease_clock(conn)
            expires = (now + timedelta(seconds=holder_ttl_s) if holder_ttl_s is not None
                       else _aware(holder_expires_at, "holder_expires_at"))
            res = conn.execute(
                sa.update(t).where(t.c.task == task, t.c.owner_run == str(run_id)[:300], t.c.holder == str(holder)[:400])
                .values(holder_expires_at=expires, updated_at=now)
            )
            return res.rowcount == 1

    # idempotent: run again after a commit that did apply, it changes nothing and answers
    # False ("held none"), which the lease's release() does not act on
    @transaction(idempotent=True)
    def release_lease(self, task: str, run_id: str, holder: str | None = None, *, keep_run: bool = False) -> bool:
        """``keep_run``: the attempt ends but the run goes on (next step or an Airflow retry):
        only the holder is cleared. Otherwise the run is over: its claim expires now, the
        moment of this update (:attr:`LeaseInfo.released`), so any run may take the task. The
        row stays as the record of the last owner -- if an operator later re-runs a step of
        that same run, it may continue only while no other run has taken the task since (its
        staged data is then still the newest).
        Only ``run_id``'s lease is touched; False when it holds none."""
        t = self.tables.leases
        cond = [t.c.task == task, t.c.owner_run == str(run_id)[:300]]
        if holder is not None:
            cond.append(t.c.holder == str(holder)[:400])
        with self._write() as conn:
            now = self._lease_clock(conn)  # the clock the claims judge by
            values: dict[str, Any] = dict(holder=None, holder_expires_at=None, updated_at=now)
            if not keep_run:
                values["run_expires_at"] = now
            return conn.execute(sa.update(t).where(*cond).values(values)).rowcount == 1

    @transaction(idempotent=False)
    def break_lease(self, task: str) -> LeaseInfo | None:
        """Operator action: remove a task's lease whoever owns it (e.g. a run that died on its
        last try); returns what was removed."""
        t = self.tables.leases
        with self._write() as conn:
            row = conn.execute(sa.select(t).where(t.c.task == task).with_for_update()).mappings().first()
            if row is None:
                return None
            conn.execute(sa.delete(t).where(t.c.task == task))
            return self._lease(row)

    @transaction(idempotent=True)
    def get_event(self, task: str, event_id: str) -> EventRecord | None:
        with self.engine.connect() as conn:
            row = self._event_row(conn, task, str(event_id))
        return self._record(row, claimed=False, resumed=False) if row else None


def hour_boundary_crossed(last: datetime, now: datetime, hours: Iterable[int]) -> bool:
    """Is there an instant ``D HH:00 UTC`` (HH in ``hours``) with ``last < instant <= now``?"""
    last = last.astimezone(timezone.utc)
    now = now.astimezone(timezone.utc)
    hours = sorted(set(hours))
    if not hours or now <= last:
        return False
    if now - last >= timedelta(days=1):
        return True
    day = last.replace(hour=0, minute=0, second=0, microsecond=0)
    while day <= now:
        for h in hours:
            instant = day + timedelta(hours=h)
            if last < instant <= now:
                return True
        day += timedelta(days=1)
    return False
