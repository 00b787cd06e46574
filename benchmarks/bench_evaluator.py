"""Evaluator benchmarks: throughput, evaluation cycle and memory (DESIGN.md budget).

Run: ``python benchmarks/bench_evaluator.py`` (or ``nox -s bench``). Each figure is the
best of several rounds; the bare-loop baseline is timed in the same run, interleaved
with the evaluator, so the ratio is robust to the machine's speed and load.
"""

from __future__ import annotations

import argparse
import gc
import json
import platform
import time
import tracemalloc
from collections.abc import Callable

import alertkit as ak

SERIES = 100_000
ROUNDS = 5


def best_rate(fn: Callable[[int], int], rounds: int = ROUNDS) -> float:
    """Samples per second of the fastest round; ``fn(round)`` returns samples processed."""
    best = 0.0
    for r in range(rounds):
        gc.collect()
        start = time.perf_counter()
        n = fn(r)
        best = max(best, n / (time.perf_counter() - start))
    return best


def threshold_throughput() -> dict[str, float]:
    ev = ak.Evaluator([ak.Rule(name="High", condition=ak.Threshold("cpu", ">", 90.0))])
    state = ev.new_state()
    observes = [ev.handle(state, "cpu", {"host": f"h{i}"}).observe for i in range(SERIES)]
    limits = {f"h{i}": 90.0 for i in range(SERIES)}
    samples = [(f"h{i}", 50.0) for i in range(SERIES)]  # what the bare loop is given
    bound = [(observe, 50.0) for observe in observes]  # what the evaluator is given

    def bare(r: int) -> int:
        hits = 0
        for key, value in samples:  # one dict lookup and one compare per sample
            if value > limits[key]:
                hits += 1
        return len(samples)

    def handles(r: int) -> int:
        ts = float(r + 1)
        for observe, value in bound:
            observe(value, ts)
        return len(bound)

    bare_best = evaluator_best = 0.0
    for r in range(ROUNDS):  # interleaved: both see the same machine state
        bare_best = max(bare_best, best_rate(bare, 1))
        evaluator_best = max(evaluator_best, best_rate(lambda _r, r=r: handles(r), 1))
    return {"bare_loop_per_s": bare_best, "threshold_per_s": evaluator_best,
            "ratio": evaluator_best / bare_best}


def window_throughput() -> float:
    rule = ak.Rule(name="HighAvg", condition=ak.Threshold(ak.avg_over_time("cpu", "5m"), ">", 90))
    series, steps = 1_000, 600  # 1 s spacing: 300 samples in each window once warm

    def run(r: int) -> int:
        ev = ak.Evaluator([rule])
        state = ev.new_state()
        observes = [ev.handle(state, "cpu", {"host": f"h{i}"}).observe for i in range(series)]
        for step in range(steps):
            ts = float(step)
            for observe in observes:
                observe(50.0, ts)
        return series * steps

    return best_rate(run, 3)


def evaluation_cycle() -> dict[str, float]:
    ev = ak.Evaluator([ak.Rule(name="High", condition=ak.Threshold("cpu", ">", 90.0))])
    state = ev.new_state()
    handles = [ev.handle(state, "cpu", {"host": f"h{i}"}) for i in range(SERIES)]
    best_cycle = best_tick = float("inf")
    for r in range(ROUNDS):
        t = 10.0 * (r + 1)
        start = time.perf_counter()
        for h in handles:  # one sample each ...
            h.observe(50.0, t)
        mid = time.perf_counter()
        ev.tick(state, t)  # ... then the evaluation tick
        end = time.perf_counter()
        best_cycle = min(best_cycle, end - start)
        best_tick = min(best_tick, end - mid)
    return {"cycle_s": best_cycle, "tick_s": best_tick}


def memory() -> dict[str, float]:
    gc.collect()
    tracemalloc.start()
    ev = ak.Evaluator([ak.Rule(name="High", condition=ak.Threshold("cpu", ">", 90.0),
                               annotations={"summary": "{{ labels.host }} {{ value }}"})])
    state = ev.new_state()
    base = tracemalloc.get_traced_memory()[0]
    for i in range(SERIES):
        ev.observe(state, "cpu", 50.0, 1.0, {"host": f"host-{i:06d}"})
    per_series = (tracemalloc.get_traced_memory()[0] - base) / SERIES
    alerts = 10_000
    base = tracemalloc.get_traced_memory()[0]
    kept = []
    for i in range(alerts):  # firing alerts; keep their events as a caller would not
        kept.append(len(ev.observe(state, "cpu", 99.0, 2.0, {"host": f"host-{i:06d}"})))
    per_alert = (tracemalloc.get_traced_memory()[0] - base) / alerts
    tracemalloc.stop()
    assert sum(kept) == alerts
    return {"bytes_per_series": per_series, "bytes_per_alert": per_alert}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--json", help="also write the figures to this file")
    args = parser.parse_args()
    figures: dict[str, object] = {"python": platform.python_version(),
                                  "machine": platform.machine(),
                                  "processor": platform.processor() or "unknown"}
    figures.update(threshold_throughput())
    figures["window_avg_5m_per_s"] = window_throughput()
    figures.update(evaluation_cycle())
    figures.update(memory())
    rows = [
        ("bare loop (dict lookup + compare)", f"{figures['bare_loop_per_s']:,.0f} /s", ""),
        ("threshold rule via series handles", f"{figures['threshold_per_s']:,.0f} /s",
         f"{figures['ratio']:.2f} x bare (target >= 0.4 x, >= 1,500,000 /s)"),
        ("avg_over_time 5m via handles", f"{figures['window_avg_5m_per_s']:,.0f} /s",
         "target >= 300,000 /s"),
        ("100k series: 1 sample each + tick", f"{figures['cycle_s']:.3f} s", "target < 0.3 s"),
        ("100k series: tick alone", f"{figures['tick_s']:.3f} s", ""),
        ("memory per tracked series", f"{figures['bytes_per_series']:,.0f} B",
         "target <= 1024 B"),
        ("memory per active alert", f"{figures['bytes_per_alert']:,.0f} B", "target <= 2048 B"),
    ]
    print(f"alertkit evaluator benchmarks (Python {figures['python']}, {figures['machine']})")
    print("| measure | figure | note |\n|---|---|---|")
    for name, value, note in rows:
        print(f"| {name} | {value} | {note} |")
    if args.json:
        with open(args.json, "w") as fh:
            json.dump(figures, fh, indent=2)


if __name__ == "__main__":
    main()
