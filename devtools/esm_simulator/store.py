"""SQLite storage of data cards through SQLAlchemy Core.

Tables (tests may read them directly through ``db_path``):

- ``cards``: ``id`` (AUTOINCREMENT, so a new card always gets a higher id than any card that
  ever existed: descending keyset paging never meets a card twice), ``template``,
  ``folder``, ``name``, ``deleted`` (in the trash can), ``data`` (JSON: attribute code ->
  list of stored value elements), ``created_at`` / ``updated_at`` (UTC ISO).
  Index ``(template, deleted, id)`` serves ``limit``/``filterId`` pages.
- ``card_values``: one row per filterable value (``card_id, template, attr, value``),
  indexed ``(template, attr, value, card_id)`` (which cards have this value) and
  ``(card_id, attr, value)`` (does this card have it) so EQL filters stay index lookups.
- ``sim_meta``: key/value (the JWT signing secret, so tokens survive a restart).
"""
from __future__ import annotations

import json
import secrets
import threading
from collections.abc import Iterable, Iterator
from typing import Any

import sqlalchemy as sa

from .templates import INDEXED_TYPES, Catalog, now_iso

metadata = sa.MetaData()

cards = sa.Table(
    "cards",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("template", sa.String(100), nullable=False),
    sa.Column("folder", sa.String(100), nullable=False),
    sa.Column("name", sa.Text, nullable=False, default=""),
    sa.Column("deleted", sa.Boolean, nullable=False, default=False),
    sa.Column("data", sa.Text, nullable=False),
    sa.Column("created_at", sa.String(32), nullable=False),
    sa.Column("updated_at", sa.String(32), nullable=False),
    sa.Index("ix_cards_template_deleted_id", "template", "deleted", "id"),
    sa.Index("ix_cards_template_name", "template", "name"),  # EQL on references by name
    sqlite_autoincrement=True,
)

card_values = sa.Table(
    "card_values",
    metadata,
    sa.Column("card_id", sa.Integer, nullable=False),
    sa.Column("template", sa.String(100), nullable=False),
    sa.Column("attr", sa.String(100), nullable=False),
    sa.Column("value", sa.Text, nullable=False),
    sa.Index("ix_card_values_lookup", "template", "attr", "value", "card_id"),
    sa.Index("ix_card_values_card_attr", "card_id", "attr", "value"),
)

sim_meta = sa.Table(
    "sim_meta",
    metadata,
    sa.Column("key", sa.String(100), primary_key=True),
    sa.Column("value", sa.Text, nullable=False),
)


# Card and card_values rows go in as plain tuples through the driver's executemany, one call
# per kind: SQLAlchemy's per-row parameter handling cost more than SQLite's work (a bulk import
# writes 200 cards and ~9 value rows per card), and an INSERT ... RETURNING ran one statement
# per card. New cards get their ids up front instead (see :meth:`Store._next_ids`).
_INSERT_CARD = (f"INSERT INTO {cards.name} (id, template, folder, name, deleted, data, created_at, updated_at) "
                "VALUES (?, ?, ?, ?, 0, ?, ?, ?)")
_UPDATE_CARD = f"UPDATE {cards.name} SET folder = ?, name = ?, data = ?, updated_at = ? WHERE id = ?"
_INSERT_INDEX_ROW = f"INSERT INTO {card_values.name} (card_id, template, attr, value) VALUES (?, ?, ?, ?)"


def _insert_index_rows(conn: sa.Connection, rows: list[tuple[Any, ...]]) -> None:
    if rows:
        conn.exec_driver_sql(_INSERT_INDEX_ROW, rows)


class CardRow:
    """One stored card; ``data`` is parsed from JSON only when first used (listing info
    elements never needs it)."""

    __slots__ = ("id", "template", "folder", "name", "deleted", "_data", "_raw", "created_at", "updated_at")

    def __init__(self, id: int, template: str, folder: str, name: str, deleted: bool,
                 raw: str, created_at: str, updated_at: str):
        self.id, self.template, self.folder, self.name, self.deleted = id, template, folder, name, deleted
        self._raw: str | None = raw
        self._data: dict[str, list[dict[str, Any]]] | None = None
        self.created_at, self.updated_at = created_at, updated_at

    @property
    def data(self) -> dict[str, list[dict[str, Any]]]:
        if self._data is None:
            self._data = json.loads(self._raw or "{}")
            self._raw = None
        return self._data

    @data.setter
    def data(self, value: dict[str, list[dict[str, Any]]]) -> None:
        self._data, self._raw = value, None

    def as_dict(self) -> dict[str, Any]:
        return {
            "id": self.id, "template": self.template, "folder": self.folder, "name": self.name,
            "deleted": self.deleted, "data": self.data,
            "created_at": self.created_at, "updated_at": self.updated_at,
        }


def _row(r: Any) -> CardRow:
    return CardRow(r.id, r.template, r.folder, r.name, bool(r.deleted), r.data, r.created_at, r.updated_at)


class Store:
    def __init__(self, db_path: str, catalog: Catalog):
        self.catalog = catalog
        self.engine = sa.create_engine(f"sqlite:///{db_path}", pool_size=8, max_overflow=16)
        sa.event.listen(self.engine, "connect", self._pragmas)
        self.write_lock = threading.Lock()
        # Every write (under write_lock, so one at a time) goes through this one connection. In
        # WAL mode a connection drops its page cache whenever another one wrote meanwhile: with
        # writes spread over the pool, each bulk import read its index pages back first (~20 %
        # more SQLite time than one writer whose cache stays warm).
        self.writer = sa.create_engine(f"sqlite:///{db_path}", pool_size=1, max_overflow=0)
        sa.event.listen(self.writer, "connect", self._pragmas)
        metadata.create_all(self.engine)
        with self.engine.begin() as conn:  # indexes added since a database was created
            for table in metadata.sorted_tables:
                for index in table.indexes:
                    index.create(conn, checkfirst=True)

    @staticmethod
    def _pragmas(dbapi_conn: Any, _record: Any) -> None:
        cur = dbapi_conn.cursor()
        cur.execute("PRAGMA journal_mode=WAL")
        # No fsync, not even at checkpoints: a simulator must survive its process being killed
        # (tests restart it), which WAL gives without syncing; losing the last writes to a power
        # cut does not matter here. Each checkpoint's syncs cost the bulk import measurable time.
        cur.execute("PRAGMA synchronous=OFF")
        # A bulk import dirties ~1,800 index pages at random (one per value row); the bigger the
        # WAL between checkpoints, the more often a page is copied back once for several
        # imports (at most ~200 MB of WAL; the latency benchmark's load step, bench/RESULTS.md).
        cur.execute("PRAGMA wal_autocheckpoint=50000")
        cur.execute("PRAGMA busy_timeout=30000")
        cur.execute("PRAGMA cache_size=-65536")
        cur.close()

    def close(self) -> None:
        self.writer.dispose()
        self.engine.dispose()

    # --- meta ------------------------------------------------------------------------
    def secret(self) -> str:
        with self.write_lock, self.writer.begin() as conn:
            found = conn.execute(sa.select(sim_meta.c.value).where(sim_meta.c.key == "jwt_secret")).scalar()
            if found:
                return found
            value = secrets.token_urlsafe(48)
            conn.execute(sa.insert(sim_meta).values(key="jwt_secret", value=value))
            return value

    # --- reads -----------------------------------------------------------------------
    def get(self, card_id: int) -> CardRow | None:
        with self.engine.connect() as conn:
            r = conn.execute(sa.select(cards).where(cards.c.id == card_id)).first()
        return _row(r) if r else None

    def get_many(self, card_ids: Iterable[int]) -> dict[int, CardRow]:
        """id -> card for the ids that exist (one query per 500 ids)."""
        wanted = sorted(set(card_ids))
        out: dict[int, CardRow] = {}
        with self.engine.connect() as conn:
            for start in range(0, len(wanted), 500):
                for r in conn.execute(sa.select(cards).where(cards.c.id.in_(wanted[start : start + 500]))):
                    out[r.id] = _row(r)
        return out

    def counts(self) -> dict[str, dict[str, int]]:
        q = sa.select(cards.c.template, cards.c.deleted, sa.func.count()).group_by(cards.c.template, cards.c.deleted)
        out: dict[str, dict[str, int]] = {}
        with self.engine.connect() as conn:
            for template, deleted, n in conn.execute(q):
                out.setdefault(template, {"active": 0, "trash": 0})["trash" if deleted else "active"] = n
        return out

    def page(self, template: str, limit: int, before_id: int | None,
             cond: sa.ColumnElement[bool] | None, *, trashed: bool = False) -> list[CardRow]:
        """Up to ``limit`` matching cards below ``before_id``, newest first; trashed ones too
        when ``trashed`` (the ``list_trashed`` knob)."""
        q = sa.select(cards).where(cards.c.template == template)
        if not trashed:
            q = q.where(cards.c.deleted.is_(False))
        if before_id:
            q = q.where(cards.c.id < before_id)
        if cond is not None:
            q = q.where(cond)
        q = q.order_by(cards.c.id.desc()).limit(limit)
        with self.engine.connect() as conn:
            return [_row(r) for r in conn.execute(q)]

    def iter_batches(self, template: str, cond: sa.ColumnElement[bool] | None,
                     batch: int = 1000, *, trashed: bool = False) -> Iterator[list[CardRow]]:
        """Every matching card, newest first, in keyset batches (non-empty lists)."""
        before: int | None = None
        while True:
            rows = self.page(template, batch, before, cond, trashed=trashed)
            if rows:
                yield rows
            if len(rows) < batch:
                return
            before = rows[-1].id

    def count_matching(self, template: str, cond: sa.ColumnElement[bool] | None) -> int:
        q = sa.select(sa.func.count()).select_from(cards).where(
            cards.c.template == template, cards.c.deleted.is_(False))
        if cond is not None:
            q = q.where(cond)
        with self.engine.connect() as conn:
            return int(conn.execute(q).scalar() or 0)

    def estimate_values(self, *conditions: sa.ColumnElement[bool], cap: int = 5001) -> int:
        """How many card_values rows satisfy the conditions, counting at most ``cap``."""
        inner = sa.select(sa.literal(1)).select_from(card_values).where(*conditions).limit(cap).subquery()
        with self.engine.connect() as conn:
            return int(conn.execute(sa.select(sa.func.count()).select_from(inner)).scalar() or 0)

    def brief(self, ids: Iterable[int]) -> dict[int, tuple[str, str, bool]]:
        """id -> (name, template, deleted) for the ids that exist."""
        wanted = sorted(set(ids))
        out: dict[int, tuple[str, str, bool]] = {}
        with self.engine.connect() as conn:
            for start in range(0, len(wanted), 500):
                chunk = wanted[start : start + 500]
                q = sa.select(cards.c.id, cards.c.name, cards.c.template, cards.c.deleted).where(cards.c.id.in_(chunk))
                for r in conn.execute(q):
                    out[r.id] = (r.name, r.template, bool(r.deleted))
        return out

    def list_raw(self, template: str | None, limit: int, offset: int) -> list[CardRow]:
        q = sa.select(cards)
        if template:
            q = q.where(cards.c.template == template)
        q = q.order_by(cards.c.id.desc()).limit(limit).offset(offset)
        with self.engine.connect() as conn:
            return [_row(r) for r in conn.execute(q)]

    # --- writes ----------------------------------------------------------------------
    def _index_rows(self, card_id: int, template: str, data: dict[str, list[dict[str, Any]]]) -> list[tuple[Any, ...]]:
        """card_values rows (card_id, template, attr, value) of one card's filterable values:
        the text an EQL comparison sees -- a reference's card id, a float's repr, any other
        value as str; worklogs, links and empty values are not indexed."""
        attrs = self.catalog.templates[template].attributes
        rows = []
        for code, elements in data.items():
            attr = attrs.get(code)
            if attr is None or attr.type not in INDEXED_TYPES:
                continue
            if attr.type == "reference":
                rows += [(card_id, template, code, el["dataCardId"]) for el in elements]
                continue
            for el in elements:
                value = el.get("value")
                if value is not None:
                    rows.append((card_id, template, code, repr(value) if isinstance(value, float) else str(value)))
        return rows

    @staticmethod
    def _next_ids(conn: sa.Connection, n: int) -> list[int]:
        """Ids for ``n`` new cards, above any card that ever existed (AUTOINCREMENT's
        ``sqlite_sequence``, which SQLite raises past explicit ids itself). Called under
        ``write_lock`` inside the write transaction: no other writer can take them."""
        start = int(conn.exec_driver_sql(
            "SELECT COALESCE(MAX(seq), 0) FROM sqlite_sequence WHERE name = 'cards'").scalar() or 0)
        start = max(start, int(conn.execute(sa.select(sa.func.coalesce(sa.func.max(cards.c.id), 0))).scalar()))
        return list(range(start + 1, start + 1 + n))

    def _insert_cards(self, conn: sa.Connection, rows: list[dict[str, Any]], now: str) -> list[int]:
        """Insert {template, folder, name, data} rows with new ids (returned in order), their
        card_values rows included."""
        if not rows:
            return []
        ids = self._next_ids(conn, len(rows))
        conn.exec_driver_sql(_INSERT_CARD, [(cid, r["template"], r["folder"], r["name"], json.dumps(r["data"]), now, now)
                                            for cid, r in zip(ids, rows)])
        index_rows: list[tuple[Any, ...]] = []
        for cid, r in zip(ids, rows):
            index_rows += self._index_rows(cid, r["template"], r["data"])
        _insert_index_rows(conn, index_rows)
        return ids

    def save(self, creates: list[dict[str, Any]], updates: list[dict[str, Any]]) -> list[int]:
        """One transaction. creates: {template, folder, name, data}; updates: {id, folder, name, data}.
        Returns the new ids of ``creates`` in order."""
        now = now_iso()
        with self.write_lock, self.writer.begin() as conn:
            new_ids = self._insert_cards(conn, creates, now)
            if updates:
                conn.exec_driver_sql(_UPDATE_CARD, [(u["folder"], u["name"], json.dumps(u["data"]), now, u["id"])
                                                    for u in updates])
                ids = [u["id"] for u in updates]
                for start in range(0, len(ids), 500):
                    conn.execute(sa.delete(card_values).where(card_values.c.card_id.in_(ids[start : start + 500])))
                index_rows: list[tuple[Any, ...]] = []
                for u in updates:
                    index_rows += self._index_rows(u["id"], u["template"], u["data"])
                _insert_index_rows(conn, index_rows)
        return new_ids

    def trash(self, card_id: int) -> bool:
        """Move to the trash can; False if it already was there."""
        with self.write_lock, self.writer.begin() as conn:
            res = conn.execute(sa.update(cards).where(cards.c.id == card_id, cards.c.deleted.is_(False))
                               .values(deleted=True, updated_at=now_iso()))
            return res.rowcount == 1

    def wipe(self) -> None:
        with self.write_lock, self.writer.begin() as conn:
            conn.execute(sa.delete(card_values))
            conn.execute(sa.delete(cards))

    def bulk_insert(self, rows: list[dict[str, Any]]) -> list[int]:
        """Seeding: rows {template, folder, name, data}; ids assigned in order."""
        with self.write_lock, self.writer.begin() as conn:
            return self._insert_cards(conn, rows, now_iso())
