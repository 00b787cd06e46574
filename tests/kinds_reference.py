"""Naive reference implementations of the trend, change and occurrence kinds, and a driver
that checks the streaming evaluator against them.

Each reference recomputes its value from the full list of samples received so far, at every
evaluation, straight from the definition. ``deriv``/``predict_linear`` are fitted in exact
rational arithmetic (with Prometheus 2.42's special cases), since Prometheus' own float
formula loses digits on clustered samples; ``linear_regression`` is that formula, ported
line by line, for comparisons with Prometheus itself. The driver replays a timeline of samples
and ticks through an ``Evaluator`` and, after every evaluation, compares the value of every
label set with the reference.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from fractions import Fraction
from typing import Any

from hypothesis import strategies as st

import alertkit as ak

Samples = list[tuple[float, float]]  # one series: (t, v), in time order
Key = tuple[tuple[str, str], ...]  # a label set, as sorted items
Op = tuple[Any, ...]  # ("sample", key, t, v) or ("tick", t)
NAN = math.nan
INF = math.inf

COMPARE: dict[str, Callable[[float, float], bool]] = {
    ">": lambda a, b: a > b,
    ">=": lambda a, b: a >= b,
    "<": lambda a, b: a < b,
    "<=": lambda a, b: a <= b,
    "==": lambda a, b: a == b,
    "!=": lambda a, b: a != b,
}


def in_window(samples: Samples, lo: float, hi: float) -> Samples:
    """The samples of the closed window [lo, hi]."""
    return [(t, v) for t, v in samples if lo <= t <= hi]


# -- deriv / predict_linear: Prometheus 2.42 promql/functions.go, ported -------------------


def _kahan_inc(inc: float, s: float, c: float) -> tuple[float, float]:
    t = s + inc
    if abs(s) >= abs(inc):
        c += (s - t) + inc
    else:
        c += (inc - t) + s
    return t, c


def linear_regression(points: Samples, intercept_time: float) -> tuple[float, float]:
    n = sx = cx = sy = cy = sxy = cxy = sx2 = cx2 = 0.0
    init_y = points[0][1]
    const_y = True
    for i, (t, v) in enumerate(points):
        if const_y and i > 0 and v != init_y:
            const_y = False
        n += 1.0
        x = t - intercept_time
        sx, cx = _kahan_inc(x, sx, cx)
        sy, cy = _kahan_inc(v, sy, cy)
        sxy, cxy = _kahan_inc(_mul(x, v), sxy, cxy)
        sx2, cx2 = _kahan_inc(x * x, sx2, cx2)
    if const_y:
        if math.isinf(init_y):
            return NAN, NAN
        return 0.0, init_y
    sx, sy, sxy, sx2 = sx + cx, sy + cy, sxy + cxy, sx2 + cx2
    cov = sxy - sx * sy / n
    var = sx2 - sx * sx / n
    slope = _div(cov, var)
    return slope, sy / n - slope * sx / n


def _mul(a: float, b: float) -> float:
    return a * b  # 0 * inf is NaN in Python as in Go


def _div(a: float, b: float) -> float:
    """Go's float division (IEEE 754), written out independently of alertkit's."""
    try:
        return a / b
    except ZeroDivisionError:
        if math.isnan(a) or a == 0:
            return NAN
        negative = (a < 0) != (math.copysign(1.0, b) < 0)
        return -INF if negative else INF


def exact_regression(points: Samples, now: float, horizon: float | None) -> float:
    """The least-squares slope (``horizon is None``) or the line's value at ``now + horizon``,
    in exact rational arithmetic, with Prometheus 2.42's special cases: equal values give
    slope 0 and that value (NaN if infinite), any other non-finite value gives NaN."""
    init_y = points[0][1]
    if all(v == init_y for _, v in points):
        if math.isinf(init_y):
            return NAN
        return 0.0 if horizon is None else 0.0 * horizon + init_y
    if not all(math.isfinite(v) for _, v in points):
        return NAN
    n = len(points)
    xs = [Fraction(t) for t, _ in points]
    ys = [Fraction(v) for _, v in points]
    sx, sy = sum(xs), sum(ys)
    cov = n * sum(x * y for x, y in zip(xs, ys, strict=True)) - sx * sy
    var = n * sum(x * x for x in xs) - sx * sx
    slope = cov / var
    if horizon is None:
        return float(slope)
    return float(sy / n + slope * (Fraction(now) + Fraction(horizon) - sx / n))


def naive_deriv(samples: Samples, now: float, range_s: float) -> float | None:
    points = in_window(samples, now - range_s, now)
    if len(points) < 2:
        return None
    return exact_regression(points, now, None)


def naive_predict_linear(
    samples: Samples, now: float, range_s: float, horizon: float
) -> float | None:
    points = in_window(samples, now - range_s, now)
    if len(points) < 2:
        return None
    return exact_regression(points, now, horizon)


def prometheus_deriv(samples: Samples, now: float, range_s: float) -> float | None:
    """What Prometheus 2.42 computes, in its own floating-point arithmetic."""
    points = in_window(samples, now - range_s, now)
    if len(points) < 2:
        return None
    return linear_regression(points, points[0][0])[0]


def prometheus_predict_linear(
    samples: Samples, now: float, range_s: float, horizon: float
) -> float | None:
    points = in_window(samples, now - range_s, now)
    if len(points) < 2:
        return None
    slope, intercept = linear_regression(points, now)
    return slope * horizon + intercept


def regression_scale(samples: Samples, now: float, range_s: float, horizon: float | None) -> float:
    """The size of the rounding error to expect: values over time span (slope), or values
    stretched to the prediction's distance (predict_linear)."""
    points = in_window(samples, now - range_s, now)
    top = max((abs(v) for _, v in points if math.isfinite(v)), default=0.0)
    span = points[-1][0] - points[0][0]
    if horizon is None:
        return top / span
    return top * (1.0 + (now + horizon - points[0][0]) / span)


# -- change -------------------------------------------------------------------------------


def aggregate(agg: str, values: list[float]) -> float:
    if agg == "count":
        return float(len(values))
    if agg == "last":
        return values[-1]
    if agg in ("min", "max"):
        real = [v for v in values if not math.isnan(v)]
        if not real:
            return NAN
        return min(real) if agg == "min" else max(real)
    if any(math.isnan(v) for v in values) or (INF in values and -INF in values):
        total = NAN
    elif INF in values:
        total = INF
    elif -INF in values:
        total = -INF
    else:
        total = math.fsum(values)
    return total / len(values) if agg == "avg" else total


def naive_change_parts(
    samples: Samples, now: float, agg: str, range_s: float, offset: float, min_count: int
) -> tuple[float, float, float, float] | None:
    """(cur, ref, error bound of cur, error bound of ref), or None without output."""
    cur = [v for _, v in in_window(samples, now - range_s, now)]
    hi = now - offset
    ref = [v for _, v in in_window(samples, hi - range_s, hi)]
    if len(cur) < min_count or len(ref) < min_count:
        return None

    def bound(values: list[float]) -> float:
        if agg not in ("sum", "avg"):
            return 0.0
        total = math.fsum(abs(v) for v in values if math.isfinite(v))
        return 1e-9 * (total / len(values) if agg == "avg" else total)

    return aggregate(agg, cur), aggregate(agg, ref), bound(cur), bound(ref)


def combine(mode: str, cur: float, ref: float) -> float:
    if mode == "ratio":
        return _div(cur, ref)
    if mode == "percent":
        return _div(cur - ref, abs(ref)) * 100.0
    return cur - ref


def change_tolerance(mode: str, cur: float, ref: float, e_cur: float, e_ref: float) -> float:
    """How far a correctly rounded streaming result may be from the exact one; inf when the
    comparison is too ill-conditioned to mean anything (a reference near zero)."""
    if e_cur == 0 and e_ref == 0:
        return 0.0
    if mode == "absolute":
        return 2 * (e_cur + e_ref)
    if abs(ref) <= 4 * e_ref:
        return INF
    scale = 100.0 if mode == "percent" else 1.0
    return 2 * scale * (e_cur + e_ref + abs(cur - ref if mode == "percent" else cur) * e_ref
                        / abs(ref)) / abs(ref)


# -- occurrences --------------------------------------------------------------------------


def naive_count_matching(
    samples: Samples, now: float, range_s: float, op: str, threshold: float
) -> float | None:
    values = [v for _, v in in_window(samples, now - range_s, now)]
    if not values:
        return None
    return float(sum(COMPARE[op](v, threshold) for v in values))


def naive_percent_matching(
    samples: Samples, now: float, range_s: float, op: str, threshold: float
) -> float | None:
    values = [v for _, v in in_window(samples, now - range_s, now)]
    if not values:
        return None
    hits = sum(COMPARE[op](v, threshold) for v in values)
    return 100.0 * hits / len(values)


def naive_flatline(samples: Samples, now: float, range_s: float, min_count: int) -> float | None:
    """The count when the condition holds; None when it does not (or has no output)."""
    if not samples or now - samples[0][0] < range_s:
        return None
    n = len(in_window(samples, now - range_s, now))
    return float(n) if n < min_count else None


def naive_cardinality(
    by_key: dict[Key, Samples], now: float, range_s: float, label: str, op: str, threshold: float
) -> float | None:
    values = set()
    for key, samples in by_key.items():
        if in_window(samples, now - range_s, now):
            value = dict(key).get(label)
            if value:
                values.add(value)
    count = float(len(values))
    return count if COMPARE[op](count, threshold) else None


# -- timelines ----------------------------------------------------------------------------

SPECIAL = st.sampled_from([0.0, -0.0, 1.0, 5.0, 100.0, NAN, INF, -INF])
FLOATS = st.floats(min_value=-1e3, max_value=1e3, allow_nan=False)
DYADIC = st.integers(-400, 400).map(lambda i: i / 4)  # sums of these are exact


SPIKES = st.sampled_from([1e12, -3e9, 1e-9, 5e-300])  # dynamic range for running sums


def values(*, special: bool = True) -> st.SearchStrategy[float]:
    parts = [FLOATS, DYADIC, DYADIC, SPIKES]
    if special:
        parts.append(SPECIAL)
    return st.one_of(*parts)


@st.composite
def timelines(
    draw: st.DrawFn,
    keys: Sequence[Key],
    *,
    value_strategy: st.SearchStrategy[float] | None = None,
    max_ops: int = 80,
    gap_ms: int = 60_000,
) -> list[Op]:
    """Samples and ticks in arrival order. Each series' samples are in time order, but a
    sample may be older than the last tick or another series' sample (a late sample), as
    the evaluator allows; ticks never go back. Times are ms-exact, sometimes on epoch time,
    with random gaps; values include NaN, ±Inf and runs of equal values."""
    value_strategy = value_strategy if value_strategy is not None else values()
    base = draw(st.sampled_from([0.0, 1.7e9]))
    clock = 0  # ms, the newest time seen (samples and ticks)
    last: dict[Key, int] = {}
    previous: dict[Key, float] = {}
    ops: list[Op] = []
    for _ in range(draw(st.integers(1, max_ops))):
        if draw(st.integers(0, 3)) == 0:
            clock += draw(st.one_of(st.integers(0, gap_ms), st.sampled_from([0, 1000, 4 * gap_ms])))
            ops.append(("tick", base + clock / 1000))
            continue
        key = draw(st.sampled_from(list(keys)))
        lo = last[key] + 1 if key in last else 0
        t = draw(st.integers(lo, max(lo, clock) + gap_ms))
        if key in previous and draw(st.integers(0, 3)) == 0:
            v = previous[key]  # a run of equal values (deriv's flat case)
        else:
            v = draw(value_strategy)
        last[key], previous[key], clock = t, v, max(clock, t)
        ops.append(("sample", key, base + t / 1000, v))
    return ops


# -- the driver ---------------------------------------------------------------------------

Reference = Callable[[dict[Key, Samples], Key, float], "float | None"]
Check = Callable[[Key, float, float | None, float | None, dict[Key, Samples]], None]


def probe(condition: ak.Condition | ak.ValueExpr) -> ak.Rule:
    """A rule whose alert exists exactly when the expression has output, with its value
    (``x != NaN`` is true for every x, NaN included); conditions are used as they are."""
    if isinstance(condition, ak.ValueExpr):
        condition = ak.Threshold(condition, "!=", NAN)
    return ak.Rule(name="Probe", condition=condition)


def outputs(ev: ak.Evaluator, state: ak.State) -> dict[Key, float]:
    return {
        tuple(sorted((k, v) for k, v in a.labels.items() if k not in ("alertname", "severity"))):
            a.value
        for a in ev.alerts(state)
    }


def same(a: float | None, b: float | None, tolerance: float = 0.0) -> bool:
    """Equal outputs: both absent, both NaN, or within ``tolerance`` (exact for ±Inf)."""
    if a is None or b is None:
        return a is b
    if math.isnan(b) or math.isnan(a):
        return math.isnan(a) and math.isnan(b)
    if math.isinf(b) or math.isinf(a):
        return a == b or tolerance == INF
    return abs(a - b) <= tolerance


def run_against_reference(
    expr: ak.Condition | ak.ValueExpr,
    ops: Sequence[Op],
    reference: Reference,
    check: Check,
    *,
    mode: str = "tick",
    metric: str = "x",
    global_output: Key | None = None,
) -> list[ak.AlertEvent]:
    """Replay ``ops``; after each evaluation compare every label set's value with
    ``reference(samples by key, key, now)`` through ``check``. Returns the events.

    ``global_output`` is the one label set of a global condition (cardinality): it is
    compared at ticks only, as it is evaluated only then.
    """
    ev = ak.Evaluator([probe(expr)], mode=mode, resolved_retention="2m")
    state = ev.new_state()
    by_key: dict[Key, Samples] = {}
    events: list[ak.AlertEvent] = []
    for op in ops:
        if op[0] == "tick":
            now = op[1]
            events += ev.tick(state, now)
            got = outputs(ev, state)
            keys = [global_output] if global_output is not None else list(by_key)
            for key in keys:
                check(key, now, got.get(key), reference(by_key, key, now), by_key)
            assert set(got) <= set(keys), (got, keys)
        else:
            _, key, t, v = op
            events += ev.observe(state, metric, v, t, dict(key))
            by_key.setdefault(key, []).append((t, v))
            if mode == "sample" and global_output is None:
                now = state.now
                check(key, now, outputs(ev, state).get(key), reference(by_key, key, now), by_key)
    return events


def replay_ops(ev: ak.Evaluator, ops: Sequence[Op], state: ak.State, metric: str = "x"
               ) -> list[ak.AlertEvent]:
    events: list[ak.AlertEvent] = []
    for op in ops:
        if op[0] == "tick":
            events += ev.tick(state, op[1])
        else:
            _, key, t, v = op
            events += ev.observe(state, metric, v, t, dict(key))
    return events


def check_snapshot_restore(rule: ak.Rule, ops: Sequence[Op], cut: int, *, mode: str,
                           metric: str = "x") -> None:
    """A snapshot taken after ``ops[:cut]`` and restored into a new evaluator continues
    with exactly the events of an uninterrupted run, and snapshots back to the same bytes."""
    ev = ak.Evaluator([rule], mode=mode)
    expected = replay_ops(ev, ops, ev.new_state(), metric)
    state = ev.new_state()
    before = replay_ops(ev, ops[:cut], state, metric)
    snapshot = ev.snapshot(state)
    ev2 = ak.Evaluator([rule], mode=mode)
    restored = ev2.restore(snapshot)
    assert ev2.snapshot(restored) == snapshot
    after = replay_ops(ev2, ops[cut:], restored, metric)
    assert event_keys(before + after) == event_keys(expected)


def event_keys(events: Sequence[ak.AlertEvent]) -> list[tuple[Any, ...]]:
    """Comparable events: a computed NaN value is a new object each time, and NaN != NaN."""
    return [
        (e.kind, e.at, e.alert.fingerprint, e.alert.state, repr(e.alert.value),
         e.alert.active_at, e.alert.fired_at, e.alert.resolved_at, e.alert.annotations)
        for e in events
    ]
