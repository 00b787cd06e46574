"""On call: escalation until someone acknowledges, kept in a SQLite file across a restart.

An API goes down. The team chat hears at once, the pager five minutes later; the on-call
engineer acknowledges, which stops the escalation before the phone call. The Engine keeps
its state in a SQLite file: after a restart the alert is still acknowledged, with its audit
trail. A FakeClock runs the simulated minutes at once; receivers print what they would send.
"""

from __future__ import annotations

import tempfile
from pathlib import Path

import anyio

import alertkit as ak

START = 1_700_000_000.0


class Printer:
    """A NotificationSender that prints instead of calling a service."""

    def __init__(self, name: str) -> None:
        self.name = name

    async def send(self, n: ak.Notification, context: ak.DeliveryContext) -> ak.DeliveryResult:
        alerts = ", ".join(a.labels.get("service", "?") for a in n.alerts)
        print(f"t={context.now - START:>4.0f}s  {self.name:9} {n.status:8} [{alerts}]")
        return ak.Delivered()


RECEIVERS = ("ops", "team-chat", "pager", "phone")
RULE = ak.Rule(name="ApiDown", condition="up < 1", severity="critical",
               annotations={"summary": "{{ labels.service }} is down"})
POLICY = ak.EscalationPolicy(
    name="oncall",
    levels=[ak.EscalationLevel("team-chat"),               # at once
            ak.EscalationLevel("pager", delay="5m"),       # 5 minutes after firing
            ak.EscalationLevel("phone", delay="15m")],     # never reached: acknowledged
)


def engine(path: Path, clock: ak.FakeClock) -> ak.Engine:
    dispatcher = ak.Dispatcher(ak.Route(receiver="ops", group_by=["alertname"]),
                               [ak.ReceiverConfig(name=name) for name in RECEIVERS])
    return ak.Engine([RULE], clock=clock, stale_after="1d", dispatcher=dispatcher,
                     receivers=[ak.Receiver(name, {"print": Printer(name)}) for name in RECEIVERS],
                     lifecycle=ak.Lifecycle(policies=[POLICY]), store=path)


async def minutes(clock: ak.FakeClock, n: int) -> None:
    for _ in range(n * 4):
        clock.advance(15)
        await anyio.wait_all_tasks_blocked()


async def main() -> None:
    clock = ak.FakeClock(START)
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "alertkit.db"
        async with engine(path, clock) as first:
            first.observe("up", 0, service="api")
            await minutes(clock, 7)                       # chat at once, pager at 5m
            (alert,) = first.alerts()
            await first.acknowledge(alert, actor="lea", note="looking into it")
            print(f"t={clock.now() - START:>4.0f}s  lea acknowledged {alert.rule}")
            await minutes(clock, 20)                      # no phone call: acknowledged

        async with engine(path, clock) as second:         # a restart, same file
            (record,) = second.alert_records()
            print(f"after restart: {record.status.value}, acknowledged by "
                  f"{record.acknowledged_by}")
            for entry in second.alert_history(alert):
                print(f"  audit: {entry.action:12} by {entry.actor}")


if __name__ == "__main__":
    anyio.run(main)
