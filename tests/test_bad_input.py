"""Every bad-input path: a precise AlertkitError, or a counted rejection; nothing lost."""

from __future__ import annotations

import json
import math

import pytest

import alertkit as ak


@pytest.fixture
def ev() -> ak.Evaluator:
    return ak.Evaluator([ak.Rule(name="A", condition=ak.Threshold("cpu", ">", 80))])


@pytest.mark.parametrize("value", ["90", None, True, b"1", object(), [1]])
def test_non_numeric_values(ev: ak.Evaluator, value: object) -> None:
    state = ev.new_state()
    with pytest.raises(ak.InvalidSampleError, match="value: .* is not a number"):
        ev.observe(state, "cpu", value, 0)  # type: ignore[arg-type]
    h = ev.handle(state, "cpu")
    with pytest.raises(ak.InvalidSampleError):
        h.observe(value, 0.0)  # type: ignore[arg-type]


def test_nan_and_inf_are_valid_values(ev: ak.Evaluator) -> None:
    state = ev.new_state()
    ev.observe(state, "cpu", math.nan, 0)
    assert [e.kind.value for e in ev.observe(state, "cpu", math.inf, 1)] == ["firing"]


def test_decimal_like_values_are_accepted(ev: ak.Evaluator) -> None:
    from decimal import Decimal

    state = ev.new_state()
    assert ev.observe(state, "cpu", Decimal("90.5"), 0)[0].alert.value == 90.5  # type: ignore[arg-type]


@pytest.mark.parametrize("ts", [math.nan, math.inf, -math.inf, "now", None])
def test_bad_timestamps(ev: ak.Evaluator, ts: object) -> None:
    state = ev.new_state()
    with pytest.raises(ak.InvalidSampleError):
        ev.observe(state, "cpu", 1, ts)  # type: ignore[arg-type]
    with pytest.raises(ak.InvalidSampleError):
        ev.handle(state, "cpu").observe(1.0, ts)  # type: ignore[arg-type]


def test_out_of_order_and_duplicate_samples_change_nothing(ev: ak.Evaluator) -> None:
    state = ev.new_state()
    h = ev.handle(state, "cpu", {"host": "a"})
    h.observe(50.0, 10.0)
    before = ev.snapshot(state)
    with pytest.raises(ak.OutOfOrderSampleError, match="duplicate sample at 10.0"):
        h.observe(99.0, 10.0)
    with pytest.raises(ak.OutOfOrderSampleError, match="out-of-order sample at 5.0"):
        ev.observe(state, "cpu", 99, 5, {"host": "a"})
    assert ev.snapshot(state) == before
    # other series may still send older timestamps (per-series order only)
    ev.observe(state, "cpu", 1, 5, {"host": "b"})


@pytest.mark.parametrize(("metric", "labels"), [
    ("", {}), ("cpu load", {}), ("1cpu", {}), ("cpu", {"": "x"}), ("cpu", {"a-b": "x"}),
    ("cpu", {"a": 5}), ("cpu", {f"l{i}": "v" for i in range(100)})])
def test_bad_metric_names_and_labels(ev: ak.Evaluator, metric: str,
                                     labels: dict[str, str]) -> None:
    state = ev.new_state()
    with pytest.raises(ak.LabelError):
        ev.observe(state, metric, 1, 0, labels)
    with pytest.raises(ak.LabelError):
        ev.handle(state, metric, labels)
    assert state.series_count() == 0


def test_ticks_may_not_go_back(ev: ak.Evaluator) -> None:
    state = ev.new_state()
    ev.observe(state, "cpu", 1, 100)
    with pytest.raises(ak.TimeWentBackwardsError, match="older than data already seen"):
        ev.tick(state, 99)
    ev.tick(state, 100)


def test_state_of_another_evaluator_is_refused(ev: ak.Evaluator) -> None:
    other = ak.Evaluator([])
    with pytest.raises(ak.AlertkitError, match="another Evaluator"):
        ev.tick(other.new_state(), 0)


def test_batch_ingest_counts_rejections_and_applies_the_rest(ev: ak.Evaluator) -> None:
    state = ev.new_state()
    report = ev.ingest(state, [
        ak.Sample("cpu", 50, 0),
        ("cpu", "high", 1),            # not a number
        ("cpu", 90, 2),                # fires
        ("cpu", 95, 2),                # duplicate timestamp
        ("cpu", 10, 1),                # out of order
        ("bad name", 1, 3),
        "garbage",
        ("cpu", 10, 3),                # resolves
    ])
    assert report.accepted == 3 and not report.ok
    assert [r.index for r in report.rejected] == [1, 3, 4, 5, 6]
    assert [type(r.error) for r in report.rejected] == [
        ak.InvalidSampleError, ak.OutOfOrderSampleError, ak.OutOfOrderSampleError,
        ak.LabelError, ak.InvalidSampleError]
    assert "not a number" in report.rejected[0].reason
    assert [e.kind.value for e in report.events] == ["firing", "resolved"]


@pytest.mark.parametrize(("make", "message"), [
    (lambda: ak.Threshold("cpu", "=>", 1), "operator"),
    (lambda: ak.Threshold("cpu", ">", "90"), "threshold"),
    (lambda: ak.Threshold(5, ">", 1), "metric name or Selector"),
    (lambda: ak.Window("median", "x", "5m"), "aggregation"),
    (lambda: ak.Window("quantile", "x", "5m"), "need q"),
    (lambda: ak.Window("avg", "x", "5m", q=0.5), "need q"),
    (lambda: ak.Consecutive(ak.Threshold("x", ">", 1), 3, 2), "larger than n"),
    (lambda: ak.Consecutive(ak.Threshold("x", ">", 1), 0), "positive integer"),
    (lambda: ak.All(), "at least one"),
    (lambda: ak.All("x > 1"), "not a Condition"),  # type: ignore[arg-type]
    (lambda: ak.Not(5), "not a Condition"),
    (lambda: ak.Rule(name="bad name", condition=ak.Absent("x")), "rule name"),
    (lambda: ak.Rule(name="A", condition=5), "not a Condition"),
    (lambda: ak.Rule(name="A", condition=ak.Absent("x"), severity="urgent"), "severity"),
    (lambda: ak.Rule(name="A", condition=ak.Absent("x"), labels={"alertname": "B"}),
     "alertname"),
    (lambda: ak.Rule(name="A", condition=ak.Absent("x"), no_data="maybe"), "no_data"),
    (lambda: ak.Rule(name="A", condition=ak.Absent("x"), mode="sometimes"), "mode"),
    (lambda: ak.Evaluator([ak.Rule(name="A", condition=ak.Absent("x"))] * 2), "two rules"),
    (lambda: ak.Evaluator(["rule"]), "not a Rule"),  # type: ignore[list-item]
    (lambda: ak.Evaluator([], mode="x"), "mode"),
])
def test_bad_rules(make: object, message: str) -> None:
    with pytest.raises(ak.RuleError, match=message):
        make()  # type: ignore[operator]


def test_bad_durations_in_rules_name_the_field() -> None:
    with pytest.raises(ak.DurationError, match='^for: \'5x\''):
        ak.Rule(name="A", condition=ak.Absent("x"), for_="5x")
    with pytest.raises(ak.DurationError, match="^keep_firing_for"):
        ak.Rule(name="A", condition=ak.Absent("x"), keep_firing_for=-1)
    with pytest.raises(ak.DurationError, match="^stale_after"):
        ak.Rule(name="A", condition=ak.Absent("x"), stale_after="0s")
    with pytest.raises(ak.DurationError, match="^window range: '0s' must be greater than zero"):
        ak.Window("avg", "x", "0s")


def test_corrupt_snapshots(ev: ak.Evaluator) -> None:
    good = json.loads(ev.snapshot(ev.new_state()))
    cases: list[tuple[bytes, str]] = [
        (b"not json", "corrupt"),
        (b"[]", "not an alertkit"),
        (json.dumps({**good, "version": 99}).encode(), "version 99"),
        (json.dumps({**good, "series": [["cpu"]]}).encode(), "corrupt"),
        (json.dumps({**good, "series": [["bad name", {}, 1, 1]]}).encode(), "corrupt"),
        (json.dumps({**good, "rules": {"A": {"signature": "", "tracks": [[{}, ["?"], []]]}}})
         .encode(), "corrupt"),
    ]
    for data, message in cases:
        with pytest.raises(ak.SnapshotError, match=message):
            ev.restore(data)


def test_keyword_matcher_must_match_its_keyword() -> None:
    with pytest.raises(ak.RuleError, match="keyword foo= was given a matcher for label 'code'"):
        ak.rate("x", "5m", foo=ak.Matcher("code", "=~", "5.."))
    assert ak.rate("x", "5m", code=ak.Matcher("code", "=~", "5..")).selector.matchers == (
        ak.Matcher("code", "=~", "5.."),)
