"""Expression parser throughput: typical rules parsed per second (target: >= 10,000/s).

Run: ``python benchmarks/bench_parser.py`` (or ``nox -s bench``). The figure is the
best of several rounds over a fixed set of rules like the ones people write
(thresholds, windows with matchers, ratios of rates, absence, composites), each
parsed from text to condition objects, validation included. No caching: every
round parses every text afresh.
"""

from __future__ import annotations

import argparse
import gc
import json
import platform
import time

import alertkit as ak

TARGET = 10_000
ROUNDS = 7
REPEAT = 400  # parses of the whole set per round

RULES = [
    "cpu_usage_percent > 90",
    'up{job="api"} == 0',
    'avg_over_time(cpu{host=~"web.*"}[5m]) > 80 and mem > 90',
    "rate(http_request_errors_total[5m]) / rate(http_requests_total[5m]) > 0.05",
    'absent(up{job="api"})',
    "absent_over_time(heartbeat[2m])",
    "cpu > 90 unless maintenance",
    "consecutive(cpu_usage_percent >= 85, 2, 3)",
    'quantile_over_time(0.99, http_latency_seconds{route!="/health"}[10m]) > 0.5',
    'max_over_time(disk_used_percent{mount="/", fstype!~"tmpfs|overlay"}[15m]) >= 95',
    "increase(process_restarts_total[1h]) > 3 or delta(queue_depth[10m]) > 1000",
    "(errors_total - errors_expected) * 100 / requests_total > 5",
]


def parse_all() -> int:
    parse = ak.parse_condition
    for _ in range(REPEAT):
        for text in RULES:
            parse(text)
    return REPEAT * len(RULES)


def best_rate(rounds: int = ROUNDS) -> float:
    best = 0.0
    for _ in range(rounds):
        gc.collect()
        start = time.perf_counter()
        n = parse_all()
        best = max(best, n / (time.perf_counter() - start))
    return best


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--json", action="store_true", help="print the result as JSON")
    args = parser.parse_args()
    for text in RULES:  # the set must stay valid: a broken rule would time an error path
        assert ak.parse_condition(str(ak.parse_condition(text))) == ak.parse_condition(text)
    rate = best_rate()
    result = {
        "python": platform.python_version(),
        "rules": len(RULES),
        "mean_length": sum(map(len, RULES)) / len(RULES),
        "rules_per_s": round(rate),
        "us_per_rule": round(1e6 / rate, 1),
        "target_per_s": TARGET,
        "ok": rate >= TARGET,
    }
    if args.json:
        print(json.dumps(result))
        return
    print(f"parser: {rate:,.0f} rules/s ({1e6 / rate:.1f} us per rule, mean length "
          f"{result['mean_length']:.0f} chars; target {TARGET:,}/s: "
          f"{'ok' if result['ok'] else 'MISSED'})")


if __name__ == "__main__":
    main()
