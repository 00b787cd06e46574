"""The anyio Engine, on asyncio and trio."""

from __future__ import annotations

import io
import json
import logging
from collections.abc import Sequence

import anyio
import pytest

import alertkit as ak

pytestmark = pytest.mark.anyio

HIGH = ak.Rule(name="High", condition=ak.Threshold("cpu", ">", 90), for_="1m",
               annotations={"summary": "cpu {{ value }} on {{ labels.host }}"})


class Recorder:
    def __init__(self) -> None:
        self.batches: list[list[ak.AlertEvent]] = []

    async def notify(self, events: Sequence[ak.AlertEvent]) -> None:
        self.batches.append(list(events))

    @property
    def kinds(self) -> list[str]:
        return [e.kind.value for batch in self.batches for e in batch]


async def test_for_elapses_through_background_ticks_with_a_fake_clock() -> None:
    clock = ak.FakeClock(1000.0)
    rec = Recorder()
    async with ak.Engine([HIGH], notifiers=[rec], clock=clock,
                         evaluation_interval="15s") as engine:
        engine.observe("cpu", 95.0, host="a")
        await anyio.wait_all_tasks_blocked()
        assert rec.kinds == ["pending"]
        for _ in range(4):
            clock.advance(15)
            await anyio.wait_all_tasks_blocked()
        assert rec.kinds == ["pending", "firing"]
        firing = rec.batches[-1][0]
        assert firing.at == 1060.0 and firing.alert.annotations == {"summary": "cpu 95 on a"}
        assert [a.state for a in engine.alerts()] == [ak.AlertState.FIRING]


async def test_events_iterator_sees_every_event_and_ends_on_close() -> None:
    clock = ak.FakeClock(0.0)
    seen: list[str] = []
    async with anyio.create_task_group() as tg:
        engine = ak.Engine([ak.Rule(name="R", condition=ak.Threshold("x", ">", 1))],
                           clock=clock)

        async def consume() -> None:
            async for event in engine.events():
                seen.append(f"{event.kind}@{event.at:g}")

        async with engine:
            tg.start_soon(consume)
            await anyio.wait_all_tasks_blocked()
            engine.observe("x", 5, 1.0)
            engine.observe("x", 0, 2.0)
            engine.observe("x", 5, 3.0)
        # leaving the engine ends the consumer's loop; the task group then exits
    assert seen == ["firing@1", "resolved@2", "firing@3"]


async def test_series_handles_and_explicit_tick() -> None:
    clock = ak.FakeClock(0.0)
    rec = Recorder()
    async with ak.Engine([HIGH], notifiers=[rec], clock=clock,
                         evaluation_interval="1h") as engine:
        cpu = engine.series("cpu", host="a")
        cpu.observe(99)
        clock.advance(60)
        cpu.observe(99)  # timestamped by the clock
        events = await engine.tick()  # also lets the notifiers run
        assert rec.kinds == ["pending", "firing"]
        assert not events  # the sample at 60 already fired it
        assert "cpu" in repr(cpu)


async def test_shutdown_flushes_undelivered_events() -> None:
    rec = Recorder()
    async with ak.Engine([ak.Rule(name="R", condition=ak.Threshold("x", ">", 1))],
                         notifiers=[rec], clock=ak.FakeClock(0.0)) as engine:
        engine.observe("x", 5, 1.0)  # no await after this: delivery has not happened yet
    assert rec.kinds == ["firing"]


async def test_failing_notifier_does_not_stop_the_others(caplog: pytest.LogCaptureFixture) -> None:
    class Broken:
        async def notify(self, events: Sequence[ak.AlertEvent]) -> None:
            raise RuntimeError("boom")

    rec = Recorder()
    async with ak.Engine([ak.Rule(name="R", condition=ak.Threshold("x", ">", 1))],
                         notifiers=[Broken(), rec], clock=ak.FakeClock(0.0)) as engine:
        engine.observe("x", 5, 1.0)
        await engine.tick(1.0)
        assert engine.notify_failures == 1
    assert rec.kinds == ["firing"]
    assert "boom" in caplog.text


async def test_ingest_reports_and_emits() -> None:
    rec = Recorder()
    async with ak.Engine([ak.Rule(name="R", condition=ak.Threshold("x", ">", 1))],
                         notifiers=[rec], clock=ak.FakeClock(0.0)) as engine:
        report = engine.ingest([("x", 5, 1.0), ("x", "bad", 2.0)])
        assert report.accepted == 1 and len(report.rejected) == 1
    assert rec.kinds == ["firing"]


async def test_snapshot_and_restore_through_the_engine() -> None:
    clock = ak.FakeClock(0.0)
    async with ak.Engine([HIGH], clock=clock) as engine:
        engine.observe("cpu", 95.0, 0.0, host="a")
        snapshot = engine.snapshot()
    rec = Recorder()
    clock.set(60.0)
    async with ak.Engine([HIGH], clock=clock, notifiers=[rec], state=snapshot) as engine:
        assert [a.state for a in engine.alerts()] == [ak.AlertState.PENDING]
        await engine.tick()
    assert rec.kinds == ["firing"]


async def test_console_log_and_callback_notifiers(caplog: pytest.LogCaptureFixture) -> None:
    text, js = io.StringIO(), io.StringIO()
    got: list[str] = []

    async def async_cb(events: Sequence[ak.AlertEvent]) -> None:
        got.extend(f"async {e.kind}" for e in events)

    notifiers = [ak.ConsoleNotifier(text), ak.ConsoleNotifier(js, json=True),
                 ak.LogNotifier(), ak.CallbackNotifier(lambda evs: got.extend(
                     f"sync {e.kind}" for e in evs)), ak.CallbackNotifier(async_cb)]
    caplog.set_level(logging.INFO, logger="alertkit.alerts")
    async with ak.Engine([HIGH.__class__(name="Crit", condition=ak.Threshold("x", ">", 1),
                                         severity="critical")],
                         notifiers=notifiers, clock=ak.FakeClock(0.0)) as engine:
        engine.observe("x", 5, 1.0, host="a")
    assert text.getvalue().startswith(
        '1970-01-01T00:00:01Z firing    Crit{alertname="Crit", host="a", severity="critical"} '
        "value=5")
    record = json.loads(js.getvalue())
    assert record["event"] == "firing" and record["labels"]["host"] == "a"
    assert record["value"] == "5" and record["severity"] == "critical"
    assert got == ["sync firing", "async firing"]
    (log_record,) = [r for r in caplog.records if r.name == "alertkit.alerts"]
    assert log_record.levelno == logging.ERROR and log_record.alert["rule"] == "Crit"  # type: ignore[attr-defined]
    assert "CallbackNotifier" in repr(notifiers[3])


async def test_engine_rejects_non_notifiers_and_double_entry() -> None:
    with pytest.raises(ak.AlertkitError, match="not a Notifier"):
        ak.Engine([], notifiers=[object()])  # type: ignore[list-item]
    engine = ak.Engine([], clock=ak.FakeClock(0.0))
    async with engine:
        pass
    with pytest.raises(ak.AlertkitError, match="entered once"):
        async with engine:
            pass


async def test_tick_tolerates_samples_ahead_of_the_clock() -> None:
    async with ak.Engine([HIGH], clock=ak.FakeClock(0.0)) as engine:
        engine.observe("cpu", 1.0, 500.0, host="a")
        assert not await engine.tick()


async def test_system_clock_engine_runs() -> None:
    rec = Recorder()
    async with ak.Engine([ak.Rule(name="R", condition=ak.Threshold("x", ">", 1))],
                         notifiers=[rec], evaluation_interval=0.01) as engine:
        engine.observe("x", 5)
        await anyio.sleep(0.05)
    assert rec.kinds == ["firing"]
    assert ak.SystemClock().now() > 1.6e9


async def test_fake_clock() -> None:
    clock = ak.FakeClock(10.0)
    with pytest.raises(ak.TimeWentBackwardsError):
        clock.set(5.0)
    with pytest.raises(ak.TimeWentBackwardsError):
        clock.advance(-1)
    woke: list[float] = []

    async def sleeper() -> None:
        await clock.sleep_until(20.0)
        woke.append(clock.now())

    async with anyio.create_task_group() as tg:
        tg.start_soon(sleeper)
        await anyio.wait_all_tasks_blocked()
        clock.advance(5)
        await anyio.wait_all_tasks_blocked()
        assert woke == []
        clock.advance(5)
    assert woke == [20.0]
    await clock.sleep_until(0)  # in the past: returns at once
    assert repr(clock) == "FakeClock(20.0)"


async def test_a_consumer_that_leaves_does_not_break_observe() -> None:
    async with ak.Engine([ak.Rule(name="R", condition=ak.Threshold("x", ">", 1))],
                         clock=ak.FakeClock(0.0)) as engine:
        seen = []
        events = engine.events()
        async with anyio.create_task_group() as tg:
            async def first_only() -> None:
                async for event in events:
                    seen.append(event.kind.value)
                    break

            tg.start_soon(first_only)
            await anyio.wait_all_tasks_blocked()
            engine.observe("x", 5, 1.0)
        await events.aclose()  # type: ignore[attr-defined]
        engine.observe("x", 0, 2.0)
        engine.observe("x", 5, 3.0)
    assert seen == ["firing"]


async def test_events_subscription_starts_at_the_call() -> None:
    async with ak.Engine([ak.Rule(name="R", condition=ak.Threshold("x", ">", 1))],
                         clock=ak.FakeClock(0.0)) as engine, engine.events() as subscription:
        engine.observe("x", 5, 1.0)  # before anyone iterates
        first = await subscription.__anext__()
    assert first.kind is ak.EventKind.FIRING


async def test_tick_loop_catches_up_on_a_grid() -> None:
    rule = ak.Rule(name="C", condition=ak.Consecutive(ak.Threshold("x", ">", 1), 3),
                   mode="tick")
    clock = ak.FakeClock(0.0)
    rec = Recorder()
    async with ak.Engine([rule], notifiers=[rec], clock=clock,
                         evaluation_interval="15s") as engine:
        engine.observe("x", 5, 0.0)
        clock.advance(60)  # one jump: the ticks at 15, 30 and 45 and 60 all run
        await anyio.wait_all_tasks_blocked()
    assert [(e.kind.value, e.at) for batch in rec.batches for e in batch] == [("firing", 45.0)]
