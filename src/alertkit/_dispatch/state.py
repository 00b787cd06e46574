"""The dispatcher's state: plain, slotted, mutable records the caller holds.

:class:`DispatchState` is everything that changes: alerts, aggregation groups
and their timers, the notification log, silences, rate-limit buckets, held
(rate-limited) notifications and counters. ``Dispatcher.snapshot`` /
``Dispatcher.restore`` turn it into versioned JSON and back exactly.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from alertkit._core.labels import Labels
    from alertkit._core.model import Alert

    from .ratelimit import TokenBucket
    from .routes import CompiledRoute
    from .silences import Silence

__all__ = ["AlertRec", "DispatchState", "FlushRecord", "Group", "GroupId", "Hold", "LogEntry"]

SNAPSHOT_FORMAT = "alertkit.dispatch"
SNAPSHOT_VERSION = 1

GroupId = tuple[str, str]  # (receiver, group key): also the notification log's key
_NO_KEYS: dict[int, tuple[str | None, ...]] = {}  # shared, never mutated


class AlertRec:
    """One alert as the dispatcher knows it (shared by every group that holds it).

    ``ends_at`` is ``None`` while the alert fires with no known end; the alert is resolved
    at ``t`` when ``ends_at <= t``. ``version`` grows at every update, so a resolved alert
    is only dropped from a group if it did not change since it was notified.
    """

    __slots__ = ("alert", "ends_at", "fp", "groups", "labels", "ldict", "routing", "sil_matches",
                 "sil_version", "skey", "source_keys", "starts_at", "targets", "version")

    def __init__(self, alert: Alert, starts_at: float, ends_at: float | None) -> None:
        self.alert = alert
        self.fp = alert.fingerprint
        self.labels: Labels = alert.labels
        self.ldict: dict[str, str] = dict(alert.labels.items_tuple())
        self.starts_at = starts_at
        self.ends_at = ends_at
        self.version = 0
        self.groups = 0  # how many groups hold it; a resolved alert in none is forgotten
        # Cached, derived from the labels only: (route, group labels) per match,
        # the equal-label key per inhibition rule it is a source of, and the inhibition
        # rules it is a target of.
        self.routing: tuple[tuple[CompiledRoute, Labels], ...] = ()
        self.source_keys: dict[int, tuple[str | None, ...]] = _NO_KEYS  # shared until it has some
        self.targets: tuple[int, ...] = ()
        self.sil_version = -1
        self.sil_matches: tuple[Silence, ...] = ()
        self.skey: tuple[object, ...] | None = None  # (job, instance) sort key, made once

    def resolved(self, t: float) -> bool:
        ends = self.ends_at
        return ends is not None and ends <= t


class FlushRecord:
    """What one flush of a group decided, kept until its notification is settled.

    ``firing`` / ``resolved`` are the sets the notification log records on success
    (after silences and inhibition, before truncation); ``shown_*`` are the alerts the
    notification carries, in order; ``drop`` maps each resolved alert of the flush
    (muted ones too) to its end, to drop it from the group once delivered.
    """

    __slots__ = ("created_at", "drop", "firing", "resolved", "shown_firing", "shown_resolved",
                 "token", "truncated")

    def __init__(self, created_at: float, firing: frozenset[str], resolved: frozenset[str],
                 shown_firing: tuple[str, ...], shown_resolved: tuple[str, ...], truncated: int,
                 drop: dict[str, float]) -> None:
        self.created_at = created_at
        self.firing = firing
        self.resolved = resolved
        self.shown_firing = shown_firing
        self.shown_resolved = shown_resolved
        self.truncated = truncated
        self.drop = drop
        # (idempotency key, created_at) of the notification that carries it, once sent.
        self.token: tuple[str, float] | None = None


class Group:
    """One aggregation group: a route and the values of its ``group_by`` labels."""

    __slots__ = ("alerts", "has_flushed", "id", "labels", "muted_sig", "next_tick", "pending",
                 "route")

    def __init__(self, gid: GroupId, route: CompiledRoute, labels: Labels,
                 next_tick: float) -> None:
        self.id = gid
        self.route = route
        self.labels = labels
        self.alerts: dict[str, AlertRec] = {}
        self.next_tick = next_tick
        self.has_flushed = False
        self.pending: FlushRecord | None = None  # sent (or held), not settled yet
        # The content of the last flush that silences/inhibitions muted whole (counted once).
        self.muted_sig: tuple[frozenset[str], frozenset[str]] | None = None

    @property
    def key(self) -> str:
        return self.id[1]


class LogEntry:
    """The notification log's last successful notification of one (receiver, group)."""

    __slots__ = ("firing", "resolved", "sent_at", "tick")

    def __init__(self, firing: frozenset[str], resolved: frozenset[str], sent_at: float,
                 tick: float) -> None:
        self.firing = firing
        self.resolved = resolved
        self.sent_at = sent_at  # when it was delivered: the repeat clock starts here
        self.tick = tick  # the flush that made it


class Hold:
    """Rate-limited flushes of one (receiver, recipient), waiting to go out as one summary."""

    __slots__ = ("groups", "receiver", "recipient", "since")

    def __init__(self, receiver: str, recipient: tuple[str, ...], since: float) -> None:
        self.receiver = receiver
        self.recipient = recipient
        self.since = since
        self.groups: dict[GroupId, FlushRecord] = {}


class DispatchState:
    """Everything the dispatcher knows. Hold it, pass it back in, snapshot it.

    Made by :meth:`Dispatcher.new_state` or :meth:`Dispatcher.restore`; a state belongs to
    the dispatcher that made it.
    """

    __slots__ = ("alerts", "buckets", "cooldowns", "gc_at", "glookup", "groups", "heap", "holds",
                 "inhibit_index", "nflog", "now", "owner", "seq", "sil_index", "silence_version",
                 "silences", "stats")

    def __init__(self, owner: object, n_inhibit_rules: int) -> None:
        self.owner = owner
        self.now = -math.inf
        self.alerts: dict[str, AlertRec] = {}
        self.groups: dict[GroupId, Group] = {}
        # The same groups by (route index, group labels): found without building the key.
        self.glookup: dict[tuple[int, Labels], Group] = {}
        # (tick, group id): lazily cleaned; an entry is live only if it equals the group's
        # next_tick. Ordered by group id at equal times, so order survives a restore.
        self.heap: list[tuple[float, GroupId]] = []
        self.nflog: dict[GroupId, LogEntry] = {}
        self.silences: dict[str, Silence] = {}
        self.silence_version = 0
        # Derived, rebuilt when silence_version changes: silences by name and value of one
        # of their non-empty equality matchers, and those that have none (checked for all).
        self.sil_index: tuple[int, dict[str, dict[str, list[Silence]]], list[Silence]] = (
            -1, {}, [])
        self.seq = 0
        self.holds: dict[tuple[str, tuple[str, ...]], Hold] = {}
        self.buckets: dict[str, TokenBucket] = {}
        self.cooldowns: dict[tuple[str, str], float] = {}
        self.stats: dict[str, int] = {}
        self.gc_at = -math.inf
        # Per inhibition rule: equal-label key -> source alerts (firing or not) by fingerprint.
        self.inhibit_index: list[dict[tuple[str | None, ...], dict[str, AlertRec]]] = [
            {} for _ in range(n_inhibit_rules)
        ]

    def count(self, name: str, n: int = 1) -> None:
        self.stats[name] = self.stats.get(name, 0) + n

    def __repr__(self) -> str:
        return (f"<DispatchState now={self.now} alerts={len(self.alerts)} "
                f"groups={len(self.groups)} silences={len(self.silences)}>")
