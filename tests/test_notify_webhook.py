"""The generic webhook's payload kinds and the receivers' signature check, on 127.0.0.1."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json

import httpx
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pytest_httpserver import HTTPServer

import alertkit as ak
from alertkit._errors import WebhookSignatureError
from alertkit.notify.webhook import WebhookNotifier, verify_webhook_signature
from delivery_helpers import alert, notification

T0 = 1_700_000_000.0
SECRET = "whsec_" + base64.b64encode(b"super-secret-signing-key").decode()


def group() -> ak.Notification:
    fired = alert("DiskFull", host="db2", job="node", instance="db2:9100", t=T0)
    other = alert("DiskFull", host="db1", job="node", instance="db1:9100", t=T0 + 0.5)
    gone = alert("DiskFull", host="db0", firing=False, job="node", instance="db0:9100", t=T0)
    n = notification(firing=[fired, other], resolved=[gone], created_at=T0 + 900,
                     texts={"title": "[FIRING:2] DiskFull", "body": "db2 and db1"})
    return n


AM_EXPECTED = {
    "receiver": "ops",
    "status": "firing",
    "alerts": [
        {"status": "resolved",
         "labels": {"alertname": "DiskFull", "host": "db0", "instance": "db0:9100",
                    "job": "node"},
         "annotations": {"summary": "db0 is busy"},
         "startsAt": "2023-11-14T22:14:20Z", "endsAt": "2023-11-14T22:23:20Z",
         "generatorURL": "https://app.example/alerts", "fingerprint": ""},
        {"status": "firing",
         "labels": {"alertname": "DiskFull", "host": "db1", "instance": "db1:9100",
                    "job": "node"},
         "annotations": {"summary": "db1 is busy"},
         "startsAt": "2023-11-14T22:14:20.5Z", "endsAt": "0001-01-01T00:00:00Z",
         "generatorURL": "https://app.example/alerts", "fingerprint": ""},
        {"status": "firing",
         "labels": {"alertname": "DiskFull", "host": "db2", "instance": "db2:9100",
                    "job": "node"},
         "annotations": {"summary": "db2 is busy"},
         "startsAt": "2023-11-14T22:14:20Z", "endsAt": "0001-01-01T00:00:00Z",
         "generatorURL": "https://app.example/alerts", "fingerprint": ""},
    ],
    "groupLabels": {"alertname": "DiskFull"},
    "commonLabels": {"alertname": "DiskFull", "job": "node"},
    "commonAnnotations": {},
    "externalURL": "https://app.example",
    "version": "4",
    "groupKey": "ops/g1",
    "truncatedAlerts": 0,
}


def with_fingerprints(expected: dict[str, object], n: ak.Notification) -> dict[str, object]:
    by_host = {a.labels["host"]: a.fingerprint for a in n.alerts}
    out = json.loads(json.dumps(expected))
    for a in out["alerts"]:
        a["fingerprint"] = by_host[a["labels"]["host"]]
    return out  # type: ignore[no-any-return]


def sign(secret_bytes: bytes, msg_id: str, ts: int, body: bytes) -> str:
    mac = hmac.new(secret_bytes, f"{msg_id}.{ts}.".encode() + body, hashlib.sha256).digest()
    return "v1," + base64.b64encode(mac).decode()


# -- payload kinds -----------------------------------------------------------------------


@pytest.mark.anyio
async def test_alertmanager_payload_exact_and_signed(httpserver: HTTPServer) -> None:
    httpserver.expect_request("/am", method="POST").respond_with_data("", 200)
    hook = WebhookNotifier(httpserver.url_for("/am"), payload="alertmanager",
                           external_url="https://app.example",
                           generator_url="https://app.example/alerts", signing_secret=SECRET)
    n = group()
    async with httpx.AsyncClient() as http:
        result = await hook.send(n, ak.DeliveryContext(http=http, now=T0 + 901))
    assert result == ak.Delivered(200)
    [(request, _)] = httpserver.log
    body = request.get_data()
    assert json.loads(body) == with_fingerprints(AM_EXPECTED, n)
    assert request.headers["Content-Type"] == "application/json"
    assert request.headers["webhook-timestamp"] == str(int(T0 + 901))
    key = base64.b64decode(SECRET.removeprefix("whsec_"))
    assert request.headers["webhook-signature"] == sign(
        key, request.headers["webhook-id"], int(T0 + 901), body)
    # and our own receiver-side helper agrees
    assert verify_webhook_signature(SECRET, dict(request.headers), body,
                                    now=T0 + 950) == n.idempotency_key


def test_alertmanager_payload_all_resolved_and_truncated() -> None:
    gone = alert(firing=False, t=T0)
    n = ak.Notification(receiver="r", group_key="{}:{}", group_labels=ak.Labels(),
                        firing=(), resolved=(gone,), created_at=T0 + 700,
                        idempotency_key="k", truncated=3)
    p = WebhookNotifier("http://127.0.0.1/x", payload="alertmanager").payload(n)
    assert p["status"] == "resolved" and p["truncatedAlerts"] == 3
    assert p["alerts"][0]["endsAt"] == "2023-11-14T22:23:20Z"
    assert p["alerts"][0]["generatorURL"] == "" and p["externalURL"] == ""


def test_alertmanager_sort_order_puts_alerts_without_job_last() -> None:
    a = alert(host="a")  # no job, no instance
    b = alert(host="b", job="z")
    c = alert(host="c", job="a", instance="2")
    d = alert(host="d", job="a", instance="1")
    n = notification(firing=[a, b, c, d])
    p = WebhookNotifier("http://127.0.0.1/x", payload="alertmanager").payload(n)
    assert [x["labels"]["host"] for x in p["alerts"]] == ["d", "c", "b", "a"]


@pytest.mark.anyio
async def test_json_template(httpserver: HTTPServer) -> None:
    httpserver.expect_request("/t", method="POST").respond_with_data("", 204)
    template = ('{"title": {{ texts.title|tojson }}, "n": {{ alerts|length }}, '
                '"hosts": {{ alerts|map(attribute="labels.host")|list|tojson }}, '
                '"key": {{ alertmanager.groupKey|tojson }}}')
    hook = WebhookNotifier(httpserver.url_for("/t"), template=template)
    assert hook.payload_kind == "template"
    n = group()
    async with httpx.AsyncClient() as http:
        result = await hook.send(n, ak.DeliveryContext(http=http, now=T0))
    assert result == ak.Delivered(204)
    [(request, _)] = httpserver.log
    assert json.loads(request.get_data()) == {
        "title": "[FIRING:2] DiskFull", "n": 3, "hosts": ["db2", "db1", "db0"], "key": "ops/g1"}
    assert request.headers["Content-Type"] == "application/json"


@pytest.mark.anyio
async def test_text_template_sent_as_is(httpserver: HTTPServer) -> None:
    httpserver.expect_request("/t", method="POST").respond_with_data("", 200)
    hook = WebhookNotifier(httpserver.url_for("/t"), template="{{ status }}: {{ texts.title }}",
                           content_type="text/plain; charset=utf-8")
    async with httpx.AsyncClient() as http:
        result = await hook.send(group(), ak.DeliveryContext(http=http, now=T0))
    assert result == ak.Delivered(200)
    [(request, _)] = httpserver.log
    assert request.get_data() == b"firing: [FIRING:2] DiskFull"
    assert request.headers["Content-Type"] == "text/plain; charset=utf-8"


@pytest.mark.anyio
async def test_template_rendering_invalid_json_fails_without_sending(
        httpserver: HTTPServer) -> None:
    hook = WebhookNotifier(httpserver.url_for("/t"), template='{"title": {{ texts.title }}}')
    async with httpx.AsyncClient() as http:
        result = await hook.send(group(), ak.DeliveryContext(http=http, now=T0))
    assert isinstance(result, ak.Failed)
    assert "did not render valid JSON" in result.reason and "line 1" in result.reason
    assert httpserver.log == []


@pytest.mark.anyio
async def test_template_undefined_variable_fails(httpserver: HTTPServer) -> None:
    hook = WebhookNotifier(httpserver.url_for("/t"), template='{"x": "{{ nope }}"}')
    async with httpx.AsyncClient() as http:
        result = await hook.send(group(), ak.DeliveryContext(http=http, now=T0))
    assert isinstance(result, ak.Failed)
    assert "UndefinedError" in result.reason and "nope" in result.reason
    assert httpserver.log == []


def test_template_is_sandboxed() -> None:
    hook = WebhookNotifier("http://127.0.0.1/x",
                           template="{{ ''.__class__.__mro__[1].__subclasses__() }}",
                           content_type="text/plain")
    with pytest.raises(ak.NotifierConfigError, match="SecurityError"):
        hook.body(group())


def test_template_error_does_not_leak_secret() -> None:
    hook = WebhookNotifier("http://127.0.0.1/x", bearer_token="tok-SECRET-123",
                           template="{{ 1 / 0 }} tok-SECRET-123", content_type="text/plain")
    with pytest.raises(ak.NotifierConfigError) as info:
        hook.body(group())
    assert "ZeroDivisionError" in str(info.value)
    assert "tok-SECRET-123" not in repr(hook)


@pytest.mark.parametrize(("kwargs", "message"), [
    ({"payload": "slack"}, "not one of alertkit, alertmanager, template"),
    ({"payload": "template"}, "needs template="),
    ({"payload": "template", "template": "  "}, "needs template="),
    ({"template": "{% if %}"}, "webhook template, line 1"),
    ({"payload": "alertmanager", "template": "{}"}, "only used with payload='template'"),
    ({"content_type": "text/plain"}, "only used with a template"),
    ({"template": "{}", "content_type": "not a type"}, "not a media type"),
    ({"template": "{}", "content_type": "text/plain\r\nX: y"}, "not a media type"),
    ({"template": "{}", "content_type": "text/plaîn"}, "not a media type"),
    ({"template": "{}", "content_type": "text/plain; charset=ü"}, "not a media type"),
    ({"payload": "alertmanager", "external_url": "a\nb"}, "external_url must be a one-line"),
    ({"payload": "alertmanager", "generator_url": 5}, "generator_url must be a one-line"),
])
def test_bad_payload_options(kwargs: dict[str, object], message: str) -> None:
    with pytest.raises(ak.NotifierConfigError, match=message.replace("(", r"\(")):
        WebhookNotifier("http://127.0.0.1/x", **kwargs)  # type: ignore[arg-type]


def test_registry_passes_payload_options() -> None:
    hook = ak.notifier_from_url("webhook://127.0.0.1:8080/am", payload="alertmanager")
    assert isinstance(hook, WebhookNotifier) and hook.payload_kind == "alertmanager"


# -- verify_webhook_signature ------------------------------------------------------------


def headers_for(body: bytes, *, ts: int = int(T0), msg_id: str = "msg_1",
                secret: bytes = b"super-secret-signing-key") -> dict[str, str]:
    return {"Webhook-Id": msg_id, "Webhook-Timestamp": str(ts),
            "Webhook-Signature": sign(secret, msg_id, ts, body)}


def test_verify_accepts_a_valid_signature_and_asgi_pairs() -> None:
    body = b'{"a": 1}'
    h = headers_for(body)
    assert verify_webhook_signature(SECRET, h, body, now=T0) == "msg_1"
    pairs = [(k.lower().encode(), v.encode()) for k, v in h.items()]
    assert verify_webhook_signature(SECRET, pairs, body.decode(), now=T0 + 299) == "msg_1"
    # a plain (non-whsec) secret is used as UTF-8 bytes
    plain = headers_for(body, secret=b"plain-key")
    assert verify_webhook_signature("plain-key", plain, body, now=T0) == "msg_1"


def test_verify_accepts_any_of_several_signatures() -> None:
    body = b"{}"
    h = headers_for(body)
    h["Webhook-Signature"] = (f"v1a,ignored v1,{base64.b64encode(b'x' * 32).decode()} "
                              f"v1,!!notbase64 {h['Webhook-Signature']}")
    assert verify_webhook_signature(SECRET, h, body, now=T0) == "msg_1"


@pytest.mark.parametrize(("mutate", "message"), [
    (lambda h, b: (h, b + b" "), "no webhook signature matches"),
    (lambda h, b: ({**h, "Webhook-Id": "msg_2"}, b), "no webhook signature matches"),
    (lambda h, b: ({**h, "Webhook-Timestamp": str(int(T0) + 1)}, b), "no webhook signature"),
    (lambda h, b: ({k: v for k, v in h.items() if k != "Webhook-Id"}, b),
     "missing header.*webhook-id"),
    (lambda h, b: ({**h, "Webhook-Signature": ""}, b), "missing header.*webhook-signature"),
    (lambda h, b: ({**h, "Webhook-Signature": "v2,abc"}, b), "no v1 signature"),
    (lambda h, b: ({**h, "Webhook-Timestamp": "soon"}, b), "is not Unix seconds"),
    (lambda h, b: ([*h.items(), ("webhook-id", "x")], b), "given 2 times"),
])
def test_verify_rejects(mutate: object, message: str) -> None:
    body = b'{"a": 1}'
    headers, body2 = mutate(headers_for(body), body)  # type: ignore[operator]
    with pytest.raises(WebhookSignatureError, match=message) as info:
        verify_webhook_signature(SECRET, headers, body2, now=T0)
    assert isinstance(info.value, ak.AlertkitError)
    assert SECRET not in str(info.value)


def test_verify_timestamp_tolerance() -> None:
    body = b"{}"
    h = headers_for(body)
    assert verify_webhook_signature(SECRET, h, body, now=T0 - 300) == "msg_1"
    with pytest.raises(WebhookSignatureError, match="outside the tolerance of 300 s"):
        verify_webhook_signature(SECRET, h, body, now=T0 + 301)
    with pytest.raises(WebhookSignatureError, match="outside the tolerance of 10 s"):
        verify_webhook_signature(SECRET, h, body, now=T0 - 11, tolerance=10)


@pytest.mark.parametrize(("secret", "tolerance", "message"), [
    ("", 300, "non-empty"),
    ("whsec_***", 300, "not valid base64"),
    (SECRET, -1, "tolerance must be"),
])
def test_verify_bad_arguments(secret: str, tolerance: float, message: str) -> None:
    body = b"{}"
    with pytest.raises(WebhookSignatureError, match=message):
        verify_webhook_signature(secret, headers_for(body), body, now=T0, tolerance=tolerance)


@settings(max_examples=40, deadline=None)
@given(body=st.binary(max_size=200), msg_id=st.text("abcdef0123_", min_size=1, max_size=20),
       ts=st.integers(0, 2**33), key=st.binary(min_size=1, max_size=40))
def test_verify_round_trips_our_own_signing(body: bytes, msg_id: str, ts: int,
                                            key: bytes) -> None:
    secret = "whsec_" + base64.b64encode(key).decode()
    hook = WebhookNotifier("http://127.0.0.1/x", signing_secret=secret)
    signature = hook._sign(key, msg_id, ts, body)
    headers = {"webhook-id": msg_id, "webhook-timestamp": str(ts),
               "webhook-signature": signature}
    assert signature == sign(key, msg_id, ts, body)
    assert verify_webhook_signature(secret, headers, body, now=ts) == msg_id
    if body:
        with pytest.raises(WebhookSignatureError):
            verify_webhook_signature(secret, headers, body[:-1], now=ts)


def test_from_url_is_the_constructor() -> None:
    a = WebhookNotifier.from_url("webhooks://u:p@h.example/x", payload="alertmanager")
    b = WebhookNotifier("https://u:p@h.example/x", payload="alertmanager")
    n = group()
    assert repr(a) == repr(b) and a.body(n) == b.body(n)


@pytest.mark.anyio
async def test_requests_carry_exactly_the_notifiers_headers(httpserver: HTTPServer) -> None:
    httpserver.expect_request("/h", method="POST").respond_with_data("", 204)
    hook = WebhookNotifier(httpserver.url_for("/h"), headers={"X-Team": "ops"})
    n = group()
    async with httpx.AsyncClient(headers={"X-Client-Default": "leak?"},
                                 cookies={"session": "c00kie"}) as http:
        assert await hook.send(n, ak.DeliveryContext(http=http, now=T0)) == ak.Delivered(204)
    [(request, _)] = httpserver.log
    names = {name.lower() for name, _ in request.headers.items()}
    assert names == {"host", "content-length", "content-type", "user-agent", "x-team",
                     "idempotency-key"}
    assert request.headers["User-Agent"] == "alertkit"
    assert request.headers["Idempotency-Key"] == n.idempotency_key
