"""deriv and predict_linear: examples computed by hand, Prometheus 2.42 parity, the naive
reference on random timelines, numerics on epoch time, snapshots and bad parameters."""

from __future__ import annotations

import json
import math
import random
import re
import subprocess
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

import alertkit as ak
from alertkit._core.functions import FUNCTIONS, RangeArg
from helpers import replay, series, ticks, timeline
from kinds_reference import (
    Check,
    Key,
    Op,
    Samples,
    check_snapshot_restore,
    naive_deriv,
    naive_predict_linear,
    probe,
    regression_scale,
    run_against_reference,
    same,
    timelines,
)
from promtool_oracle import promtool_path, render_values

NaN = math.nan
EPOCH = 1.7e9
A: Key = (("host", "a"),)
B: Key = (("host", "b"),)


def value_at(expr: ak.ValueExpr, samples: Samples, now: float) -> float | None:
    """The expression's value for one series ``x`` after these samples, at a tick at ``now``."""
    ev = ak.Evaluator([probe(expr)], mode="tick")
    state = ev.new_state()
    for t, v in samples:
        ev.observe(state, "x", v, t)
    ev.tick(state, now)
    alerts = ev.alerts(state)
    return alerts[0].value if alerts else None


def every_minute(*values: float) -> Samples:
    return [(60.0 * i, float(v)) for i, v in enumerate(values)]


# -- examples computed by hand -----------------------------------------------------------------

def test_deriv_is_the_least_squares_slope() -> None:
    # t = 0..240, v = 1 3 4 8 9: mean t 120, mean v 5; sum (dt*dv) = 480+120+0+180+480 = 1260,
    # sum dt^2 = 36000, slope = 1260 / 36000 = 0.035 per second (promtool 2.42: 3.5E-02).
    samples = every_minute(1, 3, 4, 8, 9)
    assert value_at(ak.Deriv("x", "10m"), samples, 240) == pytest.approx(0.035, rel=1e-12)


def test_predict_linear_extends_the_line_from_now() -> None:
    # The line above is v = 5 + 0.035 (t - 120); at T = 300, one hour ahead (t = 3900):
    # 5 + 0.035 * 3780 = 137.3 (promtool 2.42: 1.373E+02). Zero horizon: the fit at T.
    samples = every_minute(1, 3, 4, 8, 9)
    assert value_at(ak.PredictLinear("x", "10m", "1h"), samples, 300) == pytest.approx(
        137.3, rel=1e-12)
    assert value_at(ak.PredictLinear("x", "10m", 0), samples, 300) == pytest.approx(
        11.3, rel=1e-12)


def test_prometheus_values_recorded_from_promtool() -> None:
    # promtool 2.42 printed these exact values (shortest round-trip form).
    samples = every_minute(1.5, 1.8, 1.9)
    assert value_at(ak.Deriv("x", "10m"), samples, 120) == pytest.approx(
        0.0033333333333333335, rel=1e-9)
    assert value_at(ak.PredictLinear("x", "10m", 0), samples, 120) == pytest.approx(
        1.9333333333333333, rel=1e-9)
    samples = every_minute(1.1, 1.6, 0.1, 0.2)
    assert value_at(ak.PredictLinear("x", "10m", 0), samples, 180) == pytest.approx(0.12, rel=1e-9)
    gappy = [(0.0, 1.0), (120.0, 3.0)]  # "1 _ 3": slope 2/120
    assert value_at(ak.Deriv("x", "2m"), gappy, 120) == pytest.approx(1 / 60, rel=1e-12)
    assert value_at(ak.PredictLinear("x", "2m", 3600), gappy, 120) == pytest.approx(63.0)


def test_equal_values_give_exactly_zero_slope_and_the_value() -> None:
    # Plain sums of 0.1 give a slope of -4.9e-19 and a prediction of 0.10000000000000005;
    # Prometheus 2.42 special-cases equal values, and so does alertkit.
    samples = every_minute(0.1, 0.1, 0.1)
    assert value_at(ak.Deriv("x", "10m"), samples, 120) == 0.0
    assert value_at(ak.PredictLinear("x", "10m", "1h"), samples, 120) == 0.1
    # ...but a window that still holds an older, different value is not flat.
    samples = every_minute(0.5, 0.1, 0.1)
    assert value_at(ak.Deriv("x", "10m"), samples, 120) == pytest.approx(-0.4 / 120)
    assert value_at(ak.Deriv("x", "1m"), samples, 120) == 0.0  # [60, 120]: flat


def test_fewer_than_two_samples_in_the_closed_window_give_no_output() -> None:
    samples = [(0.0, 1.0), (600.0, 7.0)]
    assert value_at(ak.Deriv("x", "10m"), samples, 600) == pytest.approx(0.01)  # t=0 included
    assert value_at(ak.Deriv("x", "10m"), samples, 601) is None
    assert value_at(ak.PredictLinear("x", "10m", "1h"), samples[:1], 0) is None


@pytest.mark.parametrize(("values", "expected"), [
    ([1.0, math.inf, 2.0], NaN),           # Prometheus' compensated sums: Inf -> NaN
    ([math.inf, math.inf, math.inf], NaN),  # equal but infinite
    ([NaN, 1.0, 2.0], NaN),
    ([1.0, 2.0, NaN], NaN),
    ([NaN, NaN], NaN),
    ([-math.inf, -math.inf], NaN),
])
def test_non_finite_values(values: list[float], expected: float) -> None:
    for expr in (ak.Deriv("x", "10m"), ak.PredictLinear("x", "10m", "1h")):
        got = value_at(expr, every_minute(*values), 60.0 * (len(values) - 1))
        assert got is not None and math.isnan(got)


def test_non_finite_values_stop_mattering_once_out_of_the_window() -> None:
    samples = every_minute(NaN, math.inf, 1, 2, 3)
    assert value_at(ak.Deriv("x", "2m"), samples, 240) == pytest.approx(1 / 60)


def test_epoch_timestamps_keep_full_precision() -> None:
    # 1.7e9 squared is 2.9e18: naive running sums of t and t^2 would lose the variance of
    # a ten minute window entirely. The same shape must give the same slope at any epoch.
    samples = every_minute(1, 3, 4, 8, 9)
    shifted = [(EPOCH + t, v) for t, v in samples]
    assert value_at(ak.Deriv("x", "10m"), shifted, EPOCH + 240) == pytest.approx(0.035, rel=1e-12)
    assert value_at(ak.PredictLinear("x", "10m", "1h"), shifted, EPOCH + 300) == pytest.approx(
        137.3, rel=1e-12)


def test_a_long_stream_on_epoch_time_matches_the_reference() -> None:
    # Hours of 1 s samples through a 10m window: the running sums are added to and
    # subtracted from 200,000 times and re-anchored along the way.
    rng = random.Random(7)
    ev = ak.Evaluator([probe(ak.Deriv("x", "10m")),
                       ak.Rule(name="P2", condition=ak.Threshold(
                           ak.PredictLinear("x", "10m", "4h"), "!=", NaN))], mode="tick")
    state = ev.new_state()
    h = ev.handle(state, "x")
    samples: Samples = []
    t = EPOCH
    for i in range(200_000):
        t += rng.choice([0.5, 1.0, 1.0, 1.5])
        v = 5e9 - 1e3 * i + rng.gauss(0, 1e4)  # a large gauge with a small trend and noise
        h.observe(v, t)
        samples.append((t, v))
        if i % 20_000 == 19_999:
            ev.tick(state, t)
            got = {a.rule: a.value for a in ev.alerts(state)}
            window = samples[-2000:]
            d = naive_deriv(window, t, 600)
            p = naive_predict_linear(window, t, 600, 4 * 3600)
            assert d is not None and p is not None
            assert got["Probe"] == pytest.approx(d, rel=1e-9)
            assert got["P2"] == pytest.approx(p, rel=1e-9)


# -- the reference, on random timelines --------------------------------------------------------

def _check_regression(range_s: float, horizon: float | None) -> Check:
    def check(key: Key, now: float, got: float | None, expected: float | None,
              by_key: dict[Key, Samples]) -> None:
        tolerance = 0.0
        if expected is not None and math.isfinite(expected):
            scale = regression_scale(by_key[key], now, range_s, horizon)
            # plus the smallest normal float: below it only subnormal rounding differs
            # (an intercept of 5e-324 computed as 0.0 is no disagreement)
            tolerance = 1e-9 * (abs(expected) + scale) + sys.float_info.min
        assert same(got, expected, tolerance), (key, now, got, expected)
    return check


@given(st.sampled_from([10.0, 60.0, 300.0]), st.sampled_from(["tick", "sample"]),
       timelines([A, B]))
def test_deriv_equals_the_naive_reference(range_s: float, mode: str, ops: list[Op]) -> None:
    run_against_reference(
        ak.Deriv("x", range_s), ops,
        lambda by_key, key, now: naive_deriv(by_key.get(key, []), now, range_s),
        _check_regression(range_s, None), mode=mode)


@given(st.sampled_from([10.0, 60.0, 300.0]), st.sampled_from([0.0, 90.0, 3600.0]),
       st.sampled_from(["tick", "sample"]), timelines([A, B]))
def test_predict_linear_equals_the_naive_reference(range_s: float, horizon: float, mode: str,
                                                   ops: list[Op]) -> None:
    run_against_reference(
        ak.PredictLinear("x", range_s, horizon), ops,
        lambda by_key, key, now: naive_predict_linear(by_key.get(key, []), now, range_s, horizon),
        _check_regression(range_s, horizon), mode=mode)


@given(st.sampled_from([ak.Deriv("x", 60), ak.PredictLinear("x", "5m", "1h")]),
       st.sampled_from(["tick", "sample"]), timelines([A, B]), st.data())
def test_snapshot_restore_mid_stream_gives_the_same_events(
        expr: ak.ValueExpr, mode: str, ops: list[Op], data: st.DataObject) -> None:
    rule = ak.Rule(name="Trend", condition=ak.Threshold(expr, ">", 0), for_=30)
    check_snapshot_restore(rule, ops, data.draw(st.integers(0, len(ops))), mode=mode)


# -- Prometheus 2.42 itself, when promtool is installed ------------------------------------------

_GOT = re.compile(r"^\s+got: (?:nil|\{[^}]*\} (\S+))$", re.MULTILINE)


def _promtool_values(values: list[float | None], exprs: list[str], times: list[int]
                     ) -> list[float | None]:
    """What promtool computes for each expression at each time (1m samples from t=0)."""
    tests = [{"expr": e, "eval_time": f"{t}s", "exp_samples": [{"labels": "sentinel", "value": 0}]}
             for e in exprs for t in times]
    doc = {"rule_files": [], "evaluation_interval": "1m", "tests": [{
        "interval": "1m", "input_series": [{"series": "x", "values": render_values(values)}],
        "promql_expr_test": tests}]}
    with tempfile.TemporaryDirectory() as tmp:
        Path(tmp, "test.yml").write_text(json.dumps(doc), encoding="utf-8")
        out = subprocess.run([str(promtool_path()), "test", "rules", "test.yml"], cwd=tmp,
                             capture_output=True, text=True, check=False, timeout=60)
    got = [None if m[1] is None else float(m[1]) for m in _GOT.finditer(out.stdout + out.stderr)]
    assert len(got) == len(tests), out.stdout + out.stderr
    return got


@pytest.mark.skipif(promtool_path() is None, reason="promtool not installed")
def test_matches_promtool_on_random_series() -> None:
    rng = random.Random(2)
    for _ in range(3):
        values: list[float | None] = []
        for _ in range(40):
            r = rng.random()
            values.append(None if r < 0.15 else NaN if r < 0.18 else math.inf if r < 0.2
                          else round(rng.uniform(-100, 100), rng.choice([0, 1, 3])))
        exprs = [("deriv(x[3m])", ak.Deriv("x", "3m")),
                 ("deriv(x[10m])", ak.Deriv("x", "10m")),
                 ("predict_linear(x[5m], 3600)", ak.PredictLinear("x", "5m", 3600)),
                 ("predict_linear(x[2m], 0)", ak.PredictLinear("x", "2m", 0))]
        times = list(range(0, 2520, 60))
        want = _promtool_values(values, [e for e, _ in exprs], times)
        ev = ak.Evaluator([ak.Rule(name=f"E{i}", condition=ak.Threshold(x, "!=", NaN))
                           for i, (_, x) in enumerate(exprs)], mode="tick")
        state = ev.new_state()
        got: list[float | None] = [None] * len(want)
        for k, t in enumerate(times):
            if k < len(values) and values[k] is not None:
                ev.observe(state, "x", values[k], t)
            ev.tick(state, t)
            by_rule = {a.rule: a.value for a in ev.alerts(state)}
            for i in range(len(exprs)):
                got[i * len(times) + k] = by_rule.get(f"E{i}")
        for g, w, (i, t) in zip(got, want, [(i, t) for i in range(len(exprs)) for t in times],
                                strict=True):
            ok = same(g, w, 0.0 if w is None or not math.isfinite(w) else 1e-9 * max(1, abs(w)))
            assert ok, (exprs[i][0], t, g, w, values)


# -- rules, events, composition ------------------------------------------------------------------

def test_disk_will_fill_within_four_hours() -> None:
    # 30 GB free, falling 1 GB every 10 minutes: 6 GB/h, so 24 GB in 4 h. The rule fires
    # once less than 24 GB is left: at 23 GB free (t = 4200 s), predicting -1 GB.
    rule = ak.Rule(name="DiskWillFill",
                   condition=ak.Threshold(ak.PredictLinear("disk_free", "1h", "4h"), "<", 0))
    ev = ak.Evaluator([rule], mode="tick")
    samples = series("disk_free", [30e9 - 1e9 * i for i in range(20)], step=600, mount="/")
    events = replay(ev, samples, ticks(11400, 600))
    assert timeline(events) == [(4200.0, "firing", "mount=/")]
    assert events[0].alert.value == pytest.approx(-1e9)


def test_deriv_composes_and_reads_labels() -> None:
    rising = ak.Threshold(ak.Deriv(ak.Selector("queue", {"q": "jobs"}), "5m"), ">", 0.1)
    rule = ak.Rule(name="QueueGrowing", condition=rising & ak.Threshold("queue", ">", 100))
    ev = ak.Evaluator([rule])
    state = ev.new_state()
    events = []
    for i in range(6):
        events += ev.observe(state, "queue", 90.0 + 12 * i, 60.0 * i, {"q": "jobs"})
        events += ev.observe(state, "queue", 500.0, 60.0 * i, {"q": "other"})
    # t=0: one sample, no slope yet; t=60: 102 > 100 and slope 12/60 = 0.2 > 0.1.
    # q=other is above 100 but flat, and not selected by the deriv part anyway.
    assert timeline(events) == [(60.0, "firing", "q=jobs")]


# -- the expression language and bad parameters --------------------------------------------------

def test_canonical_text_and_function_table() -> None:
    sel = ak.Selector("disk_free", {"mount": "/"})
    assert str(ak.Deriv("x", 600)) == "deriv(x[10m])"
    assert str(ak.PredictLinear(sel, "1h", 14400)) == 'predict_linear(disk_free{mount="/"}[1h], 4h)'
    assert str(ak.Threshold(ak.PredictLinear("d", "1h", "4h"), "<", 0)) == (
        "predict_linear(d[1h], 4h) < 0.0")
    assert str(ak.PredictLinear("x", "5m", 0)) == "predict_linear(x[5m], 0s)"
    assert FUNCTIONS["deriv"].build(RangeArg(sel, 600.0)) == ak.Deriv(sel, "10m")
    assert FUNCTIONS["predict_linear"].build(RangeArg(sel, 3600.0), 90.0) == ak.PredictLinear(
        sel, "1h", "90s")
    assert [p.kind for p in FUNCTIONS["predict_linear"].params] == ["range", "duration"]


def test_text_round_trips_through_the_parser() -> None:
    parse = getattr(ak, "parse_condition", None)
    if parse is None:
        pytest.skip("alertkit.parse_condition does not exist yet")
    for c in [ak.Threshold(ak.Deriv("x", "10m"), ">", 0.5),
              ak.Threshold(ak.PredictLinear(ak.Selector("d", {"m": "/"}), "1h", "4h"), "<", 0)]:
        assert parse(str(c)) == c


@pytest.mark.parametrize(("build", "error", "message"), [
    (lambda: ak.Deriv("x", 0), ak.DurationError, "deriv range: 0 must be greater than zero"),
    (lambda: ak.Deriv("x", "5x"), ak.DurationError, "deriv range: '5x' is not a duration"),
    (lambda: ak.Deriv("x", None), ak.DurationError, "deriv range: None is not a duration"),
    (lambda: ak.Deriv(3, "5m"), ak.RuleError, "expected a metric name or Selector, got 3"),
    (lambda: ak.Deriv("9x", "5m"), ak.LabelError, "metric name '9x' is not valid"),
    (lambda: ak.PredictLinear("x", "-1h", "1h"), ak.DurationError,
     "predict_linear range: '-1h' is not a duration"),
    (lambda: ak.PredictLinear("x", "1h", -60), ak.DurationError,
     r"predict_linear horizon: -60 is not a duration \(must be finite and >= 0\)"),
    (lambda: ak.PredictLinear("x", "1h", math.inf), ak.DurationError, "predict_linear horizon"),
])
def test_bad_parameters(build: Callable[[], object], error: type[Exception], message: str) -> None:
    with pytest.raises(error, match=message):
        build()
