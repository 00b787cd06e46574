"""Rule testing throughput: samples/s through ``alertkit.testing.replay``.

What a property test pays per example: one replay of a series through a rule (tick mode,
1-minute ticks), with and without the dispatcher; and promtool-style rule test files run
by ``run_test_file``.

Run: ``python benchmarks/bench_replay.py [--samples N] [--rounds R]`` (best of R rounds).
"""

from __future__ import annotations

import argparse
import math
import tempfile
import time
from pathlib import Path

import alertkit as ak
from alertkit.testing import replay, run_test_file

RULES = [
    ak.Rule(name="HighCPU", condition="avg_over_time(cpu[5m]) > 90", for_="2m"),
    ak.Rule(name="Spike", condition="cpu > 99"),
]
ROUTE = ak.Route(receiver="ops", group_by=["alertname"], group_wait="30s",
                 group_interval="5m", repeat_interval="4h")

TEST_FILE = """\
[[groups]]
name = "g"
[[groups.rules]]
name = "HighCPU"
expr = "avg_over_time(cpu[5m]) > 90"
for = "2m"

[[tests]]
interval = "1m"
[[tests.input_series]]
series = 'cpu{host="a"}'
values = "50x10 95x30 50x20"
[[tests.alert_rule_test]]
eval_time = "20m"
alertname = "HighCPU"
[[tests.alert_rule_test.exp_alerts]]
exp_labels = { host = "a" }
"""


def series(n: int, hosts: int) -> dict[str, list[tuple[float, float]]]:
    per = n // hosts
    return {f'cpu{{host="h{h}"}}': [(i * 15.0, 80 + 20 * math.sin(i / 40 + h))
                                     for i in range(per)] for h in range(hosts)}


def best(rounds: int, fn: object) -> float:
    times = []
    for _ in range(rounds):
        started = time.perf_counter()
        fn()  # type: ignore[operator]
        times.append(time.perf_counter() - started)
    return min(times)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--samples", type=int, default=40_000)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    data = series(args.samples, hosts=4)
    total = sum(len(v) for v in data.values())
    without = best(args.rounds, lambda: replay(RULES, data, ticks="1m", mode="tick"))
    with_routes = best(args.rounds, lambda: replay(RULES, data, ticks="1m", mode="tick",
                                                   routes=ROUTE, receivers=["ops"]))
    small = series(240, hosts=1)  # one hypothesis-sized example: an hour at 15 s
    example = best(args.rounds * 20, lambda: replay(RULES, small, ticks="1m", mode="tick"))
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "cpu_test.toml"
        path.write_text(TEST_FILE)
        assert run_test_file(path).ok
        test_file = best(args.rounds * 20, lambda: run_test_file(path))
    print(f"replay benchmarks ({total:,} samples, 4 series, 2 rules, 1-minute ticks)")
    print(f"  replay, evaluator only           {total / without:12,.0f} samples/s")
    print(f"  replay, evaluator + dispatcher   {total / with_routes:12,.0f} samples/s")
    print(f"  one 240-sample example            {example * 1000:11.2f} ms")
    print(f"  one rule test file (61 samples)   {test_file * 1000:11.2f} ms")


if __name__ == "__main__":
    main()
