"""The Microsoft Teams (Workflows webhook, Adaptive Card) channel against 127.0.0.1."""

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
from alertkit.notify._chatlayout import rendered_body
from alertkit.notify.registry import default_registry
from alertkit.notify.sender import DeliveryContext
from alertkit.notify.teams import TeamsConfig, TeamsNotifier
from delivery_helpers import alert, closed_port, notification

T0 = 1_700_000_000.0
SIG = "Sig5ecretValue0123456789abcdef"
PATH = "/workflows/f00d/triggers/manual/paths/invoke"
QUERY = f"api-version=2016-06-01&sp=%2Ftriggers%2Fmanual%2Frun&sv=1.0&sig={SIG}"


def teams(srv: HTTPServer, **kw: Any) -> TeamsNotifier:
    return TeamsNotifier(TeamsConfig(webhook_url=srv.url_for(PATH) + "?" + QUERY, **kw))


async def deliver(notifier: TeamsNotifier, n: ak.Notification, *, timeout: float = 5.0
                  ) -> ak.DeliveryResult:
    async with httpx.AsyncClient() as client:
        return await notifier.send(n, DeliveryContext(http=client, now=T0, timeout=timeout))


@pytest.mark.anyio
async def test_posts_an_adaptive_card_and_202_is_delivered(httpserver: HTTPServer) -> None:
    httpserver.expect_request(PATH, method="POST", query_string=QUERY).respond_with_data(
        "", 202)
    n = notification(texts={"title": "[FIRING:1] HighCPU", "body.markdown": "**FIRING** web1"})
    assert await deliver(teams(httpserver), n) == ak.Delivered(202)
    request, _ = httpserver.log[0]
    assert request.headers["Content-Type"] == "application/json"
    assert json.loads(request.get_data()) == {
        "type": "message",
        "attachments": [{
            "contentType": "application/vnd.microsoft.card.adaptive",
            "content": {
                "$schema": "http://adaptivecards.io/schemas/adaptive-card.json",
                "type": "AdaptiveCard",
                "version": "1.4",
                "msteams": {"width": "Full"},
                "body": [
                    {"type": "Container", "style": "attention", "bleed": True, "items": [
                        {"type": "TextBlock", "text": "[FIRING:1] HighCPU", "wrap": True,
                         "weight": "Bolder", "size": "Medium"}]},
                    {"type": "TextBlock", "text": "**FIRING** web1", "wrap": True},
                    {"type": "FactSet", "facts": [{"title": "alertname", "value": "HighCPU"}]},
                ],
            },
        }],
    }


@pytest.mark.anyio
@pytest.mark.parametrize(("severity", "style"), [
    (ak.Severity.CRITICAL, "attention"), (ak.Severity.HIGH, "attention"),
    (ak.Severity.MEDIUM, "warning"), (ak.Severity.LOW, "accent"), (ak.Severity.INFO, "accent"),
])
async def test_severity_sets_the_header_style(severity: ak.Severity, style: str) -> None:
    notifier = TeamsNotifier(TeamsConfig(webhook_url="https://example.com/x?sig=" + SIG))
    card = notifier.card(notification(firing=[alert(severity=severity)]))
    assert card["body"][0]["style"] == style


def test_resolved_is_good() -> None:
    notifier = TeamsNotifier(TeamsConfig(webhook_url="https://example.com/x?sig=" + SIG))
    card = notifier.card(notification(firing=[], resolved=[alert(firing=False)]))
    assert card["body"][0]["style"] == "good"
    assert card["body"][0]["items"][0]["text"] == "[RESOLVED] HighCPU"


@pytest.mark.anyio
async def test_200_is_delivered_too(httpserver: HTTPServer) -> None:
    httpserver.expect_request(PATH).respond_with_data("", 200)
    assert await deliver(teams(httpserver), notification()) == ak.Delivered(200)


@pytest.mark.anyio
async def test_429_retries_after_the_header(httpserver: HTTPServer) -> None:
    httpserver.expect_request(PATH).respond_with_data("", 429, headers={"Retry-After": "20"})
    result = await deliver(teams(httpserver), notification())
    assert result == ak.Retry("HTTP 429", status_code=429, retry_at=T0 + 20)


@pytest.mark.anyio
async def test_5xx_retries(httpserver: HTTPServer) -> None:
    httpserver.expect_request(PATH).respond_with_data("busy", 500)
    assert await deliver(teams(httpserver), notification()) == ak.Retry(
        "HTTP 500: busy", status_code=500)


@pytest.mark.anyio
async def test_bad_request_is_permanent_and_scrubbed(httpserver: HTTPServer) -> None:
    answer = {"error": {"code": "TriggerInputSchemaMismatch",
                        "message": f"The input body for trigger 'manual' ... sig={SIG}"}}
    httpserver.expect_request(PATH).respond_with_json(answer, status=400)
    result = await deliver(teams(httpserver), notification())
    assert isinstance(result, ak.Failed) and result.status_code == 400
    assert "TriggerInputSchemaMismatch" in result.reason and SIG not in result.reason


@pytest.mark.anyio
async def test_refused_and_timeout_retry(httpserver: HTTPServer) -> None:
    refused = TeamsNotifier(TeamsConfig(
        webhook_url=f"http://127.0.0.1:{closed_port()}{PATH}?{QUERY}"))
    result = await deliver(refused, notification())
    assert isinstance(result, ak.Retry) and SIG not in result.reason


    def slow(request: Request) -> Response:
        time.sleep(0.5)

        return Response("", 202)

    httpserver.expect_request(PATH).respond_with_handler(slow)
    result = await deliver(teams(httpserver), notification(), timeout=0.1)
    assert isinstance(result, ak.Retry) and result.reason.startswith("timeout")
    # Let the slow handler finish here, not in the next test's request log.
    for _ in range(500):
        if httpserver.log:
            break
        time.sleep(0.01)


# -- the 28 KB limit -------------------------------------------------------------------


def _size(body: Any) -> int:
    return len(json.dumps(body, ensure_ascii=False, separators=(",", ":")).encode())


def test_a_big_group_stays_under_28_kb_with_the_count_left_out() -> None:
    notifier = TeamsNotifier(TeamsConfig(webhook_url="https://example.com/x?sig=" + SIG))
    n = attrs.evolve(notification(firing=[alert(host=f"web{i}") for i in range(600)]),
                     truncated=11)
    body = notifier.payload(n)
    assert _size(body) <= 28_000
    blocks = body["attachments"][0]["content"]["body"]
    shown = sum("**FIRING**" in b.get("text", "") for b in blocks)
    note = blocks[-2]
    assert note["isSubtle"] is True
    match = re.fullmatch(r"… and (\d+) more alert\(s\) not shown", note["text"])
    assert match is not None and shown + int(match.group(1)) == 611
    assert shown > 50


@settings(max_examples=30, deadline=None)
@given(k=st.integers(1, 300), summary_len=st.integers(0, 6000), truncated=st.integers(0, 5),
       max_bytes=st.integers(8_000, 40_000), n_labels=st.integers(0, 30),
       label_len=st.integers(1, 1000), title_len=st.integers(1, 3000),
       body_len=st.integers(1, 5000))
def test_never_past_max_bytes(k: int, summary_len: int, truncated: int, max_bytes: int,
                              n_labels: int, label_len: int, title_len: int, body_len: int
                              ) -> None:
    notifier = TeamsNotifier(TeamsConfig(webhook_url="https://example.com/x",
                                         max_bytes=max_bytes))
    alerts = [attrs.evolve(alert(host=f"h{i}"), annotations={"summary": "ü" * summary_len})
              for i in range(k)]
    labels = ak.Labels({f"l{i}": "€" * label_len for i in range(n_labels)})
    texts = {"title": "€" * title_len, "body.markdown": "b" * body_len}
    n = attrs.evolve(notification(firing=alerts, texts=texts),
                     truncated=truncated, group_labels=labels)
    body = notifier.payload(n)
    assert _size(body) <= max_bytes
    blocks = body["attachments"][0]["content"]["body"]
    if any(b.get("text") == rendered_body(n, "markdown") for b in blocks):
        return  # the rendered body fitted: it lists every alert, or says how many it leaves out
    shown = sum("**FIRING**" in b.get("text", "") for b in blocks)
    notes = [b["text"] for b in blocks if b.get("isSubtle")]
    left = int(notes[0].split()[2]) if notes else 0
    assert shown + left == k + truncated


# -- config, URL form, repr ------------------------------------------------------------


def test_from_url_round_trip() -> None:
    host = "prod-01.westeurope.logic.azure.com"
    expected = TeamsConfig(webhook_url=f"https://{host}{PATH}?{QUERY}")
    assert TeamsNotifier.from_url(f"teams://{host}{PATH}?{QUERY}").config == expected
    assert TeamsNotifier.from_url(f"https://{host}{PATH}?{QUERY}").config == expected
    local = TeamsNotifier.from_url(f"teams+http://127.0.0.1:8080{PATH}?{QUERY}",
                                   max_bytes=9000)
    assert local.config == TeamsConfig(webhook_url=f"http://127.0.0.1:8080{PATH}?{QUERY}",
                                       max_bytes=9000)
    assert isinstance(default_registry.from_url(f"teams://{host}{PATH}"), TeamsNotifier)


def test_repr_shows_no_secret() -> None:
    config = TeamsConfig(webhook_url=f"https://example.com{PATH}?{QUERY}")
    for text in (repr(config), repr(TeamsNotifier(config))):
        assert SIG not in text and "f00d" not in text


@pytest.mark.parametrize(("kwargs", "message"), [
    ({"webhook_url": "example.com/hook"}, "must start with https://"),
    ({"webhook_url": "https://"}, "has no host"),
    ({"webhook_url": None}, "must be a string"),
    ({"webhook_url": f"https://example.com/x?sig={SIG} x"}, "whitespace"),
    ({"webhook_url": "https://example.com/x", "max_bytes": 0}, "positive integer"),
    ({"webhook_url": "https://example.com/x", "max_bytes": 100}, "at least 8000"),
])
def test_bad_config(kwargs: dict[str, Any], message: str) -> None:
    with pytest.raises(NotifierConfigError, match=message) as info:
        TeamsConfig(**kwargs)
    assert SIG not in str(info.value)


@pytest.mark.parametrize(("url", "message"), [
    ("msteams://example.com/x", "must start with teams://"),
    ("teams:///path-only", "has no host"),
])
def test_bad_url(url: str, message: str) -> None:
    with pytest.raises(NotifierConfigError, match=message):
        TeamsNotifier.from_url(url)


def test_notifier_needs_a_config() -> None:
    with pytest.raises(NotifierConfigError, match="needs a TeamsConfig"):
        TeamsNotifier("https://example.com")  # type: ignore[arg-type]
