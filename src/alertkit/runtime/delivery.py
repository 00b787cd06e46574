"""The delivery worker: notifications in, delivered (or reported failed) out, nothing lost.

The pure dispatcher decides *what* to send; this anyio runtime sends it:

1. :meth:`DeliveryWorker.submit` renders the receiver's templates into the
   notification's texts and writes one :class:`~alertkit.OutboxEntry` per
   notifier of the receiver to the outbox, *before* the first attempt;
2. per receiver, at most ``concurrency`` attempts run at once, each under a
   per-attempt timeout, with the runtime's one shared ``httpx.AsyncClient``;
3. a failed attempt is retried when the :class:`~alertkit.RetryPolicy` says
   (backoff with full jitter, never before ``Retry-After``), and a
   notifier whose :class:`~alertkit.CircuitBreaker` is open is not tried
   until its cool-down ends;
4. a final result (delivered, failed, or given up) removes the entry from the
   outbox, is written to the :class:`~alertkit.DeliveryLog` and is handed to
   ``on_result`` (the dispatcher marks the group as notified there).

After a crash, entering a worker on the same durable outbox resumes what
was pending: at least once, with the same idempotency keys.
"""

from __future__ import annotations

import heapq
import inspect
import logging
import math
import os
import random
import re
import socket
import time
import uuid
from collections.abc import Awaitable, Callable, Iterable, Mapping
from types import TracebackType

import anyio
import attrs
import httpx
from anyio.abc import TaskGroup
from anyio.streams.memory import MemoryObjectReceiveStream, MemoryObjectSendStream

from alertkit._core.timeutil import DurationLike, parse_duration
from alertkit._dispatch.notification import Delivered, Failed, Notification, Retry
from alertkit._dispatch.retry import BreakerState, CircuitBreaker, GiveUp, RetryPolicy
from alertkit._errors import AlertkitError, NotifierConfigError
from alertkit.notify.registry import NotifierRegistry, default_registry
from alertkit.notify.sender import DeliveryContext, NotificationSender, result_from_exception
from alertkit.notify.templates import NotificationTemplates, text_key
from alertkit.notify.transport import default_http_client
from alertkit.stores.base import ClaimingOutbox
from alertkit.stores.memory import MemoryOutbox
from alertkit.stores.outbox import EntryId, Outbox, OutboxEntry

from .clock import Clock, SystemClock
from .delivery_log import AttemptOutcome, AttemptRecord, DeliveryLog, DeliveryStats

__all__ = ["DeliveryOutcome", "DeliveryWorker", "Receiver", "ResultCallback"]

log = logging.getLogger("alertkit.delivery")

_NAME = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.:@+-]*\Z")
_DEFAULT_TEMPLATES = NotificationTemplates()


def _check_name(kind: str, name: object) -> str:
    if not isinstance(name, str) or not _NAME.match(name) or len(name) > 200:
        raise NotifierConfigError(
            f"{kind} name {name!r} is not valid (letters, digits and _ . : @ + -)"
        )
    return name


def _senders(
    value: Mapping[str, NotificationSender | str] | NotificationSender | str,
    registry: NotifierRegistry,
) -> dict[str, NotificationSender]:
    items = value.items() if isinstance(value, Mapping) else [("default", value)]
    out: dict[str, NotificationSender] = {}
    for name, sender in items:
        _check_name("notifier", name)
        if isinstance(sender, str):
            sender = registry.from_url(sender)
        if not isinstance(sender, NotificationSender):
            raise NotifierConfigError(
                f"notifier {name!r}: {type(sender).__name__} is not a NotificationSender "
                f"(needs async send(notification, context))"
            )
        out[name] = sender
    if not out:
        raise NotifierConfigError("a receiver needs at least one notifier")
    return out


class Receiver:
    """Where a notification goes: a name (what the dispatcher routes to) and its notifiers.

    - ``notifiers``: ``{name: sender or URL}`` (URLs resolve through
      ``registry``, the default registry unless given), or one sender/URL
      (named ``"default"``). Notifier names identify deliveries in the outbox:
      keep them stable across restarts.
    - ``templates``: texts to render (defaults otherwise);
    - ``concurrency``: attempts in flight at once for this receiver;
    - ``timeout``: the per-attempt time budget (seconds or ``"10s"``);
    - ``policy``: the retry policy (the worker's unless given).

    >>> Receiver("ops", {"hook": "https://hooks.example.com/T0/B0/secret"})
    Receiver('ops', notifiers={'hook': WebhookNotifier('https://hooks.example.com/***')})
    """

    __slots__ = ("_formats", "concurrency", "name", "notifiers", "policy", "templates",
                 "timeout")

    def __init__(
        self,
        name: str,
        notifiers: Mapping[str, NotificationSender | str] | NotificationSender | str,
        *,
        templates: NotificationTemplates | None = None,
        concurrency: int = 4,
        timeout: DurationLike = "10s",
        policy: RetryPolicy | None = None,
        registry: NotifierRegistry | None = None,
    ) -> None:
        self.name = _check_name("receiver", name)
        self.notifiers = _senders(notifiers, registry or default_registry)
        if isinstance(concurrency, bool) or not isinstance(concurrency, int) or concurrency < 1:
            raise NotifierConfigError(
                f"receiver {name!r}: concurrency must be an integer >= 1, got {concurrency!r}"
            )
        if templates is not None and not isinstance(templates, NotificationTemplates):
            raise NotifierConfigError(
                f"receiver {name!r}: templates must be a NotificationTemplates"
            )
        self.templates = templates
        self.concurrency = concurrency
        self.timeout = parse_duration(timeout, field=f"receiver {name!r}: timeout",
                                      allow_zero=False)
        self.policy = policy
        found: dict[str, None] = {}
        for sender in self.notifiers.values():
            for fmt in getattr(sender, "formats", ("plain",)):
                found[fmt] = None
        self._formats = tuple(found)

    def formats(self) -> tuple[str, ...]:
        """The body formats its notifiers use (``formats`` attributes; plain by default)."""
        return self._formats

    def __repr__(self) -> str:
        return f"Receiver({self.name!r}, notifiers={self.notifiers!r})"


@attrs.frozen
class DeliveryOutcome:
    """The final result of one delivery: one notification through one notifier.

    ``result`` is :class:`~alertkit.Delivered` or :class:`~alertkit.Failed`
    (given up after retries included: ``gave_up`` is then true).
    """

    notification: Notification
    notifier: str
    result: Delivered | Failed
    attempts: int
    finished_at: float
    gave_up: bool = False

    @property
    def delivered(self) -> bool:
        return isinstance(self.result, Delivered)

    @property
    def receiver(self) -> str:
        return self.notification.receiver

    @property
    def idempotency_key(self) -> str:
        return self.notification.idempotency_key


ResultCallback = Callable[[DeliveryOutcome], Awaitable[None] | None]

_Queue = tuple[MemoryObjectSendStream[OutboxEntry], MemoryObjectReceiveStream[OutboxEntry]]


class DeliveryWorker:
    """Sends notifications to receivers with retries, an outbox and a delivery log.

    ``async with DeliveryWorker(receivers, ...) as worker: await worker.submit(n)``

    - ``outbox``: a :class:`~alertkit.MemoryOutbox` unless given; pass a
      :class:`~alertkit.SqliteOutbox` to survive restarts (its delivery log
      is then persisted too). The caller who made the outbox closes it.
    - ``clock``: the time for schedules, records and ``Retry-After``
      (``FakeClock`` in tests); per-attempt timeouts use real time.
    - ``policy``: the default :class:`~alertkit.RetryPolicy`; ``breaker`` a
      :class:`~alertkit.CircuitBreaker` whose settings every notifier's
      breaker copies; ``rng`` the jitter's random generator (seed it in
      tests).
    - ``http``: an ``httpx.AsyncClient`` to share; by default the worker makes
      one (connection pooling, ``max_connections``) and closes it on exit.
    - ``on_result``: called (sync or async) with each :class:`DeliveryOutcome`;
      an exception in it is logged, never fatal.
    - ``log``: the :class:`~alertkit.DeliveryLog` (a new one of
      ``log_capacity`` records unless given).
    - ``owner`` and ``lease``: used when the outbox is shared by several
      processes (a :class:`~alertkit.stores.base.ClaimingOutbox`, such as a
      Redis or SQLite store's): the worker sends only the entries it claimed
      (for its own receivers) as ``owner`` (host, pid and a random suffix
      unless given), renews its
      claims every third of ``lease`` and picks up entries whose owner's lease
      ran out (a crashed process's). A stable ``owner`` per process slot lets a
      restarted process take its entries back at once instead of after the
      lease. Other outboxes are used as they are, without claims.

    Leaving the ``async with`` block cancels attempts in flight: their
    entries stay in the outbox and are sent again by the next worker on it.
    Use :meth:`wait_idle` first to let due deliveries finish.
    """

    def __init__(
        self,
        receivers: Iterable[Receiver],
        *,
        outbox: Outbox | None = None,
        clock: Clock | None = None,
        policy: RetryPolicy | None = None,
        breaker: CircuitBreaker | None = None,
        rng: random.Random | None = None,
        http: httpx.AsyncClient | None = None,
        max_connections: int = 100,
        on_result: ResultCallback | None = None,
        log: DeliveryLog | None = None,
        log_capacity: int = 10_000,
        owner: str | None = None,
        lease: DurationLike = "30s",
    ) -> None:
        self.receivers: dict[str, Receiver] = {}
        for receiver in receivers:
            if not isinstance(receiver, Receiver):
                raise NotifierConfigError(f"{receiver!r} is not a Receiver")
            if receiver.name in self.receivers:
                raise NotifierConfigError(f"two receivers are named {receiver.name!r}")
            self.receivers[receiver.name] = receiver
        if outbox is not None and not isinstance(outbox, Outbox):
            raise NotifierConfigError(f"{outbox!r} is not an Outbox")
        self.outbox: Outbox = outbox if outbox is not None else MemoryOutbox()
        self.clock: Clock = clock if clock is not None else SystemClock()
        self.policy = policy if policy is not None else RetryPolicy()
        self._breaker_proto = breaker if breaker is not None else CircuitBreaker()
        self._rng = rng if rng is not None else random.Random()
        self._http = http
        self._owns_http = http is None
        self._max_connections = max_connections
        self._on_result = on_result
        self.log = log if log is not None else DeliveryLog(log_capacity)
        append = getattr(self.outbox, "append_attempts", None)
        self._log_sink: Callable[[list[AttemptRecord]], Awaitable[None]] | None = (
            append if callable(append) else None
        )
        if self._log_sink is not None:
            self.log.keep_unsaved()

        self._tg: TaskGroup | None = None
        self._closed = False
        self._intake: list[tuple[Notification, anyio.Event | None]] = []
        self._intake_count = 0
        self._intake_wake: anyio.Event | None = None
        self._heap: list[tuple[float, int, OutboxEntry]] = []
        self._seq = 0
        self._sched_scope: anyio.CancelScope | None = None
        self._sched_target = math.inf
        self._queues: dict[str, _Queue] = {}
        self._active = 0
        self._breakers: dict[tuple[str, str], CircuitBreaker] = {}
        self._parked: dict[tuple[str, str], list[OutboxEntry]] = {}
        self._done_ids: list[EntryId] = []
        self._writer_wake: anyio.Event | None = None
        self._store_lock: anyio.Lock | None = None
        self._flushing = False
        self._changed: anyio.Event | None = None
        # Claims (a shared outbox): what this worker holds, until removed or released.
        self._claiming: ClaimingOutbox | None = (
            self.outbox if isinstance(self.outbox, ClaimingOutbox) else None)
        if owner is not None and (not isinstance(owner, str) or not owner):
            raise NotifierConfigError(f"owner must be a non-empty string, got {owner!r}")
        self.owner = owner if owner is not None else \
            f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"
        self.lease = parse_duration(lease, field="lease", allow_zero=False)
        self._held: set[EntryId] = set()
        self._lost: set[EntryId] = set()

    # -- lifecycle -----------------------------------------------------------------------

    async def __aenter__(self) -> DeliveryWorker:
        if self._tg is not None or self._closed:
            raise AlertkitError("a DeliveryWorker can be entered once")
        self._intake_wake = anyio.Event()
        self._writer_wake = anyio.Event()
        self._changed = anyio.Event()
        self._store_lock = anyio.Lock()
        if self._http is None:
            self._http = default_http_client(self._max_connections)
        for name in self.receivers:
            self._queues[name] = anyio.create_memory_object_stream[OutboxEntry](math.inf)
        tg = anyio.create_task_group()
        await tg.__aenter__()
        self._tg = tg
        try:
            await self._resume()
        except BaseException as exc:
            tg.cancel_scope.cancel()
            await tg.__aexit__(type(exc), exc, exc.__traceback__)
            await self._close_resources()
            raise
        tg.start_soon(self._intake_loop, name="alertkit delivery intake")
        tg.start_soon(self._scheduler_loop, name="alertkit delivery scheduler")
        tg.start_soon(self._writer_loop, name="alertkit delivery writer")
        if self._claiming is not None:
            tg.start_soon(self._lease_loop, name="alertkit delivery leases")
        for name, receiver in self.receivers.items():
            for i in range(receiver.concurrency):
                tg.start_soon(self._consumer, receiver, name=f"alertkit delivery {name}#{i}")
        if self._intake:
            self._intake_wake.set()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> bool | None:
        assert self._tg is not None
        self._closed = True
        self._tg.cancel_scope.cancel()
        try:
            return await self._tg.__aexit__(exc_type, exc, tb)
        finally:
            with anyio.CancelScope(shield=True):
                await self._close_resources()

    async def _close_resources(self) -> None:
        try:
            await self._flush()
        except Exception:
            log.exception("delivery worker: final outbox flush failed")
        if self._claiming is not None and self._held:
            try:  # let another process take what is left at once, not after the lease
                await self._claiming.release(self.owner, sorted(self._held))
            except Exception:
                log.exception("delivery worker: releasing claims failed (they will expire)")
            self._held.clear()
        for send, receive in self._queues.values():
            send.close()
            receive.close()
        if self._owns_http and self._http is not None:
            await self._http.aclose()

    async def _resume(self) -> None:
        """Re-queue what the outbox holds from an earlier run."""
        loaded = await self.outbox.load()
        now = self.clock.now()
        for bad in loaded.corrupt:
            log.error("delivery outbox: %s (set aside, not sent)", bad.error)
            self.log.record(AttemptRecord(now, "", "", "", 0, AttemptOutcome.CORRUPT,
                                          error=bad.error))
        entries = loaded.entries
        if self._claiming is not None:  # only what this worker can claim (a shared outbox)
            entries = self._take(await self._claiming.claim(
                self.owner, self.lease, max(1, len(entries)), now=now,
                receivers=list(self.receivers)))
        for entry in entries:
            receiver = self.receivers.get(entry.receiver)
            if receiver is None or entry.notifier not in receiver.notifiers:
                what = (f"receiver {entry.receiver!r}" if receiver is None
                        else f"notifier {entry.notifier!r} of receiver {entry.receiver!r}")
                reason = f"{what} is no longer configured"
                log.error("delivery outbox: %s; giving up on %s", reason,
                          entry.notification.idempotency_key)
                self._record(entry, entry.attempts, AttemptOutcome.GAVE_UP, error=reason)
                await self._finish(entry, Failed(reason), entry.attempts, gave_up=True)
                continue
            self._schedule(entry)

    # -- input ---------------------------------------------------------------------------

    def _check(self, notifications: tuple[Notification, ...]) -> None:
        if self._closed:
            raise AlertkitError("this DeliveryWorker is closed")
        for n in notifications:
            if not isinstance(n, Notification):
                raise TypeError(f"expected a Notification, got {type(n).__name__}")
            if n.receiver not in self.receivers:
                known = ", ".join(sorted(self.receivers)) or "none"
                raise NotifierConfigError(
                    f"notification {n.idempotency_key}: no receiver named {n.receiver!r} "
                    f"(known: {known})"
                )

    def submit_nowait(self, *notifications: Notification) -> None:
        """Queue notifications for delivery (for sync code such as the Engine's event hook).

        The outbox write happens shortly after, in the worker's task, before
        the first attempt. Raises at once for an unknown receiver.
        """
        self._check(notifications)
        for n in notifications:
            self._intake.append((n, None))
        self._intake_count += len(notifications)
        if self._intake_wake is not None:
            self._intake_wake.set()

    async def submit(self, *notifications: Notification) -> None:
        """Queue notifications and return once they are in the outbox.

        A notification already pending for the same receiver (same
        idempotency key) is not queued twice.
        """
        self._check(notifications)
        done = anyio.Event()
        for n in notifications:
            self._intake.append((n, done))
        self._intake_count += len(notifications)
        if self._intake_wake is not None:
            self._intake_wake.set()
        if notifications:
            await done.wait()

    # -- waiting -------------------------------------------------------------------------

    def _signal(self) -> None:
        if self._changed is not None:
            self._changed.set()
            self._changed = anyio.Event()

    def _idle(self) -> bool:
        return (
            self._intake_count == 0
            and self._active == 0
            and not (self._heap and self._heap[0][0] <= self.clock.now())
            and not self._done_ids
            and not self._flushing
        )

    async def wait_idle(self) -> None:
        """Return once nothing is due: every delivery is finished or waiting for a later time.

        With a :class:`~alertkit.FakeClock`, call it after moving the clock to
        let the retries that became due run.
        """
        while not self._idle():
            assert self._changed is not None
            await self._changed.wait()

    @property
    def pending(self) -> int:
        """Deliveries not finished yet (queued, in flight, waiting for a retry)."""
        parked = sum(len(v) for v in self._parked.values())
        return self._intake_count + self._active + len(self._heap) + parked

    def stats(self) -> DeliveryStats:
        return self.log.stats()

    @property
    def http(self) -> httpx.AsyncClient:
        """The shared HTTP client (available while the worker runs)."""
        if self._http is None:
            raise AlertkitError("the DeliveryWorker is not running")
        return self._http

    # -- intake --------------------------------------------------------------------------

    async def _intake_loop(self) -> None:
        while True:
            assert self._intake_wake is not None
            await self._intake_wake.wait()
            self._intake_wake = anyio.Event()
            batch, self._intake = self._intake, []
            if not batch:
                continue
            try:
                await self._accept(batch)
            finally:
                self._intake_count -= len(batch)
                for _, done in batch:
                    if done is not None:
                        done.set()
                self._signal()

    def _render(self, n: Notification, receiver: Receiver) -> Notification:
        formats = receiver.formats()
        if all(key in n.texts for key in ("title", *(text_key("body", f) for f in formats))):
            return n
        templates = receiver.templates or _DEFAULT_TEMPLATES
        texts, errors = templates.render(n, formats)
        for error in errors:
            log.warning("receiver %s, notification %s: %s", receiver.name, n.idempotency_key,
                        error)
            self.log.record(AttemptRecord(self.clock.now(), receiver.name, "",
                                          n.idempotency_key, 0, AttemptOutcome.TEMPLATE_ERROR,
                                          error=error))
        texts.update(n.texts)  # texts the dispatcher already set win
        return attrs.evolve(n, texts=texts)

    async def _accept(self, batch: list[tuple[Notification, anyio.Event | None]]) -> None:
        now = self.clock.now()
        entries: list[OutboxEntry] = []
        for n, _ in batch:
            receiver = self.receivers[n.receiver]
            rendered = self._render(n, receiver)
            for name in receiver.notifiers:
                entries.append(OutboxEntry(rendered, name, enqueued_at=now, next_attempt_at=now))
        if self._done_ids:
            await self._flush()  # a finished delivery's id must not mask a new one
        try:
            assert self._store_lock is not None
            async with self._store_lock:
                added = await self.outbox.add(entries)
        except Exception as exc:
            # Sending matters more than the outbox: go on from memory, and say so loudly.
            reason = f"outbox write failed: {type(exc).__name__}: {exc}"
            log.error("delivery: %s; %d deliveries continue without durability", reason,
                      len(entries))
            for entry in entries:
                self._record(entry, 0, AttemptOutcome.STORE_ERROR, error=reason)
            added = [True] * len(entries)
            stored = False
        else:
            stored = True
        fresh = [entry for entry, new in zip(entries, added, strict=True) if new]
        if self._claiming is not None and fresh and stored:
            try:
                fresh = self._take(await self._claiming.claim(
                    self.owner, self.lease, len(fresh), now=now, ids=[e.id for e in fresh],
                    receivers=list(self.receivers)))
            except Exception as exc:
                log.error("delivery: claiming new entries failed (%s: %s); the lease loop "
                          "retries", type(exc).__name__, exc)
                fresh = []
        for entry in fresh:
            self._schedule(entry)

    # -- claims (a shared outbox) --------------------------------------------------------

    def _take(self, claimed: list[OutboxEntry]) -> list[OutboxEntry]:
        """The claimed entries this worker does not hold yet (now held)."""
        new = [e for e in claimed if e.id not in self._held]
        self._held.update(e.id for e in new)
        self._lost.difference_update(e.id for e in new)
        return new

    async def _lease_loop(self) -> None:
        assert self._claiming is not None
        while True:
            await self.clock.sleep_until(self.clock.now() + self.lease / 3)
            now = self.clock.now()
            try:
                if self._held:
                    held = list(self._held)
                    kept = set(await self._claiming.renew(self.owner, held, self.lease,
                                                          now=now))
                    lost = [i for i in held if i not in kept and i not in self._done_ids]
                    for entry_id in lost:  # taken over (we were too slow) or gone
                        log.warning("delivery %s: claim lost, another process has it",
                                    entry_id[2])
                        self._held.discard(entry_id)
                        self._lost.add(entry_id)
                for entry in self._take(await self._claiming.claim(
                        self.owner, self.lease, 1000, now=now,
                        receivers=list(self.receivers))):
                    log.info("delivery %s: taken over from an expired claim",
                             entry.notification.idempotency_key)
                    self._schedule(entry)
            except Exception:
                log.exception("delivery worker: renewing or claiming failed; will retry")

    # -- scheduling ----------------------------------------------------------------------

    def _schedule(self, entry: OutboxEntry) -> None:
        if entry.next_attempt_at <= self.clock.now():
            self._queue(entry)
            return
        self._seq += 1
        heapq.heappush(self._heap, (entry.next_attempt_at, self._seq, entry))
        if entry.next_attempt_at < self._sched_target and self._sched_scope is not None:
            self._sched_scope.cancel()  # the scheduler sleeps too long: wake it
        self._signal()

    def _queue(self, entry: OutboxEntry) -> None:
        self._active += 1
        self._queues[entry.receiver][0].send_nowait(entry)

    async def _scheduler_loop(self) -> None:
        heap = self._heap
        while True:
            now = self.clock.now()
            while heap and heap[0][0] <= now:
                self._queue(heapq.heappop(heap)[2])
            self._sched_target = heap[0][0] if heap else math.inf
            with anyio.CancelScope() as scope:
                self._sched_scope = scope
                if heap:
                    await self.clock.sleep_until(self._sched_target)
                else:
                    await anyio.sleep_forever()
            self._sched_scope = None

    # -- attempts ------------------------------------------------------------------------

    async def _consumer(self, receiver: Receiver) -> None:
        receive = self._queues[receiver.name][1]
        async for entry in receive:
            try:
                await self._attempt(receiver, entry)
            except Exception:  # a bug here must not stop deliveries to this receiver
                log.exception("delivery to %s failed unexpectedly", receiver.name)
            finally:
                self._active -= 1
                self._signal()

    def _breaker(self, key: tuple[str, str]) -> CircuitBreaker:
        breaker = self._breakers.get(key)
        if breaker is None:
            proto = self._breaker_proto
            breaker = self._breakers[key] = CircuitBreaker(proto.failure_threshold,
                                                           proto.cool_down)
        return breaker

    def _record(
        self, entry: OutboxEntry, attempt: int, outcome: AttemptOutcome, *,
        status_code: int | None = None, error: str = "", latency: float | None = None,
    ) -> None:
        self.log.record(AttemptRecord(
            self.clock.now(), entry.receiver, entry.notifier,
            entry.notification.idempotency_key, attempt, outcome, status_code, error, latency))

    async def _attempt(self, receiver: Receiver, entry: OutboxEntry) -> None:
        if self._claiming is not None and entry.id not in self._held and \
                entry.id in self._lost:
            self._lost.discard(entry.id)
            return  # the claim was lost: its new owner sends it
        key = (receiver.name, entry.notifier)
        policy = receiver.policy or self.policy
        sender = receiver.notifiers[entry.notifier]
        breaker = self._breaker(key)
        now = self.clock.now()
        if not breaker.allow(now):
            self.log.count_deferred()
            if breaker.state is BreakerState.OPEN:
                await self._defer(entry, breaker.probe_at(), policy)
            else:  # half-open: wait for the probe's verdict
                self._parked.setdefault(key, []).append(entry)
            return

        attempt = entry.attempts + 1
        assert self._http is not None
        context = DeliveryContext(self._http, attempt, now, receiver.timeout)
        result: object = None
        started = time.perf_counter()
        with anyio.move_on_after(receiver.timeout) as scope:
            try:
                result = await sender.send(entry.notification, context)
            except Exception as exc:
                result = result_from_exception(exc)
        latency = time.perf_counter() - started
        if scope.cancelled_caught:
            result = Retry(f"timeout after {receiver.timeout:g}s")
        elif not isinstance(result, Delivered | Retry | Failed):
            result = Failed(f"notifier returned {type(result).__name__}, not a DeliveryResult")

        if isinstance(result, Delivered):
            breaker.record_success()
            self._record(entry, attempt, AttemptOutcome.DELIVERED,
                         status_code=result.status_code, latency=latency)
            self._release_parked(key, breaker)
            await self._finish(entry, result, attempt)
            return
        if isinstance(result, Failed):
            breaker.record_success()  # the service answered: it is up
            self._record(entry, attempt, AttemptOutcome.FAILED, status_code=result.status_code,
                         error=result.reason, latency=latency)
            self._release_parked(key, breaker)
            await self._finish(entry, result, attempt)
            return

        assert isinstance(result, Retry)
        done_at = self.clock.now()
        breaker.record_failure(done_at)
        decision = policy.next_attempt(attempt, now=done_at, first_attempt_at=entry.enqueued_at,
                                       rng=self._rng, retry_at=result.retry_at)
        if isinstance(decision, GiveUp):
            reason = f"{decision.reason}; last error: {result.reason}"
            self._record(entry, attempt, AttemptOutcome.GAVE_UP, status_code=result.status_code,
                         error=reason, latency=latency)
            self._release_parked(key, breaker)
            await self._finish(entry, Failed(reason, result.status_code), attempt, gave_up=True)
            return
        self._record(entry, attempt, AttemptOutcome.RETRY, status_code=result.status_code,
                     error=result.reason, latency=latency)
        updated = attrs.evolve(entry, attempts=attempt, next_attempt_at=decision.at,
                               last_error=result.reason)
        await self._store_update(updated)
        self._release_parked(key, breaker)
        self._schedule(updated)

    async def _defer(self, entry: OutboxEntry, at: float, policy: RetryPolicy) -> None:
        """Postpone an entry refused by an open breaker to the breaker's probe time."""
        if at > policy.deadline_at(entry.enqueued_at):
            reason = "circuit breaker open past the retry deadline"
            if entry.last_error:
                reason += f"; last error: {entry.last_error}"
            self._record(entry, entry.attempts, AttemptOutcome.GAVE_UP, error=reason)
            await self._finish(entry, Failed(reason), entry.attempts, gave_up=True)
            return
        self._schedule(attrs.evolve(entry, next_attempt_at=at))

    def _release_parked(self, key: tuple[str, str], breaker: CircuitBreaker) -> None:
        parked = self._parked.pop(key, None)
        if not parked:
            return
        if breaker.state is BreakerState.OPEN:
            for entry in parked:
                self._schedule(attrs.evolve(entry, next_attempt_at=breaker.probe_at()))
        else:
            for entry in parked:
                self._queue(entry)

    async def _store_update(self, entry: OutboxEntry) -> None:
        try:
            assert self._store_lock is not None
            async with self._store_lock:
                await self.outbox.update(entry)
        except Exception as exc:
            reason = f"outbox update failed: {type(exc).__name__}: {exc}"
            log.error("delivery %s: %s", entry.notification.idempotency_key, reason)
            self._record(entry, entry.attempts, AttemptOutcome.STORE_ERROR, error=reason)

    async def _finish(
        self, entry: OutboxEntry, result: Delivered | Failed, attempts: int, *,
        gave_up: bool = False,
    ) -> None:
        self._done_ids.append(entry.id)
        if self._writer_wake is not None:
            self._writer_wake.set()
        if self._on_result is None:
            return
        outcome = DeliveryOutcome(entry.notification, entry.notifier, result, attempts,
                                  self.clock.now(), gave_up)
        try:
            returned = self._on_result(outcome)
            if inspect.isawaitable(returned):
                await returned
        except Exception:
            log.exception("delivery on_result callback failed for %s",
                          entry.notification.idempotency_key)

    # -- writing back --------------------------------------------------------------------

    async def _writer_loop(self) -> None:
        while True:
            assert self._writer_wake is not None
            await self._writer_wake.wait()
            self._writer_wake = anyio.Event()
            try:
                await self._flush()
            except Exception:
                log.exception("delivery worker: outbox flush failed; will retry")
                await anyio.sleep(1.0)
                self._writer_wake.set()

    async def _flush(self) -> None:
        """Remove finished entries and persist new log records, in batches."""
        assert self._store_lock is not None
        async with self._store_lock:
            ids, self._done_ids = self._done_ids, []
            records = self.log.take_unsaved() if self._log_sink is not None else []
            if not ids and not records:
                return
            self._flushing = True
            try:
                # Records first: a crash in between re-sends a delivery the log already
                # shows (true: it will be sent twice), never hides one that happened.
                if records and self._log_sink is not None:
                    await self._log_sink(records)
                if ids:
                    try:
                        await self.outbox.remove(ids)
                    except BaseException:
                        self._done_ids[:0] = ids  # keep them for the next flush
                        raise
                    self._held.difference_update(ids)
            finally:
                self._flushing = False
                self._signal()

    def __repr__(self) -> str:
        return (f"<DeliveryWorker receivers={sorted(self.receivers)} outbox={self.outbox!r} "
                f"pending={self.pending}>")
