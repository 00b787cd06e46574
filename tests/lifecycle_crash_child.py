"""Child process of the escalation crash test: an Engine on a SQLite store escalating an
alert to webhooks on a local server.

``python lifecycle_crash_child.py DB URL``: fires one alert (printing ``FIRED``) and runs
until killed, or until ``--for SECONDS`` have passed (then prints ``DONE`` and exits).
The policy notifies ``l1`` at once, ``l2`` after 0.6 s and ``l3`` after 1.2 s.
"""

from __future__ import annotations

import sys

import anyio

import alertkit as ak
from alertkit._lifecycle.escalation import EscalationLevel, EscalationPolicy
from alertkit._lifecycle.lifecycle import Lifecycle
from alertkit.notify.webhook import WebhookNotifier
from alertkit.runtime.delivery import Receiver
from alertkit.runtime.engine import Engine

POLICY = EscalationPolicy(name="oncall", levels=[
    EscalationLevel("l1"), EscalationLevel("l2", delay=0.6), EscalationLevel("l3", delay=1.2)])
RULE = ak.Rule(name="Down", condition="up < 1", severity="critical")


async def main(db: str, url: str, seconds: float | None) -> None:
    names = ("ops", "l1", "l2", "l3")
    dispatcher = ak.Dispatcher(ak.Route(receiver="ops", group_by=["alertname"],
                                        group_wait="1h"),
                               [ak.ReceiverConfig(name=n) for n in names])
    receivers = [Receiver(n, {"hook": WebhookNotifier(f"{url}/{n}")}, timeout=60)
                 for n in names]
    async with Engine([RULE], dispatcher=dispatcher, receivers=receivers, store=db,
                      lifecycle=Lifecycle(policies=[POLICY]), snapshot_interval="0.3s",
                      evaluation_interval="0.1s") as engine:
        engine.observe("up", 0, service="api")
        print("FIRED", flush=True)
        if seconds is None:
            await anyio.sleep_forever()
        await anyio.sleep(seconds)
        assert engine.delivery is not None
        with anyio.fail_after(20):
            await engine.delivery.wait_idle()
    print("DONE", flush=True)


if __name__ == "__main__":
    db, url = sys.argv[1:3]
    anyio.run(main, db, url, float(sys.argv[3]) if len(sys.argv) > 3 else None)
