"""The Engine: evaluator + clock + state + notifiers, driven by anyio.

No alerting logic lives here: the Engine feeds samples and ticks to the pure
:class:`~alertkit.Evaluator` and fans the resulting events out to
subscribers (:meth:`Engine.events`) and notifiers.
"""

from __future__ import annotations

import logging
import math
from collections import deque
from collections.abc import Callable, Iterable, Mapping, Sequence
from types import TracebackType
from typing import Any

import anyio
from anyio.abc import TaskGroup
from anyio.streams.memory import MemoryObjectReceiveStream, MemoryObjectSendStream

from alertkit._core.evaluator import Evaluator, IngestReport, SeriesHandle
from alertkit._core.model import Alert, AlertEvent, EvalMode, Sample
from alertkit._core.rules import Rule
from alertkit._core.state import State
from alertkit._core.timeutil import DurationLike, TimeLike, parse_duration, to_timestamp
from alertkit._errors import AlertkitError
from alertkit.notify._base import Notifier

from .clock import Clock, SystemClock

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
        self.state: State = (
            self.evaluator.restore(state) if state is not None else self.evaluator.new_state()
        )
        self.notify_failures = 0
        self._subscribers: list[MemoryObjectSendStream[AlertEvent]] = []
        self._outbox: deque[AlertEvent] = deque()
        self._wake: anyio.Event | None = None
        self._tg: TaskGroup | None = None
        self._closed = False
        self._grid_origin = 0.0

    # -- lifecycle -----------------------------------------------------------------------

    async def __aenter__(self) -> Engine:
        if self._tg is not None or self._closed:
            raise AlertkitError("an Engine can be entered once")
        self._wake = anyio.Event()
        self._grid_origin = self.clock.now()  # now, not when the tick task first runs
        self._tg = anyio.create_task_group()
        await self._tg.__aenter__()
        self._tg.start_soon(self._tick_loop, name="alertkit tick loop")
        self._tg.start_soon(self._notify_loop, name="alertkit notify loop")
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

    def snapshot(self) -> bytes:
        """The state as versioned JSON; pass it as ``state=`` to a new Engine."""
        return self.evaluator.snapshot(self.state)

    def __repr__(self) -> str:
        return (
            f"<Engine rules={len(self.evaluator.rules)} notifiers={len(self.notifiers)} "
            f"clock={self.clock!r}>"
        )
