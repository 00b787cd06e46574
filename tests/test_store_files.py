"""What is particular to each durable store: SQLite schema migrations and bad files;
Redis URLs, secrets, corrupt entries, the asyncio-only client."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import anyio
import pytest

import redis_helpers
from alertkit._errors import StoreError
from alertkit.stores.outbox import OutboxEntry
from alertkit.stores.redis_store import RedisStore
from alertkit.stores.sqlite import SqliteOutbox
from alertkit.stores.sqlite_store import MIGRATIONS, SCHEMA_VERSION, SqliteStore, migrate
from delivery_helpers import many

redis_namespace = redis_helpers.redis_namespace  # a fixture
redis_url = redis_helpers.redis_url  # a fixture

pytestmark = pytest.mark.anyio


# -- SQLite ------------------------------------------------------------------------------------


async def make_version_1(path: Path) -> None:
    """A file as the first release of the store wrote it: outbox and store schema 1."""
    async with SqliteOutbox(path) as box:
        await box.add([OutboxEntry(n, "hook", 10.0, 10.0) for n in many(2)])
    with sqlite3.connect(path) as conn:
        conn.execute("BEGIN IMMEDIATE")
        migrate(conn, path, target=1)
        conn.execute("INSERT INTO records VALUES ('alert', 'fp1', 4, '{\"acked\":true}')")
        conn.execute("INSERT INTO audit (at, key, rule, doc) VALUES (5.0, 'fp1', 'R', "
                     "'{\"action\":\"ack\",\"at\":5.0,\"key\":\"fp1\",\"rule\":\"R\"}')")
        conn.execute("INSERT INTO snapshot VALUES (1, x'7b7d', 1.0)")
        conn.execute("COMMIT")
    conn.close()


async def test_a_version_1_file_is_migrated_in_place(tmp_path: Path) -> None:
    path = tmp_path / "v1.db"
    await make_version_1(path)
    with sqlite3.connect(path) as conn:
        cols = {row[1] for row in conn.execute("PRAGMA table_info(outbox)")}
        assert "claimed_by" not in cols
    conn.close()
    async with SqliteStore(path) as store:
        assert await store.schema_version() == SCHEMA_VERSION == len(MIGRATIONS) == 3
        # Everything written at version 1 is still there...
        rec = await store.get_record("alert", "fp1")
        assert rec is not None and rec.doc == {"acked": True} and rec.version == 4
        assert [d["action"] for d in await store.audit(rule="R")] == ["ack"]
        assert await store.load_snapshot() == b"{}"
        # ...and the later versions' features work on it: claims on the old outbox rows,
        # write counters (version 3 counts the records already there).
        assert await store.generation("alert") == 1
        await store.put_record("alert", "fp1", {}, expected_version=4)
        assert await store.generation("alert") == 2
        got = await store.outbox.claim("A", 30, 10, now=100.0)
        assert len(got) == 2
        assert await store.outbox.claim("B", 30, 10, now=101.0) == []
    async with SqliteStore(path) as store:  # opening again migrates nothing
        assert await store.schema_version() == 3
        assert await store.outbox.claim("B", 30, 10, now=101.0) == []


async def test_a_failed_migration_changes_nothing(tmp_path: Path,
                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "v1.db"
    await make_version_1(path)
    import alertkit.stores.sqlite_store as mod
    monkeypatch.setattr(mod, "MIGRATIONS", [*MIGRATIONS, ("CREATE TABLE broken (",)])
    monkeypatch.setattr(mod, "SCHEMA_VERSION", 4)
    with pytest.raises(StoreError, match="cannot be migrated"):
        async with SqliteStore(path) as store:
            await store.load_snapshot()
    monkeypatch.undo()
    with sqlite3.connect(path) as conn:  # still version 1: steps 2 and 3 were rolled back
        assert conn.execute("SELECT version FROM alertkit_schema WHERE component='store'"
                            ).fetchone() == (1,)
        cols = {row[1] for row in conn.execute("PRAGMA table_info(outbox)")}
        assert "claimed_by" not in cols
    conn.close()
    async with SqliteStore(path) as store:
        assert await store.schema_version() == 3


async def test_a_newer_file_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "new.db"
    async with SqliteStore(path) as store:
        await store.save_snapshot(b"x")
    with sqlite3.connect(path) as conn:
        conn.execute("UPDATE alertkit_schema SET version = 99 WHERE component = 'store'")
    conn.close()
    with pytest.raises(StoreError, match="schema version 99.*newer alertkit"):
        async with SqliteStore(path) as store:
            await store.load_snapshot()


async def test_not_a_database(tmp_path: Path) -> None:
    path = tmp_path / "junk.db"
    path.write_bytes(b"this is not sqlite" * 100)
    with pytest.raises(StoreError, match="not a usable SQLite database"):
        async with SqliteStore(path) as store:
            await store.load_snapshot()
    with pytest.raises(StoreError, match="cannot be opened"):
        async with SqliteStore(tmp_path / "no" / "such" / "dir.db") as store:
            await store.load_snapshot()


async def test_bad_options() -> None:
    with pytest.raises(StoreError, match="synchronous"):
        SqliteStore("x.db", synchronous="OFF")  # type: ignore[arg-type]
    with pytest.raises(StoreError, match="log_retention"):
        SqliteStore("x.db", log_retention=0)


async def test_corrupt_record_is_reported(tmp_path: Path) -> None:
    path = tmp_path / "c.db"
    async with SqliteStore(path) as store:
        await store.put_record("alert", "ok", {"a": 1}, expected_version=None)
    with sqlite3.connect(path) as conn:
        conn.execute("INSERT INTO records VALUES ('alert', 'bad', 1, '{not json')")
    conn.close()
    async with SqliteStore(path) as store:
        with pytest.raises(StoreError, match="alert record 'bad' is corrupt"):
            await store.records("alert")
        rec = await store.get_record("alert", "ok")
        assert rec is not None and rec.doc == {"a": 1}


async def test_two_stores_on_one_file_share_records_and_claims(tmp_path: Path) -> None:
    path = tmp_path / "shared.db"
    async with SqliteStore(path) as one, SqliteStore(path) as two:
        await one.put_record("silence", "s1", {"v": 1}, expected_version=None)
        rec = await two.get_record("silence", "s1")
        assert rec is not None and rec.version == 1
        await one.outbox.add([OutboxEntry(n, "hook", 1.0, 1.0) for n in many(3)])
        assert len(await one.outbox.claim("one", 30, 2, now=10)) == 2
        assert len(await two.outbox.claim("two", 30, 5, now=10)) == 1


# -- Redis -------------------------------------------------------------------------------------


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"  # redis.asyncio


async def test_password_never_shows(redis_url: str) -> None:
    url = redis_url.replace("redis://", "redis://user:hunter2-secret@")
    store = RedisStore(url)
    assert "hunter2" not in repr(store) and "***" in repr(store)
    assert "hunter2" not in repr(store.outbox)
    with pytest.raises(StoreError) as info:
        await store.load_snapshot()  # this server has no such user
    assert "hunter2" not in str(info.value)
    await store.aclose()
    with pytest.raises(StoreError) as info:
        RedisStore("http://user:hunter2-secret@example.com/")
    assert "hunter2" not in str(info.value) and "redis://" in str(info.value)


async def test_unreachable_server() -> None:
    from redis_helpers import free_port
    store = RedisStore(f"redis://127.0.0.1:{free_port()}/0")
    with pytest.raises(StoreError, match="ConnectionError"):
        await store.put_record("alert", "k", {}, expected_version=None)
    await store.aclose()


@pytest.mark.parametrize("namespace", ["", "has space", "x" * 101, None, "a{b}"])
def test_bad_namespace(namespace: object) -> None:
    with pytest.raises(StoreError, match="namespace"):
        RedisStore(namespace=namespace)  # type: ignore[arg-type]


def test_bad_url() -> None:
    with pytest.raises(StoreError, match="not a redis"):
        RedisStore(42)  # type: ignore[arg-type]
    with pytest.raises(StoreError, match="snapshot_key"):
        RedisStore(snapshot_key="")


async def test_corrupt_outbox_entries_are_set_aside(redis_url: str,
                                                    redis_namespace: str) -> None:
    async with RedisStore(redis_url, namespace=redis_namespace) as store:
        good = [OutboxEntry(n, "hook", 1.0, 1.0) for n in many(2)]
        await store.outbox.add(good)
        await store.client.hset(f"{redis_namespace}:outbox", '["ops","hook","bad"]',
                                "{not json")
        await store.client.zadd(f"{redis_namespace}:outbox:due", {'["ops","hook","bad"]': 0})
        claimed = await store.outbox.claim("A", 30, 10, now=5)
        assert sorted(e.id for e in claimed) == sorted(e.id for e in good)  # never the bad one
        loaded = await store.outbox.load()
        assert len(loaded.entries) == 2
        assert len(loaded.corrupt) == 1 and "bad" in loaded.corrupt[0].error
        assert await store.client.hlen(f"{redis_namespace}:outbox:corrupt") == 1
        assert len((await store.outbox.load()).corrupt) == 0  # moved, reported once
        await store.client.hset(f"{redis_namespace}:rec:alert", "x", "garbage")
        with pytest.raises(StoreError, match="corrupt"):
            await store.records("alert")


async def test_namespaces_do_not_see_each_other(redis_url: str, redis_namespace: str) -> None:
    async with RedisStore(redis_url, namespace=redis_namespace + "a") as a, \
            RedisStore(redis_url, namespace=redis_namespace + "b") as b:
        await a.put_record("alert", "k", {"x": 1}, expected_version=None)
        await a.append_audit([{"key": "k"}])
        await a.save_snapshot(b"a")
        assert await b.records("alert") == {}
        assert await b.audit() == []
        assert await b.load_snapshot() is None


async def test_a_given_client_is_not_closed(redis_url: str, redis_namespace: str) -> None:
    import redis.asyncio
    client = redis.asyncio.Redis.from_url(redis_url)
    async with RedisStore(client=client, namespace=redis_namespace) as store:
        await store.save_snapshot(b"s")
    assert await client.get(f"{redis_namespace}:snapshot") == b"s"
    await client.aclose()


def test_refuses_trio(redis_url: str) -> None:
    async def main() -> None:
        async with RedisStore(redis_url) as store:
            await store.load_snapshot()

    with pytest.raises(StoreError, match="asyncio backend"):
        anyio.run(main, backend="trio")
