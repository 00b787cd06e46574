"""Anomaly detector benchmarks: samples per second through pre-bound series handles.

Run: ``python benchmarks/bench_detectors.py [--quick] [--json FILE]``. Each detector
is timed in sample mode (every sample is evaluated, the detector's worst case) on
one series and on 10,000 series, after a warm-up long enough that windows are full
and warm-ups over, so the figures are steady state. Each figure is the best of
several rounds, in wall-clock time and in CPU time of this process (the second is
what to read on a shared, loaded machine). ``avg_over_time`` over the same window
is timed alongside as a reference: the evaluator's own windowed path.

Targets (DESIGN.md budget): at least 200,000 samples/s for ``zscore`` and ``ewma``.
"""

from __future__ import annotations

import argparse
import gc
import json
import math
import os
import platform
import time

import alertkit as ak

ROUNDS = 7
STEP = 10.0  # seconds between two samples of a series

# Windows hold 30 samples at 10 s spacing; the seasonal detector compares 5 minutes
# with the same 5 minutes an hour ago. Each detector comes with the samples it needs
# before the timed rounds: full windows, warm-ups over, for seasonal an hour of history.
DETECTORS: dict[str, tuple[ak.ValueExpr, int]] = {
    "avg_over_time(x[5m]) (reference)": (ak.avg_over_time("x", "5m"), 40),
    "zscore(x[5m])": (ak.ZScore("x", "5m"), 40),
    "ewma(x)": (ak.EWMA("x"), 40),
    "robust_zscore(x[5m])": (ak.RobustZScore("x", "5m"), 40),
    "seasonal(x[5m], 1h)": (ak.Seasonal("x", "5m", "1h"), 400),
}
TARGETS = {"zscore(x[5m])": 200_000.0, "ewma(x)": 200_000.0}


def signal(i: int) -> float:
    # Deterministic, varied, never anomalous enough to fire: no events to build.
    return 100.0 + 10.0 * math.sin(i * 0.1) + (i * 7919 % 13) * 0.25


def throughput(expr: ak.ValueExpr, series: int, steps: int, warm: int) -> tuple[float, float]:
    """Best samples/s (wall clock, CPU) over ROUNDS rounds of ``steps`` samples per series."""
    rule = ak.Rule(name="Anomaly", condition=ak.Threshold(expr, ">", 1e9))
    ev = ak.Evaluator([rule])
    state = ev.new_state()
    observes = [ev.handle(state, "x", {"host": f"h{i}"}).observe for i in range(series)]
    values = [signal(i) for i in range(1024)]
    t = 0.0
    i = 0

    def run(n: int) -> int:
        nonlocal t, i
        for _ in range(n):
            t += STEP
            v = values[i & 1023]
            i += 1
            for observe in observes:
                observe(v, t)
        return n * series

    run(warm)
    wall = cpu = 0.0
    for _ in range(ROUNDS):
        gc.collect()
        start, start_cpu = time.perf_counter(), time.process_time()
        done = run(steps)
        wall = max(wall, done / (time.perf_counter() - start))
        cpu = max(cpu, done / max(time.process_time() - start_cpu, 1e-9))
    return wall, cpu


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true", help="fewer samples (a smoke run)")
    parser.add_argument("--json", help="also write the figures to this file")
    args = parser.parse_args()
    scale = 10 if args.quick else 1
    figures: dict[str, object] = {
        "python": platform.python_version(),
        "machine": platform.machine(),
        "load_average": os.getloadavg()[0],
    }
    rows = []
    for name, (expr, warm) in DETECTORS.items():
        one = throughput(expr, 1, 200_000 // scale, warm)
        many = throughput(expr, 10_000 // scale, 20, warm)
        figures[name] = {
            "one_series_per_s": one[0],
            "one_series_cpu_per_s": one[1],
            "10000_series_per_s": many[0],
            "10000_series_cpu_per_s": many[1],
        }
        target = TARGETS.get(name)
        note = ""
        if target is not None:
            met = min(one[0], many[0]) >= target
            note = f"target >= {target:,.0f} /s: {'met' if met else 'MISSED'} (wall clock)"
        rows.append(
            (name, f"{one[0]:,.0f} /s ({one[1]:,.0f})", f"{many[0]:,.0f} /s ({many[1]:,.0f})", note)
        )
    print(
        f"alertkit detector benchmarks (Python {figures['python']}, {figures['machine']}, "
        f"{os.cpu_count()} CPUs, load average {figures['load_average']:.1f} at the start)"
    )
    print("samples/s, wall clock (CPU time in parentheses), best of", ROUNDS, "rounds")
    print("| detector | 1 series | 10,000 series | note |\n|---|---|---|---|")
    for row in rows:
        print("| " + " | ".join(row) + " |")
    if args.json:
        with open(args.json, "w") as fh:
            json.dump(figures, fh, indent=2)


if __name__ == "__main__":
    main()
