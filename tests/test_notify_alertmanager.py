"""The Alertmanager forwarder against real HTTP servers on 127.0.0.1."""

from __future__ import annotations

import base64
import json
from collections.abc import Iterator

import httpx
import pytest
from pytest_httpserver import HTTPServer

import alertkit as ak
from alertkit.notify.alertmanager import AlertmanagerConfig, AlertmanagerNotifier, rfc3339
from delivery_helpers import alert, closed_port, notification

pytestmark = pytest.mark.anyio

T0 = 1_700_000_000.0
PASSWORD = "am-pa55word-XYZ"
TOKEN = "am-bearer-token-QRS"


def make_server() -> HTTPServer:
    srv = HTTPServer(host="127.0.0.1", port=0, threaded=True)
    srv.start()
    return srv


@pytest.fixture(scope="module")
def servers() -> Iterator[tuple[HTTPServer, HTTPServer]]:
    a, b = make_server(), make_server()
    yield a, b
    for s in (a, b):
        s.clear()
        s.stop()


@pytest.fixture
def am(servers: tuple[HTTPServer, HTTPServer]) -> Iterator[HTTPServer]:
    servers[0].clear()
    yield servers[0]
    servers[0].clear()


@pytest.fixture
def am2(servers: tuple[HTTPServer, HTTPServer]) -> Iterator[HTTPServer]:
    servers[1].clear()
    yield servers[1]
    servers[1].clear()


def base(server: HTTPServer) -> str:
    return server.url_for("").rstrip("/")


def sample() -> ak.Notification:
    firing = alert("HighCPU", host="web1", t=T0)  # active T0, fired T0 + 60
    gone = alert("HighCPU", host="web2", firing=False, t=T0)  # resolved T0 + 600
    return notification(firing=[firing], resolved=[gone], created_at=T0 + 700)


async def send(notifier: AlertmanagerNotifier, n: ak.Notification,
               now: float = T0 + 700) -> ak.DeliveryResult:
    async with httpx.AsyncClient() as http:
        return await notifier.send(n, ak.DeliveryContext(http=http, now=now, timeout=2))


async def test_posts_alerts_as_prometheus_does(am: HTTPServer) -> None:
    am.expect_request("/api/v2/alerts", method="POST").respond_with_data("", 200)
    notifier = AlertmanagerNotifier(AlertmanagerConfig(
        urls=[base(am)], basic_auth=("alertkit", PASSWORD),
        generator_url="https://app.example/rules/HighCPU", evaluation_interval=30))
    result = await send(notifier, sample(), now=T0 + 700)
    assert result == ak.Delivered(200)
    [(request, _)] = am.log
    assert request.headers["Authorization"] == "Basic " + base64.b64encode(
        f"alertkit:{PASSWORD}".encode()).decode()
    assert request.headers["Content-Type"] == "application/json"
    assert json.loads(request.get_data()) == [
        {"labels": {"alertname": "HighCPU", "host": "web1"},
         "annotations": {"summary": "web1 is busy"},
         "startsAt": "2023-11-14T22:14:20Z",     # fired_at = T0 + 60
         "endsAt": "2023-11-14T22:29:00Z",       # now + 4 x max(60, 30) = T0 + 940
         "generatorURL": "https://app.example/rules/HighCPU"},
        {"labels": {"alertname": "HighCPU", "host": "web2"},
         "annotations": {"summary": "web2 is busy"},
         "startsAt": "2023-11-14T22:14:20Z",
         "endsAt": "2023-11-14T22:23:20Z",       # resolved_at = T0 + 600
         "generatorURL": "https://app.example/rules/HighCPU"},
    ]


async def test_long_interval_and_bearer_and_prefix(am: HTTPServer) -> None:
    am.expect_request("/am/api/v2/alerts", method="POST").respond_with_data("", 200)
    notifier = AlertmanagerNotifier.from_url(
        f"alertmanager://127.0.0.1:{am.port}/am/?bearer_token={TOKEN}&evaluation_interval=120")
    n = notification(firing=[alert(t=T0)], created_at=T0)
    assert await send(notifier, n, now=T0 + 100) == ak.Delivered(200)
    [(request, _)] = am.log
    assert request.headers["Authorization"] == f"Bearer {TOKEN}"
    [item] = json.loads(request.get_data())
    assert item["endsAt"] == rfc3339(T0 + 100 + 480)
    assert "generatorURL" not in item  # not configured: left out, as Alertmanager allows


async def test_alertname_label_added_from_the_rule(am: HTTPServer) -> None:
    labels = ak.Labels(host="x")
    a = ak.Alert(fingerprint=labels.fingerprint, rule="NoName", labels=labels, annotations={},
                 state=ak.AlertState.FIRING, severity=ak.Severity.LOW, value=1.0,
                 active_at=T0)  # never fired: startsAt falls back to active_at
    notifier = AlertmanagerNotifier(AlertmanagerConfig(urls=["http://127.0.0.1:1"]))
    [item] = notifier.payload(notification(firing=[a]), now=T0)
    assert item["labels"] == {"alertname": "NoName", "host": "x"}
    assert item["startsAt"] == rfc3339(T0)


@pytest.mark.parametrize(("status", "kind"), [
    (400, ak.Failed), (401, ak.Failed), (429, ak.Retry), (500, ak.Retry), (503, ak.Retry),
])
async def test_status_classification(am: HTTPServer, status: int, kind: type) -> None:
    am.expect_request("/api/v2/alerts").respond_with_data(
        '{"code":400,"message":"start time must be before end time"}', status)
    notifier = AlertmanagerNotifier(AlertmanagerConfig(urls=[base(am)]))
    result = await send(notifier, sample())
    assert isinstance(result, kind) and result.status_code == status
    if status == 400:
        assert "start time must be before end time" in result.reason  # type: ignore[union-attr]


async def test_429_retry_after(am: HTTPServer) -> None:
    am.expect_request("/api/v2/alerts").respond_with_data("", 429, headers={"Retry-After": "7"})
    notifier = AlertmanagerNotifier(AlertmanagerConfig(urls=[base(am)]))
    result = await send(notifier, sample(), now=T0)
    assert isinstance(result, ak.Retry) and result.retry_at == T0 + 7


async def test_connection_refused_is_retry() -> None:
    notifier = AlertmanagerNotifier(AlertmanagerConfig(
        urls=[f"http://127.0.0.1:{closed_port()}"], bearer_token=TOKEN))
    result = await send(notifier, sample())
    assert isinstance(result, ak.Retry) and "ConnectError" in result.reason
    assert TOKEN not in result.reason


async def test_two_alertmanagers_one_down_is_delivered(am: HTTPServer, am2: HTTPServer) -> None:
    am.expect_request("/api/v2/alerts").respond_with_data("", 200)
    am2.expect_request("/api/v2/alerts").respond_with_data("", 503)
    notifier = AlertmanagerNotifier(AlertmanagerConfig(urls=[base(am), base(am2)]))
    result = await send(notifier, sample())
    assert isinstance(result, ak.Delivered)
    assert result.detail.startswith("accepted by 1 of 2 Alertmanagers")
    assert len(am.log) == 1 and len(am2.log) == 1
    assert am.log[0][0].get_data() == am2.log[0][0].get_data()  # the same alerts to both


async def test_two_alertmanagers_none_accept(am: HTTPServer, am2: HTTPServer) -> None:
    am.expect_request("/api/v2/alerts").respond_with_data("bad", 400)
    am2.expect_request("/api/v2/alerts").respond_with_data("", 429, headers={"Retry-After": "9"})
    notifier = AlertmanagerNotifier(AlertmanagerConfig(urls=[base(am), base(am2)]))
    result = await send(notifier, sample(), now=T0)
    assert isinstance(result, ak.Retry) and result.retry_at == T0 + 9
    assert "HTTP 400" in result.reason and "HTTP 429" in result.reason
    am.clear()
    am2.clear()
    am.expect_request("/api/v2/alerts").respond_with_data("bad", 400)
    am2.expect_request("/api/v2/alerts").respond_with_data("worse", 400)
    failed = await send(notifier, sample(), now=T0)
    assert isinstance(failed, ak.Failed) and failed.status_code == 400


async def test_through_the_delivery_worker(am: HTTPServer) -> None:
    am.expect_ordered_request("/api/v2/alerts").respond_with_data("", 502)
    am.expect_ordered_request("/api/v2/alerts").respond_with_data("", 200)
    clock = ak.FakeClock(T0)
    notifier = ak.notifier_from_url(f"alertmanager://127.0.0.1:{am.port}")
    async with ak.DeliveryWorker([ak.Receiver("ops", {"am": notifier})], clock=clock,
                                 policy=ak.RetryPolicy(base=1, cap=2)) as worker:
        await worker.submit(sample())
        await worker.wait_idle()
        [pending] = (await worker.outbox.load()).entries
        clock.set(pending.next_attempt_at)
        await worker.wait_idle()
    assert [r.status_code for r in worker.log.query()] == [502, 200]


def test_repr_and_results_hide_secrets() -> None:
    notifier = AlertmanagerNotifier.from_url(
        f"alertmanagers://alertkit:{PASSWORD}@am1.example:9093,am2.example:9093")
    assert notifier.config.urls == ("https://am1.example:9093", "https://am2.example:9093")
    assert notifier.config.basic_auth == ("alertkit", PASSWORD)
    for text in (repr(notifier), repr(notifier.config), str(notifier.config)):
        assert PASSWORD not in text
    bearer = AlertmanagerNotifier(AlertmanagerConfig(urls=["http://a:1"], bearer_token=TOKEN))
    assert TOKEN not in repr(bearer) and TOKEN not in repr(bearer.config)
    assert repr(bearer) == "AlertmanagerNotifier(urls=['http://a:1'], auth='bearer')"


def test_from_url_round_trips() -> None:
    config = AlertmanagerNotifier.config_from_url(
        f"alertmanager://u:{PASSWORD}@127.0.0.1:9093,127.0.0.1:9094/prefix"
        "?generator_url=https://x.example/g&evaluation_interval=15")
    assert config == AlertmanagerConfig(
        urls=["http://127.0.0.1:9093/prefix", "http://127.0.0.1:9094/prefix"],
        basic_auth=("u", PASSWORD), generator_url="https://x.example/g",
        evaluation_interval=15)
    assert AlertmanagerNotifier.config_from_url("alertmanager://h:1", bearer_token=TOKEN) == \
        AlertmanagerConfig(urls=["http://h:1"], bearer_token=TOKEN)


@pytest.mark.parametrize(("kwargs", "message"), [
    ({"urls": []}, "at least one"),
    ({"urls": ["ftp://h"]}, "scheme must be http or https"),
    ({"urls": ["http://"]}, "has no host"),
    ({"urls": ["http://u:p@h"]}, "credentials"),
    ({"urls": ["http://h?x=1"]}, "no query"),
    ({"urls": ["http://h:99999"]}, "is not valid"),
    ({"urls": [5]}, "must be a string"),
    ({"urls": 5}, "list of http"),
    ({"urls": ["http://h", "http://h/"]}, "listed twice"),
    ({"urls": ["http://h"], "basic_auth": ("u",)}, "pair of strings"),
    ({"urls": ["http://h"], "basic_auth": ("", "p")}, "pair of strings"),
    ({"urls": ["http://h"], "bearer_token": ""}, "non-empty token"),
    ({"urls": ["http://h"], "bearer_token": "a b"}, "non-empty token"),
    ({"urls": ["http://h"], "bearer_token": "t", "basic_auth": ("u", "p")}, "not both"),
    ({"urls": ["http://h"], "evaluation_interval": 0}, "positive number"),
    ({"urls": ["http://h"], "evaluation_interval": float("nan")}, "positive number"),
    ({"urls": ["http://h"], "evaluation_interval": True}, "positive number"),
    ({"urls": ["http://h"], "generator_url": "a\nb"}, "one-line"),
])
def test_bad_config(kwargs: dict[str, object], message: str) -> None:
    with pytest.raises(ak.NotifierConfigError, match=message):
        AlertmanagerConfig(**kwargs)  # type: ignore[arg-type]


@pytest.mark.parametrize(("url", "message"), [
    ("http://h:9093", "must start with alertmanager://"),
    ("alertmanager://", "has no host"),
    ("alertmanager://h?color=red", "unknown option 'color'"),
    ("alertmanager://h?evaluation_interval=soon", "must be a number"),
    ("alertmanager://h#frag", "fragment"),
    ("alertmanager://h,h", "listed twice"),
])
def test_bad_urls(url: str, message: str) -> None:
    with pytest.raises(ak.NotifierConfigError, match=message):
        AlertmanagerNotifier.from_url(url)


def test_bad_option_through_the_registry() -> None:
    with pytest.raises(ak.NotifierConfigError, match="colour"):
        ak.notifier_from_url("alertmanager://h:1", colour="red")
    with pytest.raises(ak.NotifierConfigError, match="AlertmanagerConfig"):
        AlertmanagerNotifier("http://h:1")  # type: ignore[arg-type]


async def test_a_slow_alertmanager_is_a_timeout_retry(am: HTTPServer) -> None:
    import threading

    from werkzeug import Request, Response

    release = threading.Event()

    def stall(request: Request) -> Response:
        release.wait(5)
        return Response("", 200)

    am.expect_request("/api/v2/alerts").respond_with_handler(stall)
    notifier = AlertmanagerNotifier(AlertmanagerConfig(urls=[base(am)]))
    try:
        async with httpx.AsyncClient() as http:
            result = await notifier.send(sample(), ak.DeliveryContext(http=http, now=T0,
                                                                      timeout=0.3))
    finally:
        release.set()
    assert isinstance(result, ak.Retry) and result.reason.startswith("timeout")
