"""Pushover against a real HTTP server on 127.0.0.1."""

from __future__ import annotations

import threading
from typing import Any
from urllib.parse import parse_qsl

import attrs
import httpx
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pytest_httpserver import HTTPServer
from werkzeug import Request, Response

import alertkit as ak
from alertkit.notify.pushover import PushoverConfig, PushoverNotifier
from alertkit.notify.registry import default_registry
from delivery_helpers import alert, closed_port, notification

pytestmark = pytest.mark.anyio

T0 = 1_700_000_000.0
TOKEN = "azGDORePK8gMaC0QOYAMyEEuzJnyUi"
USER = "uQiRzpo4DXghDmr9QzzfQu27cmVRsG"
OK = {"status": 1, "request": "647d2300-702c-4b38-8b2f-d56326ae460b"}


def po(httpserver: HTTPServer, **kw: Any) -> PushoverNotifier:
    return PushoverNotifier(PushoverConfig(token=TOKEN, user=USER,
                                           base_url=httpserver.url_for(""), **kw))


async def send(notifier: PushoverNotifier, n: ak.Notification,
               timeout: float = 5.0) -> ak.DeliveryResult:
    async with httpx.AsyncClient() as client:
        return await notifier.send(n, ak.DeliveryContext(http=client, now=T0, timeout=timeout))


def form(req: Request) -> dict[str, str]:
    return dict(parse_qsl(req.get_data(as_text=True), keep_blank_values=True))


async def test_an_emergency_message(httpserver: HTTPServer) -> None:
    httpserver.expect_request("/1/messages.json", method="POST").respond_with_json(OK)
    n = notification(firing=[alert(severity=ak.Severity.CRITICAL),
                             alert(host="db<1>", severity=ak.Severity.MEDIUM)],
                     texts={"title": "[FIRING:2] HighCPU"})
    notifier = po(httpserver, device="phone,tablet", sound="siren", retry=30, expire=600,
                  url="https://grafana.example/d/1?var=x", url_title="Dashboard")
    result = await send(notifier, n)
    assert result == ak.Delivered(200, detail=f"request {OK['request']}")
    [(req, _)] = httpserver.log
    assert req.method == "POST" and req.path == "/1/messages.json"
    assert req.headers["Content-Type"] == "application/x-www-form-urlencoded"
    assert form(req) == {
        "token": TOKEN,
        "user": USER,
        "title": "[FIRING:2] HighCPU",
        "message": '<font color="#d00000"><b>FIRING CRITICAL</b></font> HighCPU: web1 is busy\n'
                   '<font color="#daa038"><b>FIRING MEDIUM</b></font> HighCPU: db&lt;1&gt; is '
                   'busy',
        "html": "1",
        "priority": "2",
        "timestamp": "2000",
        "retry": "30",
        "expire": "600",
        "device": "phone,tablet",
        "sound": "siren",
        "url": "https://grafana.example/d/1?var=x",
        "url_title": "Dashboard",
    }


@pytest.mark.parametrize(("severity", "priority"), [
    (ak.Severity.CRITICAL, 2), (ak.Severity.HIGH, 1), (ak.Severity.MEDIUM, 0),
    (ak.Severity.LOW, -1), (ak.Severity.INFO, -2),
])
def test_priority_mapping(severity: ak.Severity, priority: int) -> None:
    notifier = PushoverNotifier(PushoverConfig(token=TOKEN, user=USER))
    fields = notifier.payload(notification(firing=[alert(severity=severity)]))
    assert fields["priority"] == str(priority)
    assert ("retry" in fields) == ("expire" in fields) == (priority == 2)


def test_max_priority_caps_and_resolved_is_quiet() -> None:
    capped = PushoverNotifier(PushoverConfig(token=TOKEN, user=USER, max_priority=1))
    crit = notification(firing=[alert(severity=ak.Severity.CRITICAL)])
    assert capped.payload(crit)["priority"] == "1" and "retry" not in capped.payload(crit)
    resolved = notification(firing=[], resolved=[alert(firing=False)])
    fields = capped.payload(resolved)
    assert fields["priority"] == "-1"
    assert fields["title"] == "[RESOLVED] HighCPU"
    assert fields["message"] == '<font color="#2eb886"><b>RESOLVED</b></font> HighCPU: web1 is busy'


def test_the_message_fits_1024_and_counts_what_is_left_out() -> None:
    alerts = [alert(host=f"web{i:03d}") for i in range(60)]
    n = attrs.evolve(notification(firing=alerts), truncated=5)
    fields = PushoverNotifier(PushoverConfig(token=TOKEN, user=USER)).payload(n)
    message = fields["message"]
    assert len(message) <= 1024
    shown = message.count("FIRING")
    assert message.endswith(f"… and {60 - shown + 5} more alert(s) not shown")
    assert 0 < shown < 60


def test_the_title_fits_250() -> None:
    n = notification(texts={"title": "T" * 400})
    title = PushoverNotifier(PushoverConfig(token=TOKEN, user=USER)).payload(n)["title"]
    assert len(title) == 250 and title.endswith("…(truncated)")


async def test_a_400_is_permanent_with_the_errors_and_no_secret(httpserver: HTTPServer) -> None:
    httpserver.expect_request("/1/messages.json").respond_with_json(
        {"user": "invalid", "errors": [f"user identifier {USER} is not a valid user"],
         "status": 0, "request": "r"}, 400)
    result = await send(po(httpserver), notification())
    assert result == ak.Failed("HTTP 400: user identifier *** is not a valid user", 400)


async def test_429_monthly_quota_is_permanent(httpserver: HTTPServer) -> None:
    httpserver.expect_request("/1/messages.json").respond_with_json(
        {"status": 0, "errors": ["application is over its monthly message limit"]}, 429)
    result = await send(po(httpserver), notification())
    assert result == ak.Failed("HTTP 429: application is over its monthly message limit", 429)


async def test_a_200_without_status_1_fails(httpserver: HTTPServer) -> None:
    httpserver.expect_request("/1/messages.json").respond_with_json(
        {"status": 0, "errors": ["message cannot be blank"]})
    result = await send(po(httpserver), notification())
    assert result == ak.Failed("Pushover refused the message: message cannot be blank", 200)


@pytest.mark.parametrize("status", [500, 502, 503])
async def test_5xx_is_retried(httpserver: HTTPServer, status: int) -> None:
    httpserver.expect_request("/1/messages.json").respond_with_data(
        "busy", status, headers={"Retry-After": "90"})
    result = await send(po(httpserver), notification())
    assert result == ak.Retry(f"HTTP {status}: busy", status_code=status, retry_at=T0 + 90)


async def test_timeout_and_refused_connection_are_retried(httpserver: HTTPServer) -> None:
    release = threading.Event()

    def stall(request: Request) -> Response:
        release.wait(5)
        return Response('{"status": 1}', 200)

    httpserver.expect_request("/1/messages.json").respond_with_handler(stall)
    try:
        result = await send(po(httpserver), notification(), timeout=0.2)
    finally:
        release.set()
    assert isinstance(result, ak.Retry) and result.reason.startswith("timeout")
    refused = PushoverNotifier(PushoverConfig(token=TOKEN, user=USER,
                                              base_url=f"http://127.0.0.1:{closed_port()}"))
    result = await send(refused, notification())
    assert isinstance(result, ak.Retry) and "ConnectError" in result.reason


def test_repr_hides_the_keys() -> None:
    notifier = PushoverNotifier(PushoverConfig(token=TOKEN, user=USER, device="phone"))
    text = repr(notifier) + repr(notifier.config)
    assert TOKEN not in text and USER not in text
    assert repr(notifier) == ("PushoverNotifier(endpoint='https://api.pushover.net/1/"
                              "messages.json', device='phone')")


def test_from_url_round_trips() -> None:
    url = (f"pushover://{USER}@{TOKEN}/phone/tablet?sound=siren&max_priority=1&retry=45"
           "&expire=900&url=https%3A%2F%2Fx.example%2F&url_title=X")
    assert PushoverNotifier.from_url(url).config == PushoverConfig(
        token=TOKEN, user=USER, device="phone,tablet", sound="siren", max_priority=1,
        retry=45, expire=900, url="https://x.example/", url_title="X")
    made = default_registry.from_url(f"pushover://{USER}@{TOKEN}")
    assert isinstance(made, PushoverNotifier)
    assert made.config == PushoverConfig(token=TOKEN, user=USER)


@pytest.mark.parametrize(("kwargs", "match"), [
    ({"token": "short"}, "token is not valid"),
    ({"user": "u" * 31}, "user is not valid"),
    ({"user": None}, "user must be a string"),
    ({"device": "my phone"}, "device must be device names"),
    ({"device": "x" * 26}, "device must be device names"),
    ({"sound": "a b"}, "sound"),
    ({"max_priority": 3}, r"max_priority is 3, must be in \[-2, 2\]"),
    ({"max_priority": True}, "max_priority must be an integer"),
    ({"retry": 29}, "retry is 29"),
    ({"expire": 10_801}, "expire is 10801"),
    ({"url": "ftp://x"}, "url"),
    ({"url": "https://x.example/" + "a" * 600}, "longer than 512"),
    ({"url_title": "t" * 101}, "url_title is 101 characters"),
    ({"base_url": "https://api.pushover.net/?x=1"}, "base_url"),
])
def test_bad_config(kwargs: dict[str, Any], match: str) -> None:
    with pytest.raises(ak.NotifierConfigError, match=match) as info:
        PushoverConfig(**{"token": TOKEN, "user": USER, **kwargs})
    message = str(info.value).lower()
    assert TOKEN.lower() not in message and USER.lower() not in message


@pytest.mark.parametrize(("url", "match"), [
    (f"pushover://{TOKEN}", "must be pushover://USER_KEY@APP_TOKEN"),
    (f"pushover://{USER}:pw@{TOKEN}", "must be pushover://USER_KEY@APP_TOKEN"),
    (f"pushover://{USER}@{TOKEN}?retry=soon", "retry='soon' is not an integer"),
    (f"pushover://{USER}@{TOKEN}?volume=11", "unknown option 'volume'"),
])
def test_bad_urls(url: str, match: str) -> None:
    with pytest.raises(ak.NotifierConfigError, match=match) as info:
        PushoverNotifier.from_url(url)
    message = str(info.value).lower()
    assert TOKEN.lower() not in message and USER.lower() not in message


@settings(max_examples=40, deadline=None)
@given(st.lists(st.text(min_size=1, max_size=400), min_size=1, max_size=12),
       st.integers(0, 50))
def test_any_message_fits_and_says_how_many_are_missing(summaries: list[str],
                                                        truncated: int) -> None:
    base = alert()
    alerts = [ak.Alert(fingerprint=f"{i:016x}", rule="R", labels=base.labels,
                       annotations={"summary": s}, state=base.state, severity=base.severity,
                       value=1.0, active_at=0.0) for i, s in enumerate(summaries)]
    n = attrs.evolve(notification(firing=alerts), truncated=truncated)
    message = PushoverNotifier(PushoverConfig(token=TOKEN, user=USER)).message(n)
    assert 0 < len(message) <= 1024
    shown = message.count("<b>FIRING HIGH</b>")
    missing = len(alerts) - shown + truncated
    if missing:
        assert message.endswith(f"… and {missing} more alert(s) not shown")
