"""Clocks: the only place the runtime learns what time it is."""

from __future__ import annotations

import math
import time
from typing import Protocol, runtime_checkable

import anyio

from alertkit._errors import TimeWentBackwardsError

__all__ = ["Clock", "FakeClock", "SystemClock"]


@runtime_checkable
class Clock(Protocol):
    """What the Engine needs of a clock: the time, and a way to wait for a time."""

    def now(self) -> float:
        """Epoch seconds."""
        ...

    async def sleep_until(self, deadline: float) -> None:
        """Return once ``now() >= deadline``."""
        ...


class SystemClock:
    """Wall-clock time (``time.time``), waiting with ``anyio.sleep``."""

    def now(self) -> float:
        return time.time()

    async def sleep_until(self, deadline: float) -> None:
        await anyio.sleep(max(0.0, deadline - time.time()))

    def __repr__(self) -> str:
        return "SystemClock()"


class FakeClock:
    """A clock that moves only when told to: deterministic tests of time-based rules.

    >>> clock = FakeClock(1_000.0)
    >>> clock.advance(60); clock.now()
    1060.0

    Tasks waiting in :meth:`sleep_until` wake when :meth:`advance` or
    :meth:`set` reaches their deadline.
    """

    def __init__(self, start: float = 0.0) -> None:
        self._now = float(start)
        self._sleepers: list[tuple[float, anyio.Event]] = []

    def now(self) -> float:
        return self._now

    def advance(self, seconds: float) -> None:
        if not seconds >= 0 or math.isinf(seconds):
            raise TimeWentBackwardsError(f"FakeClock.advance({seconds!r}): must be finite and >= 0")
        self.set(self._now + seconds)

    def set(self, now: float) -> None:
        if now < self._now:
            raise TimeWentBackwardsError(f"FakeClock.set({now!r}) is before {self._now!r}")
        self._now = float(now)
        due = [s for s in self._sleepers if s[0] <= self._now]
        self._sleepers = [s for s in self._sleepers if s[0] > self._now]
        for _, event in due:
            event.set()

    async def sleep_until(self, deadline: float) -> None:
        if deadline <= self._now:
            await anyio.lowlevel.checkpoint()
            return
        event = anyio.Event()
        self._sleepers.append((deadline, event))
        await event.wait()

    def __repr__(self) -> str:
        return f"FakeClock({self._now!r})"
