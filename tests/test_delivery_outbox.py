"""The outbox stores (memory, SQLite) and the delivery log."""

from __future__ import annotations

import json
import math
import sqlite3
import uuid
from pathlib import Path

import anyio
import attrs
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import alertkit as ak
from delivery_helpers import alert, many, notification

pytestmark = pytest.mark.anyio


def entry(n: ak.Notification, notifier: str = "hook", **kw: object) -> ak.OutboxEntry:
    return ak.OutboxEntry(n, notifier, enqueued_at=10.0, next_attempt_at=10.0, **kw)  # type: ignore[arg-type]


@pytest.fixture(params=["memory", "sqlite"])
async def outbox(request: pytest.FixtureRequest, tmp_path: Path) -> ak.Outbox:
    if request.param == "memory":
        return ak.MemoryOutbox()
    return ak.SqliteOutbox(tmp_path / "outbox.db")


async def test_round_trip(outbox: ak.Outbox) -> None:
    n1 = notification(firing=[alert(value=math.nan), alert(host="w2", value=math.inf)],
                      resolved=[alert(host="w3", firing=False)],
                      texts={"title": "T", "body": "B ✅"})
    n2 = notification(group="g2")
    e1, e2, e3 = entry(n1), entry(n1, "pager"), entry(n2)
    assert await outbox.add([e1, e2, e3]) == [True, True, True]
    assert await outbox.add([e1]) == [False]  # already pending: kept, not doubled
    loaded = await outbox.load()
    assert loaded.corrupt == []
    assert sorted(loaded.entries, key=lambda e: e.id) == sorted([e1, e2, e3], key=lambda e: e.id)
    got = next(e for e in loaded.entries if e.id == e1.id)
    assert got.notification == n1 and math.isnan(got.notification.firing[0].value)
    assert got.notification.texts == {"title": "T", "body": "B ✅"}

    e1b = attrs.evolve(e1, attempts=2, next_attempt_at=99.5, last_error="HTTP 503")
    await outbox.update(e1b)
    await outbox.remove([e2.id, ("nobody", "x", "y")])
    loaded = await outbox.load()
    assert sorted(loaded.entries, key=lambda e: e.id) == sorted([e1b, e3], key=lambda e: e.id)
    await outbox.remove([e1.id, e3.id])
    assert (await outbox.load()).entries == []
    await outbox.aclose()


async def test_sqlite_survives_reopening(tmp_path: Path) -> None:
    path = tmp_path / "o.db"
    entries = [entry(n) for n in many(50)]
    async with ak.SqliteOutbox(path) as box:
        await box.add(entries)
        await box.remove([entries[0].id])
    async with ak.SqliteOutbox(path) as box:
        loaded = await box.load()
    assert {e.id for e in loaded.entries} == {e.id for e in entries[1:]}
    with sqlite3.connect(path) as conn:
        assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        assert conn.execute("SELECT version FROM alertkit_schema WHERE component='outbox'"
                            ).fetchone()[0] == 1


async def test_sqlite_refuses_a_newer_schema(tmp_path: Path) -> None:
    path = tmp_path / "o.db"
    async with ak.SqliteOutbox(path) as box:
        await box.load()
    with sqlite3.connect(path) as conn:
        conn.execute("UPDATE alertkit_schema SET version = 7 WHERE component = 'outbox'")
    box = ak.SqliteOutbox(path)
    with pytest.raises(ak.OutboxError, match="schema version 7; this alertkit reads version 1"):
        await box.load()
    await box.aclose()


async def test_sqlite_on_a_file_that_is_not_a_database(tmp_path: Path) -> None:
    path = tmp_path / "o.db"
    path.write_bytes(b"this is not sqlite" * 100)
    box = ak.SqliteOutbox(path)
    with pytest.raises(ak.OutboxError, match="not a usable SQLite database"):
        await box.load()
    await box.aclose()


async def test_a_closed_store_says_so(tmp_path: Path) -> None:
    box = ak.SqliteOutbox(tmp_path / "o.db")
    await box.aclose()
    await box.aclose()  # idempotent
    with pytest.raises(ak.OutboxError, match="is closed"):
        await box.load()


async def test_corrupt_rows_are_set_aside_not_lost(tmp_path: Path) -> None:
    path = tmp_path / "o.db"
    good, bad_json, bad_field, bad_type = (entry(n) for n in many(4))
    async with ak.SqliteOutbox(path) as box:
        await box.add([good, bad_json, bad_field, bad_type])
    with sqlite3.connect(path) as conn:
        conn.execute("UPDATE outbox SET notification = '{truncated' WHERE idempotency_key = ?",
                     (bad_json.notification.idempotency_key,))
        doc = ak.notification_to_dict(bad_field.notification)
        doc["alerts"][0]["labels"] = {"0bad": "x"}
        conn.execute("UPDATE outbox SET notification = ? WHERE idempotency_key = ?",
                     (json.dumps(doc), bad_field.notification.idempotency_key))
        conn.execute("UPDATE outbox SET attempts = 'many' WHERE idempotency_key = ?",
                     (bad_type.notification.idempotency_key,))
    async with ak.SqliteOutbox(path) as box:
        loaded = await box.load()
        assert [e.id for e in loaded.entries] == [good.id]
        errors = sorted(c.error for c in loaded.corrupt)
        assert len(errors) == 3
        assert any("not valid JSON" in e for e in errors)
        assert any("alerts[0].labels: label name '0bad'" in e for e in errors)
        assert any("attempts: expected a non-negative integer" in e for e in errors)
        raw = await box.corrupt_rows()
        assert len(raw) == 3 and any("{truncated" in r["row_json"] for r in raw)
        # Set aside once: the next load finds only the good row, and nothing was deleted.
        again = await box.load()
        assert [e.id for e in again.entries] == [good.id] and again.corrupt == []
        assert len(await box.corrupt_rows()) == 3


async def test_sqlite_delivery_log_persistence_and_queries(tmp_path: Path) -> None:
    path = tmp_path / "o.db"
    records = [ak.AttemptRecord(float(i), "ops" if i % 2 else "dev", "hook", f"k{i % 5}", 1,
                                ak.AttemptOutcome.DELIVERED if i % 3 else ak.AttemptOutcome.RETRY,
                                200 if i % 3 else 503, "" if i % 3 else "HTTP 503", 0.001 * i)
               for i in range(40)]
    async with ak.SqliteOutbox(path, log_retention=30) as box:
        await box.append_attempts(records)
        everything = await box.query_attempts(limit=1000)
        assert everything == records[-30:]  # pruned to the retention, oldest first
        assert await box.query_attempts(receiver="ops", since=20, until=30) == [
            r for r in records[20:30] if r.receiver == "ops"]
        assert await box.query_attempts(idempotency_key="k3", outcome="retry") == [
            r for r in records[-30:] if r.idempotency_key == "k3"
            and r.outcome is ak.AttemptOutcome.RETRY]
        assert await box.query_attempts(limit=2) == records[-2:]


def test_delivery_log_ring_buffer_queries_and_stats() -> None:
    log = ak.DeliveryLog(capacity=100)
    for i in range(150):
        log.record(ak.AttemptRecord(float(i), "ops" if i % 2 else "dev", "hook", f"k{i}", 1,
                                    ak.AttemptOutcome.DELIVERED, 200, latency=(i + 1) / 1000))
    log.record(ak.AttemptRecord(150.0, "ops", "hook", "kx", 1, ak.AttemptOutcome.RETRY, 503,
                                "HTTP 503", latency=0.5))
    log.record(ak.AttemptRecord(151.0, "ops", "hook", "kx", 2, ak.AttemptOutcome.GAVE_UP, 503,
                                "gave up", latency=0.5))
    log.record(ak.AttemptRecord(152.0, "ops", "", "ky", 0, ak.AttemptOutcome.TEMPLATE_ERROR,
                                error="template 'body': boom"))
    log.count_silenced(4)
    assert len(log) == 100
    assert [r.idempotency_key for r in log.query(idempotency_key="kx")] == ["kx", "kx"]
    assert len(log.query(receiver="dev", since=100, until=120)) == 10
    assert log.query(outcome="gave_up")[0].error == "gave up"
    assert len(log.query(limit=3)) == 3 and log.query(limit=0) == []
    s = log.stats()
    assert (s.sent, s.retried, s.failed, s.gave_up, s.attempts) == (150, 1, 1, 1, 152)
    assert (s.dropped_by_silence, s.template_errors) == (4, 1)
    assert s.p50 is not None and s.p90 is not None and s.p99 is not None
    assert s.p50 <= s.p90 <= s.p99 <= 0.5
    assert ak.DeliveryLog().stats().p50 is None
    with pytest.raises(ak.NotifierConfigError, match="capacity"):
        ak.DeliveryLog(capacity=0)


@st.composite
def notifications(draw: st.DrawFn) -> ak.Notification:
    n_firing = draw(st.integers(0, 3))
    n_resolved = draw(st.integers(0 if n_firing else 1, 3))
    values = st.floats(allow_nan=True, allow_infinity=True)
    text = st.text(max_size=20)
    label_values = st.text(min_size=1, max_size=10)
    firing = [alert(host=draw(label_values), value=draw(values),
                    t=draw(st.floats(0, 2e9)), zone=draw(label_values))
              for _ in range(n_firing)]
    resolved = [alert(host=draw(label_values), firing=False, value=draw(values))
                for _ in range(n_resolved)]
    firing = [attrs.evolve(a, annotations=draw(st.dictionaries(text, text, max_size=3)),
                           severity=draw(st.sampled_from(list(ak.Severity))))
              for a in firing]
    n = notification(draw(st.sampled_from(["ops", "dev-team", "a.b"])), firing=firing,
                     resolved=resolved,
                     texts=draw(st.dictionaries(text, text, max_size=3)))
    return attrs.evolve(n, truncated=draw(st.integers(0, 10)),
                        created_at=draw(st.floats(0, 2e9)))


@settings(suppress_health_check=[HealthCheck.function_scoped_fixture], max_examples=40)
@given(notifications())
def test_any_notification_round_trips_through_sqlite(tmp_path: Path, n: ak.Notification) -> None:
    assert ak.notification_from_json(ak.notification_to_json(n)) == n

    async def main() -> list[ak.OutboxEntry]:
        async with ak.SqliteOutbox(tmp_path / f"{uuid.uuid4().hex}.db") as box:
            await box.add([entry(n)])
            return (await box.load()).entries

    [back] = anyio.run(main)
    assert back.notification == n
