"""Hypothesis strategies for random rules and sample/tick timelines (used by property tests).

``replays`` builds the same kind of workload from the public strategies of
:mod:`alertkit.testing.strategies`, for tests that run it through :func:`alertkit.testing.replay`.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import attrs
from hypothesis import strategies as st

import alertkit as ak
from alertkit.testing import Series, Timeline, replay
from alertkit.testing import strategies as aks

VALUES = st.one_of(
    st.sampled_from([0.0, 50.0, 79.0, 80.0, 85.0, 90.0, 100.0, math.nan]),
    st.floats(min_value=-10, max_value=200, allow_nan=False),
)
HOSTS = ["a", "b"]


def _leaf(metric: str) -> st.SearchStrategy[ak.Condition]:
    value_exprs = st.one_of(
        st.just(ak.Instant(metric)),
        st.builds(ak.Window, st.sampled_from(["avg", "max", "min", "count", "rate", "delta",
                                              "last", "sum"]),
                  st.just(metric), st.sampled_from([30, 60, 120, 300])),
    )
    return st.builds(ak.Threshold, value_exprs, st.sampled_from([">", ">=", "<", "!="]),
                     st.sampled_from([50.0, 80.0, 85.0]))


CONDITIONS: st.SearchStrategy[ak.Condition] = st.one_of(
    _leaf("x"),
    _leaf("x"),
    st.builds(ak.All, _leaf("x"), _leaf("y")),
    st.builds(ak.Any, _leaf("x"), _leaf("y")),
    st.builds(ak.Not, _leaf("x")),
    st.builds(ak.Consecutive, _leaf("x"), st.integers(1, 3)),
    st.builds(ak.Absent, st.just("x"), st.sampled_from([None, 120])),
)


@st.composite
def rules(draw: st.DrawFn, name: str) -> ak.Rule:
    recovery = draw(st.one_of(st.none(), _leaf("x")))
    return ak.Rule(
        name=name,
        condition=draw(CONDITIONS),
        for_=draw(st.sampled_from([0, 0, 30, 60, 120])),
        keep_firing_for=draw(st.sampled_from([0, 0, 60, 120])),
        recovery=recovery,
        no_data=draw(st.sampled_from(["ok", "ok", "keep", "alert"])),
        stale_after=draw(st.sampled_from([None, 90])),
        annotations={"summary": "{{ labels.host }} {{ value }}"},
    )


Op = tuple[Any, ...]  # ("sample", metric, labels, t, v) or ("tick", t)


@attrs.frozen
class Scenario:
    mode: str
    rules: tuple[ak.Rule, ...]
    ops: tuple[Op, ...]

    def evaluator(self) -> ak.Evaluator:
        return ak.Evaluator(self.rules, mode=self.mode, resolved_retention="3m")


@st.composite
def scenarios(draw: st.DrawFn, *, with_ticks: bool = True) -> Scenario:
    n_rules = draw(st.integers(1, 3))
    rule_list = tuple(draw(rules(f"R{i}")) for i in range(n_rules))
    mode = draw(st.sampled_from(["tick", "sample"]))
    ops: list[Op] = []
    steps = draw(st.integers(1, 60))
    for step in range(steps):
        t = step * 10.0
        for metric in ("x", "y"):
            for host in HOSTS:
                if draw(st.integers(0, 9)) < 4:
                    ops.append(("sample", metric, {"host": host}, t, draw(VALUES)))
        if with_ticks and (step % 6 == 0 or draw(st.integers(0, 9)) == 0):
            ops.append(("tick", t))
    return Scenario(mode, rule_list, tuple(ops))


def run(ev: ak.Evaluator, ops: Sequence[Op], state: ak.State | None = None
        ) -> tuple[ak.State, list[ak.AlertEvent]]:
    state = state if state is not None else ev.new_state()
    events: list[ak.AlertEvent] = []
    for op in ops:
        if op[0] == "tick":
            events.extend(ev.tick(state, op[1]))
        else:
            _, metric, labels, t, v = op
            events.extend(ev.observe(state, metric, v, t, labels))
    return state, events


# -- the same workloads from the public strategies, for replay() ----------------------------


@attrs.frozen(repr=False)
class ReplayCase:
    """Rules, series and irregular tick times over [0, 600] s, and the evaluation mode."""

    mode: str
    rules: tuple[ak.Rule, ...]
    series: tuple[Series, ...]
    ticks: tuple[float, ...]

    def __repr__(self) -> str:  # short: hypothesis prints it for a falsifying example
        rules = "\n  ".join(
            f"{r.name}: {r.condition} for={r.for_:g} keep={r.keep_firing_for:g} "
            f"recovery={r.recovery} no_data={r.no_data.value} stale_after={r.stale_after}"
            for r in self.rules)
        series = "\n  ".join(repr(s) for s in self.series)
        return (f"ReplayCase(mode={self.mode}, ticks={list(self.ticks)}\n  {rules}\n"
                f"  {series})")

    def replay(self, **kw: Any) -> Timeline:
        return replay(self.rules, self.series, ticks=self.ticks, start=0, end=600,
                      mode=kw.pop("mode", self.mode), resolved_retention="3m", **kw)


def _name(rule: ak.Rule) -> str:
    return rule.name


_REPLAY_RULES = st.lists(
    aks.rules(metric=["x", "y"], name=st.sampled_from(["R0", "R1", "R2"]),
              for_=st.sampled_from([0.0, 0.0, 30.0, 60.0, 120.0]),
              keep_firing_for=st.sampled_from([0.0, 0.0, 60.0, 120.0]), recovery=True,
              no_data=aks.ANY, stale_after=st.sampled_from([None, 90.0])),
    min_size=1, max_size=3, unique_by=_name)
_REPLAY_SERIES = st.tuples(*(
    aks.series(aks.shapes(-10, 200), name=f'{metric}{{host="{host}"}}', interval="10s",
               length=(0, 60), gaps=0.6, nan=True)
    for metric in ("x", "y") for host in HOSTS))


@st.composite
def replays(draw: st.DrawFn) -> ReplayCase:
    """What ``scenarios`` draws, from alertkit.testing.strategies: 1-3 rules of every condition
    kind over x and y (hysteresis, no-data policies and staleness vary), series of every
    shape for hosts a and b on a 10 s grid with gaps and NaN, ticks every minute plus at
    random instants."""
    rules = draw(_REPLAY_RULES)
    series = draw(_REPLAY_SERIES)
    extra = draw(st.sets(st.integers(0, 60), max_size=10))
    ticks = tuple(sorted({10.0 * i for i in (*range(0, 61, 6), *extra)}))
    return ReplayCase(draw(st.sampled_from(["tick", "sample"])), tuple(rules), series, ticks)
