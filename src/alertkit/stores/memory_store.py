"""The in-memory state store: the default, fast, and gone with the process.

It implements the whole :class:`~alertkit.stores.base.StateStore` contract
(compare-and-set, audit sequence, outbox claims) so that code written against
it behaves the same on a durable store; one instance can also be shared by
several Engines of one process (tests do that).
"""

from __future__ import annotations

import copy
from collections.abc import Sequence
from typing import Any

import anyio.lowlevel

from alertkit._errors import StoreConflictError, StoreError

from .base import (
    Versioned,
    audit_fields,
    audit_matches,
    check_audit_query,
    check_claim,
    check_key,
    check_kind,
    check_snapshot,
    check_version,
    decode_doc,
    encode_doc,
)
from .memory import MemoryOutbox
from .outbox import EntryId, OutboxEntry

__all__ = ["MemoryClaimingOutbox", "MemoryStore"]


class MemoryClaimingOutbox(MemoryOutbox):
    """A :class:`~alertkit.MemoryOutbox` with the claim API of a shared outbox."""

    def __init__(self) -> None:
        super().__init__()
        self._claims: dict[EntryId, tuple[str, float]] = {}

    async def remove(self, ids: Sequence[EntryId]) -> None:
        for entry_id in ids:
            self._claims.pop(entry_id, None)
        await super().remove(ids)

    async def claim(self, owner: str, lease_seconds: float, limit: int, *,
                    now: float, ids: Sequence[EntryId] | None = None,
                    receivers: Sequence[str] | None = None) -> list[OutboxEntry]:
        check_claim(owner, lease_seconds, limit)
        wanted = None if ids is None else set(ids)
        names = None if receivers is None else set(receivers)
        got: list[OutboxEntry] = []
        for entry in sorted(self._entries.values(), key=lambda e: e.next_attempt_at):
            if len(got) >= limit:
                break
            if (wanted is not None and entry.id not in wanted) or \
                    (names is not None and entry.receiver not in names):
                continue
            held = self._claims.get(entry.id)
            if held is None or held[0] == owner or held[1] <= now:
                self._claims[entry.id] = (owner, now + lease_seconds)
                got.append(entry)
        await anyio.lowlevel.checkpoint()
        return got

    async def renew(self, owner: str, ids: Sequence[EntryId], lease_seconds: float, *,
                    now: float) -> list[EntryId]:
        check_claim(owner, lease_seconds)
        kept = []
        for entry_id in ids:
            held = self._claims.get(entry_id)
            if held is not None and held[0] == owner and entry_id in self._entries:
                self._claims[entry_id] = (owner, now + lease_seconds)
                kept.append(entry_id)
        await anyio.lowlevel.checkpoint()
        return kept

    async def release(self, owner: str, ids: Sequence[EntryId]) -> None:
        check_claim(owner, 1)
        for entry_id in ids:
            held = self._claims.get(entry_id)
            if held is not None and held[0] == owner:
                del self._claims[entry_id]
        await anyio.lowlevel.checkpoint()

    def __repr__(self) -> str:
        return f"MemoryClaimingOutbox({len(self._entries)} pending, {len(self._claims)} claimed)"


class MemoryStore:
    """A :class:`~alertkit.stores.base.StateStore` in dicts (documents are copied in and out).

    >>> import anyio
    >>> store = MemoryStore()
    >>> anyio.run(lambda: store.put_record("alert", "fp1", {"acked": True},
    ...                                    expected_version=None))
    1
    """

    def __init__(self) -> None:
        self.outbox = MemoryClaimingOutbox()
        self._snapshot: bytes | None = None
        self._records: dict[str, dict[str, tuple[str, int]]] = {}
        self._audit: list[dict[str, Any]] = []
        self._generations: dict[str, int] = {}
        self._closed = False

    def _check_open(self) -> None:
        if self._closed:
            raise StoreError("this MemoryStore is closed")

    async def load_snapshot(self) -> bytes | None:
        self._check_open()
        await anyio.lowlevel.checkpoint()
        return self._snapshot

    async def save_snapshot(self, data: bytes) -> None:
        self._check_open()
        self._snapshot = check_snapshot(data)
        await anyio.lowlevel.checkpoint()

    async def get_record(self, kind: str, key: str) -> Versioned | None:
        self._check_open()
        found = self._records.get(check_kind(kind), {}).get(check_key(key))
        await anyio.lowlevel.checkpoint()
        if found is None:
            return None
        return Versioned(decode_doc(found[0], f"{kind} record {key!r}"), found[1])

    async def put_record(self, kind: str, key: str, doc: dict[str, Any], *,
                         expected_version: int | None) -> int:
        self._check_open()
        table = self._records.setdefault(check_kind(kind), {})
        check_key(key)
        expected = check_version(expected_version)
        text = encode_doc(doc)
        current = table.get(key)
        actual = None if current is None else current[1]
        if actual != expected:
            raise StoreConflictError(kind, key, expected, actual)
        version = 1 if actual is None else actual + 1
        table[key] = (text, version)
        self._generations[kind] = self._generations.get(kind, 0) + 1
        await anyio.lowlevel.checkpoint()
        return version

    async def delete_record(self, kind: str, key: str) -> None:
        self._check_open()
        if self._records.get(check_kind(kind), {}).pop(check_key(key), None) is not None:
            self._generations[kind] = self._generations.get(kind, 0) + 1
        await anyio.lowlevel.checkpoint()

    async def generation(self, kind: str) -> int:
        self._check_open()
        await anyio.lowlevel.checkpoint()
        return self._generations.get(check_kind(kind), 0)

    async def records(self, kind: str) -> dict[str, Versioned]:
        self._check_open()
        table = self._records.get(check_kind(kind), {})
        await anyio.lowlevel.checkpoint()
        return {key: Versioned(decode_doc(text, f"{kind} record {key!r}"), version)
                for key, (text, version) in table.items()}

    async def append_audit(self, records: Sequence[dict[str, Any]]) -> list[int]:
        self._check_open()
        docs = []
        for doc in records:
            audit_fields(doc)
            docs.append(decode_doc(encode_doc(doc, "audit"), "audit record"))
        seqs = []
        for doc in docs:
            doc["seq"] = len(self._audit) + 1
            self._audit.append(doc)
            seqs.append(doc["seq"])
        await anyio.lowlevel.checkpoint()
        return seqs

    async def audit(self, *, key: str | None = None, rule: str | None = None,
                    since: float | None = None, until: float | None = None,
                    after_seq: int | None = None, limit: int | None = None) -> list[dict[str, Any]]:
        self._check_open()
        check_audit_query(since, until, after_seq, limit)
        start = after_seq or 0
        out: list[dict[str, Any]] = []
        for doc in self._audit[start:]:
            if limit is not None and len(out) >= limit:
                break
            if audit_matches(doc, key, rule, since, until):
                out.append(copy.deepcopy(doc))
        await anyio.lowlevel.checkpoint()
        return out

    async def aclose(self) -> None:
        self._closed = True
        await anyio.lowlevel.checkpoint()

    def __repr__(self) -> str:
        count = sum(len(t) for t in self._records.values())
        return f"MemoryStore({count} records, {len(self._audit)} audit records)"
