"""Fault tests: the webhook notifier and the worker against a real HTTP server on 127.0.0.1."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import threading
import time

import anyio
import pytest
from pytest_httpserver import HTTPServer
from werkzeug import Request, Response

import alertkit as ak
from delivery_helpers import closed_port, notification

pytestmark = pytest.mark.anyio

T0 = 1_700_000_000.0


def one_worker(url: str, *, clock: ak.FakeClock, results: list[ak.DeliveryOutcome],
               timeout: float = 5.0, **hook_kw: object) -> ak.DeliveryWorker:
    hook = ak.WebhookNotifier(url, **hook_kw)  # type: ignore[arg-type]
    return ak.DeliveryWorker(
        [ak.Receiver("ops", {"hook": hook}, timeout=timeout)],
        clock=clock, on_result=results.append,
        policy=ak.RetryPolicy(base=1, cap=4, max_attempts=5),
    )


async def test_500_then_200(httpserver: HTTPServer) -> None:
    httpserver.expect_ordered_request("/hook", method="POST").respond_with_data("boom", 500)
    httpserver.expect_ordered_request("/hook", method="POST").respond_with_data("", 204)
    clock = ak.FakeClock(T0)
    results: list[ak.DeliveryOutcome] = []
    n = notification()
    async with one_worker(httpserver.url_for("/hook"), clock=clock, results=results) as w:
        await w.submit(n)
        await w.wait_idle()
        [pending] = (await w.outbox.load()).entries
        assert pending.attempts == 1 and pending.last_error == "HTTP 500: boom"
        assert T0 <= pending.next_attempt_at < T0 + 1  # base=1: first delay in [0, 1)
        clock.set(pending.next_attempt_at)
        await w.wait_idle()
    assert [(r.outcome.value, r.status_code) for r in w.log.query()] == [
        ("retry", 500), ("delivered", 204)]
    assert results[0].delivered and results[0].attempts == 2
    requests = [req for req, _ in httpserver.log]
    assert len(requests) == 2
    keys = {req.headers["Idempotency-Key"] for req in requests}
    assert keys == {n.idempotency_key}  # the same key on every attempt
    body = json.loads(requests[0].get_data())
    assert body["version"] == 1 and body["receiver"] == "ops"
    assert body["idempotency_key"] == n.idempotency_key
    assert ak.notification_from_dict(body).firing == n.firing
    assert body["texts"]["title"] == "[FIRING:1] HighCPU"
    assert requests[0].headers["Content-Type"] == "application/json"


async def test_429_with_retry_after(httpserver: HTTPServer) -> None:
    httpserver.expect_ordered_request("/hook").respond_with_data(
        "slow down", 429, headers={"Retry-After": "30"})
    httpserver.expect_ordered_request("/hook").respond_with_data("ok", 200)
    clock = ak.FakeClock(T0)
    results: list[ak.DeliveryOutcome] = []
    async with one_worker(httpserver.url_for("/hook"), clock=clock, results=results) as w:
        await w.submit(notification())
        await w.wait_idle()
        [pending] = (await w.outbox.load()).entries
        assert pending.next_attempt_at == T0 + 30  # never earlier than Retry-After
        clock.set(T0 + 29.9)
        await w.wait_idle()
        assert len(httpserver.log) == 1
        clock.set(T0 + 30)
        await w.wait_idle()
    assert [r.status_code for r in w.log.query()] == [429, 200]
    assert results[0].delivered


async def test_429_with_an_http_date(httpserver: HTTPServer) -> None:
    retry = "Tue, 14 Nov 2023 22:15:20 GMT"  # T0 + 120
    httpserver.expect_ordered_request("/hook").respond_with_data("", 503,
                                                                 headers={"Retry-After": retry})
    clock = ak.FakeClock(T0)
    async with one_worker(httpserver.url_for("/hook"), clock=clock, results=[]) as w:
        await w.submit(notification())
        await w.wait_idle()
        [pending] = (await w.outbox.load()).entries
    assert pending.next_attempt_at == T0 + 120


async def test_a_slow_server_hits_the_per_attempt_timeout(httpserver: HTTPServer) -> None:
    release = threading.Event()

    def stall(request: Request) -> Response:
        release.wait(5)
        return Response("late", 200)

    httpserver.expect_ordered_request("/slow").respond_with_handler(stall)
    httpserver.expect_ordered_request("/slow").respond_with_data("ok", 200)
    clock = ak.FakeClock(T0)
    results: list[ak.DeliveryOutcome] = []
    try:
        async with one_worker(httpserver.url_for("/slow"), clock=clock, results=results,
                              timeout=0.2) as w:
            started = time.perf_counter()
            await w.submit(notification())
            await w.wait_idle()
            elapsed = time.perf_counter() - started
            [rec] = w.log.query()
            assert rec.outcome is ak.AttemptOutcome.RETRY
            assert rec.error in ("timeout after 0.2s", "timeout (ReadTimeout)")
            assert 0.15 < elapsed < 3
            clock.advance(10)
            await w.wait_idle()
    finally:
        release.set()
    assert results[0].delivered and results[0].attempts == 2


async def test_connection_refused_is_retried_then_given_up() -> None:
    clock = ak.FakeClock(T0)
    results: list[ak.DeliveryOutcome] = []
    url = f"http://user:hunter22@127.0.0.1:{closed_port()}/hook?token=s3cr3t"
    async with one_worker(url, clock=clock, results=results, bearer_token=None) as w:
        await w.submit(notification())
        for _ in range(6):
            await w.wait_idle()
            clock.advance(5)
        await w.wait_idle()
    records = w.log.query()
    assert [r.outcome.value for r in records] == ["retry"] * 4 + ["gave_up"]
    assert all(r.error.startswith("ConnectError") or "ConnectError" in r.error
               for r in records)
    assert results[0].gave_up and not results[0].delivered
    text = repr(records) + repr(results) + repr(w)
    assert "hunter22" not in text and "s3cr3t" not in text


async def test_a_permanent_400_is_not_retried(httpserver: HTTPServer) -> None:
    httpserver.expect_request("/hook").respond_with_data('{"error": "invalid_payload"}', 400)
    clock = ak.FakeClock(T0)
    results: list[ak.DeliveryOutcome] = []
    async with one_worker(httpserver.url_for("/hook"), clock=clock, results=results) as w:
        await w.submit(notification())
        await w.wait_idle()
        clock.advance(3600)
        await w.wait_idle()
        assert (await w.outbox.load()).entries == []
    assert len(httpserver.log) == 1
    assert results[0].result == ak.Failed('HTTP 400: {"error": "invalid_payload"}', 400)
    assert w.log.query()[0].outcome is ak.AttemptOutcome.FAILED


async def test_auth_headers_and_signature(httpserver: HTTPServer) -> None:
    httpserver.expect_request("/hook").respond_with_data("ok")
    secret = base64.b64encode(b"0123456789abcdef").decode()
    clock = ak.FakeClock(T0)
    async with one_worker(httpserver.url_for("/hook"), clock=clock, results=[],
                          bearer_token="tok-123", headers={"X-Team": "sre"},
                          signing_secret=f"whsec_{secret}") as w:
        await w.submit(notification())
        await w.wait_idle()
    [(req, _)] = httpserver.log
    assert req.headers["Authorization"] == "Bearer tok-123"
    assert req.headers["X-Team"] == "sre"
    msg_id, ts = req.headers["webhook-id"], req.headers["webhook-timestamp"]
    assert ts == str(int(T0))
    signed = f"{msg_id}.{ts}.".encode() + req.get_data()
    expected = base64.b64encode(hmac.new(b"0123456789abcdef", signed, hashlib.sha256)
                                .digest()).decode()
    assert req.headers["webhook-signature"] == f"v1,{expected}"


async def test_basic_auth_from_the_url(httpserver: HTTPServer) -> None:
    httpserver.expect_request("/hook").respond_with_data("ok")
    url = httpserver.url_for("/hook").replace("http://", "webhook://al%40ice:p%3Ass@")
    async with one_worker(url, clock=ak.FakeClock(T0), results=[]) as w:
        await w.submit(notification())
        await w.wait_idle()
    [(req, _)] = httpserver.log
    assert req.authorization is not None
    assert (req.authorization.username, req.authorization.password) == ("al@ice", "p:ss")


async def test_a_response_body_cannot_leak_a_secret(httpserver: HTTPServer) -> None:
    httpserver.expect_request("/hook").respond_with_data("bad token tok-SECRET-99", 401)
    async with one_worker(httpserver.url_for("/hook"), clock=ak.FakeClock(T0), results=[],
                          bearer_token="tok-SECRET-99") as w:
        await w.submit(notification())
        await w.wait_idle()
    [rec] = w.log.query()
    assert rec.error == "HTTP 401: bad token ***"


async def test_many_notifications_share_one_client(httpserver: HTTPServer) -> None:
    httpserver.expect_request("/hook").respond_with_data("ok")
    from delivery_helpers import many

    async with one_worker(httpserver.url_for("/hook"), clock=ak.FakeClock(T0), results=[]) as w:
        with anyio.fail_after(20):
            await w.submit(*many(40))
            await w.wait_idle()
    assert w.stats().sent == 40 and len(httpserver.log) == 40
