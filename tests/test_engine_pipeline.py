"""The Engine with the notification pipeline: rules -> dispatcher -> delivery worker."""

from __future__ import annotations

import json
from pathlib import Path

import anyio
import pytest
from pytest_httpserver import HTTPServer

import alertkit as ak

pytestmark = pytest.mark.anyio

T0 = 1_700_000_000.0
RULE = ak.Rule(name="High", condition="cpu > 90",
               annotations={"summary": "cpu {{ value }} on {{ labels.host }}"})


class Recorder:
    """A NotificationSender that records what it is sent."""

    def __init__(self) -> None:
        self.sent: list[ak.Notification] = []

    async def send(self, n: ak.Notification, context: ak.DeliveryContext) -> ak.DeliveryResult:
        self.sent.append(n)
        return ak.Delivered(200)

    def summary(self) -> list[tuple[str, list[str], list[str]]]:
        return [(n.receiver, [a.labels["host"] for a in n.firing],
                 [a.labels["host"] for a in n.resolved]) for n in self.sent]


def pipeline(**route: object) -> ak.Dispatcher:
    defaults: dict[str, object] = {"receiver": "ops", "group_by": ("alertname",),
                                   "group_wait": "10s", "group_interval": "1m",
                                   "repeat_interval": "1h"}
    return ak.Dispatcher(ak.Route(**{**defaults, **route}),  # type: ignore[arg-type]
                         [ak.ReceiverConfig(name="ops")])


async def settle(clock: ak.FakeClock, seconds: float, step: float = 1.0) -> None:
    for _ in range(int(seconds / step)):
        clock.advance(step)
        await anyio.wait_all_tasks_blocked()


async def test_alerts_are_grouped_routed_and_delivered() -> None:
    clock = ak.FakeClock(T0)
    rec = Recorder()
    async with ak.Engine([RULE], clock=clock, dispatcher=pipeline(),
                         receivers=[ak.Receiver("ops", {"rec": rec})]) as engine:
        engine.observe("cpu", 95, host="a")
        await settle(clock, 5)
        engine.observe("cpu", 97, host="b")
        await settle(clock, 10)  # group_wait (10 s) has passed: one notification, a and b
        assert rec.summary() == [("ops", ["a", "b"], [])]
        engine.observe("cpu", 10, host="a")  # resolves a
        await settle(clock, 60)  # next group_interval tick
        assert rec.summary()[1:] == [("ops", ["b"], ["a"])]
        stats = engine.delivery.stats() if engine.delivery else None
        assert stats is not None and stats.sent == 2
        first = rec.sent[0]
        assert first.group_labels == {"alertname": "High"}
        assert first.firing[0].annotations == {"summary": "cpu 95 on a"}


async def test_silences_through_the_engine() -> None:
    clock = ak.FakeClock(T0)
    rec = Recorder()
    async with ak.Engine([RULE], clock=clock, dispatcher=pipeline(),
                         receivers=[ak.Receiver("ops", {"rec": rec})]) as engine:
        silence = engine.silence({"host": "a"}, duration="30m", created_by="ana",
                                 comment="maintenance")
        assert [s.id for s in engine.silences()] == [silence.id]
        engine.observe("cpu", 95, host="a")
        engine.observe("cpu", 95, host="b")
        await settle(clock, 15)
        assert rec.summary() == [("ops", ["b"], [])]
        engine.expire_silence(silence.id)
        await settle(clock, 60)
        assert rec.summary()[1:] == [("ops", ["a", "b"], [])]


async def test_notifications_stopped_by_a_silence_are_counted_in_the_delivery_stats() -> None:
    clock = ak.FakeClock(T0)
    rec = Recorder()
    dispatcher = pipeline(group_by=("alertname", "host"))
    async with ak.Engine([RULE], clock=clock, dispatcher=dispatcher,
                         receivers=[ak.Receiver("ops", {"rec": rec})]) as engine:
        engine.silence({"host": "a"}, duration="2h")
        engine.observe("cpu", 95, host="a")
        engine.observe("cpu", 95, host="b")
        await settle(clock, 15)
        assert rec.summary() == [("ops", ["b"], [])]
        assert engine.delivery is not None
        assert engine.delivery.stats().dropped_by_silence == 1
        await settle(clock, 300)  # later ticks of the same muted content: not counted again
        assert engine.delivery.stats().dropped_by_silence == 1
        engine.observe("cpu", 10, host="a")  # resolved, never notified: nothing to drop
        await settle(clock, 60)
        assert engine.delivery.stats().dropped_by_silence == 1
        engine.observe("cpu", 99, host="a", core="1")  # new content in the muted group
        await settle(clock, 60)
        assert engine.delivery.stats().dropped_by_silence == 2
        assert {a.labels["host"] for n in rec.sent for a in n.alerts} == {"b"}
        assert dispatcher.stats(engine.dispatch_state)["muted"] == 2  # type: ignore[arg-type]


async def test_engine_delivers_to_a_real_webhook_and_snapshots_the_dispatcher(
        tmp_path: Path) -> None:
    server = HTTPServer(host="127.0.0.1", port=0)
    server.expect_request("/hook", method="POST").respond_with_data("ok")
    server.start()
    try:
        clock = ak.FakeClock(T0)
        hook = ak.WebhookNotifier(server.url_for("/hook"))
        dispatcher = pipeline()
        async with ak.Engine([RULE], clock=clock, dispatcher=dispatcher,
                             receivers=[ak.Receiver("ops", {"hook": hook})],
                             outbox=tmp_path / "outbox.db") as engine:
            engine.silence({"host": "z"}, duration="1h")
            engine.observe("cpu", 95, host="a")
            await settle(clock, 11)
            for _ in range(200):  # the HTTP round trip runs on the real clock
                if engine.delivery is not None and engine.delivery.stats().sent:
                    break
                await anyio.sleep(0.01)
            snapshot = engine.snapshot()
        (request, _response), = server.log
        body = json.loads(request.get_data())
        assert [(a["labels"]["host"], a["status"]) for a in body["alerts"]] == [("a", "firing")]
        assert request.headers["Idempotency-Key"] == body["idempotency_key"]
        # the dispatcher's state (silence, notification log) comes back with the snapshot
        again = ak.Engine([RULE], clock=clock, dispatcher=dispatcher,
                          receivers=[ak.Receiver("ops", {"hook": hook})], state=snapshot)
        assert len(again.silences()) == 1
    finally:
        server.clear()
        server.stop()


def test_pipeline_configuration_errors() -> None:
    rec = Recorder()
    with pytest.raises(ak.ConfigError, match="no delivery Receiver: ops"):
        ak.Engine([RULE], dispatcher=pipeline(), receivers=[])
    with pytest.raises(ak.ConfigError, match="need a dispatcher"):
        ak.Engine([RULE], receivers=[ak.Receiver("ops", {"rec": rec})])
    engine = ak.Engine([RULE])
    with pytest.raises(ak.ConfigError, match="no dispatcher"):
        engine.silence({"a": "b"}, duration="1h")
    full = ak.Engine([RULE], dispatcher=pipeline(), receivers=[ak.Receiver("ops", {"r": rec})])
    with pytest.raises(ak.ConfigError, match="either ends_at or duration"):
        full.silence({"a": "b"})
    with pytest.raises(ak.SnapshotError):
        ak.Engine([RULE], state=b"{nope")




async def test_external_events_go_through_the_pipeline_like_the_rules_own() -> None:
    clock = ak.FakeClock(T0)
    rec = Recorder()
    async with ak.Engine([RULE], clock=clock, dispatcher=pipeline(),
                         receivers=[ak.Receiver("ops", {"rec": rec})]) as engine:
        events = engine.events()
        labels = ak.Labels(alertname="High", host="ext")
        alert = ak.Alert(labels.fingerprint, "High", labels, {}, ak.AlertState.FIRING,
                         ak.Severity.HIGH, 1.0, T0, T0)
        engine.emit([ak.AlertEvent(ak.EventKind.FIRING, alert, T0)])
        with anyio.fail_after(2):
            assert (await events.__anext__()).alert.labels["host"] == "ext"
        await events.aclose()
        await settle(clock, 15)
        assert rec.summary() == [("ops", ["ext"], [])]
        with pytest.raises(TypeError, match="AlertEvent"):
            engine.emit(["not an event"])  # type: ignore[list-item]
