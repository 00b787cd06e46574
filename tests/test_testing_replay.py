"""alertkit.testing.replay: deterministic replay, the Timeline's queries and assertions."""

from __future__ import annotations

import itertools
import math
from datetime import UTC, datetime
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import alertkit as ak
from alertkit.testing import STALE, Series, Timeline, parse_series_name, replay
from alertkit.testing import strategies as aks

HIGH = ak.Rule(name="HighCPU", condition="cpu > 90", for_="2m")


def cpu(values: list[float | None], step: float = 60.0, host: str = "a"
        ) -> dict[str, list[tuple[float, float | None]]]:
    return {f'cpu{{host="{host}"}}': [(i * step, v) for i, v in enumerate(values)]}


# -- the basics ---------------------------------------------------------------------------


def test_pending_then_firing_then_resolved() -> None:
    tl = replay(HIGH, cpu([50, 95, 96, 97, 10]), ticks="1m")
    assert [(e.at, e.kind.value) for e in tl.events] == [
        (60.0, "pending"), (180.0, "firing"), (240.0, "resolved")]
    assert tl.pending_periods("HighCPU") == [(60.0, 180.0)]
    assert tl.firing_periods("HighCPU") == [(180.0, 240.0)]
    assert tl.first_firing_at("HighCPU") == 180.0
    assert tl.first_firing_at("HighCPU", after=181) is None
    assert tl.fired("HighCPU")
    assert tl.fired("HighCPU", between=(200, 300))
    assert tl.fired("HighCPU", between=("3m", "3m"))  # closed interval: the firing instant
    assert not tl.fired("HighCPU", between=("4m", "10m"))  # resolved at 4m: not firing then
    assert tl.never_fired("HighCPU", between=(0, 179))
    assert tl.fired("HighCPU", labels={"host": "a"})
    assert not tl.fired("HighCPU", labels={"host": "b"})
    assert (tl.start, tl.end, tl.interval) == (0.0, 240.0, 60.0)
    assert tl.rules == ("HighCPU",)


def test_alerts_at_reports_state_after_the_evaluation_at_that_instant() -> None:
    tl = replay(HIGH, cpu([50, 95, 96, 97, 10]), ticks="1m")
    assert tl.alerts_at(59) == []
    [pending] = tl.alerts_at(60)
    assert pending.state is ak.AlertState.PENDING and pending.value == 95.0
    [firing] = tl.alerts_at("3m")
    assert firing.state is ak.AlertState.FIRING and firing.fired_at == 180.0
    assert tl.alerts_at(240) == []
    assert tl.alerts_at(200, rule="HighCPU") == [firing]


def test_for_progresses_on_ticks_without_new_samples() -> None:
    # One sample, then only ticks: the alert fires once `for` has passed while the sample is
    # fresh (5m lookback), and resolves when it goes stale.
    tl = replay(HIGH, cpu([95]), ticks="1m", end="10m")
    assert tl.firing_periods("HighCPU") == [(120.0, 360.0)]


def test_without_ticks_only_samples_evaluate() -> None:
    tl = replay(HIGH, cpu([95, 95, 95]))
    assert tl.interval is None
    assert tl.first_firing_at("HighCPU") == 120.0


def test_absence_fires_with_ticks_only() -> None:
    rule = ak.Rule(name="NoHeartbeat", condition="absent(heartbeat)", for_="1m")
    tl = replay(rule, {"heartbeat": [(0, 1)]}, ticks="1m", end="15m")
    # the sample stops counting after 5m (at 301s): absent at the 6m tick, firing 1m later
    assert tl.first_firing_at("NoHeartbeat") == 420.0
    assert tl.pending_periods("NoHeartbeat") == [(360.0, 420.0)]


def test_tick_mode_sees_only_values_at_ticks() -> None:
    rule = ak.Rule(name="Spike", condition="cpu > 90", mode="tick")
    points = {"cpu": [(0, 10), (30, 99), (40, 10), (60, 10)]}
    assert replay(rule, points, ticks="1m").never_fired("Spike")
    assert replay(rule.__class__(name="Spike", condition="cpu > 90"), points,
                  ticks="1m").fired("Spike")


def test_samples_at_an_instant_are_fed_before_the_tick_there() -> None:
    rule = ak.Rule(name="Hot", condition="t > 1", mode="tick")
    tl = replay(rule, {"t": [(0, 0), (60, 5)]}, ticks="1m")
    assert tl.first_firing_at("Hot") == 60.0


def test_input_forms_give_the_same_timeline() -> None:
    values = [50.0, 95.0, 96.0, 97.0, 10.0]
    as_map = replay(HIGH, cpu(values), ticks="1m")
    samples = [ak.Sample.of("cpu", v, i * 60, host="a") for i, v in enumerate(values)]
    triples = [('cpu{host="a"}', i * 60, v) for i, v in enumerate(values)]
    quads = [("cpu", {"host": "a"}, i * 60, v) for i, v in enumerate(values)]
    notation = replay(HIGH, {'cpu{host="a"}': "50 95+1x2 10"}, ticks="1m")
    for other in (samples, triples, quads):
        assert replay(HIGH, other, ticks="1m").events == as_map.events
    assert notation.events == as_map.events


def test_unsorted_input_is_replayed_in_time_order() -> None:
    quads = [("cpu", {"host": "a"}, t, v) for t, v in [(120, 96), (0, 50), (60, 95)]]
    assert replay(HIGH, quads, ticks="1m", end=180).first_firing_at("HighCPU") == 180.0


def test_series_notation_steps_from_start() -> None:
    tl = replay(HIGH, {"cpu": "95x3"}, ticks="1m", start=1000)
    assert tl.series[("cpu", ak.Labels())] == [(1000.0, 95.0), (1060.0, 95.0),
                                               (1120.0, 95.0), (1180.0, 95.0)]
    assert tl.first_firing_at("HighCPU") == 1120.0


def test_staleness_marker_ends_the_series_at_the_next_evaluation() -> None:
    rule = ak.Rule(name="Hot", condition="cpu > 90")
    with_marker = replay(rule, {"cpu": "95 95 stale"}, ticks="1m", end="10m")
    assert with_marker.firing_periods("Hot") == [(0.0, 120.0)]
    same = replay(rule, {"cpu": [(0, 95), (60, 95), (120, STALE)]}, ticks="1m", end="10m")
    assert same.events == with_marker.events
    # without the marker the last sample counts for the 5m lookback
    without = replay(rule, {"cpu": "95 95"}, ticks="1m", end="10m")
    assert without.firing_periods("Hot") == [(0.0, 420.0)]


def test_a_sample_after_a_staleness_marker_brings_the_series_back() -> None:
    rule = ak.Rule(name="Hot", condition="cpu > 90")
    tl = replay(rule, {"cpu": "95 stale _ _ 95"}, ticks="1m", end="5m")
    assert tl.firing_periods("Hot") == [(0.0, 60.0), (240.0, None)]


def test_staleness_marker_makes_absent_true() -> None:
    rule = ak.Rule(name="Gone", condition="absent(up)")
    tl = replay(rule, {"up": "1 1 stale"}, ticks="1m", end="3m")
    assert tl.first_firing_at("Gone") == 120.0


def test_datetimes_are_accepted() -> None:
    t0 = datetime(2026, 1, 1, tzinfo=UTC)
    tl = replay(HIGH, {"cpu": [(t0, 95)]}, ticks="1m", start=t0, end=t0.timestamp() + 600)
    assert tl.first_firing_at("HighCPU") == t0.timestamp() + 120
    assert tl.fired("HighCPU", between=(t0, t0.timestamp() + 130))


def test_rules_from_a_file(tmp_path: Path) -> None:
    path = tmp_path / "rules.toml"
    path.write_text('[[groups]]\nname = "g"\n[[groups.rules]]\nname = "HighCPU"\n'
                    'expr = "cpu > 90"\nfor = "2m"\n')
    tl = replay(path, cpu([95, 95, 95]), ticks="1m")
    assert tl.first_firing_at("HighCPU") == 120.0


def test_mode_and_stale_after_reach_the_evaluator() -> None:
    rule = ak.Rule(name="Hot", condition="cpu > 90")
    tl = replay(rule, {"cpu": [(0, 95), (30, 95)]}, ticks="1m", mode="tick", stale_after="1m",
                end="5m")
    assert tl.firing_periods("Hot") == [(0.0, 120.0)]


def test_label_sets_and_events_of() -> None:
    data = {**cpu([95, 95, 95], host="a"), **cpu([10, 95, 95], host="b")}
    tl = replay(ak.Rule(name="Hot", condition="cpu > 90"), data)
    assert [ls["host"] for ls in tl.label_sets("Hot")] == ["a", "b"]
    assert [e.at for e in tl.events_of("Hot", labels={"host": "b"})] == [60.0]
    assert tl.events_of("Hot", between=(1, 100))[0].alert.labels["host"] == "b"


def test_progress_is_reported_in_simulated_seconds() -> None:
    seen: list[tuple[float, float]] = []
    replay(HIGH, {"cpu": "1x999"}, ticks="1m", progress=lambda d, t: seen.append((d, t)))
    assert seen[-1] == (59940.0, 59940.0)
    assert 50 <= len(seen) <= 110
    assert [d for d, _ in seen] == sorted(d for d, _ in seen)
    assert all(t == 59940.0 for _, t in seen)


def test_an_empty_replay() -> None:
    tl = replay(HIGH, {})
    assert (tl.start, tl.end, tl.events) == (0.0, 0.0, [])
    assert tl.never_fired("HighCPU")
    assert repr(tl) == "<Timeline 0..0 rules=1 events=0 notifications=0>"


# -- the dispatcher -----------------------------------------------------------------------


def test_notifications_are_recorded_at_the_times_they_would_be_sent() -> None:
    tl = replay(HIGH, cpu([50, 95, 96, 97, 10]), ticks="1m", receivers=["ops"], end="15m")
    ops = tl.notifications_to("ops")
    assert [(n.created_at, n.status) for n in ops] == [(210.0, "firing"), (510.0, "resolved")]
    assert ops[0].firing[0].labels["host"] == "a"
    assert tl.receivers == ("ops",)


def test_notifications_due_after_the_end_are_not_sent() -> None:
    tl = replay(HIGH, cpu([50, 95, 96, 97]), ticks="1m", receivers=["ops"])
    assert tl.notifications == []  # group_wait (30s) ends after the last instant
    longer = replay(HIGH, cpu([50, 95, 96, 97]), ticks="1m", receivers=["ops"], end=210)
    assert len(longer.notifications) == 1


def test_repeat_interval_applies_because_notifications_count_as_delivered() -> None:
    route = ak.Route(receiver="ops", group_wait="10s", group_interval="1m",
                     repeat_interval="10m")
    rule = ak.Rule(name="Hot", condition="cpu > 90")
    tl = replay(rule, {"cpu": "95x40"}, ticks="1m", routes=route)
    assert [n.created_at for n in tl.notifications_to("ops")] == [10.0, 670.0, 1330.0, 1990.0]


def test_routes_choose_the_receiver() -> None:
    route = ak.Route(receiver="default", group_wait=0, routes=[
        ak.Route(matchers=['host="b"'], receiver="pager")])
    data = {**cpu([95, 95], host="a"), **cpu([95, 95], host="b")}
    tl = replay(ak.Rule(name="Hot", condition="cpu > 90"), data, routes=route, end=60)
    assert [n.firing[0].labels["host"] for n in tl.notifications_to("pager")] == ["b"]
    assert [n.firing[0].labels["host"] for n in tl.notifications_to("default")] == ["a"]
    assert tl.receivers == ("default", "pager")


def test_a_ready_made_dispatcher() -> None:
    disp = ak.Dispatcher(ak.Route(receiver="x", group_wait=0), [ak.ReceiverConfig(name="x")])
    tl = replay(ak.Rule(name="Hot", condition="cpu > 90"), {"cpu": [(0, 95)]}, dispatcher=disp)
    assert [n.receiver for n in tl.notifications] == ["x"]


def test_format_lists_events_and_notifications_in_time_order() -> None:
    tl = replay(HIGH, cpu([50, 95, 96, 97, 10]), ticks="1m", receivers=["ops"], end="15m")
    assert tl.format().splitlines() == [
        't=60 (+1m): pending   HighCPU{host="a", severity="medium"} value=95',
        't=180 (+3m): firing    HighCPU{host="a", severity="medium"} value=97',
        "t=210 (+3m30s): notify    ops [firing] 1 firing, 0 resolved (group {}:{})",
        't=240 (+4m): resolved  HighCPU{host="a", severity="medium"} value=97',
        "t=510 (+8m30s): notify    ops [resolved] 0 firing, 1 resolved (group {}:{})",
    ]


# -- assertions and their messages --------------------------------------------------------


def test_assert_fired_passes_and_fails_with_the_events_near_the_period() -> None:
    tl = replay(HIGH, cpu([50, 95, 96, 97, 10]), ticks="1m")
    tl.assert_fired("HighCPU", between=("3m", "4m"))
    with pytest.raises(AssertionError) as info:
        tl.assert_fired("HighCPU", labels={"host": "a"}, between=("5m", "10m"))
    assert str(info.value) == (
        'expected HighCPU{host="a"} to fire between t=300 (+5m) and t=600 (+10m), but it did '
        "not.\n"
        "Events of HighCPU near that period:\n"
        '  t=60 (+1m): pending   HighCPU{host="a", severity="medium"} value=95\n'
        '  t=180 (+3m): firing    HighCPU{host="a", severity="medium"} value=97\n'
        '  t=240 (+4m): resolved  HighCPU{host="a", severity="medium"} value=97')


def test_assert_fired_names_other_label_sets_when_these_had_no_events() -> None:
    tl = replay(HIGH, cpu([95, 95, 95]), ticks="1m")
    with pytest.raises(AssertionError, match=r'produced no events for these labels in the '
                       r'whole replay .*other label sets: \{host="a", severity="medium"\}'):
        tl.assert_fired("HighCPU", labels={"host": "b"})


def test_assert_never_fired_lists_the_firing_periods() -> None:
    tl = replay(HIGH, cpu([95, 95, 95, 95]), ticks="1m")
    tl.assert_never_fired("HighCPU", between=(0, 119))
    with pytest.raises(AssertionError) as info:
        tl.assert_never_fired("HighCPU")
    assert str(info.value).splitlines()[:2] == [
        "expected HighCPU never to fire, but it did:",
        '  HighCPU{host="a", severity="medium"} fired from t=120 (+2m) to the end of the replay',
    ]


def test_failure_messages_stay_short_on_long_replays() -> None:
    rule = ak.Rule(name="Flappy", condition="cpu > 90")
    tl = replay(rule, {"cpu": "95 10 " * 500}, ticks="1m")
    with pytest.raises(AssertionError) as info:
        tl.assert_never_fired("Flappy")
    assert len(str(info.value).splitlines()) < 150
    assert "more periods" in str(info.value)
    with pytest.raises(AssertionError) as info:
        tl.assert_fired("Flappy", between=(1030, 1070))
    text = str(info.value)
    assert "events further away not shown" in text
    assert len(text.splitlines()) < 20


# -- bad input ----------------------------------------------------------------------------


@pytest.mark.parametrize(("series", "message"), [
    ({'cpu{host=~"a"}': [(0, 1)]}, r'label matcher host=~"a" must be an equality'),
    ({'cpu{host="a",host="b"}': [(0, 1)]}, "label 'host' is given twice"),
    ({"rate(cpu[5m])": [(0, 1)]}, "is not a series"),
    ({"cpu{": [(0, 1)]}, "is not a series: line 1"),
    ({"cpu": [(0, 1, 2)]}, r"series 'cpu'\[0\]: \(0, 1, 2\) is not a \(time, value\) pair"),
    ({"cpu": [(0, "x")]}, r"series 'cpu'\[0\]: value: 'x' is not a number"),
    ({"cpu": [(math.nan, 1)]}, "is not a finite time"),
    ({"cpu": 5}, "is not a list of"),
    ({"cpu": [(0, 1), (0, 2)]}, "two points at t=0"),
    ({"cpu": "1 2"}, r"series notation \('1 2'\) needs ticks="),
    ([("cpu", 0)], r"series\[0\]: \('cpu', 0\) is not a Sample"),
    ([("cpu", "host", 0, 1)], r"series\[0\]: labels 'host' are not a mapping"),
    ([("c-p-u", {}, 0, 1)], r"series\[0\]: metric name 'c-p-u' is not valid"),
    ([("cpu", {"a-b": "1"}, 0, 1)], r"series\[0\]: label name 'a-b' is not valid"),
    (42, "is not a mapping of series name"),
    ("cpu", "is not a mapping of series name"),
])
def test_bad_series_raise_clear_errors(series: object, message: str) -> None:
    with pytest.raises(ak.InvalidSampleError, match=message):
        replay(HIGH, series)  # type: ignore[arg-type]


def test_bad_notation_raises_the_notation_error() -> None:
    with pytest.raises(ak.AlertkitError, match="1x"):
        replay(HIGH, {"cpu": "1x"}, ticks="1m")


def test_samples_outside_start_and_end_are_rejected() -> None:
    with pytest.raises(ak.InvalidSampleError, match=r"cpu\{\}: sample at t=0 is before start=60"):
        replay(HIGH, {"cpu": [(0, 1)]}, start=60)
    with pytest.raises(ak.InvalidSampleError, match=r"sample at t=120 is after end=60"):
        replay(HIGH, {"cpu": [(0, 1), (120, 1)]}, end=60)
    with pytest.raises(ak.TimeWentBackwardsError, match="end 10 is before start 20"):
        replay(HIGH, {}, start=20, end=10)


def test_bad_options_raise_clear_errors() -> None:
    with pytest.raises(ak.DurationError, match="ticks"):
        replay(HIGH, {}, ticks="soon")
    with pytest.raises(ak.DurationError, match="ticks: 0 must be greater than zero"):
        replay(HIGH, {}, ticks=0)
    with pytest.raises(ak.ConfigError, match="tick-mode rules are evaluated only at ticks"):
        replay(HIGH, {}, mode="tick")
    with pytest.raises(ak.RuleError, match="mode 'often'"):
        replay(HIGH, {}, mode="often")
    with pytest.raises(ak.RuleError, match=r"rules\[1\]: 'x' is not a Rule"):
        replay([HIGH, "x"], {})  # type: ignore[list-item]
    with pytest.raises(ak.RuleError, match="is not a Rule, a list of rules"):
        replay(42, {})  # type: ignore[arg-type]
    with pytest.raises(ak.RuleError, match="two rules are named"):
        replay([HIGH, HIGH], {})
    with pytest.raises(ak.InvalidSampleError, match="start"):
        replay(HIGH, {}, start="noon")  # type: ignore[arg-type]


def test_bad_dispatcher_options_raise_config_errors() -> None:
    disp = ak.Dispatcher(ak.Route(receiver="x"), [ak.ReceiverConfig(name="x")])
    with pytest.raises(ak.ConfigError, match="either dispatcher= or routes="):
        replay(HIGH, {}, dispatcher=disp, receivers=["x"])
    with pytest.raises(ak.ConfigError, match="is not a Dispatcher"):
        replay(HIGH, {}, dispatcher="x")  # type: ignore[arg-type]
    with pytest.raises(ak.ConfigError, match="receivers: empty"):
        replay(HIGH, {}, receivers=[])
    with pytest.raises(ak.ConfigError, match="is not a list of receiver names"):
        replay(HIGH, {}, receivers="ops")
    with pytest.raises(ak.ConfigError, match="is not a Route"):
        replay(HIGH, {}, routes="ops")  # type: ignore[arg-type]
    with pytest.raises(ak.ConfigError, match="'pager' is not a receiver"):
        replay(HIGH, {}, routes=ak.Route(receiver="pager"), receivers=["ops"])


def test_queries_about_unknown_rules_or_receivers_raise() -> None:
    tl = replay(HIGH, cpu([95]))
    with pytest.raises(ak.RuleError, match=r"no rule named 'HighCPUU' was replayed \(rules: "
                       r"HighCPU\)"):
        tl.assert_never_fired("HighCPUU")
    with pytest.raises(ak.RuleError):
        tl.alerts_at(0, rule="nope")
    with pytest.raises(ak.ConfigError, match="this replay had no dispatcher"):
        tl.notifications_to("ops")
    with_ops = replay(HIGH, cpu([95]), receivers=["ops"])
    with pytest.raises(ak.ConfigError, match=r"no receiver named 'pager' \(receivers: ops\)"):
        with_ops.notifications_to("pager")


def test_bad_query_times_raise() -> None:
    tl = replay(HIGH, cpu([95]))
    with pytest.raises(ak.TimeWentBackwardsError, match="end 10 is before start 20"):
        tl.fired("HighCPU", between=(20, 10))
    with pytest.raises(ak.TimeWentBackwardsError, match="is not a .start, end. pair"):
        tl.fired("HighCPU", between=(1, 2, 3))  # type: ignore[arg-type]
    with pytest.raises(ak.DurationError):
        tl.fired("HighCPU", between=("5x", "6m"))
    with pytest.raises(ak.InvalidSampleError):
        tl.time(math.inf)


def test_parse_series_name() -> None:
    assert parse_series_name('up{job="api", instance="x:1"}') == (
        "up", ak.Labels(job="api", instance="x:1"))
    assert parse_series_name("up") == ("up", ak.Labels())
    with pytest.raises(ak.InvalidSampleError, match="is not a string"):
        parse_series_name(5)  # type: ignore[arg-type]


# -- properties ---------------------------------------------------------------------------

_values = st.lists(st.one_of(st.none(), st.sampled_from([0.0, 50.0, 95.0, math.nan])),
                   max_size=25)
_rule = st.builds(
    ak.Rule, name=st.just("R"),
    condition=st.sampled_from(["x > 90", "avg_over_time(x[2m]) > 60", "absent(x)",
                               "x > 90 and x < 99", "count_over_time(x[3m]) >= 2"]),
    for_=st.sampled_from([0, 60, 120]), keep_firing_for=st.sampled_from([0, 60]),
    mode=st.sampled_from([None, "tick"]))


def _by_hand(rule: ak.Rule, values: list[float | None]) -> list[ak.AlertEvent]:
    """The evaluator driven directly: sample, then tick, at each step."""
    ev = ak.Evaluator([rule])
    state = ev.new_state()
    events: list[ak.AlertEvent] = []
    for i in range(len(values) + 6):
        t = i * 60.0
        v = values[i] if i < len(values) else None
        if v is not None:
            events.extend(ev.observe(state, "x", v, t))
        events.extend(ev.tick(state, t))
    return events


@settings(max_examples=60, deadline=None)
@given(_rule, _values)
def test_replay_equals_driving_the_evaluator_by_hand(rule: ak.Rule,
                                                      values: list[float | None]) -> None:
    points = [(i * 60.0, v) for i, v in enumerate(values) if v is not None]
    tl = replay(rule, {"x": points}, ticks="1m", start=0, end=(len(values) + 5) * 60)
    assert tl.events == _by_hand(rule, values)


@settings(max_examples=60, deadline=None)
@given(_rule, _values, st.floats(0, 2000))
def test_timeline_queries_agree_with_each_other(rule: ak.Rule, values: list[float | None],
                                                at: float) -> None:
    points = [(i * 60.0, v) for i, v in enumerate(values) if v is not None]
    tl = replay(rule, {"x": points}, ticks="1m", start=0, end=2000)
    again = replay(rule, {"x": points}, ticks="1m", start=0, end=2000)
    assert again.events == tl.events  # deterministic
    periods = tl.firing_periods("R")
    for (s1, e1), (s2, _) in itertools.pairwise(periods):
        assert e1 is not None and s1 < e1 <= s2  # one label set: periods never overlap
    firing_now = [a for a in tl.alerts_at(at) if a.state is ak.AlertState.FIRING]
    in_period = any(s <= at and (e is None or at < e) for s, e in periods)
    assert bool(firing_now) == in_period == tl.fired("R", between=(at, at))
    first = tl.first_firing_at("R")
    assert first == (periods[0][0] if periods else None)
    pending_now = [a for a in tl.alerts_at(at) if a.state is ak.AlertState.PENDING]
    assert bool(pending_now) == any(s <= at and (e is None or at < e)
                                    for s, e in tl.pending_periods("R"))


def test_timeline_is_constructible_for_tools() -> None:
    tl = Timeline(rules=["R"], events=[], notifications=[], start=5.0, end=6.0, interval=None,
                  series={}, receivers=None)
    assert tl.time("1s") == 6.0 and tl.never_fired("R")


def test_ticks_may_be_given_as_times() -> None:
    rule = ak.Rule(name="Hot", condition="cpu > 90", mode="tick")
    tl = replay(rule, {"cpu": [(0, 95), (50, 10)]}, ticks=[40, 10, 70, 40])
    assert tl.interval is None and (tl.start, tl.end) == (0.0, 70.0)
    assert tl.firing_periods("Hot") == [(10.0, 70.0)]
    only_ticks = replay(ak.Rule(name="Gone", condition="absent(up)"), {}, ticks=[5, 6])
    assert (only_ticks.start, only_ticks.end) == (5.0, 6.0)
    assert only_ticks.first_firing_at("Gone") == 5.0


def test_bad_tick_lists_raise() -> None:
    with pytest.raises(ak.TimeWentBackwardsError, match=r"ticks: 0..100 is not within "
                       r"start=0 and end=50"):
        replay(HIGH, {}, ticks=[0, 100], end=50)
    with pytest.raises(ak.InvalidSampleError, match="ticks"):
        replay(HIGH, {}, ticks=[0, "soon"])
    with pytest.raises(ak.DurationError, match="is not an interval or a list of tick times"):
        replay(HIGH, {}, ticks=object())  # type: ignore[arg-type]


def test_resolved_retention_reaches_the_evaluator() -> None:
    with pytest.raises(ak.DurationError, match="resolved_retention"):
        replay(HIGH, {}, resolved_retention="later")
    rule = ak.Rule(name="Hot", condition="cpu > 90", for_="1m")
    tl = replay(rule, {"cpu": "95 95 10 _ _ 95 95"}, ticks="1m", resolved_retention="1m")
    assert [e.kind.value for e in tl.events] == ["pending", "firing", "resolved", "pending",
                                                 "firing"]


@settings(max_examples=40, deadline=None)
@given(aks.series_sets(aks.shapes(0, 100), name="cpu", count=(1, 3), gaps=True, length=(1, 40)),
       st.sampled_from([0.0, 30.0, 60.0]))
def test_notifications_follow_the_timeline(group: tuple[Series, ...], wait: float) -> None:
    rule = ak.Rule(name="Hot", condition="cpu > 70", for_="1m")
    route = ak.Route(receiver="ops", group_by=["host"], group_wait=wait, group_interval="2m",
                     repeat_interval="1h")
    tl = replay(rule, group, ticks="1m", routes=route, end="50m")
    for n in tl.notifications:
        [alert] = n.alerts  # grouped by host: one alert per notification
        host = {"host": alert.labels["host"]}
        # a firing notification is sent while the alert fires (a resolved one after), and
        # never before group_wait has passed since it started firing
        if n.status == "firing":
            assert tl.fired("Hot", labels=host, between=(n.created_at, n.created_at))
        else:
            assert not tl.fired("Hot", labels=host, between=(n.created_at, n.created_at))
        first = tl.first_firing_at("Hot", labels=host)
        assert first is not None and n.created_at >= first + wait
    for ls in tl.label_sets("Hot"):
        host = {"host": ls["host"]}
        sent = [n for n in tl.notifications if n.alerts[0].labels["host"] == ls["host"]]
        periods = tl.firing_periods("Hot", labels=host)
        if periods:
            start, stop = periods[0]
            # still firing when group_wait ends (events at an instant come before the
            # dispatcher's flush at that instant): announced, not lost
            if start + wait <= tl.end and (stop is None or stop > start + wait):
                assert sent and sent[0].status == "firing"


def test_a_staleness_marker_survives_a_snapshot_of_the_evaluator_state() -> None:
    ev = ak.Evaluator([ak.Rule(name="Hot", condition="cpu > 90")], mode="tick")
    state = ev.new_state()
    ev.observe(state, "cpu", 95.0, 0.0, {"host": "a"})
    series = state.series["cpu"][ak.Labels(host="a")]
    series.stale_t = 30.0  # what replay() does with a marker
    restored = ev.restore(ev.snapshot(state))
    assert restored.series["cpu"][ak.Labels(host="a")].stale_t == 30.0
    assert ev.snapshot(restored) == ev.snapshot(state)
    ev.tick(restored, 60.0)
    assert ev.alerts(restored) == []  # the instant lookup ends at the marker
