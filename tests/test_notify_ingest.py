"""Alertmanager webhook ingest: strict parsing, the ASGI receiver (direct and under uvicorn)."""

from __future__ import annotations

import base64
import copy
import json
import math
from typing import Any

import anyio
import httpx
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import alertkit as ak
from alertkit._errors import AlertmanagerPayloadError
from alertkit.notify.alertmanager import alertmanager_webhook_payload, rfc3339
from alertkit.notify.ingest import (
    AlertmanagerPayload,
    AlertmanagerReceiver,
    EngineFeed,
    parse_alertmanager_payload,
    parse_rfc3339,
)
from asgi_server import serve
from delivery_helpers import alert, notification

T0 = 1_700_000_000.0
TOKEN = "ingest-token-ABC123"

# Alertmanager 0.25's own body (alertmanager-semantics.md, 2.6).
AM_BODY: dict[str, Any] = {
    "receiver": "default",
    "status": "firing",
    "alerts": [
        {"status": "resolved", "labels": {"alertname": "Res", "instance": "a"},
         "annotations": {"summary": "test Res"}, "startsAt": "2026-11-22T18:04:05.228Z",
         "endsAt": "2026-11-22T18:04:09.729Z",
         "generatorURL": "http://127.0.0.1/graph?g0.expr=test",
         "fingerprint": "9f2298e5c5626220"},
        {"status": "firing",
         "labels": {"alertname": "Res", "instance": "b", "severity": "critical"},
         "annotations": {"summary": "test Res"}, "startsAt": "2026-11-22T18:04:05.229Z",
         "endsAt": "0001-01-01T00:00:00Z",
         "generatorURL": "http://127.0.0.1/graph?g0.expr=test",
         "fingerprint": "9f2698e5c5664af7"},
    ],
    "groupLabels": {"alertname": "Res"},
    "commonLabels": {"alertname": "Res"},
    "commonAnnotations": {"summary": "test Res"},
    "externalURL": "http://127.0.0.1:19093",
    "version": "4",
    "groupKey": "{}:{alertname=\"Res\"}",
    "truncatedAlerts": 0,
}


def test_parses_alertmanagers_own_payload() -> None:
    p = parse_alertmanager_payload(json.dumps(AM_BODY).encode())
    assert (p.receiver, p.status, p.group_key, p.truncated_alerts) == (
        "default", "firing", '{}:{alertname="Res"}', 0)
    assert p.group_labels == ak.Labels(alertname="Res")
    assert p.external_url == "http://127.0.0.1:19093"
    [gone] = p.resolved
    [fire] = p.firing
    start = parse_rfc3339("2026-11-22T18:04:05.228Z")
    assert start is not None
    assert gone.active_at == start and gone.resolved_at == 1_795_370_649.729
    assert gone.state is ak.AlertState.INACTIVE and gone.rule == "Res"
    assert fire.state is ak.AlertState.FIRING and fire.resolved_at is None
    assert fire.severity is ak.Severity.CRITICAL and gone.severity is ak.Severity.MEDIUM
    assert math.isnan(fire.value)
    assert fire.fingerprint == ak.Labels(fire.labels).fingerprint
    assert p.alerts[1].fingerprint == "9f2698e5c5664af7"
    assert p.alerts[0].generator_url == "http://127.0.0.1/graph?g0.expr=test"
    assert p.alerts[1].ends_at is None
    events = p.events(T0)
    assert [(e.kind, e.alert.labels["instance"]) for e in events] == [
        (ak.EventKind.RESOLVED, "a"), (ak.EventKind.FIRING, "b")]
    n = p.notification(T0)
    assert n.firing == (fire,) and n.resolved == (gone,) and n.group_key == p.group_key


def test_rfc3339() -> None:
    assert parse_rfc3339("2023-11-14T22:13:20Z") == T0
    assert parse_rfc3339("2023-11-14T23:13:20.5+01:00") == T0 + 0.5
    assert parse_rfc3339("2023-11-14T22:13:20.123456789Z") == T0 + 0.123456
    assert parse_rfc3339("0001-01-01T00:00:00Z") is None
    for bad in ("2023-11-14 22:13:20", "2023-13-14T22:13:20Z", "2023-11-14T22:13:20+25:00",
                "yesterday", "2023-11-14T22:13:20"):
        with pytest.raises(ValueError):  # noqa: PT011 - several messages
            parse_rfc3339(bad)


@settings(max_examples=60, deadline=None)
@given(st.integers(0, 4_000_000_000), st.integers(0, 999_999))
def test_rfc3339_round_trip(seconds: int, micros: int) -> None:
    ts = seconds + micros / 1_000_000
    assert parse_rfc3339(rfc3339(ts)) == ts


label_values = st.text(st.characters(codec="utf-8", exclude_categories=("Cs",)), max_size=8)


@settings(max_examples=40, deadline=None)
@given(st.lists(st.tuples(st.text("abcxyz", min_size=1, max_size=4), label_values,
                          st.booleans()), min_size=1, max_size=5, unique_by=lambda t: t[0]))
def test_our_payload_parses_back(rows: list[tuple[str, str, bool]]) -> None:
    firing = [alert(host=h, team=v, t=T0) for h, v, f in rows if f]
    resolved = [alert(host=h, team=v, firing=False, t=T0) for h, v, f in rows if not f]
    n = notification(firing=firing, resolved=resolved, created_at=T0 + 900)
    p = parse_alertmanager_payload(json.dumps(alertmanager_webhook_payload(n)))
    assert {a.fingerprint for a in p.firing} == {a.fingerprint for a in firing}
    assert {a.fingerprint for a in p.resolved} == {a.fingerprint for a in resolved}
    for got in p.resolved:
        assert got.resolved_at == T0 + 600 and got.fired_at == T0 + 60
    assert p.status == n.status


def mutated(path: list[Any], value: Any) -> dict[str, Any]:
    body = copy.deepcopy(AM_BODY)
    target = body
    for key in path[:-1]:
        target = target[key]
    if value is KeyError:
        del target[path[-1]]
    else:
        target[path[-1]] = value
    return body


@pytest.mark.parametrize(("path", "value", "where", "message"), [
    (["version"], "3", "version", "only version '4'"),
    (["version"], KeyError, "version", "missing"),
    (["receiver"], 5, "receiver", "expected a string, got a number"),
    (["status"], "pending", "status", "expected one of 'firing', 'resolved'"),
    (["alerts"], {}, "alerts", "expected an array, got an object"),
    (["alerts", 1], [], "alerts[1]", "expected an object, got an array"),
    (["alerts", 1, "status"], "active", "alerts[1].status", "expected one of"),
    (["alerts", 1, "labels", "severity"], 3, "alerts[1].labels.severity",
     "expected a string"),
    (["alerts", 1, "labels", "bad-name"], "x", "alerts[1].labels", "bad-name"),
    (["alerts", 1, "annotations"], None, "alerts[1].annotations", "expected an object, got null"),
    (["alerts", 1, "startsAt"], "noon", "alerts[1].startsAt", "'noon': not an RFC 3339"),
    (["alerts", 1, "startsAt"], "0001-01-01T00:00:00Z", "alerts[1].startsAt", "zero time"),
    (["alerts", 0, "endsAt"], "0001-01-01T00:00:00Z", "alerts[0].endsAt", "needs its end"),
    (["alerts", 0, "endsAt"], "2020-01-01T00:00:00Z", "alerts[0].endsAt", "ends before"),
    (["alerts", 0, "fingerprint"], False, "alerts[0].fingerprint", "got a boolean"),
    (["groupLabels"], [], "groupLabels", "expected an object"),
    (["commonAnnotations", "x"], 1, "commonAnnotations.x", "expected a string"),
    (["truncatedAlerts"], -1, "truncatedAlerts", "non-negative integer"),
    (["truncatedAlerts"], True, "truncatedAlerts", "non-negative integer"),
    (["externalURL"], KeyError, "externalURL", "missing"),
])
def test_bad_payloads_name_the_path(path: list[Any], value: Any, where: str,
                                    message: str) -> None:
    with pytest.raises(AlertmanagerPayloadError) as info:
        parse_alertmanager_payload(mutated(path, value))
    assert info.value.path == where
    assert message in str(info.value) and str(info.value).startswith(f"{where}: ")
    assert isinstance(info.value, ak.AlertkitError)


@pytest.mark.parametrize(("body", "message"), [
    (b"\xff\xfe", "not UTF-8"), (b'{"version": ', "not JSON"), (b"[]", "expected an object"),
])
def test_bad_bodies(body: bytes, message: str) -> None:
    with pytest.raises(AlertmanagerPayloadError, match=message) as info:
        parse_alertmanager_payload(body)
    assert info.value.path == "$"


def test_unknown_fields_are_ignored() -> None:
    body = copy.deepcopy(AM_BODY)
    body["future"] = {"x": 1}
    body["alerts"][0]["silencedBy"] = []
    assert len(parse_alertmanager_payload(body).alerts) == 2


# -- the ASGI application, called directly ----------------------------------------------


async def call(app: AlertmanagerReceiver, *, method: str = "POST", body: bytes = b"",
               headers: dict[str, str] | None = None, chunks: list[bytes] | None = None,
               content_length: bool = True) -> tuple[int, dict[bytes, bytes], Any, int]:
    """Run ``app`` once; (status, headers, JSON body, how many receive() calls it made)."""
    hdrs = {"content-type": "application/json", **(headers or {})}
    parts = chunks if chunks is not None else [body]
    if content_length and chunks is None:
        hdrs.setdefault("content-length", str(len(body)))
    scope = {"type": "http", "method": method, "path": "/", "headers":
             [(k.lower().encode(), v.encode()) for k, v in hdrs.items()]}
    sent: list[dict[str, Any]] = []
    reads = 0

    async def receive() -> dict[str, Any]:
        nonlocal reads
        reads += 1
        if reads <= len(parts):
            return {"type": "http.request", "body": parts[reads - 1],
                    "more_body": reads < len(parts)}
        return {"type": "http.disconnect"}

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    await app(scope, receive, send)
    start, body_msg = sent
    return start["status"], dict(start["headers"]), json.loads(body_msg["body"]), reads


class Recorder:
    def __init__(self) -> None:
        self.payloads: list[AlertmanagerPayload] = []

    def __call__(self, payload: AlertmanagerPayload) -> None:
        self.payloads.append(payload)


BODY = json.dumps(AM_BODY).encode()


@pytest.mark.anyio
async def test_direct_ok_sync_and_async_callbacks() -> None:
    rec = Recorder()
    status, _, answer, _ = await call(AlertmanagerReceiver(rec), body=BODY)
    assert (status, answer) == (200, {"status": "ok"})
    assert rec.payloads[0].group_key == AM_BODY["groupKey"]
    got: list[str] = []

    async def handler(payload: AlertmanagerPayload) -> None:
        await anyio.sleep(0)
        got.append(payload.receiver)

    status, _, _, _ = await call(AlertmanagerReceiver(handler), body=BODY)
    assert status == 200 and got == ["default"]


@pytest.mark.anyio
async def test_direct_method_not_allowed() -> None:
    rec = Recorder()
    status, headers, _answer, reads = await call(AlertmanagerReceiver(rec), method="GET")
    assert status == 405 and headers[b"allow"] == b"POST" and reads == 0
    assert rec.payloads == []


@pytest.mark.anyio
async def test_direct_bearer_auth() -> None:
    rec = Recorder()
    app = AlertmanagerReceiver(rec, bearer_token=TOKEN)
    for given_header in ({}, {"authorization": "Bearer wrong"}, {"authorization": TOKEN}):
        status, headers, answer, reads = await call(app, body=BODY, headers=given_header)
        assert status == 401 and headers[b"www-authenticate"] == b'Bearer realm="alertkit"'
        assert reads == 0 and TOKEN not in json.dumps(answer)
    status, _, _, _ = await call(app, body=BODY, headers={"authorization": f"Bearer {TOKEN}"})
    assert status == 200 and len(rec.payloads) == 1
    assert TOKEN not in repr(app)


@pytest.mark.anyio
async def test_direct_basic_auth() -> None:
    rec = Recorder()
    app = AlertmanagerReceiver(rec, basic_auth=("am", "pw-XYZ"))
    good = "Basic " + base64.b64encode(b"am:pw-XYZ").decode()
    bad = "Basic " + base64.b64encode(b"am:nope").decode()
    status, headers, _, _ = await call(app, body=BODY, headers={"authorization": bad})
    assert status == 401 and headers[b"www-authenticate"].startswith(b'Basic realm="alertkit"')
    status, _, _, _ = await call(app, body=BODY, headers={"authorization": good})
    assert status == 200 and len(rec.payloads) == 1


@pytest.mark.anyio
async def test_direct_body_limit_by_content_length_reads_nothing() -> None:
    rec = Recorder()
    app = AlertmanagerReceiver(rec, max_body=100)
    status, _, answer, reads = await call(app, body=BODY)
    assert status == 413 and reads == 0 and "over 100 bytes" in answer["error"]


@pytest.mark.anyio
async def test_direct_body_limit_chunked_stops_reading() -> None:
    rec = Recorder()
    app = AlertmanagerReceiver(rec, max_body=100)
    chunks = [b"x" * 60] * 10
    status, _, _, reads = await call(app, chunks=chunks)
    assert status == 413 and reads == 2  # stopped at the chunk that passed the limit
    assert rec.payloads == []
    # exactly at the limit is fine (then it is judged as JSON)
    status, _, _, _ = await call(app, chunks=[b" " * 50, b" " * 50])
    assert status == 400


@pytest.mark.anyio
@pytest.mark.parametrize(("headers", "body", "status", "path"), [
    ({"content-type": "text/plain"}, BODY, 415, None),
    ({}, b"{not json", 400, "$"),
    ({}, b"\xff", 400, "$"),
    ({"content-length": "abc"}, BODY, 400, None),
    ({}, json.dumps(mutated(["alerts", 1, "startsAt"], "later")).encode(), 422,
     "alerts[1].startsAt"),
], ids=["content-type", "not-json", "not-utf8", "content-length", "schema"])
async def test_direct_bad_requests(headers: dict[str, str], body: bytes, status: int,
                                   path: str | None) -> None:
    rec = Recorder()
    got, _, answer, _ = await call(AlertmanagerReceiver(rec), body=body, headers=headers)
    assert got == status and rec.payloads == []
    if path is not None:
        assert answer["path"] == path and answer["error"].startswith(path)


@pytest.mark.anyio
async def test_direct_callback_failure_is_500(caplog: pytest.LogCaptureFixture) -> None:
    def boom(payload: AlertmanagerPayload) -> None:
        raise RuntimeError("database down")

    status, _, answer, _ = await call(AlertmanagerReceiver(boom), body=BODY)
    assert status == 500 and "database down" not in json.dumps(answer)
    assert "on_payload failed" in caplog.text


@pytest.mark.parametrize(("kwargs", "message"), [
    ({"on_payload": None}, "must be callable"),
    ({"bearer_token": "t", "basic_auth": ("u", "p")}, "not both"),
    ({"bearer_token": ""}, "non-empty token"),
    ({"bearer_token": "a b"}, "non-empty token"),
    ({"basic_auth": ("u:x", "p")}, "without ':'"),
    ({"basic_auth": "u:p"}, "pair"),
    ({"max_body": 0}, "positive number of bytes"),
    ({"max_body": 1.5}, "positive number of bytes"),
])
def test_receiver_bad_config(kwargs: dict[str, Any], message: str) -> None:
    args = {"on_payload": Recorder(), **kwargs}
    with pytest.raises(ak.NotifierConfigError, match=message):
        AlertmanagerReceiver(**args)


# -- under uvicorn ------------------------------------------------------------------------


def test_under_uvicorn() -> None:
    rec = Recorder()
    app = AlertmanagerReceiver(rec, bearer_token=TOKEN, max_body=4096)
    with serve(app) as base, httpx.Client(base_url=base, timeout=5) as http:
        auth = {"authorization": f"Bearer {TOKEN}"}
        ok = http.post("/anything", content=BODY,
                       headers={**auth, "content-type": "application/json"})
        assert ok.status_code == 200 and ok.json() == {"status": "ok"}
        assert http.get("/", headers=auth).status_code == 405
        unauth = http.post("/", content=BODY, headers={"content-type": "application/json"})
        assert unauth.status_code == 401 and "Bearer" in unauth.headers["www-authenticate"]
        big = http.post("/", content=b"[" + b" " * 5000 + b"]",
                        headers={**auth, "content-type": "application/json"})
        assert big.status_code == 413

        def chunked() -> Any:
            for _ in range(10):
                yield b" " * 1000

        streamed = http.post("/", content=chunked(),
                             headers={**auth, "content-type": "application/json"})
        assert streamed.status_code == 413
        bad = http.post("/", json=mutated(["alerts", 0, "labels"], "x"), headers=auth)
        assert bad.status_code == 422 and bad.json()["path"] == "alerts[0].labels"
    assert len(rec.payloads) == 1


# -- the Engine feed ----------------------------------------------------------------------


@pytest.mark.anyio
async def test_engine_feed_emits_changes_only() -> None:
    engine = ak.Engine([], clock=ak.FakeClock(T0))
    feed = EngineFeed(engine)
    body = copy.deepcopy(AM_BODY)
    async with engine:
        events = engine.events()
        feed(parse_alertmanager_payload(body))
        feed(parse_alertmanager_payload(body))  # a repeat: nothing new
        body["alerts"][1]["status"] = "resolved"
        body["alerts"][1]["endsAt"] = "2026-11-22T18:05:00Z"
        body["status"] = "resolved"
        feed(parse_alertmanager_payload(body))
        got = []
        with anyio.fail_after(2):
            for _ in range(3):
                got.append(await events.__anext__())
        await events.aclose()
    assert [(e.kind, e.alert.labels["instance"], e.at) for e in got] == [
        (ak.EventKind.RESOLVED, "a", T0), (ak.EventKind.FIRING, "b", T0),
        (ak.EventKind.RESOLVED, "b", T0)]
    with pytest.raises(ak.NotifierConfigError, match="needs an alertkit Engine"):
        EngineFeed(object())


@pytest.mark.anyio
async def test_mounted_in_starlette() -> None:
    pytest.importorskip("starlette")
    from starlette.applications import Starlette
    from starlette.responses import PlainTextResponse
    from starlette.routing import Mount, Route

    rec = Recorder()

    async def home(request: Any) -> PlainTextResponse:
        return PlainTextResponse("home")

    receiver = AlertmanagerReceiver(rec, max_body=4096)
    app = Starlette(routes=[Route("/", home),
                            Route("/hooks/alertmanager", receiver),  # an ASGI app as endpoint
                            Mount("/am", app=receiver)])
    transport = httpx.ASGITransport(app=app)
    json_type = {"content-type": "application/json"}
    async with httpx.AsyncClient(transport=transport, base_url="http://app") as http:
        assert (await http.get("/")).text == "home"
        ok = await http.post("/hooks/alertmanager", content=BODY, headers=json_type)
        assert ok.status_code == 200 and ok.json() == {"status": "ok"}
        assert (await http.get("/hooks/alertmanager")).status_code == 405
        mounted = await http.post("/am/", content=BODY, headers=json_type)
        assert mounted.status_code == 200
        # Starlette redirects the mount point without its slash (307 keeps the method)
        assert (await http.post("/am", content=BODY, headers=json_type)).status_code == 307
    assert len(rec.payloads) == 2


json_values = st.recursive(
    st.none() | st.booleans() | st.integers(-5, 5) | st.floats(allow_nan=False)
    | st.text(max_size=6),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=6), inner,
                                                                  max_size=3),
    max_leaves=8)


def _paths(value: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    out = [prefix] if prefix else []
    if isinstance(value, dict):
        for k, v in value.items():
            out += _paths(v, (*prefix, k))
    elif isinstance(value, list):
        for i, v in enumerate(value):
            out += _paths(v, (*prefix, i))
    return out


PATHS = _paths(AM_BODY)


@settings(max_examples=150, deadline=None)
@given(st.sampled_from(PATHS), json_values)
def test_any_mutation_is_accepted_or_rejected_with_a_path(path: tuple[Any, ...],
                                                          value: Any) -> None:
    body = mutated(list(path), value)
    error: AlertmanagerPayloadError | None = None
    try:
        payload = parse_alertmanager_payload(json.dumps(body))
    except AlertmanagerPayloadError as exc:
        error = exc
    if error is not None:
        assert error.path and str(error).startswith(error.path + ": ")
    else:
        assert len(payload.alerts) == len(body["alerts"])


@settings(max_examples=60, deadline=None)
@given(st.binary(max_size=64) | json_values.map(lambda v: json.dumps(v).encode()))
def test_asgi_answers_any_body_with_a_4xx_or_200(body: bytes) -> None:
    rec = Recorder()
    status, _, answer, _ = anyio.run(
        lambda: call(AlertmanagerReceiver(rec, max_body=48), body=body))
    assert status in (200, 400, 413, 422)
    assert ("error" in answer) == (status != 200)
    assert (status == 200) == bool(rec.payloads)
