"""The Engine on a state store: restore at start, save at stop and on a schedule, silences
and acknowledgements shared by Engines on one store, delivery claims between workers."""

from __future__ import annotations

from pathlib import Path

import anyio
import pytest

import alertkit as ak
from alertkit._errors import ConfigError, StoreError
from alertkit.runtime.delivery import DeliveryWorker
from alertkit.runtime.engine import Engine
from alertkit.stores.base import Versioned
from alertkit.stores.memory_store import MemoryClaimingOutbox, MemoryStore
from alertkit.stores.outbox import OutboxEntry
from alertkit.stores.sqlite_store import SqliteStore

pytestmark = pytest.mark.anyio

T0 = 1_700_000_000.0
RULES = [ak.Rule(name="Slow", condition="cpu > 90", for_="1h"),
         ak.Rule(name="Errors", condition="errors > 0")]


class Recorder:
    """A NotificationSender that records the idempotency keys it is sent."""

    def __init__(self, answer: ak.DeliveryResult | None = None) -> None:
        self.keys: list[str] = []
        self.answer = answer if answer is not None else ak.Delivered(200)

    async def send(self, n: ak.Notification, context: ak.DeliveryContext) -> ak.DeliveryResult:
        self.keys.append(n.idempotency_key)
        return self.answer


def pipeline() -> ak.Dispatcher:
    return ak.Dispatcher(ak.Route(receiver="ops", group_by=("alertname", "host"), group_wait=0,
                                  group_interval="1m", repeat_interval="4h"),
                         [ak.ReceiverConfig(name="ops")])


async def settle(clock: ak.FakeClock, seconds: float, step: float = 0.5) -> None:
    for _ in range(int(seconds / step)):
        clock.advance(step)
        await anyio.wait_all_tasks_blocked()


def engine(store: object, clock: ak.FakeClock, rec: Recorder | None = None,
           **kwargs: object) -> Engine:
    return Engine(RULES, clock=clock, dispatcher=pipeline(),
                  receivers=[ak.Receiver("ops", {"rec": rec or Recorder()})],
                  store=store, evaluation_interval="1s", refresh_interval="1s",
                  snapshot_interval="10s", **kwargs)  # type: ignore[arg-type]


# -- configuration ----------------------------------------------------------------------------


def test_store_excludes_state_and_outbox(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="either state= or store="):
        Engine(RULES, store=MemoryStore(), state=Engine(RULES).snapshot())
    with pytest.raises(ConfigError, match="either outbox= or store="):
        Engine(RULES, store=MemoryStore(), outbox=tmp_path / "o.db")
    with pytest.raises(ConfigError, match="not a StateStore"):
        Engine(RULES, store=42)  # type: ignore[arg-type]
    with pytest.raises(ak.DurationError):
        Engine(RULES, store=MemoryStore(), snapshot_interval="0s")
    assert Engine(RULES).store is None
    for owner in ("", 3):
        with pytest.raises(ConfigError, match="owner"):
            Engine(RULES, owner=owner)  # type: ignore[arg-type]


# -- restart ----------------------------------------------------------------------------------


async def test_sqlite_path_restart_keeps_alerts_timers_and_silences(tmp_path: Path) -> None:
    path = tmp_path / "state.db"
    clock = ak.FakeClock(T0)
    async with engine(path, clock, stale_after="2h") as first:
        assert isinstance(first.store, SqliteStore)
        first.observe("cpu", 95, host="a")  # pending, for 1h
        first.observe("errors", 3, host="b")  # firing
        await settle(clock, 5)
        silence = first.silence({"host": "c"}, duration="2h", created_by="ann")
        # The SQLite outbox works in a thread: let the notification settle first, so the
        # snapshot below is the state the Engine stops with.
        assert first.delivery is not None
        await first.delivery.wait_idle()
        await anyio.wait_all_tasks_blocked()
        before = first.alerts()
        snapshot = first.snapshot()
    assert sorted(a.state.value for a in before) == ["firing", "pending"]

    async with engine(path, clock, stale_after="2h") as second:
        assert second.alerts() == before
        assert second.snapshot() == snapshot
        assert [s.id for s in second.silences()] == [silence.id]
        # The `for` timer runs on from where it was, not from the restart.
        pending = next(a for a in second.alerts() if a.rule == "Slow")
        assert pending.active_at == T0
        second.observe("cpu", 96, host="a")
        clock.set(T0 + 3600 + 1)
        await anyio.wait_all_tasks_blocked()
        second.observe("cpu", 97, host="a")
        assert next(a for a in second.alerts() if a.rule == "Slow").state is \
            ak.AlertState.FIRING


async def test_snapshot_saved_on_a_schedule_not_per_sample() -> None:
    store = MemoryStore()
    clock = ak.FakeClock(T0)
    async with engine(store, clock) as eng:
        eng.observe("cpu", 95, host="a")
        await settle(clock, 3)
        assert await store.load_snapshot() is None  # not yet: at most every 10 s
        await settle(clock, 8)
        saved = await store.load_snapshot()
        assert saved is not None
        restored = Engine(RULES, state=saved)
        assert [a.fingerprint for a in restored.alerts()] == \
            [a.fingerprint for a in eng.alerts()]
        await eng.persist()
        assert await store.load_snapshot() == eng.snapshot()


async def test_persist_without_store_is_a_no_op() -> None:
    async with Engine(RULES, clock=ak.FakeClock(T0)) as eng:
        await eng.persist()


# -- several Engines on one store -------------------------------------------------------------


async def test_silences_are_shared() -> None:
    store = MemoryStore()
    clock = ak.FakeClock(T0)
    async with engine(store, clock) as a, engine(store, clock) as b:
        s = a.silence({"host": "x"}, duration="1h", created_by="ann", comment="deploy")
        await settle(clock, 2)
        (seen,) = b.silences()
        assert (seen.id, seen.created_by, seen.comment, seen.ends_at) == \
            (s.id, "ann", "deploy", s.ends_at)
        assert (await store.get_record("silence", s.id)) is not None
        b.expire_silence(s.id)
        await settle(clock, 2)
        (gone,) = a.silences()
        assert gone.state(clock.now()) is ak.SilenceState.EXPIRED


async def test_a_silence_in_one_engine_mutes_the_other() -> None:
    store = MemoryStore()
    clock = ak.FakeClock(T0)
    rec_a, rec_b = Recorder(), Recorder()
    async with engine(store, clock, rec_a) as a, engine(store, clock, rec_b) as b:
        a.silence({"host": "x"}, duration="1h")
        await settle(clock, 2)
        b.observe("errors", 1, host="x")
        b.observe("errors", 1, host="y")
        await settle(clock, 3)
        assert b.delivery is not None
        await b.delivery.wait_idle()
    assert len(rec_b.keys) == 1  # y only: x is silenced by a's silence


async def test_acknowledgements_are_shared() -> None:
    store = MemoryStore()
    clock = ak.FakeClock(T0)
    async with engine(store, clock) as a, engine(store, clock) as b:
        for e in (a, b):
            e.observe("errors", 1, host="x")
        await settle(clock, 2)
        (fp,) = [r.fingerprint for r in a.alert_records()]
        await a.acknowledge(fp, actor="ann", note="on it")
        await settle(clock, 2)
        seen = b.alert_record(fp)
        assert (seen.status.value, seen.acknowledged_by) == ("acknowledged", "ann")
        # b's command applies on top of a's acknowledgement.
        await b.comment(fp, "root cause: disk", actor="bob")
        await settle(clock, 2)
        again = a.alert_record(fp)
        assert again.acknowledged_by == "ann"
        assert [c.text for c in again.comments] == ["root cause: disk"]
    rec = await store.get_record("alert", fp)
    assert rec is not None and rec.doc["acknowledged_by"] == "ann"
    actions = [d["action"] for d in await store.audit(key=fp)]
    assert actions.index("acknowledge") < actions.index("comment")


# -- delivery claims --------------------------------------------------------------------------


async def test_two_workers_on_one_outbox_send_each_notification_once() -> None:
    from delivery_helpers import many
    box = MemoryClaimingOutbox()
    clock = ak.FakeClock(T0)
    notes = many(40)
    # Left by a third process that never claimed them: the two workers share them out.
    await box.add([OutboxEntry(n, "rec", T0, T0 + i) for i, n in enumerate(notes[:20])])
    rec_a, rec_b = Recorder(), Recorder()
    async with DeliveryWorker([ak.Receiver("ops", {"rec": rec_a})], outbox=box, clock=clock,
                              owner="A", lease="30s") as a, \
            DeliveryWorker([ak.Receiver("ops", {"rec": rec_b})], outbox=box, clock=clock,
                           owner="B", lease="30s") as b:
        await a.submit(*notes[20:30])
        await b.submit(*notes[30:])
        await box.add([OutboxEntry(n, "rec", T0, T0) for n in many(45)[40:]])  # unclaimed
        for _ in range(4):
            await settle(clock, 30, step=5)
            await a.wait_idle()
            await b.wait_idle()
    sent = rec_a.keys + rec_b.keys
    every = [n.idempotency_key for n in many(45)]
    assert sorted(sent) == sorted(every)  # each exactly once
    assert set(rec_a.keys) >= {n.idempotency_key for n in notes[20:30]}  # its own
    assert len((await box.load()).entries) == 0


async def test_workers_claim_only_what_they_can_deliver() -> None:
    """Processes with different receivers share one outbox: each sends its own
    receivers' deliveries and leaves (never gives up on) the others'."""
    from delivery_helpers import many
    box = MemoryClaimingOutbox()
    clock = ak.FakeClock(T0)
    ops, dev = Recorder(), Recorder()
    await box.add([OutboxEntry(n, "rec", T0, T0) for n in [*many(3), *many(2, "dev")]])
    async with DeliveryWorker([ak.Receiver("ops", {"rec": ops})], outbox=box, clock=clock,
                              owner="A") as a:
        await settle(clock, 30, step=5)
        await a.wait_idle()
        assert len(ops.keys) == 3 and len((await box.load()).entries) == 2
        async with DeliveryWorker([ak.Receiver("dev", {"rec": dev})], outbox=box,
                                  clock=clock, owner="B") as b:
            await settle(clock, 30, step=5)
            await b.wait_idle()
    assert len(ops.keys) == 3 and len(dev.keys) == 2
    assert (await box.load()).entries == []


async def test_a_dead_owners_claims_expire_and_are_taken_over() -> None:
    from delivery_helpers import many
    box = MemoryClaimingOutbox()
    clock = ak.FakeClock(T0)
    notes = many(3)
    await box.add([OutboxEntry(n, "rec", T0, T0) for n in notes])
    assert len(await box.claim("dead", 30, 10, now=T0)) == 3  # then it crashed
    rec = Recorder()
    async with DeliveryWorker([ak.Receiver("ops", {"rec": rec})], outbox=box, clock=clock,
                              owner="B", lease="30s") as b:
        await settle(clock, 20, step=5)
        assert rec.keys == []  # the lease still runs
        await settle(clock, 20, step=5)
        await b.wait_idle()
    assert sorted(rec.keys) == sorted(n.idempotency_key for n in notes)


async def test_stopping_releases_claims_for_the_others() -> None:
    from delivery_helpers import many
    box = MemoryClaimingOutbox()
    clock = ak.FakeClock(T0)
    failing = Recorder(ak.Retry("HTTP 503"))
    async with DeliveryWorker([ak.Receiver("ops", {"rec": failing})], outbox=box,
                              clock=clock, owner="A", lease="1h") as a:
        await a.submit(*many(2))
        await a.wait_idle()
    assert len(failing.keys) == 2
    rec = Recorder()
    async with DeliveryWorker([ak.Receiver("ops", {"rec": rec})], outbox=box, clock=clock,
                              owner="B", lease="1h") as b:
        await settle(clock, 120, step=10)  # past the retry backoff, far before the lease
        await b.wait_idle()
    assert len(rec.keys) == 2


async def test_a_stable_owner_takes_its_entries_back_at_once(tmp_path: Path) -> None:
    from delivery_helpers import many
    clock = ak.FakeClock(T0)
    async with SqliteStore(tmp_path / "s.db") as store:
        await store.outbox.add([OutboxEntry(n, "rec", T0, T0) for n in many(2)])
        await store.outbox.claim("slot-1", 3600, 10, now=T0)  # the previous run, killed
        rec = Recorder()
        async with DeliveryWorker([ak.Receiver("ops", {"rec": rec})], outbox=store.outbox,
                                  clock=clock, owner="slot-1") as w:
            await w.wait_idle()
            for _ in range(50):
                if len(rec.keys) == 2:
                    break
                await anyio.sleep(0.02)
                await w.wait_idle()
        assert len(rec.keys) == 2


class FlakyStore(MemoryStore):
    """A MemoryStore that refuses every write while ``down`` (a store outage)."""

    def __init__(self) -> None:
        super().__init__()
        self.down = False

    def _check_open(self) -> None:
        super()._check_open()
        if self.down:
            raise StoreError("connection refused (the store is down)")


async def test_a_store_outage_does_not_stop_the_engine(caplog: pytest.LogCaptureFixture) -> None:
    store = FlakyStore()
    clock = ak.FakeClock(T0)
    rec = Recorder()
    async with engine(store, clock, rec) as eng:
        eng.observe("errors", 1, host="x")
        await settle(clock, 2)
        (fp,) = [r.fingerprint for r in eng.alert_records()]
        store.down = True
        # The command works (in memory) and says nothing is lost: the write waits.
        record = await eng.acknowledge(fp, actor="ann")
        assert record.acknowledged_by == "ann"
        silence = eng.silence({"host": "y"}, duration="1h")
        eng.observe("errors", 1, host="z")
        await settle(clock, 15)  # several failed syncs and snapshots: logged, not fatal
        assert "will retry" in caplog.text or "sync failed" in caplog.text
        assert len(rec.keys) == 2  # notifications still go out
        store.down = False
        await settle(clock, 3)
        stored = await store.get_record("alert", fp)
        assert stored is not None and stored.doc["acknowledged_by"] == "ann"
        assert await store.get_record("silence", silence.id) is not None
        actions = [d["action"] for d in await store.audit(key=fp)]
        assert "acknowledge" in actions
        assert await store.load_snapshot() is not None


async def test_series_are_bound_after_loading_the_store() -> None:
    store = MemoryStore()
    clock = ak.FakeClock(T0)
    eng = engine(store, clock)
    with pytest.raises(ConfigError, match="inside `async with"):
        eng.series("cpu", host="a")
    async with eng:
        eng.series("cpu", host="a").observe(95)
        assert [a.rule for a in eng.alerts()] == ["Slow"]


# -- silence merging (StoreSync) ----------------------------------------------------------


async def test_concurrent_silence_changes_merge_by_time() -> None:
    """Two processes change one silence before seeing each other's change: the later
    change wins everywhere; none is lost to a compare-and-set conflict."""
    from alertkit.runtime.store_sync import StoreSync, silence_to_doc

    store = MemoryStore()
    clock = ak.FakeClock(T0)
    d = pipeline()
    sync_a = StoreSync(store, clock=clock, snapshot_interval=10, refresh_interval=1,
                       owned=False)
    sync_b = StoreSync(store, clock=clock, snapshot_interval=10, refresh_interval=1,
                       owned=False)
    state_a, state_b = d.new_state(), d.new_state()
    s = d.create_silence(state_a, {"host": "x"}, ends_at=T0 + 3600, now=T0, id="s1")
    await sync_a.sync_silences(d, state_a, T0)
    assert await sync_b.sync_silences(d, state_b, T0)  # b adopts it
    # Both change it "at once": a extends it (at T0+10), b expires it (later, at T0+20).
    d.update_silence(state_a, "s1", now=T0 + 10, ends_at=T0 + 7200)
    d.expire_silence(state_b, "s1", T0 + 20)
    await sync_a.sync_silences(d, state_a, T0 + 10)  # a writes first
    await sync_b.sync_silences(d, state_b, T0 + 20)  # b: conflict seen, its change is later
    await sync_b.sync_silences(d, state_b, T0 + 21)  # ...and written
    await sync_a.sync_silences(d, state_a, T0 + 22)  # a adopts it
    for state in (state_a, state_b):
        assert state.silences["s1"].ends_at == T0 + 20
    rec = await store.get_record("silence", "s1")
    assert rec is not None and rec.doc == silence_to_doc(state_a.silences["s1"])
    assert s.id == "s1"


async def test_a_malformed_silence_record_is_ignored(caplog: pytest.LogCaptureFixture) -> None:
    store = MemoryStore()
    await store.put_record("silence", "bad", {"id": "bad", "matchers": "nope"},
                           expected_version=None)
    clock = ak.FakeClock(T0)
    async with engine(store, clock) as eng:
        assert eng.silences() == []
    assert "silence record 'bad' is malformed" in caplog.text


async def test_a_worker_that_lost_its_claim_does_not_send() -> None:
    """A worker too slow to renew (paused, partitioned) finds its entry taken over: it
    drops it instead of sending it a second time."""
    from delivery_helpers import many
    box = MemoryClaimingOutbox()
    clock = ak.FakeClock(T0)
    failing = Recorder(ak.Retry("HTTP 503", retry_at=T0 + 60))  # Retry-After: 60
    async with DeliveryWorker([ak.Receiver("ops", {"rec": failing})], outbox=box,
                              clock=clock, owner="A", lease="30s") as a:
        (note,) = many(1)
        await a.submit(note)
        await a.wait_idle()
        assert len(failing.keys) == 1  # first attempt failed; retry in about 60 s
        # B takes the entry, as if A's lease had run out while it was paused.
        (entry,) = (await box.load()).entries
        assert [e.id for e in await box.claim("B", 300, 1, now=T0 + 10_000)] == [entry.id]
        await settle(clock, 120, step=5)  # A's renewal fails; its retry comes due
        await a.wait_idle()
        assert len(failing.keys) == 1  # A did not send it again: B owns it
        assert a.pending == 0


async def test_an_unreachable_store_fails_the_start_cleanly(anyio_backend: str) -> None:
    from alertkit.stores.redis_store import RedisStore
    from redis_helpers import free_port
    store = RedisStore(f"redis://127.0.0.1:{free_port()}/0")
    # On trio the store refuses at once: redis.asyncio needs asyncio.
    why = "ConnectionError" if anyio_backend == "asyncio" else "asyncio backend"
    with pytest.raises(StoreError, match=why):
        async with engine(store, ak.FakeClock(T0)):
            pass
    await store.aclose()


async def test_an_idle_refresh_reads_one_counter_not_every_record() -> None:
    class Counting(MemoryStore):
        def __init__(self) -> None:
            super().__init__()
            self.scans = 0

        async def records(self, kind: str) -> dict[str, Versioned]:
            self.scans += 1
            return await super().records(kind)

    store = Counting()
    clock = ak.FakeClock(T0)
    async with engine(store, clock) as eng:
        eng.silence({"host": "x"}, duration="1h")
        await settle(clock, 3)
        before = store.scans
        await settle(clock, 20)  # 20 refreshes, nothing written anywhere
        assert store.scans == before
        await store.put_record("alert", "elsewhere", {"x": 1}, expected_version=None)
        await settle(clock, 2)
        assert store.scans == before + 1  # another process wrote: read once


async def test_a_failed_refresh_is_read_again() -> None:
    class FailsOnce(MemoryStore):
        def __init__(self) -> None:
            super().__init__()
            self.fail_next = False

        async def records(self, kind: str) -> dict[str, Versioned]:
            if self.fail_next and kind == "silence":
                self.fail_next = False
                raise StoreError("connection reset")
            return await super().records(kind)

    store = FailsOnce()
    clock = ak.FakeClock(T0)
    async with engine(store, clock) as a, engine(store, clock) as b:
        await settle(clock, 2)
        store.fail_next = True
        s = a.silence({"host": "x"}, duration="1h")
        await settle(clock, 4)  # one of the engines' reads failed; it reads again later
        assert [x.id for x in b.silences()] == [s.id]
        assert [x.id for x in a.silences()] == [s.id]
