"""Silences: label matchers plus a time window, as in Alertmanager.

A :class:`Silence` is a frozen value; the dispatcher state keeps them by id.
The rules for creating, updating and expiring follow Alertmanager's silence
store (``silence.go``):

- a start in the past becomes ``now``; the end must be after the start and not
  in the past;
- at least one matcher must not match the empty string (a silence must not
  match every alert by accident);
- an update keeps the id when only the comment, author or times change in a
  way Alertmanager allows in place (same matchers; a pending silence may move
  its start to the future; an active one may change its end, but not into the
  past); anything else expires the old silence and creates a new one;
- expiring an active silence sets its end to ``now``; a pending one ends and
  starts at ``now``; an expired one cannot be expired again.
"""

from __future__ import annotations

import enum
import hashlib
import uuid
from collections.abc import Mapping

import attrs

from alertkit._core.labels import Matcher

__all__ = ["Silence", "SilenceState", "derive_id"]


class SilenceState(enum.Enum):
    """Where a silence stands at a given moment."""

    PENDING = "pending"
    ACTIVE = "active"
    EXPIRED = "expired"

    def __str__(self) -> str:
        return self.value


@attrs.frozen(kw_only=True)
class Silence:
    """Mutes every alert that all ``matchers`` match, from ``starts_at`` until ``ends_at``.

    Times are epoch seconds; active means ``starts_at <= now < ends_at``. Silences are
    made by :meth:`Dispatcher.create_silence`, which validates them.
    """

    id: str
    matchers: tuple[Matcher, ...]
    starts_at: float
    ends_at: float
    created_by: str
    comment: str
    updated_at: float

    def state(self, now: float) -> SilenceState:
        """Pending before ``starts_at``, active until ``ends_at``, expired after."""
        if now < self.starts_at:
            return SilenceState.PENDING
        if now < self.ends_at:
            return SilenceState.ACTIVE
        return SilenceState.EXPIRED

    def is_active(self, now: float) -> bool:
        return self.starts_at <= now < self.ends_at

    def matches(self, labels: Mapping[str, str]) -> bool:
        """Whether the label set is covered (time is not considered)."""
        get = labels.get
        for m in self.matchers:  # noqa: SIM110 - a plain loop is faster than all(generator)
            if not m.matches(get(m.name, "")):
                return False
        return True


def derive_id(seq: int, *parts: object) -> str:
    """A UUID-4-shaped id derived from a counter and the silence's content.

    The core keeps no random source: the same state and the same calls give the same
    ids. Callers who want real random ids pass ``id=str(uuid.uuid4())``.
    """
    h = hashlib.blake2b(repr((seq, *parts)).encode(), digest_size=16)
    return str(uuid.UUID(bytes=h.digest(), version=4))
