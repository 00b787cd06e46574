"""The SQLite state store: everything an Engine keeps, in one local file.

It builds on :class:`~alertkit.SqliteOutbox` (same file, same connection, same
worker-thread discipline: stdlib :mod:`sqlite3`, WAL journal, work off the event
loop through :func:`anyio.to_thread.run_sync`) and adds the snapshot, the
versioned records, the audit trail and outbox claims (so that several
processes on one host can share the file).

The store's schema is versioned on its own (component ``"store"`` of the
``alertkit_schema`` table) and upgraded in place by :data:`MIGRATIONS`, an
ordered list of steps run in one transaction when an older file is opened;
a file from a newer alertkit is refused.
"""

from __future__ import annotations

import os
import sqlite3
import time
from collections.abc import Callable, Sequence
from typing import Any, Literal, TypeVar

from alertkit._errors import OutboxError, StoreConflictError, StoreError

from .base import (
    Versioned,
    audit_fields,
    check_audit_query,
    check_claim,
    check_key,
    check_kind,
    check_snapshot,
    check_version,
    decode_doc,
    encode_doc,
)
from .outbox import EntryId, OutboxEntry
from .sqlite import SqliteOutbox, _entry

__all__ = ["MIGRATIONS", "SCHEMA_VERSION", "SqliteClaimingOutbox", "SqliteStore"]

_T = TypeVar("_T")

COMPONENT = "store"

MIGRATIONS: list[tuple[str, ...]] = [
    # 1: snapshot, versioned records, audit trail
    (
        "CREATE TABLE snapshot (id INTEGER PRIMARY KEY CHECK (id = 1), data BLOB NOT NULL, "
        "saved_at REAL NOT NULL)",
        "CREATE TABLE records (kind TEXT NOT NULL, key TEXT NOT NULL, version INTEGER NOT NULL, "
        "doc TEXT NOT NULL, PRIMARY KEY (kind, key))",
        "CREATE TABLE audit (seq INTEGER PRIMARY KEY AUTOINCREMENT, at REAL, key TEXT, "
        "rule TEXT, doc TEXT NOT NULL)",
        "CREATE INDEX audit_key ON audit (key, seq)",
        "CREATE INDEX audit_at ON audit (at)",
    ),
    # 2: outbox claims (several processes on one file), audit by rule
    (
        "ALTER TABLE outbox ADD COLUMN claimed_by TEXT",
        "ALTER TABLE outbox ADD COLUMN claimed_until REAL",
        "CREATE INDEX audit_rule ON audit (rule, seq)",
    ),
    # 3: a write counter per record kind (cheap polling for other processes' changes)
    (
        "CREATE TABLE generations (kind TEXT PRIMARY KEY, gen INTEGER NOT NULL)",
        "INSERT INTO generations SELECT kind, COUNT(*) FROM records GROUP BY kind",
    ),
]
"""Step ``i`` upgrades a file from schema version ``i`` to ``i + 1``. Append, never edit."""

SCHEMA_VERSION = len(MIGRATIONS)

_BUMP = ("INSERT INTO generations (kind, gen) VALUES (?, 1) "
         "ON CONFLICT (kind) DO UPDATE SET gen = gen + 1")


def migrate(conn: sqlite3.Connection, path: object, target: int | None = None) -> int:
    """Bring the store's tables to ``target`` (the newest version by default) inside the
    caller's transaction; return the version found. Refuses a file newer than this
    alertkit."""
    newest = len(MIGRATIONS)
    target = newest if target is None else target
    row = conn.execute("SELECT version FROM alertkit_schema WHERE component = ?",
                       (COMPONENT,)).fetchone()
    found = 0 if row is None else row[0]
    if not isinstance(found, int) or found < 0:
        raise StoreError(f"store {path}: schema version {found!r} is not valid")
    if found > newest:
        raise StoreError(f"store {path} has schema version {found}; this alertkit reads up to "
                         f"version {newest} (was it written by a newer alertkit?)")
    for step in MIGRATIONS[found:target]:
        for statement in step:
            conn.execute(statement)
    if found < target:
        conn.execute("INSERT OR REPLACE INTO alertkit_schema VALUES (?, ?)", (COMPONENT, target))
    return found


class SqliteClaimingOutbox(SqliteOutbox):
    """A :class:`~alertkit.SqliteOutbox` whose entries can be claimed by one process at a
    time (the :class:`~alertkit.stores.base.ClaimingOutbox` API); it also opens and
    migrates the store tables of :class:`SqliteStore`."""

    def _open(self) -> sqlite3.Connection:
        conn = super()._open()
        try:
            self._transaction(conn, lambda: migrate(conn, self.path))
        except sqlite3.DatabaseError as exc:
            conn.close()
            self._conn = None
            raise StoreError(f"store {self.path} cannot be migrated: {exc}") from None
        except BaseException:
            conn.close()
            self._conn = None
            raise
        return conn

    async def run(self, fn: Callable[[sqlite3.Connection], _T]) -> _T:
        """Run ``fn(connection)`` in the store's worker thread (errors become StoreError)."""
        try:
            return await self._run(fn)
        except OutboxError as exc:
            raise StoreError(str(exc)) from None

    async def claim(self, owner: str, lease_seconds: float, limit: int, *,
                    now: float, ids: Sequence[EntryId] | None = None,
                    receivers: Sequence[str] | None = None) -> list[OutboxEntry]:
        check_claim(owner, lease_seconds, limit)
        wanted = None if ids is None else set(ids)
        names = None if receivers is None else set(receivers)
        until = now + lease_seconds

        def work(conn: sqlite3.Connection) -> list[OutboxEntry]:
            def body() -> list[OutboxEntry]:
                rows = conn.execute(
                    "SELECT rowid, receiver, notifier, idempotency_key, enqueued_at, "
                    "next_attempt_at, attempts, last_error, notification FROM outbox "
                    "WHERE claimed_by IS NULL OR claimed_by = ? OR claimed_until <= ? "
                    "ORDER BY next_attempt_at", (owner, now)).fetchall()
                got: list[OutboxEntry] = []
                for row in rows:
                    if len(got) >= limit:
                        break
                    if (wanted is not None and (row[1], row[2], row[3]) not in wanted) or \
                            (names is not None and row[1] not in names):
                        continue
                    try:
                        entry = _entry(row)
                    except OutboxError:
                        continue  # load() sets it aside; never claimed, never sent
                    conn.execute("UPDATE outbox SET claimed_by = ?, claimed_until = ? "
                                 "WHERE rowid = ?", (owner, until, row[0]))
                    got.append(entry)
                return got

            return self._transaction(conn, body)

        return await self.run(work)

    async def renew(self, owner: str, ids: Sequence[EntryId], lease_seconds: float, *,
                    now: float) -> list[EntryId]:
        check_claim(owner, lease_seconds)
        until = now + lease_seconds
        wanted = list(ids)

        def work(conn: sqlite3.Connection) -> list[EntryId]:
            def body() -> list[EntryId]:
                kept = []
                for entry_id in wanted:
                    cur = conn.execute(
                        "UPDATE outbox SET claimed_until = ? WHERE claimed_by = ? AND "
                        "receiver = ? AND notifier = ? AND idempotency_key = ?",
                        (until, owner, *entry_id))
                    if cur.rowcount == 1:
                        kept.append(entry_id)
                return kept

            return self._transaction(conn, body)

        return await self.run(work)

    async def release(self, owner: str, ids: Sequence[EntryId]) -> None:
        check_claim(owner, 1)
        params = [(owner, *entry_id) for entry_id in ids]
        if not params:
            return

        def work(conn: sqlite3.Connection) -> None:
            self._transaction(conn, lambda: conn.executemany(
                "UPDATE outbox SET claimed_by = NULL, claimed_until = NULL WHERE claimed_by = ? "
                "AND receiver = ? AND notifier = ? AND idempotency_key = ?", params))

        await self.run(work)

    def __repr__(self) -> str:
        return f"SqliteClaimingOutbox({str(self.path)!r})"


class SqliteStore:
    """A durable :class:`~alertkit.stores.base.StateStore` in a SQLite file.

    Every method is durable when it returns (a committed WAL transaction;
    ``synchronous="FULL"`` to also survive a power cut). Several processes may
    open the same file: writes are serialised by SQLite's lock
    (``busy_timeout`` seconds of waiting), records use compare-and-set, and the
    outbox's claims keep one delivery with one process.

    >>> import anyio, tempfile, os
    >>> async def demo(path: str) -> int:
    ...     async with SqliteStore(path) as store:
    ...         return await store.put_record("silence", "s1", {"ends_at": 60.0},
    ...                                       expected_version=None)
    >>> with tempfile.TemporaryDirectory() as d:
    ...     anyio.run(demo, os.path.join(d, "state.db"))
    1
    """

    def __init__(
        self,
        path: str | os.PathLike[str],
        *,
        log_retention: int = 100_000,
        synchronous: Literal["NORMAL", "FULL"] = "NORMAL",
        busy_timeout: float = 5.0,
    ) -> None:
        try:
            self.outbox = SqliteClaimingOutbox(path, log_retention=log_retention,
                                               synchronous=synchronous,
                                               busy_timeout=busy_timeout)
        except OutboxError as exc:
            raise StoreError(str(exc)) from None
        self.path = self.outbox.path

    async def schema_version(self) -> int:
        """The store schema version of the file (opening it migrates it)."""
        def work(conn: sqlite3.Connection) -> int:
            row = conn.execute("SELECT version FROM alertkit_schema WHERE component = ?",
                               (COMPONENT,)).fetchone()
            return int(row[0])

        return await self.outbox.run(work)

    async def load_snapshot(self) -> bytes | None:
        def work(conn: sqlite3.Connection) -> bytes | None:
            row = conn.execute("SELECT data FROM snapshot WHERE id = 1").fetchone()
            return None if row is None else bytes(row[0])

        return await self.outbox.run(work)

    async def save_snapshot(self, data: bytes) -> None:
        blob = check_snapshot(data)
        at = time.time()

        def work(conn: sqlite3.Connection) -> None:
            conn.execute("INSERT OR REPLACE INTO snapshot (id, data, saved_at) VALUES (1, ?, ?)",
                         (blob, at))

        await self.outbox.run(work)

    async def get_record(self, kind: str, key: str) -> Versioned | None:
        check_kind(kind)
        check_key(key)

        def work(conn: sqlite3.Connection) -> tuple[str, int] | None:
            row = conn.execute("SELECT doc, version FROM records WHERE kind = ? AND key = ?",
                               (kind, key)).fetchone()
            return None if row is None else (row[0], row[1])

        found = await self.outbox.run(work)
        if found is None:
            return None
        return Versioned(decode_doc(found[0], f"{kind} record {key!r}"), found[1])

    async def put_record(self, kind: str, key: str, doc: dict[str, Any], *,
                         expected_version: int | None) -> int:
        check_kind(kind)
        check_key(key)
        expected = check_version(expected_version)
        text = encode_doc(doc)

        def work(conn: sqlite3.Connection) -> int:
            def body() -> int:
                row = conn.execute("SELECT version FROM records WHERE kind = ? AND key = ?",
                                   (kind, key)).fetchone()
                actual = None if row is None else row[0]
                if actual != expected:
                    raise StoreConflictError(kind, key, expected, actual)
                version = 1 if actual is None else actual + 1
                conn.execute("INSERT OR REPLACE INTO records (kind, key, version, doc) "
                             "VALUES (?, ?, ?, ?)", (kind, key, version, text))
                conn.execute(_BUMP, (kind,))
                return version

            return SqliteOutbox._transaction(conn, body)

        return await self.outbox.run(work)

    async def delete_record(self, kind: str, key: str) -> None:
        check_kind(kind)
        check_key(key)

        def work(conn: sqlite3.Connection) -> None:
            def body() -> None:
                cur = conn.execute("DELETE FROM records WHERE kind = ? AND key = ?",
                                   (kind, key))
                if cur.rowcount:
                    conn.execute(_BUMP, (kind,))

            SqliteOutbox._transaction(conn, body)

        await self.outbox.run(work)

    async def generation(self, kind: str) -> int:
        check_kind(kind)

        def work(conn: sqlite3.Connection) -> int:
            row = conn.execute("SELECT gen FROM generations WHERE kind = ?", (kind,)).fetchone()
            return 0 if row is None else int(row[0])

        return await self.outbox.run(work)

    async def records(self, kind: str) -> dict[str, Versioned]:
        check_kind(kind)

        def work(conn: sqlite3.Connection) -> list[tuple[str, str, int]]:
            return conn.execute("SELECT key, doc, version FROM records WHERE kind = ?",
                                (kind,)).fetchall()

        rows = await self.outbox.run(work)
        return {key: Versioned(decode_doc(doc, f"{kind} record {key!r}"), version)
                for key, doc, version in rows}

    async def append_audit(self, records: Sequence[dict[str, Any]]) -> list[int]:
        rows = []
        for doc in records:
            key, rule, at = audit_fields(doc)
            rows.append((at, key, rule, encode_doc(doc, "audit")))
        if not rows:
            return []

        def work(conn: sqlite3.Connection) -> list[int]:
            def body() -> list[int]:
                seqs = []
                for row in rows:
                    cur = conn.execute("INSERT INTO audit (at, key, rule, doc) "
                                       "VALUES (?, ?, ?, ?)", row)
                    assert cur.lastrowid is not None
                    seqs.append(cur.lastrowid)
                return seqs

            return SqliteOutbox._transaction(conn, body)

        return await self.outbox.run(work)

    async def audit(self, *, key: str | None = None, rule: str | None = None,
                    since: float | None = None, until: float | None = None,
                    after_seq: int | None = None, limit: int | None = None) -> list[dict[str, Any]]:
        check_audit_query(since, until, after_seq, limit)
        where: list[str] = []
        params: list[Any] = []
        for clause, value in (("key = ?", key), ("rule = ?", rule), ("at >= ?", since),
                              ("at < ?", until), ("seq > ?", after_seq)):
            if value is not None:
                where.append(clause)
                params.append(value)
        sql = "SELECT seq, doc FROM audit"
        if where:
            sql += " WHERE " + " AND ".join(where)
        sql += " ORDER BY seq"
        if limit is not None:
            sql += " LIMIT ?"
            params.append(limit)

        def work(conn: sqlite3.Connection) -> list[tuple[int, str]]:
            return conn.execute(sql, params).fetchall()

        out = []
        for seq, text in await self.outbox.run(work):
            doc = decode_doc(text, f"audit record {seq}")
            doc["seq"] = seq
            out.append(doc)
        return out

    async def aclose(self) -> None:
        await self.outbox.aclose()

    async def __aenter__(self) -> SqliteStore:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    def __repr__(self) -> str:
        return f"SqliteStore({str(self.path)!r})"
