"""The evaluator: a pure state machine the caller drives (sans-I/O).

Samples and ticks go in, :class:`AlertEvent` values come out. The evaluator
object holds only the compiled rules; everything that changes lives in the
:class:`State` the caller passes in. The state machine follows Prometheus'
alerting rules (see docs/explanation/semantics.md).
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any

import attrs

from alertkit._errors import (
    AlertkitError,
    InvalidSampleError,
    OutOfOrderSampleError,
    RuleError,
    SnapshotError,
    TimeWentBackwardsError,
)

from .labels import Labels, Selector, check_metric_name
from .model import (
    Alert,
    AlertEvent,
    AlertState,
    EvalMode,
    EventKind,
    NoDataPolicy,
    Sample,
    check_value,
)
from .nodes import (
    NO_MATCH,
    CompileContext,
    CondNode,
    EvalContext,
    InstantNode,
    Result,
    ThresholdNode,
    Track,
)
from .rules import Rule
from .state import SNAPSHOT_FORMAT, SNAPSHOT_VERSION, AlertRec, RuleState, SeriesData, State
from .timeutil import DurationLike, TimeLike, parse_duration, to_timestamp
from .windows import _dec, _enc

__all__ = ["Evaluator", "IngestReport", "Rejection", "SeriesHandle"]

NO_EVENTS: tuple[AlertEvent, ...] = ()
_INF = math.inf
_NO_AUX: list[Any] = []  # shared by tracks of rules without per-track state; never mutated
_INACTIVE = AlertState.INACTIVE
_PENDING = AlertState.PENDING
_FIRING = AlertState.FIRING

# A series subscriber: (fn, track, arg), called as fn(track, arg, t, v, now).
Sub = tuple[Callable[..., Sequence[AlertEvent]], Track, Any]


@attrs.frozen
class Rejection:
    """A sample a batch did not take, and why."""

    index: int
    sample: object
    error: AlertkitError

    @property
    def reason(self) -> str:
        return str(self.error)


@attrs.frozen
class IngestReport:
    """What :meth:`Evaluator.ingest` did with a batch."""

    accepted: int
    rejected: tuple[Rejection, ...]
    events: tuple[AlertEvent, ...]

    @property
    def ok(self) -> bool:
        return not self.rejected


class _CompiledRule:
    """A rule compiled for one evaluator: nodes, inputs, and its transition function."""

    def __init__(self, rule: Rule, *, mode: EvalMode, stale_after: float, retention: float) -> None:
        self.rule = rule
        self.name = rule.name
        self.mode = rule.mode or mode
        self.push = self.mode is EvalMode.SAMPLE
        self.stale_after = rule.stale_after if rule.stale_after is not None else stale_after
        ctx = CompileContext(stale_after=self.stale_after, mode=self.mode)
        self.cond: CondNode = rule.condition._compile(ctx)
        self.recovery: CondNode | None = (
            rule.recovery._compile(ctx) if rule.recovery is not None else None
        )
        self.inputs: list[Selector] = ctx.inputs
        self.absents: list[Selector] = ctx.absents
        self.absent_windows = ctx.absent_windows
        self.slot_nodes = ctx.slot_nodes
        self.feeds_by_input = ctx.feeds_by_input
        self.input_reach = ctx.input_reach
        self.for_ = rule.for_
        self.keep = rule.keep_firing_for
        self.no_data = rule.no_data
        self.retention = retention
        self.severity = str(rule.severity)
        # Label sets of a rule that reads no series (absent only) are fixed.
        self.static_labels: Labels | None = None
        if not self.inputs:
            merged: dict[str, str] = {}
            for sel in self.absents:
                merged.update(sel.equality_labels())
            self.static_labels = Labels(merged)
        self.fast = (
            self.push
            and self.recovery is None
            and isinstance(self.cond, ThresholdNode)
            and isinstance(self.cond.source, InstantNode)
        )
        if self.fast:
            assert isinstance(self.cond, ThresholdNode)
            self.cmp = self.cond.cmp
            self.threshold = self.cond.threshold
        # Bound once: every subscriber of this rule shares these method objects.
        self.on_fast = self._on_fast
        self.on_push = self._on_push
        self.on_feed = self._on_feed
        self.signature = repr((rule.condition, rule.recovery, self.mode, self.stale_after))
        extra = dict(rule.labels)
        extra.setdefault("severity", self.severity)
        extra["alertname"] = rule.name
        self.extra_labels = extra

    def window_reach(self) -> dict[str, float]:
        """How long each metric's series must be kept after their last sample."""
        reach: dict[str, float] = {}
        pairs = [
            *zip(self.inputs, self.input_reach, strict=True),
            *zip(self.absents, self.absent_windows, strict=True),
        ]
        for sel, seconds in pairs:
            reach[sel.metric] = max(reach.get(sel.metric, 0.0), seconds)
        return reach

    def has_data(self, track: Track, now: float) -> bool:
        """Whether any input series of the track still has a sample within its reach."""
        for series, reach in zip(track.inputs, self.input_reach, strict=True):
            if series is not None and series.last_t >= now - reach:
                return True
        return not self.inputs  # a rule that reads no series (absence only) always has data

    # -- tracks ------------------------------------------------------------------------

    def new_track(self, labels: Labels) -> Track:
        aux = [n.new_aux() for n in self.slot_nodes] if self.slot_nodes else _NO_AUX
        return Track(labels, len(self.inputs), aux)

    def identity(self, track: Track) -> tuple[Labels, str]:
        ident = track.identity
        if ident is None:
            labels = track.labels.merge(self.extra_labels)
            ident = track.identity = (labels, labels.fingerprint)
        return ident

    def make_sub(self, track: Track, indexes: list[int], ctx: EvalContext) -> Sub | None:
        """What a new sample of a series read by ``indexes`` of this track must run.

        A subscriber is ``(fn, track, arg)``, called as ``fn(track, arg, t, v, now)``;
        ``fn`` is one bound method per rule, so a series costs a tuple, not a closure.
        """
        feeds = [(n.feed, n.slot) for i in indexes for n in self.feeds_by_input.get(i, ())]
        if self.fast:
            return (self.on_fast, track, None)
        if self.push:
            return (self.on_push, track, (feeds, indexes[0], ctx))
        if feeds:
            return (self.on_feed, track, feeds)
        return None

    def _on_fast(
        self, track: Track, arg: object, t: float, v: float, now: float
    ) -> Sequence[AlertEvent]:
        # The hot path of the most common rule (instant value vs threshold, evaluated at
        # every sample): no allocation and one call, the comparison, unless the alert's
        # state changes.
        if t is not now and now - t > self.stale_after:  # a late sample, already stale
            return self.step(track, now, None, -1, None)
        a = track.alert
        if self.cmp(v, self.threshold):
            if a is not None and a.state is _FIRING and a.keep_since is None and not a.no_data:
                a.value = v
                return NO_EVENTS
            return self.step(track, now, v, -1, None)
        if a is None or a.state is _INACTIVE:
            return NO_EVENTS
        return self.step(track, now, NO_MATCH, -1, None)

    def _on_push(
        self,
        track: Track,
        arg: tuple[list[tuple[Any, int]], int, EvalContext],
        t: float,
        v: float,
        now: float,
    ) -> Sequence[AlertEvent]:
        feeds, trigger, ctx = arg
        aux = track.aux
        for feed, slot in feeds:
            feed(aux[slot], t, v)
        return self.step(track, now, self.cond.eval(track, now, trigger, ctx), trigger, ctx)

    def _on_feed(
        self, track: Track, feeds: list[tuple[Any, int]], t: float, v: float, now: float
    ) -> Sequence[AlertEvent]:
        aux = track.aux
        for feed, slot in feeds:
            feed(aux[slot], t, v)
        return NO_EVENTS

    # -- the state machine ---------------------------------------------------------------

    def step(
        self, track: Track, now: float, r: Result, trigger: int, ctx: EvalContext | None
    ) -> Sequence[AlertEvent]:
        """Apply one evaluation outcome to the track's alert; return the events."""
        a = track.alert
        no_data = False
        if (r is None or r is NO_MATCH) and (a is None or a.state is _INACTIVE) \
                and self.no_data is not NoDataPolicy.ALERT:
            return NO_EVENTS  # the common case: nothing holds, nothing to end
        # A match on real data is never "no data"; anything else (no output, no match,
        # a NaN, e.g. from `not` over a vanished series) may be, when no input is fresh.
        if (r is None or r is NO_MATCH or r != r) and not self.has_data(track, now):
            policy = self.no_data
            if policy is NoDataPolicy.KEEP:
                return NO_EVENTS
            if policy is NoDataPolicy.ALERT:
                r, no_data = math.nan, True
            else:
                r = NO_MATCH
        elif r is None:
            r = NO_MATCH  # no output (too few samples, warming up): does not hold
        if r is not NO_MATCH:
            assert isinstance(r, float)
            if a is None or a.state is _INACTIVE:
                a = track.alert = AlertRec(_PENDING, now, r)
                a.no_data = no_data
                if self.for_ <= 0:  # for: 0 fires at once; no pending state is visible
                    a.state, a.fired_at = _FIRING, now
                    return [self.event(EventKind.FIRING, track, a, now)]
                return [self.event(EventKind.PENDING, track, a, now)]
            a.value, a.no_data, a.keep_since = r, no_data, None
            if a.state is _PENDING and now - a.active_at >= self.for_:
                a.state, a.fired_at = _FIRING, now
                return [self.event(EventKind.FIRING, track, a, now)]
            return NO_EVENTS
        if a is None or a.state is _INACTIVE:
            return NO_EVENTS
        if a.state is _PENDING:  # no grace: a pending alert is dropped at once
            track.alert = None
            return [self.event(EventKind.CANCELLED, track, a, now)]
        if self.recovery is not None and not no_data:
            assert ctx is not None  # only the fast path passes None, and it has no recovery
            recovered = self.recovery.eval(track, now, trigger, ctx)
            if recovered is NO_MATCH:  # between the two thresholds: still firing
                a.keep_since = None
                return NO_EVENTS
        if self.keep > 0:
            if a.keep_since is None:
                a.keep_since = now
            if now - a.keep_since < self.keep:  # value and annotations stay frozen
                return NO_EVENTS
        a.state, a.resolved_at, a.keep_since = _INACTIVE, now, None
        return [self.event(EventKind.RESOLVED, track, a, now)]

    def event(self, kind: EventKind, track: Track, a: AlertRec, now: float) -> AlertEvent:
        alert, errors = self.snapshot(track, a)
        return AlertEvent(kind, alert, now, errors)

    def snapshot(self, track: Track, a: AlertRec) -> tuple[Alert, tuple[str, ...]]:
        labels, fingerprint = self.identity(track)
        annotations, errors = self.rule.templates.render(
            labels, a.value, rule=self.name, severity=self.severity
        )
        alert = Alert(
            fingerprint=fingerprint,
            rule=self.name,
            labels=labels,
            annotations=annotations,
            state=a.state,
            severity=self.rule.severity,
            value=a.value,
            active_at=a.active_at,
            fired_at=a.fired_at,
            resolved_at=a.resolved_at,
            no_data=a.no_data,
        )
        return alert, errors


class SeriesHandle:
    """A series bound once for fast repeated observation.

    Like prometheus_client's ``labels()`` children: the label set is
    validated and hashed once, not per sample. Get one with
    :meth:`Evaluator.handle`.
    """

    __slots__ = ("_arg", "_evaluator", "_fn", "_series", "_state", "_track")

    _fn: Callable[..., Sequence[AlertEvent]] | None
    _series: SeriesData

    def __init__(self, evaluator: Evaluator, state: State, series: SeriesData) -> None:
        self._evaluator = evaluator
        self._state = state
        self._bind(series)

    def _bind(self, series: SeriesData) -> None:
        self._series = series
        # A series' subscribers are fixed when it is created: the common case of
        # exactly one is unpacked here, so observing touches as few objects as possible.
        if len(series.subs) == 1:
            self._fn, self._track, self._arg = series.subs[0]
        else:
            self._fn = None

    @property
    def metric(self) -> str:
        return self._series.metric

    @property
    def labels(self) -> Labels:
        return self._series.labels

    def observe(self, value: float, timestamp: TimeLike) -> Sequence[AlertEvent]:
        """Record ``value`` at ``timestamp``; return the events it caused (often none)."""
        if value.__class__ is not float:
            value = check_value(value)
        if timestamp.__class__ is not float:
            timestamp = to_timestamp(timestamp)
        s = self._series
        # One chained comparison rejects out-of-order, duplicate, NaN and infinite times
        # (and a collected series, whose last_t is +inf).
        if not (s.last_t < timestamp < _INF):
            s = self._slow_checks(timestamp)
        s.last_t = timestamp
        s.last_v = value
        state = self._state
        if timestamp >= state.now:
            state.now = now = timestamp
        else:
            now = state.now
        fn = self._fn
        if fn is not None:
            return fn(self._track, self._arg, timestamp, value, now)
        out: Sequence[AlertEvent] = NO_EVENTS
        for fn, track, arg in s.subs:
            events = fn(track, arg, timestamp, value, now)
            if events:
                out = events if not out else [*out, *events]
        return out

    def _slow_checks(self, timestamp: float) -> SeriesData:
        s = self._series
        if not s.alive:  # collected while idle: attach a fresh series in its place
            self._bind(self._evaluator._series(self._state, s.metric, s.labels))
            s = self._series
        _check_order(s, timestamp)
        return s


def _check_order(s: SeriesData, t: float) -> None:
    if not (-math.inf < t < math.inf):
        raise InvalidSampleError(f"{s.metric}{s.labels}: timestamp {t!r} is not finite")
    if t <= s.last_t:
        what = "duplicate" if t == s.last_t else "out-of-order"
        raise OutOfOrderSampleError(
            f"{s.metric}{s.labels}: {what} sample at {t!r}, the "
            f"series' last sample is at {s.last_t!r}"
        )


class Evaluator:
    """Evaluates rules over samples and time; holds no state of its own.

    >>> ev = Evaluator([Rule(name="Hot", condition=Threshold("temp", ">", 30))])
    >>> state = ev.new_state()
    >>> [str(e.kind) for e in ev.observe(state, "temp", 31.5, 1000.0, {"room": "a"})]
    ['firing']

    ``mode`` is the default evaluation mode of rules that do not set one;
    ``stale_after`` (default 5m) is how long a series' last sample still
    counts; resolved alerts stay visible for ``resolved_retention`` (15m).
    """

    def __init__(
        self,
        rules: Iterable[Rule],
        *,
        mode: EvalMode | str = EvalMode.SAMPLE,
        stale_after: DurationLike = "5m",
        resolved_retention: DurationLike = "15m",
    ) -> None:
        rules = tuple(rules)
        names: set[str] = set()
        for rule in rules:
            if not isinstance(rule, Rule):
                raise RuleError(f"{rule!r} is not a Rule")
            if rule.name in names:
                raise RuleError(f"two rules are named {rule.name!r}")
            names.add(rule.name)
        try:
            self.mode = EvalMode(mode)
        except ValueError:
            raise RuleError(f"mode {mode!r} is not one of sample, tick") from None
        self.stale_after = parse_duration(stale_after, field="stale_after", allow_zero=False)
        self.resolved_retention = parse_duration(resolved_retention, field="resolved_retention")
        self.rules = rules
        self._compiled = [
            _CompiledRule(
                r, mode=self.mode, stale_after=self.stale_after, retention=self.resolved_retention
            )
            for r in rules
        ]
        self._by_name = {c.name: c for c in self._compiled}
        self._readers: dict[str, list[tuple[_CompiledRule, list[int]]]] = {}
        self._absent_readers: dict[str, list[tuple[_CompiledRule, int]]] = {}
        self._reach: dict[str, float] = {}
        for c in self._compiled:
            by_metric: dict[str, list[int]] = {}
            for i, sel in enumerate(c.inputs):
                by_metric.setdefault(sel.metric, []).append(i)
            for metric, idxs in by_metric.items():
                self._readers.setdefault(metric, []).append((c, idxs))
            for i, sel in enumerate(c.absents):
                self._absent_readers.setdefault(sel.metric, []).append((c, i))
            for metric, reach in c.window_reach().items():
                self._reach[metric] = max(self._reach.get(metric, 0.0), reach)

    # -- state ---------------------------------------------------------------------------

    def new_state(self) -> State:
        """A fresh, empty state for these rules."""
        state = State(self)
        for c in self._compiled:
            rs = state.rules[c.name] = RuleState(len(c.absents))
            if c.static_labels is not None:
                rs.tracks[c.static_labels] = c.new_track(c.static_labels)
        return state

    def _check_state(self, state: State) -> None:
        if state.owner is not self:
            raise AlertkitError(
                "this state belongs to another Evaluator; use the one that "
                "made it (or restore a snapshot into this one)"
            )

    def _series(self, state: State, metric: str, labels: Labels) -> SeriesData:
        by_labels = state.series.get(metric)
        if by_labels is None:
            by_labels = state.series[metric] = {}
        s = by_labels.get(labels)
        if s is None:
            s = by_labels[labels] = SeriesData(metric, labels)
            self._link(state, s)
        return s

    def _link(self, state: State, s: SeriesData) -> None:
        for c, idxs in self._readers.get(s.metric, ()):
            matching = [i for i in idxs if c.inputs[i].matches(s.labels)]
            if not matching:
                continue
            rs = state.rules[c.name]
            track = rs.tracks.get(s.labels)
            if track is None:
                track = rs.tracks[s.labels] = c.new_track(s.labels)
            for i in matching:
                track.inputs[i] = s
            sub = c.make_sub(track, matching, rs.ctx)
            if sub is not None:
                s.subs.append(sub)
        for c, i in self._absent_readers.get(s.metric, ()):
            if c.absents[i].matches(s.labels):
                state.rules[c.name].absent_series[i].append(s)

    # -- input ---------------------------------------------------------------------------

    def handle(
        self, state: State, metric: str, labels: Mapping[str, str] | None = None
    ) -> SeriesHandle:
        """A pre-bound handle for one series (validated and hashed once)."""
        self._check_state(state)
        check_metric_name(metric)
        return SeriesHandle(self, state, self._series(state, metric, _labels(labels)))

    def observe(
        self,
        state: State,
        metric: str,
        value: float,
        timestamp: TimeLike,
        labels: Mapping[str, str] | None = None,
    ) -> Sequence[AlertEvent]:
        """Record one sample; raise on bad input; return the events it caused."""
        self._check_state(state)
        check_metric_name(metric)
        v = check_value(value)
        t = to_timestamp(timestamp)
        s = self._series(state, metric, _labels(labels))
        return SeriesHandle(self, state, s).observe(v, t)

    def observe_sample(self, state: State, sample: Sample) -> Sequence[AlertEvent]:
        return self.observe(state, sample.metric, sample.value, sample.timestamp, sample.labels)

    def ingest(self, state: State, samples: Iterable[Sample | tuple[Any, ...]]) -> IngestReport:
        """Record a batch. Bad samples are counted as rejections, never raised or lost.

        Items are :class:`Sample` values or ``(metric, value, timestamp[, labels])``
        tuples. Every good sample is applied, in order, even after a bad one.
        """
        self._check_state(state)
        events: list[AlertEvent] = []
        rejected: list[Rejection] = []
        accepted = 0
        for index, item in enumerate(samples):
            try:
                sample = item if isinstance(item, Sample) else Sample(*item)
                caused = self.observe_sample(state, sample)
            except AlertkitError as exc:
                rejected.append(Rejection(index, item, exc))
                continue
            except TypeError as exc:
                rejected.append(
                    Rejection(
                        index,
                        item,
                        InvalidSampleError(
                            f"sample {index}: {item!r} is not a Sample or (metric, value, timestamp"
                            f"[, labels]) tuple: {exc}"
                        ),
                    )
                )
                continue
            accepted += 1
            events.extend(caused)
        return IngestReport(accepted, tuple(rejected), tuple(events))

    # -- time ----------------------------------------------------------------------------

    def tick(self, state: State, now: TimeLike) -> Sequence[AlertEvent]:
        """Evaluate every rule for every label set at ``now``; let time-based changes happen.

        ``for``, ``keep_firing_for``, staleness, absence and windows progress
        through ticks when no sample arrives. ``now`` may not be older than
        the newest sample or tick already seen.
        """
        self._check_state(state)
        t = to_timestamp(now, field="now")
        if t < state.now:
            raise TimeWentBackwardsError(
                f"tick at {t!r} is older than data already seen (at {state.now!r})"
            )
        state.now = t
        events: list[AlertEvent] = []
        for c in self._compiled:
            rs = state.rules[c.name]
            ctx = rs.ctx
            cond, step = c.cond, c.step
            retention = c.retention
            for track in list(rs.tracks.values()):
                caused = step(track, t, cond.eval(track, t, -1, ctx), -1, ctx)
                if caused:
                    events.extend(caused)
                a = track.alert
                if a is not None and a.state is _INACTIVE and t - a.resolved_at > retention:  # type: ignore[operator]
                    track.alert = None
                    if c.inputs and not any(track.inputs):
                        del rs.tracks[track.labels]
        self._collect(state, t)
        return events

    def _collect(self, state: State, now: float) -> None:
        """Forget series nobody can read any more, and tracks with nothing left."""
        for metric, by_labels in state.series.items():
            lo = now - self._reach.get(metric, self.stale_after)
            dead = [s for s in by_labels.values() if s.last_t < lo]
            for s in dead:
                del by_labels[s.labels]
                s.alive = False
                s.last_t = math.inf  # makes handles take their slow path and re-attach
                for c, idxs in self._readers.get(metric, ()):
                    rs = state.rules[c.name]
                    track = rs.tracks.get(s.labels)
                    if track is None:
                        continue
                    for i in idxs:
                        if track.inputs[i] is s:
                            track.inputs[i] = None
                    if track.alert is None and not any(track.inputs):
                        del rs.tracks[s.labels]
                for c, i in self._absent_readers.get(metric, ()):
                    series = state.rules[c.name].absent_series[i]
                    if s in series:
                        series.remove(s)

    # -- queries -------------------------------------------------------------------------

    def alerts(self, state: State, *, include_resolved: bool = False) -> list[Alert]:
        """The current alerts (pending and firing; resolved ones still retained if asked)."""
        self._check_state(state)
        out = []
        for c in self._compiled:
            for track in state.rules[c.name].tracks.values():
                a = track.alert
                if a is not None and (include_resolved or a.state is not _INACTIVE):
                    out.append(c.snapshot(track, a)[0])
        return out

    # -- snapshots -----------------------------------------------------------------------

    def snapshot(self, state: State) -> bytes:
        """The state as versioned JSON bytes; :meth:`restore` gives it back exactly."""
        self._check_state(state)
        rules: dict[str, Any] = {}
        for c in self._compiled:
            tracks = []
            for track in state.rules[c.name].tracks.values():
                aux = [node.dump_aux(track.aux[i]) for i, node in enumerate(c.slot_nodes)]
                tracks.append([dict(track.labels), _dump_alert(track.alert), aux])
            rules[c.name] = {"signature": c.signature, "tracks": tracks}
        series = [
            [s.metric, dict(s.labels), _enc(s.last_t), _enc(s.last_v)]
            + ([_enc(s.stale_t)] if s.stale_t > s.last_t else [])
            for by_labels in state.series.values()
            for s in by_labels.values()
        ]
        doc = {
            "format": SNAPSHOT_FORMAT,
            "version": SNAPSHOT_VERSION,
            "now": _enc(state.now),
            "series": series,
            "rules": rules,
        }
        return json.dumps(doc, separators=(",", ":"), allow_nan=False).encode()

    def restore(self, data: bytes | str) -> State:
        """A state from :meth:`snapshot` output.

        Rules are matched by name. A rule whose condition changed since the
        snapshot keeps its alerts but starts its windows and histories afresh;
        rules that no longer exist are dropped.
        """
        try:
            doc = json.loads(data)
            if not isinstance(doc, dict) or doc.get("format") != SNAPSHOT_FORMAT:
                raise SnapshotError("not an alertkit state snapshot")
            if doc.get("version") != SNAPSHOT_VERSION:
                raise SnapshotError(
                    f"snapshot version {doc.get('version')!r} is not supported "
                    f"(this alertkit reads version {SNAPSHOT_VERSION})"
                )
            return self._restore(doc)
        except SnapshotError:
            raise
        except (ValueError, TypeError, KeyError, IndexError, AlertkitError) as exc:
            raise SnapshotError(f"corrupt snapshot: {type(exc).__name__}: {exc}") from None

    def _restore(self, doc: dict[str, Any]) -> State:
        state = self.new_state()
        state.now = _dec(doc["now"])
        for name, data in doc["rules"].items():
            c = self._by_name.get(name)
            if c is None:
                continue
            rs = state.rules[name]
            same = data["signature"] == c.signature
            for labels_dict, alert, aux in data["tracks"]:
                labels = Labels(labels_dict)
                track = rs.tracks.get(labels) or c.new_track(labels)
                rs.tracks[labels] = track
                track.alert = _load_alert(alert)
                if same:
                    track.aux = [
                        node.load_aux(a) for node, a in zip(c.slot_nodes, aux, strict=True)
                    ]
        for metric, labels_dict, last_t, last_v, *stale in doc["series"]:
            s = self._series(state, check_metric_name(metric), Labels(labels_dict))
            s.last_t, s.last_v = _dec(last_t), _dec(last_v)
            if stale:  # a staleness marker after the last sample
                s.stale_t = _dec(stale[0])
        return state


def _labels(labels: Mapping[str, str] | None) -> Labels:
    if isinstance(labels, Labels):
        return labels
    return Labels(labels) if labels else Labels._trusted(())


def _dump_alert(a: AlertRec | None) -> list[Any] | None:
    if a is None:
        return None
    return [
        a.state.value,
        a.active_at,
        _enc(a.value),
        a.fired_at,
        a.resolved_at,
        a.keep_since,
        a.no_data,
    ]


def _load_alert(data: list[Any] | None) -> AlertRec | None:
    if data is None:
        return None
    state, active_at, value, fired_at, resolved_at, keep_since, no_data = data
    a = AlertRec(AlertState(state), float(active_at), _dec(value))
    a.fired_at, a.resolved_at, a.keep_since = fired_at, resolved_at, keep_since
    a.no_data = bool(no_data)
    return a
