"""change(): examples computed by hand, the naive reference on random timelines, bounded
memory, snapshots and bad parameters."""

from __future__ import annotations

import math
from collections.abc import Callable

import pytest
from hypothesis import given
from hypothesis import strategies as st

import alertkit as ak
from alertkit._core.functions import FUNCTIONS, RangeArg
from helpers import replay, ticks, timeline
from kinds_reference import (
    Key,
    Op,
    Samples,
    change_tolerance,
    check_snapshot_restore,
    combine,
    naive_change_parts,
    probe,
    run_against_reference,
    same,
    timelines,
)

NaN = math.nan
INF = math.inf
A: Key = (("host", "a"),)
B: Key = (("host", "b"),)


def value_at(expr: ak.ValueExpr, samples: Samples, now: float) -> float | None:
    ev = ak.Evaluator([probe(expr)], mode="tick")
    state = ev.new_state()
    for t, v in samples:
        if t <= now:
            ev.observe(state, "x", v, t)
    ev.tick(state, now)
    alerts = ev.alerts(state)
    return alerts[0].value if alerts else None


def every_minute(*values: float) -> Samples:
    return [(60.0 * i, float(v)) for i, v in enumerate(values)]


# -- examples computed by hand -----------------------------------------------------------------

# v = t / 60 at t = 0, 60, ..., 600. At T = 600 with range 2m: the current window [480, 600]
# holds 8 9 10, the previous window [360, 480] holds 6 7 8 (8, at t = 480, is in both:
# windows are closed, as avg_over_time(x[2m]) and avg_over_time(x[2m] offset 2m) are).
RAMP = every_minute(*range(11))


@pytest.mark.parametrize(("expr", "expected"), [
    (ak.Change("avg", "x", "2m"), 9 / 7),
    (ak.Change("avg", "x", "2m", mode="percent"), (9 - 7) / 7 * 100),
    (ak.Change("avg", "x", "2m", mode="absolute"), 2.0),
    (ak.Change("sum", "x", "2m", mode="absolute"), 27.0 - 21.0),
    (ak.Change("count", "x", "2m"), 1.0),
    (ak.Change("min", "x", "2m", mode="absolute"), 8.0 - 6.0),
    (ak.Change("max", "x", "2m", mode="ratio"), 10 / 8),
    (ak.Change("last", "x", "2m", mode="percent"), (10 - 8) / 8 * 100),
    # offset 5m: the reference window is [180, 300]: 3 4 5.
    (ak.Change("avg", "x", "2m", offset="5m", mode="absolute"), 9.0 - 4.0),
    # offset shorter than the range: [420, 600] against [360, 540], overlapping.
    (ak.Change("sum", "x", "3m", offset="1m", mode="absolute"), 34.0 - 30.0),
])
def test_aggregates_and_modes(expr: ak.Change, expected: float) -> None:
    assert value_at(expr, RAMP, 600) == pytest.approx(expected, rel=1e-15)


def test_same_time_yesterday() -> None:
    # A daily pattern, every 10 minutes for two days; on day two, 09:00-09:30 runs at 150
    # instead of 100. At 09:30 on day two the average of the last 30 minutes is 150 against
    # 100 at 09:30 yesterday: +50 %.
    day = 86400
    samples = [(float(t), 150.0 if t >= day + 9 * 3600 else 100.0)
               for t in range(0, 2 * day, 600)]
    expr = ak.Change("avg", "x", "30m", offset="1d", mode="percent")
    assert value_at(expr, samples, day + 9.5 * 3600) == 50.0
    assert value_at(expr, samples, day + 8 * 3600) == 0.0


@pytest.mark.parametrize(("mode", "cur", "expected"), [
    ("ratio", 5.0, INF), ("ratio", -5.0, -INF), ("ratio", 0.0, NaN),
    ("percent", 5.0, INF), ("percent", -5.0, -INF), ("percent", 0.0, NaN),
    ("absolute", 5.0, 5.0),
])
def test_division_by_zero_is_ieee(mode: str, cur: float, expected: float) -> None:
    samples = [(0.0, 0.0), (60.0, 0.0), (120.0, cur), (180.0, cur)]
    got = value_at(ak.Change("last", "x", "1m", offset="2m", mode=mode), samples, 180)  # type: ignore[arg-type]
    assert same(got, expected)


def test_negative_zero_reference_follows_ieee_signs() -> None:
    samples = [(0.0, -0.0), (120.0, 5.0)]
    assert value_at(ak.Change("last", "x", "1m", offset="2m"), samples, 120) == -INF
    # percent divides by |ref|, which is +0: the sign is the change's.
    assert value_at(ak.Change("last", "x", "1m", offset="2m", mode="percent"), samples,
                    120) == INF


def test_non_finite_samples() -> None:
    samples = every_minute(1, NaN, 3, 4, math.inf, 6)
    # [240, 300] = inf 6 against [180, 240] = 4 inf (t=240 in both)
    assert value_at(ak.Change("avg", "x", "1m", mode="absolute"), samples, 300) is not None
    assert math.isnan(value_at(ak.Change("avg", "x", "1m", mode="absolute"), samples, 300)
                      or 0.0)  # inf - inf
    assert math.isnan(value_at(ak.Change("sum", "x", "1m"), samples, 120) or 0.0)  # NaN in both
    assert value_at(ak.Change("max", "x", "1m", mode="absolute"), samples, 120) == 3.0 - 1.0
    assert value_at(ak.Change("count", "x", "1m", mode="absolute"), samples, 120) == 0.0


def test_min_count_applies_to_both_windows() -> None:
    samples = [(0.0, 1.0), (30.0, 1.0), (60.0, 2.0), (120.0, 2.0), (150.0, 2.0)]
    # current [60, 120]: 2 samples, previous [0, 60]: 3 samples
    expr = ak.Change("avg", "x", "1m", mode="absolute", min_count=2)
    assert value_at(expr, samples, 120) == pytest.approx(2.0 - 4 / 3)
    assert value_at(ak.Change("avg", "x", "1m", min_count=3), samples, 120) is None
    # [90, 150] against [30, 90]: 2 and 2
    assert value_at(expr, samples, 150) == pytest.approx(2.0 - 1.5)
    # One sample at 0: at T = 0 the previous window [-120, -60] is empty; at T = 60 the
    # sample is on the boundary, in both [0, 60] and [-60, 0]; at T = 61 in neither.
    assert value_at(ak.Change("avg", "x", "1m"), samples[:1], 0) is None
    assert value_at(ak.Change("avg", "x", "1m"), samples[:1], 60) == 1.0
    assert value_at(ak.Change("avg", "x", "1m"), samples[:1], 61) is None


def test_a_gap_longer_than_the_range_keeps_the_reference_window() -> None:
    # 1m samples of 10 for an hour, a 30 minute gap, then 20: the reference of
    # change(avg, x[5m], offset=1h) is still there when the series comes back.
    samples = [(60.0 * i, 10.0) for i in range(61)]
    samples += [(60.0 * i, 20.0) for i in range(91, 100)]
    rule = ak.Rule(name="Up", condition=ak.Threshold(
        ak.Change("avg", "x", "5m", offset="1h"), ">=", 2))
    ev = ak.Evaluator([rule], mode="tick")
    events = replay(ev, [("x", {}, t, v) for t, v in samples], ticks(6000))
    assert timeline(events) == [(5460.0, "firing", "")]
    assert events[0].alert.value == 2.0


def test_spike_rule_in_sample_mode() -> None:
    # ElastAlert's spike: the last minute's average at least 3 times the previous minute's,
    # with at least 4 samples in each. Samples every 20 s, evaluated at each sample.
    rule = ak.Rule(name="Spike", condition=ak.Threshold(
        ak.Change("avg", "requests", "1m", min_count=4), ">=", 3))
    ev = ak.Evaluator([rule])
    state = ev.new_state()
    h = ev.handle(state, "requests", {"path": "/"})
    events = []
    for i, v in enumerate([10] * 6 + [40, 45, 50] + [10] * 3):
        events += h.observe(float(v), 20.0 * i)
    # 120: [60, 120] = 10 10 10 40 -> 17.5 / 10;  140: 26.25 / 10;
    # 160: [100, 160] = 10 40 45 50 -> 36.25 against [40, 100] = 10 10 10 10: 3.625, fires;
    # 180: [120, 180] = 40 45 50 10 -> 36.25 against [60, 120] -> 17.5: 2.07, resolves.
    assert timeline(events) == [(160.0, "firing", "path=/"), (180.0, "resolved", "path=/")]
    assert events[0].alert.value == 3.625


# -- memory --------------------------------------------------------------------------------------

def test_memory_is_bounded_by_offset_plus_range_even_with_rare_ticks() -> None:
    ev = ak.Evaluator([probe(ak.Change("max", "x", "1m", offset="10m"))], mode="tick")
    state = ev.new_state()
    h = ev.handle(state, "x")
    for i in range(20_000):
        h.observe(float(i % 97), float(i))  # 1 s samples, no tick at all
    (track,) = state.rules["Probe"].tracks.values()
    buf = track.aux[0]
    live = len(buf.ts) - buf.head
    # [T - 11m, T], give or take the quarter range by which feeds may let it lag.
    assert live <= 11 * 60 + 15 + 1
    assert len(buf.ts) <= live + max(256, live) + 1  # the compacted head
    assert len(buf.cur.mono) <= 76 and len(buf.ref.mono) <= 76


# -- the reference, on random timelines --------------------------------------------------------

def _check(mode: str, agg: str, range_s: float, offset: float, min_count: int
           ) -> Callable[..., None]:
    def check(key: Key, now: float, got: float | None, _expected: object,
              by_key: dict[Key, Samples]) -> None:
        parts = naive_change_parts(by_key.get(key, []), now, agg, range_s, offset, min_count)
        if parts is None:
            assert got is None, (key, now, got)
            return
        cur, ref, e_cur, e_ref = parts
        expected = combine(mode, cur, ref)
        tolerance = change_tolerance(mode, cur, ref, e_cur, e_ref)
        assert same(got, expected, tolerance), (key, now, got, expected, cur, ref)
    return check


@given(st.sampled_from(["avg", "sum", "count", "min", "max", "last"]),
       st.sampled_from(["ratio", "percent", "absolute"]),
       st.sampled_from([10.0, 60.0]), st.sampled_from([None, 5.0, 30.0, 200.0]),
       st.integers(1, 3), st.sampled_from(["tick", "sample"]), timelines([A, B], gap_ms=30_000))
def test_change_equals_the_naive_reference(agg: str, mode: str, range_s: float,
                                           offset: float | None, min_count: int, run_mode: str,
                                           ops: list[Op]) -> None:
    off = range_s if offset is None else offset
    expr = ak.Change(agg, "x", range_s, offset=off, mode=mode, min_count=min_count)  # type: ignore[arg-type]
    run_against_reference(expr, ops, lambda by_key, key, now: None,
                          _check(mode, agg, range_s, off, min_count), mode=run_mode)


@given(st.sampled_from([ak.Change("avg", "x", 30, offset=60, min_count=2),
                        ak.Change("max", "x", 60, mode="absolute")]),
       st.sampled_from(["tick", "sample"]), timelines([A, B], gap_ms=30_000), st.data())
def test_snapshot_restore_mid_stream_gives_the_same_events(
        expr: ak.ValueExpr, mode: str, ops: list[Op], data: st.DataObject) -> None:
    rule = ak.Rule(name="Change", condition=ak.Threshold(expr, ">", 1), for_=20)
    check_snapshot_restore(rule, ops, data.draw(st.integers(0, len(ops))), mode=mode)


# -- the expression language and bad parameters --------------------------------------------------

def test_canonical_text_and_function_table() -> None:
    c = ak.Change("avg", "cpu", "5m", offset="1d", mode="percent", min_count=10)
    assert str(ak.Threshold(c, ">", 50)) == (
        'change("avg", cpu[5m], offset=1d, mode="percent", min_count=10) > 50.0')
    assert str(ak.Change("max", "cpu", 300)) == 'change("max", cpu[5m])'
    assert str(ak.Change("max", "cpu", 300, offset=300)) == 'change("max", cpu[5m])'
    assert str(ak.Change(ak.Agg.SUM, "x", 60, mode="absolute")) == (
        'change("sum", x[1m], mode="absolute")')
    assert ak.Change("max", "cpu", 300) == ak.Change("max", "cpu", "5m", offset="5m")
    build = FUNCTIONS["change"].build
    sel = ak.Selector("cpu")
    assert build("avg", RangeArg(sel, 300.0)) == ak.Change("avg", "cpu", "5m")
    assert build("avg", RangeArg(sel, 300.0), None, "ratio", 1) == ak.Change("avg", "cpu", "5m")
    assert build("avg", RangeArg(sel, 300.0), offset=86400.0, mode="percent", min_count=10) == c
    assert [(p.name, p.kind, p.default) for p in FUNCTIONS["change"].params[2:]] == [
        ("offset", "duration", None), ("mode", "string", "ratio"), ("min_count", "integer", 1)]


def test_text_round_trips_through_the_parser() -> None:
    parse = getattr(ak, "parse_condition", None)
    if parse is None:
        pytest.skip("alertkit.parse_condition does not exist yet")
    for c in [ak.Threshold(ak.Change("avg", "cpu", "5m", offset="1d", mode="percent",
                                     min_count=10), ">", 50),
              ak.Threshold(ak.Change("last", ak.Selector("x", {"a": "b"}), "90s"), "<", 0.5)]:
        assert parse(str(c)) == c


@pytest.mark.parametrize(("build", "error", "message"), [
    (lambda: ak.Change("median", "x", "5m"), ak.RuleError,
     "change: aggregation 'median' is not one of avg, sum, count, min, max, last"),
    (lambda: ak.Change("rate", "x", "5m"), ak.RuleError, "change: aggregation 'rate' is not"),
    (lambda: ak.Change(ak.Agg.QUANTILE, "x", "5m"), ak.RuleError, "aggregation <Agg.QUANTILE"),
    (lambda: ak.Change("avg", "x", "5m", mode="pct"), ak.RuleError,
     "change: mode 'pct' is not one of ratio, percent, absolute"),
    (lambda: ak.Change("avg", "x", "5m", min_count=0), ak.RuleError,
     "change: min_count=0 must be a positive integer"),
    (lambda: ak.Change("avg", "x", "5m", min_count=True), ak.RuleError, "min_count=True"),
    (lambda: ak.Change("avg", "x", "5m", min_count=2.0), ak.RuleError, "min_count=2.0"),
    (lambda: ak.Change("avg", "x", "0s"), ak.DurationError,
     "change range: '0s' must be greater than zero"),
    (lambda: ak.Change("avg", "x", "5m", offset=0), ak.DurationError,
     "change offset: 0 must be greater than zero"),
    (lambda: ak.Change("avg", "x", "5m", offset="yesterday"), ak.DurationError,
     "change offset: 'yesterday' is not a duration"),
    (lambda: ak.Change("avg", "x", "5m", offset=None), ak.DurationError,
     "change offset: None is not a duration"),
    (lambda: ak.Change("avg", 42, "5m"), ak.RuleError, "expected a metric name or Selector"),
])
def test_bad_parameters(build: Callable[[], object], error: type[Exception], message: str) -> None:
    with pytest.raises(error, match=message):
        build()


@pytest.mark.parametrize("expr", [
    ak.Deriv("x", "2m"), ak.PredictLinear("x", "2m", 60), ak.Change("avg", "x", "1m"),
    ak.Change("sum", "x", "1m", mode="absolute")])
def test_values_near_the_float_limit_neither_crash_nor_linger(expr: ak.ValueExpr) -> None:
    # Running sums of values near 1e308 overflow to Inf, and Inf - Inf is NaN; math.fsum
    # raises on such input; strict JSON refuses non-finite numbers. None of it may escape,
    # and once the huge values have left the window the results are exact again.
    ev = ak.Evaluator([probe(expr)], mode="tick")
    state = ev.new_state()
    for i, v in enumerate([1e308, 1.7e308, -1e308, 1.5e308, 1.0, 2.0, 3.0, 4.5, 5.0]):
        ev.observe(state, "x", v, 60.0 * i)
        ev.tick(state, 60.0 * i)
        snapshot = ev.snapshot(state)
        assert ev.snapshot(ev.restore(snapshot)) == snapshot
    (alert,) = ev.alerts(state)
    expected = {"deriv": 1 / 60, "predict_linear": 37 / 6}.get(str(expr).split("(")[0])
    if isinstance(expr, ak.Change):
        expected = 4.75 / 3.75 if expr.mode == "ratio" else 2.0  # [420, 480] vs [360, 420]
    assert alert.value == pytest.approx(expected, rel=1e-12)
