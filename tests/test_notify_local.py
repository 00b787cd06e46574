"""Console, log and callback senders (the notification protocol, no network)."""

from __future__ import annotations

import io
import json
import logging
import threading
from typing import Any

import anyio
import attrs
import httpx
import pytest

import alertkit as ak
from alertkit.notify.local import CallbackSender, ConsoleSender, LogSender, notification_record
from delivery_helpers import alert, notification

pytestmark = pytest.mark.anyio

T0 = 1_700_000_000.0


def sample() -> ak.Notification:
    return notification(firing=[alert(host="web1", t=T0)],
                        resolved=[alert(host="web2", firing=False, t=T0,
                                        severity=ak.Severity.LOW)], created_at=T0 + 700)


async def send(sender: Any, n: ak.Notification) -> ak.DeliveryResult:
    async with httpx.AsyncClient() as http:
        result: ak.DeliveryResult = await sender.send(n, ak.DeliveryContext(http=http, now=T0))
        return result


# -- console ------------------------------------------------------------------------------


async def test_console_text() -> None:
    out = io.StringIO()
    n = sample()
    assert await send(ConsoleSender(out), n) == ak.Delivered()
    assert out.getvalue() == (
        "[FIRING:1] HighCPU\n"
        '  firing   HighCPU{alertname="HighCPU", host="web1"} high value=95  web1 is busy\n'
        '  resolved HighCPU{alertname="HighCPU", host="web2"} low value=95  web2 is busy\n')


async def test_console_uses_the_rendered_title_and_counts_truncated() -> None:
    out = io.StringIO()
    n = notification(firing=[alert()], texts={"title": "Rendered!"})
    n = attrs.evolve(n, truncated=4)
    await send(ConsoleSender(out), n)
    lines = out.getvalue().splitlines()
    assert lines[0] == "Rendered!" and lines[-1] == "  … and 4 more alert(s) not shown"


async def test_console_json_lines() -> None:
    out = io.StringIO()
    n = sample()
    sender = ConsoleSender(out, json=True)
    await send(sender, n)
    await send(sender, n)
    lines = out.getvalue().splitlines()
    assert len(lines) == 2
    assert ak.notification_from_dict(json.loads(lines[0])) == n


async def test_console_closed_stream_is_retry() -> None:
    out = io.StringIO()
    out.close()
    result = await send(ConsoleSender(out), sample())
    assert result == ak.Retry("console write failed: ValueError")


async def test_console_from_url(capsys: pytest.CaptureFixture[str]) -> None:
    sender = ak.notifier_from_url("console://stdout?format=json")
    assert repr(sender) == "ConsoleSender(json=True)"
    await send(sender, sample())
    assert json.loads(capsys.readouterr().out)["receiver"] == "ops"
    err = ak.notifier_from_url("console://stderr")
    await send(err, sample())
    assert capsys.readouterr().err.startswith("[FIRING:1] HighCPU")
    buf = io.StringIO()
    await send(ak.notifier_from_url("console://", stream=buf), sample())
    assert buf.getvalue().startswith("[FIRING:1]")


@pytest.mark.parametrize(("url", "kwargs", "message"), [
    ("console://printer", {}, "stdout or stderr"),
    ("console://?format=xml", {}, "unknown option format='xml'"),
    ("console://?colour=1", {}, "unknown option colour"),
    ("console://", {"json": "yes"}, "json must be True or False"),
    ("console://", {"stream": 42}, "write"),
])
def test_console_bad_config(url: str, kwargs: dict[str, Any], message: str) -> None:
    with pytest.raises(ak.NotifierConfigError, match=message):
        ak.notifier_from_url(url, **kwargs)


# -- log ----------------------------------------------------------------------------------


async def test_log_record_is_structured(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG, logger="alertkit.notifications")
    n = sample()
    assert await send(LogSender(), n) == ak.Delivered()
    [record] = caplog.records
    assert record.name == "alertkit.notifications"
    assert record.levelno == logging.ERROR  # high severity firing escalates
    assert record.getMessage() == "[FIRING:1] HighCPU"
    assert record.alertkit_receiver == "ops"  # type: ignore[attr-defined]
    assert record.alertkit_status == "firing"  # type: ignore[attr-defined]
    assert record.alertkit_idempotency_key == n.idempotency_key  # type: ignore[attr-defined]
    assert record.notification == notification_record(n)  # type: ignore[attr-defined]
    assert record.notification["alerts"][1] == {  # type: ignore[attr-defined]
        "status": "resolved", "rule": "HighCPU",
        "labels": {"alertname": "HighCPU", "host": "web2"},
        "annotations": {"summary": "web2 is busy"}, "severity": "low", "value": "95",
        "fingerprint": n.resolved[0].fingerprint}
    json.dumps(record.notification)  # type: ignore[attr-defined]  # JSON-friendly


async def test_log_levels(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG, logger="app.alerts")
    low = notification(firing=[alert(severity=ak.Severity.LOW)])
    gone = notification(firing=[], resolved=[alert(firing=False)])
    sender = LogSender("app.alerts", level="info", resolved_level="debug", escalate=False)
    for n in (low, sample(), gone):
        await send(sender, n)
    assert [r.levelno for r in caplog.records] == [logging.INFO, logging.INFO, logging.DEBUG]
    default = LogSender(logging.getLogger("app.alerts"))
    caplog.clear()
    await send(default, low)
    await send(default, gone)
    assert [r.levelno for r in caplog.records] == [logging.WARNING, logging.INFO]


def test_log_from_url() -> None:
    sender = ak.notifier_from_url("log://my.app.alerts?level=error&resolved_level=warning")
    assert repr(sender) == "LogSender('my.app.alerts', level=ERROR, resolved_level=WARNING)"
    assert repr(ak.notifier_from_url("log://")) == (
        "LogSender('alertkit.notifications', level=WARNING, resolved_level=INFO)")


@pytest.mark.parametrize(("url", "kwargs", "message"), [
    ("log://?level=loud", {}, "level must be one of"),
    ("log://?resolved_level=7", {}, "resolved_level must be one of"),
    ("log://?colour=1", {}, "unknown option 'colour'"),
    ("log://", {"level": True}, "level must be one of"),
    ("log://a b", {}, "is not valid"),
    ("logs://x", {}, "unknown notifier URL scheme"),
])
def test_log_bad_config(url: str, kwargs: dict[str, Any], message: str) -> None:
    with pytest.raises(ak.NotifierConfigError, match=message):
        ak.notifier_from_url(url, **kwargs)


def test_log_bad_logger() -> None:
    with pytest.raises(ak.NotifierConfigError, match="logger must be"):
        LogSender(5)  # type: ignore[arg-type]


# -- callback -----------------------------------------------------------------------------


async def test_callback_sync_async_and_with_context() -> None:
    seen: list[Any] = []
    assert await send(CallbackSender(seen.append), sample()) == ak.Delivered()

    async def two(n: ak.Notification, context: ak.DeliveryContext) -> ak.DeliveryResult:
        await anyio.sleep(0)
        seen.append((n.receiver, context.now))
        return ak.Delivered(202, detail="queued")

    assert await send(CallbackSender(two), sample()) == ak.Delivered(202, detail="queued")
    assert seen[0] == sample() and seen[1] == ("ops", T0)


@pytest.mark.parametrize(("outcome", "expected"), [
    (None, ak.Delivered()), (True, ak.Delivered()),
    (False, ak.Failed("the callback returned False")),
    (ak.Retry("later", retry_at=5.0), ak.Retry("later", retry_at=5.0)),
    (ak.Failed("no"), ak.Failed("no")),
    ("ok", ak.Failed("the callback returned str, not a delivery result")),
])
async def test_callback_return_values(outcome: object, expected: ak.DeliveryResult) -> None:
    assert await send(CallbackSender(lambda n: outcome), sample()) == expected


@pytest.mark.parametrize(("exc", "expected"), [
    (ak.PermanentDeliveryError("bad input", status_code=400),
     ak.Failed("bad input", status_code=400)),
    (ak.RetryableDeliveryError("busy", retry_at=9.0), ak.Retry("busy", retry_at=9.0)),
    (RuntimeError("password=hunter2"), ak.Retry("RuntimeError")),
])
async def test_callback_exceptions(exc: Exception, expected: ak.DeliveryResult) -> None:
    def boom(n: ak.Notification) -> None:
        raise exc

    assert await send(CallbackSender(boom), sample()) == expected


async def test_callback_in_a_thread() -> None:
    threads: list[int] = []

    def blocking(n: ak.Notification) -> None:
        threads.append(threading.get_ident())

    assert await send(CallbackSender(blocking, thread=True), sample()) == ak.Delivered()
    assert threads and threads[0] != threading.get_ident()


async def test_callback_through_the_delivery_worker() -> None:
    got: list[ak.Notification] = []
    attempts = iter([ak.Retry("first"), None])

    def flaky(n: ak.Notification) -> ak.DeliveryResult | None:
        result = next(attempts)
        got.append(n)
        return result

    clock = ak.FakeClock(T0)
    async with ak.DeliveryWorker([ak.Receiver("ops", {"cb": CallbackSender(flaky)})],
                                 clock=clock, policy=ak.RetryPolicy(base=1, cap=2)) as worker:
        await worker.submit(sample())
        await worker.wait_idle()
        [pending] = (await worker.outbox.load()).entries
        clock.set(pending.next_attempt_at)
        await worker.wait_idle()
    assert [r.outcome.value for r in worker.log.query()] == ["retry", "delivered"]
    assert len(got) == 2


def test_callback_bad_config() -> None:
    with pytest.raises(ak.NotifierConfigError, match="needs a callable"):
        CallbackSender(42)  # type: ignore[arg-type]

    async def f(n: ak.Notification) -> None: ...

    with pytest.raises(ak.NotifierConfigError, match="thread=True is for sync"):
        CallbackSender(f, thread=True)
    assert repr(CallbackSender(f)).startswith("CallbackSender(test_callback_bad_config")
