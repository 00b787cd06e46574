"""The Google Chat channel against a real HTTP server on 127.0.0.1."""

from __future__ import annotations

import json
import re
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
from alertkit._errors import NotifierConfigError
from alertkit.notify._chatlayout import group_token
from alertkit.notify.googlechat import GoogleChatConfig, GoogleChatNotifier
from alertkit.notify.registry import default_registry
from alertkit.notify.sender import DeliveryContext
from delivery_helpers import alert, closed_port, notification

T0 = 1_700_000_000.0
KEY = "AIzaSyDdI0hCZtE6vySjMm-WEfRq3CPzqKqqsHI"
TOKEN = "s3cretT0ken_abcdefghijklmnopqrstuvwxyz%3D"
PATH = "/v1/spaces/AAAAbcdE123/messages"


def gchat(srv: HTTPServer, **kw: Any) -> GoogleChatNotifier:
    return GoogleChatNotifier(GoogleChatConfig(space="AAAAbcdE123", key=KEY, token=TOKEN,
                                               base_url=srv.url_for("/"), **kw))


async def deliver(notifier: GoogleChatNotifier, n: ak.Notification, *, timeout: float = 5.0
                  ) -> ak.DeliveryResult:
    async with httpx.AsyncClient() as client:
        return await notifier.send(n, DeliveryContext(http=client, now=T0, timeout=timeout))


def sent(srv: HTTPServer, index: int = -1) -> tuple[Request, Any]:
    request, _ = srv.log[index]
    return request, json.loads(request.get_data())


@pytest.mark.anyio
async def test_text_message_in_the_group_thread(httpserver: HTTPServer) -> None:
    httpserver.expect_request(PATH, method="POST").respond_with_json(
        {"name": "spaces/AAAAbcdE123/messages/x", "thread": {"name": "spaces/A/threads/t"}})
    n = notification(texts={"title": "[FIRING:1] HighCPU", "body": "🟠 FIRING HighCPU web1"})
    assert await deliver(gchat(httpserver), n) == ak.Delivered(200)
    request, body = sent(httpserver)
    assert dict(request.args) == {"key": KEY, "token": TOKEN,
                                  "messageReplyOption": "REPLY_MESSAGE_FALLBACK_TO_NEW_THREAD"}
    assert request.headers["Content-Type"] == "application/json"
    assert body == {
        "text": "*[FIRING:1] HighCPU*\n🟠 FIRING HighCPU web1",
        "thread": {"threadKey": f"alertkit-{group_token('ops/g1')}"},
    }


@pytest.mark.anyio
async def test_the_resolution_goes_to_the_same_thread(httpserver: HTTPServer) -> None:
    httpserver.expect_request(PATH).respond_with_json({"name": "m"})
    notifier = gchat(httpserver)
    await deliver(notifier, notification())
    await deliver(notifier, notification(firing=[], resolved=[alert(firing=False)]))
    _, first = sent(httpserver, 0)
    _, second = sent(httpserver, 1)
    assert first["thread"] == second["thread"]
    assert second["text"].startswith("*[RESOLVED] HighCPU*\n✅ RESOLVED HighCPU")
    # Another group, another thread.
    other = notifier.payload(notification(group="g2"))
    assert other["thread"] != first["thread"]


@pytest.mark.anyio
async def test_card_message(httpserver: HTTPServer) -> None:
    httpserver.expect_request(PATH).respond_with_json({"name": "m"})
    n = notification(firing=[alert(severity=ak.Severity.CRITICAL)],
                     resolved=[alert(host="web2", firing=False)],
                     texts={"title": "[FIRING:1] HighCPU"})
    assert await deliver(gchat(httpserver, format="card"), n) == ak.Delivered(200)
    _, body = sent(httpserver)
    assert body == {
        "cardsV2": [{"cardId": "alertkit", "card": {
            "header": {"title": "[FIRING:1] HighCPU", "subtitle": "ops"},
            "sections": [{"widgets": [
                {"textParagraph": {"text": '<font color="#d00000">●</font> <b>FIRING</b> '
                                           "HighCPU host=web1 (value 95)<br>web1 is busy"}},
                {"textParagraph": {"text": '<font color="#2eb886">●</font> <b>RESOLVED</b> '
                                           "HighCPU host=web2<br>web2 is busy"}},
            ]}],
        }}],
        "thread": {"threadKey": f"alertkit-{group_token('ops/g1')}"},
    }


@pytest.mark.anyio
async def test_without_threading(httpserver: HTTPServer) -> None:
    httpserver.expect_request(PATH).respond_with_json({"name": "m"})
    await deliver(gchat(httpserver, thread=False), notification())
    request, body = sent(httpserver)
    assert "messageReplyOption" not in request.args and "thread" not in body


def test_card_text_is_html_escaped() -> None:
    notifier = GoogleChatNotifier(GoogleChatConfig(space="A", key=KEY, token=TOKEN,
                                                   format="card"))
    a = attrs.evolve(alert(), annotations={"summary": "<script>&"})
    widgets = notifier.payload(notification(firing=[a]))["cardsV2"][0]["card"]["sections"][0]
    assert widgets["widgets"][0]["textParagraph"]["text"].endswith("&lt;script&gt;&amp;")


@pytest.mark.anyio
async def test_429_retries_after_the_header(httpserver: HTTPServer) -> None:
    httpserver.expect_request(PATH).respond_with_json(
        {"error": {"code": 429, "message": "Resource has been exhausted",
                   "status": "RESOURCE_EXHAUSTED"}}, status=429, headers={"Retry-After": "9"})
    result = await deliver(gchat(httpserver), notification())
    assert isinstance(result, ak.Retry)
    assert result.status_code == 429 and result.retry_at == T0 + 9


@pytest.mark.anyio
async def test_5xx_retries(httpserver: HTTPServer) -> None:
    httpserver.expect_request(PATH).respond_with_data("unavailable", 503)
    assert await deliver(gchat(httpserver), notification()) == ak.Retry(
        "HTTP 503: unavailable", status_code=503)


@pytest.mark.anyio
@pytest.mark.parametrize(("status", "reason"), [
    (400, "INVALID_ARGUMENT"), (403, "PERMISSION_DENIED"), (404, "NOT_FOUND")])
async def test_4xx_is_permanent_and_scrubbed(httpserver: HTTPServer, status: int, reason: str
                                             ) -> None:
    httpserver.expect_request(PATH).respond_with_json(
        {"error": {"code": status, "message": f"bad key {KEY}", "status": reason}},
        status=status)
    result = await deliver(gchat(httpserver), notification())
    assert isinstance(result, ak.Failed) and result.status_code == status
    assert reason in result.reason and KEY not in result.reason


@pytest.mark.anyio
async def test_refused_and_timeout_retry(httpserver: HTTPServer) -> None:
    refused = GoogleChatNotifier(GoogleChatConfig(
        space="A", key=KEY, token=TOKEN, base_url=f"http://127.0.0.1:{closed_port()}"))
    result = await deliver(refused, notification())
    assert isinstance(result, ak.Retry) and KEY not in result.reason


    def slow(request: Request) -> Response:
        time.sleep(0.5)

        return Response("{}")

    httpserver.expect_request(PATH).respond_with_handler(slow)
    result = await deliver(gchat(httpserver), notification(), timeout=0.1)
    assert isinstance(result, ak.Retry) and result.reason.startswith("timeout")
    # Let the slow handler finish here, not in the next test's request log.
    for _ in range(500):
        if httpserver.log:
            break
        time.sleep(0.01)


# -- limits ----------------------------------------------------------------------------


def test_long_text_is_cut_with_the_count_left_out() -> None:
    notifier = GoogleChatNotifier(GoogleChatConfig(space="A", key=KEY, token=TOKEN))
    n = attrs.evolve(notification(firing=[alert(host=f"web{i}") for i in range(300)]),
                     truncated=4)
    text = notifier.payload(n)["text"]
    assert len(text) <= 4096
    shown = text.count("*FIRING*")
    match = re.search(r"… and (\d+) more alert\(s\) not shown\Z", text)
    assert match is not None and shown + int(match.group(1)) == 304


@settings(max_examples=25, deadline=None)
@given(k=st.integers(1, 400), summary_len=st.integers(0, 5000), truncated=st.integers(0, 5),
       card=st.booleans())
def test_message_stays_within_limits(k: int, summary_len: int, truncated: int, card: bool
                                     ) -> None:
    notifier = GoogleChatNotifier(GoogleChatConfig(
        space="A", key=KEY, token=TOKEN, format="card" if card else "text"))
    alerts = [attrs.evolve(alert(host=f"h{i}"), annotations={"summary": "€" * summary_len})
              for i in range(k)]
    body = notifier.payload(attrs.evolve(notification(firing=alerts), truncated=truncated))
    assert len(json.dumps(body, ensure_ascii=False, separators=(",", ":")).encode()) <= 32_000
    if not card:
        assert len(body["text"]) <= 4096


# -- config, URL form, repr ------------------------------------------------------------


def test_from_url_round_trip() -> None:
    expected = GoogleChatConfig(space="AAAAbcdE123", key=KEY, token=TOKEN, format="card",
                                thread=False)
    got = GoogleChatNotifier.from_url(
        f"gchat://AAAAbcdE123/{KEY}/{TOKEN.replace('%', '%25')}?format=card&thread=no")
    assert got.config == expected
    webhook = GoogleChatNotifier.from_url(
        f"https://chat.googleapis.com/v1/spaces/AAAAbcdE123/messages?key={KEY}&token=t0k",
        format="card", thread=False)
    assert webhook.config == attrs.evolve(expected, token="t0k")
    assert isinstance(default_registry.from_url(f"googlechat://A/{KEY}/t0k"),
                      GoogleChatNotifier)


def test_repr_shows_no_secret() -> None:
    config = GoogleChatConfig(space="A", key=KEY, token=TOKEN)
    for text in (repr(config), repr(GoogleChatNotifier(config))):
        assert KEY not in text and TOKEN not in text


@pytest.mark.parametrize(("kwargs", "message"), [
    ({"space": "", "key": KEY, "token": TOKEN}, "space must be"),
    ({"space": "spaces/A", "key": KEY, "token": TOKEN}, "space must be"),
    ({"space": "A", "key": "", "token": TOKEN}, "key must be"),
    ({"space": "A", "key": KEY, "token": "a&b"}, "token must be"),
    ({"space": "A", "key": KEY, "token": TOKEN, "format": "html"}, "'text' or 'card'"),
    ({"space": "A", "key": KEY, "token": TOKEN, "thread": 1}, "True or False"),
    ({"space": "A", "key": KEY, "token": TOKEN, "base_url": "chat"}, "base_url"),
])
def test_bad_config(kwargs: dict[str, Any], message: str) -> None:
    with pytest.raises(NotifierConfigError, match=message) as info:
        GoogleChatConfig(**kwargs)
    assert KEY not in str(info.value) and TOKEN not in str(info.value)


@pytest.mark.parametrize(("url", "message"), [
    (f"gchat://A/{KEY}", "gchat://SPACE/KEY/TOKEN"),
    (f"gchat://A/{KEY}/t?colour=red", "option 'colour' is unknown"),
    (f"gchat://A/{KEY}/t?thread=perhaps", "yes or no"),
    (f"https://chat.googleapis.com/v1/spaces/A/messages?key={KEY}", "must be https://"),
    (f"https://example.com/v1/spaces/A/messages?key={KEY}&token=t", "must be https://"),
])
def test_bad_url(url: str, message: str) -> None:
    with pytest.raises(NotifierConfigError, match=message) as info:
        GoogleChatNotifier.from_url(url)
    assert KEY not in str(info.value)


def test_notifier_needs_a_config() -> None:
    with pytest.raises(NotifierConfigError, match="needs a GoogleChatConfig"):
        GoogleChatNotifier({})  # type: ignore[arg-type]
