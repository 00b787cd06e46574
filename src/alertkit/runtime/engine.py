"""The Engine: evaluator + clock + state + notifiers, driven by anyio.

No alerting logic lives here: the Engine feeds samples and ticks to the pure
:class:`~alertkit.Evaluator` and fans the resulting events out to
subscribers (:meth:`Engine.events`) and notifiers.
"""

from __future__ import annotations

import json
import logging
import math
import os
from collections import deque
from collections.abc import Callable, Iterable, Mapping, Sequence
from types import TracebackType
from typing import IO, Any

import anyio
from anyio.abc import TaskGroup
from anyio.streams.memory import MemoryObjectReceiveStream, MemoryObjectSendStream

from alertkit._core.evaluator import Evaluator, IngestReport, SeriesHandle
from alertkit._core.labels import Matcher
from alertkit._core.model import Alert, AlertEvent, EvalMode, Sample, Severity
from alertkit._core.rules import Rule
from alertkit._core.state import State
from alertkit._core.timeutil import DurationLike, TimeLike, parse_duration, to_timestamp
from alertkit._dispatch.dispatcher import Dispatcher
from alertkit._dispatch.matchers import MatchersLike, to_matchers
from alertkit._dispatch.notification import Notification
from alertkit._dispatch.retry import RetryPolicy
from alertkit._dispatch.silences import Silence
from alertkit._dispatch.state import DispatchState
from alertkit._errors import (
    AlertkitError,
    ConfigError,
    LifecycleError,
    SilenceError,
    SnapshotError,
    StoreConflictError,
)
from alertkit._lifecycle import queries as lc_queries
from alertkit._lifecycle.audit import AuditRecord, export_jsonl
from alertkit._lifecycle.audit import select as select_audit
from alertkit._lifecycle.commands import (
    Acknowledge,
    Actor,
    Assign,
    Command,
    Comment,
    EscalateNow,
    Resolve,
    SkipToLevel,
    Snooze,
    Unacknowledge,
    to_actor,
)
from alertkit._lifecycle.lifecycle import Lifecycle, Outcome
from alertkit._lifecycle.model import AlertRecord, LifecycleState, LifecycleStatus
from alertkit.notify._base import Notifier
from alertkit.notify.schema import notification_from_dict, notification_to_dict
from alertkit.runtime.delivery import DeliveryOutcome, DeliveryWorker, Receiver
from alertkit.stores.base import StateStore
from alertkit.stores.outbox import Outbox
from alertkit.stores.sqlite import SqliteOutbox
from alertkit.stores.sqlite_store import SqliteStore

from .clock import Clock, SystemClock
from .store_sync import StoreSync

__all__ = ["BoundSeries", "Engine", "EventSubscription"]

log = logging.getLogger("alertkit.engine")


class BoundSeries:
    """A pre-bound series of an :class:`Engine` (see :meth:`Engine.series`)."""

    __slots__ = ("_emit", "_handle", "_now")

    def __init__(self, engine: Engine, handle: SeriesHandle) -> None:
        self._handle = handle
        self._now = engine.clock.now
        self._emit = engine._emit

    def observe(self, value: float, timestamp: TimeLike | None = None) -> None:
        """Record a sample, timestamped now unless given. Raises on bad input."""
        events = self._handle.observe(value, self._now() if timestamp is None else timestamp)
        if events:
            self._emit(events)

    def __repr__(self) -> str:
        return f"<BoundSeries {self._handle.metric}{self._handle.labels}>"


class EventSubscription:
    """An async iterator over alert events; see :meth:`Engine.events`."""

    def __init__(self, receive: MemoryObjectReceiveStream[AlertEvent],
                 unsubscribe: Callable[[], None]) -> None:
        self._receive = receive
        self._unsubscribe = unsubscribe

    def __aiter__(self) -> EventSubscription:
        return self

    async def __anext__(self) -> AlertEvent:
        try:
            return await self._receive.receive()
        except (anyio.EndOfStream, anyio.ClosedResourceError):
            self._receive.close()
            raise StopAsyncIteration from None
        except BaseException:
            # Cancelled while waiting: the consumer is going away; end the subscription
            # now rather than leave its stream for the garbage collector.
            self._unsubscribe()
            self._receive.close()
            raise

    async def aclose(self) -> None:
        self._unsubscribe()
        self._receive.close()

    def __del__(self) -> None:
        # A subscription dropped without aclose() must not leak its stream.
        self._unsubscribe()
        self._receive.close()

    async def __aenter__(self) -> EventSubscription:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()


class Engine:
    """Runs rules in your process: ``async with Engine(rules) as engine: ...``.

    - :meth:`observe` and :meth:`series` take samples (plain sync calls, cheap,
      from the event loop's thread);
    - a background task ticks every ``evaluation_interval`` of ``clock``, so
      ``for``, staleness and absence progress with no samples arriving;
    - :meth:`events` yields every event; notifiers receive them too;
    - leaving the ``async with`` block stops ticking, hands the last events to
      the notifiers and ends every :meth:`events` iterator.

    ``state`` restores a snapshot (:meth:`snapshot`) taken earlier.

    The notification pipeline is optional: give a :class:`~alertkit.Dispatcher`
    (routing, grouping, silences, inhibition) and the delivery
    :class:`~alertkit.Receiver` of each of its receivers, and firing and
    resolved events become notifications, sent with retries through an outbox
    (``outbox``: an :class:`~alertkit.Outbox`, or a file path for a SQLite one
    that survives restarts). ``notifiers`` are simpler: they get every event
    as it happens.

    ``store`` keeps everything across restarts and shares it between processes:
    a :class:`~alertkit.stores.base.StateStore` (memory, SQLite, Redis) or a file
    path for a :class:`~alertkit.stores.sqlite_store.SqliteStore` (instead of
    ``state`` and ``outbox``). On entering, the Engine loads the snapshot, the
    lifecycle records and the silences; it saves the snapshot every
    ``snapshot_interval`` (when changed) and on leaving, writes silences and
    lifecycle records as they change, and every ``refresh_interval`` picks up
    what other processes on the store changed. ``owner`` names this process's
    claims on a shared outbox. With a store, call :meth:`series` inside the
    ``async with`` block (the state it binds to is loaded on entering). See the
    "stores" and "several processes" how-tos for the durability guarantee.
    """

    def __init__(
        self,
        rules: Iterable[Rule],
        *,
        notifiers: Iterable[Notifier] = (),
        clock: Clock | None = None,
        evaluation_interval: DurationLike = "15s",
        mode: EvalMode | str = EvalMode.SAMPLE,
        stale_after: DurationLike = "5m",
        resolved_retention: DurationLike = "15m",
        state: bytes | None = None,
        dispatcher: Dispatcher | None = None,
        receivers: Iterable[Receiver] = (),
        outbox: Outbox | str | os.PathLike[str] | None = None,
        retry_policy: RetryPolicy | None = None,
        lifecycle: Lifecycle | None = None,
        store: StateStore | str | os.PathLike[str] | None = None,
        snapshot_interval: DurationLike = "10s",
        refresh_interval: DurationLike = "2s",
        owner: str | None = None,
    ) -> None:
        self.evaluator = Evaluator(
            rules, mode=mode, stale_after=stale_after, resolved_retention=resolved_retention
        )
        self.clock: Clock = clock if clock is not None else SystemClock()
        self.notifiers: tuple[Notifier, ...] = tuple(notifiers)
        for n in self.notifiers:
            if not isinstance(n, Notifier):
                raise AlertkitError(f"{n!r} is not a Notifier (needs async notify(events))")
        self.evaluation_interval = parse_duration(
            evaluation_interval, field="evaluation_interval", allow_zero=False
        )
        self.dispatcher = dispatcher
        self._receivers = tuple(receivers)
        if dispatcher is None and self._receivers:
            raise ConfigError("receivers need a dispatcher to route alerts to them")
        if dispatcher is not None:
            known = {r.name for r in self._receivers}
            missing = sorted(set(dispatcher.receivers) - known)
            if missing:
                raise ConfigError(f"the dispatcher routes to receivers with no delivery "
                                  f"Receiver: {', '.join(missing)}")
        self.lifecycle = self._check_lifecycle(lifecycle)
        # Lifecycle notifications not yet in the outbox (queued, and being written): the
        # records that caused them are stored only after, and snapshots carry them.
        self._lc_notes: list[Notification] = []
        self._lc_sending: list[Notification] = []
        self._outbox_arg = outbox
        self._retry_policy = retry_policy
        self.delivery: DeliveryWorker | None = None
        self._owned_outbox: Outbox | None = None
        self._dispatch_changed: anyio.Event | None = None
        self.state: State
        self.dispatch_state: DispatchState | None
        self._muted_seen: int
        self._restore(state)
        self._init_store(store, state, outbox, snapshot_interval, refresh_interval, owner)
        self.notify_failures = 0
        self._subscribers: list[MemoryObjectSendStream[AlertEvent]] = []
        self._outbox: deque[AlertEvent] = deque()
        self._wake: anyio.Event | None = None
        self._tg: TaskGroup | None = None
        self._closed = False
        self._grid_origin = 0.0
        self._lc_changed: anyio.Event | None = None
        self._lc_unsaved: list[Outcome] = []
        self.lifecycle_undeliverable = 0

    # -- lifecycle -----------------------------------------------------------------------

    async def __aenter__(self) -> Engine:
        if self._tg is not None or self._closed:
            raise AlertkitError("an Engine can be entered once")
        self._wake = anyio.Event()
        self._grid_origin = self.clock.now()  # now, not when the tick task first runs
        await self._store_open()
        if self.dispatcher is not None:
            outbox = self._outbox_arg if self._sync is None else self._sync.store.outbox
            if isinstance(outbox, str | os.PathLike):
                outbox = self._owned_outbox = SqliteOutbox(outbox)
            self.delivery = DeliveryWorker(self._receivers, outbox=outbox, clock=self.clock,
                                           policy=self._retry_policy, on_result=self._settled,
                                           owner=self._owner)
            try:
                await self.delivery.__aenter__()  # resumes what a previous run left pending
            except BaseException:
                await self._store_close(save=False)
                raise
            self._dispatch_changed = anyio.Event()
        self._tg = anyio.create_task_group()
        await self._tg.__aenter__()
        self._tg.start_soon(self._tick_loop, name="alertkit tick loop")
        self._tg.start_soon(self._notify_loop, name="alertkit notify loop")
        if self.dispatcher is not None:
            self._tg.start_soon(self._dispatch_loop, name="alertkit dispatch loop")
        self._lc_changed = anyio.Event()
        self._tg.start_soon(self._lifecycle_loop, name="alertkit lifecycle loop")
        if self._sync is not None:
            self._tg.start_soon(self._store_loop, name="alertkit store loop")
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
                await self._deliver()  # flush: the last events still reach the notifiers
            if self.delivery is not None:
                # Entered before our task group, so left after it (the worker shields its
                # own clean-up). What is not delivered now stays in the outbox.
                await self.delivery.__aexit__(None, None, None)
            if self._owned_outbox is not None:
                with anyio.CancelScope(shield=True):
                    await self._owned_outbox.aclose()
            await self._store_close()
            for stream in self._subscribers:
                stream.close()
            self._subscribers.clear()

    async def _tick_loop(self) -> None:
        # Ticks sit on a grid (start + k * interval), so they do not drift with
        # processing time; when the clock jumps (a FakeClock advanced by a minute, a
        # suspended laptop), every missed grid tick runs, in order.
        interval = self.evaluation_interval
        next_at = self._grid_origin + interval
        last = -math.inf
        while True:
            await self.clock.sleep_until(next_at)
            now = self.clock.now()
            while next_at <= now:
                at = max(next_at, self.state.now)  # never before data already seen
                if at > last:
                    self.tick_now(at)
                    last = at
                next_at += interval

    async def _notify_loop(self) -> None:
        while True:
            assert self._wake is not None
            await self._wake.wait()
            self._wake = anyio.Event()
            await self._deliver()

    async def _deliver(self) -> None:
        while self._outbox:
            batch = list(self._outbox)
            self._outbox.clear()
            for notifier in self.notifiers:
                try:
                    await notifier.notify(batch)
                except Exception:  # one failing notifier must not stop the others
                    self.notify_failures += 1
                    log.exception("notifier %r failed on %d event(s)", notifier, len(batch))

    async def _dispatch_loop(self) -> None:
        # Sleep until the dispatcher's next timer or until new events arrive, then
        # hand everything due to the delivery worker.
        assert self.dispatcher is not None
        assert self.dispatch_state is not None
        while True:
            self._pump()
            changed = self._dispatch_changed = anyio.Event()
            await self._wait(self.dispatcher.next_wakeup(self.dispatch_state), changed)

    async def _wait(self, wake: float | None, changed: anyio.Event) -> None:
        """Sleep until the clock reaches ``wake`` (if any) or ``changed`` is set."""
        async with anyio.create_task_group() as tg:
            if wake is not None:
                async def timer() -> None:
                    await self.clock.sleep_until(wake)
                    changed.set()

                tg.start_soon(timer)
            await changed.wait()
            tg.cancel_scope.cancel()

    def _pump(self) -> None:
        assert self.dispatcher is not None
        assert self.dispatch_state is not None
        assert self.delivery is not None
        due = self.dispatcher.advance(self.dispatch_state, self.clock.now())
        if due:
            due = self._lifecycle_filter(due)
        if due:
            self.delivery.submit_nowait(*due)
        muted = self.dispatch_state.stats.get("muted", 0)
        if muted > self._muted_seen:
            self.delivery.log.count_silenced(muted - self._muted_seen)
        self._muted_seen = muted

    def _settled(self, outcome: DeliveryOutcome) -> None:
        """The worker's final word on a notification goes back to the dispatcher."""
        if outcome.notification.group_key.startswith("lifecycle:"):
            return  # an escalation or assignee notification: not the dispatcher's
        assert self.dispatcher is not None
        assert self.dispatch_state is not None
        if outcome.delivered:
            self.dispatcher.delivered(self.dispatch_state, outcome.notification,
                                      outcome.finished_at)
        else:
            reason = getattr(outcome.result, "reason", "")
            self.dispatcher.failed(self.dispatch_state, outcome.notification,
                                   outcome.finished_at, reason)
        if self._dispatch_changed is not None:
            self._dispatch_changed.set()

    def emit(self, events: Iterable[AlertEvent]) -> None:
        """Hand alert events produced outside the rules (an Alertmanager webhook, another
        system) to the subscribers, the notifiers and the notification pipeline, exactly
        as the Engine's own events. Call it from the Engine's event loop."""
        batch = list(events)
        for event in batch:
            if not isinstance(event, AlertEvent):
                raise TypeError(f"expected AlertEvent values, got {type(event).__name__}")
        if batch:
            self._emit(batch)

    def _emit(self, events: Sequence[AlertEvent]) -> None:
        for stream in list(self._subscribers):
            try:
                for event in events:
                    stream.send_nowait(event)
            except (anyio.BrokenResourceError, anyio.ClosedResourceError):
                # The consumer left its `async for` loop: that subscription is over.
                self._subscribers.remove(stream)
        if self.notifiers:
            self._outbox.extend(events)
            if self._wake is not None:
                self._wake.set()
        if self.dispatcher is not None:
            assert self.dispatch_state is not None
            if self.dispatcher.apply_all(self.dispatch_state, events) and \
                    self._dispatch_changed is not None:
                self._dispatch_changed.set()
        self._lifecycle_events(events)

    # -- input ---------------------------------------------------------------------------

    def observe(
        self, metric: str, value: float, timestamp: TimeLike | None = None, /, **labels: str
    ) -> None:
        """Record one sample (timestamped now unless given). Raises on bad input."""
        ts = self.clock.now() if timestamp is None else timestamp
        events = self.evaluator.observe(self.state, metric, value, ts, labels)
        if events:
            self._emit(events)

    def ingest(self, samples: Iterable[Sample | tuple[Any, ...]]) -> IngestReport:
        """Record a batch; bad samples are reported in the result, not raised."""
        report = self.evaluator.ingest(self.state, samples)
        if report.events:
            self._emit(report.events)
        return report

    def series(
        self, metric: str, labels: Mapping[str, str] | None = None, /, **kwargs: str
    ) -> BoundSeries:
        """A pre-bound series for hot paths: labels validated and hashed once."""
        if self._sync is not None and self._tg is None and not self._closed:
            raise ConfigError("with store=, bind series inside `async with engine:` (the "
                              "state is loaded from the store on entering)")
        merged = {**(labels or {}), **kwargs}
        return BoundSeries(self, self.evaluator.handle(self.state, metric, merged))

    def tick_now(self, now: TimeLike | None = None) -> Sequence[AlertEvent]:
        """Evaluate every rule at ``now`` (the clock's time by default), synchronously."""
        t = to_timestamp(self.clock.now() if now is None else now, field="now")
        # A sample stamped slightly ahead of this clock must not make the tick fail.
        events = self.evaluator.tick(self.state, max(t, self.state.now))
        if events:
            self._emit(events)
        return events

    async def tick(self, now: TimeLike | None = None) -> Sequence[AlertEvent]:
        """Evaluate now and let notifiers run before returning."""
        events = self.tick_now(now)
        await self._deliver()
        return events

    # -- output --------------------------------------------------------------------------

    def events(self) -> EventSubscription:
        """Every event from this call on, until the Engine closes: ``async for e in ...``.

        The subscription starts when ``events()`` is called, not when iteration
        starts, so nothing emitted in between is missed. Its buffer is
        unbounded, so no event is lost and ``observe`` never blocks; ``aclose()``
        (or leaving an ``async with`` block on it) ends it.
        """
        send, receive = anyio.create_memory_object_stream[AlertEvent](math.inf)
        self._subscribers.append(send)
        return EventSubscription(receive, lambda: self._unsubscribe(send))

    def _unsubscribe(self, send: MemoryObjectSendStream[AlertEvent]) -> None:
        if send in self._subscribers:
            self._subscribers.remove(send)
        send.close()

    def alerts(self, *, include_resolved: bool = False) -> list[Alert]:
        """The current pending and firing alerts."""
        return self.evaluator.alerts(self.state, include_resolved=include_resolved)

    # -- silences ------------------------------------------------------------------------

    def silence(self, matchers: Iterable[Matcher | str] | Mapping[str, str], *,
                ends_at: TimeLike | None = None, duration: DurationLike | None = None,
                starts_at: TimeLike | None = None, created_by: str = "",
                comment: str = "", actor: Actor | str | None = None) -> Silence:
        """Mute matching alerts until ``ends_at`` (or for ``duration``) from now.

        With an ``actor`` of a tenant (and the lifecycle's ``tenant_label``), the silence
        gets a ``tenant_label="<tenant>"`` matcher: it mutes that tenant's alerts only.
        """
        dispatcher, state = self._pipeline()
        who = self._silence_scope(actor, "silence")
        if who is not None:
            created_by = created_by or who.name
            label = self.lifecycle.tenant_label
            if who.tenant is not None and label is not None:
                matchers = (*to_matchers(matchers, error=SilenceError),
                            Matcher(label, "=", who.tenant))
        now = self.clock.now()
        if (ends_at is None) == (duration is None):
            raise ConfigError("give a silence either ends_at or duration")
        if ends_at is None:
            assert duration is not None
            ends_at = now + parse_duration(duration, field="duration", allow_zero=False)
        silence = dispatcher.create_silence(state, matchers, ends_at=ends_at, now=now,
                                            starts_at=starts_at, created_by=created_by,
                                            comment=comment)
        if self._dispatch_changed is not None:
            self._dispatch_changed.set()
        self._store_poke()
        return silence

    def expire_silence(self, silence_id: str, *, actor: Actor | str | None = None) -> Silence:
        dispatcher, state = self._pipeline()
        who = self._silence_scope(actor, "expire_silence")
        if who is not None and not any(s.id == silence_id and self._silence_visible(who, s)
                                       for s in dispatcher.silences(state, self.clock.now())):
            raise SilenceError(f"no silence with id {silence_id!r}")
        silence = dispatcher.expire_silence(state, silence_id, self.clock.now())
        if self._dispatch_changed is not None:
            self._dispatch_changed.set()
        self._store_poke()
        return silence

    def silences(self, *, actor: Actor | str | None = None) -> list[Silence]:
        dispatcher, state = self._pipeline()
        who = _actor(actor)
        return [s for s in dispatcher.silences(state, self.clock.now())
                if self._silence_visible(who, s)]

    def _pipeline(self) -> tuple[Dispatcher, DispatchState]:
        if self.dispatcher is None or self.dispatch_state is None:
            raise ConfigError("this Engine has no dispatcher (pass dispatcher= and receivers=)")
        return self.dispatcher, self.dispatch_state

    # -- alert lifecycle: acknowledge, assign, comment, snooze, resolve, escalate ----------

    def _check_lifecycle(self, lifecycle: Lifecycle | None) -> Lifecycle:
        if lifecycle is None:
            return Lifecycle()
        if not isinstance(lifecycle, Lifecycle):
            raise ConfigError(f"lifecycle: {lifecycle!r} is not a Lifecycle")
        if any(p.route_receivers for p in lifecycle.policies):
            if self.dispatcher is None:
                raise ConfigError("escalation policies with route_receivers need a "
                                  "dispatcher (its routing tree decides)")
            unknown = sorted({r for p in lifecycle.policies for r in p.route_receivers}
                             - set(self.dispatcher.receivers))
            if unknown:
                raise ConfigError(f"escalation policies name route_receivers the dispatcher "
                                  f"does not have: {', '.join(unknown)}")
        needed = lifecycle.receivers
        if needed:
            if self.dispatcher is None:
                raise ConfigError("escalation policies and assignee receivers need the "
                                  "notification pipeline (pass dispatcher= and receivers=)")
            missing = sorted(needed - {r.name for r in self._receivers})
            if missing:
                raise ConfigError(f"the lifecycle notifies receivers with no delivery "
                                  f"Receiver: {', '.join(missing)}")
        return lifecycle

    def _lifecycle_events(self, events: Sequence[AlertEvent]) -> None:
        router = None
        if self.lifecycle.router is None and self.dispatcher is not None:
            router = self.dispatcher.receivers_for
        outcome = self.lifecycle.observe(self.lifecycle_state, events, router=router)
        if outcome:
            self._lifecycle_outcome(outcome)

    def _lifecycle_outcome(self, outcome: Outcome) -> None:
        """Hand the notifications to the worker; queue the changes for the store."""
        if outcome.notifications:
            known = {r.name for r in self._receivers}
            notes = []
            for n in outcome.notifications:
                if n.receiver in known:
                    notes.append(n.to_notification())
                    self._lifecycle_spend(n.receiver, n.alert)
                else:  # an assignee_receivers function named a receiver we do not have
                    self.lifecycle_undeliverable += 1
                    log.error("lifecycle: no receiver named %r for the %s notification of "
                              "alert %s; not sent", n.receiver, n.reason, n.alert.fingerprint)
            self._lc_notes.extend(notes)  # into the outbox first, then the records stored
        self._lc_unsaved.append(outcome)
        if self._lc_changed is not None:
            self._lc_changed.set()

    async def _lifecycle_send(self) -> None:
        """Write the queued lifecycle notifications to the outbox (through the worker).

        Done before the records that caused them are stored: a crash in between leaves
        the step to be taken again after the restart, with the same idempotency key,
        rather than a step marked done whose notification was never written.
        """
        while self._lc_notes and self.delivery is not None and self._tg is not None \
                and not self._closed:
            notes, self._lc_notes = self._lc_notes, []
            self._lc_sending.extend(notes)
            try:
                await self.delivery.submit(*notes)
            except BaseException:
                self._lc_notes[:0] = notes
                raise
            finally:
                for n in notes:
                    self._lc_sending.remove(n)

    async def _lifecycle_save(self) -> None:
        await self._lifecycle_send()
        while self._lc_unsaved:
            batch, self._lc_unsaved = self._lc_unsaved, []
            latest: dict[str, AlertRecord | None] = {}
            audit: list[AuditRecord] = []
            for outcome in batch:
                for rec in outcome.records:
                    latest[rec.fingerprint] = rec
                for fp in outcome.removed:
                    latest[fp] = None
                audit.extend(outcome.audit)
            for fp, latest_rec in latest.items():
                await self._persist_record(
                    "alert", fp, None if latest_rec is None else latest_rec.to_dict())
            if audit:
                await self._persist_audit([a.to_dict() for a in audit])

    async def _lifecycle_loop(self) -> None:
        # Sleep until the next snooze end, expiry or escalation step, or until a change.
        while True:
            now = self.clock.now()
            due = self.lifecycle.next_wakeup(self.lifecycle_state)
            if self.lifecycle.ttl is not None and due is not None and due <= now:
                # An alert the rule still has firing counts as updated (checked only when
                # something is due, so a busy Engine does not scan every alert each time).
                for alert in self.evaluator.alerts(self.state):
                    if alert.fired_at is not None:
                        self.lifecycle.touch(self.lifecycle_state, alert.fingerprint, now)
            outcome = self.lifecycle.advance(self.lifecycle_state, now)
            if outcome:
                self._lifecycle_outcome(outcome)
            changed = self._lc_changed = anyio.Event()
            await self._lifecycle_save()
            await self._wait(self.lifecycle.next_wakeup(self.lifecycle_state), changed)

    def _lifecycle_spend(self, receiver: str, alert: Alert) -> None:
        """A lifecycle notification counts against its receiver's rate limits.

        It is never held back by them (a page must not wait for a token), but it takes
        one, so the dispatcher's own notifications to the receiver slow down to keep the
        total within the limit.
        """
        dispatcher, state = self.dispatcher, self.dispatch_state
        if dispatcher is None or state is None:
            return
        rc = dispatcher.receivers.get(receiver)
        if rc is None or (rc.rate_limit is None and rc.recipient_rate_limit is None):
            return
        now = self.clock.now()
        recipient = tuple(alert.labels.get(name, "") for name in rc.recipient_by)
        for key, limit in dispatcher._limits(rc, recipient):
            dispatcher._bucket(state, key, limit, now).take(limit, now)
        state.count("lifecycle_rate_counted")

    def _lifecycle_restore(self, docs: Mapping[str, Mapping[str, Mapping[str, Any]]]) -> None:
        """Adopt lifecycle records read from the store (``docs["alert"]``: fingerprint ->
        :meth:`AlertRecord.to_dict` document); a corrupt one is logged and skipped."""
        for key, doc in docs.get("alert", {}).items():
            try:
                record = AlertRecord.from_dict(doc)
            except AlertkitError as exc:
                log.error("store: alert record %r ignored: %s", key, exc)
                continue
            self.lifecycle.adopt(self.lifecycle_state, record)

    def _lifecycle_filter(self, due: list[Notification]) -> list[Notification]:
        """Annotate the dispatcher's notifications; settle the ones nobody needs at once."""
        out = []
        for n in due:
            shown = self.lifecycle.annotate(self.lifecycle_state, n)
            if shown is None:  # every alert in it is acknowledged or snoozed
                assert self.dispatcher is not None
                assert self.dispatch_state is not None
                self.dispatcher.delivered(self.dispatch_state, n, self.clock.now())
            else:
                out.append(shown)
        return out

    async def _command(self, command: Command) -> AlertRecord:
        await self._load_record("alert", command.fingerprint)  # another process's change
        outcome = self.lifecycle.apply(self.lifecycle_state, command, self.clock.now())
        self._lifecycle_outcome(outcome)
        await self._lifecycle_save()
        return self.lifecycle.get(self.lifecycle_state, command.fingerprint)

    async def acknowledge(self, alert: Alert | AlertRecord | str, *, actor: Actor | str,
                          note: str = "") -> AlertRecord:
        """``actor`` is on it: the alert's escalation stops, and so do repeat notifications
        (unless the lifecycle's ``ack_stops_repeats`` is off); notifications that still
        show it say who acknowledged it. Returns the updated record.

        Raises :class:`~alertkit.AlertNotFoundError` (unknown alert, or another tenant's),
        :class:`~alertkit.PermissionDenied` or :class:`~alertkit.InvalidTransitionError`
        (resolved, expired, already acknowledged).
        """
        return await self._command(Acknowledge(actor, _fp(alert), note=note))

    async def unacknowledge(self, alert: Alert | AlertRecord | str, *, actor: Actor | str,
                            note: str = "") -> AlertRecord:
        """Give an acknowledged alert back: it is open again, its escalation starts over."""
        return await self._command(Unacknowledge(actor, _fp(alert), note=note))

    async def assign(self, alert: Alert | AlertRecord | str, assignee: str, *,
                     actor: Actor | str) -> AlertRecord:
        """Make ``assignee`` the alert's owner; they are notified when it resolves (through
        the lifecycle's ``assignee_receivers``)."""
        return await self._command(Assign(actor, _fp(alert), assignee))

    async def comment(self, alert: Alert | AlertRecord | str, text: str, *,
                      actor: Actor | str) -> AlertRecord:
        """Leave a note on the alert (any status, resolved ones included)."""
        return await self._command(Comment(actor, _fp(alert), text))

    async def snooze(self, alert: Alert | AlertRecord | str, *, actor: Actor | str,
                     until: TimeLike | None = None, duration: DurationLike | None = None,
                     note: str = "") -> AlertRecord:
        """Quiet the alert until ``until`` (or for ``duration``): no escalation, no repeat
        notifications; then it is open again and its escalation starts over."""
        if (until is None) == (duration is None):
            raise LifecycleError("give snooze either until or duration")
        if until is None:
            assert duration is not None
            try:
                until = self.clock.now() + parse_duration(duration, field="duration",
                                                          allow_zero=False)
            except AlertkitError as exc:
                raise LifecycleError(str(exc)) from None
        return await self._command(Snooze(actor, _fp(alert), until=until, note=note))

    async def resolve(self, alert: Alert | AlertRecord | str, *, actor: Actor | str,
                      reason: str = "") -> AlertRecord:
        """Close the alert by hand; its assignee is notified. If the rule still fires, the
        alert stays resolved until it fires again (a new occurrence)."""
        return await self._command(Resolve(actor, _fp(alert), reason=reason))

    async def escalate_now(self, alert: Alert | AlertRecord | str, *,
                           actor: Actor | str) -> AlertRecord:
        """Notify the next escalation level now rather than at its time."""
        return await self._command(EscalateNow(actor, _fp(alert)))

    async def skip_to_level(self, alert: Alert | AlertRecord | str, level: int, *,
                            actor: Actor | str) -> AlertRecord:
        """Notify escalation level ``level`` (1 is the first) now; the policy goes on."""
        return await self._command(SkipToLevel(actor, _fp(alert), level))

    def alert_record(self, alert: Alert | AlertRecord | str, *,
                     actor: Actor | str | None = None) -> AlertRecord:
        """The lifecycle record of one alert (as ``actor`` may see it)."""
        return self.lifecycle.get(self.lifecycle_state, _fp(alert), _actor(actor))

    def alert_records(
        self, *, actor: Actor | str | None = None,
        status: LifecycleStatus | str | Iterable[LifecycleStatus | str] | None = None,
        severity: Severity | str | Iterable[Severity | str] | None = None,
        labels: MatchersLike | None = None, assignee: str | None = None,
        rule: str | None = None, since: TimeLike | None = None,
        until: TimeLike | None = None,
    ) -> list[AlertRecord]:
        """Alert records filtered by status, severity, label matchers, assignee, rule and
        firing time (``since <= fired_at < until``), oldest first; only ``actor``'s
        tenant's if it has one."""
        who = _actor(actor)
        lc = self.lifecycle
        recs = (r for r in self.lifecycle_state.records.values() if lc.visible(who, r))
        return lc_queries.find(recs, status=status, severity=severity, labels=labels,
                               assignee=assignee, rule=rule,
                               since=None if since is None else _when(since, "since"),
                               until=None if until is None else _when(until, "until"))

    def audit(self, *, actor: Actor | str | None = None,
              alert: Alert | AlertRecord | str | None = None, rule: str | None = None,
              since: TimeLike | None = None, until: TimeLike | None = None,
              action: str | None = None) -> list[AuditRecord]:
        """The audit trail kept in memory (the lifecycle's ``audit_limit`` most recent
        records; the state store keeps all), filtered, oldest first."""
        who = _actor(actor)
        tenant = None if who is None else who.tenant
        return list(select_audit(
            self.lifecycle_state.audit, fingerprint=None if alert is None else _fp(alert),
            rule=rule, since=None if since is None else _when(since, "since"),
            until=None if until is None else _when(until, "until"), action=action,
            tenant=tenant))

    async def stored_audit(self, *, actor: Actor | str | None = None,
                           alert: Alert | AlertRecord | str | None = None,
                           rule: str | None = None, since: TimeLike | None = None,
                           until: TimeLike | None = None, after_seq: int | None = None,
                           limit: int | None = None) -> list[AuditRecord]:
        """The whole audit trail from the state store (``store=``), filtered, oldest first,
        numbered by the store's ``seq``; without a store, the trail kept in memory.
        ``after_seq`` and ``limit`` page through it."""
        for name, value in (("after_seq", after_seq), ("limit", limit)):
            if value is not None and (not isinstance(value, int) or isinstance(value, bool)
                                      or value < 0):
                raise LifecycleError(f"{name}: {value!r} is not an integer >= 0")
        who = _actor(actor)
        tenant = None if who is None else who.tenant
        lo = None if since is None else _when(since, "since")
        hi = None if until is None else _when(until, "until")
        fp = None if alert is None else _fp(alert)
        if limit == 0:
            return []
        store = self.store
        if store is None:
            found = list(select_audit(self.lifecycle_state.audit, fingerprint=fp, rule=rule,
                                      since=lo, until=hi, tenant=tenant, after_seq=after_seq))
            return found if limit is None else found[:limit]
        out: list[AuditRecord] = []
        cursor = after_seq
        while True:  # tenant filtering happens here, so page until ``limit`` are found
            page = await store.audit(key=fp, rule=rule, since=lo, until=hi, after_seq=cursor,
                                     limit=500)
            for doc in page:
                record = AuditRecord.from_dict(doc)
                cursor = record.seq
                if tenant is None or record.tenant == tenant:
                    out.append(record)
                    if limit is not None and len(out) >= limit:
                        return out
            if len(page) < 500:
                return out

    def alert_history(self, alert: Alert | AlertRecord | str, *,
                      actor: Actor | str | None = None) -> list[AuditRecord]:
        """Everything that happened to one alert, oldest first."""
        record = self.alert_record(alert, actor=actor)
        return self.audit(actor=actor, alert=record.fingerprint)

    def export_audit(self, out: IO[str] | None = None, **filters: Any) -> str:
        """The audit trail (filtered as :meth:`audit`) as JSON lines, written to ``out`` or
        returned."""
        return export_jsonl(self.audit(**filters), out)

    def lifecycle_stats(self, *, actor: Actor | str | None = None) -> list[lc_queries.RuleStats]:
        """MTTA, MTTR, alert counts and time in each status, per rule and severity."""
        who = _actor(actor)
        lc = self.lifecycle
        return lc_queries.stats((r for r in self.lifecycle_state.records.values()
                                 if lc.visible(who, r)), self.clock.now())

    def _silence_scope(self, actor: Actor | str | None, action: str) -> Actor | None:
        who = _actor(actor)
        if who is not None:
            self.lifecycle.check(who, action, None)
        return who

    def _silence_visible(self, who: Actor | None, silence: Silence) -> bool:
        label = self.lifecycle.tenant_label
        if who is None or who.tenant is None or label is None:
            return True
        return any(m.name == label and m.op == "=" and m.value == who.tenant
                   for m in silence.matchers)

    # -- store: loading, saving, sharing with other processes (see runtime/store_sync.py) --

    def _init_store(self, store: StateStore | str | os.PathLike[str] | None,
                    state: bytes | None, outbox: object, snapshot_interval: DurationLike,
                    refresh_interval: DurationLike, owner: str | None) -> None:
        if owner is not None and (not isinstance(owner, str) or not owner):
            raise ConfigError(f"owner must be a non-empty string, got {owner!r}")
        self._owner = owner
        self._sync: StoreSync | None = None
        if store is None:
            return
        if state is not None:
            raise ConfigError("give an Engine either state= or store= (the store holds the "
                              "snapshot)")
        if outbox is not None:
            raise ConfigError("give an Engine either outbox= or store= (the store holds the "
                              "outbox)")
        owned = isinstance(store, str | os.PathLike)
        opened: StateStore
        if isinstance(store, str | os.PathLike):
            opened = SqliteStore(store)
        elif isinstance(store, StateStore):
            opened = store
        else:
            raise ConfigError(f"store: {store!r} is not a StateStore or a file path")
        self._sync = StoreSync(
            opened, clock=self.clock, owned=owned,
            snapshot_interval=parse_duration(snapshot_interval, field="snapshot_interval",
                                             allow_zero=False),
            refresh_interval=parse_duration(refresh_interval, field="refresh_interval",
                                            allow_zero=False))

    @property
    def store(self) -> StateStore | None:
        """The :class:`~alertkit.stores.base.StateStore` given as ``store=`` (or opened from
        its path), or ``None``."""
        return None if self._sync is None else self._sync.store

    async def _store_open(self) -> None:
        """Load the snapshot, then the records (newer than any snapshot: they win)."""
        sync = self._sync
        if sync is None:
            return
        try:
            data = await sync.store.load_snapshot()
            if data is not None:
                self._restore(data)
                sync.saved(data)
            self._store_adopt(await sync.load_records(_LIFECYCLE_KINDS))
            if self.dispatcher is not None:
                assert self.dispatch_state is not None
                await sync.sync_silences(self.dispatcher, self.dispatch_state, self.clock.now())
        except BaseException:
            await self._store_close(save=False)
            raise

    def _store_adopt(self, records: Mapping[str, Mapping[str, Any]]) -> None:
        """Put records read from the store (written here earlier, or by another process)
        into the lifecycle state."""
        docs = {kind: {key: getattr(rec, "doc", rec) for key, rec in found.items()}
                for kind, found in records.items() if found}
        if not docs:
            return
        self._lifecycle_restore(docs)  # keeps the lifecycle's timers in step
        if self._lc_changed is not None:
            self._lc_changed.set()

    def _store_poke(self) -> None:
        if self._sync is not None:
            self._sync.poke()

    async def _store_refresh(self) -> None:
        """Exchange silences and pick up lifecycle records changed by other processes."""
        sync = self._sync
        assert sync is not None
        await self._store_retry()
        if self.dispatcher is not None:
            assert self.dispatch_state is not None
            if await sync.sync_silences(self.dispatcher, self.dispatch_state, self.clock.now()) \
                    and self._dispatch_changed is not None:
                self._dispatch_changed.set()
        changed = await sync.changed_records(_LIFECYCLE_KINDS)
        self._store_adopt({kind: {k: v for k, v in found.items()
                                  if (kind, k) not in sync.unsaved_records}
                           for kind, found in changed.items()})

    async def _store_loop(self) -> None:
        sync = self._sync
        assert sync is not None
        next_snapshot = self.clock.now() + sync.snapshot_interval
        while True:
            now = self.clock.now()
            await sync.sleep(max(0.0, min(sync.refresh_interval, next_snapshot - now)))
            try:
                await self._store_refresh()
            except Exception:  # the store is down: keep running from memory, say so
                log.exception("store %r: sync failed; will retry", sync.store)
            if self.clock.now() >= next_snapshot:
                next_snapshot = self.clock.now() + sync.snapshot_interval
                try:
                    await sync.save_snapshot(self.snapshot())
                except Exception:
                    log.exception("store %r: saving the snapshot failed; will retry",
                                  sync.store)
                    next_snapshot = self.clock.now() + sync.refresh_interval

    async def persist(self) -> None:
        """Write now what the store lacks: changed silences, lifecycle records, the snapshot.

        The Engine does this on its own (see ``snapshot_interval``) and when it stops;
        call it before a planned shutdown that cannot leave the ``async with`` block.
        No-op without a store.
        """
        sync = self._sync
        if sync is None:
            return
        await self._lifecycle_save()
        await self._store_refresh()
        await sync.save_snapshot(self.snapshot())

    async def _store_close(self, *, save: bool = True) -> None:
        sync = self._sync
        if sync is None:
            return
        with anyio.CancelScope(shield=True):
            if save:
                try:
                    await self.persist()
                except Exception:
                    log.exception("store %r: saving the state at stop failed", sync.store)
            if sync.owned:
                await sync.store.aclose()

    async def _persist_record(self, kind: str, key: str, doc: dict[str, Any] | None) -> None:
        """Write one lifecycle record (``None``: delete it), compare-and-set on the version
        this process last saw; a record changed elsewhere meanwhile is overwritten (the
        last command wins, with a warning): commands re-read their record first
        (:meth:`_load_record`), so that window is one round trip. If the store fails, the
        change is kept and written by the store loop once the store is back (logged)."""
        sync = self._sync
        if sync is None:
            return
        sync.unsaved_records.pop((kind, key), None)
        try:
            await self._write_record(kind, key, doc)
        except Exception as exc:
            sync.unsaved_records[(kind, key)] = doc
            log.error("store %r: writing %s record %r failed (%s: %s); will retry",
                      sync.store, kind, key, type(exc).__name__, exc)

    async def _write_record(self, kind: str, key: str, doc: dict[str, Any] | None) -> None:
        assert self._sync is not None
        try:
            await self._sync.persist_record(kind, key, doc)
        except StoreConflictError as exc:
            log.warning("store: %s; this process's change wins", exc)
            await self._sync.load_record(kind, key)
            await self._sync.persist_record(kind, key, doc)

    async def _persist_audit(self, records: Sequence[dict[str, Any]]) -> list[int]:
        """Append audit records to the store; their store-wide seqs (none if the store
        failed: they are kept and appended by the store loop later, in order)."""
        sync = self._sync
        if sync is None or not records:
            return []
        if sync.unsaved_audit:  # older ones first: the trail stays in order
            sync.unsaved_audit.extend(records)
            return []
        try:
            return await sync.store.append_audit(records)
        except Exception as exc:
            sync.unsaved_audit.extend(records)
            log.error("store %r: appending %d audit record(s) failed (%s: %s); will retry",
                      sync.store, len(records), type(exc).__name__, exc)
            return []

    async def _store_retry(self) -> None:
        """Write what a failing store refused earlier (raises if it still fails)."""
        sync = self._sync
        assert sync is not None
        while sync.unsaved_records:
            (kind, key), doc = next(iter(sync.unsaved_records.items()))
            await self._write_record(kind, key, doc)
            if sync.unsaved_records.get((kind, key), ...) is doc:
                del sync.unsaved_records[(kind, key)]
        if sync.unsaved_audit:
            batch = list(sync.unsaved_audit)
            await sync.store.append_audit(batch)
            del sync.unsaved_audit[:len(batch)]

    async def _load_record(self, kind: str, key: str) -> dict[str, Any] | None:
        """The freshest record from the store (``None`` if absent or no store); adopted into
        the lifecycle state when another process changed it."""
        sync = self._sync
        if sync is None:
            return None
        known = sync.versions.get((kind, key))
        try:
            doc = await sync.load_record(kind, key)
        except Exception as exc:  # the store is down: go on with what this process knows
            log.error("store %r: reading %s record %r failed (%s: %s)", sync.store, kind, key,
                      type(exc).__name__, exc)
            return None
        if doc is not None and sync.versions.get((kind, key)) != known:
            self._store_adopt({kind: {key: doc}})
        return doc

    # -- state -----------------------------------------------------------------------------

    def snapshot(self) -> bytes:
        """Evaluator and dispatcher state as versioned JSON; pass it as ``state=`` to a
        new Engine. Pending deliveries live in the outbox, not here."""
        doc: dict[str, Any] = {
            "format": "alertkit.engine", "version": 1,
            "evaluator": json.loads(self.evaluator.snapshot(self.state)),
            "dispatcher": (json.loads(self.dispatcher.snapshot(self.dispatch_state))
                           if self.dispatcher is not None and self.dispatch_state is not None
                           else None),
            "lifecycle": self.lifecycle_state.to_dict(),
            "lifecycle_unsent": [notification_to_dict(n)
                                 for n in (*self._lc_sending, *self._lc_notes)],
        }
        return json.dumps(doc, separators=(",", ":"), allow_nan=False).encode()

    def _restore(self, data: bytes | None) -> None:
        self._restore_states(data)
        # Notifications the dispatcher muted whole that earlier runs already counted.
        self._muted_seen = (self.dispatch_state.stats.get("muted", 0)
                            if self.dispatch_state is not None else 0)

    def _restore_states(self, data: bytes | None) -> None:
        self.lifecycle_state = self.lifecycle.new_state()
        if data is None:
            self.state = self.evaluator.new_state()
            self.dispatch_state = (self.dispatcher.new_state()
                                   if self.dispatcher is not None else None)
            return
        try:
            doc = json.loads(data)
        except ValueError as exc:
            raise SnapshotError(f"corrupt snapshot: {exc}") from None
        if isinstance(doc, dict) and doc.get("format") == "alertkit.engine":
            if doc.get("version") != 1:
                raise SnapshotError(f"engine snapshot version {doc.get('version')!r} is not "
                                    f"supported")
            self.state = self.evaluator.restore(json.dumps(doc.get("evaluator")))
            saved = doc.get("dispatcher")
            if self.dispatcher is None:
                self.dispatch_state = None
            elif saved is None:
                self.dispatch_state = self.dispatcher.new_state()
            else:
                self.dispatch_state = self.dispatcher.restore(json.dumps(saved).encode())
            if doc.get("lifecycle") is not None:
                self.lifecycle_state = LifecycleState.from_dict(doc["lifecycle"])
            self._lifecycle_unsent(doc.get("lifecycle_unsent"))
        else:  # an evaluator snapshot on its own
            self.state = self.evaluator.restore(data)
            self.dispatch_state = (self.dispatcher.new_state()
                                   if self.dispatcher is not None else None)

    def _lifecycle_unsent(self, docs: object) -> None:
        """Queue again the lifecycle notifications a snapshot says were not yet written."""
        if docs is None:
            return
        if not isinstance(docs, list):
            raise SnapshotError("lifecycle_unsent: expected a list of notifications")
        queued = {(n.receiver, n.idempotency_key) for n in self._lc_notes}
        for i, d in enumerate(docs):
            try:
                n = notification_from_dict(d)
            except AlertkitError as exc:
                raise SnapshotError(f"lifecycle_unsent[{i}]: {exc}") from None
            if (n.receiver, n.idempotency_key) not in queued:
                self._lc_notes.append(n)
                queued.add((n.receiver, n.idempotency_key))

    def __repr__(self) -> str:
        return (
            f"<Engine rules={len(self.evaluator.rules)} notifiers={len(self.notifiers)} "
            f"clock={self.clock!r}>"
        )


_LIFECYCLE_KINDS = ("alert",)


def _fp(alert: Alert | AlertRecord | str) -> str:
    if isinstance(alert, Alert | AlertRecord):
        return alert.fingerprint
    return alert


def _actor(actor: Actor | str | None) -> Actor | None:
    return None if actor is None else to_actor(actor)


def _when(value: TimeLike, field: str) -> float:
    try:
        return to_timestamp(value, field=field)
    except AlertkitError as exc:
        raise LifecycleError(str(exc)) from None
