"""The Redis state store: several processes share alerts, silences, acks and the outbox.

Needs the ``redis`` extra (``redis.asyncio``). Every multi-key change is one
Lua script, so it is atomic on the server: a compare-and-set of a record, an
audit append (``INCR`` of the sequence plus the index writes), an outbox add,
a claim. Layout, under ``namespace`` (``"alertkit"`` by default)::

    {ns}:snapshot            string   the Engine snapshot (see the note below)
    {ns}:rec:{kind}          hash     key -> "version:json"
    {ns}:gen:{kind}          string   incremented by every write of that kind
    {ns}:audit:seq           string   the last audit seq (INCR)
    {ns}:audit               zset     "seq:json" scored by seq
    {ns}:audit:key:{key}     zset     the same members, for one key
    {ns}:audit:rule:{rule}   zset     the same members, for one rule
    {ns}:outbox              hash     entry id (JSON) -> entry (JSON)
    {ns}:outbox:due          zset     entry id scored by next_attempt_at
    {ns}:outbox:owner        hash     entry id -> owner of the claim
    {ns}:outbox:lease        zset     entry id scored by the end of its lease
    {ns}:outbox:corrupt      hash     entry id -> raw entry, set aside by load()

Durability is Redis's: configure ``appendonly yes`` (``appendfsync everysec``
loses at most a second) on a server that must survive a restart.

The snapshot is per ``namespace``: processes that each evaluate their own rules
should use their own ``snapshot_key`` (or namespace) and share the rest.
"""

from __future__ import annotations

import asyncio
import json
import math
import re
from collections.abc import Awaitable, Callable, Sequence
from functools import partial
from typing import TYPE_CHECKING, Any

from alertkit._errors import OutboxError, StoreConflictError, StoreError
from alertkit.notify.schema import notification_from_json, notification_to_json

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
from .outbox import CorruptEntry, EntryId, LoadResult, OutboxEntry

if TYPE_CHECKING:
    import redis.asyncio

__all__ = ["RedisClaimingOutbox", "RedisStore"]

_PAGE = 500


def _on_asyncio() -> bool:
    """Whether the caller runs on an asyncio loop (redis.asyncio needs one; trio is not)."""
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return False
    return True

_NAMESPACE = re.compile(r"[A-Za-z0-9_.:-]{1,100}\Z")
_PASSWORD = re.compile(r"(?<=://)[^@/]*@")

_PUT = """
local cur = redis.call('HGET', KEYS[1], ARGV[1])
local actual = 0
if cur then actual = tonumber(string.match(cur, '^(%d+):')) end
if actual ~= tonumber(ARGV[2]) then return {0, actual} end
local v = actual + 1
redis.call('HSET', KEYS[1], ARGV[1], v .. ':' .. ARGV[3])
redis.call('INCR', KEYS[2])
return {1, v}
"""

_DELETE = """
if redis.call('HDEL', KEYS[1], ARGV[1]) == 1 then redis.call('INCR', KEYS[2]) end
return 0
"""

_AUDIT = """
local seqs = {}
for i = 1, #ARGV, 3 do
  local seq = redis.call('INCR', KEYS[1])
  local member = seq .. ':' .. ARGV[i]
  redis.call('ZADD', KEYS[2], seq, member)
  if ARGV[i + 1] ~= '' then redis.call('ZADD', KEYS[3] .. ARGV[i + 1], seq, member) end
  if ARGV[i + 2] ~= '' then redis.call('ZADD', KEYS[4] .. ARGV[i + 2], seq, member) end
  seqs[#seqs + 1] = seq
end
return seqs
"""

_ADD = """
local added = {}
for i = 1, #ARGV, 3 do
  local new = redis.call('HSETNX', KEYS[1], ARGV[i], ARGV[i + 1])
  if new == 1 then redis.call('ZADD', KEYS[2], ARGV[i + 2], ARGV[i]) end
  added[#added + 1] = new
end
return added
"""

_UPDATE = """
if redis.call('HEXISTS', KEYS[1], ARGV[1]) == 1 then
  redis.call('HSET', KEYS[1], ARGV[1], ARGV[2])
  redis.call('ZADD', KEYS[2], ARGV[3], ARGV[1])
end
return 0
"""

_REMOVE = """
for i = 1, #ARGV do
  redis.call('HDEL', KEYS[1], ARGV[i])
  redis.call('ZREM', KEYS[2], ARGV[i])
  redis.call('HDEL', KEYS[3], ARGV[i])
  redis.call('ZREM', KEYS[4], ARGV[i])
end
return 0
"""

# KEYS: outbox, due, owner, lease. ARGV: owner, now, until, limit, receivers (a JSON list,
# or "" for any), ids... (all if none)
_CLAIM = """
local me, now, limit = ARGV[1], tonumber(ARGV[2]), tonumber(ARGV[4])
local names = nil
if ARGV[5] ~= '' then
  names = {}
  for _, r in ipairs(cjson.decode(ARGV[5])) do names[r] = true end
end
local got = {}
local function try(id)
  if names then
    local ok, parts = pcall(cjson.decode, id)
    if not ok or type(parts) ~= 'table' or not names[parts[1]] then return end
  end
  local o = redis.call('HGET', KEYS[3], id)
  if o and o ~= me then
    local u = redis.call('ZSCORE', KEYS[4], id)
    if u and tonumber(u) > now then return end
  end
  local e = redis.call('HGET', KEYS[1], id)
  if not e then return end
  redis.call('HSET', KEYS[3], id, me)
  redis.call('ZADD', KEYS[4], ARGV[3], id)
  got[#got + 1] = e
end
if #ARGV > 5 then
  for i = 6, #ARGV do
    if #got >= limit then break end
    try(ARGV[i])
  end
else
  local ids = redis.call('ZRANGE', KEYS[2], 0, -1)
  for i = 1, #ids do
    if #got >= limit then break end
    try(ids[i])
  end
end
return got
"""

_RENEW = """
local kept = {}
for i = 3, #ARGV do
  local id = ARGV[i]
  if redis.call('HGET', KEYS[3], id) == ARGV[1] and redis.call('HEXISTS', KEYS[1], id) == 1 then
    redis.call('ZADD', KEYS[4], ARGV[2], id)
    kept[#kept + 1] = id
  end
end
return kept
"""

_RELEASE = """
for i = 2, #ARGV do
  if redis.call('HGET', KEYS[3], ARGV[i]) == ARGV[1] then
    redis.call('HDEL', KEYS[3], ARGV[i])
    redis.call('ZREM', KEYS[4], ARGV[i])
  end
end
return 0
"""


def _redact(url: str) -> str:
    return _PASSWORD.sub("***@", url)


def _num(value: float) -> str:
    return repr(float(value))


def _id_text(entry_id: EntryId) -> str:
    return json.dumps(list(entry_id), separators=(",", ":"), ensure_ascii=False)


def _entry_text(entry: OutboxEntry) -> str:
    return json.dumps({
        "notifier": entry.notifier, "enqueued_at": entry.enqueued_at,
        "next_attempt_at": entry.next_attempt_at, "attempts": entry.attempts,
        "last_error": entry.last_error,
        "notification": notification_to_json(entry.notification),
    }, separators=(",", ":"), allow_nan=False)


def _parse_entry(raw: bytes) -> OutboxEntry:
    try:
        doc = json.loads(raw)
    except ValueError as exc:
        raise OutboxError(f"not JSON: {exc}") from None
    if not isinstance(doc, dict):
        raise OutboxError("not a JSON object")
    notifier, last_error = doc.get("notifier"), doc.get("last_error")
    if not isinstance(notifier, str) or not isinstance(last_error, str):
        raise OutboxError("notifier and last_error must be text")
    numbers = []
    for name in ("enqueued_at", "next_attempt_at"):
        value = doc.get(name)
        if isinstance(value, bool) or not isinstance(value, int | float) or \
                not math.isfinite(value):
            raise OutboxError(f"{name}: expected a number, got {value!r}")
        numbers.append(float(value))
    attempts = doc.get("attempts")
    if isinstance(attempts, bool) or not isinstance(attempts, int) or attempts < 0:
        raise OutboxError(f"attempts: expected a non-negative integer, got {attempts!r}")
    text = doc.get("notification")
    if not isinstance(text, str):
        raise OutboxError("notification: expected JSON text")
    return OutboxEntry(notification_from_json(text), notifier, numbers[0], numbers[1],
                       attempts, last_error)


class _Conn:
    """The client, the key names and the scripts, shared by the store and its outbox."""

    def __init__(self, client: redis.asyncio.Redis, namespace: str, shown: str) -> None:
        self.client = client
        self.ns = namespace
        self.shown = shown
        self.closed = False
        self.scripts = {name: client.register_script(src) for name, src in (
            ("put", _PUT), ("delete", _DELETE), ("audit", _AUDIT), ("add", _ADD),
            ("update", _UPDATE), ("remove", _REMOVE), ("claim", _CLAIM), ("renew", _RENEW),
            ("release", _RELEASE))}
        ob = f"{namespace}:outbox"
        self.outbox_keys = [ob, f"{ob}:due", f"{ob}:owner", f"{ob}:lease"]

    async def call(self, fn: Callable[[], Awaitable[Any]]) -> Any:
        import redis.exceptions

        if self.closed:
            raise StoreError(f"store {self.shown} is closed")
        if not _on_asyncio():
            raise StoreError("RedisStore needs the asyncio backend (redis.asyncio does not "
                             "run on trio)")
        try:
            return await fn()
        except redis.exceptions.RedisError as exc:
            raise StoreError(f"store {self.shown}: {type(exc).__name__}: {exc}") from None

    async def script(self, name: str, keys: Sequence[str], args: Sequence[str | bytes]) -> Any:
        script = self.scripts[name]
        return await self.call(lambda: script(keys=list(keys), args=list(args)))


class RedisClaimingOutbox:
    """The outbox of a :class:`RedisStore`: shared by every process on the same namespace,
    with claims (:class:`~alertkit.stores.base.ClaimingOutbox`)."""

    def __init__(self, conn: _Conn) -> None:
        self._c = conn

    async def add(self, entries: Sequence[OutboxEntry]) -> list[bool]:
        if not entries:
            return []
        args: list[str] = []
        for e in entries:
            args += [_id_text(e.id), _entry_text(e), _num(e.next_attempt_at)]
        added = await self._c.script("add", self._c.outbox_keys[:2], args)
        return [bool(a) for a in added]

    async def update(self, entry: OutboxEntry) -> None:
        await self._c.script("update", self._c.outbox_keys[:2],
                             [_id_text(entry.id), _entry_text(entry),
                              _num(entry.next_attempt_at)])

    async def remove(self, ids: Sequence[EntryId]) -> None:
        if ids:
            await self._c.script("remove", self._c.outbox_keys, [_id_text(i) for i in ids])

    async def load(self) -> LoadResult:
        raw: dict[bytes, bytes] = await self._c.call(
            lambda: self._c.client.hgetall(self._c.outbox_keys[0]))
        entries: list[OutboxEntry] = []
        corrupt: list[CorruptEntry] = []
        for field, value in raw.items():
            try:
                entry = _parse_entry(value)
                if _id_text(entry.id).encode() != field:
                    raise OutboxError("the stored notification does not match its id")
                entries.append(entry)
            except OutboxError as exc:
                label = f"outbox entry {field.decode('utf-8', 'replace')}"
                corrupt.append(CorruptEntry(label, f"{label}: {exc}"))
                await self._set_aside(field, value)
        entries.sort(key=lambda e: e.next_attempt_at)
        return LoadResult(entries, corrupt)

    async def _set_aside(self, field: bytes, value: bytes) -> None:
        c = self._c

        async def move() -> None:
            async with c.client.pipeline(transaction=True) as pipe:
                pipe.hset(f"{c.ns}:outbox:corrupt", field, value)
                outbox, due, owner, lease = c.outbox_keys
                for hkey in (outbox, owner):
                    pipe.hdel(hkey, field)
                for zkey in (due, lease):
                    pipe.zrem(zkey, field)
                await pipe.execute()

        await c.call(move)

    async def claim(self, owner: str, lease_seconds: float, limit: int, *,
                    now: float, ids: Sequence[EntryId] | None = None,
                    receivers: Sequence[str] | None = None) -> list[OutboxEntry]:
        check_claim(owner, lease_seconds, limit)
        args = [owner, _num(now), _num(now + lease_seconds), str(limit),
                "" if receivers is None else json.dumps(list(receivers))]
        if ids is not None:
            if not ids:
                return []
            args += [_id_text(i) for i in ids]
        got = await self._c.script("claim", self._c.outbox_keys, args)
        out = []
        for raw in got:
            try:
                out.append(_parse_entry(raw))
            except OutboxError:
                continue  # load() sets it aside; never sent
        return out

    async def renew(self, owner: str, ids: Sequence[EntryId], lease_seconds: float, *,
                    now: float) -> list[EntryId]:
        check_claim(owner, lease_seconds)
        if not ids:
            return []
        kept = await self._c.script("renew", self._c.outbox_keys,
                                    [owner, _num(now + lease_seconds),
                                     *(_id_text(i) for i in ids)])
        return [tuple(json.loads(k)) for k in kept]

    async def release(self, owner: str, ids: Sequence[EntryId]) -> None:
        check_claim(owner, 1)
        if ids:
            await self._c.script("release", self._c.outbox_keys,
                                 [owner, *(_id_text(i) for i in ids)])

    async def aclose(self) -> None:
        """The store closes the connection."""

    def __repr__(self) -> str:
        return f"RedisClaimingOutbox({self._c.shown!r}, namespace={self._c.ns!r})"


class RedisStore:
    """A :class:`~alertkit.stores.base.StateStore` on a Redis server, shared by processes.

    - ``url``: ``redis://[:password@]host:port/db`` (the password never shows in
      ``repr`` or errors), or ``client``: a ``redis.asyncio.Redis`` to use (the
      caller closes it);
    - ``namespace``: the prefix of every key (several deployments on one server);
    - ``snapshot_key``: the Engine snapshot's key under the namespace; give each
      process evaluating its own rules its own.
    """

    def __init__(
        self,
        url: str = "redis://127.0.0.1:6379/0",
        *,
        namespace: str = "alertkit",
        snapshot_key: str = "snapshot",
        client: redis.asyncio.Redis | None = None,
    ) -> None:
        try:
            import redis.asyncio as aioredis
        except ImportError:  # pragma: no cover - the extra is installed in the test env
            raise StoreError("RedisStore needs the redis package: pip install "
                             "'alertkit[redis]'") from None
        if not isinstance(namespace, str) or not _NAMESPACE.match(namespace):
            raise StoreError(f"namespace {namespace!r} is not valid (1-100 of A-Z a-z 0-9 _ . : -)")
        if not isinstance(snapshot_key, str) or not _NAMESPACE.match(snapshot_key):
            raise StoreError(f"snapshot_key {snapshot_key!r} is not valid")
        if client is None:
            if not isinstance(url, str) or not url.startswith(("redis://", "rediss://",
                                                                "unix://")):
                shown = _redact(url) if isinstance(url, str) else repr(url)
                raise StoreError(f"url {shown!r} is not a redis:// rediss:// or unix:// URL")
            try:
                client = aioredis.Redis.from_url(url, decode_responses=False)
            except ValueError as exc:
                raise StoreError(f"url {_redact(url)!r} is not usable: "
                                 f"{_redact(str(exc))}") from None
            self._owns = True
            shown = _redact(url)
        else:
            self._owns = False
            shown = "<a given redis client>"
        self._c = _Conn(client, namespace, shown)
        self._snapshot_key = f"{namespace}:{snapshot_key}"
        self.namespace = namespace
        self.outbox = RedisClaimingOutbox(self._c)

    @property
    def client(self) -> redis.asyncio.Redis:
        return self._c.client

    async def load_snapshot(self) -> bytes | None:
        data = await self._c.call(lambda: self._c.client.get(self._snapshot_key))
        return None if data is None else bytes(data)

    async def save_snapshot(self, data: bytes) -> None:
        blob = check_snapshot(data)
        await self._c.call(lambda: self._c.client.set(self._snapshot_key, blob))

    def _rec_key(self, kind: str) -> str:
        return f"{self.namespace}:rec:{check_kind(kind)}"

    @staticmethod
    def _versioned(raw: bytes, what: str) -> Versioned:
        version, sep, text = raw.partition(b":")
        if not sep or not version.isdigit():
            raise StoreError(f"{what} is corrupt: no version")
        return Versioned(decode_doc(text, what), int(version))

    async def get_record(self, kind: str, key: str) -> Versioned | None:
        hkey = self._rec_key(kind)
        check_key(key)
        raw = await self._c.call(lambda: self._c.client.hget(hkey, key))
        return None if raw is None else self._versioned(raw, f"{kind} record {key!r}")

    async def put_record(self, kind: str, key: str, doc: dict[str, Any], *,
                         expected_version: int | None) -> int:
        hkey = self._rec_key(kind)
        check_key(key)
        expected = check_version(expected_version)
        text = encode_doc(doc)
        ok, version = await self._c.script("put", [hkey, self._gen_key(kind)],
                                           [key, str(expected or 0), text])
        if not ok:
            raise StoreConflictError(kind, key, expected, int(version) or None)
        return int(version)

    async def delete_record(self, kind: str, key: str) -> None:
        hkey = self._rec_key(kind)
        check_key(key)
        await self._c.script("delete", [hkey, self._gen_key(kind)], [key])

    def _gen_key(self, kind: str) -> str:
        return f"{self.namespace}:gen:{kind}"

    async def generation(self, kind: str) -> int:
        gkey = self._gen_key(check_kind(kind))
        value = await self._c.call(lambda: self._c.client.get(gkey))
        return 0 if value is None else int(value)

    async def records(self, kind: str) -> dict[str, Versioned]:
        hkey = self._rec_key(kind)
        raw: dict[bytes, bytes] = await self._c.call(
            lambda: self._c.client.hgetall(hkey))
        out = {}
        for field, value in raw.items():
            key = field.decode()
            out[key] = self._versioned(value, f"{kind} record {key!r}")
        return out

    async def append_audit(self, records: Sequence[dict[str, Any]]) -> list[int]:
        args: list[str] = []
        for doc in records:
            key, rule, _ = audit_fields(doc)
            args += [encode_doc(doc, "audit"), key or "", rule or ""]
        if not args:
            return []
        ns = self.namespace
        seqs = await self._c.script("audit", [f"{ns}:audit:seq", f"{ns}:audit",
                                              f"{ns}:audit:key:", f"{ns}:audit:rule:"], args)
        return [int(s) for s in seqs]

    async def audit(self, *, key: str | None = None, rule: str | None = None,
                    since: float | None = None, until: float | None = None,
                    after_seq: int | None = None, limit: int | None = None) -> list[dict[str, Any]]:
        check_audit_query(since, until, after_seq, limit)
        ns = self.namespace
        zkey = (f"{ns}:audit:key:{key}" if key is not None
                else f"{ns}:audit:rule:{rule}" if rule is not None else f"{ns}:audit")
        low = f"({after_seq}" if after_seq is not None else "-inf"
        out: list[dict[str, Any]] = []
        offset = 0
        while limit is None or len(out) < limit:
            page: list[bytes] = await self._c.call(
                partial(self._c.client.zrangebyscore, zkey, low, "+inf", start=offset,
                        num=_PAGE))
            for member in page:
                seq, _, text = member.partition(b":")
                doc = decode_doc(text, f"audit record {seq.decode()}")
                if audit_matches(doc, key, rule, since, until):
                    doc["seq"] = int(seq)
                    out.append(doc)
                    if limit is not None and len(out) >= limit:
                        break
            if len(page) < _PAGE:
                break
            offset += _PAGE
        return out

    async def aclose(self) -> None:
        if self._c.closed:
            return
        self._c.closed = True
        # Nothing connected on another backend: every call was refused.
        if self._owns and _on_asyncio():
            await self._c.client.aclose()

    async def __aenter__(self) -> RedisStore:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    def __repr__(self) -> str:
        return f"RedisStore({self._c.shown!r}, namespace={self.namespace!r})"
