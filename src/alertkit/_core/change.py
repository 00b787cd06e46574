"""Change and spike detection: a window aggregate now against the same aggregate earlier.

ElastAlert's *spike* rule and Datadog's *change* monitor, in PromQL terms::

    change("avg", cpu[5m], offset=1d, mode="percent")
      == (avg_over_time(cpu[5m]) - avg_over_time(cpu[5m] offset 1d))
         / abs(avg_over_time(cpu[5m] offset 1d)) * 100

The current window is ``[T - range, T]``, the reference window
``[T - offset - range, T - offset]``, both closed as in Prometheus 2.42; the
offset defaults to the range (the previous window, which then shares its
boundary sample with the current one).

Streaming. Each series keeps the samples of ``[T - offset - range, T]`` in one
list and two running aggregates, one per window. Evaluation times never go back,
so both windows only slide forward: a sample enters the current window when it
arrives, leaves it at ``t + range``, enters the reference window at ``t + offset``
and is dropped at ``t + offset + range``. Each of these happens once per sample,
so an evaluation is O(1) amortised and memory is O(offset + range).
"""

from __future__ import annotations

import math
from collections import deque
from typing import TYPE_CHECKING, Any, Literal

import attrs

from alertkit._errors import RuleError

from .arith import ieee_div
from .conditions import ValueExpr, _selector
from .functions import Function, Param, RangeArg, register, render_call
from .labels import Selector
from .nodes import ValueNode
from .timeutil import DurationLike, parse_duration
from .windows import Agg, _dec, _enc, exact_sum

if TYPE_CHECKING:
    from .nodes import CompileContext, Track

__all__ = [
    "CHANGE_AGGS",
    "CHANGE_MODES",
    "Change",
    "ChangeBuf",
    "ChangeNode",
]

ChangeMode = Literal["ratio", "percent", "absolute"]
CHANGE_MODES: tuple[str, ...] = ("ratio", "percent", "absolute")
CHANGE_AGGS: tuple[Agg, ...] = (Agg.AVG, Agg.SUM, Agg.COUNT, Agg.MIN, Agg.MAX, Agg.LAST)

_NAN = math.nan
_INF = math.inf


def _agg(value: Agg | str) -> Agg:
    try:
        agg = Agg(value)
    except ValueError:
        agg = None
    if agg not in CHANGE_AGGS:
        names = ", ".join(a.value for a in CHANGE_AGGS)
        raise RuleError(f"change: aggregation {value!r} is not one of {names}")
    assert agg is not None
    return agg


def _range(value: DurationLike) -> float:
    return parse_duration(value, field="change range", allow_zero=False)


def _offset(value: DurationLike) -> float:
    return parse_duration(value, field="change offset", allow_zero=False)


def _check_mode(instance: object, attribute: attrs.Attribute[str], value: object) -> None:
    if value not in CHANGE_MODES:
        raise RuleError(f"change: mode {value!r} is not one of {', '.join(CHANGE_MODES)}")


def _check_min_count(instance: object, attribute: attrs.Attribute[int], value: object) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise RuleError(f"change: min_count={value!r} must be a positive integer")


@attrs.frozen
class Change(ValueExpr):
    """A window aggregate now, compared with the same aggregate ``offset`` ago.

    ``agg`` is one of ``avg``, ``sum``, ``count``, ``min``, ``max``, ``last``
    (each as its ``*_over_time``). With ``cur`` the aggregate over
    ``[T - range, T]`` and ``ref`` the one over ``[T - offset - range, T - offset]``
    (``offset`` defaults to ``range``: the previous window), the value is

    - ``mode="ratio"`` (default): ``cur / ref``;
    - ``mode="percent"``: ``(cur - ref) / |ref| * 100``;
    - ``mode="absolute"``: ``cur - ref``.

    Division by zero follows IEEE 754 (``x / 0`` is ±Inf, ``0 / 0`` NaN). Unless
    both windows hold at least ``min_count`` samples (default 1) there is no
    output. A series is remembered for ``offset + range`` after its last sample,
    so a short gap does not lose the reference window.

    >>> Threshold(Change("avg", "cpu", "5m", offset="1d", mode="percent", min_count=10), ">", 50)
    >>> # change("avg", cpu[5m], offset=1d, mode="percent", min_count=10) > 50.0
    """

    agg: Agg = attrs.field(converter=_agg)
    selector: Selector = attrs.field(converter=_selector)
    range: float = attrs.field(converter=_range)
    offset: float = attrs.field(
        default=attrs.Factory(lambda self: self.range, takes_self=True),
        converter=_offset,
        kw_only=True,
    )
    mode: ChangeMode = attrs.field(default="ratio", validator=_check_mode, kw_only=True)
    min_count: int = attrs.field(default=1, validator=_check_min_count, kw_only=True)

    def _compile(self, ctx: CompileContext) -> ValueNode:
        return ChangeNode(self, ctx)

    def __str__(self) -> str:
        return render_call(
            "change",
            self.agg.value,
            RangeArg(self.selector, self.range),
            offset=None if self.offset == self.range else self.offset,
            mode=self.mode,
            min_count=self.min_count,
        )


class _Side:
    """The running aggregate of one of the two windows; this base keeps nothing (count and
    last need only the window's edges)."""

    __slots__ = ()

    def add(self, t: float, v: float) -> None:
        pass

    def remove(self, t: float, v: float) -> None:
        pass

    def clear(self) -> None:
        pass

    def total(self, vs: list[float], start: int, stop: int) -> float:
        raise NotImplementedError  # sum and avg only

    def extreme(self) -> float:
        raise NotImplementedError  # min and max only

    def dump(self) -> Any:
        return None


class _SumSide(_Side):
    """Running sum of the finite values, counts of the others (sum and avg)."""

    __slots__ = ("asum", "fsum", "ninf", "nnan", "ops", "peak", "pinf")

    def __init__(self) -> None:
        self.fsum = 0.0  # sum of the finite values
        self.asum = 0.0  # sum of their magnitudes ...
        self.peak = 0.0  # ... and the largest magnitude added since fsum was recomputed
        self.nnan = 0
        self.pinf = 0
        self.ninf = 0
        self.ops = 0  # additions and removals since fsum was last recomputed

    def add(self, t: float, v: float) -> None:
        if v - v == 0.0:  # finite
            self.fsum += v
            a = abs(v)
            self.asum += a
            if a > self.peak:
                self.peak = a
        elif v != v:
            self.nnan += 1
        elif v > 0:
            self.pinf += 1
        else:
            self.ninf += 1
        self.ops += 1

    def remove(self, t: float, v: float) -> None:
        if v - v == 0.0:
            self.fsum -= v
            self.asum -= abs(v)
        elif v != v:
            self.nnan -= 1
        elif v > 0:
            self.pinf -= 1
        else:
            self.ninf -= 1
        self.ops += 1

    def clear(self) -> None:
        self.fsum = self.asum = self.peak = 0.0  # an empty window leaves no rounding residue
        self.ops = 0

    def total(self, vs: list[float], start: int, stop: int) -> float:
        """The sum of the window ``vs[start:stop]`` (as PromQL's sum_over_time)."""
        if self.nnan or (self.pinf and self.ninf):
            return _NAN
        if self.pinf:
            return _INF
        if self.ninf:
            return -_INF
        if (
            self.ops > 4 * (stop - start) + 64
            or not self.peak <= 1e3 * self.asum
            or self.fsum - self.fsum != 0.0
            or self.asum - self.asum != 0.0
        ):
            # Adding and subtracting leaves rounding residue behind, in proportion to what
            # went through the sum: recompute exactly after 4 windows' worth of operations,
            # when a value much larger than all that remains has left, or when the sums
            # overflowed (values near 1e308) and may hold Inf - Inf.
            finite = [v for v in vs[start:stop] if v - v == 0.0]
            self.fsum = exact_sum(finite)
            self.asum = exact_sum(map(abs, finite))
            self.peak = max(map(abs, finite), default=0.0)
            self.ops = 0
        return self.fsum

    def dump(self) -> Any:
        # Sums of finite values can still overflow to ±Inf (or NaN): strict JSON needs _enc.
        sums = [_enc(self.fsum), _enc(self.asum), _enc(self.peak)]
        return [*sums, self.nnan, self.pinf, self.ninf, self.ops]

    @classmethod
    def load(cls, data: list[Any]) -> _SumSide:
        side = cls()
        side.fsum, side.asum, side.peak = _dec(data[0]), _dec(data[1]), _dec(data[2])
        side.nnan, side.pinf, side.ninf, side.ops = (int(x) for x in data[3:])
        return side


class _MonoSide(_Side):
    """A monotonic deque of (t, v): the window's min or max first, NaN ignored (as PromQL)."""

    __slots__ = ("is_max", "mono")

    def __init__(self, is_max: bool) -> None:
        self.is_max = is_max
        self.mono: deque[tuple[float, float]] = deque()

    def add(self, t: float, v: float) -> None:
        if v != v:
            return
        mono = self.mono
        if self.is_max:
            while mono and mono[-1][1] < v:  # ties keep the oldest, as PromQL
                mono.pop()
        else:
            while mono and mono[-1][1] > v:
                mono.pop()
        mono.append((t, v))

    def remove(self, t: float, v: float) -> None:
        mono = self.mono
        if mono and mono[0][0] == t:
            mono.popleft()

    def extreme(self) -> float:
        return self.mono[0][1] if self.mono else _NAN  # NaN when every value is NaN

    def dump(self) -> Any:
        return [[t, _enc(v)] for t, v in self.mono]

    @classmethod
    def load(cls, data: list[Any], is_max: bool) -> _MonoSide:
        side = cls(is_max)
        side.mono = deque((float(t), _dec(v)) for t, v in data)
        return side


class ChangeBuf:
    """Samples of ``[T - offset - range, T]`` of one series, and the two windows over them.

    ``ts[head:]`` / ``vs[head:]`` are the live samples (a list with a moving head,
    compacted now and then, so that the windows' edges are O(1) indexes). The
    reference window is ``[head, ref_end)``, the current window ``[cur_start, len)``.
    """

    __slots__ = ("cur", "cur_start", "head", "ref", "ref_end", "slid_at", "ts", "vs")

    def __init__(self, cur: _Side, ref: _Side) -> None:
        self.ts: list[float] = []
        self.vs: list[float] = []
        self.head = 0
        self.ref_end = 0
        self.cur_start = 0
        self.cur = cur
        self.ref = ref
        self.slid_at = -_INF  # when the windows were last moved to "now"

    def dump(self) -> list[Any]:
        h = self.head
        return [
            self.ts[h:],
            [_enc(v) for v in self.vs[h:]],
            self.ref_end - h,
            self.cur_start - h,
            _enc(self.slid_at),
            self.cur.dump(),
            self.ref.dump(),
        ]


_COMPACT_AT = 256  # dropped samples kept at the head of the list before it is compacted


class ChangeNode(ValueNode):
    __slots__ = ("agg", "index", "inputs", "min_count", "mode", "offset", "range", "slot")

    def __init__(self, change: Change, ctx: CompileContext) -> None:
        self.agg = change.agg
        self.range = change.range
        self.offset = change.offset
        self.mode = change.mode
        self.min_count = change.min_count
        self.index = ctx.track_input(change.selector)
        self.inputs = frozenset({self.index})
        # Reach offset + range, not range: the series and its reference window must
        # survive a gap longer than the range (a quiet night, for offset=1d).
        self.slot = ctx.feed(self.index, self, reach=change.offset + change.range)

    def _side(self) -> _Side:
        agg = self.agg
        if agg is Agg.AVG or agg is Agg.SUM:
            return _SumSide()
        if agg is Agg.MIN or agg is Agg.MAX:
            return _MonoSide(agg is Agg.MAX)
        return _Side()

    def new_aux(self) -> ChangeBuf:
        return ChangeBuf(self._side(), self._side())

    def dump_aux(self, aux: ChangeBuf) -> Any:
        return aux.dump()

    def load_aux(self, data: Any) -> ChangeBuf:
        ts, vs, ref_end, cur_start, slid_at, cur, ref = data
        agg = self.agg
        sides: tuple[_Side, _Side]
        if agg is Agg.AVG or agg is Agg.SUM:
            sides = _SumSide.load(cur), _SumSide.load(ref)
        elif agg is Agg.MIN or agg is Agg.MAX:
            sides = _MonoSide.load(cur, agg is Agg.MAX), _MonoSide.load(ref, agg is Agg.MAX)
        else:
            sides = _Side(), _Side()
        buf = ChangeBuf(*sides)
        buf.ts = [float(t) for t in ts]
        buf.vs = [_dec(v) for v in vs]
        buf.ref_end, buf.cur_start = int(ref_end), int(cur_start)
        buf.slid_at = _dec(slid_at)
        return buf

    def feed(self, buf: ChangeBuf, t: float, v: float) -> None:
        # Every later evaluation is at or after t, so the windows may slide to t now. They
        # do so at least every quarter range: memory stays O(offset + range) even when
        # evaluations are rare (tick mode), and evaluations (which slide anyway) spare it.
        if t - buf.slid_at >= 0.25 * self.range:
            self._slide(buf, t)
        buf.ts.append(t)
        buf.vs.append(v)
        buf.cur.add(t, v)

    def _slide(self, buf: ChangeBuf, now: float) -> None:
        buf.slid_at = now
        ts, vs = buf.ts, buf.vs
        end = len(ts)
        # 1. Samples older than now - range leave the current window.
        lo = now - self.range
        i = buf.cur_start
        if i < end and ts[i] < lo:
            remove = buf.cur.remove
            while i < end and ts[i] < lo:
                remove(ts[i], vs[i])
                i += 1
            buf.cur_start = i
            if i == end:
                buf.cur.clear()
        # 2. The reference window [now - offset - range, now - offset]: drop its old
        # samples (they are < lo, so never in the current window), then take in new ones.
        hi = now - self.offset
        lo = hi - self.range
        h, j = buf.head, buf.ref_end
        if h < end and ts[h] < lo:
            remove = buf.ref.remove
            while h < end and ts[h] < lo:
                if h < j:
                    remove(ts[h], vs[h])
                h += 1
            if h >= j:  # (some slid past the reference window without entering it)
                j = h
                buf.ref.clear()
        if j < end and ts[j] <= hi:
            add = buf.ref.add
            while j < end and ts[j] <= hi:
                add(ts[j], vs[j])
                j += 1
        buf.ref_end = j
        if h >= _COMPACT_AT and 2 * h >= end:
            del ts[:h], vs[:h]
            buf.ref_end -= h
            buf.cur_start -= h
            h = 0
        buf.head = h

    def _aggregate(self, side: _Side, vs: list[float], start: int, stop: int) -> float:
        agg = self.agg
        if agg is Agg.AVG:
            return side.total(vs, start, stop) / (stop - start)
        if agg is Agg.SUM:
            return side.total(vs, start, stop)
        if agg is Agg.COUNT:
            return float(stop - start)
        if agg is Agg.LAST:
            return vs[stop - 1]
        return side.extreme()

    def value(self, track: Track, now: float) -> float | None:
        buf: ChangeBuf = track.aux[self.slot]
        self._slide(buf, now)
        end = len(buf.ts)
        if end - buf.cur_start < self.min_count or buf.ref_end - buf.head < self.min_count:
            return None
        cur = self._aggregate(buf.cur, buf.vs, buf.cur_start, end)
        ref = self._aggregate(buf.ref, buf.vs, buf.head, buf.ref_end)
        mode = self.mode
        if mode == "ratio":
            return ieee_div(cur, ref)
        if mode == "percent":
            return ieee_div(cur - ref, abs(ref)) * 100.0
        return cur - ref


# -- the expression language --------------------------------------------------------------


def _build(
    agg: str,
    r: RangeArg,
    offset: float | None = None,
    mode: str = "ratio",
    min_count: int = 1,
) -> Change:
    return Change(
        agg,
        r.selector,
        r.range,
        offset=r.range if offset is None else offset,
        mode=mode,  # type: ignore[arg-type]  # validated by Change
        min_count=min_count,
    )


register(
    Function(
        "change",
        "value",
        (
            Param("agg", "string"),
            Param("range", "range"),
            Param("offset", "duration", None),
            Param("mode", "string", "ratio"),
            Param("min_count", "integer", 1),
        ),
        _build,
        "a window aggregate now against the same aggregate offset ago (default: the "
        "previous window), as ratio, percent or absolute change",
    )
)
