"""alertkit.testing.RecordingNotifier: recording, scripted failures, through the real worker."""

from __future__ import annotations

import random

import anyio
import httpx
import pytest

import alertkit as ak
from alertkit.testing.recording import Attempt, FakeClock, RecordingNotifier
from delivery_helpers import alert, notification

pytestmark = pytest.mark.anyio

T0 = 1_000_000.0


def worker(rec: RecordingNotifier, clock: ak.FakeClock, **kw: object) -> ak.DeliveryWorker:
    return ak.DeliveryWorker([ak.Receiver("ops", {"rec": rec})], clock=clock,
                             rng=random.Random(1), **kw)  # type: ignore[arg-type]


async def send(rec: RecordingNotifier, n: ak.Notification, *, attempt: int = 1,
               now: float = T0) -> ak.DeliveryResult:
    async with httpx.AsyncClient() as http:
        return await rec.send(n, ak.DeliveryContext(http, attempt=attempt, now=now))


async def test_records_and_accepts_by_default() -> None:
    rec = RecordingNotifier()
    n = notification()
    assert await send(rec, n) == ak.Delivered(200)
    assert rec.sent == [n]
    assert rec.attempts == [Attempt(n, 1, T0, ak.Delivered(200))]
    assert rec.attempts[0].delivered and rec.failures == []
    assert isinstance(rec, ak.NotificationSender)
    assert repr(rec) == "<RecordingNotifier sent=1 attempts=1 scripted=0>"


async def test_scripted_outcomes_are_consumed_in_order() -> None:
    rec = RecordingNotifier()
    rec.fail_next(2, reason="HTTP 502", status_code=502)
    rec.rate_limit_next(retry_after=90)
    rec.fail_permanently(1)
    n = notification()
    results = [await send(rec, n, attempt=i + 1) for i in range(5)]
    assert results == [
        ak.Retry("HTTP 502", 502), ak.Retry("HTTP 502", 502),
        ak.Retry("429 Too Many Requests", 429, retry_at=T0 + 90),
        ak.Failed("400 Bad Request", 400),
        ak.Delivered(200),
    ]
    assert [a.attempt for a in rec.failures] == [1, 2, 3, 4]
    assert rec.sent == [n]


async def test_retry_after_as_an_http_date() -> None:
    rec = RecordingNotifier()
    rec.rate_limit_next(retry_after="Thu, 01 Jan 1970 00:20:00 GMT")
    result = await send(rec, notification(), now=0.0)
    assert isinstance(result, ak.Retry) and result.retry_at == 1200.0


async def test_fail_permanently_without_n_fails_until_accept_all() -> None:
    rec = RecordingNotifier()
    rec.fail_permanently()
    assert isinstance(await send(rec, notification()), ak.Failed)
    assert isinstance(await send(rec, notification()), ak.Failed)
    rec.accept_all()
    assert isinstance(await send(rec, notification()), ak.Delivered)
    rec.clear()
    assert rec.sent == [] and rec.attempts == []


async def test_raise_next_raises_and_records_the_mapped_result() -> None:
    rec = RecordingNotifier()
    rec.raise_next(ak.PermanentDeliveryError("bad token", status_code=401))
    rec.raise_next(OSError("connection reset"))
    with pytest.raises(ak.PermanentDeliveryError):
        await send(rec, notification())
    with pytest.raises(OSError, match="connection reset"):
        await send(rec, notification())
    assert [a.result for a in rec.attempts] == [ak.Failed("bad token", 401),
                                                ak.Retry("OSError")]


async def test_queries() -> None:
    rec = RecordingNotifier()
    a, b = alert(host="a"), alert(host="b", firing=False)
    c = alert("Disk", host="a")
    n1 = notification(firing=[a], resolved=[b])
    n2 = notification(group="g2", firing=[c])
    await send(rec, n1)
    await send(rec, n2)
    assert rec.alerts() == [a, b, c]
    assert rec.alerts("firing") == [a, c]
    assert rec.alerts("resolved") == [b]
    assert rec.notifications_about("Disk") == [n2]
    assert rec.notifications_about(labels={"host": "b"}) == [n1]
    assert rec.notifications_about("HighCPU", labels={"host": "a"}) == [n1]
    assert rec.notifications_about("Nope") == []
    with pytest.raises(ak.AlertkitError, match="status 'pending'"):
        rec.alerts("pending")


async def test_wait_for_returns_when_enough_arrived_and_times_out_readably() -> None:
    rec = RecordingNotifier()

    async def later() -> None:
        await anyio.sleep(0.01)
        await send(rec, notification())
        await send(rec, notification())

    async with anyio.create_task_group() as tg:
        tg.start_soon(later)
        await rec.wait_for(2)
    assert len(rec.sent) == 2
    await rec.wait_for(1)  # already there: returns at once
    with pytest.raises(TimeoutError, match="waited 0.05s for 3 accepted notifications, got 2"):
        await rec.wait_for(3, timeout=0.05)
    rec.fail_next()
    await send(rec, notification())
    await rec.wait_for(3, attempts=True)


def test_bad_scripts_raise_notifier_config_errors() -> None:
    rec = RecordingNotifier()
    for call in (lambda: rec.fail_next(0), lambda: rec.fail_next(True),
                 lambda: rec.fail_permanently(-1), lambda: rec.rate_limit_next(1.5),
                 lambda: rec.raise_next(ValueError(), n=0)):
        with pytest.raises(ak.NotifierConfigError, match="must be an int >= 1"):
            call()  # type: ignore[no-untyped-call]
    with pytest.raises(ak.NotifierConfigError, match="retry_after: -1 must be finite"):
        rec.rate_limit_next(retry_after=-1)
    with pytest.raises(ak.NotifierConfigError, match="retry_after: 'soon' is not seconds"):
        rec.rate_limit_next(retry_after="soon")
    with pytest.raises(ak.NotifierConfigError, match="retry_after: True"):
        rec.rate_limit_next(retry_after=True)
    with pytest.raises(ak.NotifierConfigError, match="is not an exception"):
        rec.raise_next("boom")  # type: ignore[arg-type]
    assert repr(rec) == "<RecordingNotifier sent=0 attempts=0 scripted=0>"


async def test_wait_for_rejects_a_bad_timeout() -> None:
    with pytest.raises(ak.NotifierConfigError, match="timeout must be > 0"):
        await RecordingNotifier().wait_for(1, timeout=0)


# -- through the real delivery worker, on a fake clock ------------------------------------


async def test_the_worker_retries_after_fail_next() -> None:
    clock = FakeClock(T0)
    rec = RecordingNotifier()
    rec.fail_next(2)
    policy = ak.RetryPolicy(base=10, cap=10)
    async with worker(rec, clock, policy=policy) as w:
        await w.submit(notification())
        for _ in range(4):
            await w.wait_idle()
            clock.advance(10)
        await w.wait_idle()
    assert [a.attempt for a in rec.attempts] == [1, 2, 3]
    assert len(rec.sent) == 1 and w.stats().retried == 2


async def test_the_worker_honours_the_429_retry_after() -> None:
    clock = FakeClock(T0)
    rec = RecordingNotifier()
    rec.rate_limit_next(retry_after=120)
    async with worker(rec, clock, policy=ak.RetryPolicy(base=1, cap=2)) as w:
        await w.submit(notification())
        await w.wait_idle()
        clock.set(T0 + 119)
        await w.wait_idle()
        assert len(rec.attempts) == 1
        clock.set(T0 + 120)
        await w.wait_idle()
    assert [a.at for a in rec.attempts] == [T0, T0 + 120]
    assert rec.attempts[0].result.status_code == 429


async def test_the_worker_gives_up_on_a_permanent_failure() -> None:
    clock = FakeClock(T0)
    rec = RecordingNotifier()
    rec.fail_permanently()
    outcomes: list[ak.DeliveryOutcome] = []
    async with worker(rec, clock, on_result=outcomes.append) as w:
        await w.submit(notification())
        await w.wait_idle()
    assert rec.sent == [] and len(rec.attempts) == 1
    [out] = outcomes
    assert not out.delivered and out.result == ak.Failed("400 Bad Request", 400)


def test_fake_clock_is_the_runtime_one() -> None:
    assert FakeClock is ak.FakeClock
