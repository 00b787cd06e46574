"""Tests of the promtool oracle harness itself, against cases from prometheus-semantics.md.

Every scenario is checked both ways: promtool must accept the documented timeline (and
``observe`` must report exactly that timeline), and it must reject a deliberately wrong one,
so a harness that asserts nothing cannot pass. No alertkit import: this tests the oracle only.
"""

from __future__ import annotations

import math
import os

import pytest

from promtool_oracle import (
    OracleAlert,
    OracleRule,
    OracleSeries,
    check,
    observe,
    promtool_path,
    render_values,
)

# In CI a missing promtool must fail loudly (check raises), not skip.
needs_promtool = pytest.mark.skipif(
    promtool_path() is None and not os.environ.get("CI"),
    reason="promtool not installed (apt-get install prometheus)",
)

MIN = 60
Timeline = dict[int, list[OracleAlert]]


def _alert(state: str, active_at: float, **labels: str) -> OracleAlert:
    """Shorthand; ``labels`` must include alertname, as in the oracle's API."""
    return OracleAlert(labels=labels, state=state, active_at=active_at)


def _timeline(end_s: int, *spans: tuple[int, int, list[OracleAlert]]) -> Timeline:
    """Expected alerts at every minute 0..end_s; each span is (first_s, last_s, alerts)."""
    timeline: Timeline = {t: [] for t in range(0, end_s + 1, MIN)}
    for first, last, alerts in spans:
        for t in range(first, last + 1, MIN):
            timeline[t] = timeline[t] + alerts
    return timeline


def _sorted(timeline: Timeline) -> Timeline:
    """observe() sorts alerts by labels; sort expectations the same way to compare."""
    return {t: sorted(a, key=lambda x: sorted(x.labels.items())) for t, a in timeline.items()}


def _assert_accepted(series: list[OracleSeries], rule: OracleRule, expected: Timeline) -> None:
    """promtool confirms the timeline, and observe() reports the same timeline."""
    result = check(series, rule, MIN, sorted(expected), expected)
    assert result.ok, result.output
    assert observe(series, rule, MIN, sorted(expected)) == _sorted(expected)


def _assert_rejected(series: list[OracleSeries], rule: OracleRule, wrong: Timeline) -> None:
    """promtool must fail a wrong timeline, otherwise the harness proves nothing."""
    result = check(series, rule, MIN, sorted(wrong), wrong)
    assert not result.ok, result.test_file


def test_render_values_uses_promtool_notation() -> None:
    values = [90.0, None, math.nan, math.inf, -math.inf, 0.1 + 0.2, -0.0, 1e-07, 5]
    assert render_values(values) == "90.0 _ NaN Inf -Inf 0.30000000000000004 -0.0 1e-07 5.0"


def test_inputs_that_promtool_would_misread_are_rejected() -> None:
    series = [OracleSeries("cpu", {}, [90.0])]
    rule = OracleRule(name="A", expr="cpu > 80")
    with pytest.raises(ValueError, match="not a non-negative multiple"):
        check(series, rule, MIN, [90], {})
    with pytest.raises(ValueError, match="not in eval_times"):
        check(series, rule, MIN, [0], {60: []})
    with pytest.raises(ValueError, match="same labels"):
        check(series, rule, MIN, [0], {0: [_alert("firing", 0, alertname="A")] * 2})
    with pytest.raises(ValueError, match="invalid label name"):
        check([OracleSeries("cpu", {"a-b": "x"}, [1.0])], rule, MIN, [0], {})


@needs_promtool
def test_numbers_reach_promtool_exactly() -> None:
    values = [0.1 + 0.2, 1e-07, 5e-324, 1.7976931348623157e308]
    series = [OracleSeries("x", {}, values)]
    exact = " or ".join(f"x == {v!r}" for v in values)
    firing = [_alert("firing", 0, alertname="Exact")]
    expected = _timeline(180, (0, 180, firing))
    _assert_accepted(series, OracleRule(name="Exact", expr=exact), expected)
    # 0.3 != 0.30000000000000004: nothing fires at t=0, so the same expectation must fail.
    rounded = exact.replace("0.30000000000000004", "0.3")
    _assert_rejected(series, OracleRule(name="Exact", expr=rounded), expected)


@needs_promtool
def test_for_5m_is_pending_60_to_300_and_firing_from_360() -> None:
    series = [OracleSeries("cpu", {"instance": "a"}, [50.0] + [90.0] * 9)]
    rule = OracleRule(name="HighCPU", expr="cpu > 80", for_s=300, labels={"severity": "page"})
    labels = {"alertname": "HighCPU", "instance": "a", "severity": "page"}
    pending = [_alert("pending", 60, **labels)]
    firing = [_alert("firing", 60, **labels)]
    expected = _timeline(540, (60, 300, pending), (360, 540, firing))
    _assert_accepted(series, rule, expected)
    _assert_rejected(series, rule, {**expected, 300: firing})
    _assert_rejected(series, rule, {**expected, 360: [_alert("firing", 120, **labels)]})
    # Empty expectations are real assertions, for pending as well as firing alerts.
    _assert_rejected(series, rule, {**expected, 60: []})
    _assert_rejected(series, rule, {**expected, 360: []})
    assert not check(series, rule, MIN, [360], {}).ok


@needs_promtool
def test_keep_firing_for_3m_resolves_at_the_fourth_false_eval() -> None:
    series = [OracleSeries("cpu", {}, [90.0] * 6 + [50.0] * 6)]
    rule = OracleRule(name="Hot", expr="cpu > 80", keep_firing_for_s=180)
    firing = [_alert("firing", 0, alertname="Hot")]
    expected = _timeline(660, (0, 480, firing))
    _assert_accepted(series, rule, expected)
    _assert_rejected(series, rule, {**expected, 480: []})
    _assert_rejected(series, rule, {**expected, 540: firing})


@needs_promtool
def test_condition_returning_while_kept_is_the_same_alert() -> None:
    series = [OracleSeries("cpu", {}, [90.0] * 6 + [50.0, 50.0, 90.0] + [50.0] * 6)]
    rule = OracleRule(name="Hot", expr="cpu > 80", keep_firing_for_s=180)
    firing = [_alert("firing", 0, alertname="Hot")]
    expected = _timeline(840, (0, 660, firing))
    _assert_accepted(series, rule, expected)
    _assert_rejected(series, rule, {**expected, 480: [_alert("firing", 480, alertname="Hot")]})


@needs_promtool
def test_keep_firing_for_does_not_keep_pending_alerts() -> None:
    series = [OracleSeries("cpu", {}, [90.0] * 3 + [50.0] * 4)]
    rule = OracleRule(name="Hot", expr="cpu > 80", for_s=300, keep_firing_for_s=180)
    expected = _timeline(360, (0, 120, [_alert("pending", 0, alertname="Hot")]))
    _assert_accepted(series, rule, expected)
    _assert_rejected(series, rule, {**expected, 180: expected[120]})


@needs_promtool
def test_series_that_stops_reporting_matches_for_5m_lookback() -> None:
    series = [OracleSeries("cpu", {"instance": "a"}, [90.0, 90.0, 90.0])]
    rule = OracleRule(name="Hot", expr="cpu > 80")
    firing = [_alert("firing", 0, alertname="Hot", instance="a")]
    expected = _timeline(600, (0, 420, firing))
    _assert_accepted(series, rule, expected)
    _assert_rejected(series, rule, {**expected, 420: []})
    _assert_rejected(series, rule, {**expected, 480: firing})


@needs_promtool
def test_absent_fires_six_minutes_after_the_last_sample_plus_for() -> None:
    series = [OracleSeries("up", {"job": "api", "instance": "x"}, [1.0, 1.0, 1.0])]
    rule = OracleRule(name="ApiDown", expr='absent(up{job="api"})', for_s=120)
    labels = {"alertname": "ApiDown", "job": "api"}
    expected = _timeline(
        720,
        (480, 540, [_alert("pending", 480, **labels)]),
        (600, 720, [_alert("firing", 480, **labels)]),
    )
    _assert_accepted(series, rule, expected)
    _assert_rejected(series, rule, {**expected, 540: [_alert("firing", 480, **labels)]})
    _assert_rejected(series, rule, {**expected, 600: [_alert("firing", 480, **labels, x="y")]})


@needs_promtool
def test_avg_over_time_window_is_closed_in_2_42() -> None:
    # At T=300 the closed window [0, 300] still holds the 200 at t=0: avg 550/6 > 80.
    # A left-open window (Prometheus 3.x) would average only 70s there.
    series = [OracleSeries("cpu", {}, [200.0] + [70.0] * 8)]
    rule = OracleRule(name="AvgHot", expr="avg_over_time(cpu[5m]) > 80")
    expected = _timeline(480, (0, 300, [_alert("firing", 0, alertname="AvgHot")]))
    _assert_accepted(series, rule, expected)
    _assert_rejected(series, rule, {**expected, 300: []})


@needs_promtool
def test_rate_adds_back_the_value_before_a_counter_reset() -> None:
    # +70/min (rate 1.17/s over 5m), reset 350 -> 40 at t=360, then +10/min from t=720.
    # Across the reset the window increase is 320 (rate 1.07), so the alert stays firing.
    counter = [0.0, 70, 140, 210, 280, 350, 40, 110, 180, 250, 320, 390, 400, 410, 420]
    series = [OracleSeries("requests_total", {}, counter)]
    rule = OracleRule(name="Busy", expr="rate(requests_total[5m]) > 1")
    expected = _timeline(840, (300, 660, [_alert("firing", 300, alertname="Busy")]))
    _assert_accepted(series, rule, expected)
    # An evaluator ignoring the reset would see a negative increase at T=360.
    _assert_rejected(series, rule, {**expected, 360: []})


@needs_promtool
def test_nan_sample_makes_not_equal_true() -> None:
    series = [OracleSeries("leader_count", {}, [1.0, math.nan, 1.0])]
    rule = OracleRule(name="NoLeader", expr="leader_count != 1")
    firing = [_alert("firing", 60, alertname="NoLeader")]
    expected = _timeline(180, (60, 60, firing))
    _assert_accepted(series, rule, expected)
    _assert_rejected(series, rule, {**expected, 60: []})


@needs_promtool
def test_several_alerts_at_once_and_rule_labels_override_series_labels() -> None:
    series = [
        OracleSeries("cpu", {"instance": "a", "severity": "low"}, [90.0] * 4),
        OracleSeries("cpu", {"instance": "b", "severity": "low"}, [50.0, 90.0, 90.0, 90.0]),
    ]
    rule = OracleRule(name="Hot", expr="cpu > 80", for_s=120, labels={"severity": "page"})
    a = {"alertname": "Hot", "instance": "a", "severity": "page"}
    b = {"alertname": "Hot", "instance": "b", "severity": "page"}
    expected = _timeline(
        180,
        (0, 60, [_alert("pending", 0, **a)]),
        (120, 180, [_alert("firing", 0, **a)]),
        (60, 120, [_alert("pending", 60, **b)]),
        (180, 180, [_alert("firing", 60, **b)]),
    )
    _assert_accepted(series, rule, expected)
    _assert_rejected(series, rule, {**expected, 120: [_alert("firing", 0, **a)]})
    low = {**a, "severity": "low"}
    _assert_rejected(series, rule, {**expected, 0: [_alert("pending", 0, **low)]})


@needs_promtool
def test_observe_parses_awkward_label_values() -> None:
    awkward = 'q"b\\s\nnl é 💥 \x01 \t, x="y"} 1E+00, {'
    series = [OracleSeries("cpu", {"v": awkward}, [90.0])]
    rule = OracleRule(name="Odd", expr="cpu > 80", labels={"w": awkward})
    expected = {0: [_alert("firing", 0, alertname="Odd", v=awkward, w=awkward)]}
    _assert_accepted(series, rule, expected)


@needs_promtool
def test_rule_evaluation_error_fails_check_and_observe() -> None:
    # The rule label overrides the only distinguishing label: duplicate alert identity.
    series = [OracleSeries("cpu", {"i": "a"}, [90.0]), OracleSeries("cpu", {"i": "b"}, [90.0])]
    rule = OracleRule(name="Dup", expr="cpu > 80", labels={"i": "x"})
    result = check(series, rule, MIN, [0], {})
    assert not result.ok
    assert "same labelset after applying alert labels" in result.output
    with pytest.raises(RuntimeError, match="did not report every query"):
        observe(series, rule, MIN, [0])
