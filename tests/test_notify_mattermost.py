"""The Mattermost incoming-webhook channel against a real HTTP server on 127.0.0.1."""

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
from alertkit.notify.mattermost import MattermostConfig, MattermostNotifier
from alertkit.notify.registry import default_registry
from alertkit.notify.sender import DeliveryContext
from delivery_helpers import alert, closed_port, notification

T0 = 1_700_000_000.0
KEY = "x1y2z3s3cretHookKey4567"
PATH = f"/hooks/{KEY}"


def mm(srv: HTTPServer, **kw: Any) -> MattermostNotifier:
    return MattermostNotifier(MattermostConfig(webhook_url=srv.url_for(PATH), **kw))


async def deliver(notifier: MattermostNotifier, n: ak.Notification, *, timeout: float = 5.0
                  ) -> ak.DeliveryResult:
    async with httpx.AsyncClient() as client:
        return await notifier.send(n, DeliveryContext(http=client, now=T0, timeout=timeout))


@pytest.mark.anyio
async def test_posts_a_slack_compatible_attachment(httpserver: HTTPServer) -> None:
    httpserver.expect_request(PATH, method="POST").respond_with_data("ok")
    notifier = mm(httpserver, channel="ops", username="alertkit",
                  icon_url="https://example.com/i.png", icon_emoji=":bell:")
    n = notification(firing=[alert(severity=ak.Severity.CRITICAL)],
                     texts={"title": "[FIRING:1] HighCPU", "body.markdown": "**FIRING** web1"})
    assert await deliver(notifier, n) == ak.Delivered(200)
    request, _ = httpserver.log[0]
    assert request.headers["Content-Type"] == "application/json"
    assert json.loads(request.get_data()) == {
        "channel": "ops",
        "username": "alertkit",
        "icon_url": "https://example.com/i.png",
        "icon_emoji": ":bell:",
        "attachments": [{
            "fallback": "[FIRING:1] HighCPU",
            "color": "#d00000",
            "title": "[FIRING:1] HighCPU",
            "text": "**FIRING** web1",
            "fields": [{"short": True, "title": "alertname", "value": "HighCPU"}],
        }],
    }


@pytest.mark.anyio
async def test_resolved_is_green(httpserver: HTTPServer) -> None:
    httpserver.expect_request(PATH).respond_with_data("ok")
    await deliver(mm(httpserver), notification(firing=[], resolved=[alert(firing=False)]))
    [attachment] = json.loads(httpserver.log[0][0].get_data())["attachments"]
    assert attachment["color"] == "#2eb886" and attachment["title"] == "[RESOLVED] HighCPU"
    assert attachment["text"].startswith("- ✅ **RESOLVED** `HighCPU`")


@pytest.mark.anyio
@pytest.mark.parametrize(("status", "text"), [
    (400, "Unable to parse incoming data"), (403, "Webhooks have been disabled"),
    (404, "Invalid webhook")])
async def test_4xx_is_permanent(httpserver: HTTPServer, status: int, text: str) -> None:
    httpserver.expect_request(PATH).respond_with_json(
        {"id": "web.incoming_webhook.error", "message": text, "status_code": status},
        status=status)
    result = await deliver(mm(httpserver), notification())
    assert isinstance(result, ak.Failed) and result.status_code == status
    assert text in result.reason


@pytest.mark.anyio
async def test_429_and_5xx_retry(httpserver: HTTPServer) -> None:
    httpserver.expect_ordered_request(PATH).respond_with_data(
        "", 429, headers={"Retry-After": "4"})
    httpserver.expect_ordered_request(PATH).respond_with_data("down", 502)
    assert await deliver(mm(httpserver), notification()) == ak.Retry(
        "HTTP 429", status_code=429, retry_at=T0 + 4)
    assert await deliver(mm(httpserver), notification()) == ak.Retry(
        "HTTP 502: down", status_code=502)


@pytest.mark.anyio
async def test_results_never_quote_the_key(httpserver: HTTPServer) -> None:
    httpserver.expect_request(PATH).respond_with_data(f"no hook {KEY}", 404)
    result = await deliver(mm(httpserver), notification())
    assert isinstance(result, ak.Failed) and KEY not in result.reason
    refused = MattermostNotifier(MattermostConfig(
        webhook_url=f"http://127.0.0.1:{closed_port()}{PATH}"))
    result = await deliver(refused, notification())
    assert isinstance(result, ak.Retry) and KEY not in result.reason


@pytest.mark.anyio
async def test_timeout_retries(httpserver: HTTPServer) -> None:
    def slow(request: Request) -> Response:
        time.sleep(0.5)
        return Response("ok")

    httpserver.expect_request(PATH).respond_with_handler(slow)
    result = await deliver(mm(httpserver), notification(), timeout=0.1)
    assert isinstance(result, ak.Retry) and result.reason.startswith("timeout")
    # Let the slow handler finish here, not in the next test's request log.
    for _ in range(500):
        if httpserver.log:
            break
        time.sleep(0.01)


# -- limits ----------------------------------------------------------------------------


def test_long_posts_are_cut_with_the_count_left_out() -> None:
    notifier = MattermostNotifier(MattermostConfig(
        webhook_url="https://chat.example.com/hooks/k", max_chars=4000))
    n = attrs.evolve(notification(firing=[alert(host=f"web{i}") for i in range(500)]),
                     truncated=3)
    [attachment] = notifier.payload(n)["attachments"]
    assert len(attachment["text"]) + len(attachment["title"]) + len("alertnameHighCPU") <= 4000
    shown = attachment["text"].count("**FIRING**")
    match = re.search(r"… and (\d+) more alert\(s\) not shown\Z", attachment["text"])
    assert match is not None and shown + int(match.group(1)) == 503


@settings(max_examples=25, deadline=None)
@given(k=st.integers(1, 300), summary_len=st.integers(0, 3000),
       max_chars=st.integers(1000, 20000))
def test_posts_stay_within_max_chars(k: int, summary_len: int, max_chars: int) -> None:
    notifier = MattermostNotifier(MattermostConfig(
        webhook_url="https://chat.example.com/hooks/k", max_chars=max_chars))
    alerts = [attrs.evolve(alert(host=f"h{i}"), annotations={"summary": "s" * summary_len})
              for i in range(k)]
    [attachment] = notifier.payload(notification(firing=alerts))["attachments"]
    fields = sum(len(f["title"]) + len(f["value"]) for f in attachment["fields"])
    assert len(attachment["title"]) + len(attachment["text"]) + fields <= max_chars


# -- config, URL form, repr ------------------------------------------------------------


def test_from_url_round_trip() -> None:
    got = MattermostNotifier.from_url(
        f"mattermost://chat.example.com:8065/team/{KEY}?channel=ops&username=bot")
    assert got.config == MattermostConfig(
        webhook_url=f"https://chat.example.com:8065/team/hooks/{KEY}", channel="ops",
        username="bot")
    local = MattermostNotifier.from_url(f"mattermost+http://127.0.0.1:8065/{KEY}")
    assert local.config == MattermostConfig(webhook_url=f"http://127.0.0.1:8065/hooks/{KEY}")
    direct = MattermostNotifier.from_url(f"https://chat.example.com/hooks/{KEY}",
                                         channel="ops")
    assert direct.config == MattermostConfig(
        webhook_url=f"https://chat.example.com/hooks/{KEY}", channel="ops")
    assert isinstance(default_registry.from_url(f"mattermost://h/{KEY}"), MattermostNotifier)


def test_repr_shows_no_secret() -> None:
    config = MattermostConfig(webhook_url=f"https://chat.example.com/hooks/{KEY}")
    for text in (repr(config), repr(MattermostNotifier(config))):
        assert KEY not in text


@pytest.mark.parametrize(("kwargs", "message"), [
    ({"webhook_url": "chat.example.com/hooks/k"}, "must start with https://"),
    ({"webhook_url": 1}, "must be a string"),
    ({"webhook_url": "https://h/hooks/k", "channel": ""}, "channel must be a non-empty"),
    ({"webhook_url": "https://h/hooks/k", "username": "a\nb"}, "one line"),
    ({"webhook_url": "https://h/hooks/k", "icon_url": "x"}, "icon_url"),
    ({"webhook_url": "https://h/hooks/k", "icon_emoji": "e" * 65}, "longer than 64"),
    ({"webhook_url": "https://h/hooks/k", "max_chars": -1}, "positive integer"),
    ({"webhook_url": "https://h/hooks/k", "max_chars": 10}, "at least 1000"),
])
def test_bad_config(kwargs: dict[str, Any], message: str) -> None:
    with pytest.raises(NotifierConfigError, match=message):
        MattermostConfig(**kwargs)


@pytest.mark.parametrize(("url", "message"), [
    ("mattermost://chat.example.com", "mattermost://HOST/KEY"),
    ("mattermost://chat.example.com/", "mattermost://HOST/KEY"),
    (f"mattermost://h/{KEY}?colour=red", "option 'colour' is unknown"),
    (f"mm://h/{KEY}", "must start with mattermost://"),
])
def test_bad_url(url: str, message: str) -> None:
    with pytest.raises(NotifierConfigError, match=message) as info:
        MattermostNotifier.from_url(url)
    assert KEY not in str(info.value)


def test_notifier_needs_a_config() -> None:
    with pytest.raises(NotifierConfigError, match="needs a MattermostConfig"):
        MattermostNotifier("https://h/hooks/k")  # type: ignore[arg-type]
