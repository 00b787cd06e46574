"""Example-based tests of every point of the evaluation semantics (Prometheus 2.42 cases)."""

from __future__ import annotations

import math

import pytest

import alertkit as ak
from helpers import replay, series, ticks, timeline

NaN = math.nan


def tick_ev(*rules: ak.Rule, **kw: object) -> ak.Evaluator:
    return ak.Evaluator(rules, mode="tick", **kw)  # type: ignore[arg-type]


def kinds(events: list[ak.AlertEvent]) -> list[tuple[float, str]]:
    return [(e.at, e.kind.value) for e in events]


# -- pending / firing / for ------------------------------------------------------------------

def test_for_5m_with_1m_evals_fires_at_360() -> None:
    ev = tick_ev(ak.Rule(name="A", condition=ak.Threshold("cpu", ">", 80), for_="5m"))
    events = replay(ev, series("cpu", [0] + [90] * 10), ticks(600))
    assert kinds(events) == [(60, "pending"), (360, "firing")]
    firing = events[1].alert
    assert firing.active_at == 60 and firing.fired_at == 360
    assert firing.state is ak.AlertState.FIRING


def test_for_zero_fires_at_once_without_pending() -> None:
    ev = tick_ev(ak.Rule(name="A", condition=ak.Threshold("cpu", ">", 80)))
    assert kinds(replay(ev, series("cpu", [0, 90]), ticks(60))) == [(60, "firing")]


def test_for_is_checked_only_at_evaluations() -> None:
    # for: 90s with 1m evals fires at active_at + 120s, as for: 120s does.
    for hold in ("90s", "120s"):
        ev = tick_ev(ak.Rule(name="A", condition=ak.Threshold("cpu", ">", 80), for_=hold))
        assert kinds(replay(ev, series("cpu", [90] * 5), ticks(240))) == [
            (0, "pending"), (120, "firing")]


def test_false_while_pending_cancels_and_restarts_the_for_clock() -> None:
    ev = tick_ev(ak.Rule(name="A", condition=ak.Threshold("cpu", ">", 80), for_="2m"))
    events = replay(ev, series("cpu", [90, 90, 50, 90, 90, 90]), ticks(300))
    assert kinds(events) == [(0, "pending"), (120, "cancelled"), (180, "pending"),
                             (300, "firing")]
    assert events[-1].alert.active_at == 180


def test_flapping_firing_alert_resolves_and_restarts() -> None:
    ev = tick_ev(ak.Rule(name="A", condition=ak.Threshold("cpu", ">", 80), for_="1m"))
    events = replay(ev, series("cpu", [90, 90, 50, 90, 90]), ticks(240))
    assert kinds(events) == [(0, "pending"), (60, "firing"), (120, "resolved"),
                             (180, "pending"), (240, "firing")]
    assert events[2].alert.resolved_at == 120 and events[3].alert.active_at == 180


# -- keep_firing_for ---------------------------------------------------------------------------

def test_keep_firing_for_strict_bound_and_frozen_value() -> None:
    rule = ak.Rule(name="A", condition=ak.Threshold("cpu", ">", 80), for_="5m",
                   keep_firing_for="3m", annotations={"v": "{{ value }}"})
    ev = tick_ev(rule)
    state = ev.new_state()
    values = [0] + [92] * 6 + [10] * 6  # true 60..360, false from 420
    events = replay(ev, series("cpu", values), ticks(720), state)
    assert kinds(events) == [(60, "pending"), (360, "firing"), (600, "resolved")]
    assert events[-1].alert.annotations == {"v": "92"}


def test_keep_firing_for_values_frozen_while_kept() -> None:
    rule = ak.Rule(name="A", condition=ak.Threshold("cpu", ">", 80), keep_firing_for="3m",
                   annotations={"v": "{{ value }}"})
    ev = tick_ev(rule)
    state = ev.new_state()
    replay(ev, series("cpu", [92, 10, 10]), ticks(120), state)
    (alert,) = ev.alerts(state)
    assert alert.state is ak.AlertState.FIRING and alert.value == 92
    assert alert.annotations == {"v": "92"}


def test_condition_returning_while_kept_is_the_same_alert() -> None:
    ev = tick_ev(ak.Rule(name="A", condition=ak.Threshold("cpu", ">", 80),
                         keep_firing_for="3m"))
    state = ev.new_state()
    events = replay(ev, series("cpu", [90, 50, 50, 90, 50, 50, 50, 50]), ticks(420), state)
    assert kinds(events) == [(0, "firing"), (420, "resolved")]  # false since 240
    assert events[-1].alert.active_at == 0


def test_keep_firing_for_does_not_apply_to_pending() -> None:
    ev = tick_ev(ak.Rule(name="A", condition=ak.Threshold("cpu", ">", 80), for_="5m",
                         keep_firing_for="10m"))
    assert kinds(replay(ev, series("cpu", [90, 50]), ticks(60))) == [
        (0, "pending"), (60, "cancelled")]


# -- hysteresis ---------------------------------------------------------------------------------

def test_recovery_condition_gives_hysteresis() -> None:
    rule = ak.Rule(name="A", condition=ak.Threshold("cpu", ">", 90),
                   recovery=ak.Threshold("cpu", "<", 80))
    ev = tick_ev(rule)
    events = replay(ev, series("cpu", [95, 85, 85, 79, 85, 95]), ticks(300))
    assert kinds(events) == [(0, "firing"), (180, "resolved"), (300, "firing")]


def test_recovery_with_keep_firing_for() -> None:
    rule = ak.Rule(name="A", condition=ak.Threshold("cpu", ">", 90),
                   recovery=ak.Threshold("cpu", "<", 80), keep_firing_for="2m")
    ev = tick_ev(rule)
    events = replay(ev, series("cpu", [95, 70, 85, 70, 70, 70]), ticks(300))
    # 60: recovered (keep starts), 120: back in the band (keep cleared), 180: keep again
    assert kinds(events) == [(0, "firing"), (300, "resolved")]


# -- staleness ----------------------------------------------------------------------------------

def test_series_that_stops_keeps_matching_for_stale_after_inclusive() -> None:
    ev = tick_ev(ak.Rule(name="A", condition=ak.Threshold("cpu", ">", 80)))
    state = ev.new_state()
    events = replay(ev, series("cpu", [90, 90, 90]), ticks(600), state)
    assert kinds(events) == [(0, "firing"), (480, "resolved")]
    assert events[-1].alert.value == 90


def test_gaps_shorter_than_stale_after_are_invisible() -> None:
    ev = tick_ev(ak.Rule(name="A", condition=ak.Threshold("cpu", ">", 80)))
    events = replay(ev, series("cpu", [90, 90, 90, 90], step=240), ticks(720))
    assert kinds(events) == [(0, "firing")]


def test_stale_after_per_rule() -> None:
    ev = tick_ev(ak.Rule(name="A", condition=ak.Threshold("cpu", ">", 80), stale_after="1m"))
    events = replay(ev, series("cpu", [90]), ticks(180))
    assert kinds(events) == [(0, "firing"), (120, "resolved")]


# -- NaN and operators --------------------------------------------------------------------------

@pytest.mark.parametrize(("op", "fires"), [(">", False), (">=", False), ("<", False),
                                           ("<=", False), ("==", False), ("!=", True)])
def test_nan_compares_false_except_not_equal(op: ak.Threshold, fires: bool) -> None:
    ev = tick_ev(ak.Rule(name="A", condition=ak.Threshold("leader", op, 1)))  # type: ignore[arg-type]
    events = replay(ev, series("leader", [NaN]), [0])
    assert bool(events) is fires
    if fires:
        assert math.isnan(events[0].alert.value)


@pytest.mark.parametrize(("op", "value", "fires"), [
    (">", 80, False), (">", 80.5, True), (">=", 80, True), ("<", 80, False), ("<=", 80, True),
    ("==", 80, True), ("!=", 80, False), ("!=", 81, True), (">", math.inf, True),
    ("<", -math.inf, True)])
def test_operators(op: str, value: float, fires: bool) -> None:
    ev = tick_ev(ak.Rule(name="A", condition=ak.Threshold("x", op, 80)))  # type: ignore[arg-type]
    assert bool(replay(ev, series("x", [value]), [0])) is fires


# -- windows ------------------------------------------------------------------------------------

def test_windows_are_closed_intervals() -> None:
    # count_over_time over 1m samples in a 5m window is 6, not 5
    ev = tick_ev(ak.Rule(name="A", condition=ak.Threshold(ak.count_over_time("x", "5m"),
                                                          ">=", 6)))
    events = replay(ev, series("x", [1] * 10), ticks(300))
    assert kinds(events) == [(300, "firing")]
    assert events[0].alert.value == 6


def test_avg_over_time_at_300_averages_six_samples() -> None:
    ev = tick_ev(ak.Rule(name="A", condition=ak.Threshold(ak.avg_over_time("x", "5m"), ">", 0)))
    state = ev.new_state()
    replay(ev, series("x", [0, 1, 2, 3, 4, 5, 6]), [300], state)
    assert ev.alerts(state)[0].value == 2.5  # (0+1+2+3+4+5)/6


def test_single_spike_in_max_window_holds_for_window_over_step_plus_one_evals() -> None:
    ev = tick_ev(ak.Rule(name="A", condition=ak.Threshold(ak.max_over_time("x", "3m"), ">", 50)))
    events = replay(ev, series("x", [0, 0, 99] + [0] * 8), ticks(600))
    assert kinds(events) == [(120, "firing"), (360, "resolved")]  # true at 120,180,240,300


@pytest.mark.parametrize(("agg", "expected"), [
    (ak.Agg.AVG, 3.0), (ak.Agg.MIN, 1.0), (ak.Agg.MAX, 6.0), (ak.Agg.SUM, 18.0),
    (ak.Agg.COUNT, 6.0), (ak.Agg.LAST, 4.0), (ak.Agg.DELTA, 3.0)])
def test_window_aggregates(agg: ak.Agg, expected: float) -> None:
    ev = tick_ev(ak.Rule(name="A", condition=ak.Threshold(ak.Window(agg, "x", "5m"), ">", -1e9)))
    state = ev.new_state()
    replay(ev, series("x", [100, 1, 2, 6, 3, 2, 4]), [360], state)  # window [60, 360]
    assert ev.alerts(state)[0].value == pytest.approx(expected)


def test_quantile_over_time_interpolates() -> None:
    w = ak.quantile_over_time(0.5, "x", "5m")
    ev = tick_ev(ak.Rule(name="A", condition=ak.Threshold(w, ">", -1)))
    state = ev.new_state()
    replay(ev, series("x", [1, 2, 3, 4]), [180], state)
    assert ev.alerts(state)[0].value == 2.5
    assert str(w) == "quantile_over_time(0.5, x[5m])"


def test_min_max_ignore_nan_unless_all_nan() -> None:
    ev = tick_ev(ak.Rule(name="A", condition=ak.Threshold(ak.max_over_time("x", "5m"), "!=", 0)))
    state = ev.new_state()
    replay(ev, series("x", [NaN, 5, NaN]), [120], state)
    assert ev.alerts(state)[0].value == 5
    state = ev.new_state()
    replay(ev, series("x", [NaN, NaN]), [60], state)
    assert math.isnan(ev.alerts(state)[0].value)


def test_avg_with_infinities_and_nan() -> None:
    def avg(values: list[float]) -> float:
        ev = tick_ev(ak.Rule(name="A", condition=ak.Threshold(ak.avg_over_time("x", "1h"),
                                                              "!=", 0)))
        state = ev.new_state()
        replay(ev, series("x", values), [60.0 * (len(values) - 1)], state)
        return ev.alerts(state)[0].value

    assert avg([1, math.inf]) == math.inf
    assert avg([1, -math.inf]) == -math.inf
    assert math.isnan(avg([math.inf, -math.inf]))
    assert math.isnan(avg([1, NaN]))


def test_rate_and_increase_compensate_counter_resets() -> None:
    # 1m samples aligned with 1m evals: the closed 5m window has samples on both edges,
    # so there is no extrapolation and rate = increase / 300.
    values = [0, 30, 60, 90, 120, 150, 180, 10, 40, 70]
    got = {}
    for agg in (ak.Agg.RATE, ak.Agg.INCREASE):
        ev = tick_ev(ak.Rule(name="A", condition=ak.Threshold(ak.Window(agg, "c", "5m"),
                                                              ">", -1)))
        state = ev.new_state()
        replay(ev, series("c", values), ticks(540), state)
        got[agg] = ev.alerts(state)[0].value
    # window [240, 540]: 120, 150, 180, 10, 40, 70 -> 70 - 120 + 180 (pre-reset value) = 130
    assert got[ak.Agg.INCREASE] == pytest.approx(130)
    assert got[ak.Agg.RATE] == pytest.approx(130 / 300)


def test_rate_needs_two_samples() -> None:
    ev = tick_ev(ak.Rule(name="A", condition=ak.Threshold(ak.increase("c", "5m"), ">=", 0)))
    assert replay(ev, series("c", [5]), [0, 60]) == []


def test_rate_extrapolates_like_prometheus() -> None:
    # Samples at 15s spacing starting 10s into a 60s window: extrapolate to both edges
    # (10s < 1.1 * 15s), then never below counter zero.
    ev = tick_ev(ak.Rule(name="A", condition=ak.Threshold(ak.increase("c", "1m"), ">", -1)))
    state = ev.new_state()
    for t, v in [(10, 10), (25, 20), (40, 30), (55, 40)]:
        ev.observe(state, "c", v, t)
    ev.tick(state, 60)
    # increase 30 over 45s sampled; to start: min(10, zero point 45*10/30=15) = 10; to end: 5
    assert ev.alerts(state)[0].value == pytest.approx(30 * (45 + 10 + 5) / 45)


# -- absence ----------------------------------------------------------------------------------

def test_absent_fires_six_minutes_after_last_sample() -> None:
    rule = ak.Rule(name="Down", condition=ak.Absent(ak.Selector("up", {"job": "api"})),
                   for_="2m")
    ev = tick_ev(rule)
    events = replay(ev, series("up", [1, 1, 1], job="api", instance="x"), ticks(720))
    assert kinds(events) == [(480, "pending"), (600, "firing")]
    assert dict(events[0].alert.labels) == {"alertname": "Down", "job": "api",
                                            "severity": "medium"}


def test_absent_resolves_when_data_returns() -> None:
    ev = tick_ev(ak.Rule(name="Down", condition=ak.Absent("up")))
    events = replay(ev, series("up", [1, None, None, None, None, None, None, None, 1]),
                    ticks(480))
    assert kinds(events) == [(360, "firing"), (480, "resolved")]


def test_absent_over_time_window() -> None:
    ev = tick_ev(ak.Rule(name="Down", condition=ak.Absent("hb", window="10m")))
    events = replay(ev, series("hb", [1]), ticks(720))
    assert kinds(events) == [(660, "firing")]


def test_absent_with_no_series_at_all() -> None:
    ev = tick_ev(ak.Rule(name="Down", condition=ak.Absent("hb")))
    assert kinds(replay(ev, [], [0])) == [(0, "firing")]


# -- composites -------------------------------------------------------------------------------

def test_all_joins_on_identical_labels_and_takes_left_value() -> None:
    rule = ak.Rule(name="A", condition=ak.All(ak.Threshold("cpu", ">", 80),
                                              ak.Threshold("mem", ">", 90)))
    ev = tick_ev(rule)
    samples = (series("cpu", [95], host="a") + series("mem", [95], host="a")
               + series("cpu", [95], host="b") + series("mem", [50], host="b")
               + series("cpu", [95], host="c") + series("mem", [95], host="c", region="eu"))
    events = replay(ev, samples, [0])
    assert timeline(events) == [(0, "firing", "host=a")]
    assert events[0].alert.value == 95


def test_any_and_not() -> None:
    either = ak.Rule(name="E", condition=ak.Threshold("a", ">", 1) | ak.Threshold("b", ">", 1))
    unless = ak.Rule(name="U", condition=ak.Threshold("a", ">", 1) & ~ak.Threshold("m", "==", 1))
    ev = tick_ev(either, unless)
    samples = series("a", [0, 5, 5]) + series("b", [5, 0, 0]) + series("m", [0, 0, 1])
    events = replay(ev, samples, ticks(120))
    assert [(e.at, e.alert.rule, e.kind.value) for e in events] == [
        (0, "E", "firing"), (60, "U", "firing"), (120, "U", "resolved")]


def test_not_of_a_stale_series_has_no_data() -> None:
    ev = tick_ev(ak.Rule(name="N", condition=ak.Not(ak.Threshold("m", "==", 1))))
    events = replay(ev, series("m", [0]), ticks(600))
    assert kinds(events) == [(0, "firing"), (360, "resolved")]


def test_consecutive_counts_ticks_in_tick_mode() -> None:
    rule = ak.Rule(name="C", condition=ak.Consecutive(ak.Threshold("cpu", ">=", 85), 2))
    ev = tick_ev(rule)
    events = replay(ev, series("cpu", [90, 50, 90, 90, 90, 50]), ticks(300))
    assert kinds(events) == [(180, "firing"), (300, "resolved")]


def test_consecutive_k_of_n() -> None:
    rule = ak.Rule(name="C", condition=ak.Consecutive(ak.Threshold("cpu", ">=", 85), 2, 3))
    ev = tick_ev(rule)
    events = replay(ev, series("cpu", [90, 50, 90, 50, 50]), ticks(240))
    assert kinds(events) == [(120, "firing"), (180, "resolved")]  # 2 of (50, 90, 50): no


def test_consecutive_counts_samples_in_sample_mode() -> None:
    rule = ak.Rule(name="C", condition=ak.Consecutive(ak.Threshold("cpu", ">=", 85), 3))
    ev = ak.Evaluator([rule])
    state = ev.new_state()
    got = []
    for i, v in enumerate([90, 90, 50, 90, 90, 90]):
        got += kinds(list(ev.observe(state, "cpu", v, 10.0 * i)))
        got += kinds(list(ev.tick(state, 10.0 * i + 5)))  # ticks do not count
    assert got == [(50, "firing")]


# -- evaluation modes ---------------------------------------------------------------------------

def test_sample_mode_catches_a_spike_between_ticks() -> None:
    rule = ak.Rule(name="Spike", condition=ak.Threshold("x", ">", 100))
    samples = [("x", {}, 0.0, 1.0), ("x", {}, 20.0, 500.0), ("x", {}, 40.0, 1.0)]
    push = replay(ak.Evaluator([rule]), samples, [0, 60])
    assert kinds(push) == [(20, "firing"), (40, "resolved")]
    tick = replay(ak.Evaluator([rule], mode="tick"), samples, [0, 60])
    assert tick == []


def test_mode_per_rule_overrides_the_evaluator() -> None:
    rule = ak.Rule(name="T", condition=ak.Threshold("x", ">", 1), mode="tick")
    ev = ak.Evaluator([rule])
    state = ev.new_state()
    assert ev.observe(state, "x", 5, 0) == ()
    assert kinds(list(ev.tick(state, 0))) == [(0, "firing")]


def test_sample_mode_for_elapses_through_samples_and_ticks() -> None:
    ev = ak.Evaluator([ak.Rule(name="A", condition=ak.Threshold("x", ">", 1), for_="30s")])
    state = ev.new_state()
    assert kinds(list(ev.observe(state, "x", 5, 0))) == [(0, "pending")]
    assert kinds(list(ev.observe(state, "x", 5, 29))) == []
    assert kinds(list(ev.tick(state, 30))) == [(30, "firing")]


def test_late_sample_already_stale_counts_as_no_data() -> None:
    ev = ak.Evaluator([ak.Rule(name="A", condition=ak.Threshold("x", ">", 1))])
    state = ev.new_state()
    ev.observe(state, "y", 0, 1000)
    assert ev.observe(state, "x", 5, 10) == ()  # 990 s old at now=1000: stale


# -- no-data policies ---------------------------------------------------------------------------

def test_no_data_keep_freezes_the_alert() -> None:
    ev = tick_ev(ak.Rule(name="A", condition=ak.Threshold("x", ">", 1), for_="10m",
                         no_data="keep"))
    state = ev.new_state()
    events = replay(ev, series("x", [5]), ticks(1200), state)
    assert kinds(events) == [(0, "pending")]
    assert ev.alerts(state)[0].state is ak.AlertState.PENDING


def test_no_data_alert_fires_with_nan() -> None:
    ev = tick_ev(ak.Rule(name="A", condition=ak.Threshold("x", ">", 1), no_data="alert"))
    state = ev.new_state()
    events = replay(ev, series("x", [0, 0]), ticks(600), state)
    assert kinds(events) == [(420, "firing")]
    assert events[0].alert.no_data and math.isnan(events[0].alert.value)
    # data comes back below the threshold: resolved
    ev.observe(state, "x", 0, 660)
    assert kinds(list(ev.tick(state, 660))) == [(660, "resolved")]


# -- identity, labels, retention ----------------------------------------------------------------

def test_alert_identity_and_label_overrides() -> None:
    rule = ak.Rule(name="A", condition=ak.Threshold("cpu", ">", 1), severity="critical",
                   labels={"team": "db", "host": "override"})
    ev = tick_ev(rule)
    events = replay(ev, series("cpu", [5], host="a", dc="eu"), [0])
    assert dict(events[0].alert.labels) == {"alertname": "A", "dc": "eu", "host": "override",
                                            "severity": "critical", "team": "db"}
    assert events[0].alert.fingerprint == events[0].alert.labels.fingerprint
    assert events[0].alert.severity is ak.Severity.CRITICAL


def test_one_alert_per_label_set() -> None:
    ev = tick_ev(ak.Rule(name="A", condition=ak.Threshold("cpu", ">", 1)))
    samples = series("cpu", [5], host="a") + series("cpu", [5], host="b") + \
        series("cpu", [0], host="c")
    assert sorted(t[2] for t in timeline(replay(ev, samples, [0]))) == ["host=a", "host=b"]


def test_rule_label_matchers_filter_series() -> None:
    sel = ak.Selector("cpu", [ak.Matcher("host", "=~", "web.*")])
    ev = tick_ev(ak.Rule(name="A", condition=ak.Threshold(sel, ">", 1)))
    samples = series("cpu", [5], host="web1") + series("cpu", [5], host="db1")
    assert [t[2] for t in timeline(replay(ev, samples, [0]))] == ["host=web1"]


def test_resolved_alerts_are_retained_then_forgotten() -> None:
    ev = tick_ev(ak.Rule(name="A", condition=ak.Threshold("x", ">", 1)),
                 resolved_retention="15m")
    state = ev.new_state()
    replay(ev, series("x", [5, 0]), ticks(60), state)
    assert [a.state for a in ev.alerts(state, include_resolved=True)] == [ak.AlertState.INACTIVE]
    assert ev.alerts(state) == []
    for t in ticks(60 + 900, 60)[2:]:
        ev.observe(state, "x", 0, t)
        ev.tick(state, t)
    assert len(ev.alerts(state, include_resolved=True)) == 1  # 900 s: not yet (strict >)
    ev.observe(state, "x", 0, 1020)
    ev.tick(state, 1020)
    assert ev.alerts(state, include_resolved=True) == []


def test_idle_series_and_tracks_are_collected() -> None:
    ev = tick_ev(ak.Rule(name="A", condition=ak.Threshold("x", ">", 1)))
    state = ev.new_state()
    h = ev.handle(state, "x", {"k": "v"})
    h.observe(0, 0)
    ev.tick(state, 301)
    assert state.series_count() == 0 and not state.rules["A"].tracks
    # a handle re-attaches after its series was collected
    assert kinds(list(ev.tick(state, 400))) == []
    h.observe(5, 400)
    assert kinds(list(ev.tick(state, 400))) == [(400, "firing")]


# -- templates ------------------------------------------------------------------------------------

def test_annotations_render_labels_and_value_like_prometheus() -> None:
    rule = ak.Rule(name="A", condition=ak.Threshold("cpu", ">", 1), annotations={
        "summary": "{{ labels.host }} at {{ value }}{{ labels.nope }}",
        "big": "{{ value | humanize }}", "plain": "no template"})
    ev = tick_ev(rule)
    events = replay(ev, series("cpu", [2.5e6], host="a"), [0])
    assert events[0].alert.annotations == {"summary": "a at 2.5e+06", "big": "2.5M",
                                           "plain": "no template"}


def test_failing_template_falls_back_and_reports() -> None:
    rule = ak.Rule(name="A", condition=ak.Threshold("cpu", ">", 1), annotations={
        "bad": "{{ value / 0 }}", "sandboxed": "{{ value.__class__.__mro__ }}"})
    events = replay(tick_ev(rule), series("cpu", [5]), [0])
    assert events[0].alert.annotations == {"bad": "{{ value / 0 }}",
                                           "sandboxed": "{{ value.__class__.__mro__ }}"}
    assert len(events[0].errors) == 2 and "ZeroDivisionError" in events[0].errors[0]
    assert "SecurityError" in events[0].errors[1]


def test_template_syntax_error_is_raised_at_rule_creation() -> None:
    with pytest.raises(ak.TemplateError, match="summary"):
        ak.Rule(name="A", condition=ak.Threshold("x", ">", 1),
                annotations={"summary": "{{ oops"})


@pytest.mark.parametrize(("value", "text"), [
    (95.5, "95.5"), (99.25, "99.25"), (91.0, "91"), (100000.0, "100000"), (2.5e6, "2.5e+06"),
    (1234567.0, "1.234567e+06"), (1e-5, "1e-05"), (0.1 + 0.2, "0.30000000000000004"),
    (NaN, "NaN"), (-math.inf, "-Inf"), (0.0, "0"), (-3.0, "-3")])
def test_value_prints_like_go(value: float, text: str) -> None:
    assert ak.format_value(value) == text


@pytest.mark.parametrize(("value", "text"), [
    (2.5e6, "2.5M"), (1234567.0, "1.235M"), (1e5, "100k"), (0.3, "300m"), (1e-5, "10u"),
    (0.0, "0"), (12.0, "12")])
def test_humanize(value: float, text: str) -> None:
    assert ak.humanize(value) == text


def test_humanize_duration() -> None:
    assert ak.humanize_duration(5400) == "1h 30m 0s"
    assert ak.humanize_duration(90061) == "1d 1h 1m 1s"
    assert ak.humanize_duration(0.25) == "250ms"
    assert ak.humanize_duration(42) == "42s"


def test_unless_style_not_fires_when_the_suppressor_is_missing() -> None:
    rule = ak.Rule(name="A", condition=ak.All(ak.Threshold("cpu", ">", 80),
                                              ak.Not(ak.Threshold("maintenance", "==", 1))))
    ev = tick_ev(rule)
    events = replay(ev, series("cpu", [90, 90, 90], host="a") +
                    series("maintenance", [None, 1, 0], host="a"), ticks(120))
    assert kinds(events) == [(0, "firing"), (60, "resolved"), (120, "firing")]


def test_long_windows_outlive_stale_after() -> None:
    # avg_over_time(x[10m]) keeps output for 10 minutes after the last sample, as PromQL.
    ev = tick_ev(ak.Rule(name="A", condition=ak.Threshold(ak.avg_over_time("x", "10m"), ">", 1)))
    events = replay(ev, series("x", [5]), ticks(720))
    assert kinds(events) == [(0, "firing"), (660, "resolved")]


def test_no_data_alert_also_covers_not_over_a_vanished_series() -> None:
    ev = tick_ev(ak.Rule(name="A", condition=ak.Not(ak.Threshold("up", "==", 0)),
                         no_data="alert"))
    events = replay(ev, series("up", [1, 1]), ticks(480))
    assert kinds(events) == [(0, "firing")]  # up != 0 holds; then no data keeps it firing
    assert not events[0].alert.no_data


@pytest.mark.parametrize(("samples", "now", "agg", "expected"), [
    ([(0, 1e16), (30, 1.0), (60, 1.0), (90, 1.0)], 90, ak.Agg.AVG, 1.0),
    ([(0, 0.1), (10, 0.2), (20, 0.0), (30, 0.0)], 80, ak.Agg.SUM, 0.0),
    ([(0, 5e15), (30, 0.0), (60, 1.0), (90, 3.0)], 90, ak.Agg.INCREASE, 3.0),
])
def test_running_sums_stay_exact_after_a_huge_value_leaves(
        samples: list[tuple[float, float]], now: float, agg: ak.Agg, expected: float) -> None:
    ev = tick_ev(ak.Rule(name="A", condition=ak.Threshold(ak.Window(agg, "x", "1m"), "!=", -1)))
    state = ev.new_state()
    for t, v in samples:
        ev.observe(state, "x", v, t)
    ev.tick(state, now)
    assert ev.alerts(state)[0].value == expected
    # and the exactness survives a snapshot
    assert ev.alerts(ev.restore(ev.snapshot(state)))[0].value == expected
