"""Opsgenie Alert API against a real HTTP server on 127.0.0.1."""

from __future__ import annotations

import json
import threading
from typing import Any

import attrs
import httpx
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pytest_httpserver import HTTPServer
from werkzeug import Request, Response

import alertkit as ak
from alertkit.notify.opsgenie import OpsgenieConfig, OpsgenieNotifier
from alertkit.notify.registry import default_registry
from delivery_helpers import alert, closed_port, notification

pytestmark = pytest.mark.anyio

T0 = 1_700_000_000.0
KEY = "eb243592-faa2-4ba2-a551-1afdf565c889"
ACCEPTED = {"result": "Request will be processed", "took": 0.302,
            "requestId": "43a29c5c-3dbf-4fa4-9c26-f4f71023e120"}


def og(httpserver: HTTPServer, **kw: Any) -> OpsgenieNotifier:
    return OpsgenieNotifier(OpsgenieConfig(api_key=KEY, base_url=httpserver.url_for(""), **kw))


async def send(notifier: OpsgenieNotifier, n: ak.Notification,
               timeout: float = 5.0) -> ak.DeliveryResult:
    async with httpx.AsyncClient() as client:
        return await notifier.send(n, ak.DeliveryContext(http=client, now=T0, timeout=timeout))


async def test_a_firing_alert_creates_an_opsgenie_alert(httpserver: HTTPServer) -> None:
    httpserver.expect_request("/v2/alerts", method="POST").respond_with_json(ACCEPTED, 202)
    a = alert(severity=ak.Severity.CRITICAL)
    n = notification(firing=[a])
    result = await send(og(httpserver, tags=["prod"], teams=["sre", "db"]), n)
    assert result == ak.Delivered(status_code=202)
    [(req, _)] = httpserver.log
    assert req.method == "POST" and req.path == "/v2/alerts" and req.query_string == b""
    assert req.headers["Authorization"] == f"GenieKey {KEY}"
    assert req.headers["Content-Type"] == "application/json"
    assert json.loads(req.get_data()) == {
        "message": "HighCPU: web1 is busy",
        "alias": f"alertkit-{a.fingerprint}",
        "description": "summary: web1 is busy\n\nLabels:\n  alertname=HighCPU\n  host=web1\n"
                       "Value: 95.0\nActive since: 1970-01-01T00:16:40Z",
        "tags": ["prod", "critical"],
        "details": {"alertname": "HighCPU", "host": "web1", "value": "95.0",
                    "receiver": "ops", "group_key": "ops/g1"},
        "priority": "P1",
        "source": "alertkit",
        "entity": "web1",
        "responders": [{"type": "team", "name": "sre"}, {"type": "team", "name": "db"}],
    }


@pytest.mark.parametrize(("severity", "priority"), [
    (ak.Severity.CRITICAL, "P1"), (ak.Severity.HIGH, "P2"), (ak.Severity.MEDIUM, "P3"),
    (ak.Severity.LOW, "P4"), (ak.Severity.INFO, "P5"),
])
def test_priority_mapping(severity: ak.Severity, priority: str) -> None:
    notifier = OpsgenieNotifier(OpsgenieConfig(api_key=KEY))
    body = notifier.payload(alert(severity=severity))
    assert body["priority"] == priority and body["tags"] == [str(severity)]


async def test_resolved_alerts_are_closed_by_alias(httpserver: HTTPServer) -> None:
    httpserver.expect_request("/v2/alerts").respond_with_json(ACCEPTED, 202)
    a = alert(firing=False)
    alias = f"alertkit-{a.fingerprint}"
    httpserver.expect_request(f"/v2/alerts/{alias}/close",
                              query_string="identifierType=alias").respond_with_json(ACCEPTED, 202)
    b = alert(host="web9")
    result = await send(og(httpserver), notification(firing=[b], resolved=[a]))
    assert result == ak.Delivered(status_code=202, detail="2 requests accepted")
    (create, _), (close, _) = httpserver.log
    assert create.path == "/v2/alerts"
    assert json.loads(create.get_data())["alias"] == f"alertkit-{b.fingerprint}"
    assert close.path == f"/v2/alerts/{alias}/close"
    assert close.query_string == b"identifierType=alias"
    assert close.headers["Authorization"] == f"GenieKey {KEY}"
    assert json.loads(close.get_data()) == {"source": "alertkit",
                                            "note": "Resolved at 1970-01-01T00:26:40Z"}


async def test_acknowledge(httpserver: HTTPServer) -> None:
    a = alert()
    httpserver.expect_request(f"/v2/alerts/alertkit-{a.fingerprint}/acknowledge",
                              query_string="identifierType=alias").respond_with_json(ACCEPTED, 202)
    # werkzeug decodes %2F in the path it matches; the raw request line is checked below.
    httpserver.expect_request("/v2/alerts/a/b/acknowledge").respond_with_json(ACCEPTED, 202)
    notifier = og(httpserver, source="me")
    async with httpx.AsyncClient() as client:
        ctx = ak.DeliveryContext(http=client, now=T0)
        assert await notifier.acknowledge(a, ctx) == ak.Delivered(status_code=202)
        assert await notifier.acknowledge("a/b", ctx, note="on it") == ak.Delivered(202)
        with pytest.raises(ak.NotifierConfigError, match="alias is 513 characters"):
            await notifier.acknowledge("x" * 513, ctx)
        with pytest.raises(ak.NotifierConfigError, match="note must not be empty"):
            await notifier.acknowledge(a, ctx, note="")
    (first, _), (second, _) = httpserver.log
    assert json.loads(first.get_data()) == {"source": "me", "note": "Acknowledged via alertkit"}
    assert second.environ["RAW_URI"] == "/v2/alerts/a%2Fb/acknowledge?identifierType=alias"
    assert json.loads(second.get_data()) == {"source": "me", "note": "on it"}


async def test_429_stops_and_retries_at_retry_after(httpserver: HTTPServer) -> None:
    httpserver.expect_ordered_request("/v2/alerts").respond_with_json(
        {"message": "You are making too many requests!", "took": 0.0, "requestId": "r"}, 429,
        headers={"Retry-After": "12"})
    n = notification(firing=[alert(host="a"), alert(host="b")])
    result = await send(og(httpserver), n)
    assert isinstance(result, ak.Retry) and result.retry_at == T0 + 12
    assert result.status_code == 429
    assert result.reason.startswith("request 1/2 (create alertkit-")
    assert result.reason.endswith("HTTP 429: You are making too many requests!")
    assert len(httpserver.log) == 1


@pytest.mark.parametrize("status", [500, 503])
async def test_5xx_is_retried(httpserver: HTTPServer, status: int) -> None:
    httpserver.expect_request("/v2/alerts").respond_with_data("<html>down</html>", status)
    result = await send(og(httpserver), notification())
    assert result == ak.Retry(f"HTTP {status}: <html>down</html>", status_code=status)


async def test_422_and_401_are_permanent_with_the_service_message(
        httpserver: HTTPServer) -> None:
    httpserver.expect_ordered_request("/v2/alerts").respond_with_json(
        {"message": "Request body is not processable. Please check the errors.",
         "errors": {"message": "Message can not be empty."}, "took": 0.1, "requestId": "r"},
        422)
    httpserver.expect_ordered_request("/v2/alerts").respond_with_json(
        {"message": f"Key format is not valid: {KEY}", "took": 0.0, "requestId": "r"}, 401)
    n = notification(firing=[alert(host="a"), alert(host="b")])
    result = await send(og(httpserver), n)
    assert isinstance(result, ak.Failed) and result.status_code == 422
    assert "HTTP 422: Request body is not processable. Please check the errors.; " \
           "message: Message can not be empty." in result.reason
    assert "HTTP 401: Key format is not valid: ***" in result.reason
    assert KEY not in repr(result)


async def test_timeout_and_refused_connection_are_retried(httpserver: HTTPServer) -> None:
    release = threading.Event()

    def stall(request: Request) -> Response:
        release.wait(5)
        return Response("{}", 202)

    httpserver.expect_request("/v2/alerts").respond_with_handler(stall)
    try:
        result = await send(og(httpserver), notification(), timeout=0.2)
    finally:
        release.set()
    assert isinstance(result, ak.Retry) and result.reason.startswith("request") is False
    assert result.reason.startswith("timeout")
    refused = OpsgenieNotifier(OpsgenieConfig(api_key=KEY,
                                              base_url=f"http://127.0.0.1:{closed_port()}"))
    result = await send(refused, notification())
    assert isinstance(result, ak.Retry) and "ConnectError" in result.reason


def test_every_kind_of_responder() -> None:
    notifier = OpsgenieNotifier(OpsgenieConfig(
        api_key=KEY, teams=["sre"], users=["ann@example.com"], escalations=["night"],
        schedules=["primary"]))
    assert notifier.payload(alert())["responders"] == [
        {"type": "team", "name": "sre"},
        {"type": "user", "username": "ann@example.com"},
        {"type": "escalation", "name": "night"},
        {"type": "schedule", "name": "primary"},
    ]
    assert OpsgenieNotifier.from_url(
        f"opsgenie://{KEY}?teams=sre&users=ann%40example.com&escalations=night"
        "&schedules=primary").config == notifier.config


def test_limits_message_130_description_15000_with_markers() -> None:
    a = alert()
    big = ak.Alert(fingerprint=a.fingerprint, rule=a.rule, labels=a.labels,
                   annotations={"summary": "s" * 500, "description": "d" * 20_000},
                   state=a.state, severity=a.severity, value=1.0, active_at=a.active_at)
    n = attrs.evolve(notification(firing=[big]), truncated=4)
    body = OpsgenieNotifier(OpsgenieConfig(api_key=KEY)).payload(big, n)
    assert len(body["message"]) == 130 and body["message"].endswith("…(truncated)")
    assert len(body["description"]) == 15_000
    assert body["description"].endswith("…(truncated)")
    small = OpsgenieNotifier(OpsgenieConfig(api_key=KEY)).payload(a, n)
    assert small["description"].endswith("… and 4 more alert(s) of this group not sent")


def test_regions_and_repr_hide_the_key() -> None:
    us = OpsgenieNotifier(OpsgenieConfig(api_key=KEY))
    eu = OpsgenieNotifier(OpsgenieConfig(api_key=KEY, region="eu"))
    assert us.config.api_url == "https://api.opsgenie.com/v2/alerts"
    assert eu.config.api_url == "https://api.eu.opsgenie.com/v2/alerts"
    for obj in (us, eu, us.config, eu.config):
        assert KEY not in repr(obj)


def test_from_url_round_trips() -> None:
    url = (f"opsgenie://{KEY}?region=eu&tags=prod,web&teams=sre&source=ak&entity=e1"
           "&alias_prefix=prod&send_resolved=false")
    assert OpsgenieNotifier.from_url(url).config == OpsgenieConfig(
        api_key=KEY, region="eu", tags=("prod", "web"), teams=("sre",), source="ak",
        entity="e1", alias_prefix="prod", send_resolved=False)
    made = default_registry.from_url(f"opsgenie://{KEY}", teams=["ops"])
    assert isinstance(made, OpsgenieNotifier)
    assert made.config == OpsgenieConfig(api_key=KEY, teams=("ops",))


@pytest.mark.parametrize(("kwargs", "match"), [
    ({"api_key": ""}, "api_key must be a non-empty token"),
    ({"api_key": None}, "api_key must be a string"),
    ({"region": "apac"}, "region"),
    ({"base_url": "api.opsgenie.com"}, "base_url"),
    ({"tags": "prod"}, "tags must be a list"),
    ({"tags": ["has space"]}, "tags item"),
    ({"tags": [f"t{i}" for i in range(20)]}, "at most 19 tags"),
    ({"teams": [""]}, "teams item must not be empty"),
    ({"users": "ann@example.com"}, "users must be a list"),
    ({"escalations": ["e" * 101]}, "escalations item is 101 characters"),
    ({"schedules": [None]}, "schedules item must be a string"),
    ({"source": ""}, "source"),
    ({"entity": "x" * 513}, "entity is 513 characters"),
    ({"alias_prefix": "a/b"}, "alias_prefix"),
    ({"send_resolved": 1}, "send_resolved"),
])
def test_bad_config(kwargs: dict[str, Any], match: str) -> None:
    with pytest.raises(ak.NotifierConfigError, match=match):
        OpsgenieConfig(**{"api_key": KEY, **kwargs})


@pytest.mark.parametrize(("url", "match"), [
    (f"opsgenie://{KEY}/x", "must be opsgenie://API_KEY"),
    (f"opsgenie://{KEY}?priority=P1", "unknown option 'priority'"),
    ("opsgenie://", "api_key"),
])
def test_bad_urls(url: str, match: str) -> None:
    with pytest.raises(ak.NotifierConfigError, match=match) as info:
        OpsgenieNotifier.from_url(url)
    assert KEY.lower() not in str(info.value).lower()


@settings(max_examples=40, deadline=None)
@given(st.text(max_size=300), st.sampled_from(list(ak.Severity)))
def test_payload_fields_always_within_limits(summary: str, severity: ak.Severity) -> None:
    a = alert(severity=severity)
    a = ak.Alert(fingerprint=a.fingerprint, rule=a.rule, labels=a.labels,
                 annotations={"summary": summary}, state=a.state, severity=severity,
                 value=float("inf"), active_at=a.active_at)
    body = OpsgenieNotifier(OpsgenieConfig(api_key=KEY)).payload(a)
    assert 0 < len(body["message"]) <= 130
    assert len(body["description"]) <= 15_000 and len(body["alias"]) <= 512
    assert all(isinstance(v, str) for v in body["details"].values())
    json.dumps(body, allow_nan=False)
