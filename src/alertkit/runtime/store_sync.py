"""Keeping an Engine's state and its :class:`~alertkit.stores.base.StateStore` in step.

What is written, and when (the durability guarantee the docs promise):

- the Engine snapshot (evaluator timers such as ``for`` progress, dispatcher
  groups): at most every ``snapshot_interval`` when it changed, and at a clean
  stop. A killed process loses at most that interval of timer progress; alerts
  that fired in it fire again (same fingerprint) after the restart.
- silences: one versioned record each, written (compare-and-set) within
  moments of :meth:`~alertkit.Engine.silence` /
  :meth:`~alertkit.Engine.expire_silence` returning, or before
  :meth:`~alertkit.Engine.persist` returns;
- lifecycle records and audit records: written by the lifecycle commands
  before they return;
- deliveries: in the outbox before their first attempt (see the delivery worker).

What is read: everything at start; then every ``refresh_interval`` the
records changed by other processes sharing the store (silences, lifecycle
records), so that an acknowledgement or silence made in one process is
honoured by the others within that interval.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

import anyio

from alertkit._core.labels import Matcher
from alertkit._dispatch.dispatcher import Dispatcher
from alertkit._dispatch.silences import Silence
from alertkit._dispatch.state import DispatchState
from alertkit._errors import AlertkitError, StoreConflictError, StoreError
from alertkit.stores.base import GenerationStore, StateStore, Versioned

from .clock import Clock

__all__ = ["StoreSync", "silence_from_doc", "silence_to_doc"]

log = logging.getLogger("alertkit.store")

SILENCE = "silence"


def silence_to_doc(s: Silence) -> dict[str, Any]:
    return {"id": s.id, "matchers": [[m.name, m.op, m.value] for m in s.matchers],
            "starts_at": s.starts_at, "ends_at": s.ends_at, "created_by": s.created_by,
            "comment": s.comment, "updated_at": s.updated_at}


def silence_from_doc(doc: Mapping[str, Any]) -> Silence:
    """A silence from its stored document; :class:`~alertkit.StoreError` if malformed."""
    try:
        matchers = tuple(Matcher(n, o, v) for n, o, v in doc["matchers"])
        floats = {k: float(doc[k]) for k in ("starts_at", "ends_at", "updated_at")}
        if not isinstance(doc["id"], str) or not isinstance(doc["created_by"], str) or \
                not isinstance(doc["comment"], str) or not matchers:
            raise TypeError("id, created_by and comment must be text, matchers non-empty")
        return Silence(id=doc["id"], matchers=matchers, created_by=doc["created_by"],
                       comment=doc["comment"], **floats)
    except (KeyError, TypeError, ValueError, AlertkitError) as exc:
        raise StoreError(f"silence record {doc.get('id')!r} is malformed: "
                         f"{type(exc).__name__}: {exc}") from None


class StoreSync:
    """The Engine's side of its store: record versions, silence merging, snapshot pacing."""

    def __init__(self, store: StateStore, *, clock: Clock, snapshot_interval: float,
                 refresh_interval: float, owned: bool) -> None:
        self.store = store
        self.clock = clock
        self.snapshot_interval = snapshot_interval
        self.refresh_interval = refresh_interval
        self.owned = owned
        # (kind, key) -> the version this process last read or wrote
        self.versions: dict[tuple[str, str], int] = {}
        # Writes a failing store refused, retried by the Engine's store loop.
        self.unsaved_records: dict[tuple[str, str], dict[str, Any] | None] = {}
        self.unsaved_audit: list[dict[str, Any]] = []
        self._silences: dict[str, dict[str, Any]] = {}  # last doc known to be in the store
        self._saved_snapshot: bytes | None = None
        self._generations: dict[str, int] = {}  # kind -> the store's counter when last read
        self._lock = anyio.Lock()
        self.wake = anyio.Event()

    def poke(self) -> None:
        self.wake.set()

    # -- start ------------------------------------------------------------------------------

    async def load_records(self, kinds: tuple[str, ...]) -> dict[str, dict[str, Versioned]]:
        out = {}
        for kind in kinds:
            found = await self.store.records(kind)
            for key, rec in found.items():
                self.versions[(kind, key)] = rec.version
            out[kind] = found
        return out

    # -- silences ---------------------------------------------------------------------------

    async def sync_silences(self, dispatcher: Dispatcher, state: DispatchState,
                            now: float) -> bool:
        """Push this process's silence changes, pull the others'; True if ``state`` changed."""
        async with self._lock:
            changed = await self._pull(state, now)
            await self._push(state, now)
            if changed:
                state.silence_version += 1
            return changed

    async def _generation(self, kind: str) -> int | None:
        """The store's write counter of ``kind`` if it moved since our last complete read
        (or if the store keeps none: ``-1``); ``None`` if nothing was written since.

        Read before the records, and remembered (:meth:`_read`) only once they were all
        read: a write in between, or a failed read, is seen next time."""
        if not isinstance(self.store, GenerationStore):
            return -1
        gen = await self.store.generation(kind)
        return None if self._generations.get(kind) == gen else gen

    def _read(self, kind: str, gen: int) -> None:
        if gen != -1:
            self._generations[kind] = gen

    async def _pull(self, state: DispatchState, now: float) -> bool:
        changed = False
        gen = await self._generation(SILENCE)
        if gen is None:
            return False
        remote = await self.store.records(SILENCE)
        for sid, rec in remote.items():
            if self.versions.get((SILENCE, sid)) == rec.version:
                continue
            try:
                theirs = silence_from_doc(rec.doc)
            except StoreError as exc:
                log.error("%s (ignored)", exc)
                continue
            mine = state.silences.get(sid)
            known = self._silences.get(sid)
            if mine is not None and known is not None and silence_to_doc(mine) != known and \
                    mine.updated_at > theirs.updated_at:
                # Changed here and there: the later change wins; ours is pushed next.
                self.versions[(SILENCE, sid)] = rec.version
                self._silences[sid] = rec.doc
                continue
            state.silences[sid] = theirs
            self.versions[(SILENCE, sid)] = rec.version
            self._silences[sid] = silence_to_doc(theirs)
            changed = True
        for sid in [s for s in self._silences if s not in remote]:
            # Deleted elsewhere (expired and collected): forget it here too.
            del self._silences[sid]
            self.versions.pop((SILENCE, sid), None)
            if sid in state.silences and state.silences[sid].ends_at <= now:
                del state.silences[sid]
                changed = True
        self._read(SILENCE, gen)
        return changed

    async def _push(self, state: DispatchState, now: float) -> None:
        for sid, silence in list(state.silences.items()):
            doc = silence_to_doc(silence)
            if self._silences.get(sid) == doc:
                continue
            try:
                version = await self.store.put_record(
                    SILENCE, sid, doc, expected_version=self.versions.get((SILENCE, sid)))
            except StoreConflictError:
                continue  # written elsewhere since our pull: the next sync merges it
            self.versions[(SILENCE, sid)] = version
            self._silences[sid] = doc
        for sid in [s for s in self._silences if s not in state.silences]:
            # Collected here after its retention: drop it from the store too.
            await self.store.delete_record(SILENCE, sid)
            del self._silences[sid]
            self.versions.pop((SILENCE, sid), None)

    # -- lifecycle records ------------------------------------------------------------------

    async def changed_records(self, kinds: tuple[str, ...]) -> dict[str, dict[str, Versioned]]:
        """Records of ``kinds`` written by someone else since we last read or wrote them."""
        out: dict[str, dict[str, Versioned]] = {}
        for kind in kinds:
            gen = await self._generation(kind)
            if gen is None:
                continue
            for key, rec in (await self.store.records(kind)).items():
                if self.versions.get((kind, key)) != rec.version:
                    self.versions[(kind, key)] = rec.version
                    out.setdefault(kind, {})[key] = rec
            self._read(kind, gen)
        return out

    async def load_record(self, kind: str, key: str) -> dict[str, Any] | None:
        rec = await self.store.get_record(kind, key)
        if rec is None:
            self.versions.pop((kind, key), None)
            return None
        self.versions[(kind, key)] = rec.version
        return rec.doc

    async def persist_record(self, kind: str, key: str, doc: dict[str, Any] | None) -> None:
        if doc is None:
            await self.store.delete_record(kind, key)
            self.versions.pop((kind, key), None)
            return
        version = await self.store.put_record(kind, key, doc,
                                              expected_version=self.versions.get((kind, key)))
        self.versions[(kind, key)] = version

    # -- snapshot ---------------------------------------------------------------------------

    def saved(self, data: bytes) -> None:
        """``data`` is what the store holds (just loaded)."""
        self._saved_snapshot = data

    async def save_snapshot(self, data: bytes) -> bool:
        """Save unless unchanged since the last save; True if written."""
        if data == self._saved_snapshot:
            return False
        await self.store.save_snapshot(data)
        self._saved_snapshot = data
        return True

    async def sleep(self, seconds: float) -> None:
        """Sleep on the Engine's clock, or until :meth:`poke`."""
        wake = self.wake
        at = self.clock.now() + seconds
        async with anyio.create_task_group() as tg:
            async def timer() -> None:
                await self.clock.sleep_until(at)
                wake.set()

            tg.start_soon(timer)
            await wake.wait()
            tg.cancel_scope.cancel()
        self.wake = anyio.Event()

