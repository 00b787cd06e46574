"""Every validation of the dispatcher's configuration and calls raises a precise error."""

from __future__ import annotations

import math
from typing import Any

import pytest

import alertkit as ak
from dispatch_helpers import am, firing

R = [ak.ReceiverConfig(name="default"), ak.ReceiverConfig(name="db")]


@pytest.mark.parametrize(("kwargs", "match"), [
    ({"receiver": 3}, "Route.receiver"),
    ({"receiver": ""}, "Route.receiver"),
    ({"matchers": ["team"]}, "not a matcher"),
    ({"matchers": ['team=~"("']}, "bad regex"),
    ({"matchers": ["1team=x"]}, "not a matcher"),
    ({"matchers": ['team="unterminated']}, "unterminated"),
    ({"matchers": ['team="a"b"']}, "unescaped quote"),
    ({"matchers": ['team="a\\q"']}, "bad escape"),
    ({"matchers": [42]}, "not a Matcher"),
    ({"matchers": "team=db"}, "not a list of matchers"),
    ({"matchers": {"bad-name": "x"}}, "not valid"),
    ({"group_by": "alertname"}, "group_by"),
    ({"group_by": ["...", "alertname"]}, "cannot be mixed"),
    ({"group_by": ["bad-name"]}, "not a valid label name"),
    ({"group_by": ["a", "a"]}, "twice"),
    ({"group_wait": "5x"}, "Route.group_wait"),
    ({"group_wait": -1}, "Route.group_wait"),
    ({"group_interval": 0}, "Route.group_interval.*greater than zero"),
    ({"repeat_interval": "0s"}, "Route.repeat_interval.*greater than zero"),
    ({"repeat_interval": math.nan}, "Route.repeat_interval"),
    ({"continue_": "yes"}, "continue_"),
    ({"routes": ak.Route()}, "Route.routes"),
    ({"routes": [{"receiver": "db"}]}, r"Route.routes\[0\]"),
    ({"mute_time_intervals": "nights"}, "mute_time_intervals"),
    ({"active_time_intervals": [""]}, "active_time_intervals"),
])
def test_bad_routes(kwargs: dict[str, Any], match: str) -> None:
    with pytest.raises(ak.ConfigError, match=match):
        ak.Route(**kwargs)


@pytest.mark.parametrize(("route", "match"), [
    (ak.Route(), "route.receiver: the root route must name a receiver"),
    (ak.Route(receiver="default", matchers=["a=1"]), "must not have matchers"),
    (ak.Route(receiver="default", continue_=True), "cannot continue"),
    (ak.Route(receiver="default", mute_time_intervals=["n"]), "time intervals"),
    (ak.Route(receiver="pager"), r"route.receiver: 'pager' is not a receiver \(known: db, "
                                 r"default\)"),
    (ak.Route(receiver="default", routes=[ak.Route(), ak.Route(routes=[
        ak.Route(receiver="pager")])]), r"route.routes\[1\].routes\[0\].receiver: 'pager'"),
    (ak.Route(receiver="default", routes=[ak.Route(mute_time_intervals=["n"])]),
     r"route.routes\[0\].mute_time_intervals\[0\]: no time interval named 'n'"),
    ("not a route", "is not a Route"),
])
def test_bad_trees(route: Any, match: str) -> None:
    with pytest.raises(ak.ConfigError, match=match):
        ak.Dispatcher(route, R)


@pytest.mark.parametrize(("kwargs", "match"), [
    ({"name": ""}, "ReceiverConfig.name"),
    ({"name": "x", "max_alerts": -1}, "max_alerts"),
    ({"name": "x", "max_alerts": True}, "max_alerts"),
    ({"name": "x", "send_resolved": 1}, "send_resolved"),
    ({"name": "x", "rate_limit": 5}, "rate_limit"),
    ({"name": "x", "recipient_rate_limit": ak.RateLimit(1, 1)}, "needs recipient_by"),
    ({"name": "x", "recipient_by": ["bad-name"]}, "recipient_by"),
    ({"name": "x", "recipient_by": 3}, "recipient_by"),
])
def test_bad_receivers(kwargs: dict[str, Any], match: str) -> None:
    with pytest.raises(ak.ConfigError, match=match):
        ak.ReceiverConfig(**kwargs)


@pytest.mark.parametrize(("args", "match"), [
    ((0.5, 1), "capacity"),
    ((1, 0), "per_second"),
    ((1, math.inf), "per_second"),
    ((True, 1), "not a number"),
    (("5", 1), "not a number"),
])
def test_bad_rate_limits(args: tuple[Any, Any], match: str) -> None:
    with pytest.raises(ak.ConfigError, match=match):
        ak.RateLimit(*args)


def test_bad_rate_limit_period() -> None:
    with pytest.raises(ak.ConfigError, match="period"):
        ak.RateLimit.per(5, "0s")


@pytest.mark.parametrize(("kwargs", "match"), [
    ({"source_matchers": [], "target_matchers": ["a=1"]}, "source_matchers"),
    ({"source_matchers": ["a=1"], "target_matchers": []}, "target_matchers"),
    ({"source_matchers": ["a=1"], "target_matchers": ["b=1"], "equal": "cluster"}, "equal"),
    ({"source_matchers": ["a=1"], "target_matchers": ["b=1"], "equal": ["bad-name"]}, "equal"),
    ({"source_matchers": ["a~1"], "target_matchers": ["b=1"]}, "source_matchers"),
])
def test_bad_inhibit_rules(kwargs: dict[str, Any], match: str) -> None:
    with pytest.raises(ak.ConfigError, match=match):
        ak.InhibitRule(**kwargs)


@pytest.mark.parametrize(("kwargs", "match"), [
    ({"receivers": "default"}, "receivers: 'default' is not a list"),
    ({"receivers": [ak.ReceiverConfig(name="default")] * 2}, "two receivers"),
    ({"receivers": ["default"]}, r"receivers\[0\]"),
    ({"time_intervals": ["n"]}, r"time_intervals\[0\]"),
    ({"inhibit_rules": [{"source": 1}]}, r"inhibit_rules\[0\]"),
    ({"cooldowns": ["Rule"]}, "cooldowns"),
    ({"cooldowns": {"Rule": "soon"}}, r"cooldowns\['Rule'\]"),
    ({"cooldowns": {"": 10}}, "rule name"),
    ({"resolve_timeout": 0}, "resolve_timeout"),
    ({"retention": "forever"}, "retention"),
])
def test_bad_dispatcher_arguments(kwargs: dict[str, Any], match: str) -> None:
    args: dict[str, Any] = {"receivers": [ak.ReceiverConfig(name="default")], **kwargs}
    with pytest.raises(ak.ConfigError, match=match):
        ak.Dispatcher(ak.Route(receiver="default"), **args)


@pytest.mark.parametrize(("kwargs", "match"), [
    ({"matchers": []}, "at least one matcher"),
    ({"matchers": ['a=~".*"', 'b=""']}, "must not match the empty string"),
    ({"matchers": ["a~1"]}, "not a matcher"),
    ({"matchers": ["a=1"], "ends_at": 5, "starts_at": 8}, "not after starts_at"),
    ({"matchers": ["a=1"], "ends_at": -5}, "in the past"),
    ({"matchers": ["a=1"], "ends_at": "tomorrow"}, "not a time"),
    ({"matchers": ["a=1"], "now": math.nan}, "finite"),
    ({"matchers": ["a=1"], "created_by": 7}, "created_by"),
    ({"matchers": ["a=1"], "comment": None}, "comment"),
    ({"matchers": ["a=1"], "id": ""}, "id"),
    ({"matchers": ["a=1"], "id": "taken"}, "exists already"),
])
def test_bad_silences(kwargs: dict[str, Any], match: str) -> None:
    d = am()
    s = d.new_state()
    d.create_silence(s, ["x=1"], ends_at=100, now=0, id="taken")
    args: dict[str, Any] = {"ends_at": 100, "now": 0, **kwargs}
    with pytest.raises(ak.SilenceError, match=match):
        d.create_silence(s, args.pop("matchers"), **args)


def test_bad_silence_calls() -> None:
    d = am()
    s = d.new_state()
    d.create_silence(s, ["x=1"], ends_at=100, now=0, id="a")
    d.create_silence(s, ["x=2"], ends_at=100, now=0, id="b")
    with pytest.raises(ak.SilenceError, match="no silence with id 'zz'"):
        d.get_silence(s, "zz")
    with pytest.raises(ak.SilenceError, match="no silence"):
        d.update_silence(s, "zz", now=1)
    with pytest.raises(ak.SilenceError, match="no silence"):
        d.expire_silence(s, "zz", 1)
    with pytest.raises(ak.SilenceError, match="exists already"):
        d.update_silence(s, "a", now=1, matchers=["x=3"], new_id="b")
    with pytest.raises(ak.SilenceError, match="in the past"):
        d.update_silence(s, "a", now=50, ends_at=10)
    with pytest.raises(ak.SilenceError, match="status"):
        d.silences(s, 0, status="sleeping")


def test_bad_alert_input() -> None:
    d = am()
    s = d.new_state()
    with pytest.raises(TypeError, match="not an AlertEvent"):
        d.apply(s, "fire!")  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="not an Alert"):
        d.ingest_alert(s, "alert", 0)  # type: ignore[arg-type]
    with pytest.raises(ak.InvalidSampleError, match="now"):
        d.ingest_alert(s, firing("A", 0).alert, math.inf)
    with pytest.raises(ak.InvalidSampleError, match="ends_at"):
        d.ingest_alert(s, firing("A", 0).alert, 0, ends_at="later")  # type: ignore[arg-type]
    with pytest.raises(ak.InvalidSampleError, match="now"):
        d.advance(s, "now")  # type: ignore[arg-type]
    with pytest.raises(ak.LabelError):
        d.receivers_for({"bad-name": "x"})
