"""State stores: operations per second, and Redis round trips per operation.

For each store (memory, SQLite file, Redis on a redis-server this script starts
on 127.0.0.1 with a temporary directory and stops by PID), times:

- ``put_record``: a compare-and-set write of a small lifecycle record;
- ``get_record``: a read of one;
- ``records``: all 100 records of a kind;
- ``append_audit``: one audit record;
- ``save_snapshot``: a 20 KB snapshot;
- ``outbox add+claim+remove``: one delivery's whole life in a shared outbox.

For Redis it also counts the commands the server processed (``INFO stats``):
each is one network round trip, since every multi-key change is one Lua script.

Run: ``python benchmarks/bench_stores.py [--count N]``. No target in DESIGN.md:
these are figures for the docs (docs/how-to/stores.md) and for regressions.
"""

from __future__ import annotations

import argparse
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Awaitable, Callable
from pathlib import Path

import anyio

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))
from alertkit.stores.base import ClaimingOutbox, StateStore
from alertkit.stores.memory_store import MemoryStore
from alertkit.stores.outbox import OutboxEntry
from alertkit.stores.redis_store import RedisStore
from alertkit.stores.sqlite_store import SqliteStore
from delivery_helpers import many

RECORD = {"fingerprint": "0123456789abcdef", "rule": "HighCPU", "status": "acknowledged",
          "acknowledged_by": "ann", "note": "on it", "updated_at": 1_700_000_000.5,
          "comments": [{"actor": "bob", "text": "disk full", "at": 1_700_000_010.0}]}


def start_redis(workdir: str) -> tuple[subprocess.Popen[bytes], str] | None:
    binary = shutil.which("redis-server")
    if binary is None:
        return None
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    proc = subprocess.Popen([binary, "--port", str(port), "--bind", "127.0.0.1", "--save", "",
                             "--appendonly", "no", "--dir", workdir],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                return proc, f"redis://127.0.0.1:{port}/0"
        except OSError:
            time.sleep(0.05)
    proc.kill()
    proc.wait()
    return None


class RoundTrips:
    """Counts the requests a RedisStore's client sends (one network round trip each) and
    the commands the server ran for them (Lua scripts run several)."""

    def __init__(self, store: RedisStore) -> None:
        self.store = store
        self.sent = 0
        client = store.client
        original = client.execute_command

        async def counted(*args: object, **kwargs: object) -> object:
            self.sent += 1
            return await original(*args, **kwargs)

        client.execute_command = counted  # type: ignore[method-assign]

    async def server_commands(self) -> int:
        info = await self.store.client.info("stats")
        self.sent -= 1  # not the benchmark's
        return int(info["total_commands_processed"])


async def timed(store: StateStore, trips: RoundTrips | None, name: str, count: int,
                op: Callable[[int], Awaitable[object]]) -> None:
    before = await trips.server_commands() if trips else 0
    sent = trips.sent if trips else 0
    start = time.perf_counter()
    for i in range(count):
        await op(i)
    elapsed = time.perf_counter() - start
    line = f"  {name:<28} {count / elapsed:>10,.0f} ops/s"
    if trips:
        sent = trips.sent - sent
        ran = await trips.server_commands() - before - 1
        line += f"  {sent / count:4.1f} round trips/op, {ran / count:4.1f} server commands/op"
    print(line)


async def bench(store: StateStore, count: int) -> None:
    versions: dict[str, int] = {}
    trips = RoundTrips(store) if isinstance(store, RedisStore) else None

    async def put(i: int) -> None:
        key = f"fp{i % 100}"
        versions[key] = await store.put_record("alert", key, {**RECORD, "n": i},
                                               expected_version=versions.get(key))

    await timed(store, trips, "put_record (CAS)", count, put)
    await timed(store, trips, "get_record", count,
                lambda i: store.get_record("alert", f"fp{i % 100}"))
    await timed(store, trips, "records (100)", max(1, count // 10),
                lambda i: store.records("alert"))
    await timed(store, trips, "append_audit (1)", count,
                lambda i: store.append_audit([{"key": f"fp{i % 100}", "rule": "HighCPU",
                                               "at": 1.0 * i, "action": "acknowledge"}]))
    blob = os.urandom(10_000).hex().encode()
    await timed(store, trips, "save_snapshot (20 KB)", max(1, count // 10),
                lambda i: store.save_snapshot(blob))
    box = store.outbox
    assert isinstance(box, ClaimingOutbox)
    notes = many(count)

    async def life(i: int) -> None:
        entry = OutboxEntry(notes[i], "hook", 1.0, 1.0)
        await box.add([entry])
        await box.claim("bench", 30, 1, now=2.0, ids=[entry.id])
        await box.remove([entry.id])

    await timed(store, trips, "outbox add+claim+remove", count, life)


async def main(count: int) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        print(f"memory ({count} ops each)")
        await bench(MemoryStore(), count)
        print(f"sqlite ({count} ops each, WAL, synchronous=NORMAL)")
        async with SqliteStore(Path(tmp) / "bench.db") as sqlite_store:
            await bench(sqlite_store, count)
        started = start_redis(tmp)
        if started is None:
            print("redis: redis-server not found, skipped")
            return
        proc, url = started
        try:
            print(f"redis ({count} ops each, local server, no persistence)")
            async with RedisStore(url, namespace=f"bench{uuid.uuid4().hex[:6]}") as redis_store:
                await bench(redis_store, count)
        finally:
            proc.terminate()
            proc.wait(10)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=2000)
    args = parser.parse_args()
    anyio.run(main, args.count, backend="asyncio")
