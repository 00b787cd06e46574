"""Event-style rules: counting occurrences in a window (ElastAlert's rule types).

- *frequency*: ``count_matching(x[5m], ">", 100) >= 5``, at least 5 samples above
  100 in five minutes;
- *percentage match*: ``percent_matching(status[10m], ">=", 500) > 5``, more than
  5 % of the samples are errors;
- *flatline*: ``flatline(heartbeat[10m], min_count=3)``, fewer than 3 samples in
  ten minutes, including none at all, for a series that has reported before;
- *cardinality*: ``cardinality(logins[1h], "user", ">", 100)``, more than 100
  distinct users among the series that had a sample in the last hour.

The first three keep, per series, the timestamps of the window (O(window)
memory, O(1) amortised per sample and per evaluation). Cardinality is global,
like absence: it looks at every matching series, has one output for the
whole rule, and costs O(matching series) per evaluation.
"""

from __future__ import annotations

import re
from collections import deque
from typing import TYPE_CHECKING, Any

import attrs

from alertkit._errors import RuleError

from .conditions import OPS, Condition, Op, ValueExpr, _selector
from .functions import Function, Param, RangeArg, register, render_call
from .labels import Selector
from .nodes import COMPARE, NO_MATCH, CondNode, ValueNode
from .timeutil import DurationLike, parse_duration

if TYPE_CHECKING:
    from .nodes import CompileContext, EvalContext, Result, Track

__all__ = [
    "Cardinality",
    "CardinalityNode",
    "CountMatching",
    "Flatline",
    "FlatlineBuf",
    "FlatlineNode",
    "MatchBuf",
    "MatchNode",
    "PercentMatching",
]

_INF = float("inf")
_LABEL_NAME = re.compile(r"[a-zA-Z_][a-zA-Z0-9_]*\Z")


def _check_op(function: str, value: object) -> None:
    if value not in OPS:
        raise RuleError(f"{function}: operator {value!r} is not one of {' '.join(OPS)}")


def _number(function: str, value: object) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise RuleError(f"{function}: threshold {value!r} is not a number")
    return float(value)


def _count(function: str, value: object) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise RuleError(f"{function}: min_count={value!r} must be a positive integer")


# -- count_matching / percent_matching ----------------------------------------------------


def _count_range(value: DurationLike) -> float:
    return parse_duration(value, field="count_matching range", allow_zero=False)


def _count_op(instance: object, attribute: attrs.Attribute[str], value: object) -> None:
    _check_op("count_matching", value)


def _count_threshold(value: object) -> float:
    return _number("count_matching", value)


def _percent_range(value: DurationLike) -> float:
    return parse_duration(value, field="percent_matching range", allow_zero=False)


def _percent_op(instance: object, attribute: attrs.Attribute[str], value: object) -> None:
    _check_op("percent_matching", value)


def _percent_threshold(value: object) -> float:
    return _number("percent_matching", value)


@attrs.frozen
class CountMatching(ValueExpr):
    """How many samples of each series in the closed window ``[T - range, T]`` satisfy
    ``value op threshold`` (comparisons as in PromQL: NaN matches only ``!=``).

    With ``>= N`` this is ElastAlert's *frequency* rule. A window with no sample
    at all has no output (like ``count_over_time``); one with samples but no
    match has the value 0.

    >>> Threshold(CountMatching("latency_ms", "5m", ">", 100), ">=", 5)
    >>> # count_matching(latency_ms[5m], ">", 100.0) >= 5.0
    """

    selector: Selector = attrs.field(converter=_selector)
    range: float = attrs.field(converter=_count_range)
    op: Op = attrs.field(validator=_count_op)
    threshold: float = attrs.field(converter=_count_threshold)

    def _compile(self, ctx: CompileContext) -> ValueNode:
        return MatchNode(ctx, self.selector, self.range, self.op, self.threshold, percent=False)

    def __str__(self) -> str:
        arg = RangeArg(self.selector, self.range)
        return render_call("count_matching", arg, self.op, self.threshold)


@attrs.frozen
class PercentMatching(ValueExpr):
    """The share, in percent (0 to 100), of the samples of each series in the closed
    window ``[T - range, T]`` that satisfy ``value op threshold``; no output when the
    window has no sample. ElastAlert's *percentage match* rule.

    >>> Threshold(PercentMatching("http_status", "10m", ">=", 500), ">", 5)
    >>> # percent_matching(http_status[10m], ">=", 500.0) > 5.0
    """

    selector: Selector = attrs.field(converter=_selector)
    range: float = attrs.field(converter=_percent_range)
    op: Op = attrs.field(validator=_percent_op)
    threshold: float = attrs.field(converter=_percent_threshold)

    def _compile(self, ctx: CompileContext) -> ValueNode:
        return MatchNode(ctx, self.selector, self.range, self.op, self.threshold, percent=True)

    def __str__(self) -> str:
        arg = RangeArg(self.selector, self.range)
        return render_call("percent_matching", arg, self.op, self.threshold)


class MatchBuf:
    """Timestamps of the window's samples, and of those that matched."""

    __slots__ = ("hits", "ts")

    def __init__(self) -> None:
        self.ts: deque[float] = deque()
        self.hits: deque[float] = deque()


class MatchNode(ValueNode):
    __slots__ = ("cmp", "index", "inputs", "percent", "range", "slot", "threshold")

    def __init__(
        self,
        ctx: CompileContext,
        selector: Selector,
        range_s: float,
        op: str,
        threshold: float,
        *,
        percent: bool,
    ) -> None:
        self.range = range_s
        self.cmp = COMPARE[op]
        self.threshold = threshold
        self.percent = percent
        self.index = ctx.track_input(selector)
        self.inputs = frozenset({self.index})
        self.slot = ctx.feed(self.index, self, reach=range_s)

    def new_aux(self) -> MatchBuf:
        return MatchBuf()

    def dump_aux(self, aux: MatchBuf) -> Any:
        return [list(aux.ts), list(aux.hits)]

    def load_aux(self, data: Any) -> MatchBuf:
        buf = MatchBuf()
        buf.ts = deque(float(t) for t in data[0])
        buf.hits = deque(float(t) for t in data[1])
        return buf

    def feed(self, buf: MatchBuf, t: float, v: float) -> None:
        ts = buf.ts
        # Evaluations evict what is older than their window; here only what lags by a
        # quarter range more, to bound memory when evaluations are rare (tick mode).
        if ts and ts[0] < t - 1.25 * self.range:
            self._evict(buf, t - self.range)
        # The predicate is applied once, here; evaluations only count.
        ts.append(t)
        if self.cmp(v, self.threshold):
            buf.hits.append(t)

    @staticmethod
    def _evict(buf: MatchBuf, lo: float) -> None:
        ts, hits = buf.ts, buf.hits
        while ts and ts[0] < lo:
            ts.popleft()
        while hits and hits[0] < lo:
            hits.popleft()

    def value(self, track: Track, now: float) -> float | None:
        buf: MatchBuf = track.aux[self.slot]
        ts = buf.ts
        lo = now - self.range
        if ts and ts[0] < lo:
            self._evict(buf, lo)
        n = len(ts)
        if not n:
            return None
        if self.percent:
            return 100.0 * len(buf.hits) / n
        return float(len(buf.hits))


# -- flatline -----------------------------------------------------------------------------


def _flatline_range(value: DurationLike) -> float:
    return parse_duration(value, field="flatline range", allow_zero=False)


def _flatline_min_count(instance: object, attribute: attrs.Attribute[int], value: object) -> None:
    _count("flatline", value)


@attrs.frozen
class Flatline(Condition):
    """Holds for each series that has reported before but has fewer than ``min_count``
    samples (default 1) in the closed window ``[T - range, T]``, including none at all.

    Unlike ``count_over_time(x[w]) < n``, which has no output once the window is
    empty, this keeps holding while a known series stays silent, until samples
    come back. To avoid false alarms at start-up it holds only once the series
    has been watched for a whole window (its first sample at least ``range``
    old). The value is the number of samples in the window. Evaluate it with
    ticks: a silent series sends no sample that could trigger an evaluation. A
    series never seen is not covered; use :class:`Absent` for that.

    >>> Flatline("heartbeat", "10m")                  # flatline(heartbeat[10m])
    >>> Flatline("orders", "15m", min_count=3)        # flatline(orders[15m], min_count=3)
    """

    selector: Selector = attrs.field(converter=_selector)
    range: float = attrs.field(converter=_flatline_range)
    min_count: int = attrs.field(default=1, validator=_flatline_min_count)

    def _compile(self, ctx: CompileContext) -> CondNode:
        return FlatlineNode(self, ctx)

    def __str__(self) -> str:
        return render_call(
            "flatline", RangeArg(self.selector, self.range), min_count=self.min_count
        )


class FlatlineBuf:
    """Timestamps of the window's samples, and of the series' first sample."""

    __slots__ = ("first", "ts")

    def __init__(self) -> None:
        self.ts: deque[float] = deque()
        self.first = _INF  # no sample yet: the series has not "existed" for this rule


class FlatlineNode(CondNode):
    __slots__ = ("index", "inputs", "min_count", "range", "slot")

    def __init__(self, flatline: Flatline, ctx: CompileContext) -> None:
        self.range = flatline.range
        self.min_count = flatline.min_count
        self.index = ctx.track_input(flatline.selector)
        self.inputs = frozenset({self.index})
        # Reach is the range: after that the series itself is forgotten, but the track,
        # with its alert and this state, is kept while the alert is active.
        self.slot = ctx.feed(self.index, self, reach=flatline.range)

    def new_aux(self) -> FlatlineBuf:
        return FlatlineBuf()

    def dump_aux(self, aux: FlatlineBuf) -> Any:
        return [list(aux.ts), None if aux.first == _INF else aux.first]

    def load_aux(self, data: Any) -> FlatlineBuf:
        buf = FlatlineBuf()
        buf.ts = deque(float(t) for t in data[0])
        buf.first = _INF if data[1] is None else float(data[1])
        return buf

    def feed(self, buf: FlatlineBuf, t: float, v: float) -> None:
        ts = buf.ts
        if ts and ts[0] < t - 1.25 * self.range:  # bound memory between rare evaluations
            lo = t - self.range
            while ts and ts[0] < lo:
                ts.popleft()
        ts.append(t)
        if buf.first == _INF:
            buf.first = t

    def eval(self, track: Track, now: float, trigger: int, ctx: EvalContext) -> Result:
        buf: FlatlineBuf = track.aux[self.slot]
        if now - buf.first < self.range:
            return None  # not watched for a whole window yet (or never reported)
        ts = buf.ts
        lo = now - self.range
        while ts and ts[0] < lo:
            ts.popleft()
        n = len(ts)
        return float(n) if n < self.min_count else NO_MATCH


# -- cardinality --------------------------------------------------------------------------


def _cardinality_range(value: DurationLike) -> float:
    return parse_duration(value, field="cardinality range", allow_zero=False)


def _check_label(instance: object, attribute: attrs.Attribute[str], value: object) -> None:
    if not isinstance(value, str) or not _LABEL_NAME.match(value):
        raise RuleError(
            f"cardinality: label {value!r} is not a valid label name "
            f"(expected [a-zA-Z_][a-zA-Z0-9_]*)"
        )


def _cardinality_op(instance: object, attribute: attrs.Attribute[str], value: object) -> None:
    _check_op("cardinality", value)


def _cardinality_threshold(value: object) -> float:
    return _number("cardinality", value)


@attrs.frozen
class Cardinality(Condition):
    """The number of distinct values of ``label`` among the series matching ``selector``
    that have a sample in the closed window ``[T - range, T]``, compared with
    ``op threshold``. ElastAlert's *cardinality* rule.

    It is a global, label-independent condition, like :class:`Absent`: it is
    grouped by nothing, so a rule made of it has one alert, labelled with the
    selector's equality matchers; inside a composite it is a guard shared by
    every label set. Series without the label are not counted. It is
    evaluated at ticks (its rule reads no series of its own), at a cost of
    O(matching series) each. The value is the count.

    >>> Cardinality("logins", "1h", "user", ">", 100)
    >>> # cardinality(logins[1h], "user", ">", 100.0)
    >>> Cardinality(Selector("up", {"job": "api"}), "5m", "instance", "<", 3)
    """

    selector: Selector = attrs.field(converter=_selector)
    range: float = attrs.field(converter=_cardinality_range)
    label: str = attrs.field(validator=_check_label)
    op: Op = attrs.field(validator=_cardinality_op)
    threshold: float = attrs.field(converter=_cardinality_threshold)

    def _compile(self, ctx: CompileContext) -> CondNode:
        return CardinalityNode(self, ctx)

    def __str__(self) -> str:
        return render_call(
            "cardinality",
            RangeArg(self.selector, self.range),
            self.label,
            self.op,
            self.threshold,
        )


class CardinalityNode(CondNode):
    __slots__ = ("cmp", "index", "label", "range", "threshold")

    def __init__(self, cardinality: Cardinality, ctx: CompileContext) -> None:
        self.range = cardinality.range
        self.label = cardinality.label
        self.cmp = COMPARE[cardinality.op]
        self.threshold = cardinality.threshold
        # The same global input as absence: every matching series, kept for the range.
        self.index = ctx.absent_input(cardinality.selector, cardinality.range)

    def eval(self, track: Track, now: float, trigger: int, ctx: EvalContext) -> Result:
        lo = now - self.range
        label = self.label
        values = set()
        for series in ctx.absent_series[self.index]:
            # A series' samples are at or before its last one, and every sample is at or
            # before now: it has a sample in [lo, now] exactly when its last is >= lo.
            if series.last_t >= lo:
                value = series.labels.get(label)
                if value is not None:
                    values.add(value)
        count = float(len(values))
        return count if self.cmp(count, self.threshold) else NO_MATCH


# -- the expression language --------------------------------------------------------------


def _register() -> None:
    rng = Param("range", "range")
    op = Param("op", "string")
    threshold = Param("threshold", "number")
    register(
        Function(
            "count_matching",
            "value",
            (rng, op, threshold),
            lambda r, op, threshold: CountMatching(r.selector, r.range, op, threshold),
            "how many samples of each series in the window compare true with op threshold",
        )
    )
    register(
        Function(
            "percent_matching",
            "value",
            (rng, op, threshold),
            lambda r, op, threshold: PercentMatching(r.selector, r.range, op, threshold),
            "the share, in percent, of the samples in the window that compare true",
        )
    )
    register(
        Function(
            "flatline",
            "condition",
            (rng, Param("min_count", "integer", 1)),
            lambda r, min_count=1: Flatline(r.selector, r.range, min_count),
            "holds for a known series with fewer than min_count samples in the window",
        )
    )
    register(
        Function(
            "cardinality",
            "condition",
            (rng, Param("label", "string"), op, threshold),
            lambda r, label, op, threshold: Cardinality(r.selector, r.range, label, op, threshold),
            "compares the number of distinct values of a label among the matching series "
            "with a sample in the window (one global output, like absent)",
        )
    )


_register()
