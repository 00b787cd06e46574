"""Lifecycle benchmark: commands per second, pure and through the Engine.

Run: ``python benchmarks/bench_lifecycle.py``. Figures (best of ``--rounds``):

- ``pure``: :meth:`Lifecycle.apply` on an in-memory state of ``--alerts`` open alerts,
  cycling acknowledge / comment / assign / unacknowledge over them (each command
  validated, audited, its record rebuilt);
- ``fire``: firing events taken by :meth:`Lifecycle.observe` (records created, escalation
  policy selected and started);
- ``engine-memory``: the same command mix through the Engine's async methods (which also
  persist through the store hooks), no store;
- ``engine-sqlite``: the same with ``store=<file>`` when this alertkit's Engine accepts a
  store (a durable write per command).
"""

from __future__ import annotations

import argparse
import gc
import inspect
import json
import platform
import tempfile
import time
from pathlib import Path
from typing import Any

import anyio

import alertkit as ak
from alertkit._lifecycle.commands import Acknowledge, Assign, Comment, Unacknowledge
from alertkit._lifecycle.escalation import EscalationLevel, EscalationPolicy
from alertkit._lifecycle.lifecycle import Lifecycle
from alertkit._lifecycle.model import LifecycleState
from alertkit.runtime.engine import Engine

START = 1_704_067_200.0
POLICY = EscalationPolicy(name="p", levels=[EscalationLevel("chat"),
                                            EscalationLevel("pager", delay="5m")])


def firing_events(n: int) -> list[ak.AlertEvent]:
    out = []
    for i in range(n):
        labels = ak.Labels(alertname=f"Rule{i % 20}", instance=f"host-{i}", team="db")
        alert = ak.Alert(fingerprint=labels.fingerprint, rule=labels["alertname"],
                         labels=labels, annotations={"summary": "x"},
                         state=ak.AlertState.FIRING, severity=ak.Severity.HIGH, value=1.0,
                         active_at=START, fired_at=START)
        out.append(ak.AlertEvent(ak.EventKind.FIRING, alert, START))
    return out


def commands(fps: list[str], count: int) -> list[Any]:
    out: list[Any] = []
    for i in range(count):
        fp = fps[i % len(fps)]
        phase = (i // len(fps)) % 4
        if phase == 0:
            out.append(Acknowledge("alice", fp, note="on it"))
        elif phase == 1:
            out.append(Comment("alice", fp, "looking"))
        elif phase == 2:
            out.append(Assign("alice", fp, "bob"))
        else:
            out.append(Unacknowledge("alice", fp))
    return out


def bench_pure(alerts: int, count: int) -> tuple[float, float]:
    lc = Lifecycle(policies=[POLICY])
    events = firing_events(alerts)
    state: LifecycleState = lc.new_state()
    gc.collect()
    t = time.perf_counter()
    lc.observe(state, events)
    fire = alerts / (time.perf_counter() - t)
    cmds = commands(list(state.records), count)
    now = START + 1
    gc.collect()
    t = time.perf_counter()
    for c in cmds:
        lc.apply(state, c, now)
    return count / (time.perf_counter() - t), fire


RULE = ak.Rule(name="High", condition="cpu > 90")


async def engine_round(alerts: int, count: int, store: str | None) -> float:
    clock = ak.FakeClock(START)
    kw: dict[str, Any] = {"clock": clock, "stale_after": "1d"}
    if store is not None:
        kw["store"] = store
    async with Engine([RULE], **kw) as engine:
        for i in range(alerts):
            engine.observe("cpu", 95, host=f"h{i}")
        await anyio.wait_all_tasks_blocked()
        fps = [a.fingerprint for a in engine.alerts()]
        t = time.perf_counter()
        for i in range(count):
            fp = fps[i % len(fps)]
            phase = (i // len(fps)) % 4
            if phase == 0:
                await engine.acknowledge(fp, actor="alice", note="on it")
            elif phase == 1:
                await engine.comment(fp, "looking", actor="alice")
            elif phase == 2:
                await engine.assign(fp, "bob", actor="alice")
            else:
                await engine.unacknowledge(fp, actor="alice")
        return count / (time.perf_counter() - t)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--alerts", type=int, default=2_000)
    parser.add_argument("--commands", type=int, default=40_000)
    parser.add_argument("--engine-commands", type=int, default=8_000)
    parser.add_argument("--sqlite-commands", type=int, default=2_000)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    args = parser.parse_args()

    pure, fire = 0.0, 0.0
    for _ in range(args.rounds):
        p, f = bench_pure(args.alerts, args.commands)
        pure, fire = max(pure, p), max(fire, f)
    mem = max(anyio.run(engine_round, args.alerts, args.engine_commands, None)
              for _ in range(args.rounds))
    results: dict[str, Any] = {"pure_commands_per_s": round(pure),
                               "fire_events_per_s": round(fire),
                               "engine_memory_commands_per_s": round(mem)}
    if "store" in inspect.signature(Engine.__init__).parameters:
        best = 0.0
        for _ in range(args.rounds):
            with tempfile.TemporaryDirectory() as tmp:
                best = max(best, anyio.run(engine_round, args.alerts, args.sqlite_commands,
                                           str(Path(tmp) / "state.db")))
        results["engine_sqlite_commands_per_s"] = round(best)
    else:
        results["engine_sqlite_commands_per_s"] = None  # this Engine has no store= yet
    results["python"] = platform.python_version()
    if args.json:
        print(json.dumps(results))
        return
    print(f"lifecycle, {args.alerts} open alerts, best of {args.rounds} "
          f"(Python {results['python']})")
    print(f"  pure Lifecycle.apply:      {results['pure_commands_per_s']:>10,} commands/s")
    print(f"  Lifecycle.observe firing:  {results['fire_events_per_s']:>10,} events/s")
    print(f"  Engine methods, memory:    {results['engine_memory_commands_per_s']:>10,} "
          f"commands/s")
    sqlite = results["engine_sqlite_commands_per_s"]
    print(f"  Engine methods, SQLite:    "
          f"{'n/a (no store= yet)' if sqlite is None else f'{sqlite:>10,} commands/s'}")


if __name__ == "__main__":
    main()
