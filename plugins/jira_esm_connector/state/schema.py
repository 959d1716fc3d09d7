"""Tables of the connector's state database (SQLAlchemy Core) and their migrations."""
from __future__ import annotations

from datetime import datetime, timezone
from typing import Any, Callable

import sqlalchemy as sa
from sqlalchemy.types import TypeDecorator

__all__ = ["UTCDateTime", "Tables", "SCHEMA_VERSION", "MIGRATIONS", "PENDING_REASON_MAX", "RECORD_KEY_MAX"]

PENDING_REASON_MAX = 1000  # characters of a pending record's reason (the missing references)
RECORD_KEY_MAX = 400  # characters of a record key (PostgreSQL enforces it; transform and load refuse longer keys)


class UTCDateTime(TypeDecorator):
    """Aware datetimes in, aware UTC datetimes out; stored as naive UTC (portable:
    SQLite has no time zones)."""

    impl = sa.DateTime
    cache_ok = True

    def process_bind_param(self, value: Any, dialect: Any) -> Any:
        if value is None:
            return None
        if not isinstance(value, datetime):
            raise TypeError(f"expected a datetime, got {type(value).__name__}")
        if value.tzinfo is None:
            raise ValueError("naive datetime given to the state store; pass a time-zone aware value")
        return value.astimezone(timezone.utc).replace(tzinfo=None)

    def process_result_value(self, value: Any, dialect: Any) -> Any:
        if value is None:
            return None
        return value.replace(tzinfo=timezone.utc)


class Tables:
    """All tables, optionally with a name prefix and/or a (PostgreSQL) schema."""

    def __init__(self, prefix: str = "", schema: str | None = None) -> None:
        self.metadata = sa.MetaData(schema=schema)
        p = prefix
        m = self.metadata
        self.schema_version = sa.Table(
            f"{p}schema_version", m,
            sa.Column("id", sa.Integer, primary_key=True, autoincrement=False),
            sa.Column("version", sa.Integer, nullable=False),
            sa.Column("updated_at", UTCDateTime, nullable=False),
        )
        # Every migration applied (schema_version holds only the highest): one numbered below
        # the highest, merged from a parallel branch later, is still applied (migration 9).
        self.schema_migrations = sa.Table(
            f"{p}schema_migrations", m,
            sa.Column("version", sa.Integer, primary_key=True, autoincrement=False),
            sa.Column("applied_at", UTCDateTime, nullable=False),
        )
        self.watermarks = sa.Table(
            f"{p}watermarks", m,
            sa.Column("task", sa.String(250), primary_key=True),
            sa.Column("value", UTCDateTime, nullable=False),
            sa.Column("updated_at", UTCDateTime, nullable=False),
        )
        self.task_cache = sa.Table(
            f"{p}task_cache", m,
            sa.Column("task", sa.String(250), primary_key=True),
            sa.Column("record_key", sa.String(RECORD_KEY_MAX), primary_key=True),
            sa.Column("fingerprint", sa.String(64), nullable=False),
            sa.Column("updated_at", UTCDateTime, nullable=False),
        )
        self.cache_clears = sa.Table(
            f"{p}cache_clears", m,
            sa.Column("task", sa.String(250), primary_key=True),
            sa.Column("cleared_at", UTCDateTime, nullable=False),
            sa.Column("reason", sa.String(400), nullable=False),
        )
        self.key_map = sa.Table(
            f"{p}key_map", m,
            sa.Column("scope", sa.String(250), primary_key=True),
            sa.Column("record_key", sa.String(RECORD_KEY_MAX), primary_key=True),
            sa.Column("card_id", sa.String(100), nullable=False),
            sa.Column("updated_at", UTCDateTime, nullable=False),
            # the map read backwards (StateStore.keys_of_cards: which keys were written to these
            # cards): without it each chunk of card ids scans the whole scope (migration 13)
            sa.Index(f"{p}ix_key_map_card", "scope", "card_id"),
        )
        self.runs = sa.Table(
            f"{p}runs", m,
            sa.Column("task", sa.String(250), primary_key=True),
            sa.Column("run_id", sa.String(250), primary_key=True),
            sa.Column("counts", sa.JSON, nullable=False),
            sa.Column("volume", sa.Integer, nullable=True),
            sa.Column("recorded_at", UTCDateTime, nullable=False),
            sa.Index(f"{p}ix_runs_task_recorded", "task", "recorded_at"),
        )
        # Records saved without some of their references (the referenced card did not exist
        # yet): fetched again by key on later runs until they load fully (migration 2).
        self.pending_records = sa.Table(
            f"{p}pending_records", m,
            sa.Column("task", sa.String(250), primary_key=True),
            sa.Column("record_key", sa.String(RECORD_KEY_MAX), primary_key=True),
            sa.Column("reason", sa.String(PENDING_REASON_MAX), nullable=False),
            sa.Column("first_seen", UTCDateTime, nullable=False),
            sa.Column("updated_at", UTCDateTime, nullable=False),
        )
        # Tasks whose key map is known to hold every ESM card stamped with the task's id
        # (for the template and key attribute named): mark_removed may then verify only the
        # mapped cards instead of paging the whole task through ESM (migration 4). No row:
        # not known; the load step deletes the row before it writes and puts it back only
        # when it recorded every card it wrote.
        self.key_map_coverage = sa.Table(
            f"{p}key_map_coverage", m,
            sa.Column("scope", sa.String(250), primary_key=True),
            sa.Column("template", sa.String(250), nullable=False),
            sa.Column("key_attribute", sa.String(250), nullable=False),
            sa.Column("updated_at", UTCDateTime, nullable=False),
        )
        self.full_syncs = self._full_syncs(m, p)
        self.disabled_by_record = self._disabled_by_record(m, p)
        self.object_keys = self._object_keys(m, p)
        self.renamed_projects = self._renamed_projects(m, p)
        self.watermark_digests = self._watermark_digests(m, p)
        self.event_cards = self._event_cards(m, p)
        self.events = self._events(m, p)
        # One row per task (see lease.py): which run owns the task (owner_run: unique per run
        # instance; run_name: the Airflow run id, equal for the same schedule slot on two
        # deployments), which attempt is working right now, and until when each claim holds.
        self.leases = sa.Table(
            f"{p}leases", m,
            sa.Column("task", sa.String(250), primary_key=True),
            sa.Column("owner_run", sa.String(300), nullable=False),
            sa.Column("run_name", sa.String(250), nullable=False),
            sa.Column("run_expires_at", UTCDateTime, nullable=False),
            sa.Column("holder", sa.String(400), nullable=True),
            sa.Column("holder_expires_at", UTCDateTime, nullable=True),
            sa.Column("acquired_at", UTCDateTime, nullable=False),
            sa.Column("updated_at", UTCDateTime, nullable=False),
        )

    @staticmethod
    def _events(m: sa.MetaData, p: str) -> sa.Table:
        """Event pushes handled or under way (``StateStore.begin_event``)."""
        return sa.Table(
            f"{p}events", m,
            sa.Column("task", sa.String(250), primary_key=True),
            sa.Column("event_id", sa.String(200), primary_key=True),
            sa.Column("status", sa.String(20), nullable=False),
            sa.Column("owner", sa.String(250), nullable=True),
            sa.Column("attempts", sa.Integer, nullable=False),
            sa.Column("result", sa.JSON, nullable=True),
            sa.Column("error", sa.Text, nullable=True),
            sa.Column("claimed_at", UTCDateTime, nullable=False),
            sa.Column("created_at", UTCDateTime, nullable=False),
            sa.Column("finished_at", UTCDateTime, nullable=True),
            # a digest of the payload the last try acted on: a replay under the same event id
            # with another payload is told to the operator, not passed over (migration 14)
            sa.Column("payload_digest", sa.String(64), nullable=True),
            # StateStore.event_origins, asked by every import: the few unfinished events only,
            # not every event done in the last week (migration 9)
            sa.Index(f"{p}ix_events_unfinished", "claimed_at",
                     sqlite_where=sa.text("status <> 'done'"), postgresql_where=sa.text("status <> 'done'")),
        )

    @staticmethod
    def _event_cards(m: sa.MetaData, p: str) -> sa.Table:
        """The ESM card an event push created a Jira object for (migration 7): ``key`` (the
        issue key, account id, group id the event writes back to ``attribute`` of that card).
        Noted when the write-back failed, so an import that meets the key before the event's
        retry wrote it (ESM was down) writes that card instead of creating a second card for
        the same key. A write-back still under way, or whose worker died, is found through the
        event's claim instead (``StateStore.event_origins``). ``object_id``: the created issue's
        id (migration 10), noted also when the write-back worked: an issue moved before an
        import wrote it (a new key no card holds) still finds that card."""
        return sa.Table(
            f"{p}event_cards", m,
            sa.Column("template", sa.String(250), primary_key=True),
            sa.Column("attribute", sa.String(250), primary_key=True),
            sa.Column("record_key", sa.String(RECORD_KEY_MAX), primary_key=True),
            sa.Column("card_id", sa.String(100), nullable=False),
            sa.Column("task", sa.String(250), nullable=False),
            sa.Column("event_id", sa.String(200), nullable=False),
            sa.Column("created_at", UTCDateTime, nullable=False),
            sa.Column("object_id", sa.String(100), nullable=True),
            # a load chunk asks for the notes of its new issues' ids; every noting push prunes
            # the notes of events done long ago (migration 12)
            sa.Index(f"{p}ix_event_cards_object", "object_id"),
            sa.Index(f"{p}ix_event_cards_created", "created_at"),
        )

    @staticmethod
    def _object_keys(m: sa.MetaData, p: str) -> sa.Table:
        """Per task keyed by Jira's issue key: the record key (and card) each Jira issue id was
        last written under (migration 8). An issue moved to another project, or whose project
        key changed, keeps its id: the load step finds its card under the old key and re-keys
        it instead of creating a second. Not task cache: a cache clear keeps it."""
        return sa.Table(
            f"{p}object_keys", m,
            sa.Column("task", sa.String(250), primary_key=True),
            sa.Column("object_id", sa.String(100), primary_key=True),
            sa.Column("record_key", sa.String(RECORD_KEY_MAX), nullable=False),
            sa.Column("card_id", sa.String(100), nullable=False),
            sa.Column("updated_at", UTCDateTime, nullable=False),
            # every create_issue push with a write-back asks which import tasks wrote its issue
            # id (StateStore.complete_event), whatever the task: not a scan of every task's ids
            # (migration 12)
            sa.Index(f"{p}ix_object_keys_object", "object_id"),
        )

    @staticmethod
    def _renamed_projects(m: sa.MetaData, p: str) -> sa.Table:
        """Per incremental task keyed by Jira's issue key: the project key changes it listed the
        project in full for (migration 11). A key change does not move the issues' ``updated``:
        the first run that notices it (Jira answers to the old key) lists the project once, so
        every card is re-keyed; the row keeps later runs from listing it again for the keys of
        issues gone meanwhile. Not task cache: a cache clear keeps it."""
        return sa.Table(
            f"{p}renamed_projects", m,
            sa.Column("task", sa.String(250), primary_key=True),
            sa.Column("old_key", sa.String(100), primary_key=True),
            sa.Column("new_key", sa.String(100), primary_key=True),
            sa.Column("listed_at", UTCDateTime, nullable=False),
        )

    @staticmethod
    def _watermark_digests(m: sa.MetaData, p: str) -> sa.Table:
        """Per incremental task: the digest of the task (its file, the date settings, the
        connector's version; pipeline/carry.task_digest) its watermark was reached under
        (migration 6). Another digest means the watermark no longer says what ESM holds: the
        next run fetches everything its JQL selects. No row: recorded before migration 6."""
        return sa.Table(
            f"{p}watermark_digests", m,
            sa.Column("task", sa.String(250), primary_key=True),
            sa.Column("digest", sa.String(64), nullable=False),
            sa.Column("updated_at", UTCDateTime, nullable=False),
        )

    @staticmethod
    def _full_syncs(m: sa.MetaData, p: str) -> sa.Table:
        """Per full generic import: the Jira server time its last successful run started
        listing at, and the digest of the task's mapping then (migration 5). The next full
        run re-reads only the issues changed since (minus the overlap) or not yet in ESM;
        see pipeline/carry.py."""
        return sa.Table(
            f"{p}full_syncs", m,
            sa.Column("task", sa.String(250), primary_key=True),
            sa.Column("since", UTCDateTime, nullable=False),
            sa.Column("digest", sa.String(64), nullable=False),
            sa.Column("updated_at", UTCDateTime, nullable=False),
        )

    @staticmethod
    def _disabled_by_record(m: sa.MetaData, p: str) -> sa.Table:
        """The records a task last wrote with the removal value its own mapping gave (the
        record said so: a deactivated user, a cancelled issue). Their cards follow the record
        when it changes back; a card mark_removed disabled, or one disabled by hand, does not
        (the connector never re-enables a card on its own)."""
        return sa.Table(
            f"{p}disabled_by_record", m,
            sa.Column("task", sa.String(250), primary_key=True),
            sa.Column("record_key", sa.String(RECORD_KEY_MAX), primary_key=True),
            sa.Column("updated_at", UTCDateTime, nullable=False),
        )

    @property
    def data_tables(self) -> list[sa.Table]:
        return [t for t in self.metadata.sorted_tables if t not in (self.schema_version, self.schema_migrations)]


def _v1(conn: sa.Connection, tables: Tables) -> None:
    tables.metadata.create_all(conn, tables=tables.data_tables, checkfirst=True)


def _v2(conn: sa.Connection, tables: Tables) -> None:
    """``pending_records``: records whose references are retried on later runs."""
    tables.pending_records.create(conn, checkfirst=True)


def _v3(conn: sa.Connection, tables: Tables) -> None:
    # per-task run leases (one run of a task at a time)
    tables.leases.create(conn, checkfirst=True)


def _v4(conn: sa.Connection, tables: Tables) -> None:
    # which tasks' key maps are complete (no row: unknown, so mark_removed pages ESM)
    tables.key_map_coverage.create(conn, checkfirst=True)


def _v5(conn: sa.Connection, tables: Tables) -> None:
    # full imports' last listing start: what a full run need not read again
    tables.full_syncs.create(conn, checkfirst=True)


def _v6(conn: sa.Connection, tables: Tables) -> None:
    # the digest each incremental task's watermark was reached under
    tables.watermark_digests.create(conn, checkfirst=True)


def _v7(conn: sa.Connection, tables: Tables) -> None:
    # the card each event push created a Jira object for (read by the import's look-ups)
    tables.event_cards.create(conn, checkfirst=True)


def _v8(conn: sa.Connection, tables: Tables) -> None:
    # the record key each Jira issue id was last written under (moved issues keep their card)
    tables.object_keys.create(conn, checkfirst=True)


def _v9(conn: sa.Connection, tables: Tables) -> None:
    # the index of unfinished events (event_origins); schema_migrations is the runner's own
    for index in tables.events.indexes:
        index.create(conn, checkfirst=True)


def _add_column(conn: sa.Connection, table: sa.Table, column: str, sql_type: str) -> None:
    """``ALTER TABLE ... ADD COLUMN`` unless the table has the column already."""
    if column not in {c["name"] for c in sa.inspect(conn).get_columns(table.name, schema=table.schema)}:
        name = conn.dialect.identifier_preparer.format_table(table)
        conn.execute(sa.text(f"ALTER TABLE {name} ADD COLUMN {column} {sql_type}"))


def _v10(conn: sa.Connection, tables: Tables) -> None:
    # the issue id an event push created, beside its card (a moved issue finds the event's card)
    _add_column(conn, tables.event_cards, "object_id", "VARCHAR(100)")


def _v11(conn: sa.Connection, tables: Tables) -> None:
    # the project key changes each incremental task listed the project in full for
    tables.renamed_projects.create(conn, checkfirst=True)


def _v12(conn: sa.Connection, tables: Tables) -> None:
    # look-ups of a Jira issue id across tasks (object_keys) and in the event notes
    for index in (*tables.object_keys.indexes, *tables.event_cards.indexes):
        index.create(conn, checkfirst=True)


def _v13(conn: sa.Connection, tables: Tables) -> None:
    # the key map read backwards, card id -> key (keys_of_cards)
    for index in tables.key_map.indexes:
        index.create(conn, checkfirst=True)


def _v14(conn: sa.Connection, tables: Tables) -> None:
    # the digest of the payload each event was handled with (a replay with another payload is warned of)
    _add_column(conn, tables.events, "payload_digest", "VARCHAR(64)")


def _v15(conn: sa.Connection, tables: Tables) -> None:
    # the records whose own data disabled their cards (they follow the record back)
    tables.disabled_by_record.create(conn, checkfirst=True)


# version -> migration; append new ones (never edit old ones). Each runs in the same
# transaction as the version bump. Numbers may have gaps and may arrive out of order
# (branches add migrations in parallel): the runner applies, in order, every version above
# the stored one and every version not recorded in schema_migrations, and each migration
# only creates what is missing, so applying one twice is harmless. (A fresh database gets
# every table from _v1, which creates whatever the Tables class declares; later migrations
# then find theirs there.)
MIGRATIONS: dict[int, Callable[[sa.Connection, Tables], None]] = {
    1: _v1, 2: _v2, 3: _v3, 4: _v4, 5: _v5, 6: _v6, 7: _v7, 8: _v8, 9: _v9, 10: _v10, 11: _v11, 12: _v12, 13: _v13, 14: _v14,
    15: _v15,
}
SCHEMA_VERSION = max(MIGRATIONS)
