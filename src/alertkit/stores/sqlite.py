"""The SQLite outbox: pending deliveries and the delivery log in one local file.

- stdlib :mod:`sqlite3`, WAL journal: a committed write survives the process
  being killed (``synchronous=NORMAL``; pass ``synchronous="FULL"`` to also
  survive a power cut, at some cost);
- one connection per store, used from worker threads through
  :func:`anyio.to_thread.run_sync` (never blocking the event loop), one
  thread at a time (a capacity limiter) and under a lock (so that a store
  shared by two event loops or threads is still safe);
- a schema version table: a file written by a newer alertkit is refused
  rather than misread;
- a row that cannot be read back is moved, raw, into ``outbox_corrupt`` and
  reported: never silently dropped.
"""

from __future__ import annotations

import json
import os
import sqlite3
import threading
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from types import TracebackType
from typing import Any, Literal, TypeVar

import anyio
import anyio.to_thread

from alertkit._errors import OutboxError
from alertkit.notify.schema import notification_from_json, notification_to_json
from alertkit.runtime.delivery_log import AttemptOutcome, AttemptRecord

from .outbox import CorruptEntry, EntryId, LoadResult, OutboxEntry

__all__ = ["SqliteOutbox"]

SCHEMA_COMPONENT = "outbox"
SCHEMA_VERSION = 1

_T = TypeVar("_T")

_SCHEMA = """
CREATE TABLE IF NOT EXISTS alertkit_schema (
    component TEXT PRIMARY KEY,
    version INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS outbox (
    receiver TEXT NOT NULL,
    notifier TEXT NOT NULL,
    idempotency_key TEXT NOT NULL,
    enqueued_at REAL NOT NULL,
    next_attempt_at REAL NOT NULL,
    attempts INTEGER NOT NULL DEFAULT 0,
    last_error TEXT NOT NULL DEFAULT '',
    notification TEXT NOT NULL,
    PRIMARY KEY (receiver, notifier, idempotency_key)
);
CREATE TABLE IF NOT EXISTS outbox_corrupt (
    id INTEGER PRIMARY KEY,
    receiver TEXT,
    notifier TEXT,
    idempotency_key TEXT,
    row_json TEXT NOT NULL,
    error TEXT NOT NULL,
    found_at REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS delivery_log (
    seq INTEGER PRIMARY KEY,
    at REAL NOT NULL,
    receiver TEXT NOT NULL,
    notifier TEXT NOT NULL,
    idempotency_key TEXT NOT NULL,
    attempt INTEGER NOT NULL,
    outcome TEXT NOT NULL,
    status_code INTEGER,
    error TEXT NOT NULL DEFAULT '',
    latency REAL
);
CREATE INDEX IF NOT EXISTS delivery_log_receiver_at ON delivery_log (receiver, at);
CREATE INDEX IF NOT EXISTS delivery_log_key ON delivery_log (idempotency_key);
CREATE INDEX IF NOT EXISTS delivery_log_at ON delivery_log (at);
"""


class SqliteOutbox:
    """A durable :class:`~alertkit.Outbox` (and delivery-log store) in a SQLite file.

    The file is opened on first use (in a worker thread). ``log_retention``
    bounds the persisted delivery log (oldest records are pruned).
    ``async with SqliteOutbox(path) as box: ...`` closes it at the end.
    """

    def __init__(
        self,
        path: str | os.PathLike[str],
        *,
        log_retention: int = 100_000,
        synchronous: Literal["NORMAL", "FULL"] = "NORMAL",
        busy_timeout: float = 5.0,
    ) -> None:
        if synchronous not in ("NORMAL", "FULL"):
            raise OutboxError(f"synchronous must be 'NORMAL' or 'FULL', got {synchronous!r}")
        if isinstance(log_retention, bool) or not isinstance(log_retention, int) or \
                log_retention < 1:
            raise OutboxError(f"log_retention must be an integer >= 1, got {log_retention!r}")
        self.path = Path(path)
        self.log_retention = log_retention
        self._synchronous = synchronous
        self._busy_timeout = busy_timeout
        self._conn: sqlite3.Connection | None = None
        self._lock = threading.Lock()
        self._limiter = anyio.CapacityLimiter(1)
        self._closed = False
        self._appended_since_prune = 0

    # -- plumbing ------------------------------------------------------------------------

    async def _run(self, fn: Callable[[sqlite3.Connection], _T]) -> _T:
        if self._closed:
            raise OutboxError(f"outbox {self.path} is closed")
        return await anyio.to_thread.run_sync(self._locked, fn, limiter=self._limiter)

    def _locked(self, fn: Callable[[sqlite3.Connection], _T]) -> _T:
        with self._lock:
            if self._closed:
                raise OutboxError(f"outbox {self.path} is closed")
            conn = self._conn if self._conn is not None else self._open()
            try:
                return fn(conn)
            except sqlite3.Error as exc:
                if conn.in_transaction:
                    conn.rollback()
                raise OutboxError(f"outbox {self.path}: {type(exc).__name__}: {exc}") from None

    def _open(self) -> sqlite3.Connection:
        try:
            conn = sqlite3.connect(
                self.path, timeout=self._busy_timeout, isolation_level=None,
                check_same_thread=False,  # used from anyio's worker threads, under self._lock
            )
        except sqlite3.Error as exc:
            raise OutboxError(f"outbox {self.path} cannot be opened: {exc}") from None
        try:
            conn.execute("PRAGMA journal_mode=WAL")
            conn.execute(f"PRAGMA synchronous={self._synchronous}")
            conn.execute("BEGIN IMMEDIATE")
            for statement in _SCHEMA.split(";"):  # executescript() would COMMIT early
                if statement.strip():
                    conn.execute(statement)
            row = conn.execute(
                "SELECT version FROM alertkit_schema WHERE component = ?", (SCHEMA_COMPONENT,)
            ).fetchone()
            if row is None:
                conn.execute("INSERT INTO alertkit_schema VALUES (?, ?)",
                             (SCHEMA_COMPONENT, SCHEMA_VERSION))
            elif row[0] != SCHEMA_VERSION:
                raise OutboxError(
                    f"outbox {self.path} has schema version {row[0]!r}; this alertkit reads "
                    f"version {SCHEMA_VERSION} (was it written by a newer alertkit?)"
                )
            conn.execute("COMMIT")
        except sqlite3.DatabaseError as exc:
            conn.close()
            raise OutboxError(
                f"outbox {self.path} is not a usable SQLite database: {exc}"
            ) from None
        except BaseException:
            conn.close()
            raise
        self._conn = conn
        return conn

    @staticmethod
    def _transaction(conn: sqlite3.Connection, body: Callable[[], _T]) -> _T:
        conn.execute("BEGIN IMMEDIATE")
        try:
            result = body()
        except BaseException:
            conn.rollback()
            raise
        conn.execute("COMMIT")
        return result

    # -- Outbox --------------------------------------------------------------------------

    async def add(self, entries: Sequence[OutboxEntry]) -> list[bool]:
        rows = [
            (e.receiver, e.notifier, e.notification.idempotency_key, e.enqueued_at,
             e.next_attempt_at, e.attempts, e.last_error, notification_to_json(e.notification))
            for e in entries
        ]

        def work(conn: sqlite3.Connection) -> list[bool]:
            def body() -> list[bool]:
                added = []
                for row in rows:
                    cur = conn.execute(
                        "INSERT OR IGNORE INTO outbox (receiver, notifier, idempotency_key, "
                        "enqueued_at, next_attempt_at, attempts, last_error, notification) "
                        "VALUES (?, ?, ?, ?, ?, ?, ?, ?)", row)
                    added.append(cur.rowcount == 1)
                return added

            return self._transaction(conn, body)

        return await self._run(work)

    async def update(self, entry: OutboxEntry) -> None:
        params = (entry.next_attempt_at, entry.attempts, entry.last_error, *entry.id)

        def work(conn: sqlite3.Connection) -> None:
            conn.execute(
                "UPDATE outbox SET next_attempt_at = ?, attempts = ?, last_error = ? "
                "WHERE receiver = ? AND notifier = ? AND idempotency_key = ?", params)

        await self._run(work)

    async def remove(self, ids: Sequence[EntryId]) -> None:
        if not ids:
            return
        params = list(ids)

        def work(conn: sqlite3.Connection) -> None:
            self._transaction(conn, lambda: conn.executemany(
                "DELETE FROM outbox WHERE receiver = ? AND notifier = ? AND idempotency_key = ?",
                params))

        await self._run(work)

    async def load(self) -> LoadResult:
        return await self._run(self._load)

    def _load(self, conn: sqlite3.Connection) -> LoadResult:
        def body() -> LoadResult:
            entries: list[OutboxEntry] = []
            corrupt: list[CorruptEntry] = []
            cur = conn.execute(
                "SELECT rowid, receiver, notifier, idempotency_key, enqueued_at, "
                "next_attempt_at, attempts, last_error, notification FROM outbox "
                "ORDER BY next_attempt_at")
            for row in cur.fetchall():
                rowid, receiver, notifier, key = row[0], row[1], row[2], row[3]
                try:
                    entries.append(_entry(row))
                except OutboxError as exc:
                    label = f"outbox row {receiver!r}/{notifier!r}/{key!r}"
                    error = f"{label}: {exc}"
                    raw = json.dumps([_jsonable(v) for v in row[1:]], ensure_ascii=False)
                    conn.execute(
                        "INSERT INTO outbox_corrupt (receiver, notifier, idempotency_key, "
                        "row_json, error, found_at) VALUES (?, ?, ?, ?, ?, ?)",
                        (_text(receiver), _text(notifier), _text(key), raw, error, time.time()))
                    conn.execute("DELETE FROM outbox WHERE rowid = ?", (rowid,))
                    corrupt.append(CorruptEntry(label, error))
            return LoadResult(entries, corrupt)

        return self._transaction(conn, body)

    async def corrupt_rows(self) -> list[dict[str, Any]]:
        """The rows set aside by :meth:`load`, raw, for inspection or repair."""
        def work(conn: sqlite3.Connection) -> list[dict[str, Any]]:
            cur = conn.execute("SELECT id, receiver, notifier, idempotency_key, row_json, "
                               "error, found_at FROM outbox_corrupt ORDER BY id")
            names = [d[0] for d in cur.description]
            return [dict(zip(names, row, strict=True)) for row in cur.fetchall()]

        return await self._run(work)

    async def aclose(self) -> None:
        if self._closed:
            return

        def work() -> None:
            with self._lock:
                self._closed = True
                if self._conn is not None:
                    self._conn.close()
                    self._conn = None

        with anyio.CancelScope(shield=True):
            await anyio.to_thread.run_sync(work, limiter=self._limiter)

    async def __aenter__(self) -> SqliteOutbox:
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()

    # -- delivery log --------------------------------------------------------------------

    async def append_attempts(self, records: Sequence[AttemptRecord]) -> None:
        """Persist delivery-log records (pruning the oldest past ``log_retention``)."""
        if not records:
            return
        rows = [(r.at, r.receiver, r.notifier, r.idempotency_key, r.attempt, r.outcome.value,
                 r.status_code, r.error, r.latency) for r in records]

        def work(conn: sqlite3.Connection) -> None:
            def body() -> None:
                conn.executemany(
                    "INSERT INTO delivery_log (at, receiver, notifier, idempotency_key, attempt, "
                    "outcome, status_code, error, latency) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                    rows)
                self._appended_since_prune += len(rows)
                # Prune now and then, not on every write: a DELETE scans an index range.
                if self._appended_since_prune >= max(1, self.log_retention // 10):
                    self._appended_since_prune = 0
                    conn.execute(
                        "DELETE FROM delivery_log WHERE seq <= "
                        "(SELECT MAX(seq) FROM delivery_log) - ?", (self.log_retention,))

            self._transaction(conn, body)

        await self._run(work)

    async def query_attempts(
        self,
        *,
        receiver: str | None = None,
        notifier: str | None = None,
        idempotency_key: str | None = None,
        since: float | None = None,
        until: float | None = None,
        outcome: AttemptOutcome | str | None = None,
        limit: int = 1000,
    ) -> list[AttemptRecord]:
        """Persisted delivery-log records matching every given filter, oldest first.

        ``since`` is inclusive, ``until`` exclusive; ``limit`` keeps the newest.
        """
        where: list[str] = []
        params: list[Any] = []
        for column, value in (("receiver", receiver), ("notifier", notifier),
                              ("idempotency_key", idempotency_key)):
            if value is not None:
                where.append(f"{column} = ?")
                params.append(value)
        if since is not None:
            where.append("at >= ?")
            params.append(since)
        if until is not None:
            where.append("at < ?")
            params.append(until)
        if outcome is not None:
            where.append("outcome = ?")
            params.append(AttemptOutcome(outcome).value)
        sql = ("SELECT at, receiver, notifier, idempotency_key, attempt, outcome, status_code, "
               "error, latency FROM delivery_log")
        if where:
            sql += " WHERE " + " AND ".join(where)
        sql += " ORDER BY seq DESC LIMIT ?"
        params.append(limit)

        def work(conn: sqlite3.Connection) -> list[AttemptRecord]:
            return [
                AttemptRecord(at, rcv, ntf, key, attempt, AttemptOutcome(out), code, err, lat)
                for at, rcv, ntf, key, attempt, out, code, err, lat
                in conn.execute(sql, params).fetchall()
            ][::-1]

        return await self._run(work)

    def __repr__(self) -> str:
        return f"SqliteOutbox({str(self.path)!r})"


def _text(value: object) -> str | None:
    return value if isinstance(value, str) else None


def _jsonable(value: object) -> object:
    if isinstance(value, bytes):
        return value.decode("utf-8", "replace")
    return value


def _entry(row: tuple[Any, ...]) -> OutboxEntry:
    _, receiver, notifier, key, enqueued_at, next_at, attempts, last_error, data = row
    for name, value in (("receiver", receiver), ("notifier", notifier),
                        ("idempotency_key", key), ("last_error", last_error)):
        if not isinstance(value, str):
            raise OutboxError(f"{name}: expected text, got {value!r}")
    for name, value in (("enqueued_at", enqueued_at), ("next_attempt_at", next_at)):
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise OutboxError(f"{name}: expected a number, got {value!r}")
    if isinstance(attempts, bool) or not isinstance(attempts, int) or attempts < 0:
        raise OutboxError(f"attempts: expected a non-negative integer, got {attempts!r}")
    if not isinstance(data, str | bytes):
        raise OutboxError(f"notification: expected JSON text, got {type(data).__name__}")
    notification = notification_from_json(data)
    if notification.receiver != receiver or notification.idempotency_key != key:
        raise OutboxError("the stored notification does not match its row's receiver and key")
    return OutboxEntry(notification, notifier, float(enqueued_at), float(next_at),
                       attempts, last_error)
