"""PagerDuty Events API v2 against a real HTTP server on 127.0.0.1."""

from __future__ import annotations

import json
import threading
from typing import Any
from urllib.parse import urlencode

import attrs
import httpx
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pytest_httpserver import HTTPServer
from werkzeug import Request, Response

import alertkit as ak
import alertkit.notify.channels
from alertkit.notify.pagerduty import PagerDutyConfig, PagerDutyNotifier
from alertkit.notify.registry import default_registry
from delivery_helpers import alert, closed_port, notification

pytestmark = pytest.mark.anyio

T0 = 1_700_000_000.0
KEY = "R0ut1ngKeyS3cretR0ut1ngKeyS3cret"  # 32 characters


def pd(httpserver: HTTPServer, **kw: Any) -> PagerDutyNotifier:
    return PagerDutyNotifier(PagerDutyConfig(routing_key=KEY,
                                             base_url=httpserver.url_for(""), **kw))


async def send(notifier: PagerDutyNotifier, n: ak.Notification,
               timeout: float = 5.0) -> ak.DeliveryResult:
    async with httpx.AsyncClient() as client:
        return await notifier.send(n, ak.DeliveryContext(http=client, now=T0, timeout=timeout))


def bodies(httpserver: HTTPServer) -> list[dict[str, Any]]:
    return [json.loads(req.get_data()) for req, _ in httpserver.log]


ACCEPTED = {"status": "success", "message": "Event processed", "dedup_key": "x"}


async def test_a_firing_alert_is_a_trigger_event(httpserver: HTTPServer) -> None:
    httpserver.expect_request("/v2/enqueue", method="POST").respond_with_json(ACCEPTED, 202)
    a = alert(severity=ak.Severity.CRITICAL, instance="10.0.0.1:9100")
    n = notification(firing=[a])
    notifier = pd(httpserver, client="Grafana", client_url="https://grafana.example/d/1?x=1",
                  links=[("https://wiki.example/cpu", "Wiki")])
    result = await send(notifier, n)
    assert result == ak.Delivered(status_code=202)
    [(req, _)] = httpserver.log
    assert req.method == "POST" and req.path == "/v2/enqueue" and req.query_string == b""
    assert req.headers["Content-Type"] == "application/json"
    assert json.loads(req.get_data()) == {
        "routing_key": KEY,
        "event_action": "trigger",
        "dedup_key": f"alertkit/{a.fingerprint}",
        "payload": {
            "summary": "HighCPU: web1 is busy",
            "source": "10.0.0.1:9100",
            "severity": "critical",
            "timestamp": "1970-01-01T00:17:40Z",  # fired_at = 1,060 s
            "class": "HighCPU",
            "custom_details": {
                "labels": {"alertname": "HighCPU", "host": "web1",
                           "instance": "10.0.0.1:9100"},
                "annotations": {"summary": "web1 is busy"},
                "value": 95.0,
                "active_since": "1970-01-01T00:16:40Z",
                "receiver": "ops",
                "group_key": "ops/g1",
            },
        },
        "client": "Grafana",
        "client_url": "https://grafana.example/d/1?x=1",
        "links": [{"href": "https://wiki.example/cpu", "text": "Wiki"}],
    }


@pytest.mark.parametrize(("severity", "expected"), [
    (ak.Severity.CRITICAL, "critical"), (ak.Severity.HIGH, "error"),
    (ak.Severity.MEDIUM, "warning"), (ak.Severity.LOW, "info"), (ak.Severity.INFO, "info"),
])
def test_severity_mapping(severity: ak.Severity, expected: str) -> None:
    notifier = PagerDutyNotifier(PagerDutyConfig(routing_key=KEY))
    [event] = notifier.events(notification(firing=[alert(severity=severity)]))
    assert event["payload"]["severity"] == expected


async def test_several_alerts_send_one_event_each_in_order(httpserver: HTTPServer) -> None:
    httpserver.expect_request("/v2/enqueue").respond_with_json(ACCEPTED, 202)
    a, b, c = alert(host="web1"), alert(host="web2"), alert(host="web3", firing=False)
    result = await send(pd(httpserver), notification(firing=[a, b], resolved=[c]))
    assert result == ak.Delivered(status_code=202, detail="3 requests accepted")
    sent = bodies(httpserver)
    assert [(e["event_action"], e["dedup_key"]) for e in sent] == [
        ("trigger", f"alertkit/{a.fingerprint}"), ("trigger", f"alertkit/{b.fingerprint}"),
        ("resolve", f"alertkit/{c.fingerprint}")]
    assert sent[2] == {"routing_key": KEY, "event_action": "resolve",
                       "dedup_key": f"alertkit/{c.fingerprint}"}


async def test_resolved_events_can_be_turned_off(httpserver: HTTPServer) -> None:
    n = notification(firing=[], resolved=[alert(firing=False)])
    result = await send(pd(httpserver, send_resolved=False), n)
    assert result == ak.Delivered(detail="nothing to send")
    assert httpserver.log == []


async def test_a_429_stops_and_retries_at_retry_after(httpserver: HTTPServer) -> None:
    httpserver.expect_ordered_request("/v2/enqueue").respond_with_json(ACCEPTED, 202)
    httpserver.expect_ordered_request("/v2/enqueue").respond_with_json(
        {"status": "throttle event", "message": "Requests for this service are arriving too "
         "quickly. Please retry later."}, 429, headers={"Retry-After": "30"})
    n = notification(firing=[alert(host="web1"), alert(host="web2"), alert(host="web3")])
    result = await send(pd(httpserver), n)
    assert isinstance(result, ak.Retry)
    assert result.status_code == 429 and result.retry_at == T0 + 30
    assert result.reason.startswith("event 2/3 (trigger alertkit/")
    assert "HTTP 429: Requests for this service are arriving too quickly" in result.reason
    assert len(httpserver.log) == 2  # the third event waits for the retry


@pytest.mark.parametrize("status", [500, 502, 503, 504])
async def test_5xx_is_retried(httpserver: HTTPServer, status: int) -> None:
    httpserver.expect_request("/v2/enqueue").respond_with_data("oops", status)
    result = await send(pd(httpserver), notification())
    assert result == ak.Retry(f"HTTP {status}: oops", status_code=status)


async def test_400_is_permanent_and_the_other_events_still_go(httpserver: HTTPServer) -> None:
    # The server echoes the routing key, as some proxies do: it must not reach the result.
    httpserver.expect_ordered_request("/v2/enqueue").respond_with_json(
        {"status": "invalid event", "message": "Event object is invalid",
         "errors": [f"Invalid routing key {KEY}"]}, 400)
    httpserver.expect_ordered_request("/v2/enqueue").respond_with_json(ACCEPTED, 202)
    n = notification(firing=[alert(host="web1"), alert(host="web2")])
    result = await send(pd(httpserver), n)
    assert isinstance(result, ak.Failed) and result.status_code == 400
    assert result.reason.endswith("HTTP 400: Event object is invalid; Invalid routing key ***")
    assert result.reason.startswith("event 1/2 (trigger alertkit/")
    assert KEY not in repr(result)
    assert len(httpserver.log) == 2


async def test_a_timeout_is_retried(httpserver: HTTPServer) -> None:
    release = threading.Event()

    def stall(request: Request) -> Response:
        release.wait(5)
        return Response("late", 202)

    httpserver.expect_request("/v2/enqueue").respond_with_handler(stall)
    try:
        result = await send(pd(httpserver), notification(), timeout=0.2)
    finally:
        release.set()
    assert isinstance(result, ak.Retry) and result.reason.startswith("timeout")


async def test_connection_refused_is_retried() -> None:
    notifier = PagerDutyNotifier(PagerDutyConfig(
        routing_key=KEY, base_url=f"http://127.0.0.1:{closed_port()}"))
    result = await send(notifier, notification())
    assert isinstance(result, ak.Retry) and "ConnectError" in result.reason
    assert KEY not in repr(result)


async def test_acknowledge_by_alert_and_by_key(httpserver: HTTPServer) -> None:
    httpserver.expect_request("/v2/enqueue").respond_with_json(ACCEPTED, 202)
    a = alert()
    notifier = pd(httpserver)
    async with httpx.AsyncClient() as client:
        ctx = ak.DeliveryContext(http=client, now=T0)
        assert await notifier.acknowledge(a, ctx) == ak.Delivered(status_code=202)
        assert await notifier.acknowledge("my-key", ctx) == ak.Delivered(status_code=202)
        with pytest.raises(ak.NotifierConfigError, match="dedup_key is 256 characters"):
            await notifier.acknowledge("k" * 256, ctx)
        with pytest.raises(ak.NotifierConfigError, match="dedup_key must be a string"):
            await notifier.acknowledge(42, ctx)  # type: ignore[arg-type]
    assert bodies(httpserver) == [
        {"routing_key": KEY, "event_action": "acknowledge",
         "dedup_key": f"alertkit/{a.fingerprint}"},
        {"routing_key": KEY, "event_action": "acknowledge", "dedup_key": "my-key"},
    ]


def test_the_summary_is_cut_at_1024_with_a_marker() -> None:
    a = alert()
    long = ak.Alert(fingerprint=a.fingerprint, rule=a.rule, labels=a.labels,
                    annotations={"summary": "x" * 5000}, state=a.state, severity=a.severity,
                    value=float("nan"), active_at=a.active_at, fired_at=a.fired_at)
    n = notification(firing=[long])
    n = attrs.evolve(n, truncated=7)
    [event] = PagerDutyNotifier(PagerDutyConfig(routing_key=KEY)).events(n)
    summary = event["payload"]["summary"]
    assert len(summary) == 1024 and summary.endswith("…(truncated)")
    assert summary.startswith("HighCPU: xxx")
    assert event["payload"]["custom_details"]["alerts_not_shown"] == 7
    assert event["payload"]["custom_details"]["value"] == "nan"  # JSON has no NaN
    json.dumps(event, allow_nan=False)


def test_runbook_and_dashboard_annotations_become_links() -> None:
    a = alert()
    a = ak.Alert(fingerprint=a.fingerprint, rule=a.rule, labels=a.labels,
                 annotations={"runbook_url": "https://run.example/cpu",
                              "dashboard_url": "not a url"},
                 state=a.state, severity=a.severity, value=1.0, active_at=a.active_at)
    [event] = PagerDutyNotifier(PagerDutyConfig(routing_key=KEY)).events(
        notification(firing=[a]))
    assert event["links"] == [{"href": "https://run.example/cpu", "text": "Runbook"}]
    assert event["payload"]["summary"] == "HighCPU host=web1"
    assert event["payload"]["source"] == "web1"
    assert event["payload"]["timestamp"] == "1970-01-01T00:16:40Z"  # never fired: active_at


def test_component_and_group_from_labels() -> None:
    notifier = PagerDutyNotifier(PagerDutyConfig(routing_key=KEY, component_label="service",
                                                 group_label="job"))
    [with_both, without] = notifier.events(notification(firing=[
        alert(host="a", service="checkout", job="node"), alert(host="b")]))
    assert (with_both["payload"]["component"], with_both["payload"]["group"]) == (
        "checkout", "node")
    assert "component" not in without["payload"] and "group" not in without["payload"]


def test_regions_and_repr() -> None:
    us = PagerDutyNotifier(PagerDutyConfig(routing_key=KEY))
    eu = PagerDutyNotifier(PagerDutyConfig(routing_key=KEY, region="eu"))
    assert us.config.endpoint == "https://events.pagerduty.com/v2/enqueue"
    assert eu.config.endpoint == "https://events.eu.pagerduty.com/v2/enqueue"
    for obj in (us, eu, us.config, eu.config):
        assert KEY not in repr(obj)
    assert "***" in repr(us)


def test_from_url_round_trips_to_the_same_config() -> None:
    url = (f"pagerduty://{KEY}?region=eu&source=db1&client=Grafana"
           "&client_url=https%3A%2F%2Fgrafana.example%2F&dedup_prefix=prod&send_resolved=no"
           "&component_label=service&group_label=job")
    assert PagerDutyNotifier.from_url(url).config == PagerDutyConfig(
        routing_key=KEY, region="eu", source="db1", client="Grafana",
        client_url="https://grafana.example/", dedup_prefix="prod", send_resolved=False,
        component_label="service", group_label="job")
    via_registry = default_registry.from_url(f"pagerduty://{KEY}", region="eu")
    assert isinstance(via_registry, PagerDutyNotifier)
    assert via_registry.config == PagerDutyConfig(routing_key=KEY, region="eu")


@pytest.mark.parametrize(("kwargs", "match"), [
    ({"routing_key": "short"}, "routing_key is not valid"),
    ({"routing_key": "x" * 31 + " "}, "routing_key must be a non-empty token"),
    ({"routing_key": 42}, "routing_key must be a string"),
    ({"region": "ap"}, "region 'ap' is not one of"),
    ({"base_url": "ftp://x"}, "base_url"),
    ({"base_url": "http://h/?token=1"}, "base_url"),
    ({"source": ""}, "source must not be empty"),
    ({"client": "a\nb"}, "client must not contain control characters"),
    ({"client_url": "nope"}, "client_url"),
    ({"links": "https://x"}, "links must be a list"),
    ({"links": [("https://x",)]}, "links must be a list"),
    ({"links": [("javascript:x", "t")]}, "link href"),
    ({"dedup_prefix": ""}, "dedup_prefix"),
    ({"component_label": ""}, "component_label must not be empty"),
    ({"group_label": 3}, "group_label must be a string"),
    ({"send_resolved": "yes"}, "send_resolved"),
])
def test_bad_config(kwargs: dict[str, Any], match: str) -> None:
    with pytest.raises(ak.NotifierConfigError, match=match) as info:
        PagerDutyConfig(**{"routing_key": KEY, **kwargs})
    assert KEY.lower() not in str(info.value).lower()


@pytest.mark.parametrize(("url", "match"), [
    (f"pagerduty://{KEY}/extra", "must be pagerduty://ROUTING_KEY"),
    (f"pagerduty://user@{KEY}", "must be pagerduty://ROUTING_KEY"),
    (f"pagerduty://{KEY}?colour=red", "unknown option 'colour'"),
    (f"pagerduty://{KEY}?send_resolved=maybe", "not a yes/no flag"),
    (f"pagerduty://{KEY}?region=eu&region=us", "given twice"),
    (f"opsgenie://{KEY}", "scheme 'opsgenie'"),
    (f"pagerduty://{KEY}#frag", "fragment"),
    ("pagerduty://", "routing_key"),
])
def test_bad_urls(url: str, match: str) -> None:
    with pytest.raises(ak.NotifierConfigError, match=match) as info:
        PagerDutyNotifier.from_url(url)
    assert KEY.lower() not in str(info.value).lower()


def test_bad_event_arguments() -> None:
    notifier = PagerDutyNotifier(PagerDutyConfig(routing_key=KEY))
    with pytest.raises(ak.NotifierConfigError, match="'firing' or 'resolved', not 'pending'"):
        notifier.event(alert(), "pending")


def test_not_a_config() -> None:
    with pytest.raises(ak.NotifierConfigError, match="needs a PagerDutyConfig"):
        PagerDutyNotifier({"routing_key": KEY})  # type: ignore[arg-type]


@settings(max_examples=40, deadline=None)
@given(st.lists(st.sampled_from(list(ak.Severity)), min_size=1, max_size=6),
       st.integers(0, 3))
def test_events_one_per_alert_with_stable_distinct_keys(
        severities: list[ak.Severity], resolved: int) -> None:
    alerts = [alert(host=f"h{i}", severity=s) for i, s in enumerate(severities)]
    n = notification(firing=alerts[resolved:], resolved=[
        alert(host=f"h{i}", firing=False) for i in range(min(resolved, len(alerts)))])
    notifier = PagerDutyNotifier(PagerDutyConfig(routing_key=KEY))
    events = notifier.events(n)
    assert len(events) == len(n.firing) + len(n.resolved)
    keys = [e["dedup_key"] for e in events]
    assert len(set(keys)) == len(keys) and keys == [e["dedup_key"]
                                                     for e in notifier.events(n)]
    for e in events:
        assert len(e["dedup_key"]) <= 255
        if e["event_action"] == "trigger":
            assert len(e["payload"]["summary"]) <= 1024
            json.dumps(e, allow_nan=False)


_text = st.text(alphabet=st.characters(codec="utf-8", exclude_categories=["Cc", "Cs"]),
                min_size=1, max_size=40)


@settings(max_examples=60, deadline=None)
@given(key=st.from_regex(r"[A-Za-z0-9]{32}", fullmatch=True),
       region=st.sampled_from(["us", "eu"]), source=st.one_of(st.none(), _text),
       client=_text, prefix=_text, send_resolved=st.booleans())
def test_from_url_round_trips_any_text_options(key: str, region: str, source: str | None,
                                               client: str, prefix: str,
                                               send_resolved: bool) -> None:
    options = {"region": region, "client": client, "dedup_prefix": prefix,
               "send_resolved": "yes" if send_resolved else "no"}
    if source is not None:
        options["source"] = source
    url = f"pagerduty://{key}?{urlencode(options)}"
    assert PagerDutyNotifier.from_url(url).config == PagerDutyConfig(
        routing_key=key, region=region, source=source, client=client, dedup_prefix=prefix,
        send_resolved=send_resolved)
