"""The Telegram channel against a real HTTP server on 127.0.0.1."""

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
from alertkit.notify.telegram import TelegramConfig, TelegramNotifier
from delivery_helpers import alert, closed_port, notification

T0 = 1_700_000_000.0
TOKEN = "7700112233:AAHsecretTOKENvalue_x-9"
CHAT = -1001234567890


def notifier(srv: HTTPServer | None = None, **kw: Any) -> TelegramNotifier:
    api = srv.url_for("") if srv is not None else "https://api.telegram.org"
    return TelegramNotifier(TelegramConfig(bot_token=TOKEN, chat_id=CHAT, api_url=api, **kw))


async def deliver(tg: TelegramNotifier, n: ak.Notification, *, timeout: float = 5.0
                  ) -> ak.DeliveryResult:
    async with httpx.AsyncClient() as client:
        return await tg.send(n, ak.DeliveryContext(http=client, now=T0, timeout=timeout))


PATH = f"/bot{TOKEN}/sendMessage"
OK = {"ok": True, "result": {"message_id": 7, "chat": {"id": CHAT}}}


@pytest.mark.anyio
async def test_sends_the_documented_body(httpserver: HTTPServer) -> None:
    httpserver.expect_ordered_request(PATH, method="POST").respond_with_json(OK)
    n = notification(firing=[alert(severity=ak.Severity.CRITICAL)],
                     resolved=[alert("DiskFull", host="db1", firing=False)])
    result = await deliver(notifier(httpserver), n)
    assert result == ak.Delivered(status_code=200)
    [(request, _)] = httpserver.log
    assert request.method == "POST" and request.path == PATH and not request.query_string
    assert request.headers["Content-Type"] == "application/json"
    assert json.loads(request.get_data()) == {
        "chat_id": CHAT,
        "parse_mode": "HTML",
        "disable_web_page_preview": True,
        "text": (
            "<b>[FIRING:1] HighCPU</b>\n\n"
            "🔴 <b>CRITICAL</b> <code>HighCPU</code> {host=\"web1\"}\n"
            "value 95\n"
            "<i>summary</i>: web1 is busy\n\n"
            "✅ <b>RESOLVED</b> <code>DiskFull</code> {host=\"db1\"}"
        ),
    }


@pytest.mark.anyio
async def test_options_reach_the_body_and_a_resolved_message(httpserver: HTTPServer) -> None:
    httpserver.expect_ordered_request(PATH, method="POST").respond_with_json(OK)
    tg = notifier(httpserver, message_thread_id=42, disable_notification=True,
                  disable_web_page_preview=False)
    n = notification(firing=[], resolved=[alert(firing=False)],
                     texts={"title": "All clear <now> & then"})
    assert await deliver(tg, n) == ak.Delivered(status_code=200)
    body = json.loads(httpserver.log[0][0].get_data())
    assert body == {
        "chat_id": CHAT,
        "parse_mode": "HTML",
        "disable_web_page_preview": False,
        "disable_notification": True,
        "message_thread_id": 42,
        "text": "<b>All clear &lt;now&gt; &amp; then</b>\n\n"
                "✅ <b>RESOLVED</b> <code>HighCPU</code> {host=\"web1\"}",
    }


@pytest.mark.anyio
async def test_channel_username_is_sent_as_a_string(httpserver: HTTPServer) -> None:
    httpserver.expect_ordered_request(PATH, method="POST").respond_with_json(OK)
    tg = TelegramNotifier(TelegramConfig(bot_token=TOKEN, chat_id="@ops_alerts",
                                         api_url=httpserver.url_for("/")))
    await deliver(tg, notification())
    assert json.loads(httpserver.log[0][0].get_data())["chat_id"] == "@ops_alerts"


@pytest.mark.anyio
async def test_429_retries_at_the_bodys_retry_after(httpserver: HTTPServer) -> None:
    httpserver.expect_ordered_request(PATH).respond_with_json(
        {"ok": False, "error_code": 429, "description": "Too Many Requests: retry after 35",
         "parameters": {"retry_after": 35}}, status=429)
    result = await deliver(notifier(httpserver), notification())
    assert result == ak.Retry(
        "HTTP 429: telegram error 429: Too Many Requests: retry after 35",
        status_code=429, retry_at=T0 + 35)


@pytest.mark.anyio
async def test_429_without_a_body_hint_uses_retry_after_header(httpserver: HTTPServer) -> None:
    httpserver.expect_ordered_request(PATH).respond_with_data(
        "slow down", status=429, headers={"Retry-After": "12"})
    result = await deliver(notifier(httpserver), notification())
    assert isinstance(result, ak.Retry) and result.retry_at == T0 + 12
    assert result.reason == "HTTP 429: slow down"


@pytest.mark.anyio
@pytest.mark.parametrize("status", [500, 502, 503, 504])
async def test_server_errors_are_retried(httpserver: HTTPServer, status: int) -> None:
    httpserver.expect_ordered_request(PATH).respond_with_json(
        {"ok": False, "error_code": status, "description": "Internal Server Error"},
        status=status)
    result = await deliver(notifier(httpserver), notification())
    assert isinstance(result, ak.Retry) and result.status_code == status
    assert result.retry_at is None


@pytest.mark.anyio
async def test_bad_request_fails_with_the_description(httpserver: HTTPServer) -> None:
    httpserver.expect_ordered_request(PATH).respond_with_json(
        {"ok": False, "error_code": 400, "description": "Bad Request: chat not found"},
        status=400)
    result = await deliver(notifier(httpserver), notification())
    assert result == ak.Failed("HTTP 400: telegram error 400: Bad Request: chat not found",
                               status_code=400)


@pytest.mark.anyio
async def test_unauthorized_fails_and_never_echoes_the_token(httpserver: HTTPServer) -> None:
    httpserver.expect_ordered_request(PATH).respond_with_json(
        {"ok": False, "error_code": 401, "description": f"Unauthorized: bot{TOKEN} unknown"},
        status=401)
    result = await deliver(notifier(httpserver), notification())
    assert isinstance(result, ak.Failed) and result.status_code == 401
    assert TOKEN not in repr(result) and "Unauthorized: bot*** unknown" in result.reason


@pytest.mark.anyio
async def test_a_200_with_ok_false_fails(httpserver: HTTPServer) -> None:
    httpserver.expect_ordered_request(PATH).respond_with_json(
        {"ok": False, "error_code": 403, "description": "Forbidden: bot was kicked"})
    result = await deliver(notifier(httpserver), notification())
    assert result == ak.Failed("HTTP 200: telegram error 403: Forbidden: bot was kicked",
                               status_code=200)


@pytest.mark.anyio
async def test_a_200_that_is_not_json_fails(httpserver: HTTPServer) -> None:
    httpserver.expect_ordered_request(PATH).respond_with_data("<html>proxy</html>", 200)
    result = await deliver(notifier(httpserver), notification())
    assert isinstance(result, ak.Failed)
    assert result.reason == "HTTP 200: the answer is not a telegram JSON object: <html>proxy</html>"


@pytest.mark.anyio
async def test_connection_refused_is_retried_without_the_token() -> None:
    tg = TelegramNotifier(TelegramConfig(bot_token=TOKEN, chat_id=CHAT,
                                         api_url=f"http://127.0.0.1:{closed_port()}"))
    result = await deliver(tg, notification())
    assert isinstance(result, ak.Retry) and result.reason.startswith("ConnectError")
    assert TOKEN not in repr(result)


@pytest.mark.anyio
async def test_a_timeout_is_retried(httpserver: HTTPServer) -> None:
    release = threading.Event()

    def stall(request: Request) -> Response:
        release.wait(5)
        return Response("late", 200)

    httpserver.expect_ordered_request(PATH).respond_with_handler(stall)
    try:
        result = await deliver(notifier(httpserver), notification(), timeout=0.2)
    finally:
        release.set()
    # Let the slow handler finish here, not in the next test's request log.
    for _ in range(500):
        if httpserver.log:
            break
        time.sleep(0.01)
    assert isinstance(result, ak.Retry) and result.reason.startswith("timeout")


def many_alerts(count: int, note: str = "x" * 300) -> list[ak.Alert]:
    return [attrs.evolve(alert(host=f"web{i:03}"), annotations={"summary": note})
            for i in range(count)]


_MORE = re.compile(r"… and (\d+) more alert\(s\) not shown\Z")


def test_emoji_count_twice_as_telegram_counts_them() -> None:
    n = notification(firing=many_alerts(20, "🔥" * 400), texts={"title": "🔥&" * 300})
    text = notifier().text(n)
    assert len(text.encode("utf-16-le")) // 2 <= 4096 < len(text) * 2
    match = _MORE.search(text)
    assert match is not None and text.count("<code>HighCPU</code>") + int(match.group(1)) == 20


def test_truncation_keeps_the_limit_and_counts_the_rest() -> None:
    n = notification(firing=many_alerts(40))
    text = notifier().text(n)
    assert len(text) <= 4096
    shown = text.count("<code>HighCPU</code>")
    match = _MORE.search(text)
    assert match is not None and 0 < shown < 40
    assert shown + int(match.group(1)) == 40


@settings(max_examples=40, deadline=None)
@given(count=st.integers(0, 30), truncated=st.integers(0, 5), limit=st.integers(200, 4096),
       note=st.text(max_size=120) | st.text("🔥&<", max_size=300))
def test_text_fits_and_accounts_for_every_alert(count: int, truncated: int, limit: int,
                                                 note: str) -> None:
    n = notification(firing=many_alerts(count, note) if count else [],
                     resolved=[] if count else [alert(firing=False)])
    n = attrs.evolve(n, truncated=truncated)
    text = notifier(max_chars=limit).text(n)
    assert len(text.encode("utf-16-le")) // 2 <= limit
    total = max(count, 1) + truncated
    shown = text.count("<code>HighCPU</code>")
    match = _MORE.search(text)
    assert shown + (int(match.group(1)) if match else 0) == total


@settings(max_examples=60, deadline=None)
@given(rule=st.text(min_size=1, max_size=30), value=st.text(max_size=60),
       label=st.text(max_size=30))
def test_alert_text_is_escaped_so_only_our_tags_remain(rule: str, value: str, label: str) -> None:
    a = attrs.evolve(alert(rule, team=label), annotations={"summary": value})
    text = notifier().text(notification(firing=[a], texts={"title": value}))
    assert set(re.findall(r"</?([^>\s]*)", text)) <= {"b", "i", "code"}
    assert "&" not in re.sub(r"&(lt|gt|amp);", "", text)
    plain = re.sub(r"</?(b|i|code)>", "", text).replace("&lt;", "<").replace(
        "&gt;", ">").replace("&amp;", "&")
    assert value.strip() == "" or " ".join(value.split()) in plain or value in plain


def test_repr_hides_the_token() -> None:
    tg = notifier(message_thread_id=3)
    assert repr(tg) == (
        "TelegramNotifier(chat_id='-1001234567890', api_url='https://api.telegram.org')")
    assert TOKEN not in repr(tg) and TOKEN not in repr(tg.config)
    assert "7700112233" not in repr(tg.config)


def test_from_url_round_trips_to_the_same_config() -> None:
    tg = TelegramNotifier.from_url(
        f"telegram://{TOKEN}/{CHAT}?thread=9&silent=yes&preview=yes", max_chars=1000)
    assert tg.config == TelegramConfig(
        bot_token=TOKEN, chat_id=str(CHAT), message_thread_id=9, disable_notification=True,
        disable_web_page_preview=False, max_chars=1000)
    assert TelegramNotifier.from_url(f"tgram://{TOKEN}/@ops_alerts").config == TelegramConfig(
        bot_token=TOKEN, chat_id="@ops_alerts")


def test_registered_under_its_schemes() -> None:
    assert isinstance(notifier_from_url(f"telegram://{TOKEN}/{CHAT}"), TelegramNotifier)
    assert isinstance(notifier_from_url(f"tgram://{TOKEN}/{CHAT}"), TelegramNotifier)


@pytest.mark.parametrize(("fields", "message"), [
    ({"bot_token": "not-a-token"}, "bot_token must look like"),
    ({"bot_token": ""}, "bot_token must look like"),
    ({"chat_id": "ops alerts"}, "chat_id 'ops alerts' must be"),
    ({"chat_id": 1.5}, "chat_id must be a string or an int"),
    ({"message_thread_id": 0}, "message_thread_id must be a positive int"),
    ({"disable_notification": "yes"}, "disable_notification must be True or False"),
    ({"max_chars": 5000}, "max_chars must be an int in 200..4096"),
    ({"api_url": "ftp://api.telegram.org"}, "must be an http(s) URL"),
    ({"api_url": "https://api.telegram.org/?x=1"}, "must be a plain base URL"),
])
def test_bad_config(fields: dict[str, Any], message: str) -> None:
    base: dict[str, Any] = {"bot_token": TOKEN, "chat_id": CHAT}
    with pytest.raises(ak.NotifierConfigError, match=re.escape(message)) as info:
        TelegramConfig(**{**base, **fields})
    assert TOKEN not in str(info.value)


def test_notifier_needs_a_config() -> None:
    with pytest.raises(ak.NotifierConfigError, match="needs a TelegramConfig"):
        TelegramNotifier(f"telegram://{TOKEN}/{CHAT}")  # type: ignore[arg-type]


@pytest.mark.parametrize(("url", "message"), [
    (f"slack://{TOKEN}/{CHAT}", "must start with telegram:// or tgram://"),
    (f"telegram://{TOKEN}", "must be telegram://BOT_TOKEN/CHAT_ID"),
    (f"telegram://{TOKEN}/{CHAT}/extra", "must be telegram://BOT_TOKEN/CHAT_ID"),
    (f"telegram://user@{TOKEN}/{CHAT}", "must be telegram://BOT_TOKEN/CHAT_ID"),
    (f"telegram://{TOKEN}/{CHAT}?colour=red", "unknown option(s) colour"),
    (f"telegram://{TOKEN}/{CHAT}?silent=maybe", "silent='maybe' is not yes/no"),
    (f"telegram://{TOKEN}/{CHAT}?thread=x", "thread must be a number"),
    (f"telegram://{TOKEN}/{CHAT}?thread=1&thread=2", "'thread' is given twice"),
    (f"telegram://{TOKEN}/{CHAT}#frag", "must not have a #fragment"),
    (f"telegram://{TOKEN}/{CHAT} x", "whitespace"),
])
def test_bad_url(url: str, message: str) -> None:
    with pytest.raises(ak.NotifierConfigError, match=re.escape(message)) as info:
        TelegramNotifier.from_url(url)
    assert TOKEN not in str(info.value)


@pytest.mark.anyio
async def test_the_worker_waits_for_retry_after_then_delivers(httpserver: HTTPServer) -> None:
    httpserver.expect_ordered_request(PATH).respond_with_json(
        {"ok": False, "error_code": 429, "description": "Too Many Requests: retry after 30",
         "parameters": {"retry_after": 30}}, status=429)
    httpserver.expect_ordered_request(PATH).respond_with_json(OK)
    clock = ak.FakeClock(T0)
    results: list[ak.DeliveryOutcome] = []
    worker = ak.DeliveryWorker(
        [ak.Receiver("ops", {"telegram": notifier(httpserver)}, timeout=5.0)],
        clock=clock, on_result=results.append,
        policy=ak.RetryPolicy(base=1, cap=4, max_attempts=5),
    )
    async with worker as w:
        await w.submit(notification())
        await w.wait_idle()
        [pending] = (await w.outbox.load()).entries
        assert pending.next_attempt_at == T0 + 30
        clock.set(T0 + 30)
        await w.wait_idle()
    assert [r.status_code for r in w.log.query()] == [429, 200]
    assert results[0].delivered and results[0].attempts == 2
    texts = [json.loads(req.get_data())["text"] for req, _ in httpserver.log]
    assert texts[0] == texts[1] and texts[0].startswith("<b>[FIRING:1] HighCPU</b>")
    assert all(TOKEN not in repr(r) for r in w.log.query())
