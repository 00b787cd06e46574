from __future__ import annotations

import math
import pickle
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

import alertkit as ak


@pytest.mark.parametrize(
    ("text", "seconds"),
    [("90s", 90), ("5m", 300), ("1h30m", 5400), ("1d", 86400), ("250ms", 0.25), ("2w", 1209600),
     ("1y", 31536000), ("300", 300), ("2.5", 2.5), ("1m30s", 90)],
)
def test_prometheus_durations(text: str, seconds: float) -> None:
    assert ak.parse_duration(text) == seconds


def test_durations_from_numbers_and_timedeltas() -> None:
    assert ak.parse_duration(timedelta(minutes=2)) == 120
    assert ak.parse_duration(7) == 7.0
    assert ak.parse_duration(0) == 0.0


@pytest.mark.parametrize("bad", ["5x", "", "m5", "5m1h", "1h 30m", "-5m", -1, math.nan,
                                 math.inf, None, True, [], "5mm"])
def test_bad_durations_name_the_field(bad: object) -> None:
    with pytest.raises(ak.DurationError, match="^for: "):
        ak.parse_duration(bad, field="for")  # type: ignore[arg-type]


def test_zero_duration_can_be_refused() -> None:
    with pytest.raises(ak.DurationError, match="greater than zero"):
        ak.parse_duration("0s", allow_zero=False)


@given(st.integers(min_value=0, max_value=10**9))
def test_format_duration_round_trips(ms: int) -> None:
    assert ak.parse_duration(ak.format_duration(ms / 1000)) == pytest.approx(ms / 1000)


def test_times_accept_datetimes_and_epoch_seconds() -> None:
    aware = datetime(2024, 1, 1, tzinfo=UTC)
    assert ak.to_timestamp(aware) == 1704067200.0
    assert ak.to_timestamp(datetime(2024, 1, 1)) == 1704067200.0  # naive means UTC
    assert ak.to_timestamp(5) == 5.0
    for bad in ["2024", math.nan, math.inf, None, True]:
        with pytest.raises(ak.InvalidSampleError):
            ak.to_timestamp(bad)  # type: ignore[arg-type]


def test_labels_are_order_independent_and_hashable() -> None:
    a = ak.Labels({"b": "2", "a": "1"})
    b = ak.Labels(a="1", b="2")
    assert a == b and hash(a) == hash(b) and a.fingerprint == b.fingerprint
    assert list(a) == ["a", "b"]
    assert a == {"a": "1", "b": "2"}
    assert str(a) == '{a="1", b="2"}'
    assert pickle.loads(pickle.dumps(a)) == a
    with pytest.raises(AttributeError):
        a.x = 1  # type: ignore[attr-defined]


def test_fingerprint_is_stable_across_versions() -> None:
    # Fixed value: a change here breaks every stored state and every idempotency key.
    assert ak.Labels(alertname="HighCPU", host="a").fingerprint == \
        ak.Labels(host="a", alertname="HighCPU").fingerprint
    assert ak.Labels(alertname="HighCPU", host="a").fingerprint == "47fa60244a137347"


def test_empty_label_value_means_no_label() -> None:
    assert ak.Labels(a="1", b="") == ak.Labels(a="1")


@pytest.mark.parametrize("bad", [{"": "x"}, {"1a": "x"}, {"a-b": "x"}, {"a": 1},
                                 {"a": "x" * 5000}, {f"l{i}": "v" for i in range(65)}])
def test_bad_label_sets(bad: dict[str, object]) -> None:
    with pytest.raises(ak.LabelError):
        ak.Labels(bad)  # type: ignore[arg-type]


def test_matchers_are_anchored_and_missing_labels_match_empty() -> None:
    m = ak.Matcher("team", "=~", "db|web")
    assert m.matches("db") and m.matches("web") and not m.matches("dbx")
    assert ak.Matcher("x", "=", "").matches("")
    sel = ak.Selector("cpu", [ak.Matcher("env", "!=", "prod"), ak.Matcher("host", "=~", "web.*")])
    assert sel.matches(ak.Labels(host="web1"))
    assert not sel.matches(ak.Labels(host="web1", env="prod"))
    assert str(sel) == 'cpu{env!="prod", host=~"web.*"}'
    with pytest.raises(ak.RuleError, match="bad regex"):
        ak.Matcher("a", "=~", "(")
    with pytest.raises(ak.RuleError, match="operator"):
        ak.Matcher("a", "~", "x")  # type: ignore[arg-type]


def test_severity_is_ordered() -> None:
    assert ak.Severity.CRITICAL > ak.Severity.HIGH > ak.Severity.MEDIUM > ak.Severity.LOW \
        > ak.Severity.INFO
    assert str(ak.Severity.HIGH) == "high"


@pytest.mark.parametrize("bad", ["1x", "cpu load", "", 3])
def test_bad_metric_names(bad: object) -> None:
    with pytest.raises(ak.LabelError, match="metric name"):
        ak.Selector(bad)  # type: ignore[arg-type]


def test_sample_validates_at_the_edge() -> None:
    s = ak.Sample.of("cpu", 5, datetime(2024, 1, 1, tzinfo=UTC), host="a")
    assert s.value == 5.0 and s.timestamp == 1704067200.0 and s.labels == {"host": "a"}
    assert math.isnan(ak.Sample("cpu", math.nan, 0).value)
    for bad in ["5", None, True, object()]:
        with pytest.raises(ak.InvalidSampleError, match="not a number"):
            ak.Sample("cpu", bad, 0)  # type: ignore[arg-type]
