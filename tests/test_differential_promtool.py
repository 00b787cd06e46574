"""Differential test: alertkit's tick mode against the real Prometheus 2.42 (promtool).

Hypothesis generates series (with gaps and NaN) and threshold / window / absence rules with
``for`` and ``keep_firing_for``; both alertkit and ``promtool test rules`` evaluate them at
every 1m step, and the pending and firing alerts (labels, ActiveAt) must agree at every step.
CI installs Debian's ``prometheus`` package; locally the test is skipped without promtool.
"""

from __future__ import annotations

import math
import os

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import alertkit as ak
from promtool_oracle import OracleAlert, OracleRule, OracleSeries, check, observe, promtool_path

pytestmark = pytest.mark.skipif(
    promtool_path() is None and not os.environ.get("CI"),
    reason="promtool not installed (apt-get install prometheus)",
)

INTERVAL = 60
VALUE = st.one_of(st.none(), st.just(math.nan), st.integers(0, 10).map(float))
AGGS = ["avg", "min", "max", "sum", "count", "last", "rate", "increase", "delta"]


@st.composite
def conditions(draw: st.DrawFn) -> ak.Condition:
    kind = draw(st.sampled_from(["instant", "window", "quantile", "absent"]))
    op = draw(st.sampled_from([">", ">=", "<", "<=", "==", "!="]))
    if kind == "instant":
        return ak.Threshold("m", op, draw(st.integers(0, 10)))
    if kind == "absent":
        return ak.Absent(ak.Selector("m", {"host": "a"}))
    rng = draw(st.sampled_from(["2m", "3m", "5m", "10m"]))
    # Thresholds off the grid of easy averages, so float rounding cannot decide a comparison.
    threshold = draw(st.integers(0, 10)) + 0.37
    if kind == "quantile":
        return ak.Threshold(ak.quantile_over_time(draw(st.sampled_from([0.25, 0.5, 0.9])),
                                                  "m", rng), op, threshold)
    return ak.Threshold(ak.Window(draw(st.sampled_from(AGGS)), "m", rng), op, threshold)


@st.composite
def cases(draw: st.DrawFn) -> tuple[ak.Rule, list[OracleSeries], int]:
    steps = draw(st.integers(3, 16))  # evaluations run 12 steps past the data
    hosts = draw(st.sampled_from([["a"], ["a", "b"]]))
    series = [OracleSeries("m", {"host": h}, draw(st.lists(VALUE, min_size=steps,
                                                           max_size=steps)))
              for h in hosts]
    rule = ak.Rule(name="Diff", condition=draw(conditions()),
                   for_=draw(st.sampled_from([0, 60, 90, 120, 300])),
                   keep_firing_for=draw(st.sampled_from([0, 0, 60, 180])))
    return rule, series, steps + 12  # past the data: staleness, absence, long windows


def alertkit_timeline(rule: ak.Rule, series: list[OracleSeries],
                      evals: int) -> dict[int, list[OracleAlert]]:
    ev = ak.Evaluator([rule], mode="tick")
    state = ev.new_state()
    out: dict[int, list[OracleAlert]] = {}
    for step in range(evals):
        t = step * INTERVAL
        for s in series:
            if step < len(s.values) and s.values[step] is not None:
                ev.observe(state, s.metric, s.values[step], t, s.labels)  # type: ignore[arg-type]
        ev.tick(state, t)
        out[t] = [OracleAlert(dict(a.labels), a.state.value, a.active_at)
                  for a in ev.alerts(state)]
    return out


def as_promql_rule(rule: ak.Rule) -> OracleRule:
    return OracleRule(name=rule.name, expr=str(rule.condition), for_s=int(rule.for_),
                      keep_firing_for_s=int(rule.keep_firing_for),
                      labels={"severity": str(rule.severity)})


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(cases())
def test_tick_mode_matches_promtool(case: tuple[ak.Rule, list[OracleSeries], int]) -> None:
    rule, series, evals = case
    expected = alertkit_timeline(rule, series, evals)
    prom_rule = as_promql_rule(rule)
    eval_times = sorted(expected)
    result = check(series, prom_rule, INTERVAL, eval_times, expected)
    if not result.ok:
        got = observe(series, prom_rule, INTERVAL, eval_times)
        diff = [f"t={t}: alertkit={sorted(map(repr, expected[t]))} "
                f"prometheus={sorted(map(repr, got.get(t, [])))}"
                for t in eval_times if sorted(map(repr, expected[t])) !=
                sorted(map(repr, got.get(t, [])))]
        pytest.fail(f"rule {prom_rule.expr!r} for={prom_rule.for_s} "
                    f"keep_firing_for={prom_rule.keep_firing_for_s}\n" + "\n".join(diff)
                    + "\n\npromtool output:\n" + result.output[-3000:])


def test_the_rendered_promql_of_each_condition_kind() -> None:
    assert str(ak.Threshold("m", ">", 3)) == "m > 3.0"
    assert str(ak.Threshold(ak.rate("m", "5m", host="a"), "<=", 1)) == \
        'rate(m{host="a"}[5m]) <= 1.0'
    assert str(ak.Threshold(ak.avg_over_time("m", "90s"), "!=", 1)) == \
        "avg_over_time(m[1m30s]) != 1.0"
    assert str(ak.Absent(ak.Selector("m", {"host": "a"}))) == 'absent(m{host="a"})'
    assert str(ak.Absent("m", "10m")) == "absent_over_time(m[10m])"
