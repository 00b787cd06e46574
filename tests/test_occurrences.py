"""count_matching, percent_matching, flatline and cardinality: examples computed by hand, the
naive references on random timelines, snapshots and bad parameters."""

from __future__ import annotations

import math
from collections.abc import Callable

import pytest
from hypothesis import given
from hypothesis import strategies as st

import alertkit as ak
from alertkit._core.functions import FUNCTIONS, RangeArg
from helpers import replay, series, ticks, timeline
from kind_strategies_trends import STRATEGIES
from kinds_reference import (
    Key,
    Op,
    Samples,
    check_snapshot_restore,
    naive_cardinality,
    naive_count_matching,
    naive_flatline,
    naive_percent_matching,
    probe,
    run_against_reference,
    same,
    timelines,
)

NaN = math.nan
A: Key = (("host", "a"),)
B: Key = (("host", "b"),)
OPS = [">", ">=", "<", "<=", "==", "!="]


def value_at(expr: ak.ValueExpr, samples: Samples, now: float) -> float | None:
    ev = ak.Evaluator([probe(expr)], mode="tick")
    state = ev.new_state()
    for t, v in samples:
        ev.observe(state, "x", v, t)
    ev.tick(state, now)
    alerts = ev.alerts(state)
    return alerts[0].value if alerts else None


def tick_ev(condition: ak.Condition, **kw: object) -> ak.Evaluator:
    return ak.Evaluator([ak.Rule(name="R", condition=condition, **kw)], mode="tick")  # type: ignore[arg-type]


# -- count_matching / percent_matching -----------------------------------------------------------

LATENCY = [(0.0, 50.0), (30.0, 120.0), (60.0, 130.0), (90.0, 90.0), (120.0, 150.0),
           (150.0, 200.0)]


def test_count_matching_counts_the_closed_window() -> None:
    # [90, 150] holds 90 150 200: two above 100.
    assert value_at(ak.CountMatching("x", "1m", ">", 100), LATENCY, 150) == 2.0
    assert value_at(ak.CountMatching("x", "2m", ">", 100), LATENCY, 150) == 4.0  # [30, 150]
    assert value_at(ak.CountMatching("x", "2m", "<=", 90), LATENCY, 150) == 1.0
    assert value_at(ak.CountMatching("x", "1m", ">", 1000), LATENCY, 150) == 0.0  # samples, none
    assert value_at(ak.CountMatching("x", "1m", ">", 100), LATENCY, 211) is None  # no sample


def test_percent_matching_is_the_share_of_matching_samples() -> None:
    assert value_at(ak.PercentMatching("x", "1m", ">", 100), LATENCY, 150) == pytest.approx(
        200 / 3)
    assert value_at(ak.PercentMatching("x", "10m", ">", 100), LATENCY, 150) == pytest.approx(
        400 / 6)
    assert value_at(ak.PercentMatching("x", "10m", "<", 0), LATENCY, 150) == 0.0
    assert value_at(ak.PercentMatching("x", "1m", ">", 100), LATENCY, 211) is None


def test_nan_samples_match_only_not_equal() -> None:
    samples = [(0.0, NaN), (10.0, 5.0), (20.0, NaN)]
    for op in OPS:
        expected = {"!=": 2.0, "==": 1.0, ">=": 1.0, "<=": 1.0}.get(op, 0.0)
        assert value_at(ak.CountMatching("x", "1m", op, 5), samples, 20) == expected, op  # type: ignore[arg-type]
    assert value_at(ak.PercentMatching("x", "1m", "!=", 5), samples, 20) == pytest.approx(
        200 / 3)


def test_frequency_rule() -> None:
    # At least 3 requests slower than 1 s within 5 minutes, per endpoint.
    rule = ak.Rule(name="SlowRequests", condition=ak.Threshold(
        ak.CountMatching("latency_s", "5m", ">", 1.0), ">=", 3))
    ev = ak.Evaluator([rule])
    slow = series("latency_s", [0.2, 1.5, 0.3, 2.0, 0.1, 3.0, 0.1, 0.1, 0.2, 0.2],
                  step=60, path="/search")
    events = replay(ev, slow, ticks(900))
    # Slow at 60, 180 and 300: three in [0, 300] and in [60, 360]; [120, 420] holds two.
    assert timeline(events) == [(300.0, "firing", "path=/search"),
                                (420.0, "resolved", "path=/search")]
    assert events[0].alert.value == 3.0


# -- flatline --------------------------------------------------------------------------------------

def test_flatline_holds_once_the_window_is_empty_and_keeps_holding() -> None:
    ev = tick_ev(ak.Flatline("heartbeat", "5m"))
    beats = series("heartbeat", [1] * 11, step=60, job="etl")  # 0..600, then silence
    events = replay(ev, beats, ticks(4000))
    # [600, 900] still holds the sample at 600 (closed window); [660, 960] is empty.
    assert timeline(events) == [(960.0, "firing", "job=etl")]
    assert events[0].alert.value == 0.0
    # The series itself has been forgotten by then, its alert has not.
    state = ev.new_state()
    replay(ev, beats, ticks(3600), state)
    assert state.series_count() == 0
    assert [a.state.value for a in ev.alerts(state)] == ["firing"]
    # It resolves when the series reports again.
    events = replay(ev, [("heartbeat", {"job": "etl"}, 3700.0, 1.0)], [3700.0], state)
    assert timeline(events) == [(3700.0, "resolved", "job=etl")]


def test_count_over_time_by_contrast_has_no_output_on_an_empty_window() -> None:
    ev = tick_ev(ak.Threshold(ak.count_over_time("heartbeat", "5m"), "<", 1))
    assert replay(ev, series("heartbeat", [1] * 11, step=60), ticks(3600)) == []


def test_flatline_with_min_count_and_warm_up() -> None:
    # Samples every 2 minutes until 960, then every 4 minutes. flatline(x[5m], min_count=3):
    # a closed 5m window holds 3 samples at 2m spacing, 2 at 4m spacing.
    times = list(range(0, 961, 120)) + list(range(1200, 2401, 240))
    samples = [("orders", {}, float(t), 1.0) for t in times]
    ev = tick_ev(ak.Flatline("orders", "5m", 3))
    events = replay(ev, samples, ticks(2400))
    # Not before 300 (warm-up: at 60 the window holds 1 sample, but the series is new).
    # At 1080: [780, 1080] = 840 960: 2 < 3. (At 960: [660, 960] = 720 840 960.)
    assert timeline(events) == [(1080.0, "firing", "")]
    assert events[0].alert.value == 2.0


def test_flatline_ignores_series_never_seen_and_handles_without_samples() -> None:
    ev = tick_ev(ak.Flatline("heartbeat", "1m"))
    state = ev.new_state()
    ev.handle(state, "heartbeat", {"job": "never"})
    assert ev.tick(state, 0) == [] and ev.tick(state, 3600) == []


def test_flatline_in_sample_mode_needs_ticks() -> None:
    rule = ak.Rule(name="R", condition=ak.Flatline("heartbeat", "1m"))
    ev = ak.Evaluator([rule])  # sample mode
    state = ev.new_state()
    ev.observe(state, "heartbeat", 1, 0)
    assert not ev.observe(state, "heartbeat", 1, 600)  # a sample is never a flatline
    assert timeline(ev.tick(state, 661)) == [(661.0, "firing", "")]


# -- cardinality -----------------------------------------------------------------------------------

def test_cardinality_counts_distinct_label_values_in_the_window() -> None:
    logins = [("logins", {"user": u, "host": h}, t, 1.0) for u, h, t in [
        ("ann", "web1", 0.0), ("bob", "web1", 10.0), ("ann", "web2", 20.0),
        ("cat", "web2", 30.0), ("dan", "web1", 100.0)]]
    logins.append(("logins", {"host": "web3"}, 30.0, 1.0))  # no user label: not counted
    ev = tick_ev(ak.Cardinality("logins", "1m", "user", ">=", 3))
    state = ev.new_state()
    events = replay(ev, logins, [30.0, 60.0, 80.0, 100.0, 200.0], state)
    # 30: ann bob cat (3); 60: [0, 60] the same; 80: [20, 80] ann cat (2);
    # 100: [40, 100] dan (1).
    assert timeline(events) == [(30.0, "firing", ""), (80.0, "resolved", "")]
    assert events[0].alert.value == 3.0


def test_cardinality_below_and_with_matchers() -> None:
    # Fewer than 2 instances of job="api" reporting in the last 5 minutes; the alert is
    # labelled with the selector's equality matchers.
    cond = ak.Cardinality(ak.Selector("up", {"job": "api"}), "5m", "instance", "<", 2)
    ev = tick_ev(cond)
    samples = series("up", [1] * 3, step=60, job="api", instance="a")
    samples += series("up", [1] * 10, step=60, job="api", instance="b")
    samples += series("up", [1] * 10, step=60, job="db", instance="c")
    events = replay(ev, samples, ticks(900))
    # instance a reports until 120: [T - 300, T] loses it at 421 (tick 480).
    # instance b until 540: both gone at 841 (value 0 < 2 still holds: no new event).
    assert timeline(events) == [(480.0, "firing", "job=api")]
    assert events[0].alert.value == 1.0
    (alert,) = ev.alerts(ev.restore(ev.snapshot(replay_state(ev, samples, ticks(900)))))
    assert alert.value == 0.0


def replay_state(ev: ak.Evaluator, samples: list, times: list[float]) -> ak.State:  # type: ignore[type-arg]
    state = ev.new_state()
    replay(ev, samples, times, state)
    return state


def test_cardinality_as_a_guard_in_a_composite() -> None:
    # Per-host CPU alerts, only while at least 2 hosts report (not during a rollout).
    cond = ak.Threshold("cpu", ">", 90) & ak.Cardinality("cpu", "1m", "host", ">=", 2)
    ev = tick_ev(cond)
    samples = [("cpu", {"host": "a"}, 0.0, 95.0), ("cpu", {"host": "a"}, 60.0, 95.0),
               ("cpu", {"host": "b"}, 60.0, 10.0)]
    assert timeline(replay(ev, samples, [0.0, 60.0])) == [(60.0, "firing", "host=a")]


# -- the references, on random timelines ----------------------------------------------------------

def _exact(key: Key, now: float, got: float | None, expected: float | None,
           by_key: dict[Key, Samples]) -> None:
    assert same(got, expected), (key, now, got, expected)


@given(st.sampled_from([10.0, 60.0, 300.0]), st.sampled_from(OPS),
       st.sampled_from([0.0, 1.0, 100.0, NaN]), st.booleans(),
       st.sampled_from(["tick", "sample"]), timelines([A, B]))
def test_matching_equals_the_naive_reference(range_s: float, op: str, threshold: float,
                                             percent: bool, mode: str, ops: list[Op]) -> None:
    if percent:
        expr: ak.ValueExpr = ak.PercentMatching("x", range_s, op, threshold)  # type: ignore[arg-type]
        naive = naive_percent_matching
    else:
        expr = ak.CountMatching("x", range_s, op, threshold)  # type: ignore[arg-type]
        naive = naive_count_matching
    run_against_reference(
        expr, ops, lambda by_key, key, now: naive(by_key.get(key, []), now, range_s, op, threshold),
        _exact, mode=mode)


@given(st.sampled_from([10.0, 60.0, 300.0]), st.integers(1, 4),
       st.sampled_from(["tick", "sample"]), timelines([A, B]))
def test_flatline_equals_the_naive_reference(range_s: float, min_count: int, mode: str,
                                             ops: list[Op]) -> None:
    run_against_reference(
        ak.Flatline("x", range_s, min_count), ops,
        lambda by_key, key, now: naive_flatline(by_key.get(key, []), now, range_s, min_count),
        _exact, mode=mode)


USERS: list[Key] = [(("user", "u1"),), (("user", "u2"),), (("host", "a"),),
                    (("host", "b"), ("user", "u1")), (("host", "c"), ("user", "u3"))]


@given(st.sampled_from([10.0, 60.0, 300.0]), st.sampled_from([">", ">=", "<", "=="]),
       st.integers(0, 3), st.sampled_from(["tick", "sample"]), timelines(USERS))
def test_cardinality_equals_the_naive_reference(range_s: float, op: str, threshold: int,
                                                mode: str, ops: list[Op]) -> None:
    run_against_reference(
        ak.Cardinality("x", range_s, "user", op, threshold), ops,  # type: ignore[arg-type]
        lambda by_key, key, now: naive_cardinality(by_key, now, range_s, "user", op, threshold),
        _exact, mode=mode, global_output=())


@given(st.sampled_from([
    ak.Threshold(ak.CountMatching("x", 60, ">", 1), ">=", 2),
    ak.Threshold(ak.PercentMatching("x", 30, "<=", 100), ">", 50),
    ak.Flatline("x", 60, 2),
    ak.Cardinality("x", 60, "user", ">=", 2),
]), st.sampled_from(["tick", "sample"]), timelines(USERS), st.data())
def test_snapshot_restore_mid_stream_gives_the_same_events(
        condition: ak.Condition, mode: str, ops: list[Op], data: st.DataObject) -> None:
    rule = ak.Rule(name="Occ", condition=condition, for_=15, keep_firing_for=20)
    check_snapshot_restore(rule, ops, data.draw(st.integers(0, len(ops))), mode=mode)


# -- the expression language and bad parameters --------------------------------------------------

def test_canonical_text_and_function_table() -> None:
    sel = ak.Selector("latency", {"path": "/"})
    assert str(ak.Threshold(ak.CountMatching(sel, "5m", ">", 100), ">=", 5)) == (
        'count_matching(latency{path="/"}[5m], ">", 100.0) >= 5.0')
    assert str(ak.PercentMatching("status", 600, ">=", 500)) == (
        'percent_matching(status[10m], ">=", 500.0)')
    assert str(ak.Flatline("heartbeat", "10m")) == "flatline(heartbeat[10m])"
    assert str(ak.Flatline("heartbeat", "10m", 3)) == "flatline(heartbeat[10m], min_count=3)"
    assert str(ak.Cardinality("logins", "1h", "user", ">", 100)) == (
        'cardinality(logins[1h], "user", ">", 100.0)')
    assert str(ak.Flatline("a", "1m") & ~ak.Cardinality("b", "1m", "x", "<", 1)) == (
        '(flatline(a[1m])) and (not (cardinality(b[1m], "x", "<", 1.0)))')
    r = RangeArg(sel, 300.0)
    assert FUNCTIONS["count_matching"].build(r, ">", 100.0) == ak.CountMatching(sel, 300, ">", 100)
    assert FUNCTIONS["percent_matching"].build(r, "<", 1.0) == ak.PercentMatching(sel, 300, "<", 1)
    assert FUNCTIONS["flatline"].build(r) == ak.Flatline(sel, 300)
    assert FUNCTIONS["flatline"].build(r, 3) == ak.Flatline(sel, 300, 3)
    assert FUNCTIONS["cardinality"].build(r, "user", "<", 2.0) == ak.Cardinality(
        sel, 300, "user", "<", 2)
    assert FUNCTIONS["flatline"].returns == FUNCTIONS["cardinality"].returns == "condition"
    assert FUNCTIONS["count_matching"].returns == "value"
    # Different kinds with the same arguments are different values.
    assert ak.CountMatching("x", 60, ">", 1) != ak.PercentMatching("x", 60, ">", 1)


def test_text_round_trips_through_the_parser() -> None:
    parse = getattr(ak, "parse_condition", None)
    if parse is None:
        pytest.skip("alertkit.parse_condition does not exist yet")
    for c in [ak.Threshold(ak.CountMatching("x", "5m", ">", 100), ">=", 5),
              ak.Threshold(ak.PercentMatching("x", "5m", "!=", 0), ">", 5),
              ak.Flatline(ak.Selector("hb", {"job": "etl"}), "10m", 3),
              ak.Cardinality("logins", "1h", "user", ">", 100)]:
        assert parse(str(c)) == c


@pytest.mark.parametrize(("build", "error", "message"), [
    (lambda: ak.CountMatching("x", "5m", "=>", 1), ak.RuleError,
     "count_matching: operator '=>' is not one of > >= < <= == !="),
    (lambda: ak.CountMatching("x", "5m", ">", "100"), ak.RuleError,
     "count_matching: threshold '100' is not a number"),
    (lambda: ak.CountMatching("x", "5m", ">", True), ak.RuleError,
     "count_matching: threshold True is not a number"),
    (lambda: ak.CountMatching("x", "0s", ">", 1), ak.DurationError,
     "count_matching range: '0s' must be greater than zero"),
    (lambda: ak.PercentMatching("x", "5m", "<>", 1), ak.RuleError,
     "percent_matching: operator '<>' is not one of"),
    (lambda: ak.PercentMatching("x", "5m", ">", None), ak.RuleError,
     "percent_matching: threshold None is not a number"),
    (lambda: ak.PercentMatching("x", "5q", ">", 1), ak.DurationError,
     "percent_matching range: '5q' is not a duration"),
    (lambda: ak.Flatline("x", "10m", 0), ak.RuleError,
     "flatline: min_count=0 must be a positive integer"),
    (lambda: ak.Flatline("x", "10m", 1.5), ak.RuleError, "flatline: min_count=1.5"),
    (lambda: ak.Flatline("x", -1), ak.DurationError, "flatline range: -1 is not a duration"),
    (lambda: ak.Cardinality("x", "5m", "user-name", ">", 1), ak.RuleError,
     r"cardinality: label 'user-name' is not a valid label name \(expected"),
    (lambda: ak.Cardinality("x", "5m", 3, ">", 1), ak.RuleError, "cardinality: label 3"),
    (lambda: ak.Cardinality("x", "5m", "user", "gt", 1), ak.RuleError,
     "cardinality: operator 'gt' is not one of"),
    (lambda: ak.Cardinality("x", "5m", "user", ">", "many"), ak.RuleError,
     "cardinality: threshold 'many' is not a number"),
    (lambda: ak.Cardinality("x", "", "user", ">", 1), ak.DurationError,
     "cardinality range: '' is not a duration"),
    (lambda: ak.Cardinality({"x": 1}, "1m", "user", ">", 1), ak.RuleError,
     "expected a metric name or Selector"),
])
def test_bad_parameters(build: Callable[[], object], error: type[Exception], message: str) -> None:
    with pytest.raises(error, match=message):
        build()


@given(st.one_of(*STRATEGIES))
def test_strategies_build_conditions_whose_text_is_canonical(condition: ak.Condition) -> None:
    # Rendering is deterministic and equal conditions render alike (what the parser needs).
    text = str(condition)
    assert isinstance(condition, ak.Condition) and text == str(condition)
    parse = getattr(ak, "parse_condition", None)
    if parse is not None:
        assert parse(text) == condition


@pytest.mark.parametrize("condition", [
    ak.Threshold(ak.CountMatching("x", "1m", ">", 50), ">", 1e9),
    ak.Threshold(ak.PercentMatching("x", "1m", ">", 50), ">", 1e9),
    ak.Flatline("x", "1m", 5),
    ak.Threshold(ak.Deriv("x", "1m"), ">", 1e9),
    ak.Threshold(ak.PredictLinear("x", "1m", "1h"), ">", 1e18),
])
def test_memory_stays_bounded_between_rare_ticks(condition: ak.Condition) -> None:
    ev = ak.Evaluator([ak.Rule(name="R", condition=condition)], mode="tick")
    state = ev.new_state()
    h = ev.handle(state, "x")
    for i in range(5000):
        h.observe(float(i % 100), float(i))
    h.observe(1.0, 10_000.0)  # after a long gap, the whole window goes at once
    for i in range(10_001, 10_500):
        h.observe(1.0, float(i))
    (track,) = state.rules["R"].tracks.values()
    assert len(track.aux[0].ts) <= 76  # 1 s samples: the 1m window, lagging by 15 s at most
    assert ev.tick(state, 10_500.0) == []
