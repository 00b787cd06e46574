"""Time intervals: Alertmanager's conditions, and mute/active windows across DST changes."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

import alertkit as ak
from dispatch_helpers import Sim


def ts(*args: int) -> float:
    return datetime(*args, tzinfo=UTC).timestamp()  # type: ignore[misc]


def test_conditions() -> None:
    ti = ak.TimeInterval(name="x", times=["09:00-17:00"], weekdays=["monday:friday"],
                         days_of_month=["1:10", "-3:-1"], months=["january:march"],
                         years=["2024:2025"])
    assert ti.contains(ts(2024, 1, 2, 9, 0))  # Tuesday
    assert not ti.contains(ts(2024, 1, 2, 17, 0))  # the end is exclusive
    assert not ti.contains(ts(2024, 1, 6, 10, 0))  # Saturday
    assert not ti.contains(ts(2024, 1, 15, 10, 0))  # mid-month
    assert ti.contains(ts(2024, 1, 29, 10, 0))  # third-last day of January (Monday)
    assert ti.contains(ts(2024, 2, 27, 10, 0))  # third-last day of a leap February
    assert not ti.contains(ts(2024, 4, 2, 10, 0))  # April
    assert not ti.contains(ts(2026, 1, 2, 10, 0))  # 2026


def test_weekday_numbers_and_names_and_24_00() -> None:
    ti = ak.TimeInterval(name="sun", weekdays=[0, "saturday"], times=[(1200, 1440)])
    assert ti.contains(ts(2024, 1, 7, 23, 59))  # Sunday
    assert ti.contains(ts(2024, 1, 6, 20, 0))  # Saturday
    assert not ti.contains(ts(2024, 1, 8, 21, 0))  # Monday
    assert ak.TimeInterval(name="always").contains(0.0)


def test_days_past_the_end_of_a_short_month() -> None:
    ti = ak.TimeInterval(name="late", days_of_month=["30:31"])
    assert not ti.contains(ts(2023, 2, 28, 12))  # February has no 30th: the range is skipped
    ti = ak.TimeInterval(name="end", days_of_month=["25:31"])
    assert ti.contains(ts(2023, 2, 28, 12))  # the end is clamped to the month


def test_location_is_read_on_the_local_wall_clock() -> None:
    ti = ak.TimeInterval(name="tokyo", times=["09:00-10:00"], location="Asia/Tokyo")
    assert ti.contains(ts(2024, 1, 1, 0, 30))  # 09:30 in Tokyo
    assert not ti.contains(ts(2024, 1, 1, 9, 30))


def _nightly_sim(day: tuple[int, int, int]) -> list[float]:
    """Hourly notifications (repeat ~ every tick) around one night, muted 00:00-06:00 Berlin."""
    nights = ak.TimeInterval(name="nights", times=["00:00-06:00"], location="Europe/Berlin")
    # The root may not have time intervals (as in Alertmanager): a catch-all child does.
    route = ak.Route(receiver="default", group_wait=0, group_interval="1h", repeat_interval="1s",
                     routes=[ak.Route(mute_time_intervals=["nights"])])
    d = ak.Dispatcher(route, [ak.ReceiverConfig(name="default")], time_intervals=[nights])
    sim = Sim(d)
    start = ts(*day, 20, 0) - 86400  # 20:00 UTC the day before
    sim.fire(start, "Night", since=start, instance="a")
    sim.run(start + 14 * 3600)
    return [datetime.fromtimestamp(t, UTC).hour for t, _ in sim.log]


def test_mute_interval_across_the_spring_dst_change() -> None:
    # 2024-03-31 02:00 CET -> 03:00 CEST: local 00:00-06:00 is 23:00-04:00 UTC (5 hours).
    assert _nightly_sim((2024, 3, 31)) == [20, 21, 22, 4, 5, 6, 7, 8, 9, 10]


def test_mute_interval_across_the_autumn_dst_change() -> None:
    # 2024-10-27 03:00 CEST -> 02:00 CET: local 00:00-06:00 is 22:00-05:00 UTC (7 hours).
    assert _nightly_sim((2024, 10, 27)) == [20, 21, 5, 6, 7, 8, 9, 10]


def test_an_ordinary_night_for_comparison() -> None:
    assert _nightly_sim((2024, 1, 15)) == [20, 21, 22, 5, 6, 7, 8, 9, 10]


def test_active_intervals_send_only_inside_and_several_parts_form_one_name() -> None:
    parts = [ak.TimeInterval(name="office", times=["09:00-12:00"]),
             ak.TimeInterval(name="office", times=["13:00-17:00"])]
    route = ak.Route(receiver="default", group_wait=0, group_interval="1h", repeat_interval="1s",
                     routes=[ak.Route(active_time_intervals=["office"])])
    sim = Sim(ak.Dispatcher(route, [ak.ReceiverConfig(name="default")], time_intervals=parts))
    day = ts(2024, 1, 2, 0, 0)
    sim.fire(day, "Office", instance="a")
    sim.run(day + 23 * 3600)
    assert [datetime.fromtimestamp(t, UTC).hour for t, _ in sim.log] == [9, 10, 11, 13, 14, 15,
                                                                          16]


def test_muted_ticks_drop_resolved_alerts_without_telling_anyone() -> None:
    always = ak.TimeInterval(name="always")
    route = ak.Route(receiver="default", group_wait=1, group_interval=3, routes=[
        ak.Route(matchers=["muted=yes"], mute_time_intervals=["always"])])
    d = ak.Dispatcher(route, [ak.ReceiverConfig(name="default")], time_intervals=[always])
    sim = Sim(d)
    sim.fire(0, "M", muted="yes", instance="a")
    sim.resolve(2, "M", muted="yes", instance="a")
    assert sim.run(10) == []
    assert d.stats(sim.s)["muted_by_time"] >= 1 and sim.s.alerts == {}


@pytest.mark.parametrize(("kwargs", "match"), [
    ({"times": ["17:00-09:00"]}, "before end"),
    ({"times": ["25:00-26:00"]}, "outside"),
    ({"times": ["9-17"]}, "time of day"),
    ({"times": [(1, 2, 3)]}, "pair"),
    ({"weekdays": ["funday"]}, "not a valid value"),
    ({"weekdays": ["friday:monday"]}, "after end"),
    ({"weekdays": [7]}, "outside"),
    ({"days_of_month": [0]}, "outside"),
    ({"days_of_month": ["-3:5"]}, "negative start"),
    ({"days_of_month": [32]}, "outside"),
    ({"months": ["smarch"]}, "not a valid value"),
    ({"months": [13]}, "outside"),
    ({"years": ["2025:2024"]}, "after end"),
    ({"location": "Mars/Olympus"}, "time zone"),
    ({"location": ""}, "time zone"),
    ({"weekdays": 3.5}, "not a list"),
])
def test_bad_time_intervals(kwargs: dict[str, object], match: str) -> None:
    with pytest.raises(ak.ConfigError, match=match):
        ak.TimeInterval(name="bad", **kwargs)  # type: ignore[arg-type]


def test_a_time_interval_needs_a_name() -> None:
    with pytest.raises(ak.ConfigError, match="name"):
        ak.TimeInterval(name="  ")
