"""The state store: where an Engine keeps what must outlive the process.

A :class:`StateStore` holds four things, each with the access pattern it needs:

- the Engine snapshot (evaluator timers, dispatcher groups): one opaque blob,
  saved periodically and at stop (:meth:`StateStore.save_snapshot`);
- versioned records (lifecycle records by fingerprint, silences by id):
  small JSON documents written with compare-and-set, so that several processes
  sharing a store never lose each other's updates (:meth:`StateStore.put_record`);
- the audit trail: append-only, numbered by a store-wide increasing ``seq``;
- the delivery outbox (:class:`~alertkit.Outbox`); a store shared by several
  processes gives a :class:`ClaimingOutbox`, whose entries are *claimed* by one
  process at a time for a lease.

Implementations: :class:`~alertkit.stores.memory_store.MemoryStore` (default),
:class:`~alertkit.stores.sqlite_store.SqliteStore`,
:class:`~alertkit.stores.redis_store.RedisStore`.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Mapping, Sequence
from typing import Any, Protocol, runtime_checkable

import attrs

from alertkit._errors import StoreError

from .outbox import EntryId, Outbox, OutboxEntry

__all__ = ["AUDIT_FILTERS", "ClaimingOutbox", "GenerationStore", "StateStore", "Versioned"]

AUDIT_FILTERS = ("key", "rule", "at")
"""Fields of an audit document the stores index: ``key`` (the alert's fingerprint or the
record's key), ``rule`` (a rule name or absent) and ``at`` (epoch seconds)."""

_KIND = re.compile(r"[a-z][a-z0-9_]{0,62}\Z")
MAX_KEY_LENGTH = 1024


@attrs.frozen
class Versioned:
    """A record's document and its version (1 for a new record, +1 per write)."""

    doc: dict[str, Any]
    version: int


@runtime_checkable
class ClaimingOutbox(Outbox, Protocol):
    """An :class:`~alertkit.Outbox` shared by several processes: entries are claimed.

    A process *owns* the entries it claimed until their lease ends; it renews
    the lease while it works on them. A crashed owner stops renewing, its
    leases run out, and another process claims and retries the entries.
    Times are epoch seconds from the caller's clock (``now``).
    """

    async def claim(self, owner: str, lease_seconds: float, limit: int, *,
                    now: float, ids: Sequence[EntryId] | None = None,
                    receivers: Sequence[str] | None = None) -> list[OutboxEntry]:
        """Claim up to ``limit`` entries that nobody holds (or whose lease ended, or
        that ``owner`` holds already), soonest due first; only among ``ids`` and only for
        ``receivers`` if given (a process claims what it can deliver)."""
        ...

    async def renew(self, owner: str, ids: Sequence[EntryId], lease_seconds: float, *,
                    now: float) -> list[EntryId]:
        """Extend ``owner``'s leases; return the ids it still holds (the others were
        taken over or finished elsewhere)."""
        ...

    async def release(self, owner: str, ids: Sequence[EntryId]) -> None:
        """Give up ``owner``'s claims (entries stay pending, for anyone to claim)."""
        ...


@runtime_checkable
class StateStore(Protocol):
    """Durable (or not) state of an :class:`~alertkit.Engine`; see the module docs."""

    @property
    def outbox(self) -> Outbox:
        """Pending deliveries (a :class:`ClaimingOutbox` in a store shared by processes)."""
        ...

    async def load_snapshot(self) -> bytes | None:
        """The last saved Engine snapshot, or ``None``."""
        ...

    async def save_snapshot(self, data: bytes) -> None:
        """Replace the saved snapshot."""
        ...

    async def get_record(self, kind: str, key: str) -> Versioned | None:
        ...

    async def put_record(self, kind: str, key: str, doc: dict[str, Any], *,
                         expected_version: int | None) -> int:
        """Compare-and-set: write ``doc`` if the stored version is ``expected_version``
        (``None``: no record may exist); return the new version. Raises
        :class:`~alertkit.StoreConflictError` otherwise."""
        ...

    async def delete_record(self, kind: str, key: str) -> None:
        """Forget a record (no error if absent)."""
        ...

    async def records(self, kind: str) -> dict[str, Versioned]:
        """Every record of ``kind`` by key."""
        ...

    async def append_audit(self, records: Sequence[dict[str, Any]]) -> list[int]:
        """Append audit documents; return the ``seq`` given to each (increasing)."""
        ...

    async def audit(self, *, key: str | None = None, rule: str | None = None,
                    since: float | None = None, until: float | None = None,
                    after_seq: int | None = None, limit: int | None = None) -> list[dict[str, Any]]:
        """Audit documents matching every filter (``since`` inclusive, ``until``
        exclusive, ``seq > after_seq``), oldest first, at most ``limit`` (the oldest
        ones); each carries its ``seq``."""
        ...

    async def aclose(self) -> None:
        ...


@runtime_checkable
class GenerationStore(Protocol):
    """Optional: a store that counts writes per record kind, so that a reader polling for
    other processes' changes reads one number instead of every record while nothing
    changed. The three built-in stores offer it."""

    async def generation(self, kind: str) -> int:
        """A number that changes whenever a record of ``kind`` is written or deleted."""
        ...


# -- validation shared by the implementations ----------------------------------------------


def check_kind(kind: object) -> str:
    if not isinstance(kind, str) or not _KIND.match(kind):
        raise StoreError(f"record kind {kind!r} is not valid (lower-case letters, digits, _)")
    return kind


def check_key(key: object) -> str:
    if not isinstance(key, str) or not key or len(key) > MAX_KEY_LENGTH:
        raise StoreError(f"record key {key!r} is not valid (a non-empty string of at most "
                         f"{MAX_KEY_LENGTH} characters)")
    return key


def check_version(version: object) -> int | None:
    if version is None:
        return None
    if isinstance(version, bool) or not isinstance(version, int) or version < 1:
        raise StoreError(f"expected_version must be None or an integer >= 1, got {version!r}")
    return version


def encode_doc(doc: object, what: str = "record") -> str:
    """Strict JSON of a document (a dict with string keys, no NaN): what every store keeps."""
    if not isinstance(doc, Mapping):
        raise StoreError(f"{what} document must be a dict, got {type(doc).__name__}")
    try:
        _check_keys(doc)
        return json.dumps(doc, separators=(",", ":"), allow_nan=False, sort_keys=True)
    except (TypeError, ValueError) as exc:
        raise StoreError(f"{what} document is not JSON-serialisable: {exc}") from None


def _check_keys(value: object) -> None:
    # json.dumps would turn 1 into "1": the document would not come back as given.
    if isinstance(value, Mapping):
        for k, v in value.items():
            if not isinstance(k, str):
                raise TypeError(f"key {k!r} is not a string")
            _check_keys(v)
    elif isinstance(value, list | tuple):
        for v in value:
            _check_keys(v)


def decode_doc(text: str | bytes, what: str) -> dict[str, Any]:
    try:
        doc = json.loads(text)
    except ValueError as exc:
        raise StoreError(f"{what} is corrupt: {exc}") from None
    if not isinstance(doc, dict):
        raise StoreError(f"{what} is corrupt: not a JSON object")
    return doc


def check_snapshot(data: object) -> bytes:
    if not isinstance(data, bytes | bytearray | memoryview):
        raise StoreError(f"a snapshot must be bytes, got {type(data).__name__}")
    return bytes(data)


def audit_fields(doc: Mapping[str, Any]) -> tuple[str | None, str | None, float | None]:
    """The indexed fields of an audit document, validated."""
    if not isinstance(doc, Mapping):
        raise StoreError(f"audit document must be a dict, got {type(doc).__name__}")
    key, rule, at = doc.get("key"), doc.get("rule"), doc.get("at")
    if key is not None and not isinstance(key, str):
        raise StoreError(f"audit document 'key' must be a string, got {key!r}")
    if rule is not None and not isinstance(rule, str):
        raise StoreError(f"audit document 'rule' must be a string, got {rule!r}")
    if at is not None and (isinstance(at, bool) or not isinstance(at, int | float)
                           or not math.isfinite(at)):
        raise StoreError(f"audit document 'at' must be a finite number, got {at!r}")
    return key, rule, None if at is None else float(at)


def check_audit_query(since: object, until: object, after_seq: object, limit: object) -> None:
    for name, value in (("since", since), ("until", until)):
        if value is not None and (isinstance(value, bool) or not isinstance(value, int | float)
                                  or math.isnan(value)):
            raise StoreError(f"{name} must be a number or None, got {value!r}")
    for name, value in (("after_seq", after_seq), ("limit", limit)):
        if value is not None and (isinstance(value, bool) or not isinstance(value, int)
                                  or value < 0):
            raise StoreError(f"{name} must be a non-negative integer or None, got {value!r}")


def audit_matches(doc: Mapping[str, Any], key: str | None, rule: str | None,
                  since: float | None, until: float | None) -> bool:
    if key is not None and doc.get("key") != key:
        return False
    if rule is not None and doc.get("rule") != rule:
        return False
    at = doc.get("at")
    if since is not None and (at is None or at < since):
        return False
    return until is None or (at is not None and at < until)


def check_claim(owner: object, lease_seconds: object, limit: object = 1) -> None:
    if not isinstance(owner, str) or not owner:
        raise StoreError(f"owner must be a non-empty string, got {owner!r}")
    if isinstance(lease_seconds, bool) or not isinstance(lease_seconds, int | float) or \
            not math.isfinite(lease_seconds) or lease_seconds <= 0:
        raise StoreError(f"lease_seconds must be a positive number, got {lease_seconds!r}")
    if isinstance(limit, bool) or not isinstance(limit, int) or limit < 1:
        raise StoreError(f"limit must be an integer >= 1, got {limit!r}")
