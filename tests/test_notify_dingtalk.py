"""The DingTalk robot channel against a real HTTP server on 127.0.0.1."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import re
import threading
import time
from typing import Any
from urllib.parse import parse_qs

import attrs
import httpx
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pytest_httpserver import HTTPServer
from werkzeug import Request, Response

import alertkit as ak
from alertkit.notify.dingtalk import DingTalkConfig, DingTalkNotifier
from alertkit.notify.registry import notifier_from_url
from delivery_helpers import alert, closed_port, notification

T0 = 1_700_000_000.25
TOKEN = "c0ffee00deadbeefc0ffee00deadbeef1234"
SECRET = "SEC5ecretSigningKey0123456789abcdef"
OK = {"errcode": 0, "errmsg": "ok"}


def notifier(srv: HTTPServer | None = None, **kw: Any) -> DingTalkNotifier:
    if srv is not None:
        kw["api_url"] = srv.url_for("")
    kw.setdefault("secret", SECRET)
    return DingTalkNotifier(DingTalkConfig(access_token=TOKEN, **kw))


async def deliver(bot: DingTalkNotifier, n: ak.Notification, *, timeout: float = 5.0
                  ) -> ak.DeliveryResult:
    async with httpx.AsyncClient() as client:
        return await bot.send(n, ak.DeliveryContext(http=client, now=T0, timeout=timeout))


def expected_sign(timestamp: str) -> str:
    """DingTalk's documented algorithm, written out independently of the module."""
    mac = hmac.new(SECRET.encode("utf-8"), f"{timestamp}\n{SECRET}".encode(),
                   digestmod=hashlib.sha256)
    return base64.b64encode(mac.digest()).decode()


@pytest.mark.anyio
async def test_sends_a_signed_markdown_message(httpserver: HTTPServer) -> None:
    httpserver.expect_ordered_request("/robot/send", method="POST").respond_with_json(OK)
    bot = notifier(httpserver, at_mobiles=["13800000000", "13900000000"])
    n = notification(firing=[alert(severity=ak.Severity.CRITICAL)],
                     resolved=[alert("DiskFull", host="db1", firing=False)])
    assert await deliver(bot, n) == ak.Delivered(status_code=200)
    [(request, _)] = httpserver.log
    assert request.method == "POST"
    assert request.headers["Content-Type"] == "application/json"
    raw_query = request.query_string.decode()
    query = parse_qs(raw_query, strict_parsing=True)
    assert query["access_token"] == [TOKEN]
    assert query["timestamp"] == [str(int(T0 * 1000))]
    assert query["sign"] == [expected_sign(str(int(T0 * 1000)))]
    # The signature's + / = are percent-encoded in the query string.
    assert "+" not in raw_query.split("sign=")[1] or "%2B" in raw_query
    assert json.loads(request.get_data()) == {
        "msgtype": "markdown",
        "markdown": {
            "title": "[FIRING:1] HighCPU",
            "text": (
                "#### [FIRING:1] HighCPU\n\n"
                "- 🔴 **CRITICAL** HighCPU {host=\"web1\"} (value 95)\n"
                "  > summary: web1 is busy\n\n"
                "- ✅ **RESOLVED** DiskFull {host=\"db1\"}\n\n"
                "@13800000000 @13900000000"
            ),
        },
        "at": {"atMobiles": ["13800000000", "13900000000"], "isAtAll": False},
    }


@pytest.mark.anyio
async def test_unsigned_robot_and_resolved_message_mentions_nobody(
        httpserver: HTTPServer) -> None:
    httpserver.expect_ordered_request("/robot/send", method="POST").respond_with_json(OK)
    bot = notifier(httpserver, secret=None, at_mobiles=["13800000000"], at_all=True)
    n = notification(firing=[], resolved=[alert(firing=False)])
    assert await deliver(bot, n) == ak.Delivered(status_code=200)
    request = httpserver.log[0][0]
    assert parse_qs(request.query_string.decode()) == {"access_token": [TOKEN]}
    assert json.loads(request.get_data()) == {
        "msgtype": "markdown",
        "markdown": {
            "title": "[RESOLVED] HighCPU",
            "text": "#### [RESOLVED] HighCPU\n\n- ✅ **RESOLVED** HighCPU {host=\"web1\"}",
        },
        "at": {"atMobiles": [], "isAtAll": False},
    }


@pytest.mark.anyio
async def test_at_all_on_firing(httpserver: HTTPServer) -> None:
    httpserver.expect_ordered_request("/robot/send").respond_with_json(OK)
    await deliver(notifier(httpserver, at_all=True), notification())
    assert json.loads(httpserver.log[0][0].get_data())["at"] == {
        "atMobiles": [], "isAtAll": True}


@pytest.mark.anyio
async def test_send_too_fast_is_retried_after_a_minute(httpserver: HTTPServer) -> None:
    httpserver.expect_ordered_request("/robot/send").respond_with_json(
        {"errcode": 130101, "errmsg": "send too fast, exceed 20 times per minute"})
    result = await deliver(notifier(httpserver), notification())
    assert result == ak.Retry(
        "dingtalk rate limit: dingtalk error 130101: send too fast, exceed 20 times per minute",
        status_code=200, retry_at=T0 + 60)


@pytest.mark.anyio
async def test_system_busy_is_retried_with_backoff(httpserver: HTTPServer) -> None:
    httpserver.expect_ordered_request("/robot/send").respond_with_json(
        {"errcode": -1, "errmsg": "system busy"})
    result = await deliver(notifier(httpserver), notification())
    assert isinstance(result, ak.Retry) and result.retry_at is None


@pytest.mark.anyio
async def test_http_429_with_retry_after(httpserver: HTTPServer) -> None:
    httpserver.expect_ordered_request("/robot/send").respond_with_data(
        "", status=429, headers={"Retry-After": "7"})
    result = await deliver(notifier(httpserver), notification())
    assert isinstance(result, ak.Retry) and result.retry_at == T0 + 7


@pytest.mark.anyio
async def test_server_errors_are_retried(httpserver: HTTPServer) -> None:
    httpserver.expect_ordered_request("/robot/send").respond_with_data("bad gateway", 502)
    result = await deliver(notifier(httpserver), notification())
    assert result == ak.Retry("HTTP 502: bad gateway", status_code=502)


@pytest.mark.anyio
@pytest.mark.parametrize(("code", "message"), [
    (310000, "sign not match, more: [https://ding-doc.dingtalk.com/doc#/x]"),
    (300001, f"token is not exist, token={TOKEN}"),
    (300005, "keywords not in content"),
])
async def test_other_error_codes_fail_with_the_message(
        httpserver: HTTPServer, code: int, message: str) -> None:
    httpserver.expect_ordered_request("/robot/send").respond_with_json(
        {"errcode": code, "errmsg": message})
    result = await deliver(notifier(httpserver), notification())
    assert isinstance(result, ak.Failed) and result.status_code == 200
    assert result.reason == f"HTTP 200: dingtalk error {code}: " + message.replace(TOKEN, "***")
    assert TOKEN not in repr(result) and SECRET not in repr(result)


@pytest.mark.anyio
async def test_a_4xx_fails(httpserver: HTTPServer) -> None:
    httpserver.expect_ordered_request("/robot/send").respond_with_data("nope", 403)
    assert await deliver(notifier(httpserver), notification()) == ak.Failed(
        "HTTP 403: nope", status_code=403)


@pytest.mark.anyio
async def test_connection_refused_and_timeout_are_retried(httpserver: HTTPServer) -> None:
    bot = notifier(api_url=f"http://127.0.0.1:{closed_port()}")
    refused = await deliver(bot, notification())
    assert isinstance(refused, ak.Retry) and TOKEN not in repr(refused)
    release = threading.Event()

    def stall(request: Request) -> Response:
        release.wait(5)
        return Response("{}", 200)

    httpserver.expect_ordered_request("/robot/send").respond_with_handler(stall)
    try:
        late = await deliver(notifier(httpserver), notification(), timeout=0.2)
    finally:
        release.set()
    # Let the slow handler finish here, not in the next test's request log.
    for _ in range(500):
        if httpserver.log:
            break
        time.sleep(0.01)
    assert isinstance(late, ak.Retry) and late.reason.startswith("timeout")


_MORE = re.compile(r"… and (\d+) more alert\(s\) not shown")


@settings(max_examples=40, deadline=None)
@given(count=st.integers(1, 40), truncated=st.integers(0, 3), limit=st.integers(500, 4000),
       note=st.text(max_size=200))
def test_text_fits_the_byte_budget_and_counts_every_alert(
        count: int, truncated: int, limit: int, note: str) -> None:
    alerts = [attrs.evolve(alert(host=f"web{i}"), annotations={"summary": note})
              for i in range(count)]
    n = attrs.evolve(notification(firing=alerts), truncated=truncated)
    text = notifier(max_bytes=limit).payload(n)["markdown"]["text"]
    assert len(text.encode()) <= limit
    shown = text.count("**HIGH** HighCPU")
    match = _MORE.search(text)
    assert shown + (int(match.group(1)) if match else 0) == count + truncated


def test_repr_hides_token_and_secret() -> None:
    bot = notifier()
    assert repr(bot) == (
        "DingTalkNotifier(signed=True, at_mobiles=(), api_url='https://oapi.dingtalk.com')")
    for text in (repr(bot), repr(bot.config)):
        assert TOKEN not in text and SECRET not in text


def test_from_url_round_trips_to_the_same_config() -> None:
    bot = DingTalkNotifier.from_url(
        f"dingtalk://{SECRET}@{TOKEN}?at=13800000000,%2B8613900000000&at_all=yes", max_bytes=900)
    assert bot.config == DingTalkConfig(
        access_token=TOKEN, secret=SECRET, at_mobiles=("13800000000", "+8613900000000"),
        at_all=True, max_bytes=900)
    assert isinstance(notifier_from_url(f"dingtalk://{TOKEN}"), DingTalkNotifier)
    assert DingTalkNotifier.from_url(f"dingtalk://{TOKEN}").config == DingTalkConfig(
        access_token=TOKEN)


@pytest.mark.parametrize(("fields", "message"), [
    ({"access_token": ""}, "access_token must be a non-empty string"),
    ({"access_token": "a b"}, "access_token must not contain spaces"),
    ({"secret": ""}, "secret must be a non-empty string"),
    ({"at_mobiles": "13800000000"}, "must be a list of phone numbers, not a str"),
    ({"at_mobiles": 5}, "must be a list of phone numbers"),
    ({"at_mobiles": ["call me"]}, "'call me' is not a phone number"),
    ({"at_all": 1}, "at_all must be True or False"),
    ({"max_bytes": 100}, "max_bytes must be an int in 500..20000"),
    ({"api_url": "oapi.dingtalk.com"}, "must be an http(s) URL"),
])
def test_bad_config(fields: dict[str, Any], message: str) -> None:
    with pytest.raises(ak.NotifierConfigError, match=re.escape(message)) as info:
        DingTalkConfig(**{"access_token": TOKEN, **fields})
    assert TOKEN not in str(info.value)


def test_notifier_needs_a_config() -> None:
    with pytest.raises(ak.NotifierConfigError, match="needs a DingTalkConfig"):
        DingTalkNotifier(TOKEN)  # type: ignore[arg-type]


@pytest.mark.parametrize(("url", "message"), [
    (f"dingding://{TOKEN}", "must start with dingtalk://"),
    ("dingtalk://", "must be dingtalk://[SECRET@]TOKEN"),
    (f"dingtalk://{TOKEN}/more", "must be dingtalk://[SECRET@]TOKEN"),
    (f"dingtalk://{TOKEN}?mention=1", "unknown option(s) mention"),
    (f"dingtalk://{TOKEN}?at_all=sure", "at_all='sure' is not yes/no"),
    (f"dingtalk://{TOKEN}?at=12", "'12' is not a phone number"),
])
def test_bad_url(url: str, message: str) -> None:
    with pytest.raises(ak.NotifierConfigError, match=re.escape(message)) as info:
        DingTalkNotifier.from_url(url)
    assert TOKEN not in str(info.value)


def test_mentions_survive_a_tight_budget() -> None:
    mobiles = [f"1380000{i:04}" for i in range(10)]
    alerts = [attrs.evolve(alert(host=f"web{i}"), annotations={"summary": "x" * 400})
              for i in range(10)]
    text = notifier(max_bytes=500, at_mobiles=mobiles).payload(
        notification(firing=alerts))["markdown"]["text"]
    assert len(text.encode()) <= 500
    assert text.endswith(" ".join(f"@{m}" for m in mobiles))
