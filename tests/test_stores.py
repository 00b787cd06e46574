"""The StateStore contract, run against every store: memory, SQLite file, real Redis.

Snapshot and record round trips, compare-and-set, the audit sequence and its
filters, outbox claims (claim, renew, release, expiry), bad input, closed stores.
"""

from __future__ import annotations

import math
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

import redis_helpers
from alertkit._errors import AlertkitError, StoreConflictError, StoreError
from alertkit.stores.base import ClaimingOutbox, GenerationStore, StateStore, Versioned
from alertkit.stores.memory_store import MemoryStore
from alertkit.stores.outbox import OutboxEntry
from alertkit.stores.redis_store import RedisStore
from alertkit.stores.sqlite_store import SqliteStore
from delivery_helpers import many

redis_namespace = redis_helpers.redis_namespace  # a fixture
redis_url = redis_helpers.redis_url  # a fixture

pytestmark = pytest.mark.anyio

# redis.asyncio runs on asyncio only: the Redis store is tested there, the others on both.
COMBOS = [("asyncio", "memory"), ("trio", "memory"), ("asyncio", "sqlite"), ("trio", "sqlite"),
          ("asyncio", "redis")]


@pytest.fixture(params=COMBOS, ids=[f"{b}-{k}" for b, k in COMBOS])
def combo(request: pytest.FixtureRequest) -> tuple[str, str]:
    return request.param  # type: ignore[no-any-return]


@pytest.fixture
def anyio_backend(combo: tuple[str, str]) -> str:
    return combo[0]


@pytest.fixture
async def store(request: pytest.FixtureRequest, tmp_path: Path,
                combo: tuple[str, str]) -> AsyncIterator[StateStore]:
    kind = combo[1]
    made: StateStore
    if kind == "memory":
        made = MemoryStore()
    elif kind == "sqlite":
        made = SqliteStore(tmp_path / "state.db")
    else:
        url = request.getfixturevalue("redis_url")
        made = RedisStore(url, namespace=request.getfixturevalue("redis_namespace"))
    try:
        yield made
    finally:
        await made.aclose()


def entries(n: int, *, start: float = 100.0) -> list[OutboxEntry]:
    return [OutboxEntry(note, "hook", enqueued_at=start, next_attempt_at=start + i)
            for i, note in enumerate(many(n))]


# -- snapshot and records -------------------------------------------------------------------


async def test_is_a_state_store(store: StateStore) -> None:
    assert isinstance(store, StateStore)
    assert isinstance(store.outbox, ClaimingOutbox)


async def test_snapshot_round_trip(store: StateStore) -> None:
    assert await store.load_snapshot() is None
    await store.save_snapshot(b'{"a":1}')
    await store.save_snapshot(b"\x00\xffbinary")
    assert await store.load_snapshot() == b"\x00\xffbinary"


async def test_records_compare_and_set(store: StateStore) -> None:
    assert await store.get_record("alert", "fp1") is None
    assert await store.put_record("alert", "fp1", {"status": "firing"},
                                  expected_version=None) == 1
    with pytest.raises(StoreConflictError) as info:
        await store.put_record("alert", "fp1", {"status": "x"}, expected_version=None)
    assert (info.value.expected, info.value.actual) == (None, 1)
    assert await store.put_record("alert", "fp1", {"status": "acknowledged", "by": "ann"},
                                  expected_version=1) == 2
    with pytest.raises(StoreConflictError) as info:
        await store.put_record("alert", "fp1", {"status": "x"}, expected_version=1)
    assert (info.value.kind, info.value.key, info.value.actual) == ("alert", "fp1", 2)
    with pytest.raises(StoreConflictError):
        await store.put_record("alert", "nope", {}, expected_version=3)
    assert await store.get_record("alert", "fp1") == Versioned(
        {"status": "acknowledged", "by": "ann"}, 2)
    await store.put_record("silence", "fp1", {"other": "kind"}, expected_version=None)
    assert await store.records("alert") == {
        "fp1": Versioned({"status": "acknowledged", "by": "ann"}, 2)}
    await store.delete_record("alert", "fp1")
    await store.delete_record("alert", "fp1")  # absent: no error
    assert await store.get_record("alert", "fp1") is None
    assert await store.records("alert") == {}
    # A deleted record starts again at version 1.
    assert await store.put_record("alert", "fp1", {}, expected_version=None) == 1
    assert list(await store.records("silence")) == ["fp1"]


async def test_generation_counts_writes_per_kind(store: StateStore) -> None:
    assert isinstance(store, GenerationStore)
    assert await store.generation("alert") == 0
    await store.put_record("alert", "a", {}, expected_version=None)
    g1 = await store.generation("alert")
    assert g1 != 0 and await store.generation("silence") == 0
    with pytest.raises(StoreConflictError):
        await store.put_record("alert", "a", {}, expected_version=None)
    assert await store.generation("alert") == g1  # a lost write changes nothing
    await store.delete_record("alert", "nope")
    assert await store.generation("alert") == g1
    await store.delete_record("alert", "a")
    g2 = await store.generation("alert")
    assert g2 != g1
    await store.put_record("silence", "s", {}, expected_version=None)
    assert await store.generation("alert") == g2


async def test_record_documents_are_copies(store: StateStore) -> None:
    doc: dict[str, Any] = {"nested": {"list": [1, 2.5, "x", None, True]}}
    await store.put_record("alert", "k", doc, expected_version=None)
    doc["nested"]["list"].append("changed later")
    got = await store.get_record("alert", "k")
    assert got is not None and got.doc == {"nested": {"list": [1, 2.5, "x", None, True]}}
    got.doc["nested"] = "mutated"
    again = await store.get_record("alert", "k")
    assert again is not None and again.doc["nested"] == {"list": [1, 2.5, "x", None, True]}


async def test_keys_with_odd_characters(store: StateStore) -> None:
    keys = ["a:b", "with space", "ünïcödé", "x" * 1024, '{"json":1}', "1:2:3"]
    for key in keys:
        await store.put_record("alert", key, {"k": key}, expected_version=None)
    found = await store.records("alert")
    assert {k: v.doc["k"] for k, v in found.items()} == {k: k for k in keys}


# -- audit ------------------------------------------------------------------------------------


async def test_audit_sequence_and_filters(store: StateStore) -> None:
    assert await store.append_audit([]) == []
    docs = [{"key": f"fp{i % 3}", "rule": "R" if i % 2 else "S", "at": 100.0 + i,
             "action": f"a{i}"} for i in range(10)]
    seqs = await store.append_audit(docs[:4])
    seqs += await store.append_audit(docs[4:])
    assert seqs == sorted(seqs) and len(set(seqs)) == 10
    everything = await store.audit()
    assert [d["action"] for d in everything] == [f"a{i}" for i in range(10)]
    assert [d["seq"] for d in everything] == seqs
    assert [d["action"] for d in await store.audit(key="fp1")] == ["a1", "a4", "a7"]
    assert [d["action"] for d in await store.audit(rule="R")] == ["a1", "a3", "a5", "a7", "a9"]
    assert [d["action"] for d in await store.audit(key="fp1", rule="R")] == ["a1", "a7"]
    assert [d["action"] for d in await store.audit(since=103, until=106)] == ["a3", "a4", "a5"]
    assert [d["action"] for d in await store.audit(after_seq=seqs[7])] == ["a8", "a9"]
    assert [d["action"] for d in await store.audit(limit=2)] == ["a0", "a1"]
    assert [d["action"] for d in await store.audit(rule="S", limit=2,
                                                   after_seq=seqs[0])] == ["a2", "a4"]
    assert await store.audit(key="nobody") == []
    assert await store.audit(limit=0) == []


async def test_audit_without_indexed_fields(store: StateStore) -> None:
    await store.append_audit([{"action": "note"}])
    assert [d["action"] for d in await store.audit()] == ["note"]
    assert await store.audit(since=0) == []
    assert await store.audit(key="k") == []


# -- claims -----------------------------------------------------------------------------------


async def test_outbox_claims(store: StateStore) -> None:
    box = store.outbox
    assert isinstance(box, ClaimingOutbox)
    es = entries(5)
    assert await box.add(es) == [True] * 5
    a = await box.claim("A", 10, 3, now=1000)
    assert [e.id for e in a] == [e.id for e in es[:3]]  # soonest due first
    # B sees only what A does not hold; A claiming again gets its own back.
    b = await box.claim("B", 10, 10, now=1001)
    assert [e.id for e in b] == [e.id for e in es[3:]]
    assert await box.claim("C", 10, 10, now=1002) == []
    assert [e.id for e in await box.claim("A", 10, 10, now=1002)] == [e.id for e in es[:3]]
    # A renews two of its three; a renewal of B's entry is refused.
    kept = await box.renew("A", [es[0].id, es[1].id, es[3].id], 10, now=1005)
    assert sorted(kept) == sorted([es[0].id, es[1].id])
    # At 1013 A's third entry (lease to 1012) is free; the renewed ones (to 1015) are not.
    c = await box.claim("C", 10, 10, now=1013)
    assert [e.id for e in c] == [es[2].id, *[e.id for e in es[3:]]]  # B's expired at 1011
    assert await box.renew("A", [es[2].id], 10, now=1013) == []  # taken over
    # Release: B's release of C's entries does nothing; C's frees them at once.
    await box.release("B", [es[3].id])
    assert await box.claim("D", 10, 10, now=1014, ids=[es[3].id]) == []
    await box.release("C", [es[3].id, es[4].id])
    d = await box.claim("D", 10, 1, now=1014, ids=[es[4].id, es[3].id])
    assert len(d) == 1
    # A removed entry cannot be renewed or claimed.
    await box.remove([es[0].id])
    assert await box.renew("A", [es[0].id], 10, now=1014) == []
    assert await box.claim("A", 10, 10, now=1014, ids=[es[0].id]) == []
    assert await box.claim("A", 10, 10, now=1014, ids=[]) == []
    loaded = await box.load()
    assert sorted(e.id for e in loaded.entries) == sorted(e.id for e in es[1:])


async def test_claims_only_for_given_receivers(store: StateStore) -> None:
    box = store.outbox
    assert isinstance(box, ClaimingOutbox)
    ops = entries(2)
    dev = [OutboxEntry(n, "hook", 100.0, 100.0) for n in many(2, receiver="dev")]
    await box.add([*ops, *dev])
    got = await box.claim("A", 10, 10, now=1000, receivers=["dev", "nobody"])
    assert sorted(e.id for e in got) == sorted(e.id for e in dev)
    assert await box.claim("B", 10, 10, now=1000, receivers=[]) == []
    got = await box.claim("B", 10, 10, now=1000, receivers=["ops", "dev"],
                          ids=[ops[0].id, dev[0].id])
    assert [e.id for e in got] == [ops[0].id]


async def test_outbox_update_keeps_the_claim(store: StateStore) -> None:
    box = store.outbox
    assert isinstance(box, ClaimingOutbox)
    (e,) = entries(1)
    await box.add([e])
    await box.claim("A", 10, 1, now=1000)
    updated = OutboxEntry(e.notification, e.notifier, e.enqueued_at, 2000.0, 3, "HTTP 503")
    await box.update(updated)
    assert await box.claim("B", 10, 1, now=1005) == []
    assert await box.renew("A", [e.id], 10, now=1005) == [e.id]
    (got,) = (await box.load()).entries
    assert (got.attempts, got.next_attempt_at, got.last_error) == (3, 2000.0, "HTTP 503")
    assert got.notification == e.notification


async def test_claim_bad_input(store: StateStore) -> None:
    box = store.outbox
    assert isinstance(box, ClaimingOutbox)
    for owner, lease, limit in [("", 10, 1), (None, 10, 1), ("A", 0, 1), ("A", -1, 1),
                                ("A", math.nan, 1), ("A", math.inf, 1), ("A", True, 1),
                                ("A", 10, 0), ("A", 10, 1.5), ("A", 10, True)]:
        with pytest.raises(StoreError):
            await box.claim(owner, lease, limit, now=0)  # type: ignore[arg-type]
    with pytest.raises(StoreError):
        await box.renew("", [], 10, now=0)
    with pytest.raises(StoreError):
        await box.release("", [])


# -- bad input --------------------------------------------------------------------------------


@pytest.mark.parametrize("kind", ["", "Alert", "a-b", "1abc", None, 3, "x" * 64])
async def test_bad_kind(store: StateStore, kind: Any) -> None:
    with pytest.raises(StoreError, match="record kind"):
        await store.put_record(kind, "k", {}, expected_version=None)
    with pytest.raises(StoreError, match="record kind"):
        await store.records(kind)
    with pytest.raises(StoreError, match="record kind"):
        await store.get_record(kind, "k")


@pytest.mark.parametrize("key", ["", None, 5, "x" * 1025])
async def test_bad_key(store: StateStore, key: Any) -> None:
    with pytest.raises(StoreError, match="record key"):
        await store.put_record("alert", key, {}, expected_version=None)
    with pytest.raises(StoreError, match="record key"):
        await store.get_record("alert", key)
    with pytest.raises(StoreError, match="record key"):
        await store.delete_record("alert", key)


@pytest.mark.parametrize("doc", [[1, 2], "text", None, {"x": math.nan}, {"x": math.inf},
                                 {"x": object()}, {1: "non-string key"}, {"s": {1, 2}}])
async def test_bad_documents(store: StateStore, doc: Any) -> None:
    with pytest.raises(StoreError, match="document"):
        await store.put_record("alert", "k", doc, expected_version=None)
    with pytest.raises(StoreError):
        await store.append_audit([doc])
    assert await store.get_record("alert", "k") is None
    assert await store.audit() == []


@pytest.mark.parametrize("version", [0, -1, 1.0, "1", True])
async def test_bad_expected_version(store: StateStore, version: Any) -> None:
    with pytest.raises(StoreError, match="expected_version"):
        await store.put_record("alert", "k", {}, expected_version=version)


@pytest.mark.parametrize("doc", [{"key": 3}, {"rule": ["r"]}, {"at": "noon"}, {"at": math.nan},
                                 {"at": True}])
async def test_bad_audit_fields(store: StateStore, doc: dict[str, Any]) -> None:
    with pytest.raises(StoreError, match="audit document"):
        await store.append_audit([{"action": "ok"}, doc])
    assert await store.audit() == []  # all or nothing


@pytest.mark.parametrize("query", [{"since": "x"}, {"until": math.nan}, {"after_seq": -1},
                                   {"limit": -1}, {"limit": 1.5}, {"after_seq": True}])
async def test_bad_audit_query(store: StateStore, query: dict[str, Any]) -> None:
    with pytest.raises(StoreError):
        await store.audit(**query)


@pytest.mark.parametrize("data", ["text", None, 12, [1]])
async def test_bad_snapshot(store: StateStore, data: Any) -> None:
    with pytest.raises(StoreError, match="snapshot must be bytes"):
        await store.save_snapshot(data)


async def test_closed_store_refuses_work(store: StateStore) -> None:
    await store.aclose()
    await store.aclose()  # twice is fine
    with pytest.raises(StoreError, match="closed"):
        await store.put_record("alert", "k", {}, expected_version=None)
    with pytest.raises(StoreError, match="closed"):
        await store.load_snapshot()


async def test_errors_are_alertkit_errors() -> None:
    assert issubclass(StoreConflictError, StoreError)
    assert issubclass(StoreError, AlertkitError)
    err = StoreConflictError("alert", "fp", 2, 3)
    assert "expected version 2" in str(err) and "has 3" in str(err)
