"""The Feishu / Lark custom bot channel against a real HTTP server on 127.0.0.1."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import re
import threading
import time
from typing import Any

import attrs
import httpx
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pytest_httpserver import HTTPServer
from werkzeug import Request, Response

import alertkit as ak
from alertkit.notify.feishu import FeishuConfig, FeishuNotifier
from alertkit.notify.registry import notifier_from_url
from delivery_helpers import alert, closed_port, notification

T0 = 1_700_000_123.9
TOKEN = "0c2a4e6f-1111-2222-3333-tok3nvalue99"
SECRET = "fsS3cretSigningValue42"
PATH = f"/open-apis/bot/v2/hook/{TOKEN}"
OK = {"code": 0, "msg": "success", "data": {}}


def notifier(srv: HTTPServer | None = None, **kw: Any) -> FeishuNotifier:
    if srv is not None:
        kw["api_url"] = srv.url_for("")
    kw.setdefault("secret", SECRET)
    return FeishuNotifier(FeishuConfig(token=TOKEN, **kw))


async def deliver(bot: FeishuNotifier, n: ak.Notification, *, timeout: float = 5.0
                  ) -> ak.DeliveryResult:
    async with httpx.AsyncClient() as client:
        return await bot.send(n, ak.DeliveryContext(http=client, now=T0, timeout=timeout))


def expected_sign(timestamp: str) -> str:
    """Feishu's documented algorithm: the key is "timestamp\\nsecret", the message empty."""
    string_to_sign = f"{timestamp}\n{SECRET}"
    mac = hmac.new(string_to_sign.encode("utf-8"), digestmod=hashlib.sha256)
    return base64.b64encode(mac.digest()).decode("utf-8")


@pytest.mark.anyio
async def test_sends_a_signed_card_coloured_by_severity(httpserver: HTTPServer) -> None:
    httpserver.expect_ordered_request(PATH, method="POST").respond_with_json(OK)
    n = notification(firing=[alert(severity=ak.Severity.CRITICAL, team="<ops & sre>")],
                     resolved=[alert("DiskFull", host="db1", firing=False)])
    assert await deliver(notifier(httpserver), n) == ak.Delivered(status_code=200)
    [(request, _)] = httpserver.log
    assert request.method == "POST" and not request.query_string
    assert request.headers["Content-Type"] == "application/json"
    body = json.loads(request.get_data())
    assert body == {
        "timestamp": "1700000123",
        "sign": expected_sign("1700000123"),
        "msg_type": "interactive",
        "card": {
            "config": {"wide_screen_mode": True},
            "header": {"title": {"tag": "plain_text", "content": "[FIRING:1] HighCPU"},
                       "template": "red"},
            "elements": [{"tag": "div", "text": {"tag": "lark_md", "content": (
                "🔴 **CRITICAL** HighCPU {host=\"web1\", team=\"&lt;ops &amp; sre&gt;\"} "
                "(value 95)\n"
                "\u3000*summary*: web1 is busy\n"
                "✅ **RESOLVED** DiskFull {host=\"db1\"}"
            )}}],
        },
    }


@pytest.mark.anyio
@pytest.mark.parametrize(("severity", "template"), [
    (ak.Severity.CRITICAL, "red"), (ak.Severity.HIGH, "orange"), (ak.Severity.MEDIUM, "yellow"),
    (ak.Severity.LOW, "blue"), (ak.Severity.INFO, "blue"), (None, "green"),
])
async def test_header_template_follows_severity(
        httpserver: HTTPServer, severity: ak.Severity | None, template: str) -> None:
    httpserver.expect_ordered_request(PATH).respond_with_json(OK)
    if severity is None:
        n = notification(firing=[], resolved=[alert(firing=False)])
    else:
        n = notification(firing=[alert(severity=severity)])
    await deliver(notifier(httpserver, secret=None), n)
    body = json.loads(httpserver.log[0][0].get_data())
    assert "sign" not in body and "timestamp" not in body
    assert body["card"]["header"]["template"] == template


@pytest.mark.anyio
async def test_post_message(httpserver: HTTPServer) -> None:
    httpserver.expect_ordered_request(PATH).respond_with_json(
        {"StatusCode": 0, "StatusMessage": "success"})
    n = notification(firing=[alert()], resolved=[alert("DiskFull", firing=False)])
    assert await deliver(notifier(httpserver, msg_type="post"), n) == ak.Delivered(200)
    assert json.loads(httpserver.log[0][0].get_data()) == {
        "timestamp": "1700000123",
        "sign": expected_sign("1700000123"),
        "msg_type": "post",
        "content": {"post": {"zh_cn": {
            "title": "[FIRING:1] HighCPU",
            "content": [
                [{"tag": "text", "text": "🟠 HIGH HighCPU {host=\"web1\"} (value 95)"}],
                [{"tag": "text", "text": "    summary: web1 is busy"}],
                [{"tag": "text", "text": "✅ RESOLVED DiskFull {host=\"web1\"}"}],
            ],
        }}},
    }


@pytest.mark.anyio
@pytest.mark.parametrize(("code", "msg"), [(9499, "too many request"),
                                           (11232, "frequency limited psm[lark.oapi.app]")])
async def test_rate_limit_codes_are_retried(httpserver: HTTPServer, code: int, msg: str) -> None:
    httpserver.expect_ordered_request(PATH).respond_with_json({"code": code, "msg": msg})
    assert await deliver(notifier(httpserver), notification()) == ak.Retry(
        f"feishu rate limit: feishu error {code}: {msg}", status_code=200)


@pytest.mark.anyio
async def test_http_429_and_5xx_are_retried(httpserver: HTTPServer) -> None:
    httpserver.expect_ordered_request(PATH).respond_with_json(
        {"code": 9499, "msg": "too many request"}, status=429, headers={"Retry-After": "2"})
    httpserver.expect_ordered_request(PATH).respond_with_data("down", 500)
    first = await deliver(notifier(httpserver), notification())
    second = await deliver(notifier(httpserver), notification())
    assert first == ak.Retry("HTTP 429: feishu error 9499: too many request", status_code=429,
                             retry_at=T0 + 2)
    assert second == ak.Retry("HTTP 500: down", status_code=500)


@pytest.mark.anyio
async def test_a_bad_signature_fails_with_the_message(httpserver: HTTPServer) -> None:
    httpserver.expect_ordered_request(PATH).respond_with_json(
        {"code": 19021, "msg": f"sign match fail or timestamp is not within one hour, "
                               f"token {TOKEN}"})
    result = await deliver(notifier(httpserver), notification())
    assert result == ak.Failed(
        "HTTP 200: feishu error 19021: sign match fail or timestamp is not within one hour, "
        "token ***", status_code=200)


@pytest.mark.anyio
async def test_a_4xx_fails(httpserver: HTTPServer) -> None:
    httpserver.expect_ordered_request(PATH).respond_with_json(
        {"code": 9499, "msg": "Bad Request"}, status=400)
    assert await deliver(notifier(httpserver), notification()) == ak.Failed(
        "HTTP 400: feishu error 9499: Bad Request", status_code=400)


@pytest.mark.anyio
async def test_connection_refused_and_timeout_are_retried(httpserver: HTTPServer) -> None:
    refused = await deliver(notifier(api_url=f"http://127.0.0.1:{closed_port()}"),
                            notification())
    assert isinstance(refused, ak.Retry) and TOKEN not in repr(refused)
    release = threading.Event()

    def stall(request: Request) -> Response:
        release.wait(5)
        return Response("{}", 200)

    httpserver.expect_ordered_request(PATH).respond_with_handler(stall)
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


@settings(max_examples=30, deadline=None)
@given(count=st.integers(1, 40), truncated=st.integers(0, 3), limit=st.integers(500, 6000),
       note=st.text(max_size=200) | st.text('"\\\x01', max_size=400), post=st.booleans())
def test_text_fits_the_budget_and_counts_every_alert(
        count: int, truncated: int, limit: int, note: str, post: bool) -> None:
    alerts = [attrs.evolve(alert(host=f"web{i}"), annotations={"summary": note})
              for i in range(count)]
    n = attrs.evolve(notification(firing=alerts), truncated=truncated)
    bot = notifier(max_bytes=limit, msg_type="post" if post else "interactive")
    body = bot.payload(n)
    if post:
        paragraphs = body["content"]["post"]["zh_cn"]["content"]
        text = "\n".join(p[0]["text"] for p in paragraphs)
        compact = json.dumps(paragraphs, ensure_ascii=False, separators=(",", ":"))
        assert len(compact.encode()) <= limit
    else:
        text = body["card"]["elements"][0]["text"]["content"]
        assert len(json.dumps(text, ensure_ascii=False).encode()) <= limit
    assert len(json.dumps(body, ensure_ascii=False).encode()) <= 20_000
    match = _MORE.search(text)
    assert text.count("HighCPU {host=") + (int(match.group(1)) if match else 0) == count + truncated


def test_payload_is_signed_at_the_given_time() -> None:
    body = notifier().payload(notification(), now=1_700_000_000.5)
    assert body["timestamp"] == "1700000000" and body["sign"] == expected_sign("1700000000")


def test_repr_hides_token_and_secret() -> None:
    bot = notifier()
    assert repr(bot) == (
        "FeishuNotifier(msg_type='interactive', signed=True, api_url='https://open.feishu.cn')")
    for text in (repr(bot), repr(bot.config)):
        assert TOKEN not in text and SECRET not in text


def test_from_url_round_trips_to_the_same_config() -> None:
    assert FeishuNotifier.from_url(f"feishu://{SECRET}@{TOKEN}?msg_type=post").config == (
        FeishuConfig(token=TOKEN, secret=SECRET, msg_type="post"))
    lark = FeishuNotifier.from_url(f"lark://{TOKEN}", max_bytes=1000)
    assert lark.config == FeishuConfig(token=TOKEN, domain="lark", max_bytes=1000)
    assert lark.api_url == "https://open.larksuite.com"
    assert isinstance(notifier_from_url(f"lark://{TOKEN}"), FeishuNotifier)


@pytest.mark.parametrize(("fields", "message"), [
    ({"token": ""}, "token must be a non-empty string"),
    ({"token": "a/b"}, "token must not contain"),
    ({"secret": "two words"}, "secret must not contain"),
    ({"msg_type": "text"}, "msg_type must be 'interactive' or 'post'"),
    ({"domain": "dingtalk"}, "domain must be 'feishu' or 'lark'"),
    ({"api_url": "open.feishu.cn"}, "must be an http(s) URL"),
    ({"max_bytes": 10**6}, "max_bytes must be an int in 500..18000"),
])
def test_bad_config(fields: dict[str, Any], message: str) -> None:
    with pytest.raises(ak.NotifierConfigError, match=re.escape(message)) as info:
        FeishuConfig(**{"token": TOKEN, **fields})
    assert TOKEN not in str(info.value)


def test_notifier_needs_a_config() -> None:
    with pytest.raises(ak.NotifierConfigError, match="needs a FeishuConfig"):
        FeishuNotifier(TOKEN)  # type: ignore[arg-type]


@pytest.mark.parametrize(("url", "message"), [
    (f"https://{TOKEN}", "must start with feishu:// or lark://"),
    ("feishu://", "must be feishu://[SECRET@]TOKEN"),
    (f"feishu://{TOKEN}/x", "must be feishu://[SECRET@]TOKEN"),
    (f"feishu://{TOKEN}?msg_type=text", "msg_type must be 'interactive' or 'post'"),
    (f"feishu://{TOKEN}?color=red", "unknown option(s) color"),
])
def test_bad_url(url: str, message: str) -> None:
    with pytest.raises(ak.NotifierConfigError, match=re.escape(message)) as info:
        FeishuNotifier.from_url(url)
    assert TOKEN not in str(info.value)
