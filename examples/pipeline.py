"""Rules -> routing, grouping and silences -> delivery, in one process.

Two hosts breach a CPU rule; their alerts are grouped into one notification
for the "ops" receiver, a silence mutes a third host, and resolution is
reported at the next group interval. A FakeClock runs ten simulated minutes
at once; the receiver prints what a webhook would receive.
"""

from __future__ import annotations

import anyio

import alertkit as ak


class PrintingSender:
    """A NotificationSender that prints instead of calling a service."""

    async def send(self, n: ak.Notification, context: ak.DeliveryContext) -> ak.DeliveryResult:
        firing = ", ".join(a.labels["host"] for a in n.firing) or "-"
        resolved = ", ".join(a.labels["host"] for a in n.resolved) or "-"
        print(f"t={context.now - START:>4.0f}s  to {n.receiver}: {n.status:8} "
              f"firing [{firing}]  resolved [{resolved}]  key {n.idempotency_key[:8]}")
        return ak.Delivered()


START = 1_700_000_000.0
RULES = [ak.Rule(name="HighCPU", condition="cpu > 90", severity="high",
                 annotations={"summary": "CPU {{ value }}% on {{ labels.host }}"})]
DISPATCHER = ak.Dispatcher(
    ak.Route(receiver="ops", group_by=("alertname",), group_wait="30s",
             group_interval="2m", repeat_interval="4h"),
    [ak.ReceiverConfig(name="ops")],
)


async def main() -> None:
    clock = ak.FakeClock(START)
    async with ak.Engine(RULES, clock=clock, dispatcher=DISPATCHER,
                         receivers=[ak.Receiver("ops", {"print": PrintingSender()})]) as engine:
        engine.silence({"host": "db-1"}, duration="1h", created_by="ana",
                       comment="planned maintenance")
        for minute in range(10):
            cpu = {"web-1": 95.0, "web-2": 97.0 if minute < 4 else 40.0, "db-1": 99.0}
            for host, value in cpu.items():
                engine.observe("cpu", value, host=host)
            for _ in range(6):  # ten-second steps, so timers fire on time
                clock.advance(10)
                await anyio.wait_all_tasks_blocked()
        stats = engine.delivery.stats() if engine.delivery else None
        print(f"delivered {stats.sent if stats else 0} notifications; silenced db-1 "
              f"{'still active' if engine.silences() else 'expired'}")


if __name__ == "__main__":
    anyio.run(main)
