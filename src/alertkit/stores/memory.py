"""The in-memory outbox: the default, fast, and gone with the process."""

from __future__ import annotations

from collections.abc import Sequence

import anyio.lowlevel

from .outbox import EntryId, LoadResult, OutboxEntry

__all__ = ["MemoryOutbox"]


class MemoryOutbox:
    """Pending deliveries in a dict. Not durable: use :class:`SqliteOutbox` to survive restarts.

    >>> import anyio
    >>> box = MemoryOutbox()
    >>> anyio.run(box.load)
    LoadResult(entries=[], corrupt=[])
    """

    def __init__(self) -> None:
        self._entries: dict[EntryId, OutboxEntry] = {}

    async def add(self, entries: Sequence[OutboxEntry]) -> list[bool]:
        added = []
        for entry in entries:
            new = entry.id not in self._entries
            if new:
                self._entries[entry.id] = entry
            added.append(new)
        await anyio.lowlevel.checkpoint()
        return added

    async def update(self, entry: OutboxEntry) -> None:
        if entry.id in self._entries:
            self._entries[entry.id] = entry
        await anyio.lowlevel.checkpoint()

    async def remove(self, ids: Sequence[EntryId]) -> None:
        for entry_id in ids:
            self._entries.pop(entry_id, None)
        await anyio.lowlevel.checkpoint()

    async def load(self) -> LoadResult:
        await anyio.lowlevel.checkpoint()
        return LoadResult(list(self._entries.values()))

    async def aclose(self) -> None:
        await anyio.lowlevel.checkpoint()

    def __len__(self) -> int:
        return len(self._entries)

    def __repr__(self) -> str:
        return f"MemoryOutbox({len(self._entries)} pending)"
