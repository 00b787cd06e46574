"""The Slack channel against a real HTTP server on 127.0.0.1 (webhook and Web API modes)."""

from __future__ import annotations

import json
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
from alertkit.notify._chatlayout import rendered_body
from alertkit.notify.registry import default_registry
from alertkit.notify.sender import DeliveryContext
from alertkit.notify.slack import SlackConfig, SlackNotifier
from delivery_helpers import alert, closed_port, notification

T0 = 1_700_000_000.0
TOKEN = "xoxb-1111-2222-s3cretT0kenValue"
HOOK_SECRET = "Zq8s3cretHookPart"


def hook(srv: HTTPServer, **kw: Any) -> SlackNotifier:
    url = srv.url_for(f"/services/T000/B000/{HOOK_SECRET}")
    return SlackNotifier(SlackConfig(webhook_url=url, **kw))


def api(srv: HTTPServer, **kw: Any) -> SlackNotifier:
    kw.setdefault("channel", "#alerts")
    return SlackNotifier(SlackConfig(token=TOKEN, api_url=srv.url_for("/api"), **kw))


async def deliver(notifier: SlackNotifier, n: ak.Notification, *, timeout: float = 5.0
                  ) -> ak.DeliveryResult:
    async with httpx.AsyncClient() as client:
        return await notifier.send(n, DeliveryContext(http=client, now=T0, timeout=timeout))


def body_of(srv: HTTPServer, index: int = -1) -> Any:
    request, _ = srv.log[index]
    return json.loads(request.get_data())


TEXTS = {"title": "[FIRING:1] HighCPU", "body.slack": "🟠 *FIRING* `HighCPU` host=web1"}


# -- incoming webhook ------------------------------------------------------------------


@pytest.mark.anyio
async def test_webhook_posts_the_documented_body(httpserver: HTTPServer) -> None:
    httpserver.expect_request(f"/services/T000/B000/{HOOK_SECRET}", method="POST") \
        .respond_with_data("ok", 200)
    result = await deliver(hook(httpserver), notification(texts=TEXTS))
    assert result == ak.Delivered(200)
    request, _ = httpserver.log[0]
    assert request.headers["Content-Type"] == "application/json"
    assert "Authorization" not in request.headers
    assert body_of(httpserver) == {
        "text": "[FIRING:1] HighCPU",
        "blocks": [{"type": "header", "text": {
            "type": "plain_text", "text": "[FIRING:1] HighCPU", "emoji": True}}],
        "attachments": [{"color": "#e8590c", "blocks": [{"type": "section", "text": {
            "type": "mrkdwn", "text": "🟠 *FIRING* `HighCPU` host=web1"}}]}],
    }


@pytest.mark.anyio
async def test_webhook_default_texts_and_resolved_colour(httpserver: HTTPServer) -> None:
    httpserver.expect_request(f"/services/T000/B000/{HOOK_SECRET}").respond_with_data("ok")
    n = notification(firing=[], resolved=[alert(firing=False)])
    assert await deliver(hook(httpserver, username="alertkit", icon_emoji=":rotating_light:"),
                         n) == ak.Delivered(200)
    body = body_of(httpserver)
    assert body["text"] == "[RESOLVED] HighCPU"
    assert body["username"] == "alertkit" and body["icon_emoji"] == ":rotating_light:"
    [attachment] = body["attachments"]
    assert attachment["color"] == "#2eb886"
    [section] = attachment["blocks"]
    assert section["text"]["text"] == "✅ *RESOLVED* `HighCPU` alertname=HighCPU, host=web1"


@pytest.mark.anyio
@pytest.mark.parametrize(("status", "text"), [
    (400, "invalid_payload"), (400, "no_text"), (403, "action_prohibited"),
    (404, "channel_not_found"), (410, "channel_is_archived")])
async def test_webhook_errors_are_permanent(httpserver: HTTPServer, status: int, text: str
                                            ) -> None:
    httpserver.expect_request(f"/services/T000/B000/{HOOK_SECRET}").respond_with_data(
        text, status)
    result = await deliver(hook(httpserver), notification())
    assert result == ak.Failed(f"HTTP {status}: {text}", status_code=status)


@pytest.mark.anyio
async def test_webhook_429_retries_after_the_header(httpserver: HTTPServer) -> None:
    httpserver.expect_request(f"/services/T000/B000/{HOOK_SECRET}").respond_with_data(
        "rate_limited", 429, headers={"Retry-After": "30"})
    result = await deliver(hook(httpserver), notification())
    assert result == ak.Retry("HTTP 429: rate_limited", status_code=429, retry_at=T0 + 30)


@pytest.mark.anyio
async def test_webhook_5xx_retries(httpserver: HTTPServer) -> None:
    httpserver.expect_request(f"/services/T000/B000/{HOOK_SECRET}").respond_with_data(
        "oops", 503)
    result = await deliver(hook(httpserver), notification())
    assert isinstance(result, ak.Retry) and result.status_code == 503


@pytest.mark.anyio
async def test_connection_refused_retries_without_the_secret() -> None:
    notifier = SlackNotifier(SlackConfig(
        webhook_url=f"http://127.0.0.1:{closed_port()}/services/T000/B000/{HOOK_SECRET}"))
    result = await deliver(notifier, notification())
    assert isinstance(result, ak.Retry) and HOOK_SECRET not in result.reason


@pytest.mark.anyio
async def test_timeout_retries(httpserver: HTTPServer) -> None:
    def slow(request: Request) -> Response:
        time.sleep(0.5)
        return Response("ok")

    httpserver.expect_request(f"/services/T000/B000/{HOOK_SECRET}").respond_with_handler(slow)
    result = await deliver(hook(httpserver), notification(), timeout=0.1)
    assert isinstance(result, ak.Retry) and result.reason.startswith("timeout")
    # Let the slow handler finish here, not in the next test's request log.
    for _ in range(500):
        if httpserver.log:
            break
        time.sleep(0.01)


# -- chat.postMessage ------------------------------------------------------------------


@pytest.mark.anyio
async def test_api_posts_then_threads_the_resolution(httpserver: HTTPServer) -> None:
    httpserver.expect_ordered_request("/api/chat.postMessage", method="POST").respond_with_json(
        {"ok": True, "channel": "C0123", "ts": "1700000000.000100"})
    httpserver.expect_ordered_request("/api/chat.postMessage", method="POST").respond_with_json(
        {"ok": True, "channel": "C0123", "ts": "1700000600.000200"})
    notifier = api(httpserver)
    firing = notification(texts=TEXTS)
    result = await deliver(notifier, firing)
    assert result == ak.Delivered(200, detail="ts=1700000000.000100")
    assert notifier.thread_of(firing.group_key) == ("C0123", "1700000000.000100")
    request, _ = httpserver.log[0]
    assert request.headers["Authorization"] == f"Bearer {TOKEN}"
    assert request.headers["Content-Type"] == "application/json"
    assert body_of(httpserver, 0) == {
        "channel": "#alerts",
        "text": "[FIRING:1] HighCPU",
        "blocks": [{"type": "header", "text": {
            "type": "plain_text", "text": "[FIRING:1] HighCPU", "emoji": True}}],
        "attachments": [{"color": "#e8590c", "blocks": [{"type": "section", "text": {
            "type": "mrkdwn", "text": "🟠 *FIRING* `HighCPU` host=web1"}}]}],
    }
    resolved = notification(firing=[], resolved=[alert(firing=False)],
                            texts={"title": "[RESOLVED] HighCPU", "body.slack": "done"})
    assert resolved.group_key == firing.group_key
    assert await deliver(notifier, resolved) == ak.Delivered(200, detail="ts=1700000600.000200")
    assert body_of(httpserver, 1) == {
        "channel": "C0123",
        "thread_ts": "1700000000.000100",
        "text": "[RESOLVED] HighCPU",
        "blocks": [{"type": "header", "text": {
            "type": "plain_text", "text": "[RESOLVED] HighCPU", "emoji": True}}],
        "attachments": [{"color": "#2eb886", "blocks": [{"type": "section", "text": {
            "type": "mrkdwn", "text": "done"}}]}],
    }
    assert notifier.thread_of(firing.group_key) is None  # the group's thread is closed


@pytest.mark.anyio
async def test_api_without_threading_posts_resolutions_top_level(httpserver: HTTPServer
                                                                 ) -> None:
    httpserver.expect_request("/api/chat.postMessage").respond_with_json(
        {"ok": True, "channel": "C0123", "ts": "1.2"})
    notifier = api(httpserver, thread_resolved=False)
    await deliver(notifier, notification())
    await deliver(notifier, notification(firing=[], resolved=[alert(firing=False)]))
    assert "thread_ts" not in body_of(httpserver, 1)
    assert notifier.thread_of("ops/g1") is None


@pytest.mark.anyio
async def test_api_remembers_a_bounded_number_of_threads(httpserver: HTTPServer) -> None:
    counter = iter(range(100))

    def answer(request: Request) -> Response:
        return Response(json.dumps({"ok": True, "channel": "C1", "ts": f"{next(counter)}.0"}),
                        content_type="application/json")

    httpserver.expect_request("/api/chat.postMessage").respond_with_handler(answer)
    notifier = api(httpserver, max_threads=2)
    for group in ("a", "b", "c"):
        await deliver(notifier, notification(group=group))
    assert notifier.thread_of("ops/a") is None  # the least recently used went first
    assert notifier.thread_of("ops/b") == ("C1", "1.0")
    assert notifier.thread_of("ops/c") == ("C1", "2.0")
    # An unknown thread: the resolution goes to the configured channel, top level.
    await deliver(notifier, notification(group="a", firing=[], resolved=[alert(firing=False)]))
    assert body_of(httpserver)["channel"] == "#alerts" and "thread_ts" not in body_of(httpserver)


@pytest.mark.anyio
async def test_api_ratelimited_body_retries_after_the_header(httpserver: HTTPServer) -> None:
    httpserver.expect_request("/api/chat.postMessage").respond_with_json(
        {"ok": False, "error": "ratelimited"}, headers={"Retry-After": "12"})
    result = await deliver(api(httpserver), notification())
    assert result == ak.Retry("Slack API error: ratelimited", status_code=200, retry_at=T0 + 12)


@pytest.mark.anyio
async def test_api_http_429_retries(httpserver: HTTPServer) -> None:
    httpserver.expect_request("/api/chat.postMessage").respond_with_data(
        "", 429, headers={"Retry-After": "3"})
    result = await deliver(api(httpserver), notification())
    assert result == ak.Retry("HTTP 429", status_code=429, retry_at=T0 + 3)


@pytest.mark.anyio
@pytest.mark.parametrize("error", ["channel_not_found", "invalid_auth", "not_in_channel"])
async def test_api_errors_are_permanent(httpserver: HTTPServer, error: str) -> None:
    httpserver.expect_request("/api/chat.postMessage").respond_with_json(
        {"ok": False, "error": error})
    notifier = api(httpserver)
    result = await deliver(notifier, notification())
    assert result == ak.Failed(f"Slack API error: {error}", status_code=200)
    assert notifier.thread_of("ops/g1") is None


@pytest.mark.anyio
async def test_api_transient_error_retries(httpserver: HTTPServer) -> None:
    httpserver.expect_request("/api/chat.postMessage").respond_with_json(
        {"ok": False, "error": "internal_error"})
    result = await deliver(api(httpserver), notification())
    assert result == ak.Retry("Slack API error: internal_error", status_code=200)


@pytest.mark.anyio
async def test_api_answer_that_is_not_slack_json_fails(httpserver: HTTPServer) -> None:
    httpserver.expect_request("/api/chat.postMessage").respond_with_data("<html>hi</html>")
    result = await deliver(api(httpserver), notification())
    assert isinstance(result, ak.Failed) and "unexpected answer: <html>hi</html>" in result.reason


@pytest.mark.anyio
async def test_api_results_never_quote_the_token(httpserver: HTTPServer) -> None:
    httpserver.expect_request("/api/chat.postMessage").respond_with_json(
        {"ok": False, "error": f"token {TOKEN} revoked"})
    result = await deliver(api(httpserver), notification())
    assert isinstance(result, ak.Failed)
    assert TOKEN not in result.reason and "***" in result.reason
    httpserver.clear()
    httpserver.expect_request("/api/chat.postMessage").respond_with_data(f"bad {TOKEN}", 500)
    result = await deliver(api(httpserver), notification())
    assert isinstance(result, ak.Retry) and TOKEN not in result.reason


# -- limits ----------------------------------------------------------------------------


def _many(k: int, *, truncated: int = 0, summary: str = "busy") -> ak.Notification:
    alerts = [attrs.evolve(alert(host=f"web{i}"), annotations={"summary": summary})
              for i in range(k)]
    return attrs.evolve(notification(firing=alerts), truncated=truncated)


def test_many_alerts_fit_in_50_blocks_with_the_count_left_out() -> None:
    notifier = SlackNotifier(SlackConfig(token=TOKEN, channel="C1"))
    body = notifier.payload(_many(80, truncated=5))
    sections = body["attachments"][0]["blocks"]
    assert len(body["blocks"]) + len(sections) == 50
    assert sections[-1] == {"type": "context", "elements": [
        {"type": "mrkdwn", "text": "… and 37 more alert(s) not shown"}]}
    assert sections[0]["text"]["text"] == (
        "🟠 *FIRING* `HighCPU` host=web0 (value 95)\n> busy")


def test_a_long_alert_is_cut_at_3000_characters_with_a_marker() -> None:
    notifier = SlackNotifier(SlackConfig(token=TOKEN, channel="C1"))
    body = notifier.payload(_many(2, summary="x" * 5000))
    sections = body["attachments"][0]["blocks"]
    assert [len(s["text"]["text"]) for s in sections] == [3000, 3000]
    assert all(s["text"]["text"].endswith("…(truncated)") for s in sections)


def test_a_long_title_is_cut_in_the_header() -> None:
    notifier = SlackNotifier(SlackConfig(token=TOKEN, channel="C1"))
    body = notifier.payload(notification(texts={"title": "T" * 500, "body.slack": "b"}))
    assert len(body["blocks"][0]["text"]["text"]) == 150
    assert body["text"] == "T" * 500


def test_empty_texts_never_make_empty_blocks() -> None:
    notifier = SlackNotifier(SlackConfig(token=TOKEN, channel="C1"))
    body = notifier.payload(notification(texts={"title": " ", "body.slack": ""}))
    assert body["text"] == "[FIRING] ops"
    assert body["blocks"][0]["text"]["text"] == "[FIRING] ops"
    assert body["attachments"][0]["blocks"][0]["text"]["text"].startswith("🟠 *FIRING*")


@settings(max_examples=25, deadline=None)
@given(k=st.integers(1, 120), truncated=st.integers(0, 50),
       summary_len=st.integers(0, 4000))
def test_blocks_stay_within_slack_limits(k: int, truncated: int, summary_len: int) -> None:
    notifier = SlackNotifier(SlackConfig(token=TOKEN, channel="C1"))
    n = _many(k, truncated=truncated, summary="s" * summary_len or "x")
    body = notifier.payload(n)
    blocks = body["blocks"] + body["attachments"][0]["blocks"]
    assert len(blocks) <= 50
    sections = [b for b in blocks if b["type"] == "section"]
    assert all(len(s["text"]["text"]) <= 3000 for s in sections)
    notes = [b for b in blocks if b["type"] == "context"]
    if notes:
        left = int(notes[0]["elements"][0]["text"].split()[2])
    else:
        left = 0
    if [s["text"]["text"] for s in sections] == [rendered_body(n, "slack")]:
        return  # the rendered body fitted in one section, with every alert or the count
    assert len(sections) + left == k + truncated


# -- config, URL form, repr ------------------------------------------------------------


def test_from_url_webhook_round_trip() -> None:
    notifier = SlackNotifier.from_url(f"slack://T000/B000/{HOOK_SECRET}?username=bot")
    assert notifier.config == SlackConfig(
        webhook_url=f"https://hooks.slack.com/services/T000/B000/{HOOK_SECRET}",
        username="bot")
    same = SlackNotifier.from_url(f"https://hooks.slack.com/services/T000/B000/{HOOK_SECRET}")
    assert same.config == SlackConfig(
        webhook_url=f"https://hooks.slack.com/services/T000/B000/{HOOK_SECRET}")


def test_from_url_api_round_trip() -> None:
    notifier = SlackNotifier.from_url(
        f"slack://{TOKEN}/#alerts?icon_emoji=:fire:&thread_resolved=no", max_threads=5)
    assert notifier.config == SlackConfig(
        token=TOKEN, channel="#alerts", icon_emoji=":fire:", thread_resolved=False,
        max_threads=5)
    assert SlackNotifier.from_url(f"slack://{TOKEN}/%23ops").config.channel == "#ops"


def test_registered_for_the_slack_scheme() -> None:
    notifier = default_registry.from_url(f"slack://{TOKEN}/C0123")
    assert isinstance(notifier, SlackNotifier) and notifier.config.channel == "C0123"
    assert "slack" in default_registry.schemes()


def test_repr_shows_no_secret() -> None:
    config = SlackConfig(webhook_url=f"https://hooks.slack.com/services/T0/B0/{HOOK_SECRET}")
    for text in (repr(config), repr(SlackNotifier(config))):
        assert HOOK_SECRET not in text and "hooks.slack.com/***" in text
    config = SlackConfig(token=TOKEN, channel="C1")
    for text in (repr(config), repr(SlackNotifier(config))):
        assert TOKEN not in text


@pytest.mark.parametrize(("kwargs", "message"), [
    ({}, "either webhook_url"),
    ({"webhook_url": "https://h/x", "token": TOKEN, "channel": "C"}, "not both"),
    ({"webhook_url": "ftp://hooks.slack.com/x"}, "must start with https://"),
    ({"webhook_url": "https:///nohost"}, "has no host"),
    ({"webhook_url": "https://h/x y"}, "whitespace"),
    ({"webhook_url": 42}, "must be a string"),
    ({"token": "not-a-token", "channel": "C"}, "xoxb-"),
    ({"token": "xoxb-a b", "channel": "C"}, "xoxb-"),
    ({"token": TOKEN}, "needs a channel"),
    ({"token": TOKEN, "channel": ""}, "slack channel must be a non-empty string"),
    ({"token": TOKEN, "channel": "C\n1"}, "one line"),
    ({"token": TOKEN, "channel": "C", "username": "u" * 81}, "longer than 80"),
    ({"token": TOKEN, "channel": "C", "icon_url": "nope"}, "icon_url"),
    ({"token": TOKEN, "channel": "C", "max_threads": 0}, "positive integer"),
    ({"token": TOKEN, "channel": "C", "max_threads": True}, "positive integer"),
    ({"token": TOKEN, "channel": "C", "thread_resolved": "yes"}, "True or False"),
    ({"token": TOKEN, "channel": "C", "api_url": "slack.com/api"}, "api_url"),
])
def test_bad_config(kwargs: dict[str, Any], message: str) -> None:
    with pytest.raises(NotifierConfigError, match=message) as info:
        SlackConfig(**kwargs)
    assert TOKEN not in str(info.value)


@pytest.mark.parametrize(("url", "message"), [
    ("slack://T000/B000", "must be slack://"),
    ("slack://xoxb-1/C1/extra", "must be slack://"),
    ("discord://1/2", "must start with slack://"),
    (f"slack://{TOKEN}/C1?colour=red", "option 'colour' is unknown"),
    (f"slack://{TOKEN}/C1?username=a&username=b", "given twice"),
    (f"slack://{TOKEN}/C1?thread_resolved=maybe", "yes or no"),
    (f"slack://{TOKEN}/C 1", "whitespace"),
])
def test_bad_url(url: str, message: str) -> None:
    with pytest.raises(NotifierConfigError, match=message) as info:
        SlackNotifier.from_url(url)
    assert TOKEN not in str(info.value) and HOOK_SECRET not in str(info.value)


def test_notifier_needs_a_config() -> None:
    with pytest.raises(NotifierConfigError, match="needs a SlackConfig"):
        SlackNotifier("https://hooks.slack.com/services/T/B/X")  # type: ignore[arg-type]


# -- through the delivery worker -------------------------------------------------------


@pytest.mark.anyio
async def test_worker_renders_slack_templates_and_threads_the_resolution(
        httpserver: HTTPServer) -> None:
    from alertkit.notify.templates import NotificationTemplates

    httpserver.expect_ordered_request("/api/chat.postMessage").respond_with_json(
        {"ok": True, "channel": "C0123", "ts": "111.222"})
    httpserver.expect_ordered_request("/api/chat.postMessage").respond_with_json(
        {"ok": True, "channel": "C0123", "ts": "333.444"})
    templates = NotificationTemplates(
        title="{{ status }}: {{ alerts|length }}",
        bodies={"slack": "{% for a in alerts %}*{{ a.rule }}* {{ a.status }}{% endfor %}"})
    clock = ak.FakeClock(T0)
    notifier = api(httpserver)
    worker = ak.DeliveryWorker([ak.Receiver("ops", {"slack": notifier}, templates=templates)],
                               clock=clock)
    async with worker as w:
        await w.submit(notification())
        await w.wait_idle()
        await w.submit(notification(firing=[], resolved=[alert(firing=False)]))
        await w.wait_idle()
    first, second = body_of(httpserver, 0), body_of(httpserver, 1)
    assert first["text"] == "firing: 1"
    assert first["attachments"][0]["blocks"] == [
        {"type": "section", "text": {"type": "mrkdwn", "text": "*HighCPU* firing"}}]
    assert second["thread_ts"] == "111.222" and second["channel"] == "C0123"
    assert second["attachments"][0]["blocks"][0]["text"]["text"] == "*HighCPU* resolved"
    assert [r.outcome.value for r in w.log.query()] == ["delivered", "delivered"]


def test_a_notification_without_alerts_says_so_instead_of_counting_zero() -> None:
    notifier = SlackNotifier(SlackConfig(token=TOKEN, channel="C1"))
    n = notification(firing=[], texts={"title": "nothing", "body.slack": ""})
    blocks = notifier.payload(n)["attachments"][0]["blocks"]
    assert blocks == [{"type": "context",
                       "elements": [{"type": "mrkdwn", "text": "(no alerts)"}]}]
