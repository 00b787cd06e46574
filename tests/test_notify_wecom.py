"""The WeCom group robot channel against a real HTTP server on 127.0.0.1."""

from __future__ import annotations

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
from alertkit.notify.registry import notifier_from_url
from alertkit.notify.wecom import WeComConfig, WeComNotifier
from delivery_helpers import alert, closed_port, notification

T0 = 1_700_000_000.0
KEY = "693a91f6-7abc-4bc4-97a0-0ec2s3cr3tkey"
OK = {"errcode": 0, "errmsg": "ok"}
PATH = "/cgi-bin/webhook/send"


def notifier(srv: HTTPServer | None = None, **kw: Any) -> WeComNotifier:
    if srv is not None:
        kw["api_url"] = srv.url_for("")
    return WeComNotifier(WeComConfig(key=KEY, **kw))


async def deliver(bot: WeComNotifier, n: ak.Notification, *, timeout: float = 5.0
                  ) -> ak.DeliveryResult:
    async with httpx.AsyncClient() as client:
        return await bot.send(n, ak.DeliveryContext(http=client, now=T0, timeout=timeout))


@pytest.mark.anyio
async def test_sends_the_documented_markdown_body(httpserver: HTTPServer) -> None:
    httpserver.expect_ordered_request(PATH, method="POST", query_string={"key": KEY}
                                      ).respond_with_json(OK)
    n = notification(firing=[alert(severity=ak.Severity.CRITICAL),
                             alert("Latency", host="api1", severity=ak.Severity.LOW)],
                     resolved=[alert("DiskFull", host="db1", firing=False)])
    bot = notifier(httpserver, mention_users=["zhangsan", "lisi"])
    assert await deliver(bot, n) == ak.Delivered(status_code=200)
    [(request, _)] = httpserver.log
    assert request.method == "POST" and request.headers["Content-Type"] == "application/json"
    assert json.loads(request.get_data()) == {
        "msgtype": "markdown",
        "markdown": {"content": (
            '## <font color="warning">[FIRING:2] HighCPU</font>\n\n'
            '- <font color="warning">🔴 **CRITICAL**</font> HighCPU {host="web1"} (value 95)\n'
            "> summary: web1 is busy\n"
            '- <font color="comment">🔵 **LOW**</font> Latency {host="api1"} (value 95)\n'
            "> summary: api1 is busy\n"
            '- <font color="info">✅ RESOLVED</font> DiskFull {host="db1"}\n\n'
            "<@zhangsan> <@lisi>"
        )},
    }


@pytest.mark.anyio
async def test_a_resolved_message_is_green_and_mentions_nobody(httpserver: HTTPServer) -> None:
    httpserver.expect_ordered_request(PATH).respond_with_json(OK)
    n = notification(firing=[], resolved=[alert(firing=False)])
    await deliver(notifier(httpserver, mention_users=["zhangsan"]), n)
    assert json.loads(httpserver.log[0][0].get_data())["markdown"]["content"] == (
        '## <font color="info">[RESOLVED] HighCPU</font>\n\n'
        '- <font color="info">✅ RESOLVED</font> HighCPU {host="web1"}')


@pytest.mark.anyio
async def test_rate_limit_errcode_is_retried_after_a_minute(httpserver: HTTPServer) -> None:
    httpserver.expect_ordered_request(PATH).respond_with_json(
        {"errcode": 45009, "errmsg": "api freq out of limit"})
    assert await deliver(notifier(httpserver), notification()) == ak.Retry(
        "wecom rate limit: wecom error 45009: api freq out of limit",
        status_code=200, retry_at=T0 + 60)


@pytest.mark.anyio
async def test_http_429_and_5xx_are_retried(httpserver: HTTPServer) -> None:
    httpserver.expect_ordered_request(PATH).respond_with_data(
        "", 429, headers={"Retry-After": "3"})
    httpserver.expect_ordered_request(PATH).respond_with_data("oops", 503)
    first = await deliver(notifier(httpserver), notification())
    second = await deliver(notifier(httpserver), notification())
    assert first == ak.Retry("HTTP 429", status_code=429, retry_at=T0 + 3)
    assert second == ak.Retry("HTTP 503: oops", status_code=503)


@pytest.mark.anyio
async def test_other_errcodes_fail_without_the_key(httpserver: HTTPServer) -> None:
    httpserver.expect_ordered_request(PATH).respond_with_json(
        {"errcode": 93000, "errmsg": f"invalid webhook url, key={KEY}, hint: [1700]"})
    result = await deliver(notifier(httpserver), notification())
    assert result == ak.Failed(
        "HTTP 200: wecom error 93000: invalid webhook url, key=***, hint: [1700]",
        status_code=200)
    assert KEY not in repr(result)


@pytest.mark.anyio
async def test_a_4xx_fails(httpserver: HTTPServer) -> None:
    httpserver.expect_ordered_request(PATH).respond_with_data("forbidden", 403)
    assert await deliver(notifier(httpserver), notification()) == ak.Failed(
        "HTTP 403: forbidden", status_code=403)


@pytest.mark.anyio
async def test_connection_refused_and_timeout_are_retried(httpserver: HTTPServer) -> None:
    refused = await deliver(notifier(api_url=f"http://127.0.0.1:{closed_port()}"),
                            notification())
    assert isinstance(refused, ak.Retry) and KEY not in repr(refused)
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


def test_chinese_text_is_cut_by_bytes_not_characters() -> None:
    note = "磁盘空间不足请尽快处理" * 20  # 3 bytes a character
    alerts = [attrs.evolve(alert(host=f"web{i}"), annotations={"summary": note})
              for i in range(30)]
    content = notifier().content(notification(firing=alerts))
    assert len(content.encode()) <= 4096 < len(content) * 3
    match = _MORE.search(content)
    assert match is not None
    assert content.count("**HIGH**") + int(match.group(1)) == 30


@settings(max_examples=40, deadline=None)
@given(count=st.integers(1, 40), truncated=st.integers(0, 3), limit=st.integers(300, 4096),
       note=st.text(max_size=150), users=st.lists(st.sampled_from(["a1", "zhang.san"]),
                                                  max_size=2))
def test_content_fits_the_byte_limit_and_counts_every_alert(
        count: int, truncated: int, limit: int, note: str, users: list[str]) -> None:
    alerts = [attrs.evolve(alert(host=f"web{i}"), annotations={"summary": note})
              for i in range(count)]
    n = attrs.evolve(notification(firing=alerts), truncated=truncated)
    content = notifier(max_bytes=limit, mention_users=users).content(n)
    assert len(content.encode()) <= limit
    match = _MORE.search(content)
    assert content.count("**HIGH**") + (int(match.group(1)) if match else 0) == count + truncated


def test_repr_hides_the_key() -> None:
    bot = notifier()
    assert repr(bot) == "WeComNotifier(mention_users=(), api_url='https://qyapi.weixin.qq.com')"
    assert KEY not in repr(bot.config)


def test_from_url_round_trips_to_the_same_config() -> None:
    bot = WeComNotifier.from_url(f"wecom://{KEY}?mention=zhangsan,lisi", max_bytes=2048)
    assert bot.config == WeComConfig(key=KEY, mention_users=("zhangsan", "lisi"), max_bytes=2048)
    assert isinstance(notifier_from_url(f"wxwork://{KEY}"), WeComNotifier)
    assert WeComNotifier.from_url(f"wxwork://{KEY}").config == WeComConfig(key=KEY)


@pytest.mark.parametrize(("fields", "message"), [
    ({"key": ""}, "key must be a non-empty string"),
    ({"key": "a&b"}, "key must not contain"),
    ({"mention_users": "zhangsan"}, "must be a list of WeCom user ids"),
    ({"mention_users": ["two words"]}, "'two words' is not a WeCom user id"),
    ({"max_bytes": 4097}, "max_bytes must be an int in 300..4096"),
    ({"api_url": "https://qyapi.weixin.qq.com#x"}, "must be a plain base URL"),
])
def test_bad_config(fields: dict[str, Any], message: str) -> None:
    with pytest.raises(ak.NotifierConfigError, match=re.escape(message)) as info:
        WeComConfig(**{"key": KEY, **fields})
    assert KEY not in str(info.value)


def test_notifier_needs_a_config() -> None:
    with pytest.raises(ak.NotifierConfigError, match="needs a WeComConfig"):
        WeComNotifier(KEY)  # type: ignore[arg-type]


@pytest.mark.parametrize(("url", "message"), [
    (f"wechat://{KEY}", "must start with wecom:// or wxwork://"),
    ("wecom://", "must be wecom://KEY"),
    (f"wecom://user@{KEY}", "must be wecom://KEY"),
    (f"wecom://{KEY}?at=x", "unknown option(s) at"),
])
def test_bad_url(url: str, message: str) -> None:
    with pytest.raises(ak.NotifierConfigError, match=re.escape(message)) as info:
        WeComNotifier.from_url(url)
    assert KEY not in str(info.value)


def test_a_long_title_and_many_mentions_still_fit() -> None:
    users = [f"user{i:03}" for i in range(60)]
    n = notification(firing=[alert()], texts={"title": "告警" * 200})
    content = notifier(max_bytes=300, mention_users=users).content(n)
    assert len(content.encode()) <= 300
    assert content.startswith('## <font color="warning">告警')
