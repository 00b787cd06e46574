"""Deterministic replay of a series through the evaluator (and the dispatcher).

:func:`replay` feeds samples, in time order, and evaluation ticks at a fixed interval into an
:class:`~alertkit.Evaluator`; when routes or receivers are given, the events go on into a
:class:`~alertkit.Dispatcher`, whose notifications are recorded at the times they would be
sent. Nothing waits and nothing is random: the same input gives the same :class:`Timeline`,
in milliseconds, whatever the simulated span.

>>> import alertkit as ak
>>> rule = ak.Rule(name="HighCPU", condition="cpu > 90", for_="2m")
>>> tl = replay([rule], {'cpu{host="a"}': [(0, 50), (60, 95), (120, 96), (180, 97)]},
...             ticks="1m")
>>> tl.first_firing_at("HighCPU")
180.0
"""

from __future__ import annotations

import bisect
import math
import os
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from datetime import timedelta
from typing import Any

import attrs

from alertkit._core.conditions import Instant
from alertkit._core.evaluator import Evaluator, SeriesHandle
from alertkit._core.expr import parse_value
from alertkit._core.labels import Labels, check_metric_name
from alertkit._core.model import Alert, AlertEvent, AlertState, EvalMode, EventKind, check_value
from alertkit._core.rules import Rule
from alertkit._core.state import State
from alertkit._core.templates import format_value
from alertkit._core.timeutil import (
    DurationLike,
    TimeLike,
    format_duration,
    parse_duration,
    to_timestamp,
)
from alertkit._dispatch.dispatcher import Dispatcher
from alertkit._dispatch.notification import Notification
from alertkit._dispatch.routes import ReceiverConfig, Route
from alertkit._errors import (
    AlertkitError,
    ConfigError,
    DurationError,
    InvalidSampleError,
    LabelError,
    RuleError,
    TimeWentBackwardsError,
)

__all__ = ["Period", "Timeline", "parse_series_name", "replay"]

#: What a point of a series may be: a float value, or ``None`` for a staleness marker.
PointValue = float | None
SeriesKey = tuple[str, Labels]
#: How far a query's "near" window reaches when a failure message lists events.
_NEAR_EVENTS = 6
_MAX_LISTED = 40


def parse_series_name(name: str) -> tuple[str, Labels]:
    """Split a series name written as a selector, ``'cpu{host="a"}'``, into metric and labels.

    Only equality matchers are allowed: a series has exactly one label set.

    >>> parse_series_name('cpu{host="a", dc="x"}')
    ('cpu', Labels({'dc': 'x', 'host': 'a'}))
    """
    if not isinstance(name, str):
        raise InvalidSampleError(f"series name {name!r} is not a string like 'cpu{{host=\"a\"}}'")
    try:
        expr = parse_value(name)
    except AlertkitError as exc:
        raise InvalidSampleError(f"series name {name!r} is not a series: {exc}") from None
    if not isinstance(expr, Instant):
        raise InvalidSampleError(
            f"series name {name!r} is not a series (expected a metric with optional "
            f"labels, like 'cpu{{host=\"a\"}}')"
        )
    sel = expr.selector
    labels: dict[str, str] = {}
    for m in sel.matchers:
        if m.op != "=":
            raise InvalidSampleError(
                f"series name {name!r}: label matcher {m} must be an equality (name=\"value\")"
            )
        if m.name in labels:
            raise InvalidSampleError(f"series name {name!r}: label {m.name!r} is given twice")
        labels[m.name] = m.value
    return sel.metric, Labels(labels)


@attrs.frozen
class Period:
    """One stretch of time an alert spent pending or firing: ``[start, end)``.

    ``end`` is ``None`` if the period was still open when the replay ended.
    """

    labels: Labels
    state: AlertState
    start: float
    end: float | None

    def overlaps(self, lo: float, hi: float) -> bool:
        """Whether the period has a moment in the closed interval ``[lo, hi]``."""
        return self.start <= hi and (self.end is None or self.end > lo)


def _matches(labels: Labels, want: Mapping[str, str] | None) -> bool:
    if not want:
        return True
    return all(labels.get(k, "") == v for k, v in want.items())


def _show_labels(labels: Mapping[str, str]) -> str:
    shown = ", ".join(f'{k}="{v}"' for k, v in labels.items() if k not in ("alertname",))
    return "{" + shown + "}"


class Timeline:
    """What a :func:`replay` produced: events, notifications, and queries over them.

    Times given to queries are epoch seconds (or datetimes), or duration strings such as
    ``"5m"``, counted from the replay's :attr:`start`. ``labels`` filters alerts whose labels
    include all the given ones (``{"host": "a"}``). Asking about a rule that was not replayed
    raises :class:`~alertkit.RuleError` (a typo must not make ``assert_never_fired`` pass).
    """

    def __init__(
        self,
        *,
        rules: Sequence[str],
        events: list[AlertEvent],
        notifications: list[Notification],
        start: float,
        end: float,
        interval: float | None,
        series: dict[SeriesKey, list[tuple[float, PointValue]]],
        receivers: Sequence[str] | None,
    ) -> None:
        self.rules: tuple[str, ...] = tuple(rules)
        #: Every alert event, in the order the evaluator emitted them.
        self.events = events
        #: Every notification the dispatcher sent, in order (``created_at`` is the send time).
        self.notifications = notifications
        #: The first and last instants replayed (epoch seconds).
        self.start = start
        self.end = end
        #: The evaluation interval (seconds), or None if the replay had no ticks.
        self.interval = interval
        #: The replayed samples per ``(metric, labels)``; ``None`` values are staleness markers.
        self.series = series
        #: The receiver names of the dispatcher, or None if the replay had none.
        self.receivers: tuple[str, ...] | None = None if receivers is None else tuple(receivers)
        by_alert: dict[str, list[AlertEvent]] = {}
        for e in events:
            by_alert.setdefault(e.alert.fingerprint, []).append(e)
        self._by_alert = by_alert
        self._times = {fp: [e.at for e in evs] for fp, evs in by_alert.items()}
        self._periods = {fp: _periods(evs) for fp, evs in by_alert.items()}

    # -- times ----------------------------------------------------------------------------

    def time(self, value: TimeLike | str) -> float:
        """An instant for a query: epoch seconds, a datetime, or a duration after :attr:`start`.

        >>> tl = Timeline(rules=[], events=[], notifications=[], start=1000.0, end=2000.0,
        ...               interval=None, series={}, receivers=None)
        >>> tl.time("5m"), tl.time(1500)
        (1300.0, 1500.0)
        """
        if isinstance(value, str):
            return self.start + parse_duration(value, field="time")
        return to_timestamp(value, field="time")

    def _between(self, between: tuple[TimeLike | str, TimeLike | str] | None
                 ) -> tuple[float, float]:
        if between is None:
            return -math.inf, math.inf
        if isinstance(between, str | bytes) or not isinstance(between, Sequence) \
                or len(between) != 2:
            raise TimeWentBackwardsError(
                f"between: {between!r} is not a (start, end) pair of times")
        lo, hi = self.time(between[0]), self.time(between[1])
        if hi < lo:
            raise TimeWentBackwardsError(f"between: end {between[1]!r} is before start "
                                         f"{between[0]!r}")
        return lo, hi

    def _fmt_t(self, t: float) -> str:
        if not math.isfinite(t):
            return "the end" if t > 0 else "the start"
        offset = t - self.start
        rel = format_duration(offset) if offset >= 0 else "-" + format_duration(-offset)
        return f"t={format_value(t)} (+{rel})" if offset >= 0 else f"t={format_value(t)} ({rel})"

    # -- alerts ---------------------------------------------------------------------------

    def _check_rule(self, rule: str) -> None:
        if rule not in self.rules:
            known = ", ".join(self.rules) or "none"
            raise RuleError(f"no rule named {rule!r} was replayed (rules: {known})")

    def _alert_keys(self, rule: str, labels: Mapping[str, str] | None) -> list[str]:
        self._check_rule(rule)
        return [fp for fp, evs in self._by_alert.items()
                if evs[0].alert.rule == rule and _matches(evs[0].alert.labels, labels)]

    def alerts_at(self, t: TimeLike | str, rule: str | None = None) -> list[Alert]:
        """The pending and firing alerts right after the evaluation at ``t``.

        Each alert is the snapshot of its latest event at or before ``t`` (its value and
        annotations are those of that event).
        """
        at = self.time(t)
        if rule is not None:
            self._check_rule(rule)
        out = []
        for fp, times in self._times.items():
            i = bisect.bisect_right(times, at)
            if i == 0:
                continue
            e = self._by_alert[fp][i - 1]
            if e.kind in (EventKind.PENDING, EventKind.FIRING) and \
                    (rule is None or e.alert.rule == rule):
                out.append(e.alert)
        return out

    def periods(self, rule: str, labels: Mapping[str, str] | None = None, *,
                state: AlertState | str = AlertState.FIRING) -> list[Period]:
        """The pending or firing :class:`Period` values of the matching alerts, by start."""
        st = AlertState(state)
        out = [p for fp in self._alert_keys(rule, labels)
               for p in self._periods[fp] if p.state is st]
        out.sort(key=lambda p: (p.start, p.labels.items_tuple()))
        return out

    def firing_periods(self, rule: str, labels: Mapping[str, str] | None = None
                       ) -> list[tuple[float, float | None]]:
        """``(start, end)`` of every firing period of the matching alerts; end None if open."""
        return [(p.start, p.end) for p in self.periods(rule, labels)]

    def pending_periods(self, rule: str, labels: Mapping[str, str] | None = None
                        ) -> list[tuple[float, float | None]]:
        """``(start, end)`` of every pending period (ended by firing or cancellation)."""
        return [(p.start, p.end) for p in self.periods(rule, labels, state=AlertState.PENDING)]

    def fired(self, rule: str, *, labels: Mapping[str, str] | None = None,
              between: tuple[TimeLike | str, TimeLike | str] | None = None) -> bool:
        """Whether a matching alert was firing at some moment of ``between`` (closed; whole
        replay if None)."""
        lo, hi = self._between(between)
        return any(p.overlaps(lo, hi) for p in self.periods(rule, labels))

    def never_fired(self, rule: str, *, labels: Mapping[str, str] | None = None,
                    between: tuple[TimeLike | str, TimeLike | str] | None = None) -> bool:
        """The opposite of :meth:`fired`."""
        return not self.fired(rule, labels=labels, between=between)

    def first_firing_at(self, rule: str, *, labels: Mapping[str, str] | None = None,
                        after: TimeLike | str | None = None) -> float | None:
        """When a matching alert first started firing (at or after ``after``), or None."""
        lo = -math.inf if after is None else self.time(after)
        starts = [p.start for p in self.periods(rule, labels) if p.start >= lo]
        return min(starts) if starts else None

    def events_of(self, rule: str, *, labels: Mapping[str, str] | None = None,
                  between: tuple[TimeLike | str, TimeLike | str] | None = None
                  ) -> list[AlertEvent]:
        """The events of the matching alerts (at times within ``between``), in order."""
        keys = set(self._alert_keys(rule, labels))
        lo, hi = self._between(between)
        return [e for e in self.events
                if e.alert.fingerprint in keys and lo <= e.at <= hi]

    def label_sets(self, rule: str) -> list[Labels]:
        """The label sets (alert labels) the rule produced alerts for, in order of appearance."""
        return [self._by_alert[fp][0].alert.labels for fp in self._alert_keys(rule, None)]

    # -- notifications --------------------------------------------------------------------

    def notifications_to(self, receiver: str) -> list[Notification]:
        """The notifications sent to ``receiver``, in order."""
        if self.receivers is None:
            raise ConfigError("this replay had no dispatcher: pass routes= or receivers= "
                              "to replay() to record notifications")
        if receiver not in self.receivers:
            raise ConfigError(f"no receiver named {receiver!r} (receivers: "
                              f"{', '.join(self.receivers)})")
        return [n for n in self.notifications if n.receiver == receiver]

    # -- assertions -----------------------------------------------------------------------

    def assert_fired(self, rule: str, *, labels: Mapping[str, str] | None = None,
                     between: tuple[TimeLike | str, TimeLike | str] | None = None) -> None:
        """Raise ``AssertionError``, listing the events near ``between``, unless :meth:`fired`."""
        if self.fired(rule, labels=labels, between=between):
            return
        what = rule + (_show_labels(labels) if labels else "")
        raise AssertionError(
            f"expected {what} to fire{self._describe(between)}, but it did not.\n"
            + self._context(rule, labels, between))

    def assert_never_fired(self, rule: str, *, labels: Mapping[str, str] | None = None,
                           between: tuple[TimeLike | str, TimeLike | str] | None = None
                           ) -> None:
        """Raise ``AssertionError``, listing when it fired, if :meth:`fired`."""
        if not self.fired(rule, labels=labels, between=between):
            return
        lo, hi = self._between(between)
        what = rule + (_show_labels(labels) if labels else "")
        periods = [p for p in self.periods(rule, labels) if p.overlaps(lo, hi)]
        lines = [f"  {rule}{_show_labels(p.labels)} fired from {self._fmt_t(p.start)} to "
                 + (self._fmt_t(p.end) if p.end is not None else "the end of the replay")
                 for p in periods[:_MAX_LISTED]]
        if len(periods) > _MAX_LISTED:
            lines.append(f"  ... and {len(periods) - _MAX_LISTED} more periods")
        raise AssertionError(
            f"expected {what} never to fire{self._describe(between)}, but it did:\n"
            + "\n".join(lines) + "\n" + self._context(rule, labels, between))

    def _describe(self, between: tuple[TimeLike | str, TimeLike | str] | None) -> str:
        if between is None:
            return ""
        lo, hi = self._between(between)
        return f" between {self._fmt_t(lo)} and {self._fmt_t(hi)}"

    def _context(self, rule: str, labels: Mapping[str, str] | None,
                 between: tuple[TimeLike | str, TimeLike | str] | None) -> str:
        lo, hi = self._between(between)
        events = self.events_of(rule, labels=labels)
        if not events:
            others = self.events_of(rule) if labels else []
            sets = sorted({_show_labels(e.alert.labels) for e in others})
            hint = (f" (it did for other label sets: {', '.join(sets[:10])})" if sets else "")
            return (f"{rule} produced no events{' for these labels' if labels else ''} "
                    f"in the whole replay ({self._fmt_t(self.start)} to "
                    f"{self._fmt_t(self.end)}){hint}.")
        before = [e for e in events if e.at < lo][-_NEAR_EVENTS:]
        inside = [e for e in events if lo <= e.at <= hi]
        after = [e for e in events if e.at > hi][:_NEAR_EVENTS]
        shown = before + inside[:_MAX_LISTED] + after
        lines = [f"Events of {rule}" + (" near that period:" if between else ":")]
        lines += [self._fmt_event(e) for e in before]
        lines += [self._fmt_event(e) for e in inside[:_MAX_LISTED]]
        if len(inside) > _MAX_LISTED:
            lines.append(f"  ... {len(inside) - _MAX_LISTED} more events")
        lines += [self._fmt_event(e) for e in after]
        if len(shown) < len(events) and len(inside) <= _MAX_LISTED:
            lines.append(f"  ({len(events) - len(shown)} events further away not shown)")
        return "\n".join(lines)

    def _fmt_event(self, e: AlertEvent) -> str:
        return (f"  {self._fmt_t(e.at)}: {e.kind.value:9} {e.alert.rule}"
                f"{_show_labels(e.alert.labels)} value={format_value(e.alert.value)}")

    # -- display --------------------------------------------------------------------------

    def format(self) -> str:
        """Every event and notification, one per line, in time order."""
        rows: list[tuple[float, int, str]] = [(e.at, 0, self._fmt_event(e).strip())
                                              for e in self.events]
        for n in self.notifications:
            rows.append((n.created_at, 1, (
                f"{self._fmt_t(n.created_at)}: notify    {n.receiver} [{n.status}] "
                f"{len(n.firing)} firing, {len(n.resolved)} resolved "
                f"(group {n.group_key})")))
        rows.sort(key=lambda r: (r[0], r[1]))
        return "\n".join(r[2] for r in rows)

    def __repr__(self) -> str:
        return (f"<Timeline {format_value(self.start)}..{format_value(self.end)} "
                f"rules={len(self.rules)} events={len(self.events)} "
                f"notifications={len(self.notifications)}>")


def _periods(events: list[AlertEvent]) -> list[Period]:
    out: list[Period] = []
    pending: float | None = None
    firing: float | None = None
    labels = events[0].alert.labels
    for e in events:
        k = e.kind
        if k is EventKind.PENDING:
            pending = e.at
        elif k is EventKind.FIRING:
            if pending is not None:
                out.append(Period(labels, AlertState.PENDING, pending, e.at))
                pending = None
            firing = e.at
        elif k is EventKind.CANCELLED:
            if pending is not None:
                out.append(Period(labels, AlertState.PENDING, pending, e.at))
                pending = None
        elif k is EventKind.RESOLVED and firing is not None:
            out.append(Period(labels, AlertState.FIRING, firing, e.at))
            firing = None
    if pending is not None:
        out.append(Period(labels, AlertState.PENDING, pending, None))
    if firing is not None:
        out.append(Period(labels, AlertState.FIRING, firing, None))
    return out


# -- input normalisation ----------------------------------------------------------------


def _point_value(value: object, where: str) -> PointValue:
    from alertkit.testing.series import Stale

    if value is None or isinstance(value, Stale):
        return None
    return check_value(value, field=f"{where}: value")


def _series_input(
    series: object, start: float | None, interval: float | None
) -> dict[SeriesKey, list[tuple[float, PointValue]]]:
    out: dict[SeriesKey, list[tuple[float, PointValue]]] = {}
    if isinstance(series, Mapping):
        for name, points in series.items():
            key = parse_series_name(name)
            where = f"series {name!r}"
            if isinstance(points, str):
                from alertkit.testing.series import expand_series

                if interval is None:
                    raise InvalidSampleError(
                        f"{where}: series notation ({points!r}) needs ticks= (its step)")
                pts = expand_series(points, 0.0 if start is None else start, interval)
                out.setdefault(key, []).extend(pts)
                continue
            if isinstance(points, bytes) or not isinstance(points, Iterable):
                raise InvalidSampleError(
                    f"{where}: {points!r} is not a list of (time, value) pairs or series "
                    f"notation")
            dest = out.setdefault(key, [])
            for i, point in enumerate(points):
                if isinstance(point, str | bytes) or not isinstance(point, Sequence) \
                        or len(point) != 2:
                    raise InvalidSampleError(
                        f"{where}[{i}]: {point!r} is not a (time, value) pair")
                t = to_timestamp(point[0], field=f"{where}[{i}]: time")
                dest.append((t, _point_value(point[1], f"{where}[{i}]")))
        return out
    from alertkit.testing.shapes import Series

    if isinstance(series, Series):
        series = [series]
    if isinstance(series, str | bytes) or not isinstance(series, Iterable):
        raise InvalidSampleError(
            f"series: {series!r} is not a mapping of series name -> points or an iterable "
            f"of samples")
    from alertkit._core.model import Sample

    for i, item in enumerate(series):
        where = f"series[{i}]"
        v: PointValue
        if isinstance(item, Series):
            out.setdefault((item.metric, item.labels), []).extend(item.points)
            continue
        if isinstance(item, Sample):
            key = (item.metric, item.labels)
            t, v = item.timestamp, item.value
        elif isinstance(item, tuple) and len(item) == 3:
            key = parse_series_name(item[0])
            t = to_timestamp(item[1], field=f"{where}: time")
            v = _point_value(item[2], where)
        elif isinstance(item, tuple) and len(item) == 4:
            try:
                metric = check_metric_name(item[0])
                if not isinstance(item[1], Mapping):
                    raise LabelError(f"labels {item[1]!r} are not a mapping")
                labels = item[1] if isinstance(item[1], Labels) else Labels(item[1])
            except LabelError as exc:
                raise InvalidSampleError(f"{where}: {exc}") from None
            key = (metric, labels)
            t = to_timestamp(item[2], field=f"{where}: time")
            v = _point_value(item[3], where)
        else:
            raise InvalidSampleError(
                f"{where}: {item!r} is not a Sample, a Series, a (series name, time, value) "
                f"tuple or a (metric, labels, time, value) tuple")
        out.setdefault(key, []).append((t, v))
    return out


def _rules(rules: object) -> list[Rule]:
    if isinstance(rules, Rule):
        return [rules]
    if isinstance(rules, str | os.PathLike):
        from alertkit.config._rules import load_rules

        return load_rules(os.fspath(rules))
    if not isinstance(rules, Iterable):
        raise RuleError(f"rules: {rules!r} is not a Rule, a list of rules or a rule file path")
    out = list(rules)
    for i, r in enumerate(out):
        if not isinstance(r, Rule):
            raise RuleError(f"rules[{i}]: {r!r} is not a Rule")
    return out


def _dispatcher(
    dispatcher: Dispatcher | None, routes: Route | None,
    receivers: Iterable[ReceiverConfig | str] | None,
) -> Dispatcher | None:
    if dispatcher is not None:
        if routes is not None or receivers is not None:
            raise ConfigError("replay: give either dispatcher= or routes=/receivers=, not both")
        if not isinstance(dispatcher, Dispatcher):
            raise ConfigError(f"dispatcher: {dispatcher!r} is not a Dispatcher")
        return dispatcher
    if routes is None and receivers is None:
        return None
    configs: list[ReceiverConfig] = []
    if receivers is not None:
        if isinstance(receivers, str | bytes) or not isinstance(receivers, Iterable):
            raise ConfigError(f"receivers: {receivers!r} is not a list of receiver names "
                              f"or ReceiverConfig values")
        for r in receivers:
            configs.append(ReceiverConfig(name=r) if isinstance(r, str) else r)
    if routes is None:
        if not configs:
            raise ConfigError("receivers: empty; name at least one receiver")
        routes = Route(receiver=configs[0].name)
    elif not configs:
        names: list[str] = []
        _route_receivers(routes, names)
        configs = [ReceiverConfig(name=n) for n in names]
    return Dispatcher(routes, configs)


def _route_receivers(route: Route, out: list[str]) -> None:
    if not isinstance(route, Route):
        raise ConfigError(f"routes: {route!r} is not a Route")
    if route.receiver is not None and route.receiver not in out:
        out.append(route.receiver)
    for child in route.routes:
        _route_receivers(child, out)


# -- the replay -----------------------------------------------------------------------------


def replay(
    rules: Rule | Iterable[Rule] | str | os.PathLike[str],
    series: Mapping[str, Iterable[tuple[TimeLike, float | None]] | str]
    | Iterable[Any],
    *,
    ticks: DurationLike | Iterable[TimeLike] | None = None,
    start: TimeLike | None = None,
    end: TimeLike | str | None = None,
    mode: EvalMode | str | None = None,
    stale_after: DurationLike | None = None,
    resolved_retention: DurationLike | None = None,
    dispatcher: Dispatcher | None = None,
    routes: Route | None = None,
    receivers: Iterable[ReceiverConfig | str] | None = None,
    progress: Callable[[float, float], None] | None = None,
) -> Timeline:
    """Replay ``series`` through ``rules`` deterministically; return the :class:`Timeline`.

    :param rules: a :class:`~alertkit.Rule`, several, or a rule file path (TOML/YAML).
    :param series: either a mapping ``{'cpu{host="a"}': [(t, value), ...]}`` (the key is a
        series written as a selector with ``=`` matchers; the value may also be a string in
        promtool's series notation, ``"50+10x6"``, stepped by ``ticks`` from ``start``), or an
        iterable of :class:`~alertkit.Sample` values, ``(name, t, value)`` or
        ``(metric, labels, t, value)`` tuples, or :class:`~alertkit.testing.Series` values
        (one, or a list: what the strategies draw). A value ``None`` (or
        :data:`~alertkit.testing.series.STALE`) is a staleness marker, as in Prometheus:
        instant values and ``absent()`` see nothing of the series from then on, while range
        windows keep the samples before it; a later sample brings it back.
    :param ticks: the evaluation interval (``"1m"``): the evaluator is ticked at ``start``,
        ``start + ticks``... up to ``end``, so ``for``, staleness and absence progress without
        samples; tick-mode rules are evaluated only then. It may also be the tick times
        themselves (an iterable of instants, irregular if you like). ``None``: no ticks
        (sample mode only).
    :param start: the first instant (default: the first sample's time, or 0).
    :param end: the last instant, or a duration after ``start`` (``"1h"``); default: the
        last sample's time, or ``start``.
        Notifications due after it are not sent.
    :param mode: ``"sample"`` or ``"tick"``, the default evaluation mode of the rules.
    :param stale_after: how long a sample counts (default 5m).
    :param resolved_retention: how long a resolved alert stays known (default 15m).
    :param dispatcher: a :class:`~alertkit.Dispatcher` to send the events through; or
    :param routes: a :class:`~alertkit.Route` tree, and/or
    :param receivers: receiver names (or :class:`~alertkit.ReceiverConfig`); without
        ``routes``, everything goes to the first receiver. Every notification is taken as
        delivered at the instant it is sent.
    :param progress: called as ``progress(done, total)`` in seconds of simulated time, about
        a hundred times over the replay and once at its end.

    At one instant, samples are fed first, then the tick, then the dispatcher flushes what is
    due (so an alert resolved at the very end of its group wait is never announced). Bad
    input raises an
    :class:`~alertkit.AlertkitError` subclass naming the series and point.
    """
    rule_list = _rules(rules)
    ev = Evaluator(rule_list, mode=mode if mode is not None else EvalMode.SAMPLE,
                   stale_after=stale_after if stale_after is not None else "5m",
                   resolved_retention=resolved_retention if resolved_retention is not None
                   else "15m")
    interval: float | None = None
    tick_list: list[float] | None = None
    if ticks is None:
        pass
    elif isinstance(ticks, str | int | float | timedelta):
        interval = parse_duration(ticks, field="ticks", allow_zero=False)
    elif isinstance(ticks, Iterable):
        tick_list = sorted({to_timestamp(t, field="ticks") for t in ticks})
    else:
        raise DurationError(f"ticks: {ticks!r} is not an interval or a list of tick times")
    if interval is None and tick_list is None and \
            any((r.mode or ev.mode) is EvalMode.TICK for r in rule_list):
        raise ConfigError("replay: tick-mode rules are evaluated only at ticks; pass ticks= "
                          "(the evaluation interval, e.g. '1m')")
    t_start = None if start is None else to_timestamp(start, field="start")
    data = _series_input(series, t_start, interval)
    points: list[tuple[float, SeriesKey, PointValue]] = []
    for key, pts in data.items():
        pts.sort(key=lambda p: p[0])
        for i in range(1, len(pts)):
            if pts[i][0] == pts[i - 1][0]:
                raise InvalidSampleError(
                    f"series {key[0]}{key[1]}: two points at t={format_value(pts[i][0])}")
        points.extend((t, key, v) for t, v in pts)
    points.sort(key=lambda p: p[0])
    first = points[0][0] if points else None
    last = points[-1][0] if points else None
    if tick_list:
        first = tick_list[0] if first is None else min(first, tick_list[0])
        last = tick_list[-1] if last is None else max(last, tick_list[-1])
    if t_start is None:
        t_start = first if first is not None else 0.0
    if end is None:
        t_end = max(t_start, last if last is not None else t_start)
    elif isinstance(end, str):  # a duration after start, as Timeline queries read it
        t_end = t_start + parse_duration(end, field="end")
    else:
        t_end = to_timestamp(end, field="end")
    if t_end < t_start:
        raise TimeWentBackwardsError(f"end {format_value(t_end)} is before start "
                                     f"{format_value(t_start)}")
    if points and points[0][0] < t_start:
        raise InvalidSampleError(f"series {_key(points[0][1])}: sample at "
                                 f"t={format_value(points[0][0])} is before "
                                 f"start={format_value(t_start)}")
    if points and points[-1][0] > t_end:
        raise InvalidSampleError(f"series {_key(points[-1][1])}: sample at "
                                 f"t={format_value(points[-1][0])} is after "
                                 f"end={format_value(t_end)}")
    if tick_list and not t_start <= tick_list[0] <= tick_list[-1] <= t_end:
        raise TimeWentBackwardsError(
            f"ticks: {format_value(tick_list[0])}..{format_value(tick_list[-1])} is not "
            f"within start={format_value(t_start)} and end={format_value(t_end)}")
    disp = _dispatcher(dispatcher, routes, receivers)
    run = _Run(ev, disp, t_start, t_end, progress)
    run.go(points, iter(tick_list) if tick_list is not None
           else _tick_times(t_start, t_end, interval))
    return Timeline(
        rules=[r.name for r in rule_list],
        events=run.events,
        notifications=run.notifications,
        start=t_start,
        end=t_end,
        interval=interval,
        series=data,
        receivers=None if disp is None else list(disp.receivers),
    )


def _key(key: SeriesKey) -> str:
    return f"{key[0]}{key[1]}"


def _tick_times(start: float, end: float, interval: float | None) -> Iterator[float]:
    if interval is None:
        return
    i = 0
    while True:
        t = start + i * interval  # multiplied, not accumulated: no drift over long replays
        if t > end:
            return
        yield t
        i += 1


class _Run:
    """The replay loop: samples, ticks and dispatcher wake-ups merged in time order.

    ``alertkit.testing.testfile`` drives it one evaluation at a time (``go`` with a slice of
    the points and one tick, ``end`` moved forward, ``state`` read in between): keep that
    working when changing it.
    """

    def __init__(self, ev: Evaluator, disp: Dispatcher | None, start: float, end: float,
                 progress: Callable[[float, float], None] | None) -> None:
        self.ev = ev
        self.state: State = ev.new_state()
        self.disp = disp
        self.dstate = disp.new_state() if disp is not None else None
        self.start, self.end = start, end
        self.progress = progress
        self.next_report = start
        self.report_every = (end - start) / 100 if end > start else math.inf
        self.events: list[AlertEvent] = []
        self.notifications: list[Notification] = []
        self.handles: dict[SeriesKey, SeriesHandle] = {}

    def go(self, points: list[tuple[float, SeriesKey, PointValue]],
           ticks: Iterator[float]) -> None:
        i, n = 0, len(points)
        next_tick = next(ticks, None)
        while i < n or next_tick is not None:
            t = points[i][0] if i < n else math.inf
            if next_tick is not None and next_tick < t:
                t = next_tick
            self.dispatch_until(t, inclusive=False)
            self.report(t)
            while i < n and points[i][0] == t:
                self.feed(points[i])
                i += 1
            if next_tick is not None and next_tick == t:
                self.take(self.ev.tick(self.state, t), t)
                next_tick = next(ticks, None)
            self.dispatch_until(t, inclusive=True)
        self.dispatch_until(self.end, inclusive=True)
        if self.progress is not None:
            total = self.end - self.start
            self.progress(total, total)

    def feed(self, point: tuple[float, SeriesKey, PointValue]) -> None:
        t, key, v = point
        h = self.handles.get(key)
        if h is None:
            h = self.handles[key] = self.ev.handle(self.state, key[0], key[1])
        if v is None:
            self.mark_stale(key, t)
            return
        self.take(h.observe(v, t), t)

    def mark_stale(self, key: SeriesKey, t: float) -> None:
        # A staleness marker, as in Prometheus: instant lookups and absent() see nothing
        # from now on, while range windows keep the samples before it; a later sample
        # brings the series back.
        s = self.state.series.get(key[0], {}).get(key[1])
        if s is not None and s.alive and t > s.last_t:
            s.stale_t = t

    def take(self, events: Sequence[AlertEvent], t: float) -> None:
        if not events:
            return
        self.events.extend(events)
        if self.disp is not None:
            assert self.dstate is not None
            self.disp.apply_all(self.dstate, events)

    def dispatch_until(self, t: float, *, inclusive: bool) -> None:
        disp, ds = self.disp, self.dstate
        if disp is None or ds is None:
            return
        last = -math.inf
        while True:
            w = disp.next_wakeup(ds)
            if w is None or w > t or (w == t and not inclusive) or w > self.end:
                return
            at = max(w, ds.now)
            if at <= last:  # no progress (a hold not yet releasable): wait for more input
                return
            last = at
            for note in disp.advance(ds, at):
                self.notifications.append(note)
                disp.delivered(ds, note, at)

    def report(self, t: float) -> None:
        if self.progress is not None and t >= self.next_report and t <= self.end:
            self.progress(t - self.start, self.end - self.start)
            self.next_report = t + self.report_every
