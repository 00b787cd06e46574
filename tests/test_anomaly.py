"""Anomaly detectors: zscore, ewma, robust_zscore, seasonal.

Every streaming detector is checked against a naive reference that recomputes
the score from the full list of samples at each evaluation (exactly, with
fractions, where the streaming version uses floats), on random series with
gaps, NaN and ±Inf samples and random evaluation times; then by hand-computed
examples, warm-up, snapshot/restore mid-stream, and every bad parameter.
"""

from __future__ import annotations

import json
import math
import statistics
from collections.abc import Callable, Sequence
from fractions import Fraction
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

import alertkit as ak
from alertkit._core.functions import FUNCTIONS, RangeArg
from alertkit._core.streamstats import SlidingMoments, median_mad
from helpers import replay, series, ticks, timeline
from kind_strategies_anomaly import STRATEGIES

NAN, INF = math.nan, math.inf
Samples = list[tuple[float, float]]
Op = tuple[Any, ...]  # ("s", t, v): a sample of x; ("k", t): a tick


class _Any:
    """A reference value that accepts any output (a result decided by rounding alone)."""

    def __repr__(self) -> str:
        return "ANY"


ANY: Any = _Any()


# -- naive references: recompute everything from the samples at each evaluation -------------


def finite(samples: Samples) -> Samples:
    return [(t, v) for t, v in samples if math.isfinite(v)]


def zero_spread(d: float | Fraction) -> float:
    return 0.0 if d == 0 else math.copysign(INF, d)


def exact_zscore(x: float, base: Sequence[float]) -> float:
    """(x - mean) / pstdev of ``base``, in exact rational arithmetic, rounded once at the end."""
    fs = [Fraction(b) for b in base]
    mean = sum(fs, Fraction(0)) / len(fs)
    var = sum(((f - mean) ** 2 for f in fs), Fraction(0)) / len(fs)
    d = Fraction(x) - mean
    if var == 0:
        return zero_spread(d)
    return math.copysign(math.sqrt(d * d / var), d)


def naive_zscore(samples: Samples, now: float, w: float, warmup: int) -> float | None:
    win = [(t, v) for t, v in finite(samples) if now - w <= t <= now]
    if not win:
        return None
    base = [v for _, v in win[:-1]]
    return None if len(base) < warmup else exact_zscore(win[-1][1], base)


def naive_robust(samples: Samples, now: float, w: float, warmup: int) -> float | None:
    win = [(t, v) for t, v in finite(samples) if now - w <= t <= now]
    if not win:
        return None
    base = sorted(v for _, v in win[:-1])
    if len(base) < warmup:
        return None
    med = statistics.median(base)
    mad = statistics.median([abs(b - med) for b in base])
    d = win[-1][1] - med
    return zero_spread(d) if mad == 0 else d / (1.4826 * mad)


def naive_ewma(
    samples: Samples, now: float, alpha: float, warmup: int, stale: float
) -> float | None:
    fin = finite(samples)
    if not fin:
        return None
    start = 0  # a gap longer than stale_after restarts the average
    for i in range(1, len(fin)):
        if fin[i][0] - fin[i - 1][0] > stale:
            start = i
    seg = fin[start:]
    t_last, x = seg[-1]
    prev = [v for _, v in seg[:-1]]
    if t_last < now - stale or len(prev) < warmup:
        return None
    if min(prev) == max(prev):
        mean, var = prev[0], 0.0
    else:
        # The closed form the recurrence implements: weight alpha * (1 - alpha)**age, and
        # the oldest sample the rest, (1 - alpha)**k; the variance with the same weights.
        k = len(prev) - 1
        weights = [(1 - alpha) ** k] + [alpha * (1 - alpha) ** (k - i) for i in range(1, k + 1)]
        mean = math.fsum(wt * v for wt, v in zip(weights, prev, strict=True))
        var = math.fsum(wt * (v - mean) ** 2 for wt, v in zip(weights, prev, strict=True))
    d = x - mean
    return zero_spread(d) if var == 0 else d / math.sqrt(var)


def naive_seasonal(
    samples: Samples,
    now: float,
    w: float,
    period: float,
    seasons: int,
    tolerance: float,
    warmup: int,
) -> Any:
    fin = finite(samples)
    cur = [v for t, v in fin if now - w < t <= now]
    if not cur:
        return None
    current = statistics.mean(cur)
    # Every bucket ((j-1)w, jw] from scratch: count and running mean, in time order.
    buckets: dict[int, tuple[int, float]] = {}
    for t, v in fin:
        j = math.ceil(t / w)
        c, m = buckets.get(j, (0, 0.0))
        buckets[j] = (c + 1, m + (v - m) / (c + 1))
    past = []
    for k in range(1, seasons + 1):
        x = (now - k * period) / w
        j = math.ceil(x)
        g = j - x
        c1, m1 = buckets.get(j, (0, 0.0))
        c0, m0 = buckets.get(j - 1, (0, 0.0))
        a, b = (1 - g) * c1, g * c0
        if a > 0:
            past.append(m1 if b == 0 else m0 + (m1 - m0) * (a / (a + b)))
        elif b > 0:
            past.append(m0)
    if len(past) < warmup:
        return None
    baseline = statistics.mean(past)
    denominator = max(statistics.pstdev(past), tolerance * abs(baseline))
    d = current - baseline
    if denominator == 0:
        if d != 0 and abs(d) < 1e-12 * (1 + abs(current)):
            return ANY  # the current mean's last bit decides between 0 and ±Inf
        return zero_spread(d)
    return d / denominator


def close(got: float | None, want: Any) -> bool:
    if want is ANY:
        return got is not None
    if got is None or want is None:
        return got is want
    if math.isnan(want) or math.isinf(want):
        return got == want or (math.isnan(got) and math.isnan(want))
    return math.isclose(got, want, rel_tol=1e-9, abs_tol=1e-9)


# -- running detectors through the Evaluator ---------------------------------------------


def probe_rule(expr: ak.ValueExpr, name: str = "Probe", **kwargs: Any) -> ak.Rule:
    """A rule that fires whenever ``expr`` has output, with the output as its value."""
    return ak.Rule(name=name, condition=ak.Threshold(expr, "!=", NAN), **kwargs)


def outputs(ev: ak.Evaluator, state: ak.State) -> dict[str, float | None]:
    found: dict[str, float | None] = {r.name: None for r in ev.rules}
    for alert in ev.alerts(state):
        found[alert.rule] = alert.value
    return found


def run_ops(
    ev: ak.Evaluator, ops: Sequence[Op], state: ak.State | None = None
) -> tuple[ak.State, list[tuple[Op, dict[str, float | None]]], list[ak.AlertEvent]]:
    """Apply ``ops``; after each, the output of every rule (None when it has none)."""
    state = state if state is not None else ev.new_state()
    seen = []
    events: list[ak.AlertEvent] = []
    for op in ops:
        if op[0] == "s":
            events.extend(ev.observe(state, "x", op[2], op[1]))
        else:
            events.extend(ev.tick(state, op[1]))
        seen.append((op, outputs(ev, state)))
    return state, seen, events


def check_against(
    expr: ak.ValueExpr,
    ops: Sequence[Op],
    mode: str,
    reference: Callable[[Samples, float], Any],
    stale_after: float | None = None,
) -> int:
    """Compare the detector with ``reference`` after every evaluation; return how many."""
    ev = ak.Evaluator([probe_rule(expr, stale_after=stale_after)], mode=mode)
    _, seen, _ = run_ops(ev, ops)
    samples: Samples = []
    compared = 0
    for op, out in seen:
        if op[0] == "s":
            samples.append((op[1], op[2]))
            if mode == "tick":
                continue  # samples are not evaluations in tick mode
        want = reference(samples, op[1])
        got = out["Probe"]
        assert close(got, want), (op, got, want, samples)
        compared += 1
    return compared


# -- random timelines ----------------------------------------------------------------------

FINITE = st.one_of(
    st.integers(-40, 40).map(lambda i: i / 4),  # a coarse grid: ties and equal runs
    st.integers(-40, 40).map(lambda i: i / 4),
    st.integers(-(10**6), 10**6).map(lambda i: i / 1000),
    st.sampled_from([0.0, -0.0, 5.0, 100.0]),
)
VALUES = st.one_of(FINITE, FINITE, FINITE, FINITE, FINITE, st.sampled_from([NAN, INF, -INF]))


@st.composite
def timelines(
    draw: st.DrawFn,
    gaps: Sequence[float],
    max_samples: int = 60,
    values: st.SearchStrategy[float] = VALUES,
) -> list[Op]:
    """Samples of x at increasing times with random gaps; ticks in between, at random."""
    t = draw(st.sampled_from([0.0, 7.0, 86_400.0 + 13.5]))
    ops: list[Op] = []
    for _ in range(draw(st.integers(1, max_samples))):
        ops.append(("s", t, draw(values)))
        gap = draw(st.sampled_from(gaps))
        for frac in draw(st.lists(st.sampled_from([0.0, 0.25, 0.5, 0.999, 1.0]), max_size=2)):
            ops.append(("k", t + frac * gap))
        t += gap
    ops.sort(key=lambda op: (op[1], op[0] == "k"))  # ticks in time order; a tick after a sample
    return ops


MODES = st.sampled_from(["sample", "tick"])


@given(
    timelines(gaps=[1, 10, 10, 30, 60, 60, 120, 299, 300, 301, 900]),
    MODES,
    st.sampled_from([60.0, 300.0, 600.0]),
    st.integers(2, 6),
)
def test_zscore_matches_the_naive_reference(
    ops: list[Op], mode: str, w: float, warmup: int
) -> None:
    check_against(
        ak.ZScore("x", w, warmup=warmup), ops, mode, lambda s, now: naive_zscore(s, now, w, warmup)
    )


@given(
    timelines(gaps=[1, 10, 10, 30, 60, 60, 120, 299, 300, 301, 900]),
    MODES,
    st.sampled_from([60.0, 300.0, 600.0]),
    st.integers(2, 6),
)
def test_robust_zscore_matches_the_naive_reference(
    ops: list[Op], mode: str, w: float, warmup: int
) -> None:
    check_against(
        ak.RobustZScore("x", w, warmup=warmup),
        ops,
        mode,
        lambda s, now: naive_robust(s, now, w, warmup),
    )


@given(
    timelines(gaps=[1, 10, 30, 60, 60, 89, 90, 91, 299, 300, 301, 900]),
    MODES,
    st.sampled_from([0.1, 0.25, 0.5, 0.9, 0.03]),
    st.one_of(st.none(), st.integers(2, 5)),
    st.sampled_from([None, 90.0]),
)
def test_ewma_matches_the_naive_reference(
    ops: list[Op], mode: str, alpha: float, warmup: int | None, stale_after: float | None
) -> None:
    expr = ak.EWMA("x", alpha=alpha, warmup=warmup)
    stale = 300.0 if stale_after is None else stale_after
    check_against(
        expr,
        ops,
        mode,
        lambda s, now: naive_ewma(s, now, alpha, expr.effective_warmup, stale),
        stale_after=stale_after,
    )


@given(
    timelines(gaps=[5, 10, 17, 30, 30, 45, 60, 125, 1000, 3000], max_samples=150),
    MODES,
    st.sampled_from([60.0, 90.0, 120.0]),
    st.sampled_from([300.0, 450.0, 600.0]),
    st.integers(1, 3),
    st.sampled_from([0.05, 0.1, 0.5]),
    st.data(),
)
def test_seasonal_matches_the_naive_reference(
    ops: list[Op],
    mode: str,
    w: float,
    period: float,
    seasons: int,
    tolerance: float,
    data: st.DataObject,
) -> None:
    warmup = data.draw(st.integers(1, seasons))
    expr = ak.Seasonal("x", w, period, seasons=seasons, tolerance=tolerance, warmup=warmup)
    check_against(
        expr,
        ops,
        mode,
        lambda s, now: naive_seasonal(s, now, w, period, seasons, tolerance, warmup),
    )


def test_the_references_are_exercised_beyond_warm_up() -> None:
    # A sanity check of the harness: long enough series give many outputs to compare.
    ops: list[Op] = [("s", 10.0 * i, float(i % 7)) for i in range(200)]
    assert (
        check_against(ak.ZScore("x", 300), ops, "sample", lambda s, n: naive_zscore(s, n, 300, 10))
        == 200
    )
    ev = ak.Evaluator([probe_rule(ak.Seasonal("x", 60, 300))])
    _, seen, _ = run_ops(ev, ops)
    assert sum(out["Probe"] is not None for _, out in seen) > 150


# -- snapshot / restore ----------------------------------------------------------------------

ALL_DETECTORS = [
    probe_rule(ak.ZScore("x", "5m", warmup=3), "Z"),
    probe_rule(ak.EWMA("x", alpha=0.3, warmup=2), "E", stale_after=120),
    probe_rule(ak.RobustZScore("x", "5m", warmup=3), "R"),
    probe_rule(ak.Seasonal("x", "1m", "5m", seasons=2, warmup=1), "S"),
]


def same_outputs(a: dict[str, float | None], b: dict[str, float | None]) -> bool:
    return json.dumps(a, sort_keys=True) == json.dumps(b, sort_keys=True)  # bit-for-bit


@given(timelines(gaps=[1, 10, 30, 60, 60, 130, 400], max_samples=80), MODES, st.data())
def test_snapshot_restore_mid_stream_continues_bit_for_bit(
    ops: list[Op], mode: str, data: st.DataObject
) -> None:
    ev = ak.Evaluator(ALL_DETECTORS, mode=mode)
    _, whole, whole_events = run_ops(ev, ops)
    cut = data.draw(st.integers(0, len(ops)))
    state, first, first_events = run_ops(ev, ops[:cut])
    snapshot = ev.snapshot(state)
    ev2 = ak.Evaluator(ALL_DETECTORS, mode=mode)
    restored = ev2.restore(snapshot)
    assert ev2.snapshot(restored) == snapshot
    _, rest, rest_events = run_ops(ev2, ops[cut:], restored)
    assert first_events + rest_events == whole_events
    for (_, a), (_, b) in zip(first + rest, whole, strict=True):
        assert same_outputs(a, b)


def test_snapshot_restore_by_example_gives_the_same_events() -> None:
    rules = [
        ak.Rule(name="Z", condition=ak.Threshold(ak.ZScore("x", "10m", warmup=4), ">", 3)),
        ak.Rule(name="R", condition=ak.Threshold(ak.RobustZScore("x", "10m", warmup=4), ">", 3)),
        ak.Rule(name="E", condition=ak.Threshold(ak.EWMA("x", alpha=0.5, warmup=3), ">", 3)),
        ak.Rule(name="S", condition=ak.Threshold(ak.Seasonal("x", "2m", "10m"), ">", 3)),
    ]
    values = [10, 12, 10, 12, 10, 12, 10, 12, 10, 12, 10, 30, 11, 10, 12, 50, 10]
    samples = series("x", values, step=60)
    at = ticks(len(values) * 60)
    ev = ak.Evaluator(rules)
    whole = replay(ev, samples, at)
    assert {e.alert.rule for e in whole} == {"Z", "R", "E", "S"}
    for cut in range(0, len(values) * 60, 120):
        state = ev.new_state()
        before = replay(ev, [p for p in samples if p[2] <= cut], [t for t in at if t <= cut], state)
        restored = ak.Evaluator(rules).restore(ev.snapshot(state))
        owner = restored.owner
        assert isinstance(owner, ak.Evaluator)
        after = replay(
            owner, [p for p in samples if p[2] > cut], [t for t in at if t > cut], restored
        )
        assert before + after == whole


# -- the contract, by example --------------------------------------------------------------


def values_of(
    expr: ak.ValueExpr, values: Sequence[float | None], step: float = 60.0, **rule: Any
) -> list[float | None]:
    """The detector's output at each sample (sample mode); ``None`` in values is a gap."""
    ev = ak.Evaluator([probe_rule(expr, **rule)])
    ops: list[Op] = [("s", i * step, float(v)) for i, v in enumerate(values) if v is not None]
    return [out["Probe"] for _, out in run_ops(ev, ops)[1]]


def test_zscore_by_hand() -> None:
    # Baseline 10 12 10 12 10 12: mean 11, population stddev 1; the spike 20 is 9 sigmas.
    got = values_of(ak.ZScore("x", "10m", warmup=4), [10, 12, 10, 12, 10, 12, 20])
    assert got[:4] == [None] * 4  # fewer than 4 samples besides the latest
    assert got[4] == -1.0  # 10 against 10 12 10 12
    assert got[6] == 9.0
    # The window is closed: at 600 s it still holds the sample at 0 s ([0, 600]).
    got = values_of(ak.ZScore("x", "10m", warmup=10), [10, 12, 10, 12, 10, 12, 10, 12, 10, 12, 16])
    assert got[-1] == 5.0


def test_zscore_excludes_the_latest_sample_and_zero_spread_is_zero_or_infinite() -> None:
    expr = ak.ZScore("x", "1h", warmup=3)
    assert values_of(expr, [5, 5, 5, 5])[-1] == 0.0
    assert values_of(expr, [5, 5, 5, 6])[-1] == INF
    assert values_of(expr, [5, 5, 5, 4])[-1] == -INF


def test_zscore_fires_on_a_spike_through_replay() -> None:
    rule = ak.Rule(name="Spike", condition=ak.Threshold(ak.ZScore("x", "10m", warmup=4), ">", 3))
    ev = ak.Evaluator([rule])
    samples = series("x", [10, 12, 10, 12, 10, 12, 20, 11, 10], step=60, host="a")
    events = replay(ev, samples, ticks(600))
    assert timeline(events) == [(360.0, "firing", "host=a"), (420.0, "resolved", "host=a")]
    assert events[0].alert.value == 9.0


def test_robust_zscore_by_hand_and_against_an_outlier() -> None:
    # Baseline 10 12 10 12 10 12: median 11, deviations all 1, MAD 1.
    got = values_of(ak.RobustZScore("x", "10m", warmup=4), [10, 12, 10, 12, 10, 12, 20])
    assert got[6] == 9 / 1.4826
    # One huge outlier inflates the standard deviation and hides the next anomaly from
    # zscore, not from the median and MAD.
    data = [10, 11, 10, 11, 10, 11, 1000, 10, 11, 10, 20]
    assert values_of(ak.ZScore("x", "1h", warmup=5), data)[-1] < 1
    robust = values_of(ak.RobustZScore("x", "1h", warmup=5), data)[-1]
    assert robust == (20 - 10.5) / (1.4826 * 0.5)


def test_robust_zscore_with_zero_mad() -> None:
    expr = ak.RobustZScore("x", "1h", warmup=3)
    assert values_of(expr, [0, 0, 0, 7, 0, 0])[-1] == 0.0  # median 0, MAD 0
    assert values_of(expr, [0, 0, 0, 7, 0, 1])[-1] == INF


def test_ewma_by_hand() -> None:
    # alpha 0.5: after 10 -> m 10, s 0; after 12 -> m 11, s 1; so 10 scores (10 - 11) / 1.
    got = values_of(ak.EWMA("x", alpha=0.5, warmup=2), [10, 12, 10, 12])
    assert got[:2] == [None, None]  # fewer than 2 samples before the latest
    assert got[2] == -1.0
    # ... then m 10.5, s 0.5 * (1 + 0.5) = 0.75: 12 scores 1.5 / sqrt(0.75) = sqrt(3).
    assert got[3] == pytest.approx(math.sqrt(3), rel=1e-15)


def test_ewma_default_warmup_is_the_span() -> None:
    assert ak.EWMA("x").effective_warmup == 19
    assert ak.EWMA("x", alpha=0.5).effective_warmup == 3
    assert ak.EWMA("x", alpha=0.9).effective_warmup == 2
    assert ak.EWMA("x", alpha=0.01).effective_warmup == 199
    assert ak.EWMA("x", alpha=0.01, warmup=5).effective_warmup == 5
    got = values_of(ak.EWMA("x"), [float(i % 3) for i in range(25)])
    assert got[:19] == [None] * 19
    assert all(v is not None for v in got[19:])


def test_ewma_goes_stale_and_restarts_after_a_stale_gap() -> None:
    expr = ak.EWMA("x", alpha=0.5, warmup=2)
    rule = probe_rule(expr, stale_after=120)
    ops: list[Op] = [
        ("s", 0.0, 1.0),
        ("s", 60.0, 2.0),
        ("s", 120.0, 1.0),
        ("k", 240.0),
        ("k", 241.0),
        ("s", 300.0, 2.0),
        ("s", 420.0, 3.0),
        ("s", 480.0, 1.0),
    ]
    for with_ticks in (True, False):
        ev = ak.Evaluator([rule])
        run = [op for op in ops if with_ticks or op[0] == "s"]
        got = {op[1]: out["Probe"] for op, out in run_ops(ev, run)[1]}
        assert got[120.0] == -1.0
        if with_ticks:
            assert got[240.0] == -1.0  # exactly stale_after old: still counts
            assert got[241.0] is None  # stale
        # 300 - 120 > 120: a restart, whether or not a tick forgot the series meanwhile.
        assert got[300.0] is None
        assert got[420.0] is None  # 420 - 300 = 120: no restart, but one sample before
        assert got[480.0] == (1.0 - 2.5) / math.sqrt(0.25)


def test_seasonal_by_hand() -> None:
    # A day that repeats every hour in 10-minute steps, then 80 where 40 is usual: the
    # baseline is 40 in both previous periods (no spread), the floor 0.1 * 40 = 4.
    day = [10, 20, 30, 40, 30, 20]
    values = day * 3 + [10, 20, 30, 80]
    got = values_of(ak.Seasonal("x", "10m", "1h", seasons=2), values, step=600)
    assert got[:6] == [None] * 6  # the first hour has no past
    assert got[6:21] == [0.0] * 15  # every window equals its past
    assert got[21] == (80 - 40) / 4
    got = values_of(ak.Seasonal("x", "10m", "1h", seasons=2, warmup=2), values, step=600)
    assert got[:12] == [None] * 12  # two past periods needed


def test_seasonal_spread_and_interpolation_by_hand() -> None:
    # Previous periods at this phase: 40 then 50 (spread 5 > 0.1 * 45); now 60: (60 - 45) / 5.
    values = [10, 20, 30, 40, 30, 20, 10, 20, 30, 50, 30, 20, 10, 20, 30, 60]
    got = values_of(ak.Seasonal("x", "10m", "1h", seasons=2), values, step=600)
    assert got[-1] == 3.0
    # A tick 5 minutes after the last sample (at 9000 s): the current window still holds
    # 60 alone, but each past window ends mid-bucket and takes half of the two buckets it
    # straddles, as if samples were spread evenly: (50 + 30) / 2 = 40 one period ago,
    # (40 + 30) / 2 = 35 two periods ago. Mean 37.5, spread 2.5 < 0.1 * 37.5.
    rule = probe_rule(ak.Seasonal("x", "10m", "1h", seasons=2))
    ev = ak.Evaluator([rule], mode="tick")
    ops: list[Op] = [("s", i * 600.0, float(v)) for i, v in enumerate(values)]
    _, seen, _ = run_ops(ev, [*ops, ("k", 9300.0)])
    assert seen[-1][1]["Probe"] == (60 - 37.5) / 3.75


def test_seasonal_tolerance_zero_and_a_constant_series() -> None:
    # Means of equal values stay exact, so a constant series scores 0 even with no floor.
    expr = ak.Seasonal("x", "10m", "1h", seasons=2, tolerance=0)
    got = values_of(expr, [0.1] * 80, step=60)
    assert set(got[-10:]) == {0.0}
    assert values_of(expr, [0.1] * 70 + [0.2], step=60)[-1] == INF


def test_seasonal_keeps_its_history_through_an_outage() -> None:
    rule = probe_rule(ak.Seasonal("x", "10m", "1h"))
    ev = ak.Evaluator([rule])
    state = ev.new_state()
    for i in range(12):  # two hours
        ev.observe(state, "x", 10.0 + i % 6, i * 600.0)
    ev.tick(state, 11 * 600.0 + 3000)  # a 50-minute outage, ticked through
    ev.observe(state, "x", 20.0, 12 * 600.0 + 3000)
    assert outputs(ev, state)["Probe"] is not None


def test_non_finite_samples_are_gaps() -> None:
    plain = [10, 12, 10, 12, 10, 12, 20]
    noisy = [10, NAN, 12, 10, INF, 12, 10, -INF, 12, 20]
    for expr in (
        ak.ZScore("x", "1h", warmup=4),
        ak.RobustZScore("x", "1h", warmup=4),
        ak.EWMA("x", alpha=0.5, warmup=2),
        ak.Seasonal("x", "1m", "3m"),
    ):
        assert values_of(expr, plain, step=30)[-1] == values_of(expr, noisy, step=20)[-1]
    # A NaN as the newest sample leaves "the latest sample" as it was.
    got = values_of(ak.ZScore("x", "1h", warmup=4), [*plain, NAN])
    assert got[-1] == got[-2] == 9.0


@pytest.mark.parametrize(
    "expr",
    [ak.ZScore("x", "1h"), ak.RobustZScore("x", "1h"), ak.EWMA("x"), ak.Seasonal("x", "10m", "1h")],
    ids=str,
)
def test_no_alert_during_warm_up(expr: ak.ValueExpr) -> None:
    # Wild swings from the second sample on: any score would be huge, yet nothing fires
    # until the warm-up is over (zscore / robust 10 samples, ewma 19, seasonal one period).
    rule = ak.Rule(name="Wild", condition=ak.Threshold(expr, ">", 2))
    ev = ak.Evaluator([rule])
    warm = {"ZScore": 10, "RobustZScore": 10, "EWMA": 19, "Seasonal": 6}[type(expr).__name__]
    step = 600 if isinstance(expr, ak.Seasonal) else 60
    values = [1000.0 * (i % 2) for i in range(warm)]
    samples = series("x", [*values, 1e6], step=step)
    events = replay(ev, samples, ticks(warm * step, step))
    assert [e.at for e in events] == [warm * step]  # the first sample after warm-up


def test_windows_stay_bounded_without_evaluations() -> None:
    # Tick mode and no tick: samples are only fed, and still evicted as they age.
    rules = [
        probe_rule(ak.ZScore("x", "1m"), "Z"),
        probe_rule(ak.RobustZScore("x", "1m"), "R"),
        probe_rule(ak.Seasonal("x", "1m", "2m"), "S"),
    ]
    ev = ak.Evaluator(rules, mode="tick")
    state = ev.new_state()
    h = ev.handle(state, "x")
    for i in range(5000):
        h.observe(float(i % 17), float(i))
    sizes = {}
    for name in ("Z", "R", "S"):
        (track,) = state.rules[name].tracks.values()
        aux = track.aux[0]
        sizes[name] = (
            len(aux.window) if name == "S" else (len(aux) if name == "Z" else len(aux.sorted))
        )
    assert max(sizes.values()) <= 61


# -- numerical soundness --------------------------------------------------------------------


def test_a_spike_leaves_no_trace_in_the_moments() -> None:
    # Running sums with subtraction would keep an error of ~1e-16 * 1e18 = 100 in the sum
    # of squares after the spike leaves; the two-stack moments keep none.
    base = [100.0 + 0.001 * (i % 3) for i in range(300)]
    values = [*base[:50], 1e9, *base[50:]]
    samples: Samples = [(float(i), v) for i, v in enumerate(values)]
    ev = ak.Evaluator([probe_rule(ak.ZScore("x", "60s"))])
    _, seen, _ = run_ops(ev, [("s", t, v) for t, v in samples])
    for i in range(120, len(samples)):
        want = naive_zscore(samples[: i + 1], float(i), 60.0, 10)
        assert close(seen[i][1]["Probe"], want)


def test_a_long_stream_does_not_drift() -> None:
    ev = ak.Evaluator(
        [
            probe_rule(ak.ZScore("x", "100s"), "Z"),
            probe_rule(ak.EWMA("x", alpha=0.01), "E", stale_after=10),
        ]
    )
    state = ev.new_state()
    h = ev.handle(state, "x")
    samples: Samples = []
    for i in range(50_000):
        v = 1e6 + math.sin(i * 0.37) * 3 + (i % 11) * 0.125
        samples.append((float(i), v))
        h.observe(v, float(i))
    got = outputs(ev, state)
    assert close(got["Z"], naive_zscore(samples, 49_999.0, 100.0, 10))
    assert close(got["E"], naive_ewma(samples[-3000:], 49_999.0, 0.01, 199, 10.0))


@given(
    st.lists(st.tuples(st.integers(0, 3), st.integers(-1000, 1000)), max_size=120),
    st.integers(1, 40),
)
def test_sliding_moments_against_exact_moments(steps: list[tuple[int, int]], w: int) -> None:
    m = SlidingMoments()
    window: Samples = []
    t = 0.0
    for dt, x in steps:
        t += dt + 1
        v = x / 8
        m.push(t, v)
        window.append((t, v))
        m.evict(t - w)
        window = [(s, u) for s, u in window if s >= t - w]
        n, mean, m2 = m.moments()
        fs = [Fraction(u) for _, u in window]
        exact_mean = sum(fs, Fraction(0)) / len(fs)
        assert n == len(window)
        assert math.isclose(mean, exact_mean, rel_tol=1e-12, abs_tol=1e-12)
        exact_m2 = float(sum(((f - exact_mean) ** 2 for f in fs), Fraction(0)))
        assert math.isclose(m2, exact_m2, rel_tol=1e-9, abs_tol=1e-9)
        if len(set(fs)) == 1:
            assert (mean, m2) == (window[0][1], 0.0)  # equal values: exact
        copy = SlidingMoments()
        copy.load_into(json.loads(json.dumps(m.dump())))
        assert copy.moments() == m.moments()


@given(st.lists(st.one_of(st.integers(-5, 5).map(float), st.floats(-1e6, 1e6)), min_size=1))
def test_median_mad_equals_sorting_every_deviation(values: list[float]) -> None:
    srt = sorted(values)
    med = statistics.median(srt)
    assert median_mad(srt) == (med, statistics.median([abs(v - med) for v in srt]))


# -- spelling, the expression language, and bad parameters -----------------------------------


@pytest.mark.parametrize(
    ("expr", "text"),
    [
        (ak.ZScore("latency", "1h"), "zscore(latency[1h])"),
        (ak.ZScore("latency", 5400, warmup=30), "zscore(latency[1h30m], warmup=30)"),
        (ak.EWMA("x"), "ewma(x)"),
        (
            ak.EWMA(ak.Selector("x", {"a": "b"}), alpha=0.05, warmup=7),
            'ewma(x{a="b"}, alpha=0.05, warmup=7)',
        ),
        (ak.RobustZScore("latency", "30m", warmup=20), "robust_zscore(latency[30m], warmup=20)"),
        (ak.Seasonal("requests", "10m", "1d"), "seasonal(requests[10m], 1d)"),
        (
            ak.Seasonal("requests", "10m", "1w", seasons=4, tolerance=0.25, warmup=2),
            "seasonal(requests[10m], 1w, seasons=4, tolerance=0.25, warmup=2)",
        ),
    ],
    ids=str,
)
def test_canonical_spelling(expr: ak.ValueExpr, text: str) -> None:
    assert str(expr) == text
    assert str(ak.Threshold(expr, ">", 3)) == f"{text} > 3.0"


def test_registered_functions_build_equal_objects() -> None:
    rng = RangeArg(ak.Selector("x"), 3600.0)
    assert FUNCTIONS["zscore"].build(rng, 20) == ak.ZScore("x", "1h", warmup=20)
    assert FUNCTIONS["robust_zscore"].build(rng) == ak.RobustZScore("x", 3600)
    assert FUNCTIONS["ewma"].build(ak.Selector("x"), 0.2, None) == ak.EWMA("x", alpha=0.2)
    assert FUNCTIONS["seasonal"].build(rng, 86400.0, 3, 0.1, 1) == ak.Seasonal("x", "1h", "1d")
    for name in ("zscore", "ewma", "robust_zscore", "seasonal"):
        assert FUNCTIONS[name].returns == "value"
        assert any(p.name == "warmup" for p in FUNCTIONS[name].params)


@given(st.one_of(*STRATEGIES))
def test_text_round_trip(condition: ak.Condition) -> None:
    assert ak.parse_condition(str(condition)) == condition


@pytest.mark.parametrize(
    ("build", "error", "message"),
    [
        (
            lambda: ak.ZScore("x", "0s"),
            ak.DurationError,
            "zscore range: '0s' must be greater than zero",
        ),
        (
            lambda: ak.ZScore("x", "5x"),
            ak.DurationError,
            'zscore range: \'5x\' is not a duration (expected e.g. "90s", "5m", "1h30m")',
        ),
        (
            lambda: ak.ZScore("x", "1h", warmup=1),
            ak.RuleError,
            "zscore: warmup=1 must be an integer >= 2",
        ),
        (
            lambda: ak.ZScore("x", "1h", warmup=2.5),
            ak.RuleError,
            "zscore: warmup=2.5 must be an integer >= 2",
        ),
        (
            lambda: ak.ZScore("x", "1h", warmup=True),
            ak.RuleError,
            "zscore: warmup=True must be an integer >= 2",
        ),
        (lambda: ak.ZScore(42, "1h"), ak.RuleError, "expected a metric name or Selector, got 42"),
        (
            lambda: ak.RobustZScore("x", -60),
            ak.DurationError,
            "robust_zscore range: -60 is not a duration (must be finite and >= 0)",
        ),
        (
            lambda: ak.RobustZScore("x", "1h", warmup=0),
            ak.RuleError,
            "robust_zscore: warmup=0 must be an integer >= 2",
        ),
        (
            lambda: ak.EWMA("x", alpha=0),
            ak.RuleError,
            "ewma: alpha=0 must be a number with 0 < alpha < 1",
        ),
        (
            lambda: ak.EWMA("x", alpha=1.0),
            ak.RuleError,
            "ewma: alpha=1.0 must be a number with 0 < alpha < 1",
        ),
        (
            lambda: ak.EWMA("x", alpha=NAN),
            ak.RuleError,
            "ewma: alpha=nan must be a number with 0 < alpha < 1",
        ),
        (
            lambda: ak.EWMA("x", alpha="0.1"),
            ak.RuleError,
            "ewma: alpha='0.1' must be a number with 0 < alpha < 1",
        ),
        (lambda: ak.EWMA("x", warmup=1), ak.RuleError, "ewma: warmup=1 must be an integer >= 2"),
        (
            lambda: ak.Seasonal("x", "10m", "0s"),
            ak.DurationError,
            "seasonal period: '0s' must be greater than zero",
        ),
        (
            lambda: ak.Seasonal("x", None, "1d"),
            ak.DurationError,
            "seasonal range: None is not a duration (use seconds, a timedelta or a string like "
            '"5m")',
        ),
        (
            lambda: ak.Seasonal("x", "10m", "10m"),
            ak.RuleError,
            "seasonal: period 10m must be longer than the range 10m",
        ),
        (
            lambda: ak.Seasonal("x", "10m", "1d", seasons=0),
            ak.RuleError,
            "seasonal: seasons=0 must be an integer >= 1",
        ),
        (
            lambda: ak.Seasonal("x", "10m", "1d", tolerance=-0.1),
            ak.RuleError,
            "seasonal: tolerance=-0.1 must be a finite number >= 0",
        ),
        (
            lambda: ak.Seasonal("x", "10m", "1d", tolerance=INF),
            ak.RuleError,
            "seasonal: tolerance=inf must be a finite number >= 0",
        ),
        (
            lambda: ak.Seasonal("x", "10m", "1d", warmup=0),
            ak.RuleError,
            "seasonal: warmup=0 must be an integer >= 1",
        ),
        (
            lambda: ak.Seasonal("x", "10m", "1d", warmup=4),
            ak.RuleError,
            "seasonal: warmup=4 is larger than seasons=3",
        ),
        (
            lambda: ak.Seasonal("x", "1s", "1w", seasons=4),
            ak.RuleError,
            "seasonal: seasons * period / range = 2,419,200 history buckets per series, more "
            "than 100,000; use a longer range or fewer seasons",
        ),
    ],
)
def test_bad_parameters_are_rejected_precisely(
    build: Callable[[], object], error: type[Exception], message: str
) -> None:
    with pytest.raises(error) as caught:
        build()
    assert str(caught.value) == message


def test_bad_parameters_in_text_are_rejected() -> None:
    with pytest.raises(ak.ExpressionError) as caught:
        ak.parse_condition("zscore(x[1h], warmup=1) > 3")
    assert "zscore: warmup=1 must be an integer >= 2" in str(caught.value)
    with pytest.raises(ak.ExpressionError) as caught:
        ak.parse_condition("seasonal(x[1h], 30m) > 3")
    assert "seasonal: period 30m must be longer than the range 1h" in str(caught.value)
    rule = ak.Rule(name="Drop", condition="seasonal(requests[10m], 1w, seasons=4) < -3")
    assert rule.condition == ak.Threshold(ak.Seasonal("requests", "10m", "1w", seasons=4), "<", -3)


@given(
    st.lists(
        st.tuples(st.sampled_from([1.0, 30.0, 61.0]), st.floats(width=64)), min_size=1, max_size=60
    ),
    MODES,
)
def test_extreme_values_never_raise(steps: list[tuple[float, float]], mode: str) -> None:
    # Beyond ~1e154 the statistics overflow and scores may be NaN or infinite; they
    # must still be scores (or no output), never an exception, and snapshots stay JSON.
    ev = ak.Evaluator(ALL_DETECTORS, mode=mode)
    t = 0.0
    ops: list[Op] = []
    for dt, v in steps:
        t += dt
        ops += [("s", t, v), ("k", t)]
    state, seen, _ = run_ops(ev, ops)
    for _, out in seen:
        assert all(v is None or isinstance(v, float) for v in out.values())
    snapshot = ev.snapshot(state)
    assert ak.Evaluator(ALL_DETECTORS, mode=mode).restore(snapshot) is not None
