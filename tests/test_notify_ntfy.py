"""ntfy against a real HTTP server on 127.0.0.1 (JSON and header publishing)."""

from __future__ import annotations

import base64
import json
import threading
from email.header import decode_header, make_header
from typing import Any
from urllib.parse import quote

import attrs
import httpx
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pytest_httpserver import HTTPServer
from werkzeug import Request, Response

import alertkit as ak
from alertkit.notify.ntfy import NtfyConfig, NtfyNotifier
from alertkit.notify.registry import default_registry
from delivery_helpers import alert, closed_port, notification

pytestmark = pytest.mark.anyio

T0 = 1_700_000_000.0
TOPIC = "alerts-Zq81xk"
TOKEN = "tk_AgQdq7mVBoFD37zQVN29RhuMzNIz2"
PUBLISHED = {"id": "sPs71M8A2T", "time": 1700000000, "expires": 1700043200,
             "event": "message", "topic": TOPIC, "message": "x"}


def nt(httpserver: HTTPServer, **kw: Any) -> NtfyNotifier:
    return NtfyNotifier(NtfyConfig(topic=TOPIC, base_url=httpserver.url_for(""), **kw))


async def send(notifier: NtfyNotifier, n: ak.Notification,
               timeout: float = 5.0) -> ak.DeliveryResult:
    async with httpx.AsyncClient() as client:
        return await notifier.send(n, ak.DeliveryContext(http=client, now=T0, timeout=timeout))


async def test_json_publishing(httpserver: HTTPServer) -> None:
    httpserver.expect_request("/", method="POST").respond_with_json(PUBLISHED)
    n = notification(firing=[alert(severity=ak.Severity.CRITICAL), alert(host="web2")],
                     resolved=[alert(host="web3", firing=False)],
                     texts={"title": "[FIRING:2] HighCPU"})
    result = await send(nt(httpserver, token=TOKEN, tags=["prod"],
                           click="https://grafana.example/d/1"), n)
    assert result == ak.Delivered(200, detail="id sPs71M8A2T")
    [(req, _)] = httpserver.log
    assert req.path == "/" and req.method == "POST"
    assert req.headers["Authorization"] == f"Bearer {TOKEN}"
    assert req.headers["Content-Type"] == "application/json"
    assert json.loads(req.get_data()) == {
        "topic": TOPIC,
        "message": "🔴 FIRING HighCPU: web1 is busy\n🟠 FIRING HighCPU: web2 is busy\n"
                   "✅ RESOLVED HighCPU: web3 is busy",
        "title": "[FIRING:2] HighCPU",
        "priority": 5,
        "tags": ["rotating_light", "critical", "prod"],
        "click": "https://grafana.example/d/1",
    }


async def test_header_publishing_with_basic_auth_and_rfc2047(httpserver: HTTPServer) -> None:
    httpserver.expect_request(f"/{TOPIC}", method="POST").respond_with_json(PUBLISHED)
    n = notification(texts={"title": "Température élevée ⚠"})
    result = await send(nt(httpserver, username="phil", password="pa55:word", mode="headers",
                           click="https://x.example/?a=1"), n)
    assert result == ak.Delivered(200, detail="id sPs71M8A2T")
    [(req, _)] = httpserver.log
    assert req.get_data().decode() == "🟠 FIRING HighCPU: web1 is busy"
    assert req.headers["Content-Type"] == "text/plain; charset=utf-8"
    assert req.headers["Authorization"] == "Basic " + base64.b64encode(
        b"phil:pa55:word").decode()
    raw_title = req.headers["Title"]
    assert raw_title.startswith("=?UTF-8?B?")
    assert str(make_header(decode_header(raw_title))) == "Température élevée ⚠"
    assert req.headers["Priority"] == "4"
    assert req.headers["Tags"] == "warning,high"
    assert req.headers["Click"] == "https://x.example/?a=1"


@pytest.mark.parametrize(("severity", "priority", "tag"), [
    (ak.Severity.CRITICAL, 5, "rotating_light"), (ak.Severity.HIGH, 4, "warning"),
    (ak.Severity.MEDIUM, 3, "warning"), (ak.Severity.LOW, 2, "information_source"),
    (ak.Severity.INFO, 1, "information_source"),
])
def test_priority_and_tag_mapping(severity: ak.Severity, priority: int, tag: str) -> None:
    body = NtfyNotifier(NtfyConfig(topic=TOPIC)).payload(
        notification(firing=[alert(severity=severity)]))
    assert body["priority"] == priority and body["tags"] == [tag, str(severity)]


def test_resolved_only() -> None:
    body = NtfyNotifier(NtfyConfig(topic=TOPIC)).payload(
        notification(firing=[], resolved=[alert(firing=False)]))
    assert body["priority"] == 2 and body["tags"] == ["white_check_mark", "resolved"]
    assert body["title"] == "[RESOLVED] HighCPU"


def test_the_message_fits_4096_bytes_and_counts_the_rest() -> None:
    base = alert()
    alerts = [ak.Alert(fingerprint=f"{i:016x}", rule="R", labels=base.labels,
                       annotations={"summary": "é" * 200}, state=base.state,
                       severity=base.severity, value=1.0, active_at=0.0) for i in range(40)]
    n = attrs.evolve(notification(firing=alerts), truncated=3)
    message = NtfyNotifier(NtfyConfig(topic=TOPIC)).message(n)
    assert len(message.encode()) <= 4096
    shown = message.count("FIRING")
    assert 0 < shown < 40
    assert message.endswith(f"… and {40 - shown + 3} more alert(s) not shown")


async def test_429_is_retried(httpserver: HTTPServer) -> None:
    httpserver.expect_request("/").respond_with_json(
        {"code": 42901, "http": 429, "error": "limit reached: too many requests, please "
         "be nice", "link": "https://ntfy.sh/docs/publish/#limitations"}, 429,
        headers={"Retry-After": "10"})
    result = await send(nt(httpserver), notification())
    assert result == ak.Retry("HTTP 429: limit reached: too many requests, please be nice",
                              status_code=429, retry_at=T0 + 10)


async def test_403_is_permanent_and_scrubbed(httpserver: HTTPServer) -> None:
    httpserver.expect_request(f"/{TOPIC}").respond_with_json(
        {"code": 40301, "http": 403, "error": f"forbidden: topic {TOPIC}, token {TOKEN}"}, 403)
    result = await send(nt(httpserver, token=TOKEN, mode="headers"), notification())
    assert result == ak.Failed("HTTP 403: forbidden: topic ***, token ***", 403)


async def test_5xx_timeout_and_refused_are_retried(httpserver: HTTPServer) -> None:
    httpserver.expect_ordered_request("/").respond_with_data("bad gateway", 502)
    result = await send(nt(httpserver), notification())
    assert result == ak.Retry("HTTP 502: bad gateway", status_code=502)
    release = threading.Event()

    def stall(request: Request) -> Response:
        release.wait(5)
        return Response("{}", 200)

    httpserver.clear()
    httpserver.expect_request("/").respond_with_handler(stall)
    try:
        result = await send(nt(httpserver), notification(), timeout=0.2)
    finally:
        release.set()
    assert isinstance(result, ak.Retry) and result.reason.startswith("timeout")
    refused = NtfyNotifier(NtfyConfig(topic=TOPIC, base_url=f"http://127.0.0.1:{closed_port()}"))
    result = await send(refused, notification())
    assert isinstance(result, ak.Retry) and "ConnectError" in result.reason


def test_repr_hides_topic_token_and_password() -> None:
    a = NtfyNotifier(NtfyConfig(topic=TOPIC, token=TOKEN))
    b = NtfyNotifier(NtfyConfig(topic=TOPIC, username="u", password="hunter2hunter2"))
    text = repr(a) + repr(a.config) + repr(b) + repr(b.config)
    assert TOPIC not in text and TOKEN not in text and "hunter2hunter2" not in text
    assert repr(b) == "NtfyNotifier(base_url='https://ntfy.sh', topic='***', mode='json', " \
                      "auth='basic')"


def test_from_url_forms() -> None:
    assert NtfyNotifier.from_url(f"ntfy://{TOPIC}").config == NtfyConfig(topic=TOPIC)
    assert NtfyNotifier.from_url(
        f"ntfys://ntfy.example.com/{TOPIC}?token={TOKEN}&mode=headers&tags=a,b"
        "&click=https%3A%2F%2Fx.example%2F"
    ).config == NtfyConfig(topic=TOPIC, base_url="https://ntfy.example.com", token=TOKEN,
                           mode="headers", tags=("a", "b"), click="https://x.example/")
    assert NtfyNotifier.from_url(f"ntfy://al%40ice:p%3Ass@127.0.0.1:8080/{TOPIC}").config == \
        NtfyConfig(topic=TOPIC, base_url="http://127.0.0.1:8080", username="al@ice",
                   password="p:ss")
    made = default_registry.from_url(f"ntfys://[::1]:8443/{TOPIC}", mode="headers")
    assert isinstance(made, NtfyNotifier)
    assert made.config == NtfyConfig(topic=TOPIC, base_url="https://[::1]:8443", mode="headers")


@pytest.mark.parametrize(("kwargs", "match"), [
    ({"topic": "has space"}, "topic must be a non-empty token"),
    ({"topic": "a/b"}, "topic is not valid"),
    ({"topic": "x" * 65}, "topic is not valid"),
    ({"base_url": "ntfy.sh"}, "base_url"),
    ({"token": ""}, "token must be a non-empty token"),
    ({"username": "u"}, "both username and password"),
    ({"password": "p"}, "both username and password"),
    ({"username": "a:b", "password": "p"}, "username must not contain ':'"),
    ({"username": "u", "password": "p", "token": TOKEN}, "not both"),
    ({"mode": "form"}, "mode 'form' is not one of"),
    ({"tags": "prod"}, "tags must be a list"),
    ({"tags": ["a,b"]}, "tags item"),
    ({"click": "javascript:alert(1)"}, "click"),
    ({"click": "https://exämple.com/"}, "click must be an ASCII"),
])
def test_bad_config(kwargs: dict[str, Any], match: str) -> None:
    with pytest.raises(ak.NotifierConfigError, match=match) as info:
        NtfyConfig(**{"topic": TOPIC, **kwargs})
    assert TOKEN.lower() not in str(info.value).lower()


@pytest.mark.parametrize(("url", "match"), [
    (f"ntfy://u:p@{TOPIC}", "must be ntfy://TOPIC"),
    (f"ntfy://host/{TOPIC}/more", "one topic"),
    (f"ntfy://{TOPIC}?priority=5", "unknown option 'priority'"),
    (f"http://host/{TOPIC}", "scheme 'http'"),
])
def test_bad_urls(url: str, match: str) -> None:
    with pytest.raises(ak.NotifierConfigError, match=match) as info:
        NtfyNotifier.from_url(url)
    assert TOPIC.lower() not in str(info.value).lower()


@settings(max_examples=40, deadline=None)
@given(st.lists(st.text(min_size=1, max_size=600), min_size=1, max_size=15),
       st.integers(0, 9))
def test_any_message_fits_in_4096_bytes(summaries: list[str], truncated: int) -> None:
    base = alert()
    alerts = [ak.Alert(fingerprint=f"{i:016x}", rule="R", labels=base.labels,
                       annotations={"summary": s}, state=base.state, severity=base.severity,
                       value=1.0, active_at=0.0) for i, s in enumerate(summaries)]
    n = attrs.evolve(notification(firing=alerts), truncated=truncated)
    message = NtfyNotifier(NtfyConfig(topic=TOPIC)).message(n)
    assert 0 < len(message.encode()) <= 4096
    missing = len(alerts) - message.count("🟠 FIRING R") + truncated
    if missing:
        assert message.endswith(f"… and {missing} more alert(s) not shown")


_names = st.text(alphabet=st.characters(codec="utf-8", exclude_categories=["Cc", "Cs"]),
                 min_size=1, max_size=20)


@settings(max_examples=60, deadline=None)
@given(topic=st.from_regex(r"[A-Za-z0-9_-]{1,64}", fullmatch=True),
       host=st.sampled_from(["ntfy.example.com", "127.0.0.1", "[::1]"]),
       port=st.one_of(st.none(), st.integers(1, 65535)),
       secure=st.booleans(),
       login=st.one_of(st.none(), st.tuples(_names.filter(lambda u: ":" not in u), _names)),
       mode=st.sampled_from(["json", "headers"]))
def test_from_url_round_trips_any_server_and_login(
        topic: str, host: str, port: int | None, secure: bool,
        login: tuple[str, str] | None, mode: str) -> None:
    userinfo = f"{quote(login[0], safe='')}:{quote(login[1], safe='')}@" if login else ""
    netloc = f"{host}:{port}" if port is not None else host
    url = f"{'ntfys' if secure else 'ntfy'}://{userinfo}{netloc}/{topic}?mode={mode}"
    expected = NtfyConfig(
        topic=topic, base_url=f"{'https' if secure else 'http'}://{netloc}", mode=mode,
        username=login[0] if login else None, password=login[1] if login else None)
    assert NtfyNotifier.from_url(url).config == expected
