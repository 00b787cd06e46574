"""alertkit.testing.strategies and shapes: valid objects only, bounds kept, bad arguments."""

from __future__ import annotations

import math

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import alertkit as ak
from alertkit.testing import (
    Constant,
    Counter,
    Noise,
    Ramp,
    Series,
    Spikes,
    Step,
    Sum,
    Wave,
    parse_series_name,
    replay,
)
from alertkit.testing import strategies as aks

# -- shapes as values -----------------------------------------------------------------------


def test_shapes_render() -> None:
    assert Constant(5).render(3) == [5.0, 5.0, 5.0]
    assert Ramp(10, 0).render(3) == [10.0, 5.0, 0.0]
    assert Ramp(1, 2).render(1) == [1.0]
    assert Step(1, 2, at=0.5).render(5) == [1.0, 1.0, 2.0, 2.0, 2.0]
    assert Step(1, 2, at=0).render(2) == [2.0, 2.0]
    assert Spikes(0, 9, at=[0, 1]).render(4) == [9.0, 0.0, 0.0, 9.0]
    assert Counter(2, resets=[0.5]).render(5) == [0.0, 2.0, 0.0, 2.0, 4.0]
    assert Counter(1, start=10).render(3) == [10.0, 11.0, 12.0]
    assert [round(v, 9) for v in Wave(0, 1, period=4).render(4)] == [0.0, 1.0, 0.0, -1.0]
    assert (Constant(1) + Ramp(0, 2)).render(3) == [1.0, 2.0, 3.0]
    assert Constant(1) + Constant(2) == Sum(Constant(1), Constant(2))
    assert Noise(50, 10, seed=3).render(4) == Noise(50, 10, seed=3).render(4)  # reproducible
    assert all(40 <= v <= 60 for v in Noise(50, 10, seed=3).render(100))
    assert all(45 <= v <= 55 for v in Noise(50, 10, seed=3, low=45, high=55).render(100))
    assert Constant(1).render(0) == [] and Spikes(0, 1).render(0) == []


def test_bad_shapes_raise() -> None:
    for make in (lambda: Constant(math.nan), lambda: Ramp(0, math.inf),
                 lambda: Constant("1"), lambda: Step(0, 1, at=2),
                 lambda: Spikes(0, 1, at=[-0.1]), lambda: Noise(0, -1),
                 lambda: Noise(0, 1, low=2, high=1), lambda: Wave(0, 1, period=1),
                 lambda: Counter(-1), lambda: Constant(1).render(-1)):
        with pytest.raises(ak.InvalidSampleError):
            make()  # type: ignore[no-untyped-call]
    assert Constant(1).__add__(3) is NotImplemented  # type: ignore[operator]


def test_series_values() -> None:
    s = Series.of('cpu{host="a"}', [1, None, 3], interval="30s", start=100, skip=[1])
    assert s.points == ((100.0, 1.0), (160.0, 3.0))
    assert s.name == 'cpu{host="a"}' and s.metric == "cpu" and s.labels == {"host": "a"}
    assert s.values == [1.0, 3.0] and s.times == [100.0, 160.0] and len(s) == 2
    assert list(s) == [ak.Sample.of("cpu", 1, 100, host="a"), ak.Sample.of("cpu", 3, 160,
                                                                           host="a")]
    assert s.as_mapping() == {'cpu{host="a"}': [(100.0, 1.0), (160.0, 3.0)]}
    marker = Series.of("up", [1, None, 1], shape=Constant(1))
    assert list(marker) == [ak.Sample.of("up", 1, 0), ak.Sample.of("up", 1, 120)]
    assert repr(marker) == "<Series up Constant(level=1.0) from t=0 every 1m: 1 stale 1>"
    long = Series.of("x", [0.5] * 40)
    assert repr(long).endswith("0.5 ... (40 points)>")
    odd = Series("x", {"k": 'q"\\'}, [(0, 1), (5, 2), (6, 3)])
    assert repr(odd) == '<Series x{k="q\\"\\\\"} from t=0: 1 2 3>'
    assert replay(ak.Rule(name="R", condition="x > 0"), odd).label_sets("R")[0]["k"] == 'q"\\'


def test_series_rejects_bad_points() -> None:
    with pytest.raises(ak.InvalidSampleError, match=r"points\[1\]: time 0.0 is not after"):
        Series("x", {}, [(0, 1), (0, 2)])
    with pytest.raises(ak.InvalidSampleError, match=r"points\[0\]: value: 'a' is not a number"):
        Series("x", {}, [(0, "a")])
    with pytest.raises(ak.InvalidSampleError, match="is not a series"):
        Series.of("rate(x[5m])", [1])


def test_replay_takes_series_and_lists_of_series() -> None:
    rule = ak.Rule(name="Hot", condition="cpu > 90")
    a = Series.of('cpu{host="a"}', [95, 95])
    b = Series.of('cpu{host="b"}', [10, 95])
    assert replay(rule, a).first_firing_at("Hot") == 0.0
    assert [ls["host"] for ls in replay(rule, [a, b]).label_sets("Hot")] == ["a", "b"]


# -- strategies: properties of what they draw -----------------------------------------------

BOUNDED = [aks.constants, aks.ramps, aks.steps, aks.spikes, aks.noise, aks.waves, aks.shapes]


@pytest.mark.parametrize("make", BOUNDED, ids=lambda f: f.__name__)
@settings(max_examples=40, deadline=None)
@given(data=st.data(), bounds=st.tuples(st.floats(-1e6, 1e6), st.floats(0, 1e6)),
       length=st.integers(0, 200))
def test_bounded_shapes_stay_within_their_bounds(make: object, data: st.DataObject,
                                                 bounds: tuple[float, float],
                                                 length: int) -> None:
    lo, width = bounds
    hi = lo + width
    shape = data.draw(make(lo, hi))  # type: ignore[operator]
    values = shape.render(length)
    assert len(values) == length
    assert all(lo <= v <= hi for v in values), (shape, values)


@settings(max_examples=40, deadline=None)
@given(aks.counters(max_increment=5), st.integers(0, 100))
def test_counters_only_grow_between_resets(shape: Counter, length: int) -> None:
    values = shape.render(length)
    assert all(v >= 0 for v in values)
    drops = [i for i in range(1, length) if values[i] < values[i - 1]]
    assert all(values[i] == 0 for i in drops)
    assert len(drops) <= len(shape.resets)


@settings(max_examples=60, deadline=None)
@given(aks.series(name='cpu{host="a"}', labels=aks.label_sets(max_size=2), start=1000,
                  interval="15s", length=(0, 50), gaps=True, nan=True, stale=True))
def test_series_are_valid_and_on_the_grid(s: Series) -> None:
    assert s.metric == "cpu" and s.labels["host"] == "a"
    assert all((t - 1000) % 15 == 0 for t in s.times)
    assert s.times == sorted(set(s.times))
    assert all(v is None or math.isnan(v) or 0 <= v <= 100 for v in s.values)
    assert None not in s.values[:-1]  # a staleness marker only ends a series
    list(s)  # every point makes a valid Sample


@settings(max_examples=30, deadline=None)
@given(aks.series(length=10))
def test_series_without_gaps_have_every_step(s: Series) -> None:
    assert s.times == [i * 60.0 for i in range(10)]
    assert s.labels == ak.Labels() and s.metric == "x"


@settings(max_examples=30, deadline=None)
@given(aks.series(Ramp(0, 9), length=10))
def test_series_of_a_fixed_shape(s: Series) -> None:
    assert s.values == [float(i) for i in range(10)]


@pytest.mark.parametrize("kind", aks.CONDITION_KINDS)
@settings(max_examples=25, deadline=None)
@given(data=st.data())
def test_every_condition_kind_is_valid_and_reads_back(kind: str, data: st.DataObject) -> None:
    cond = data.draw(aks.conditions('cpu{job="api"}', kinds=[kind]))
    rule = ak.Rule(name="R", condition=cond)
    ak.Evaluator([rule])  # compiles
    again = ak.parse_condition(str(cond))
    assert str(again) == str(cond)


@settings(max_examples=60, deadline=None)
@given(aks.rules(recovery=True), aks.series(gaps=True, nan=True, stale=True, length=(0, 30)))
def test_rules_replay_over_series_without_error(rule: ak.Rule, s: Series) -> None:
    end = (s.times[-1] if s.times else 0) + 900
    tl = replay(rule, s, ticks="1m", end=end)
    for start, stop in tl.firing_periods(rule.name):
        assert stop is None or start < stop


@settings(max_examples=40, deadline=None)
@given(aks.samples(), aks.label_sets(names=["a", "b"], min_size=1),
       aks.durations("1s", "2h"), aks.durations("0s", "1s", whole_seconds=False),
       aks.metric_names(), aks.label_names(exclude=["host"]), aks.rule_names())
def test_small_strategies_draw_valid_values(
        sample: ak.Sample, labels: ak.Labels, d: float, small: float, metric: str,
        label: str, name: str) -> None:
    assert isinstance(sample, ak.Sample)
    assert set(labels) <= {"a", "b"} and len(labels) >= 1
    assert 1 <= d <= 7200 and d == int(d)
    assert 0 <= small <= 1
    ak.Sample(metric, 1.0, 0.0, {label: "x"})
    assert label != "host"
    ak.Rule(name=name, condition="x > 1")


@settings(max_examples=20, deadline=None)
@given(aks.rules(condition="cpu > 90", name="HighCPU", for_="5m", keep_firing_for=0))
def test_rules_with_fixed_parts(rule: ak.Rule) -> None:
    assert (rule.name, str(rule.condition), rule.for_, rule.keep_firing_for) == (
        "HighCPU", "cpu > 90.0", 300.0, 0.0)


@settings(max_examples=20, deadline=None)
@given(aks.conditions(kinds=["all", "any", "not", "consecutive"], depth=1))
def test_nesting_stops_at_depth(cond: ak.Condition) -> None:
    assert isinstance(cond, ak.All | ak.Any | ak.Not | ak.Consecutive)
    parts = getattr(cond, "conditions", None) or (cond.condition,)  # type: ignore[attr-defined]
    assert not any(isinstance(p, ak.All | ak.Any | ak.Not | ak.Consecutive) for p in parts)


# -- bad arguments --------------------------------------------------------------------------


def test_bad_strategy_arguments_raise_clear_errors() -> None:
    with pytest.raises(ak.InvalidSampleError, match="min_value 5 is greater than max_value 1"):
        aks.values(5, 1)
    with pytest.raises(ak.InvalidSampleError, match="bound nan is not a finite number"):
        aks.shapes(math.nan, 1)
    with pytest.raises(ak.InvalidSampleError, match="max_spikes 0"):
        aks.spikes(max_spikes=0)
    with pytest.raises(ak.InvalidSampleError, match="min_value 60.0 is greater"):
        aks.durations("1m", "1s")
    with pytest.raises(ak.InvalidSampleError, match="no whole second"):
        aks.durations(0.2, 0.5)
    with pytest.raises(ak.DurationError):
        aks.durations("soon")
    with pytest.raises(ak.LabelError, match="max_size 0"):
        aks.label_values(max_size=0)
    with pytest.raises(ak.LabelError, match="min_size <= max_size"):
        aks.label_sets(min_size=3, max_size=1)
    with pytest.raises(ak.LabelError, match="label name 'a-b' is not valid"):
        aks.label_sets(names=["a-b"])
    with pytest.raises(ak.LabelError, match="1 names cannot make 2 labels"):
        aks.label_sets(names=["a", "a"], min_size=2)
    with pytest.raises(ak.InvalidSampleError, match="is not a series"):
        aks.series(name="x > 1")
    with pytest.raises(ak.InvalidSampleError, match="length -1"):
        aks.series(length=-1)
    with pytest.raises(ak.InvalidSampleError, match=r"length \(5, 1\) must have min <= max"):
        aks.series(length=(5, 1))
    with pytest.raises(ak.DurationError, match="interval"):
        aks.series(interval=0)
    with pytest.raises(ak.InvalidSampleError, match="is not a Shape or a strategy"):
        aks.series(5)  # type: ignore[arg-type]
    with pytest.raises(ak.RuleError, match="unknown kinds"):
        aks.conditions(kinds=["thresold"])
    with pytest.raises(ak.RuleError, match="kinds is empty"):
        aks.conditions(kinds=[])
    with pytest.raises(ak.RuleError, match="depth -1"):
        aks.conditions(depth=-1)
    with pytest.raises(ak.ExpressionError):
        aks.rules("cpu >")
    with pytest.raises(ak.DurationError, match="for_"):
        aks.rules(for_="5x")


def test_a_strategy_drawing_something_else_than_a_shape_is_reported() -> None:
    @settings(max_examples=1, deadline=None)
    @given(aks.series(st.just(5)))  # type: ignore[arg-type]
    def run(s: Series) -> None:
        pass

    with pytest.raises(ak.InvalidSampleError, match="drew 5, not a Shape"):
        run()


@settings(max_examples=40, deadline=None)
@given(aks.conditions(["x", 'y{host="b"}'], kinds=["threshold", "absent", "all"]))
def test_conditions_over_several_series_read_only_those(cond: ak.Condition) -> None:
    text = str(cond)
    assert "x" in text or 'y{host="b"}' in text
    ak.Evaluator([ak.Rule(name="R", condition=cond)])


def test_conditions_over_several_series_use_each_of_them() -> None:
    seen: set[str] = set()

    @settings(max_examples=60, deadline=None)
    @given(aks.conditions(["x", "y"], kinds=["threshold"]))
    def collect(cond: ak.Condition) -> None:
        seen.add(str(cond).split(" ")[0])

    collect()
    assert seen == {"x", "y"}


@settings(max_examples=40, deadline=None)
@given(aks.rules(no_data=aks.ANY, stale_after=aks.ANY, mode=aks.ANY))
def test_rules_with_any_policies_are_valid(rule: ak.Rule) -> None:
    ak.Evaluator([rule])


@settings(max_examples=20, deadline=None)
@given(aks.rules(no_data="keep", stale_after="2m", mode="tick"))
def test_rules_with_fixed_policies(rule: ak.Rule) -> None:
    assert (rule.no_data, rule.stale_after, rule.mode) == (
        ak.NoDataPolicy.KEEP, 120.0, ak.EvalMode.TICK)


@settings(max_examples=30, deadline=None)
@given(aks.series(length=20, gaps=0.9))
def test_sparse_series(s: Series) -> None:
    assert 2 <= len(s) <= 20


def test_more_bad_arguments() -> None:
    with pytest.raises(ak.InvalidSampleError, match="gaps 2 is not a bool or a fraction"):
        aks.series(gaps=2)
    with pytest.raises(ak.RuleError, match="metric is an empty list"):
        aks.conditions([])
    with pytest.raises(ak.RuleError, match="no_data 'sometimes'"):
        aks.rules(no_data="sometimes")
    with pytest.raises(ak.DurationError, match="stale_after"):
        aks.rules(stale_after="never")
    with pytest.raises(ak.RuleError, match="mode 'often'"):
        aks.rules(mode="often")
    assert repr(aks.ANY) == "ANY"


@settings(max_examples=100, deadline=None)
@given(aks.metric_names(), aks.label_sets(max_size=3))
def test_series_names_read_back(metric: str, labels: ak.Labels) -> None:
    name = Series(metric, labels, []).name
    assert parse_series_name(name) == (metric, labels)


def test_reserved_words_are_not_metric_names() -> None:
    from alertkit.testing.strategies import _writable

    assert not _writable("NaN") and not _writable("and") and _writable("nanny")


@settings(max_examples=30, deadline=None)
@given(aks.series_sets(aks.constants(91, 100), name='cpu{dc="x"}', count=(1, 3), length=3))
def test_series_sets_give_one_alert_per_label_set(group: tuple[Series, ...]) -> None:
    assert [s.labels["host"] for s in group] == ["a", "b", "c"][:len(group)]
    assert all(s.labels["dc"] == "x" for s in group)
    tl = replay(ak.Rule(name="Hot", condition="cpu > 90"), group)
    assert len(tl.label_sets("Hot")) == len(group)


def test_series_sets_bad_arguments() -> None:
    with pytest.raises(ak.LabelError):
        aks.series_sets(label="a-b")
    with pytest.raises(ak.LabelError, match="already sets the label 'host'"):
        aks.series_sets(name='cpu{host="a"}')
    with pytest.raises(ak.InvalidSampleError, match="more than 100 series"):
        aks.series_sets(count=(1, 101))


@settings(max_examples=20, deadline=None)
@given(aks.label_sets(names=st.sampled_from(["x", "y"]), min_size=1),
       aks.samples(metric=st.just("up"), labels={"job": "api"}, value=st.just(1.0),
                   timestamp=st.just(5.0)),
       aks.rules(aks.conditions(ak.Selector("disk", {"mount": "/"}), kinds=["threshold"]),
                 for_=st.just(30.0), keep_firing_for=st.just(0.0)))
def test_strategies_take_strategies_and_values(labels: ak.Labels, sample: ak.Sample,
                                               rule: ak.Rule) -> None:
    assert set(labels) <= {"x", "y"}
    assert sample == ak.Sample("up", 1.0, 5.0, {"job": "api"})
    assert str(rule.condition).startswith('disk{mount="/"}') and rule.for_ == 30.0
