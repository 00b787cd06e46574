"""The Discord webhook channel against a real HTTP server on 127.0.0.1."""

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
from alertkit.notify.discord import DiscordConfig, DiscordNotifier
from alertkit.notify.registry import default_registry
from alertkit.notify.sender import DeliveryContext
from delivery_helpers import alert, closed_port, notification

T0 = 1_700_000_000.0
TOKEN = "Dd-s3cretWebhookT0ken_xyz"
PATH = f"/api/webhooks/987654321/{TOKEN}"


def discord(srv: HTTPServer, **kw: Any) -> DiscordNotifier:
    return DiscordNotifier(DiscordConfig(webhook_id="987654321", token=TOKEN,
                                         base_url=srv.url_for("/api"), **kw))


async def deliver(notifier: DiscordNotifier, n: ak.Notification, *, timeout: float = 5.0
                  ) -> ak.DeliveryResult:
    async with httpx.AsyncClient() as client:
        return await notifier.send(n, DeliveryContext(http=client, now=T0, timeout=timeout))


TEXTS = {"title": "[FIRING:1] HighCPU", "body.markdown": "- **FIRING** HighCPU web1"}


@pytest.mark.anyio
async def test_posts_the_documented_body(httpserver: HTTPServer) -> None:
    httpserver.expect_request(PATH, method="POST", query_string="wait=true").respond_with_json(
        {"id": "1", "type": 0}, 200)
    notifier = discord(httpserver, username="alertkit",
                       avatar_url="https://example.com/a.png")
    n = notification(texts=TEXTS, created_at=T0)
    assert await deliver(notifier, n) == ak.Delivered(200)
    request, _ = httpserver.log[0]
    assert request.headers["Content-Type"] == "application/json"
    assert json.loads(request.get_data()) == {
        "username": "alertkit",
        "avatar_url": "https://example.com/a.png",
        "allowed_mentions": {"parse": []},
        "embeds": [{
            "title": "[FIRING:1] HighCPU",
            "description": "- **FIRING** HighCPU web1",
            "color": 0xE8590C,
            "fields": [{"name": "alertname", "value": "HighCPU", "inline": True}],
            "footer": {"text": "alertkit · ops"},
            "timestamp": "2023-11-14T22:13:20.000Z",
        }],
    }


@pytest.mark.anyio
async def test_thread_id_and_204(httpserver: HTTPServer) -> None:
    httpserver.expect_request(PATH, query_string="wait=true&thread_id=555").respond_with_data(
        "", 204)
    result = await deliver(discord(httpserver, thread_id="555"), notification())
    assert result == ak.Delivered(204)


@pytest.mark.anyio
async def test_resolved_is_green_with_default_texts(httpserver: HTTPServer) -> None:
    httpserver.expect_request(PATH).respond_with_data("", 204)
    n = notification(firing=[], resolved=[alert(firing=False)])
    await deliver(discord(httpserver), n)
    [embed] = json.loads(httpserver.log[0][0].get_data())["embeds"]
    assert embed["color"] == 0x2EB886
    assert embed["title"] == "[RESOLVED] HighCPU"
    assert embed["description"].startswith("- ✅ **RESOLVED** `HighCPU`")


@pytest.mark.anyio
async def test_429_retries_after_the_body_retry_after(httpserver: HTTPServer) -> None:
    httpserver.expect_request(PATH).respond_with_json(
        {"message": "You are being rate limited.", "retry_after": 1.5, "global": False},
        status=429, headers={"Retry-After": "2"})
    result = await deliver(discord(httpserver), notification())
    assert isinstance(result, ak.Retry)
    assert result.status_code == 429 and result.retry_at == T0 + 1.5


@pytest.mark.anyio
async def test_429_without_a_body_uses_the_header(httpserver: HTTPServer) -> None:
    httpserver.expect_request(PATH).respond_with_data("", 429, headers={"Retry-After": "7"})
    result = await deliver(discord(httpserver), notification())
    assert result == ak.Retry("HTTP 429", status_code=429, retry_at=T0 + 7)


@pytest.mark.anyio
async def test_5xx_retries(httpserver: HTTPServer) -> None:
    httpserver.expect_request(PATH).respond_with_data("upstream", 502)
    result = await deliver(discord(httpserver), notification())
    assert result == ak.Retry("HTTP 502: upstream", status_code=502)


@pytest.mark.anyio
@pytest.mark.parametrize(("status", "answer"), [
    (400, {"code": 50035, "message": "Invalid Form Body"}),
    (401, {"code": 50027, "message": "Invalid Webhook Token"}),
    (404, {"code": 10015, "message": "Unknown Webhook"}),
])
async def test_4xx_is_permanent_with_the_reason(httpserver: HTTPServer, status: int,
                                                answer: dict[str, Any]) -> None:
    httpserver.expect_request(PATH).respond_with_json(answer, status=status)
    result = await deliver(discord(httpserver), notification())
    assert isinstance(result, ak.Failed) and result.status_code == status
    assert answer["message"] in result.reason


@pytest.mark.anyio
async def test_results_never_quote_the_token(httpserver: HTTPServer) -> None:
    httpserver.expect_request(PATH).respond_with_data(f"no such webhook {PATH}", 404)
    result = await deliver(discord(httpserver), notification())
    assert isinstance(result, ak.Failed) and TOKEN not in result.reason
    refused = DiscordNotifier(DiscordConfig(webhook_id="1", token=TOKEN,
                                            base_url=f"http://127.0.0.1:{closed_port()}"))
    result = await deliver(refused, notification())
    assert isinstance(result, ak.Retry) and TOKEN not in result.reason


@pytest.mark.anyio
async def test_timeout_retries(httpserver: HTTPServer) -> None:
    def slow(request: Request) -> Response:
        time.sleep(0.5)
        return Response("", 204)

    httpserver.expect_request(PATH).respond_with_handler(slow)
    result = await deliver(discord(httpserver), notification(), timeout=0.1)
    assert isinstance(result, ak.Retry) and result.reason.startswith("timeout")
    # Let the slow handler finish here, not in the next test's request log.
    for _ in range(500):
        if httpserver.log:
            break
        time.sleep(0.01)


# -- limits ----------------------------------------------------------------------------


def _embed_chars(embed: dict[str, Any]) -> int:
    return (len(embed["title"]) + len(embed["description"]) + len(embed["footer"]["text"])
            + sum(len(f["name"]) + len(f["value"]) for f in embed.get("fields", [])))


def test_many_alerts_are_cut_with_the_count_left_out() -> None:
    notifier = DiscordNotifier(DiscordConfig(webhook_id="1", token=TOKEN))
    alerts = [alert(host=f"web{i}") for i in range(200)]
    n = attrs.evolve(notification(firing=alerts), truncated=7)
    [embed] = notifier.payload(n)["embeds"]
    description = embed["description"]
    assert len(description) <= 4096
    shown = description.count("**FIRING**")
    match = re.search(r"… and (\d+) more alert\(s\) not shown\Z", description)
    assert match is not None and shown + int(match.group(1)) == 207
    assert shown > 10


def test_labels_become_at_most_25_fields_and_6000_characters() -> None:
    notifier = DiscordNotifier(DiscordConfig(webhook_id="1", token=TOKEN))
    labels = ak.Labels({f"label{i:02}": "v" * 30 for i in range(40)})
    n = attrs.evolve(notification(texts={"title": "x" * 999, "body.markdown": "y" * 9000}),
                     group_labels=labels)
    [embed] = notifier.payload(n)["embeds"]
    assert len(embed["title"]) == 256 and embed["title"].endswith("…(truncated)")
    assert len(embed["fields"]) <= 25
    assert _embed_chars(embed) <= 6000


@settings(max_examples=25, deadline=None)
@given(k=st.integers(1, 80), label_len=st.integers(1, 2000), n_labels=st.integers(0, 30),
       title_len=st.integers(1, 400), truncated=st.integers(0, 9))
def test_embed_limits_hold(k: int, label_len: int, n_labels: int, title_len: int,
                           truncated: int) -> None:
    notifier = DiscordNotifier(DiscordConfig(webhook_id="1", token=TOKEN))
    labels = ak.Labels({f"l{i}": "v" * min(label_len, 1000) for i in range(n_labels)})
    alerts = [alert(host=f"h{i}" + "z" * label_len) for i in range(k)]
    n = attrs.evolve(notification(firing=alerts, texts={"title": "t" * title_len}),
                     group_labels=labels, truncated=truncated)
    [embed] = notifier.payload(n)["embeds"]
    assert len(embed["title"]) <= 256 and len(embed["description"]) <= 4096
    assert len(embed.get("fields", [])) <= 25
    assert all(len(f["name"]) <= 256 and len(f["value"]) <= 1024
               for f in embed.get("fields", []))
    assert _embed_chars(embed) <= 6000


# -- config, URL form, repr ------------------------------------------------------------


def test_from_url_round_trip() -> None:
    notifier = DiscordNotifier.from_url(
        f"discord://987654321/{TOKEN}?username=bot&thread_id=42")
    assert notifier.config == DiscordConfig(webhook_id="987654321", token=TOKEN,
                                            username="bot", thread_id="42")
    same = DiscordNotifier.from_url(f"https://discord.com/api/webhooks/987654321/{TOKEN}")
    assert same.config == DiscordConfig(webhook_id="987654321", token=TOKEN)
    assert isinstance(default_registry.from_url(f"discord://1/{TOKEN}"), DiscordNotifier)


def test_repr_shows_no_secret() -> None:
    config = DiscordConfig(webhook_id="987654321", token=TOKEN)
    assert TOKEN not in repr(config) and TOKEN not in repr(DiscordNotifier(config))


@pytest.mark.parametrize(("kwargs", "message"), [
    ({"webhook_id": "abc", "token": TOKEN}, "webhook_id must be the webhook's numeric ID"),
    ({"webhook_id": 12, "token": TOKEN}, "numeric ID"),
    ({"webhook_id": "1", "token": ""}, "token must be"),
    ({"webhook_id": "1", "token": "a/b"}, "token must be"),
    ({"webhook_id": "1", "token": TOKEN, "username": "u" * 81}, "longer than 80"),
    ({"webhook_id": "1", "token": TOKEN, "avatar_url": "file:///x"}, "avatar_url"),
    ({"webhook_id": "1", "token": TOKEN, "thread_id": "t1"}, "thread_id"),
    ({"webhook_id": "1", "token": TOKEN, "base_url": "discord.com"}, "base_url"),
])
def test_bad_config(kwargs: dict[str, Any], message: str) -> None:
    with pytest.raises(NotifierConfigError, match=message) as info:
        DiscordConfig(**kwargs)
    assert TOKEN not in str(info.value)


@pytest.mark.parametrize(("url", "message"), [
    ("discord://123", "discord://WEBHOOK_ID/TOKEN"),
    (f"discord://123/{TOKEN}/x", "discord://WEBHOOK_ID/TOKEN"),
    (f"https://example.com/api/webhooks/1/{TOKEN}", "https://discord.com/api/webhooks"),
    (f"discord://123/{TOKEN}?color=red", "option 'color' is unknown"),
    (f"slack://123/{TOKEN}", "must start with discord://"),
])
def test_bad_url(url: str, message: str) -> None:
    with pytest.raises(NotifierConfigError, match=message) as info:
        DiscordNotifier.from_url(url)
    assert TOKEN not in str(info.value)


def test_notifier_needs_a_config() -> None:
    with pytest.raises(NotifierConfigError, match="needs a DiscordConfig"):
        DiscordNotifier(None)  # type: ignore[arg-type]


def test_a_creation_time_out_of_range_leaves_the_timestamp_out() -> None:
    notifier = DiscordNotifier(DiscordConfig(webhook_id="1", token=TOKEN))
    [embed] = notifier.payload(notification(created_at=1e20))["embeds"]
    assert "timestamp" not in embed
