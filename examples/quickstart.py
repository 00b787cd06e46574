"""alertkit quickstart: a simulated host metric with spikes, two rules, events printed.

Thirty simulated minutes run in a fraction of a second: the Engine's clock is a
FakeClock that this script moves forward. With the default SystemClock the same code
runs in real time.
"""

from __future__ import annotations

import math
import random

import anyio

import alertkit as ak

RULES = [
    # A sustained breach: average CPU over 2 minutes above 80 % for 1 minute.
    ak.Rule(
        name="HighCPU",
        condition=ak.Threshold(ak.avg_over_time("cpu_percent", "2m"), ">", 80),
        recovery=ak.Threshold(ak.avg_over_time("cpu_percent", "2m"), "<", 70),
        for_="1m",
        severity="high",
        annotations={"summary": "CPU on {{ labels.host }} at {{ value | humanize }}%"},
    ),
    # Any single spike: evaluated at every sample, so a short spike is never missed.
    ak.Rule(
        name="CPUSpike",
        condition=ak.Threshold("cpu_percent", ">=", 98),
        keep_firing_for="30s",
        severity="low",
        annotations={"summary": "spike to {{ value }}% on {{ labels.host }}"},
    ),
]


def cpu_at(minute: float, rng: random.Random) -> float:
    """A daily-ish wave, noise, a short spike at minute 5 and a sustained load at 12..20."""
    value = 45 + 10 * math.sin(minute / 5) + rng.gauss(0, 3)
    if 5.0 <= minute < 5.2:
        value = 99.0
    if 12 <= minute < 20:
        value = 90 + rng.gauss(0, 2)
    return max(0.0, min(100.0, value))


async def main() -> None:
    rng = random.Random(42)
    clock = ak.FakeClock(1_700_000_000.0)
    async with ak.Engine(RULES, notifiers=[ak.ConsoleNotifier()], clock=clock,
                         evaluation_interval="15s") as engine:
        cpu = engine.series("cpu_percent", host="web-1")  # bound once: fast to observe
        for step in range(30 * 6):  # a sample every 10 s for 30 minutes
            cpu.observe(cpu_at(step / 6, rng))
            clock.advance(10)
            await anyio.wait_all_tasks_blocked()  # let ticks and notifiers run
        print(f"still active at the end: {[a.rule for a in engine.alerts()]}")


if __name__ == "__main__":
    anyio.run(main)
