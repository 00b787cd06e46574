"""The outbox: deliveries written down before the first attempt, removed after the last.

One :class:`OutboxEntry` is one delivery: one notification to one notifier
of its receiver. The delivery worker adds entries *before* it tries them,
updates them when it schedules a retry, and removes them once the result is
final (delivered, failed, or given up: those stay in the delivery log). A
process that dies in between finds its entries again with :meth:`Outbox.load`
and sends them once more: delivery is at least once, and the notification's
idempotency key lets the receiver drop the duplicate.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol, runtime_checkable

import attrs

from alertkit._dispatch.notification import Notification

__all__ = ["CorruptEntry", "EntryId", "LoadResult", "Outbox", "OutboxEntry"]

EntryId = tuple[str, str, str]
"""``(receiver, notifier, idempotency_key)``: what identifies a delivery."""


@attrs.frozen
class OutboxEntry:
    """One pending delivery of ``notification`` through the receiver's ``notifier``.

    ``attempts`` counts the attempts made so far, ``next_attempt_at`` is when
    the next one is due (epoch seconds), ``enqueued_at`` anchors the retry
    deadline, ``last_error`` is the reason of the last failure.
    """

    notification: Notification
    notifier: str
    enqueued_at: float
    next_attempt_at: float
    attempts: int = 0
    last_error: str = ""

    @property
    def receiver(self) -> str:
        return self.notification.receiver

    @property
    def id(self) -> EntryId:
        return (self.notification.receiver, self.notifier, self.notification.idempotency_key)


@attrs.frozen
class CorruptEntry:
    """A stored entry that cannot be read back; the store keeps its raw data aside."""

    id: str
    error: str


@attrs.frozen
class LoadResult:
    """What :meth:`Outbox.load` found: readable entries, and the ones set aside."""

    entries: list[OutboxEntry]
    corrupt: list[CorruptEntry] = attrs.field(factory=list)


@runtime_checkable
class Outbox(Protocol):
    """Where pending deliveries live. Every method is durable when it returns."""

    async def add(self, entries: Sequence[OutboxEntry]) -> list[bool]:
        """Store new entries; ``False`` for one whose id is already pending (it is kept)."""
        ...

    async def update(self, entry: OutboxEntry) -> None:
        """Store a pending entry's new attempt count, due time and last error."""
        ...

    async def remove(self, ids: Sequence[EntryId]) -> None:
        """Forget finished deliveries (unknown ids are ignored)."""
        ...

    async def load(self) -> LoadResult:
        """Every pending entry, e.g. after a restart; unreadable ones are set aside."""
        ...

    async def aclose(self) -> None:
        ...
