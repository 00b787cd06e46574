"""A notifier that records what it is sent, and can be told to fail: for tests.

:class:`RecordingNotifier` is a :class:`~alertkit.NotificationSender`. Give it to a
:class:`~alertkit.Receiver` in place of a real channel; by default it accepts everything.
Script failures to test retries: :meth:`~RecordingNotifier.fail_next` (temporary errors),
:meth:`~RecordingNotifier.rate_limit_next` (429 with ``Retry-After``),
:meth:`~RecordingNotifier.fail_permanently`, :meth:`~RecordingNotifier.raise_next`.

>>> import anyio, httpx, alertkit as ak
>>> rec = RecordingNotifier()
>>> rec.fail_next(1)
>>> n = ak.Notification("ops", "{}:{}", ak.Labels(), (), (), 0.0, "key")
>>> async def two_attempts():
...     async with httpx.AsyncClient() as http:
...         first = await rec.send(n, ak.DeliveryContext(http, attempt=1))
...         second = await rec.send(n, ak.DeliveryContext(http, attempt=2))
...     return type(first).__name__, type(second).__name__
>>> anyio.run(two_attempts)
('Retry', 'Delivered')
>>> len(rec.sent), len(rec.attempts)
(1, 2)
"""

from __future__ import annotations

import math
from collections import deque
from collections.abc import Mapping, Sequence

import anyio
import attrs

from alertkit._core.model import Alert
from alertkit._core.timeutil import DurationLike, parse_duration
from alertkit._dispatch.notification import (
    Delivered,
    DeliveryResult,
    Failed,
    Notification,
    Retry,
)
from alertkit._dispatch.retry import parse_retry_after
from alertkit._errors import AlertkitError, NotifierConfigError
from alertkit.notify.sender import DeliveryContext, result_from_exception
from alertkit.runtime.clock import FakeClock

__all__ = ["Attempt", "FakeClock", "RecordingNotifier", "advance"]


@attrs.frozen
class Attempt:
    """One call of :meth:`RecordingNotifier.send`: what it got, and what it answered.

    ``at`` is the runtime clock's time of the attempt (``DeliveryContext.now``).
    """

    notification: Notification
    attempt: int
    at: float
    result: DeliveryResult

    @property
    def delivered(self) -> bool:
        return isinstance(self.result, Delivered)


# A scripted outcome: (kind, reason or Retry-After header, status code, exception to raise).
_Script = tuple[str, str, int | None, Exception | None]


def _count(n: object, what: str) -> int:
    if isinstance(n, bool) or not isinstance(n, int) or n < 1:
        raise NotifierConfigError(f"{what}: the number of attempts must be an int >= 1, "
                                  f"got {n!r}")
    return n


class RecordingNotifier:
    """Records every notification it is sent; fails on demand.

    - :attr:`sent`: the notifications it accepted (answered :class:`~alertkit.Delivered`);
    - :attr:`attempts`: every call, accepted or not, as :class:`Attempt` values.

    Scripted outcomes are consumed in order, one per attempt, before the default
    (accept everything, or fail everything after :meth:`fail_permanently` without ``n``).
    ``formats`` is the sender's ``formats`` attribute (which bodies the runtime renders).
    """

    def __init__(self, *, formats: Sequence[str] = ("plain",)) -> None:
        self.formats = tuple(formats)
        self.sent: list[Notification] = []
        self.attempts: list[Attempt] = []
        self._script: deque[_Script] = deque()
        self._always: _Script | None = None
        self._changed: anyio.Event | None = None  # made by a waiter, in its event loop

    # -- scripting --------------------------------------------------------------------------

    def fail_next(self, n: int = 1, *, reason: str = "503 Service Unavailable",
                  status_code: int | None = 503) -> None:
        """Answer the next ``n`` attempts with a temporary failure (:class:`~alertkit.Retry`)."""
        for _ in range(_count(n, "fail_next")):
            self._script.append(("retry", reason, status_code, None))

    def rate_limit_next(self, n: int = 1, *, retry_after: float | str = 30.0) -> None:
        """Answer the next ``n`` attempts as a 429 with ``Retry-After: retry_after``.

        ``retry_after`` is seconds or an HTTP-date, as the header; the :class:`~alertkit.Retry`
        asks for ``context.now`` plus that (or that date).
        """
        header = _retry_after_header(retry_after)
        for _ in range(_count(n, "rate_limit_next")):
            self._script.append(("429", header, 429, None))

    def fail_permanently(self, n: int | None = None, *, reason: str = "400 Bad Request",
                         status_code: int | None = 400) -> None:
        """Answer the next ``n`` attempts (every later one if ``n`` is None) with
        :class:`~alertkit.Failed`."""
        outcome: _Script = ("failed", reason, status_code, None)
        if n is None:
            self._always = outcome
            return
        for _ in range(_count(n, "fail_permanently")):
            self._script.append(outcome)

    def raise_next(self, error: BaseException, n: int = 1) -> None:
        """Raise ``error`` from the next ``n`` attempts (the worker maps it to a result)."""
        if not isinstance(error, Exception):
            raise NotifierConfigError(f"raise_next: {error!r} is not an exception")
        for _ in range(_count(n, "raise_next")):
            self._script.append(("raise", "", None, error))

    def accept_all(self) -> None:
        """Forget every scripted outcome: accept from now on."""
        self._script.clear()
        self._always = None

    def clear(self) -> None:
        """Forget what was recorded (not the script)."""
        self.sent.clear()
        self.attempts.clear()

    # -- the sender protocol ----------------------------------------------------------------

    async def send(self, notification: Notification, context: DeliveryContext) -> DeliveryResult:
        """Record the attempt and answer with the next scripted outcome (else Delivered)."""
        outcome = self._script.popleft() if self._script else self._always
        try:
            result = self._result(outcome, context)
        except Exception as exc:
            self._record(Attempt(notification, context.attempt, context.now,
                                 result_from_exception(exc)))
            raise
        if isinstance(result, Delivered):
            self.sent.append(notification)
        self._record(Attempt(notification, context.attempt, context.now, result))
        return result

    def _result(self, outcome: _Script | None, context: DeliveryContext) -> DeliveryResult:
        if outcome is None:
            return Delivered(200)
        kind, reason, status, error = outcome
        if error is not None:
            raise error
        if kind == "429":
            return Retry("429 Too Many Requests", status_code=status,
                         retry_at=parse_retry_after(reason, now=context.now))
        if kind == "retry":
            return Retry(reason, status_code=status)
        return Failed(reason, status_code=status)

    def _record(self, attempt: Attempt) -> None:
        self.attempts.append(attempt)
        if self._changed is not None:
            self._changed.set()
            self._changed = None

    # -- queries ----------------------------------------------------------------------------

    def alerts(self, status: str | None = None) -> list[Alert]:
        """The alerts of every accepted notification, in order; ``status`` "firing" or
        "resolved" keeps only those."""
        if status not in (None, "firing", "resolved"):
            raise AlertkitError(f"status {status!r} is not 'firing' or 'resolved'")
        out: list[Alert] = []
        for n in self.sent:
            if status in (None, "firing"):
                out.extend(n.firing)
            if status in (None, "resolved"):
                out.extend(n.resolved)
        return out

    def notifications_about(self, rule: str | None = None, *,
                            labels: Mapping[str, str] | None = None) -> list[Notification]:
        """Accepted notifications holding an alert of ``rule`` whose labels include ``labels``."""
        def hit(a: Alert) -> bool:
            return (rule is None or a.rule == rule) and all(
                a.labels.get(k, "") == v for k, v in (labels or {}).items())

        return [n for n in self.sent if any(hit(a) for a in n.alerts)]

    @property
    def failures(self) -> list[Attempt]:
        """The attempts it did not accept."""
        return [a for a in self.attempts if not a.delivered]

    async def wait_for(self, count: int = 1, *, attempts: bool = False,
                       timeout: float = 5.0) -> None:
        """Wait until ``count`` notifications were accepted (or ``count`` attempts were made).

        ``timeout`` is in real seconds (a fake clock does not move by itself); raises
        ``TimeoutError`` naming what arrived.
        """
        def done() -> bool:
            return len(self.attempts if attempts else self.sent) >= count

        if math.isnan(timeout) or timeout <= 0:
            raise NotifierConfigError(f"wait_for: timeout must be > 0, got {timeout!r}")
        try:
            with anyio.fail_after(timeout):
                while not done():
                    if self._changed is None:
                        self._changed = anyio.Event()
                    await self._changed.wait()
        except TimeoutError:
            what = "attempts" if attempts else "accepted notifications"
            got = len(self.attempts if attempts else self.sent)
            raise TimeoutError(f"waited {timeout}s for {count} {what}, got {got}") from None

    def __repr__(self) -> str:
        return (f"<RecordingNotifier sent={len(self.sent)} attempts={len(self.attempts)} "
                f"scripted={len(self._script)}>")


def _retry_after_header(value: float | str) -> str:
    if isinstance(value, bool):
        raise NotifierConfigError(f"retry_after: {value!r} is not seconds or an HTTP-date")
    if isinstance(value, int | float):
        if not (math.isfinite(value) and value >= 0):
            raise NotifierConfigError(f"retry_after: {value!r} must be finite and >= 0")
        return repr(float(value))
    if isinstance(value, str) and parse_retry_after(value, now=0.0) is not None:
        return value
    raise NotifierConfigError(f"retry_after: {value!r} is not seconds or an HTTP-date")



async def advance(clock: FakeClock, duration: DurationLike, *, step: DurationLike = "1s") -> None:
    """Move ``clock`` forward by ``duration`` in ``step`` increments, letting every task that
    became ready run after each one (``anyio.wait_all_tasks_blocked``).

    What an :class:`~alertkit.Engine` on a :class:`~alertkit.FakeClock` needs to tick,
    dispatch and deliver as it would in that much real time, in a few milliseconds.
    """
    if not isinstance(clock, FakeClock):
        raise AlertkitError(f"advance: {clock!r} is not a FakeClock")
    total = parse_duration(duration, field="duration")
    stride = parse_duration(step, field="step", allow_zero=False)
    end = clock.now() + total
    await anyio.wait_all_tasks_blocked()
    while clock.now() < end:
        clock.set(min(end, clock.now() + stride))
        await anyio.wait_all_tasks_blocked()
