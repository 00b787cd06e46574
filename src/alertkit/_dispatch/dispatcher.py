"""The dispatcher: alerts in, notifications due out (pure, sans-I/O).

The :class:`Dispatcher` holds compiled configuration only; everything that
changes lives in a :class:`DispatchState` the caller passes in. No clock, no
I/O: time is an argument. The runtime drives it:

1. feed it alerts: :meth:`Dispatcher.apply` (evaluator events) or
   :meth:`Dispatcher.ingest_alert` (raw alerts, e.g. from a webhook);
2. call :meth:`Dispatcher.advance` at :meth:`Dispatcher.next_wakeup` and
   deliver the notifications it returns;
3. report each one: :meth:`Dispatcher.delivered` or :meth:`Dispatcher.failed`.

The semantics are Alertmanager 0.25's (docs/explanation/pipeline.md).
"""

from __future__ import annotations

import heapq
import itertools
import json
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import attrs

from alertkit._core.labels import Labels, Matcher
from alertkit._core.model import Alert, AlertEvent, AlertState, EventKind, Severity
from alertkit._core.timeutil import DurationLike, TimeLike, parse_duration, to_timestamp
from alertkit._core.windows import _dec, _enc
from alertkit._errors import AlertkitError, ConfigError, SilenceError, SnapshotError

from .inhibition import InhibitRule
from .intervals import TimeInterval
from .matchers import MatchersLike, matches_all, to_matchers
from .notification import Notification, idempotency_key
from .ratelimit import RateLimit, TokenBucket
from .routes import CompiledRoute, ReceiverConfig, Route, compile_routes, format_labels
from .silences import Silence, SilenceState, derive_id
from .state import (
    SNAPSHOT_FORMAT,
    SNAPSHOT_VERSION,
    AlertRec,
    DispatchState,
    FlushRecord,
    Group,
    GroupId,
    Hold,
    LogEntry,
)

__all__ = ["AlertStatus", "Dispatcher"]

_FIRING = EventKind.FIRING
_RESOLVED = EventKind.RESOLVED
_GC_EVERY = 60.0  # seconds of state time between sweeps of old log entries and silences
_EMPTY: frozenset[str] = frozenset()


@attrs.frozen
class AlertStatus:
    """Where one alert stands in the dispatcher at a moment.

    ``state`` is ``"active"`` (will be notified), ``"suppressed"`` (muted by the silences in
    ``silenced_by`` or the firing alerts whose fingerprints are in ``inhibited_by``) or
    ``"resolved"``. ``receivers`` are the receivers its routes lead to, in routing order.
    """

    alert: Alert
    state: str
    silenced_by: tuple[str, ...]
    inhibited_by: tuple[str, ...]
    receivers: tuple[str, ...]
    starts_at: float
    ends_at: float | None


# -- ordering of alerts inside a notification (Alertmanager's AlertSlice.Less) -------------

def _am_cmp(a: AlertRec, b: AlertRec) -> int:
    """The reference comparison, a transcription of the Go code (tests check _sort_key)."""
    la, lb = a.ldict, b.ldict
    for key in ("job", "instance"):
        va, vb = la.get(key), lb.get(key)
        if va is None and vb is None:
            continue
        if va is None:
            return 1  # a missing job/instance sorts after a present one
        if vb is None:
            return -1
        if va != vb:
            return -1 if va < vb else 1
    # LabelSet.Before: fewer labels first, then the first differing name in the union
    # decides; the set that lacks that name comes first.
    if len(la) != len(lb):
        return -1 if len(la) < len(lb) else 1
    for name in sorted(la.keys() | lb.keys()):
        va, vb = la.get(name), lb.get(name)
        if va is None:
            return -1
        if vb is None:
            return 1
        if va != vb:
            return -1 if va < vb else 1
    return 0


# A key equivalent to _am_cmp, cached per alert: at the first differing label, a smaller
# *name* sorts later (the set lacking the other's name comes first), so names go in
# inverted: each character mirrored from the top of Unicode, then a terminator above all.
_INVERT = {c: chr(0x10FFFE - c) for c in range(128)}
_inverted: dict[tuple[str, ...], tuple[str, ...]] = {}  # label names -> inverted names


def _sort_key(rec: AlertRec) -> tuple[Any, ...]:
    """The full key: job, instance, then Alertmanager's LabelSet.Before order."""
    d = rec.ldict
    names = tuple(d)  # ldict is built from sorted items: names in order
    inv = _inverted.get(names)
    if inv is None:
        if len(_inverted) >= 4096:
            _inverted.clear()
        inv = _inverted[names] = tuple([n.translate(_INVERT) + "\U0010ffff" for n in names])
    flat: list[str] = []
    for pair in zip(inv, d.values(), strict=True):  # (inverted name, value), flattened
        flat.extend(pair)
    return (*_primary(rec), len(d), *flat)


def _primary(rec: AlertRec) -> tuple[Any, ...]:
    """job, then instance (missing ones last): decides almost every comparison."""
    key = rec.skey
    if key is None:
        d = rec.ldict
        job, inst = d.get("job"), d.get("instance")
        key = rec.skey = (job is None, job or "", inst is None, inst or "")
    return key


def _am_sort(recs: list[AlertRec]) -> None:
    """Sort in place as Alertmanager's AlertSlice; the full key only if job/instance tie."""
    recs.sort(key=_primary)
    for a, b in itertools.pairwise(recs):
        if a.skey == b.skey:
            recs.sort(key=_sort_key)
            return




class _Roles:
    """What labels decide, memoised per values of the labels that matchers name."""

    __slots__ = ("group_names", "nodes", "routings", "sources", "targets")

    def __init__(self, nodes: tuple[CompiledRoute, ...], sources: tuple[int, ...],
                 targets: tuple[int, ...]) -> None:
        self.nodes = nodes
        self.sources = sources  # inhibition rules the alert is a source of
        self.targets = targets  # ... and a target of
        # group_by values of all these routes -> the routing tuple (None: a route groups
        # by all labels, so every alert is its own case).
        self.group_names = tuple(sorted({n for node in nodes for n in node.group_by}))
        self.routings: dict[tuple[str | None, ...],
                            tuple[tuple[CompiledRoute, Labels], ...]] | None = (
            None if any(node.group_all for node in nodes) else {})


def _needs_update(entry: LogEntry | None, firing: frozenset[str], resolved: frozenset[str],
                  send_resolved: bool, repeat: float, now: float) -> bool:
    """Alertmanager's ``DedupStage.needsUpdate``, on the sets left after muting."""
    if entry is None:
        return bool(firing)
    if not firing <= entry.firing:
        return True
    if not firing:
        # "All resolved": sent whatever send_resolved says, so that the log forgets the
        # firing alerts; if the last notification had none, the receiver never knew them.
        return bool(entry.firing)
    if send_resolved and not resolved <= entry.resolved:
        return True
    return entry.sent_at < now - repeat


def _time(value: TimeLike, field: str, error: type[AlertkitError] | None = None) -> float:
    try:
        return to_timestamp(value, field=field)
    except AlertkitError as exc:
        if error is None:
            raise
        raise error(str(exc)) from None


class Dispatcher:
    """Routes, groups, deduplicates, silences, inhibits and rate-limits alerts.

    :param route: the root of the routing tree (must name a receiver, no matchers).
    :param receivers: one :class:`ReceiverConfig` per receiver name the tree uses.
    :param inhibit_rules: :class:`InhibitRule` values.
    :param time_intervals: :class:`TimeInterval` values that routes name; several with one
        name form one interval (any of them).
    :param cooldowns: rule name -> duration: after a notification to a receiver announced a
        newly firing alert of that rule, further newly firing alerts of the rule wait until
        the period has passed and go out at their group's first flush after it (they are
        deferred, never dropped; ``stats["cooldown_deferred"]`` counts them).
    :param resolve_timeout: for :meth:`ingest_alert` only: an alert given without an end
        resolves this long after it was last received (Alertmanager's ``resolve_timeout``);
        ``None`` (default) keeps it firing until told otherwise.
    :param retention: how long the notification log and expired silences are kept (120h).

    Every argument is validated here; problems raise :class:`~alertkit.ConfigError` naming
    the field (``route.routes[0].receiver: 'pager' is not a receiver``).

    The dispatcher object holds no state: call :meth:`new_state` and pass the state to
    every other method. Times are epoch seconds (or aware datetimes at the edge).

    Delivery contract: a notification returned by :meth:`advance` must be reported with
    :meth:`delivered` (the notification log is updated, its resolved alerts are dropped
    from the group) or :meth:`failed` (nothing is logged, as Alertmanager does on failure,
    so the group's next flush decides again and usually sends the then-current content).
    A notification still unsettled at its group's next flush is abandoned, as Alertmanager
    cancels a delivery that outlives its group interval: that flush decides afresh, with
    the same ``idempotency_key`` if the content did not change; reporting the abandoned one
    later is ignored (the method returns ``False``).
    """

    def __init__(
        self,
        route: Route,
        receivers: Iterable[ReceiverConfig],
        *,
        inhibit_rules: Iterable[InhibitRule] = (),
        time_intervals: Iterable[TimeInterval] = (),
        cooldowns: Mapping[str, DurationLike] | None = None,
        resolve_timeout: DurationLike | None = None,
        retention: DurationLike = "120h",
    ) -> None:
        recv: dict[str, ReceiverConfig] = {}
        for i, rc in enumerate(_iterable(receivers, "receivers")):
            if not isinstance(rc, ReceiverConfig):
                raise ConfigError(f"receivers[{i}]: {rc!r} is not a ReceiverConfig")
            if rc.name in recv:
                raise ConfigError(f"receivers[{i}]: two receivers are named {rc.name!r}")
            recv[rc.name] = rc
        intervals: dict[str, list[TimeInterval]] = {}
        for i, ti in enumerate(_iterable(time_intervals, "time_intervals")):
            if not isinstance(ti, TimeInterval):
                raise ConfigError(f"time_intervals[{i}]: {ti!r} is not a TimeInterval")
            intervals.setdefault(ti.name, []).append(ti)
        rules = tuple(_iterable(inhibit_rules, "inhibit_rules"))
        for i, rule in enumerate(rules):
            if not isinstance(rule, InhibitRule):
                raise ConfigError(f"inhibit_rules[{i}]: {rule!r} is not an InhibitRule")
        cool: dict[str, float] = {}
        if cooldowns is not None:
            if not isinstance(cooldowns, Mapping):
                raise ConfigError(f"cooldowns: {cooldowns!r} is not a mapping of rule -> duration")
            for name, period in cooldowns.items():
                if not isinstance(name, str) or not name:
                    raise ConfigError(f"cooldowns: {name!r} is not a rule name")
                cool[name] = _duration(period, f"cooldowns[{name!r}]", allow_zero=False)
        self.route = route
        self.receivers: Mapping[str, ReceiverConfig] = recv
        self.inhibit_rules = rules
        self.time_intervals: Mapping[str, tuple[TimeInterval, ...]] = {
            k: tuple(v) for k, v in intervals.items()}
        self.cooldowns: Mapping[str, float] = cool
        self.resolve_timeout = (None if resolve_timeout is None else
                                _duration(resolve_timeout, "resolve_timeout", allow_zero=False))
        self.retention = _duration(retention, "retention", allow_zero=False)
        self._nodes = compile_routes(route, recv, intervals)
        self._root = self._nodes[0]
        self._by_id = {n.id: n for n in self._nodes}
        # Routing and inhibition roles depend only on the labels that matchers name: memo
        # them by those labels' values (a pure cache, cleared when large).
        names = {m.name for n in self._nodes for m in n.matchers}
        names.update(m.name for r in rules for m in (*r.source_matchers, *r.target_matchers))
        self._prep_names = tuple(sorted(names))
        self._equal = [r.equal for r in rules]
        self._prep_cache: dict[tuple[str | None, ...], _Roles] = {}
        self._limited = {name for name, rc in recv.items()
                         if rc.rate_limit is not None or rc.recipient_rate_limit is not None}

    # -- state ---------------------------------------------------------------------------

    def new_state(self) -> DispatchState:
        """A fresh, empty state for this dispatcher."""
        return DispatchState(self, len(self.inhibit_rules))

    def _check(self, state: DispatchState) -> None:
        if state.owner is not self:
            raise AlertkitError("this DispatchState belongs to another Dispatcher; use the one "
                                "that made it (or restore a snapshot into this one)")

    # -- input ---------------------------------------------------------------------------

    def apply(self, state: DispatchState, event: AlertEvent) -> bool:
        """Take one evaluator event; True if it changed what the dispatcher knows.

        ``firing`` makes or refreshes an active alert (its start is the firing time),
        ``resolved`` resolves it; ``pending`` and ``cancelled`` are ignored (Alertmanager
        never sees them). The event's ``at`` is the time of arrival.
        """
        if state.owner is not self:
            self._check(state)
        if type(event) is not AlertEvent and not isinstance(event, AlertEvent):
            raise TypeError(f"{event!r} is not an AlertEvent")
        kind = event.kind
        alert = event.alert
        if kind is _FIRING:
            start = alert.fired_at if alert.fired_at is not None else event.at
            self._upsert(state, alert, start, None, event.at)
            return True
        if kind is _RESOLVED:
            start = alert.fired_at if alert.fired_at is not None else alert.active_at
            ends = alert.resolved_at if alert.resolved_at is not None else event.at
            self._upsert(state, alert, start, ends, event.at)
            return True
        return False

    def apply_all(self, state: DispatchState, events: Iterable[AlertEvent]) -> int:
        """:meth:`apply` each event in order; return how many were taken."""
        apply = self.apply
        return sum(1 for e in events if apply(state, e))

    def ingest_alert(self, state: DispatchState, alert: Alert, now: TimeLike, *,
                     ends_at: TimeLike | None = None) -> None:
        """Take a raw alert received at ``now`` (e.g. from an Alertmanager webhook).

        The alert is resolved at ``alert.resolved_at`` if set, else at ``ends_at`` if
        given (it fires until then, as Alertmanager's ``endsAt``), else
        ``resolve_timeout`` after ``now`` if the dispatcher has one; otherwise it fires
        until a later call resolves it. Its start is ``fired_at`` (or ``active_at``).
        """
        self._check(state)
        if not isinstance(alert, Alert):
            raise TypeError(f"{alert!r} is not an Alert")
        t = _time(now, "now")
        if alert.state is AlertState.PENDING:
            return
        ends: float | None
        if alert.resolved_at is not None:
            ends = alert.resolved_at
        elif ends_at is not None:
            ends = _time(ends_at, "ends_at")
        elif self.resolve_timeout is not None:
            ends = t + self.resolve_timeout
        else:
            ends = None
        start = alert.fired_at if alert.fired_at is not None else alert.active_at
        self._upsert(state, alert, start, ends, t)

    def _upsert(self, state: DispatchState, alert: Alert, starts_at: float,
                ends_at: float | None, now: float) -> None:
        starts_at, now = float(starts_at), float(now)
        if ends_at is not None:
            ends_at = float(ends_at)
        fp = alert.fingerprint
        rec = state.alerts.get(fp)
        if rec is None:
            rec = AlertRec(alert, starts_at, ends_at)
            self._prepare(state, rec)
            state.alerts[fp] = rec
        else:
            active_now = ends_at is None or ends_at > now
            if active_now and rec.resolved(now):
                rec.starts_at = starts_at  # fired again after it resolved: a new episode
            elif starts_at < rec.starts_at:
                rec.starts_at = starts_at  # overlapping updates keep the earliest start
            rec.alert = alert
            rec.ends_at = ends_at
            rec.version += 1
        if now > state.now:
            state.now = now
        glookup = state.glookup
        for node, glabels in rec.routing:
            g = glookup.get((node.index, glabels))
            if g is None:
                gid = (node.receiver, f"{node.id}:{format_labels(glabels)}")
                g = Group(gid, node, glabels, now + node.group_wait)
                state.groups[gid] = glookup[(node.index, glabels)] = g
                heapq.heappush(state.heap, (g.next_tick, gid))
            else:
                gid = g.id
            if fp not in g.alerts:
                g.alerts[fp] = rec
                rec.groups += 1
            # An alert whose wait is already over flushes a not-yet-flushed group at once
            # (Alertmanager's aggrGroup.insert).
            if (not g.has_flushed and rec.starts_at + node.group_wait < now
                    and g.next_tick > now):
                g.next_tick = now
                heapq.heappush(state.heap, (now, gid))

    def _prepare(self, state: DispatchState, rec: AlertRec) -> None:
        """Cache what depends on the labels only: routes, groups, inhibition roles."""
        ldict = rec.ldict
        key = tuple(map(ldict.get, self._prep_names))  # None for a missing label
        roles = self._prep_cache.get(key)
        if roles is None:
            matched: list[CompiledRoute] = []
            self._root.match(ldict, matched)
            rules = self.inhibit_rules
            roles = _Roles(
                tuple(matched),
                tuple([i for i, r in enumerate(rules) if matches_all(r.source_matchers, ldict)]),
                tuple([i for i, r in enumerate(rules) if matches_all(r.target_matchers, ldict)]))
            if len(self._prep_cache) >= 4096:
                self._prep_cache.clear()
            self._prep_cache[key] = roles
        labels = rec.labels
        routing = None
        if roles.routings is not None:  # no "..." route: the group_by values decide
            values = tuple(map(ldict.get, roles.group_names))
            routing = roles.routings.get(values)
        if routing is None:
            routing = tuple([(node, node.group_labels(labels, ldict)) for node in roles.nodes])
            if roles.routings is not None:
                if len(roles.routings) >= 4096:
                    roles.routings.clear()
                roles.routings[values] = routing
        rec.routing = routing
        sources, targets = roles.sources, roles.targets
        if sources:
            keys: dict[int, tuple[str | None, ...]] = {}
            for i in sources:
                eq = tuple(map(ldict.get, self._equal[i]))  # missing: None, equal to None
                keys[i] = eq
                state.inhibit_index[i].setdefault(eq, {})[rec.fp] = rec
            rec.source_keys = keys
        # Target roles are a shared tuple of rule indices; the equal-label key of a target
        # is computed only when the rule has sources at all (see _muted).
        rec.targets = targets

    def _forget(self, state: DispatchState, rec: AlertRec) -> None:
        if state.alerts.get(rec.fp) is rec:
            del state.alerts[rec.fp]
        for i, key in rec.source_keys.items():
            bucket = state.inhibit_index[i].get(key)
            if bucket is not None and bucket.get(rec.fp) is rec:
                del bucket[rec.fp]
                if not bucket:
                    del state.inhibit_index[i][key]

    # -- muting --------------------------------------------------------------------------

    def _silenced_by(self, state: DispatchState, rec: AlertRec, t: float) -> tuple[str, ...]:
        if not state.silences:
            return ()
        if rec.sil_version != state.silence_version:
            self._match_silences(state, rec)
        return tuple(sorted(s.id for s in rec.sil_matches if s.starts_at <= t < s.ends_at))

    def _match_silences(self, state: DispatchState, rec: AlertRec) -> None:
        """Cache the silences whose matchers cover the alert (at any time)."""
        version, by_eq, scan = state.sil_index
        if version != state.silence_version:
            by_eq, scan = {}, []
            for sil in state.silences.values():
                eq = next((m for m in sil.matchers if m.op == "=" and m.value), None)
                if eq is None:
                    scan.append(sil)
                else:
                    by_eq.setdefault(eq.name, {}).setdefault(eq.value, []).append(sil)
            state.sil_index = (state.silence_version, by_eq, scan)
        ldict = rec.ldict
        found = [s for s in scan if s.matches(ldict)] if scan else None
        for name, by_value in by_eq.items():
            value = ldict.get(name)
            candidates = by_value.get(value) if value is not None else None
            if candidates:
                for sil in candidates:
                    if sil.matches(ldict):
                        if found is None:
                            found = []
                        found.append(sil)
        rec.sil_matches = tuple(found) if found else ()
        rec.sil_version = state.silence_version

    def _inhibited_by(self, state: DispatchState, rec: AlertRec, t: float,
                      first: bool) -> list[str]:
        out: list[str] = []
        ldict = rec.ldict
        for i in rec.targets:
            index = state.inhibit_index[i]
            if not index:
                continue
            sources = index.get(tuple(map(ldict.get, self._equal[i])))
            if not sources:
                continue
            two_sided = i in rec.source_keys
            for src in sources.values():
                if src.resolved(t):
                    continue
                if two_sided and i in src.targets:
                    continue  # excludeTwoSidedMatch: only one-sided sources may mute it
                out.append(src.fp)
                if first:
                    return out
        return out

    def _muted(self, state: DispatchState, rec: AlertRec, t: float) -> bool:
        if state.silences:
            if rec.sil_version != state.silence_version:
                self._match_silences(state, rec)
            for s in rec.sil_matches:
                if s.starts_at <= t < s.ends_at:
                    return True
        if not rec.targets:
            return False
        ldict = rec.ldict
        for i in rec.targets:
            index = state.inhibit_index[i]
            if not index:
                continue
            sources = index.get(tuple(map(ldict.get, self._equal[i])))
            if not sources:
                continue
            two_sided = i in rec.source_keys
            for src in sources.values():
                ends = src.ends_at
                if (ends is None or ends > t) and not (two_sided and i in src.targets):
                    return True
        return False

    # -- time ----------------------------------------------------------------------------

    def next_wakeup(self, state: DispatchState) -> float | None:
        """When :meth:`advance` must be called next (None: nothing is scheduled).

        New input can only make it earlier; calling :meth:`advance` earlier or later is
        harmless (late calls flush at the time they are made, as Alertmanager's timers do).
        """
        self._check(state)
        heap, groups = state.heap, state.groups
        while heap:
            t, gid = heap[0]
            g = groups.get(gid)
            if g is not None and g.next_tick == t:
                break
            heapq.heappop(heap)  # stale: the group moved its tick or is gone
        best = heap[0][0] if heap else None
        for (receiver, _), hold in state.holds.items():
            if hold.groups:
                at = self._hold_ready_at(state, receiver, hold, state.now)
                if best is None or at < best:
                    best = at
        return best

    def advance(self, state: DispatchState, now: TimeLike) -> list[Notification]:
        """Flush every group due at ``now``; return the notifications to deliver, in order.

        Each due group decides as Alertmanager's pipeline does: drop alerts muted by time
        intervals, inhibition and silences; ask the notification log whether anything
        changed (or the repeat interval passed); cap to ``max_alerts``; apply rate limits
        (held notifications go out merged as one summary when the limit allows).
        """
        self._check(state)
        t = _time(now, "now")
        if t > state.now:
            state.now = t
        out: list[Notification] = []
        heap, groups = state.heap, state.groups
        while heap and heap[0][0] <= t:
            tick, gid = heapq.heappop(heap)
            g = groups.get(gid)
            if g is None or g.next_tick != tick:
                continue
            self._flush(state, g, t, out)
        if state.holds:
            self._release_holds(state, t, out)
        if t >= state.gc_at:
            self._gc(state, t)
            state.gc_at = t + _GC_EVERY
        return out

    def _flush(self, state: DispatchState, g: Group, t: float, out: list[Notification]) -> None:
        route = g.route
        was_held = g.pending is not None and self._abandon(state, g)
        if not g.alerts:
            del state.groups[g.id]  # empty groups live until their next tick, then go
            del state.glookup[(route.index, g.labels)]
            return
        g.has_flushed = True
        g.next_tick = t + route.group_interval
        heapq.heappush(state.heap, (g.next_tick, g.id))
        firing: list[AlertRec] = []
        resolved: list[AlertRec] = []
        for rec in g.alerts.values():
            ends = rec.ends_at
            if ends is not None and ends <= t:
                resolved.append(rec)
            else:
                firing.append(rec)
        drop = {rec.fp: rec.ends_at for rec in resolved if rec.ends_at is not None}
        # Time-muted, fully muted or unchanged flushes end "successfully" with nothing to
        # send: the log is not touched and the resolved alerts leave the group.
        if (route.mute and any(i.contains(t) for i in route.mute)) or (
                route.active and not any(i.contains(t) for i in route.active)):
            state.count("muted_by_time")
            self._drop_resolved(state, g, drop)
            return
        rc = self.receivers[route.receiver]
        entry = state.nflog.get(g.id)
        if state.silences or self.inhibit_rules:
            muted = self._muted
            all_f, all_r = firing, resolved
            firing = [r for r in firing if not muted(state, r, t)]
            resolved = [r for r in resolved if not muted(state, r, t)]
            if not firing and not resolved and (all_f or all_r):
                # A notification that silences or inhibitions stopped whole: counted once
                # per content, for the delivery stats' "dropped by silence".
                sig = (frozenset([r.fp for r in all_f]), frozenset([r.fp for r in all_r]))
                if g.muted_sig != sig and _needs_update(
                        entry, sig[0], sig[1], rc.send_resolved, route.repeat_interval, t):
                    g.muted_sig = sig
                    state.count("muted")
        if not firing and not resolved:
            self._drop_resolved(state, g, drop)
            return
        if self.cooldowns and firing:
            firing = self._cool(state, rc.name, entry, firing, t)
        fset = frozenset([r.fp for r in firing])
        rset = frozenset([r.fp for r in resolved])
        if not _needs_update(entry, fset, rset, rc.send_resolved, route.repeat_interval, t):
            self._drop_resolved(state, g, drop)
            return
        if not fset and not rc.send_resolved:
            # Alertmanager logs this "all resolved" flush without sending anything.
            state.nflog[g.id] = LogEntry(fset, rset, t, t)
            self._drop_resolved(state, g, drop)
            return
        shown = firing + resolved if rc.send_resolved else firing
        _am_sort(shown)
        truncated = 0
        if rc.max_alerts and len(shown) > rc.max_alerts:
            truncated = len(shown) - rc.max_alerts
            del shown[rc.max_alerts:]
        if resolved:
            shown_f = [r for r in shown if r.fp in fset]
            shown_r = [r for r in shown if r.fp in rset]
        else:
            shown_f, shown_r = shown, []
        record = FlushRecord(t, fset, rset, tuple([r.fp for r in shown_f]),
                             tuple([r.fp for r in shown_r]), truncated, drop)
        g.pending = record
        if route.receiver in self._limited:
            self._send_limited(state, g, rc, record, t, out, was_held)
        else:
            firing_view, resolved_view = self._firing_view, self._resolved_view
            views = (tuple([firing_view(r) for r in shown_f]),
                     tuple([resolved_view(r, drop[r.fp]) for r in shown_r]))
            out.append(self._notification(state, g, record, t, views))
            state.count("notifications")

    def _cool(self, state: DispatchState, receiver: str, entry: LogEntry | None,
              firing: list[AlertRec], t: float) -> list[AlertRec]:
        last = entry.firing if entry is not None else _EMPTY
        keep: list[AlertRec] = []
        started: set[str] = set()
        for rec in firing:
            rule = rec.alert.rule
            period = self.cooldowns.get(rule)
            if period is None or rec.fp in last or rule in started:
                keep.append(rec)
                continue
            since = state.cooldowns.get((receiver, rule))
            if since is not None and t < since + period:
                state.count("cooldown_deferred")
                continue
            started.add(rule)
            keep.append(rec)
        for rule in started:
            state.cooldowns[(receiver, rule)] = t
        return keep

    def _drop_resolved(self, state: DispatchState, g: Group, drop: Mapping[str, float]) -> None:
        """Drop resolved alerts unchanged since ``drop`` was taken (DeleteIfNotModified)."""
        alerts = g.alerts
        for fp, ends in drop.items():
            rec = alerts.get(fp)
            if rec is None or rec.ends_at != ends:
                continue
            del alerts[fp]
            rec.groups -= 1
            if rec.groups == 0:
                self._forget(state, rec)

    def _abandon(self, state: DispatchState, g: Group) -> bool:
        """Forget the group's unsettled flush; True if it was still held by a rate limit."""
        record = g.pending
        assert record is not None
        g.pending = None
        if record.token is not None:
            state.count("abandoned")
            return False
        for hold in state.holds.values():
            if hold.groups.get(g.id) is record:
                del hold.groups[g.id]
        return True

    # -- notifications -------------------------------------------------------------------

    def _firing_view(self, rec: AlertRec) -> Alert:
        a = rec.alert
        if a.state is AlertState.FIRING and a.resolved_at is None:
            return a
        return attrs.evolve(a, state=AlertState.FIRING, resolved_at=None)

    def _resolved_view(self, rec: AlertRec, ends: float) -> Alert:
        a = rec.alert
        if a.state is AlertState.INACTIVE and a.resolved_at == ends:
            return a
        return attrs.evolve(a, state=AlertState.INACTIVE, resolved_at=ends)

    def _views(self, state: DispatchState, record: FlushRecord
               ) -> tuple[tuple[Alert, ...], tuple[Alert, ...]]:
        alerts = state.alerts
        firing = tuple(self._firing_view(alerts[fp]) for fp in record.shown_firing
                       if fp in alerts)
        resolved = tuple(self._resolved_view(alerts[fp], record.drop[fp])
                         for fp in record.shown_resolved if fp in alerts)
        return firing, resolved

    def _notification(self, state: DispatchState, g: Group, record: FlushRecord, t: float,
                      views: tuple[tuple[Alert, ...], tuple[Alert, ...]] | None = None,
                      ) -> Notification:
        firing, resolved = self._views(state, record) if views is None else views
        key = idempotency_key(g.key, firing, resolved)
        record.token = (key, t)
        return Notification(receiver=g.route.receiver, group_key=g.key, group_labels=g.labels,
                            firing=firing, resolved=resolved, created_at=t,
                            idempotency_key=key, truncated=record.truncated)

    # -- rate limits ---------------------------------------------------------------------

    def _recipient(self, state: DispatchState, rc: ReceiverConfig,
                   record: FlushRecord) -> tuple[str, ...]:
        if not rc.recipient_by:
            return ()
        fps = record.shown_firing + record.shown_resolved
        common: dict[str, str] | None = None
        for fp in fps:
            rec = state.alerts.get(fp)
            if rec is None:
                continue
            if common is None:
                common = dict(rec.ldict)
            else:
                common = {k: v for k, v in common.items() if rec.ldict.get(k) == v}
        common = common or {}
        return tuple(common.get(n, "") for n in rc.recipient_by)

    def _limits(self, rc: ReceiverConfig, recipient: tuple[str, ...]
                ) -> list[tuple[str, RateLimit]]:
        limits = []
        if rc.rate_limit is not None:
            limits.append((f"receiver\x00{rc.name}", rc.rate_limit))
        if rc.recipient_rate_limit is not None:
            limits.append((f"recipient\x00{rc.name}\x00{json.dumps(recipient)}",
                           rc.recipient_rate_limit))
        return limits

    def _bucket(self, state: DispatchState, key: str, limit: RateLimit,
                t: float) -> TokenBucket:
        b = state.buckets.get(key)
        if b is None:
            b = state.buckets[key] = TokenBucket.full(limit, t)
        return b

    def _send_limited(self, state: DispatchState, g: Group, rc: ReceiverConfig,
                      record: FlushRecord, t: float, out: list[Notification],
                      was_held: bool) -> None:
        recipient = self._recipient(state, rc, record)
        hk = (rc.name, recipient)
        hold = state.holds.get(hk)
        if hold is None or not hold.groups:
            limits = self._limits(rc, recipient)
            buckets = [(self._bucket(state, k, lim, t), lim) for k, lim in limits]
            if all(b.ready(lim, t) for b, lim in buckets):
                for b, lim in buckets:
                    b.take(lim, t)
                out.append(self._notification(state, g, record, t))
                state.count("notifications")
                return
            if hold is None:
                hold = state.holds[hk] = Hold(rc.name, recipient, t)
            else:
                hold.since = t
        # Over the limit (or others already wait): wait in the hold, newest content per
        # group, to go out merged with the others as one summary.
        hold.groups[g.id] = record
        if not was_held:  # count each held notification once, not at every tick it waits
            state.count("rate_limited")

    def _hold_ready_at(self, state: DispatchState, receiver: str, hold: Hold,
                       now: float) -> float:
        rc = self.receivers[receiver]
        at = now
        for key, lim in self._limits(rc, hold.recipient):
            b = state.buckets.get(key)
            if b is not None:
                at = max(at, b.ready_at(lim, now))
        return at

    def _release_holds(self, state: DispatchState, t: float, out: list[Notification]) -> None:
        for hk in sorted(state.holds):
            hold = state.holds[hk]
            if not hold.groups:
                del state.holds[hk]
                continue
            rc = self.receivers[hold.receiver]
            limits = self._limits(rc, hold.recipient)
            buckets = [(self._bucket(state, k, lim, t), lim) for k, lim in limits]
            if not all(b.ready(lim, t) for b, lim in buckets):
                continue
            for b, lim in buckets:
                b.take(lim, t)
            del state.holds[hk]
            items = sorted(hold.groups.items())
            if len(items) == 1:
                gid, record = items[0]
                out.append(self._notification(state, state.groups[gid], record, t))
                state.count("notifications")
                continue
            out.append(self._summary(state, rc, hold, items, t))
            state.count("summaries")

    def _summary(self, state: DispatchState, rc: ReceiverConfig, hold: Hold,
                 items: list[tuple[GroupId, FlushRecord]], t: float) -> Notification:
        """Several held flushes of one receiver (and recipient) merged into one notification.

        Its group key is ``summary:<receiver>:<recipient labels>``; settling it settles
        every merged group, as if each had been sent on its own.
        """
        firing: dict[str, AlertRec] = {}
        resolved: dict[str, tuple[AlertRec, float]] = {}
        truncated = 0
        for _, record in items:
            truncated += record.truncated
            for fp in record.shown_firing:
                if fp in state.alerts:
                    firing.setdefault(fp, state.alerts[fp])
            for fp in record.shown_resolved:
                if fp in state.alerts and fp not in firing:
                    resolved.setdefault(fp, (state.alerts[fp], record.drop[fp]))
        shown = [*firing.values(), *(r for r, _ in resolved.values())]
        _am_sort(shown)
        if rc.max_alerts and len(shown) > rc.max_alerts:
            truncated += len(shown) - rc.max_alerts
            del shown[rc.max_alerts:]
        f = tuple(self._firing_view(r) for r in shown if r.fp in firing)
        r_ = tuple(self._resolved_view(r, resolved[r.fp][1]) for r in shown if r.fp in resolved)
        labels = Labels._trusted(tuple(sorted(
            (n, v) for n, v in zip(rc.recipient_by, hold.recipient, strict=True) if v)))
        group_key = f"summary:{rc.name}:{format_labels(labels)}"
        key = idempotency_key(group_key, f, r_)
        for _, record in items:
            record.token = (key, t)
        return Notification(receiver=rc.name, group_key=group_key, group_labels=labels,
                            firing=f, resolved=r_, created_at=t, idempotency_key=key,
                            truncated=truncated)

    # -- settling ------------------------------------------------------------------------

    def _pending_for(self, state: DispatchState, n: Notification) -> list[Group]:
        token = (n.idempotency_key, n.created_at)
        if n.group_key.startswith("summary:"):
            candidates = [g for g in state.groups.values()
                          if g.id[0] == n.receiver and g.pending is not None]
        else:
            g0 = state.groups.get((n.receiver, n.group_key))
            candidates = [g0] if g0 is not None else []
        return [g for g in candidates if g.pending is not None and g.pending.token == token]

    def delivered(self, state: DispatchState, notification: Notification,
                  at: TimeLike) -> bool:
        """The runtime delivered ``notification`` at ``at``: log it, drop its resolved alerts.

        The repeat interval counts from ``at``. Returns False (and changes nothing) if the
        notification is unknown or was abandoned at a later flush of its group.
        """
        self._check(state)
        t = _time(at, "at")
        groups = self._pending_for(state, notification)
        if not groups:
            state.count("stale_settlements")
            return False
        for g in groups:
            record = g.pending
            assert record is not None
            g.pending = None
            state.nflog[g.id] = LogEntry(record.firing, record.resolved,
                                         max(t, record.created_at), record.created_at)
            self._drop_resolved(state, g, record.drop)
        state.count("delivered")
        return True

    def failed(self, state: DispatchState, notification: Notification, at: TimeLike,
               reason: str = "") -> bool:
        """The runtime gave up on ``notification`` (a permanent failure, or retries exhausted).

        As in Alertmanager, nothing is logged and resolved alerts stay: the group's next
        flush decides again with the notification log as it was, so the content (updated)
        is sent again at the next group interval. Returns False if it was not pending.
        """
        self._check(state)
        _time(at, "at")
        groups = self._pending_for(state, notification)
        if not groups:
            state.count("stale_settlements")
            return False
        for g in groups:
            g.pending = None
        state.count("failed")
        return True

    # -- garbage collection --------------------------------------------------------------

    def _gc(self, state: DispatchState, t: float) -> None:
        horizon = t - self.retention
        for gid in [gid for gid, e in state.nflog.items() if e.sent_at < horizon]:
            del state.nflog[gid]
        old = [sid for sid, s in state.silences.items() if s.ends_at < horizon]
        for sid in old:
            del state.silences[sid]
        if old:
            state.silence_version += 1
        for ck in [k for k, since in state.cooldowns.items()
                   if t >= since + self.cooldowns.get(k[1], 0.0)]:
            del state.cooldowns[ck]
        held = {k for hold in state.holds.values() if hold.groups
                for k, _ in self._limits(self.receivers[hold.receiver], hold.recipient)}
        for key in [k for k, b in state.buckets.items() if k not in held
                    and b.level(self._limit_of(k), t) >= self._limit_of(k).capacity]:
            del state.buckets[key]  # a full bucket is the same as no bucket

    def _limit_of(self, key: str) -> RateLimit:
        kind, receiver, *_ = key.split("\x00")
        rc = self.receivers[receiver]
        limit = rc.rate_limit if kind == "receiver" else rc.recipient_rate_limit
        assert limit is not None
        return limit

    # -- silences ------------------------------------------------------------------------

    def create_silence(
        self,
        state: DispatchState,
        matchers: MatchersLike,
        *,
        ends_at: TimeLike,
        now: TimeLike,
        starts_at: TimeLike | None = None,
        created_by: str = "",
        comment: str = "",
        id: str | None = None,
    ) -> Silence:
        """Create a silence and return it (with its id).

        ``starts_at`` defaults to ``now`` (a start in the past becomes ``now``); ``ends_at``
        must be after the start. ``id`` may be given (e.g. ``str(uuid.uuid4())``); otherwise
        one is derived deterministically from the state. Raises
        :class:`~alertkit.SilenceError` for bad matchers, times or a taken id.
        """
        self._check(state)
        t = _time(now, "now", SilenceError)
        if id is not None and (not isinstance(id, str) or not id):
            raise SilenceError(f"id: {id!r} is not a silence id")
        if id is not None and id in state.silences:
            raise SilenceError(f"id: a silence {id!r} exists already (use update_silence)")
        s = self._validated(state, matchers, starts_at, ends_at, created_by, comment, t, id)
        state.silences[s.id] = s
        state.silence_version += 1
        return s

    def _validated(self, state: DispatchState, matchers: object, starts_at: TimeLike | None,
                   ends_at: TimeLike, created_by: object, comment: object, t: float,
                   sid: str | None) -> Silence:
        ms = to_matchers(matchers, field="silence.matchers", error=SilenceError)
        if not ms:
            raise SilenceError("silence.matchers: a silence needs at least one matcher")
        if all(m.matches("") for m in ms):
            raise SilenceError("silence.matchers: at least one matcher must not match the "
                               "empty string (this silence would match every alert)")
        start = t if starts_at is None else _time(starts_at, "starts_at", SilenceError)
        end = _time(ends_at, "ends_at", SilenceError)
        start = max(start, t)
        if end < t:
            raise SilenceError(f"silence.ends_at: {end!r} is in the past (now is {t!r})")
        if end <= start:
            raise SilenceError(f"silence.ends_at: {end!r} is not after starts_at {start!r}")
        if not isinstance(created_by, str):
            raise SilenceError(f"silence.created_by: {created_by!r} is not a string")
        if not isinstance(comment, str):
            raise SilenceError(f"silence.comment: {comment!r} is not a string")
        if sid is None:
            state.seq += 1
            sid = derive_id(state.seq, [str(m) for m in ms], start, end, created_by, comment, t)
        return Silence(id=sid, matchers=ms, starts_at=start, ends_at=end,
                       created_by=created_by, comment=comment, updated_at=t)

    def get_silence(self, state: DispatchState, silence_id: str) -> Silence:
        """The silence with this id (expired ones too, until the retention passes)."""
        self._check(state)
        try:
            return state.silences[silence_id]
        except (KeyError, TypeError):
            raise SilenceError(f"no silence with id {silence_id!r}") from None

    def update_silence(
        self,
        state: DispatchState,
        silence_id: str,
        *,
        now: TimeLike,
        matchers: MatchersLike | None = None,
        starts_at: TimeLike | None = None,
        ends_at: TimeLike | None = None,
        created_by: str | None = None,
        comment: str | None = None,
        new_id: str | None = None,
    ) -> Silence:
        """Change a silence as Alertmanager does; return the silence now in force.

        Fields left ``None`` keep their values. If Alertmanager would update in place (same
        matchers; a pending silence keeps a start not in the past; an active one keeps its
        start and an end not in the past) the id stays; otherwise the old silence is expired
        and a new one is created (id ``new_id`` or derived).
        """
        self._check(state)
        t = _time(now, "now", SilenceError)
        old = self.get_silence(state, silence_id)
        ms = old.matchers if matchers is None else to_matchers(
            matchers, field="silence.matchers", error=SilenceError)
        start: TimeLike = old.starts_at if starts_at is None else starts_at
        end: TimeLike = old.ends_at if ends_at is None else ends_at
        s_start = _time(start, "starts_at", SilenceError)
        s_end = _time(end, "ends_at", SilenceError)
        by = old.created_by if created_by is None else created_by
        text = old.comment if comment is None else comment
        st = old.state(t)
        in_place = ms == old.matchers and (
            (st is SilenceState.ACTIVE and s_start == old.starts_at and s_end >= t)
            or (st is SilenceState.PENDING and s_start >= t))
        if in_place:
            s = self._validated(state, ms, s_start, s_end, by, text, t, old.id)
            s = attrs.evolve(s, starts_at=s_start)  # an active silence keeps its past start
        else:
            if new_id is not None and new_id in state.silences:
                raise SilenceError(f"new_id: a silence {new_id!r} exists already")
            s = self._validated(state, ms, s_start, s_end, by, text, t, new_id)
            if st is not SilenceState.EXPIRED:
                state.silences[old.id] = self._expired(old, t)
        state.silences[s.id] = s
        state.silence_version += 1
        return s

    @staticmethod
    def _expired(s: Silence, t: float) -> Silence:
        if s.state(t) is SilenceState.PENDING:
            return attrs.evolve(s, starts_at=t, ends_at=t, updated_at=t)
        return attrs.evolve(s, ends_at=t, updated_at=t)

    def expire_silence(self, state: DispatchState, silence_id: str, now: TimeLike) -> Silence:
        """End a silence at ``now`` (a pending one never starts); return it."""
        self._check(state)
        t = _time(now, "now", SilenceError)
        old = self.get_silence(state, silence_id)
        if old.state(t) is SilenceState.EXPIRED:
            raise SilenceError(f"silence {silence_id!r} is already expired")
        s = state.silences[silence_id] = self._expired(old, t)
        state.silence_version += 1
        return s

    def silences(self, state: DispatchState, now: TimeLike, *,
                 status: SilenceState | str | None = None) -> list[Silence]:
        """Silences known at ``now`` (optionally only those in ``status``): active first,
        then pending, then expired; by start time, then id."""
        self._check(state)
        t = _time(now, "now", SilenceError)
        want = None
        if status is not None:
            try:
                want = SilenceState(status)
            except ValueError:
                raise SilenceError(f"status: {status!r} is not one of pending, active, "
                                   f"expired") from None
        rank = {SilenceState.ACTIVE: 0, SilenceState.PENDING: 1, SilenceState.EXPIRED: 2}
        found = [s for s in state.silences.values() if want is None or s.state(t) is want]
        return sorted(found, key=lambda s: (rank[s.state(t)], s.starts_at, s.id))

    # -- queries -------------------------------------------------------------------------

    def receivers_for(self, labels: Mapping[str, str]) -> list[str]:
        """The receivers an alert with these labels is routed to, in order (a routing test)."""
        matched: list[CompiledRoute] = []
        self._root.match(dict(Labels(labels).items_tuple()), matched)
        return [n.receiver for n in matched]

    def alert_status(self, state: DispatchState, fingerprint: str,
                     now: TimeLike) -> AlertStatus | None:
        """Status of one alert at ``now``, or None if the dispatcher does not know it."""
        self._check(state)
        t = _time(now, "now")
        rec = state.alerts.get(fingerprint)
        return None if rec is None else self._status(state, rec, t)

    def alerts(self, state: DispatchState, now: TimeLike) -> list[AlertStatus]:
        """Every alert the dispatcher holds, with its status at ``now``, by fingerprint."""
        self._check(state)
        t = _time(now, "now")
        return [self._status(state, state.alerts[fp], t) for fp in sorted(state.alerts)]

    def _status(self, state: DispatchState, rec: AlertRec, t: float) -> AlertStatus:
        silenced = self._silenced_by(state, rec, t)
        inhibited = tuple(sorted(set(self._inhibited_by(state, rec, t, False))))
        if rec.ends_at is not None and rec.ends_at <= t:
            status, view = "resolved", self._resolved_view(rec, rec.ends_at)
        else:
            status = "suppressed" if silenced or inhibited else "active"
            view = self._firing_view(rec)
        receivers = tuple(dict.fromkeys(node.receiver for node, _ in rec.routing))
        return AlertStatus(view, status, silenced, inhibited, receivers, rec.starts_at,
                           rec.ends_at)

    def stats(self, state: DispatchState) -> dict[str, int]:
        """Counters and sizes.

        ``notifications`` and ``summaries`` returned by :meth:`advance`; ``rate_limited``
        notifications held by a rate limit (each counted once); ``cooldown_deferred``
        alerts left out of a flush by a cooldown (at every flush that defers them);
        ``delivered``, ``failed``, ``abandoned`` (unsettled at the next tick) and
        ``stale_settlements`` (reports of unknown or abandoned notifications);
        ``muted_by_time`` flushes; ``muted`` notifications that silences or
        inhibitions stopped whole (once per content); plus the current ``alerts``,
        ``groups``, ``silences`` and ``held`` notifications.
        """
        self._check(state)
        out = dict(sorted(state.stats.items()))
        out.update(alerts=len(state.alerts), groups=len(state.groups),
                   silences=len(state.silences),
                   held=sum(len(h.groups) for h in state.holds.values()))
        return out

    # -- snapshots -----------------------------------------------------------------------

    def snapshot(self, state: DispatchState) -> bytes:
        """The state as versioned JSON bytes; :meth:`restore` gives it back exactly."""
        self._check(state)

        def record(r: FlushRecord | None) -> list[Any] | None:
            if r is None:
                return None
            return [r.created_at, sorted(r.firing), sorted(r.resolved), list(r.shown_firing),
                    list(r.shown_resolved), r.truncated, list(r.drop.items()),
                    None if r.token is None else list(r.token)]

        doc = {
            "format": SNAPSHOT_FORMAT,
            "version": SNAPSHOT_VERSION,
            "now": _enc(state.now),
            "gc_at": _enc(state.gc_at),
            "seq": state.seq,
            "alerts": [[_dump_alert(r.alert), r.starts_at, r.ends_at, r.version]
                       for r in state.alerts.values()],
            "groups": [[g.id[0], g.id[1], g.route.id, dict(g.labels), list(g.alerts),
                        g.next_tick, g.has_flushed, record(g.pending),
                        None if g.muted_sig is None
                        else [sorted(g.muted_sig[0]), sorted(g.muted_sig[1])]]
                       for g in state.groups.values()],
            "nflog": [[gid[0], gid[1], sorted(e.firing), sorted(e.resolved), e.sent_at, e.tick]
                      for gid, e in state.nflog.items()],
            "silences": [[s.id, [[m.name, m.op, m.value] for m in s.matchers], s.starts_at,
                          s.ends_at, s.created_by, s.comment, s.updated_at]
                         for s in state.silences.values()],
            "holds": [[h.receiver, list(h.recipient), h.since,
                       [list(gid) for gid in h.groups]] for h in state.holds.values()],
            "buckets": [[k, b.tokens, b.updated_at] for k, b in state.buckets.items()],
            "cooldowns": [[k[0], k[1], v] for k, v in state.cooldowns.items()],
            "stats": state.stats,
        }
        return json.dumps(doc, separators=(",", ":"), allow_nan=False).encode()

    def restore(self, data: bytes | str) -> DispatchState:
        """A state from :meth:`snapshot` output, for this dispatcher.

        With the same configuration the round trip is exact. With a changed one, groups
        whose route no longer exists are dropped and their active alerts are routed
        afresh (new groups wait ``group_wait`` again).
        """
        try:
            doc = json.loads(data)
            if not isinstance(doc, dict) or doc.get("format") != SNAPSHOT_FORMAT:
                raise SnapshotError("not an alertkit dispatcher snapshot")
            if doc.get("version") != SNAPSHOT_VERSION:
                raise SnapshotError(
                    f"dispatcher snapshot version {doc.get('version')!r} is not supported "
                    f"(this alertkit reads version {SNAPSHOT_VERSION})")
            return self._restore(doc)
        except SnapshotError:
            raise
        except (ValueError, TypeError, KeyError, IndexError, AttributeError,
                AlertkitError) as exc:
            raise SnapshotError(f"corrupt dispatcher snapshot: {type(exc).__name__}: {exc}"
                                ) from None

    def _restore(self, doc: dict[str, Any]) -> DispatchState:
        state = self.new_state()
        state.now = _dec(doc["now"])
        state.gc_at = _dec(doc["gc_at"])
        state.seq = int(doc["seq"])
        for alert, starts_at, ends_at, version in doc["alerts"]:
            a = _load_alert(alert)
            rec = AlertRec(a, float(starts_at), None if ends_at is None else float(ends_at))
            rec.version = int(version)
            self._prepare(state, rec)
            state.alerts[rec.fp] = rec

        def record(data: list[Any] | None) -> FlushRecord | None:
            if data is None:
                return None
            created, firing, resolved, shown_f, shown_r, truncated, drop, token = data
            r = FlushRecord(float(created), frozenset(firing), frozenset(resolved),
                            tuple(shown_f), tuple(shown_r), int(truncated),
                            {fp: float(e) for fp, e in drop})
            r.token = None if token is None else (str(token[0]), float(token[1]))
            return r

        for row in doc["groups"]:
            receiver, key, route_id, labels, fps, next_tick, has_flushed, pending = row[:8]
            muted = row[8] if len(row) > 8 else None  # absent from older snapshots
            node = self._by_id.get(route_id)
            if node is None or node.receiver != receiver:
                continue  # the route is gone: its alerts are routed afresh below
            gid = (receiver, key)
            g = Group(gid, node, Labels(labels), float(next_tick))
            g.has_flushed = bool(has_flushed)
            g.pending = record(pending)
            if muted is not None:
                g.muted_sig = (frozenset(muted[0]), frozenset(muted[1]))
            for fp in fps:
                rec = state.alerts[fp]
                g.alerts[fp] = rec
                rec.groups += 1
            state.groups[gid] = state.glookup[(node.index, g.labels)] = g
            heapq.heappush(state.heap, (g.next_tick, gid))
        for receiver, key, firing, resolved, sent_at, tick in doc["nflog"]:
            state.nflog[(receiver, key)] = LogEntry(frozenset(firing), frozenset(resolved),
                                                    float(sent_at), float(tick))
        for sid, ms, starts_at, ends_at, created_by, comment, updated_at in doc["silences"]:
            state.silences[sid] = Silence(
                id=sid, matchers=tuple(Matcher(n, o, v) for n, o, v in ms),
                starts_at=float(starts_at), ends_at=float(ends_at), created_by=created_by,
                comment=comment, updated_at=float(updated_at))
        for receiver, recipient, since, gids in doc["holds"]:
            if receiver not in self.receivers:
                continue
            hold = Hold(receiver, tuple(recipient), float(since))
            for r, k in gids:
                held = state.groups.get((r, k))
                if held is not None and held.pending is not None and held.pending.token is None:
                    hold.groups[held.id] = held.pending
            state.holds[(receiver, hold.recipient)] = hold
        for key, tokens, updated_at in doc["buckets"]:
            if key.split("\x00")[1] in self.receivers:
                state.buckets[key] = TokenBucket(float(tokens), float(updated_at))
        for receiver, rule, since in doc["cooldowns"]:
            state.cooldowns[(receiver, rule)] = float(since)
        state.stats = {str(k): int(v) for k, v in doc["stats"].items()}
        # Alerts no restored group holds: active ones are routed afresh (only after a
        # configuration change), resolved ones are forgotten.
        for rec in list(state.alerts.values()):
            missing = [node for node, glabels in rec.routing
                       if rec.fp not in getattr(state.glookup.get((node.index, glabels)),
                                                "alerts", ())]
            if not missing:
                continue
            if rec.resolved(state.now):
                if rec.groups == 0:
                    self._forget(state, rec)
                continue
            self._upsert(state, rec.alert, rec.starts_at, rec.ends_at, state.now)
        return state


def _iterable(value: object, field: str) -> Iterable[Any]:
    if isinstance(value, str | bytes) or not isinstance(value, Iterable):
        raise ConfigError(f"{field}: {value!r} is not a list")
    return value


def _duration(value: DurationLike, field: str, *, allow_zero: bool) -> float:
    try:
        return parse_duration(value, field=field, allow_zero=allow_zero)
    except ValueError as exc:
        raise ConfigError(str(exc)) from None


def _opt(t: float | None) -> float | None:
    return None if t is None else float(t)


def _dump_alert(a: Alert) -> list[Any]:
    # float() everywhere: callers may build alerts with int times, and a restored state
    # (floats) must snapshot to the same bytes.
    return [a.fingerprint, a.rule, dict(a.labels), dict(a.annotations), a.state.value,
            int(a.severity), _enc(float(a.value)), float(a.active_at), _opt(a.fired_at),
            _opt(a.resolved_at), a.no_data]


def _load_alert(data: Sequence[Any]) -> Alert:
    (fp, rule, labels, annotations, state, severity, value, active_at, fired_at, resolved_at,
     no_data) = data
    return Alert(
        fingerprint=str(fp), rule=str(rule), labels=Labels(labels),
        annotations={str(k): str(v) for k, v in annotations.items()},
        state=AlertState(state), severity=Severity(severity), value=_dec(value),
        active_at=float(active_at),
        fired_at=None if fired_at is None else float(fired_at),
        resolved_at=None if resolved_at is None else float(resolved_at),
        no_data=bool(no_data),
    )

