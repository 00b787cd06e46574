"""Throughput of the trend, change and occurrence kinds (deriv, predict_linear, change,
count_matching, percent_matching, flatline, cardinality).

Run: ``python benchmarks/bench_kinds.py [--rounds N] [--json FILE]``. Each figure is samples
per second through pre-bound ``Evaluator.handle(...).observe`` in sample mode (every sample
feeds the kind's window and evaluates the rule for its series), best of several rounds,
measured in steady state (windows already full), with:

- one series, a sample every second (300 samples in a 5 minute window);
- 10,000 series, a sample each every 10 seconds (30 samples in a 5 minute window).

A threshold on the instant value and ``avg_over_time`` are timed in the same run, for
scale. The last column is one ``tick`` over the 10,000 series: cardinality, a global
condition, does its work there rather than per sample.
"""

from __future__ import annotations

import argparse
import gc
import json
import math
import platform
import time
from collections.abc import Callable

import alertkit as ak

SERIES = 10_000

KINDS: list[tuple[str, Callable[[], ak.Condition]]] = [
    ("threshold (instant, baseline)", lambda: ak.Threshold("m", ">", 1e9)),
    ("avg_over_time 5m (baseline)", lambda: ak.Threshold(ak.avg_over_time("m", "5m"), ">", 1e9)),
    ("deriv 5m", lambda: ak.Threshold(ak.Deriv("m", "5m"), ">", 1e9)),
    ("predict_linear 5m, 4h", lambda: ak.Threshold(ak.PredictLinear("m", "5m", "4h"), "<", -1e18)),
    ("change avg 5m vs previous, percent",
     lambda: ak.Threshold(ak.Change("avg", "m", "5m", mode="percent"), ">", 1e9)),
    ("change max 5m, offset 10m",
     lambda: ak.Threshold(ak.Change("max", "m", "5m", offset="10m"), ">", 1e9)),
    ("count_matching 5m",
     lambda: ak.Threshold(ak.CountMatching("m", "5m", ">", 90), ">=", 1e9)),
    ("percent_matching 5m",
     lambda: ak.Threshold(ak.PercentMatching("m", "5m", ">", 90), ">", 200)),
    ("flatline 5m", lambda: ak.Flatline("m", "5m", 2)),
    ("cardinality 5m (global)", lambda: ak.Cardinality("m", "5m", "host", ">", 1e9)),
]

# A deterministic wavy signal, precomputed so the timed loops do nothing but observe.
VALUES = [50.0 + 40.0 * math.sin(i / 7.0) + (i % 13) for i in range(1000)]


def one_series(condition: ak.Condition, rounds: int) -> float:
    ev = ak.Evaluator([ak.Rule(name="K", condition=condition)])
    state = ev.new_state()
    observe = ev.handle(state, "m", {"host": "h0"}).observe
    t = 0.0
    for i in range(1200):  # fill every window (20 minutes of 1 s samples)
        t += 1.0
        observe(VALUES[i % 1000], t)
    best = 0.0
    n = 20_000
    for _ in range(rounds):
        gc.collect()
        start = time.perf_counter()
        for i in range(n):
            t += 1.0
            observe(VALUES[i % 1000], t)
        best = max(best, n / (time.perf_counter() - start))
    return best


def many_series(condition: ak.Condition, rounds: int) -> tuple[float, float]:
    ev = ak.Evaluator([ak.Rule(name="K", condition=condition)])
    state = ev.new_state()
    observes = [ev.handle(state, "m", {"host": f"h{i}"}).observe for i in range(SERIES)]
    t = 0.0

    def step(k: int) -> None:
        v = VALUES[k % 1000]
        for observe in observes:
            observe(v, t)

    k = 0
    for _ in range(120):  # 20 minutes of 10 s samples: every window full
        t += 10.0
        step(k)
        k += 1
    best = 0.0
    steps = 10
    for _ in range(rounds):
        gc.collect()
        start = time.perf_counter()
        for _ in range(steps):
            t += 10.0
            step(k)
            k += 1
        best = max(best, steps * SERIES / (time.perf_counter() - start))
    tick_best = math.inf
    for _ in range(rounds):
        start = time.perf_counter()
        ev.tick(state, t)
        tick_best = min(tick_best, time.perf_counter() - start)
    return best, tick_best


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--json", help="also write the figures to this file")
    args = parser.parse_args()
    figures: dict[str, object] = {"python": platform.python_version(),
                                  "machine": platform.machine()}
    print(f"alertkit kind benchmarks (Python {figures['python']}, {figures['machine']}), "
          f"best of {args.rounds} rounds, sample mode")
    print("| kind | 1 series (samples/s) | 10,000 series (samples/s) | tick, 10,000 series |")
    print("|---|---|---|---|")
    for name, make in KINDS:
        single = one_series(make(), args.rounds)
        multi, tick = many_series(make(), args.rounds)
        figures[name] = {"one_series_per_s": single, "many_series_per_s": multi,
                         "tick_s": tick}
        print(f"| {name} | {single:,.0f} | {multi:,.0f} | {tick * 1000:,.1f} ms |", flush=True)
    if args.json:
        with open(args.json, "w") as fh:
            json.dump(figures, fh, indent=2)


if __name__ == "__main__":
    main()
