"""Small test helpers: build sample series and replay them through an Evaluator."""

from __future__ import annotations

from collections.abc import Iterable, Sequence

import alertkit as ak

Point = tuple[str, dict[str, str], float, float]


def series(metric: str, values: Sequence[float | None], *, step: float = 60.0,
           start: float = 0.0, **labels: str) -> list[Point]:
    """Samples at ``start, start+step, ...``; ``None`` leaves a gap."""
    return [(metric, labels, start + i * step, float(v))
            for i, v in enumerate(values) if v is not None]


def replay(ev: ak.Evaluator, samples: Iterable[Point], ticks: Iterable[float],
           state: ak.State | None = None) -> list[ak.AlertEvent]:
    """Feed samples in time order; tick at each tick time after the samples up to it."""
    state = state if state is not None else ev.new_state()
    pending = sorted(samples, key=lambda p: p[2])
    events: list[ak.AlertEvent] = []
    i = 0
    for t in sorted(ticks):
        while i < len(pending) and pending[i][2] <= t:
            metric, labels, ts, v = pending[i]
            events.extend(ev.observe(state, metric, v, ts, labels))
            i += 1
        events.extend(ev.tick(state, t))
    return events


def timeline(events: Iterable[ak.AlertEvent]) -> list[tuple[float, str, str]]:
    """(time, kind, labels) triples, compact for assertions."""
    return [(e.at, e.kind.value, _short(e.alert.labels)) for e in events]


def _short(labels: ak.Labels) -> str:
    return ",".join(f"{k}={v}" for k, v in labels.items()
                    if k not in ("alertname", "severity"))


def ticks(until: float, step: float = 60.0) -> list[float]:
    return [i * step for i in range(int(until // step) + 1)]
