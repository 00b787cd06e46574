"""The delivery worker with scripted notifiers and a fake clock (no network)."""

from __future__ import annotations

import random
import sqlite3
from pathlib import Path

import anyio
import pytest

import alertkit as ak
from delivery_helpers import ScriptedSender, many, notification

pytestmark = pytest.mark.anyio

T0 = 1_000_000.0


def worker(senders: dict[str, ak.NotificationSender] | ak.NotificationSender, *,
           clock: ak.FakeClock | None = None, results: list[ak.DeliveryOutcome] | None = None,
           receiver_kw: dict[str, object] | None = None,
           **kw: object) -> ak.DeliveryWorker:
    receiver = ak.Receiver("ops", senders, **(receiver_kw or {}))  # type: ignore[arg-type]
    return ak.DeliveryWorker(
        [receiver], clock=clock or ak.FakeClock(T0), rng=random.Random(1),
        on_result=results.append if results is not None else None, **kw)  # type: ignore[arg-type]


async def test_delivers_once_and_reports() -> None:
    sender = ScriptedSender()
    results: list[ak.DeliveryOutcome] = []
    async with worker({"hook": sender}, results=results) as w:
        n = notification()
        await w.submit(n)
        await w.wait_idle()
        assert w.pending == 0
        assert (await w.outbox.load()).entries == []
    assert sender.calls == [(n.idempotency_key, 1, T0)]
    [out] = results
    assert out.delivered and out.attempts == 1 and out.notifier == "hook"
    assert out.receiver == "ops" and out.idempotency_key == n.idempotency_key
    [rec] = w.log.query()
    assert rec.outcome is ak.AttemptOutcome.DELIVERED and rec.status_code == 200
    assert rec.latency is not None and rec.latency >= 0
    assert w.stats().sent == 1


async def test_the_texts_are_rendered_before_sending() -> None:
    seen: list[ak.Notification] = []

    class Capture:
        formats = ("plain", "slack")

        async def send(self, n: ak.Notification, c: ak.DeliveryContext) -> ak.DeliveryResult:
            seen.append(n)
            return ak.Delivered()

    async with worker({"hook": Capture()}) as w:
        await w.submit(notification(), notification(group="g2", texts={"title": "mine"}))
        await w.wait_idle()
    by_group = {n.group_key: n for n in seen}
    assert set(by_group["ops/g1"].texts) == {"title", "body", "body.slack"}
    assert by_group["ops/g1"].texts["title"] == "[FIRING:1] HighCPU"
    assert by_group["ops/g2"].texts["title"] == "mine"  # the dispatcher's text wins


async def test_retries_follow_the_policy_on_the_fake_clock() -> None:
    clock = ak.FakeClock(T0)
    sender = ScriptedSender(ak.Retry("HTTP 503", 503), ak.Retry("HTTP 503", 503),
                            ak.Delivered(200))
    policy = ak.RetryPolicy(base=10, cap=100)
    async with worker({"hook": sender}, clock=clock, policy=policy) as w:
        n = notification()
        await w.submit(n)
        await w.wait_idle()
        # The schedule is the policy's with the same seed: recompute it.
        rng = random.Random(1)
        first = policy.next_attempt(1, now=T0, first_attempt_at=T0, rng=rng)
        assert isinstance(first, ak.RetryAt) and T0 <= first.at < T0 + 10
        [pending] = (await w.outbox.load()).entries
        assert pending.attempts == 1 and pending.next_attempt_at == first.at
        assert pending.last_error == "HTTP 503"
        clock.set(first.at - 0.001)
        await w.wait_idle()
        assert len(sender.calls) == 1  # not before it is due
        clock.set(first.at)
        await w.wait_idle()
        second = policy.next_attempt(2, now=first.at, first_attempt_at=T0, rng=rng)
        assert isinstance(second, ak.RetryAt) and second.at - first.at < 20
        clock.set(second.at)
        await w.wait_idle()
    assert [(a, t) for _, a, t in sender.calls] == [(1, T0), (2, first.at), (3, second.at)]
    assert [r.outcome.value for r in w.log.query()] == ["retry", "retry", "delivered"]
    s = w.stats()
    assert (s.sent, s.retried, s.failed, s.attempts) == (1, 2, 0, 3)


async def test_retry_after_is_honoured() -> None:
    clock = ak.FakeClock(T0)
    sender = ScriptedSender(ak.Retry("HTTP 429", 429, retry_at=T0 + 120))
    async with worker({"hook": sender}, clock=clock, policy=ak.RetryPolicy(base=1, cap=2)) as w:
        await w.submit(notification())
        await w.wait_idle()
        [pending] = (await w.outbox.load()).entries
        assert pending.next_attempt_at == T0 + 120
        clock.set(T0 + 119)
        await w.wait_idle()
        assert len(sender.calls) == 1
        clock.set(T0 + 120)
        await w.wait_idle()
    assert [t for _, _, t in sender.calls] == [T0, T0 + 120]


async def test_gives_up_after_max_attempts_and_keeps_it_in_the_log() -> None:
    clock = ak.FakeClock(T0)
    sender = ScriptedSender(default=ak.Retry("HTTP 500", 500))
    results: list[ak.DeliveryOutcome] = []
    policy = ak.RetryPolicy(base=1, cap=1, max_attempts=3)
    async with worker({"hook": sender}, clock=clock, results=results, policy=policy,
                      breaker=ak.CircuitBreaker(failure_threshold=100)) as w:
        await w.submit(notification())
        for _ in range(5):
            await w.wait_idle()
            clock.advance(1)
        await w.wait_idle()
        assert (await w.outbox.load()).entries == []
    assert len(sender.calls) == 3
    [out] = results
    assert not out.delivered and out.gave_up and out.attempts == 3
    assert out.result.reason == "gave up after 3 attempts; last error: HTTP 500"
    assert [r.outcome.value for r in w.log.query()] == ["retry", "retry", "gave_up"]
    assert w.stats().failed == 1 and w.stats().gave_up == 1


async def test_a_permanent_failure_is_not_retried() -> None:
    sender = ScriptedSender(ak.Failed("HTTP 400: bad payload", 400))
    results: list[ak.DeliveryOutcome] = []
    async with worker({"hook": sender}, results=results) as w:
        await w.submit(notification())
        await w.wait_idle()
    assert len(sender.calls) == 1
    assert results[0].result == ak.Failed("HTTP 400: bad payload", 400)
    assert not results[0].gave_up
    assert w.log.query()[0].outcome is ak.AttemptOutcome.FAILED


async def test_exceptions_map_to_results_without_leaking_messages() -> None:
    clock = ak.FakeClock(T0)
    sender = ScriptedSender(
        ak.RetryableDeliveryError("rate limited", status_code=429, retry_at=T0 + 5),
        ValueError("token=SUPERSECRET rejected"),
        ak.PermanentDeliveryError("channel not found", status_code=404))
    results: list[ak.DeliveryOutcome] = []
    async with worker({"hook": sender}, clock=clock, results=results,
                      policy=ak.RetryPolicy(base=1, cap=1)) as w:
        await w.submit(notification())
        await w.wait_idle()
        clock.set(T0 + 5)
        await w.wait_idle()
        clock.advance(1)
        await w.wait_idle()
    records = w.log.query()
    assert [(r.outcome.value, r.status_code, r.error) for r in records] == [
        ("retry", 429, "rate limited"), ("retry", None, "ValueError"),
        ("failed", 404, "channel not found")]
    assert records[1].at >= T0 + 5
    assert "SUPERSECRET" not in repr(records) + repr(results)


async def test_a_notifier_returning_garbage_fails_permanently() -> None:
    sender = ScriptedSender(default="ok")
    async with worker({"hook": sender}) as w:
        await w.submit(notification())
        await w.wait_idle()
    [rec] = w.log.query()
    assert rec.outcome is ak.AttemptOutcome.FAILED and "returned str" in rec.error


async def test_the_per_attempt_timeout_cancels_a_slow_notifier() -> None:
    class Slow:
        async def send(self, n: ak.Notification, c: ak.DeliveryContext) -> ak.DeliveryResult:
            await anyio.sleep(10)
            return ak.Delivered()

    async with worker({"hook": Slow()}, receiver_kw={"timeout": 0.05}) as w:
        with anyio.fail_after(5):
            await w.submit(notification())
            await w.wait_idle()
    [rec] = w.log.query()
    assert rec.outcome is ak.AttemptOutcome.RETRY and rec.error == "timeout after 0.05s"
    assert rec.latency is not None and 0.04 < rec.latency < 2


async def test_concurrency_is_limited_per_receiver() -> None:
    in_flight = peak = 0

    class Counting:
        async def send(self, n: ak.Notification, c: ak.DeliveryContext) -> ak.DeliveryResult:
            nonlocal in_flight, peak
            in_flight += 1
            peak = max(peak, in_flight)
            await anyio.sleep(0.002)
            in_flight -= 1
            return ak.Delivered()

    async with worker({"hook": Counting()}, receiver_kw={"concurrency": 3}) as w:
        await w.submit(*many(30))
        await w.wait_idle()
    assert peak == 3 and w.stats().sent == 30


async def test_circuit_breaker_opens_defers_probes_and_closes() -> None:
    clock = ak.FakeClock(T0)
    healthy = False
    calls: list[float] = []

    class Flaky:
        async def send(self, n: ak.Notification, c: ak.DeliveryContext) -> ak.DeliveryResult:
            calls.append(c.now)
            return ak.Delivered() if healthy else ak.Retry("HTTP 503", 503)

    policy = ak.RetryPolicy(base=1, cap=1, max_attempts=100, deadline="1h")
    async with worker({"hook": Flaky()}, clock=clock, policy=policy,
                      breaker=ak.CircuitBreaker(failure_threshold=2, cool_down=60),
                      receiver_kw={"concurrency": 1}) as w:
        await w.submit(*many(5))
        await w.wait_idle()
        # Two failures opened the breaker: the other three were deferred, not attempted.
        assert len(calls) == 2
        assert w.stats().deferred_by_breaker >= 3
        clock.advance(30)
        await w.wait_idle()
        assert len(calls) == 2  # still cooling down
        clock.set(T0 + 60)
        await w.wait_idle()
        assert len(calls) == 3  # exactly one probe; it failed: open again
        healthy = True
        clock.set(T0 + 120)
        await w.wait_idle()
        clock.advance(1)
        await w.wait_idle()
        assert w.stats().sent == 5 and w.pending == 0
    assert calls[2] == T0 + 60 and calls[3] == T0 + 120


async def test_an_open_breaker_past_the_deadline_gives_up() -> None:
    clock = ak.FakeClock(T0)
    sender = ScriptedSender(default=ak.Retry("HTTP 503", 503))
    results: list[ak.DeliveryOutcome] = []
    async with worker({"hook": sender}, clock=clock, results=results,
                      policy=ak.RetryPolicy(base=1, cap=1, deadline=30),
                      breaker=ak.CircuitBreaker(failure_threshold=1, cool_down=60),
                      receiver_kw={"concurrency": 1}) as w:
        await w.submit(*many(2))
        await w.wait_idle()
    assert len(sender.calls) == 1
    gave_up = [o for o in results if o.gave_up]
    assert len(gave_up) == 1 and "circuit breaker open past the retry deadline" in \
        gave_up[0].result.reason


async def test_callback_errors_are_logged_not_fatal(caplog: pytest.LogCaptureFixture) -> None:
    seen: list[str] = []

    async def callback(out: ak.DeliveryOutcome) -> None:
        seen.append(out.idempotency_key)
        raise RuntimeError("dispatcher bug")

    async with ak.DeliveryWorker([ak.Receiver("ops", ScriptedSender())],
                                 on_result=callback) as w:
        await w.submit(*many(3))
        await w.wait_idle()
    assert len(seen) == 3 and w.stats().sent == 3
    assert "on_result callback failed" in caplog.text


async def test_a_failing_template_still_delivers_and_is_logged() -> None:
    sender = ScriptedSender()
    templates = ak.NotificationTemplates(body="{{ alerts[0].labels.items() | sum }}")
    async with worker({"hook": sender}, receiver_kw={"templates": templates}) as w:
        await w.submit(notification())
        await w.wait_idle()
    errors = w.log.query(outcome="template_error")
    assert len(errors) == 1 and errors[0].error.startswith("template 'body': TypeError")
    assert w.stats().sent == 1 and w.stats().template_errors == 1


async def test_duplicates_are_not_sent_twice_while_pending() -> None:
    clock = ak.FakeClock(T0)
    sender = ScriptedSender(ak.Retry("HTTP 503", 503))
    async with worker({"hook": sender}, clock=clock) as w:
        n = notification()
        await w.submit(n)
        await w.wait_idle()
        await w.submit(n)  # same content while the first is pending: coalesced
        await w.wait_idle()
        assert len(sender.calls) == 1 and w.pending == 1
        clock.advance(3600)
        await w.wait_idle()
        assert len(sender.calls) == 2 and w.pending == 0
        await w.submit(n)  # once finished, the same content can be sent again
        await w.wait_idle()
    assert len(sender.calls) == 3


async def test_bad_input_is_rejected_precisely() -> None:
    async with worker({"hook": ScriptedSender()}) as w:
        with pytest.raises(ak.NotifierConfigError, match=r"no receiver named 'pager' \(known: ops"):
            await w.submit(notification("pager"))
        with pytest.raises(TypeError, match="expected a Notification"):
            w.submit_nowait("hello")  # type: ignore[arg-type]
        with pytest.raises(ak.AlertkitError, match="entered once"):
            await w.__aenter__()
    with pytest.raises(ak.AlertkitError, match="closed"):
        w.submit_nowait(notification())
    with pytest.raises(ak.NotifierConfigError, match="two receivers"):
        ak.DeliveryWorker([ak.Receiver("a", ScriptedSender()), ak.Receiver("a", ScriptedSender())])
    with pytest.raises(ak.NotifierConfigError, match="not a NotificationSender"):
        ak.Receiver("a", {"x": object()})  # type: ignore[dict-item]
    with pytest.raises(ak.NotifierConfigError, match="receiver name"):
        ak.Receiver("", ScriptedSender())
    with pytest.raises(ak.NotifierConfigError, match="concurrency"):
        ak.Receiver("a", ScriptedSender(), concurrency=0)
    with pytest.raises(ak.NotifierConfigError, match="unknown notifier URL scheme 'foo'"):
        ak.Receiver("a", "foo://x/secret")
    with pytest.raises(ak.DurationError, match="timeout"):
        ak.Receiver("a", ScriptedSender(), timeout="soon")


async def test_submit_nowait_from_sync_code_is_written_before_sending(tmp_path: Path) -> None:
    order: list[str] = []
    box = ak.SqliteOutbox(tmp_path / "o.db")

    class Checking:
        async def send(self, n: ak.Notification, c: ak.DeliveryContext) -> ak.DeliveryResult:
            stored = {e.notification.idempotency_key for e in (await box.load()).entries}
            order.append("stored" if n.idempotency_key in stored else "NOT STORED")
            return ak.Delivered()

    async with box, ak.DeliveryWorker([ak.Receiver("ops", Checking())], outbox=box) as w:
        w.submit_nowait(*many(5))
        await w.wait_idle()
        assert (await box.load()).entries == []
    assert order == ["stored"] * 5


async def test_resume_sends_what_the_outbox_holds(tmp_path: Path) -> None:
    path = tmp_path / "o.db"
    ns = many(3)
    async with ak.SqliteOutbox(path) as box:
        await box.add([ak.OutboxEntry(n, "hook", enqueued_at=T0, next_attempt_at=T0, attempts=2)
                       for n in ns])
        await box.add([ak.OutboxEntry(notification("gone"), "hook", enqueued_at=T0,
                                      next_attempt_at=T0)])
        await box.add([ak.OutboxEntry(notification(group="x"), "old-hook", enqueued_at=T0,
                                      next_attempt_at=T0)])
    with sqlite3.connect(path) as conn:  # and one row damaged on disk
        conn.execute("UPDATE outbox SET notification = 'garbage' WHERE idempotency_key = ?",
                     (ns[2].idempotency_key,))
    sender = ScriptedSender()
    results: list[ak.DeliveryOutcome] = []
    async with ak.SqliteOutbox(path) as box:
        async with ak.DeliveryWorker([ak.Receiver("ops", {"hook": sender})], outbox=box,
                                     clock=ak.FakeClock(T0 + 10),
                                     on_result=results.append) as w:
            await w.wait_idle()
        assert (await box.load()).entries == []
        assert len(await box.corrupt_rows()) == 1
        persisted = await box.query_attempts()
    assert sorted(k for k, _, _ in sender.calls) == sorted(n.idempotency_key for n in ns[:2])
    assert [a for _, a, _ in sender.calls] == [3, 3]  # attempt numbers carry on
    outcomes = sorted((o.receiver, o.notifier, o.delivered) for o in results)
    assert outcomes == [("gone", "hook", False), ("ops", "hook", True), ("ops", "hook", True),
                        ("ops", "old-hook", False)]
    assert [r.outcome.value for r in w.log.query(outcome="corrupt")] == ["corrupt"]
    assert "not valid JSON" in w.log.query(outcome="corrupt")[0].error
    assert {r.outcome.value for r in persisted} == {"corrupt", "gave_up", "delivered"}


async def test_leaving_cancels_in_flight_attempts_but_keeps_them(tmp_path: Path) -> None:
    class Hang:
        async def send(self, n: ak.Notification, c: ak.DeliveryContext) -> ak.DeliveryResult:
            await anyio.sleep_forever()
            raise AssertionError

    async with ak.SqliteOutbox(tmp_path / "o.db") as box:
        async with ak.DeliveryWorker([ak.Receiver("ops", Hang())], outbox=box) as w:
            await w.submit(*many(3))
            await anyio.sleep(0.01)
        assert len((await box.load()).entries) == 3


async def test_the_worker_owns_and_closes_its_http_client() -> None:
    async with ak.DeliveryWorker([ak.Receiver("ops", ScriptedSender())]) as w:
        client = w.http
        assert not client.is_closed
    assert client.is_closed
    with pytest.raises(ak.AlertkitError, match="not running"):
        ak.DeliveryWorker([]).http  # noqa: B018


async def test_a_shared_http_client_is_left_open() -> None:
    import httpx

    async with httpx.AsyncClient() as client:
        async with ak.DeliveryWorker([ak.Receiver("ops", ScriptedSender())], http=client) as w:
            assert w.http is client
        assert not client.is_closed
