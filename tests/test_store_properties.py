"""Properties of every store: documents and snapshots come back exactly; compare-and-set
never loses an update, between tasks and between processes."""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import uuid
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import anyio
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import alertkit as ak
import redis_helpers
from alertkit._errors import StoreConflictError
from alertkit.runtime.engine import Engine
from alertkit.stores.base import StateStore
from alertkit.stores.memory_store import MemoryStore
from alertkit.stores.redis_store import RedisStore
from alertkit.stores.sqlite_store import SqliteStore

redis_url = redis_helpers.redis_url  # a fixture
HERE = Path(__file__).parent
KINDS = ["memory", "sqlite", "redis"]

json_values = st.recursive(
    st.none() | st.booleans() | st.integers(-(2**53), 2**53)
    | st.floats(allow_nan=False, allow_infinity=False) | st.text(max_size=20),
    lambda inner: st.lists(inner, max_size=4)
    | st.dictionaries(st.text(max_size=8), inner, max_size=4),
    max_leaves=12)
documents = st.dictionaries(st.text(max_size=10), json_values, max_size=6)
keys = st.text(min_size=1, max_size=40)


def run_on(kind: str, url: str | None, body: Callable[[StateStore], Awaitable[None]]) -> None:
    """Run ``body`` against a fresh store of ``kind`` (Redis: a new namespace)."""
    async def main(path: str) -> None:
        store: StateStore
        if kind == "memory":
            store = MemoryStore()
        elif kind == "sqlite":
            store = SqliteStore(os.path.join(path, "s.db"))
        else:
            assert url is not None
            store = RedisStore(url, namespace=f"p{uuid.uuid4().hex[:12]}")
        try:
            await body(store)
        finally:
            await store.aclose()

    with tempfile.TemporaryDirectory() as path:
        anyio.run(main, path, backend="asyncio" if kind == "redis" else "trio")


@pytest.fixture(params=KINDS, scope="module")
def kind_url(request: pytest.FixtureRequest) -> tuple[str, str | None]:
    kind = request.param
    return kind, request.getfixturevalue("redis_url") if kind == "redis" else None


@settings(max_examples=25)
@given(records=st.dictionaries(keys, documents, min_size=1, max_size=5),
       audit=st.lists(documents, max_size=5), snapshot=st.binary(max_size=200))
def test_round_trips(kind_url: tuple[str, str | None], records: dict[str, dict[str, Any]],
                     audit: list[dict[str, Any]], snapshot: bytes) -> None:
    async def body(store: StateStore) -> None:
        for key, doc in records.items():
            assert await store.put_record("alert", key, doc, expected_version=None) == 1
        for key, doc in records.items():
            got = await store.get_record("alert", key)
            assert got is not None and got.doc == doc and got.version == 1
        assert {k: v.doc for k, v in (await store.records("alert")).items()} == records
        plain = [{k: v for k, v in d.items() if k not in ("key", "rule", "at", "seq")}
                 for d in audit]
        seqs = await store.append_audit(plain)
        back = await store.audit()
        assert [d.pop("seq") for d in back] == seqs
        assert back == plain
        await store.save_snapshot(snapshot)
        assert await store.load_snapshot() == snapshot

    run_on(*kind_url, body)


samples = st.lists(st.tuples(st.sampled_from(["a", "b", "c"]), st.floats(0, 100),
                             st.floats(0.5, 120)), min_size=1, max_size=15)


@settings(max_examples=15)
@given(series=samples)
def test_engine_snapshot_round_trip_through_the_store(
        kind_url: tuple[str, str | None], series: list[tuple[str, float, float]]) -> None:
    rules = [ak.Rule(name="High", condition="cpu > 50", for_="2m"),
             ak.Rule(name="Avg", condition="avg_over_time(cpu[5m]) > 40")]

    async def body(store: StateStore) -> None:
        clock = ak.FakeClock(1_000.0)
        engine = Engine(rules, clock=clock)
        for host, value, step in series:
            clock.advance(step)
            engine.observe("cpu", value, host=host)
        engine.tick_now()
        data = engine.snapshot()
        await store.save_snapshot(data)
        loaded = await store.load_snapshot()
        assert loaded is not None
        again = Engine(rules, clock=clock, state=loaded)
        assert again.snapshot() == data
        assert again.alerts() == engine.alerts()

    run_on(*kind_url, body)


async def increment(store: StateStore, n: int) -> int:
    conflicts = 0
    for _ in range(n):
        while True:
            rec = await store.get_record("counter", "c")
            value = 0 if rec is None else rec.doc["value"]
            try:
                await store.put_record("counter", "c", {"value": value + 1},
                                       expected_version=None if rec is None else rec.version)
                break
            except StoreConflictError:
                conflicts += 1
    return conflicts


@pytest.mark.parametrize("tasks", [2, 4])
def test_compare_and_set_loses_no_update_between_tasks(
        kind_url: tuple[str, str | None], tasks: int) -> None:
    n = 30
    conflicts: list[int] = []

    async def body(store: StateStore) -> None:
        async def worker() -> None:
            conflicts.append(await increment(store, n))

        async with anyio.create_task_group() as tg:
            for _ in range(tasks):
                tg.start_soon(worker)
        rec = await store.get_record("counter", "c")
        assert rec is not None
        assert rec.doc == {"value": tasks * n} and rec.version == tasks * n

    run_on(*kind_url, body)
    # The tasks really did race (the memory store only switches at its checkpoints).
    assert sum(conflicts) > 0


@pytest.mark.parametrize("kind", ["sqlite", "redis"])
def test_compare_and_set_loses_no_update_between_processes(
        kind: str, request: pytest.FixtureRequest, tmp_path: Path) -> None:
    if kind == "sqlite":
        spec = f"sqlite:{tmp_path / 'shared.db'}"
    else:
        spec = f"redis:{request.getfixturevalue('redis_url')}#c{uuid.uuid4().hex[:10]}"
    n = 60
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
    procs = [subprocess.Popen([sys.executable, str(HERE / "store_child.py"), "increment",
                               spec, str(n)], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                              text=True, env=env) for _ in range(3)]
    outs = []
    for proc in procs:
        out, err = proc.communicate(timeout=120)
        assert proc.returncode == 0, err
        outs.append(out)
    assert all(o.startswith("DONE ") for o in outs)

    async def check(store: StateStore) -> None:
        rec = await store.get_record("counter", "c")
        assert rec is not None and rec.doc == {"value": 3 * n} and rec.version == 3 * n

    async def main() -> None:
        store: StateStore = (SqliteStore(spec.partition(":")[2]) if kind == "sqlite" else
                             RedisStore(spec.partition(":")[2].partition("#")[0],
                                        namespace=spec.partition("#")[2]))
        try:
            await check(store)
        finally:
            await store.aclose()

    anyio.run(main, backend="asyncio")


ops = st.lists(st.one_of(
    st.tuples(st.just("claim"), st.sampled_from("ABC"), st.integers(1, 4)),
    st.tuples(st.just("renew"), st.sampled_from("ABC"), st.integers(0, 5)),
    st.tuples(st.just("release"), st.sampled_from("ABC"), st.integers(0, 5)),
    st.tuples(st.just("remove"), st.just(""), st.integers(0, 5)),
    st.tuples(st.just("wait"), st.just(""), st.integers(1, 15)),
), max_size=25)


@settings(max_examples=20)
@given(steps=ops)
def test_claims_follow_the_lease_model(kind_url: tuple[str, str | None],
                                       steps: list[tuple[str, str, int]]) -> None:
    """Against a model: an entry is held by one owner at a time, until its lease ends,
    it is released or removed; renewals succeed exactly for the current holder."""
    from alertkit.stores.base import ClaimingOutbox
    from alertkit.stores.outbox import OutboxEntry
    from delivery_helpers import many

    lease = 10.0
    notes = many(6)

    async def body(store: StateStore) -> None:
        box = store.outbox
        assert isinstance(box, ClaimingOutbox)
        entries = [OutboxEntry(n, "hook", 0.0, float(i)) for i, n in enumerate(notes)]
        ids = [e.id for e in entries]
        await box.add(entries)
        holder: dict[Any, tuple[str, float]] = {}  # the model: id -> (owner, until)
        present = set(ids)
        now = 100.0

        def free(i: Any, owner: str) -> bool:
            h = holder.get(i)
            return h is None or h[0] == owner or h[1] <= now

        for op, owner, n in steps:
            if op == "claim":
                expected = [i for i in ids if i in present and free(i, owner)][:n]
                got = [e.id for e in await box.claim(owner, lease, n, now=now)]
                assert got == expected
                for i in got:
                    holder[i] = (owner, now + lease)
            elif op == "renew":
                want = ids[:n]
                kept = await box.renew(owner, want, lease, now=now)
                expected = [i for i in want if i in present and holder.get(i, ("",))[0] == owner]
                assert sorted(kept) == sorted(expected)
                for i in kept:
                    holder[i] = (owner, now + lease)
            elif op == "release":
                await box.release(owner, ids[:n])
                for i in ids[:n]:
                    if holder.get(i, ("",))[0] == owner:
                        del holder[i]
            elif op == "remove":
                await box.remove([ids[n]])
                present.discard(ids[n])
                holder.pop(ids[n], None)
            else:
                now += n
        left = sorted(e.id for e in (await box.load()).entries)
        assert left == sorted(present)

    run_on(*kind_url, body)


silence_ops = st.lists(st.one_of(
    st.tuples(st.just("create"), st.sampled_from("ab"), st.integers(1, 5)),
    st.tuples(st.just("expire"), st.sampled_from("ab"), st.integers(0, 9)),
    st.tuples(st.just("sync"), st.sampled_from("ab"), st.just(0)),
    st.tuples(st.just("wait"), st.just(""), st.integers(1, 30)),
), max_size=30)


@settings(max_examples=40)
@given(steps=silence_ops)
def test_silences_converge_between_processes(steps: list[tuple[str, str, int]]) -> None:
    """Two processes creating and expiring silences, syncing in any order, end with the
    same silences as each other and as the store; none is lost."""
    from alertkit.runtime.store_sync import StoreSync, silence_to_doc

    dispatcher = ak.Dispatcher(ak.Route(receiver="ops"), [ak.ReceiverConfig(name="ops")])

    async def main() -> None:
        store = MemoryStore()
        clock = ak.FakeClock(1_000.0)
        syncs = {p: StoreSync(store, clock=clock, snapshot_interval=10, refresh_interval=1,
                              owned=False) for p in "ab"}
        states = {p: dispatcher.new_state() for p in "ab"}
        created: list[str] = []
        for op, p, n in steps:
            now = clock.now()
            if op == "create":
                sid = f"s{len(created)}"
                dispatcher.create_silence(states[p], {"host": f"h{n}"}, ends_at=now + 60 * n,
                                          now=now, id=sid)
                created.append(sid)
            elif op == "expire":
                sid = f"s{n}"
                s = states[p].silences.get(sid)
                if s is not None and s.ends_at > now:
                    dispatcher.expire_silence(states[p], sid, now)
            elif op == "sync":
                await syncs[p].sync_silences(dispatcher, states[p], now)
            else:
                clock.advance(n)
        now = clock.now()
        for p in "abab":
            await syncs[p].sync_silences(dispatcher, states[p], now)
        docs = {p: {sid: silence_to_doc(s) for sid, s in states[p].silences.items()}
                for p in "ab"}
        assert docs["a"] == docs["b"]
        assert set(docs["a"]) == set(created)
        stored = {sid: rec.doc for sid, rec in (await store.records("silence")).items()}
        assert stored == docs["a"]

    anyio.run(main)
