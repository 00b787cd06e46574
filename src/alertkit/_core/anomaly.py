"""Anomaly detectors: value expressions that score how unusual a series is right now.

Each detector is a :class:`~alertkit.ValueExpr` whose value is a *score*, compared
with a threshold like any other value (``zscore(latency[1h]) > 3``):

=================  ===================================================================
``zscore``         the latest sample against the mean and standard deviation of the
                   other samples of the window
``ewma``           the latest sample against an exponentially weighted mean and
                   standard deviation of the samples before it
``robust_zscore``  the latest sample against the median and MAD of the other
                   samples of the window
``seasonal``       the window's average against the same window one, two, ...
                   periods ago
=================  ===================================================================

What they share (docs/reference/anomaly-detectors.md explains the maths):

- Non-finite samples (NaN, ±Inf) are gaps: they enter no statistic and are never
  "the latest sample". One NaN would otherwise blind a window-long detector for a
  whole window; catch non-finite values with a plain threshold or ``absent``.
- Warm-up: no output (``None``) until the detector has seen enough data.
- A zero spread gives 0 when the value equals the centre, and ±Inf otherwise.
- Streaming: per series, memory is O(1) or O(window) and each sample costs O(1)
  amortised (O(window) memory moves and O(log window) steps for the median); the
  state snapshots and restores exactly, so a restored evaluator continues
  bit-for-bit.
- Pure functions of the samples: ticks and the garbage collection of idle series
  do not change a score. Windowed detectors forget nothing they could still use;
  ``ewma``, whose memory has no window, restarts after a gap longer than
  ``stale_after`` (after which the evaluator forgets an idle series anyway);
  ``seasonal`` asks the evaluator to keep its series as long as its history
  can matter.
"""

from __future__ import annotations

import math
from array import array
from bisect import bisect_left, insort
from collections import deque
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import attrs

from alertkit._errors import RuleError

from .conditions import ValueExpr, _selector
from .functions import Function, Param, RangeArg, register, render_call
from .labels import Selector
from .nodes import ValueNode
from .streamstats import SlidingMoments, median_mad
from .timeutil import DurationLike, format_duration, parse_duration
from .windows import _dec, _enc

if TYPE_CHECKING:
    from .nodes import CompileContext, Track

__all__ = [
    "EWMA",
    "MAD_SCALE",
    "MAX_SEASONAL_BUCKETS",
    "RobustZScore",
    "Seasonal",
    "ZScore",
]

_INF = math.inf
_NAN = math.nan
_sqrt = math.sqrt
_floor = math.floor
_ceil = math.ceil
_nextafter = math.nextafter  # evicting what is < nextafter(t, inf) evicts what is <= t

#: Scales the MAD to the standard deviation of a normal distribution (1 / Φ⁻¹(3/4)).
MAD_SCALE = 1.4826
#: Upper bound of ``seasons * period / range``: the history buckets one series keeps.
MAX_SEASONAL_BUCKETS = 100_000


def _spread_score(d: float, spread: float) -> float:
    """``d / spread``; a zero spread gives 0 for ``d == 0`` and ±Inf otherwise."""
    if spread > 0.0:
        return d / spread
    if spread == 0.0:
        return 0.0 if d == 0.0 else math.copysign(_INF, d)
    return _NAN  # NaN spread: the statistics overflowed (|values| beyond ~1e154)


# -- validation --------------------------------------------------------------------------


def _int_at_least(name: str, minimum: int) -> Callable[[object, attrs.Attribute[Any], Any], None]:
    def check(instance: object, attribute: attrs.Attribute[Any], value: Any) -> None:
        if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
            raise RuleError(f"{name}: {attribute.name}={value!r} must be an integer >= {minimum}")

    return check


def _optional_int_at_least(
    name: str, minimum: int
) -> Callable[[object, attrs.Attribute[Any], Any], None]:
    check = _int_at_least(name, minimum)

    def optional(instance: object, attribute: attrs.Attribute[Any], value: Any) -> None:
        if value is not None:
            check(instance, attribute, value)

    return optional


def _zscore_range(value: DurationLike) -> float:
    return parse_duration(value, field="zscore range", allow_zero=False)


def _robust_range(value: DurationLike) -> float:
    return parse_duration(value, field="robust_zscore range", allow_zero=False)


def _seasonal_range(value: DurationLike) -> float:
    return parse_duration(value, field="seasonal range", allow_zero=False)


def _seasonal_period(value: DurationLike) -> float:
    return parse_duration(value, field="seasonal period", allow_zero=False)


def _alpha(value: object) -> float:
    if (
        isinstance(value, bool)
        or not isinstance(value, int | float)
        or not 0.0 < value < 1.0  # also rejects NaN
    ):
        raise RuleError(f"ewma: alpha={value!r} must be a number with 0 < alpha < 1")
    return float(value)


def _tolerance(value: object) -> float:
    if (
        isinstance(value, bool)
        or not isinstance(value, int | float)
        or not 0.0 <= value < _INF  # also rejects NaN
    ):
        raise RuleError(f"seasonal: tolerance={value!r} must be a finite number >= 0")
    return float(value)


# -- the public kinds --------------------------------------------------------------------


@attrs.frozen
class ZScore(ValueExpr):
    """Rolling z-score: how many standard deviations the latest sample is from the mean.

    At time ``T`` the window is the closed interval ``[T - range, T]``. The
    *latest* sample is the newest finite sample in it; the *baseline* is every
    other finite sample in it (the latest is excluded, so that a spike does not
    inflate the spread it is measured against). With ``mean`` and ``std`` the
    baseline's mean and population standard deviation (as PromQL's
    ``stddev_over_time``)::

        zscore = (latest - mean) / std

    A zero ``std`` (all baseline samples equal) gives 0 when ``latest == mean``
    and ±Inf otherwise.

    :param selector: the series, a metric name or :class:`~alertkit.Selector`.
    :param range: the window, a duration (``"1h"``, seconds or a ``timedelta``).
    :param warmup: no output while the baseline has fewer samples than this
        (default 10, at least 2).

    NaN and ±Inf samples are ignored. Per series: about 70 bytes per sample in
    the window (as for ``avg_over_time``), O(1) amortised time per sample.

    >>> Threshold(ZScore("latency", "1h"), ">", 3)
    >>> # zscore(latency[1h]) > 3.0
    """

    selector: Selector = attrs.field(converter=_selector)
    range: float = attrs.field(converter=_zscore_range)
    warmup: int = attrs.field(default=10, kw_only=True, validator=_int_at_least("zscore", 2))

    def _compile(self, ctx: CompileContext) -> ValueNode:
        return ZScoreNode(self, ctx)

    def __str__(self) -> str:
        return render_call("zscore", RangeArg(self.selector, self.range), warmup=self.warmup)


@attrs.frozen
class EWMA(ValueExpr):
    """Exponentially weighted moving average with control bands, as a score.

    Every finite sample ``x`` updates an exponentially weighted mean ``m`` and
    variance ``s`` (``d = x - m``, then ``m += alpha * d`` and
    ``s = (1 - alpha) * (s + alpha * d * d)``; the first sample starts them at
    ``m = x``, ``s = 0``). The score compares the latest sample with the mean
    and standard deviation as they were *before* it::

        ewma = (latest - m_before) / sqrt(s_before)

    A zero ``s_before`` gives 0 when ``latest == m_before`` and ±Inf otherwise.
    That is the latest sample against the weighted mean and variance of all
    earlier samples, with weights ``alpha * (1 - alpha)**age`` (the oldest
    sample keeps the remaining weight): ``|score| > 3`` is the classic 3-sigma
    control band. Weights count samples, not seconds: use it on regularly
    sampled series.

    :param selector: the series (a plain selector, not a range).
    :param alpha: smoothing, ``0 < alpha < 1`` (default 0.1). The weight of a
        sample halves every ``ln 2 / -ln(1 - alpha)`` samples (6.6 for 0.1).
    :param warmup: no output until this many samples precede the latest one.
        Default: the EWMA's *span* ``ceil(2 / alpha - 1)`` (19 for 0.1), the
        number of samples the average effectively covers; at least 2.

    Like an instant value, the latest sample counts for ``stale_after`` (default
    5 minutes): after that there is no output, and a gap of more than
    ``stale_after`` between two finite samples restarts the detector (the
    evaluator forgets such a series anyway). NaN and ±Inf samples are ignored.
    O(1) memory and time per series.

    >>> Threshold(EWMA("queue_depth", alpha=0.05), ">", 4)
    >>> # ewma(queue_depth, alpha=0.05) > 4.0
    """

    selector: Selector = attrs.field(converter=_selector)
    alpha: float = attrs.field(default=0.1, kw_only=True, converter=_alpha)
    warmup: int | None = attrs.field(
        default=None, kw_only=True, validator=_optional_int_at_least("ewma", 2)
    )

    @property
    def effective_warmup(self) -> int:
        """``warmup``, or its default derived from ``alpha``."""
        if self.warmup is not None:
            return self.warmup
        return max(2, math.ceil(2.0 / self.alpha - 1.0))

    def _compile(self, ctx: CompileContext) -> ValueNode:
        return EwmaNode(self, ctx)

    def __str__(self) -> str:
        return render_call("ewma", self.selector, alpha=self.alpha, warmup=self.warmup)


@attrs.frozen
class RobustZScore(ValueExpr):
    """Robust z-score: distance of the latest sample from the median, in scaled MADs.

    The window and the baseline are those of :class:`ZScore` (the closed
    window ``[T - range, T]``, the latest finite sample excluded from the
    baseline). With ``median`` the baseline's median (the mean of the two
    middle values for an even count) and ``MAD`` the median of the absolute
    deviations ``|x - median|`` of the baseline::

        robust_zscore = (latest - median) / (1.4826 * MAD)

    1.4826 makes the MAD estimate the standard deviation of normally
    distributed data, so thresholds read like z-scores; unlike them, up to
    half of the window may be outliers without moving the centre or the
    spread. A zero MAD (more than half of the baseline equal) gives 0 when
    ``latest == median`` and ±Inf otherwise: on integer-valued series pair it
    with an absolute condition.

    :param selector: the series, a metric name or :class:`~alertkit.Selector`.
    :param range: the window.
    :param warmup: no output while the baseline has fewer samples than this
        (default 10, at least 2).

    NaN and ±Inf samples are ignored. Per series: the window's samples in
    arrival order and sorted; a sample costs an insertion and a deletion in a
    sorted list (O(window) memory moves, fast) and O(log window) steps for the
    median and the MAD.

    >>> Threshold(RobustZScore("latency", "30m", warmup=20), ">", 5)
    >>> # robust_zscore(latency[30m], warmup=20) > 5.0
    """

    selector: Selector = attrs.field(converter=_selector)
    range: float = attrs.field(converter=_robust_range)
    warmup: int = attrs.field(default=10, kw_only=True, validator=_int_at_least("robust_zscore", 2))

    def _compile(self, ctx: CompileContext) -> ValueNode:
        return RobustZScoreNode(self, ctx)

    def __str__(self) -> str:
        return render_call("robust_zscore", RangeArg(self.selector, self.range), warmup=self.warmup)


@attrs.frozen
class Seasonal(ValueExpr):
    """The window's average now against the same window in previous periods.

    ``current`` is the average of the finite samples in ``(T - range, T]``.
    For ``k = 1 .. seasons``, ``past_k`` is the average of the samples in
    ``(T - k*period - range, T - k*period]``, taken from history buckets (see
    below); periods without samples there are skipped. With ``baseline`` and
    ``spread`` the mean and population standard deviation of the ``past_k``::

        seasonal = (current - baseline) / max(spread, tolerance * |baseline|)

    ``tolerance`` is a relative floor of the spread: with one season (or seasons
    that agree) ``score * tolerance`` is the relative change, e.g. with the
    default 0.1 a score of 3 means 30% above the baseline. A zero denominator
    gives 0 when ``current == baseline`` and ±Inf otherwise.

    History buckets: time is cut into buckets of length ``range`` aligned on
    the epoch, ``((j-1)*range, j*range]``; each keeps the count and mean of its
    samples. A past window straddles two buckets; it takes the share of each
    that it covers, as if samples were spread evenly inside a bucket: the mean
    of the two bucket means weighted by ``covered fraction * count`` (two equal
    means give that mean exactly). That is
    exact for evenly sampled series and loses detail shorter than ``range``;
    memory per series is 24 bytes per bucket, ``seasons * period / range`` of
    them (at most 100,000), plus the current window's samples. The windows are
    open on the left, unlike ``*_over_time``'s, so that a window holds exactly
    ``range / interval`` samples of a series sampled every ``interval``, as a
    bucket does, and the current and past windows are alike.

    :param selector: the series, a metric name or :class:`~alertkit.Selector`.
    :param range: the window compared (and the history's resolution).
    :param period: the seasonality, e.g. ``"1d"`` or ``"1w"``; longer than ``range``.
    :param seasons: how many previous periods form the baseline (default 3).
    :param tolerance: the relative floor of the spread (default 0.1, >= 0).
    :param warmup: no output until at least this many previous periods have
        samples in their window (default 1, at most ``seasons``).

    NaN and ±Inf samples are ignored. The series, and its history, is kept for
    ``seasons * period + 2 * range`` after its last sample, so an outage does not
    erase the baseline; for the rule's no-data policy the series counts as
    present that long (pair the rule with ``absent`` to catch outages).

    >>> Threshold(Seasonal("requests", "10m", "1w", seasons=4), "<", -3)
    >>> # seasonal(requests[10m], 1w, seasons=4) < -3.0
    """

    selector: Selector = attrs.field(converter=_selector)
    range: float = attrs.field(converter=_seasonal_range)
    period: float = attrs.field(converter=_seasonal_period)
    seasons: int = attrs.field(default=3, kw_only=True, validator=_int_at_least("seasonal", 1))
    tolerance: float = attrs.field(default=0.1, kw_only=True, converter=_tolerance)
    warmup: int = attrs.field(default=1, kw_only=True, validator=_int_at_least("seasonal", 1))

    def __attrs_post_init__(self) -> None:
        if self.period <= self.range:
            raise RuleError(
                f"seasonal: period {format_duration(self.period)} must be longer than the "
                f"range {format_duration(self.range)}"
            )
        if self.warmup > self.seasons:
            raise RuleError(f"seasonal: warmup={self.warmup} is larger than seasons={self.seasons}")
        if self.buckets > MAX_SEASONAL_BUCKETS:
            raise RuleError(
                f"seasonal: seasons * period / range = {self.buckets - 3:,} history buckets "
                f"per series, more than {MAX_SEASONAL_BUCKETS:,}; use a longer range or fewer "
                f"seasons"
            )

    @property
    def buckets(self) -> int:
        """History buckets one series keeps (a ring; a few more than strictly needed)."""
        return _floor(self.seasons * self.period / self.range) + 3

    def _compile(self, ctx: CompileContext) -> ValueNode:
        return SeasonalNode(self, ctx)

    def __str__(self) -> str:
        return render_call(
            "seasonal",
            RangeArg(self.selector, self.range),
            self.period,
            seasons=self.seasons,
            tolerance=self.tolerance,
            warmup=self.warmup,
        )


# -- z-score ------------------------------------------------------------------------------


class ZScoreBuf(SlidingMoments):
    """The baseline's sliding moments plus the latest sample, held out of them."""

    __slots__ = ("has_last", "last_t", "last_v")

    def __init__(self) -> None:
        super().__init__()
        self.has_last = False
        self.last_t = 0.0
        self.last_v = 0.0

    def dump_all(self) -> list[Any]:
        last = [self.last_t, _enc(self.last_v)] if self.has_last else None
        return [self.dump(), last]

    @classmethod
    def load_all(cls, data: list[Any]) -> ZScoreBuf:
        moments, last = data
        buf = cls()
        buf.load_into(moments)
        if last is not None:
            buf.has_last = True
            buf.last_t, buf.last_v = float(last[0]), _dec(last[1])
        return buf


class ZScoreNode(ValueNode):
    __slots__ = ("index", "inputs", "range", "slot", "warmup")

    def __init__(self, expr: ZScore, ctx: CompileContext) -> None:
        self.index = ctx.track_input(expr.selector)
        self.inputs = frozenset({self.index})
        self.range = expr.range
        self.warmup = expr.warmup
        self.slot = ctx.feed(self.index, self, reach=expr.range)

    def new_aux(self) -> ZScoreBuf:
        return ZScoreBuf()

    def dump_aux(self, aux: ZScoreBuf) -> Any:
        return aux.dump_all()

    def load_aux(self, data: Any) -> ZScoreBuf:
        return ZScoreBuf.load_all(data)

    def feed(self, buf: ZScoreBuf, t: float, v: float) -> None:
        if v - v != 0.0:  # NaN or ±Inf (v - v is NaN for both): a gap, not a value
            return
        if buf.has_last:
            # The previous latest joins the baseline: SlidingMoments.push, inlined (hot path).
            lv = buf.last_v
            back_t = buf.back_t
            back_t.append(buf.last_t)
            buf.back_v.append(lv)
            mean = buf.back_mean
            delta = lv - mean
            mean += delta / len(back_t)
            buf.back_mean = mean
            buf.back_m2 += delta * (lv - mean)
        else:
            buf.has_last = True
        buf.last_t = t
        buf.last_v = v
        # Evict now as well as when evaluated: in tick mode many samples may arrive
        # between two evaluations, and the buffer must stay window-sized. The common
        # case, the front's top leaving, is SlidingMoments.evict's inner loop, inlined.
        lo = t - self.range
        n = buf.front_n
        if n:
            front_t = buf.front_t
            if front_t[n - 1] < lo:
                n -= 1
                while n and front_t[n - 1] < lo:
                    n -= 1
                buf.front_n = n
                if not n:
                    buf.evict(lo)
        elif buf.back_t and buf.back_t[0] < lo:
            buf.evict(lo)

    def value(self, track: Track, now: float) -> float | None:
        buf: ZScoreBuf = track.aux[self.slot]
        if not buf.has_last:
            return None
        lo = now - self.range
        if buf.last_t < lo:  # the whole window is empty
            buf.clear()
            buf.has_last = False
            return None
        nf = buf.front_n
        # Evaluated at the time of the latest sample (sample mode), feed has just evicted
        # up to this very bound: skip the check.
        if now != buf.last_t and (
            (buf.front_t[nf - 1] < lo) if nf else (buf.back_t and buf.back_t[0] < lo)
        ):
            buf.evict(lo)
            nf = buf.front_n
        nb = len(buf.back_t)
        n = nf + nb
        if n < self.warmup:
            return None
        if not nf:
            mean, m2 = buf.back_mean, buf.back_m2
        else:
            mean, m2 = buf.front_mean[nf - 1], buf.front_m2[nf - 1]
            if nb:  # merge_moments, inlined
                delta = buf.back_mean - mean
                mean += delta * (nb / n)
                m2 += buf.back_m2 + delta * delta * (nf * nb / n)
        d = buf.last_v - mean
        var = m2 / n
        if var > 0.0:
            return d / _sqrt(var)
        return _spread_score(d, var)


# -- EWMA ---------------------------------------------------------------------------------


class EwmaState:
    """Running EWMA statistics, and the mean and variance before the latest sample."""

    __slots__ = ("last_t", "last_v", "mean", "n", "prev_mean", "prev_var", "var")

    def __init__(self) -> None:
        self.n = 0  # finite samples since the (re)start
        self.mean = 0.0
        self.var = 0.0
        self.prev_mean = 0.0
        self.prev_var = 0.0
        self.last_t = 0.0
        self.last_v = 0.0

    def dump(self) -> list[Any]:
        return [
            self.n,
            *(_enc(x) for x in (self.mean, self.var, self.prev_mean, self.prev_var, self.last_v)),
            self.last_t,
        ]

    @classmethod
    def load(cls, data: list[Any]) -> EwmaState:
        n, mean, var, prev_mean, prev_var, last_v, last_t = data
        s = cls()
        s.n = int(n)
        s.mean, s.var = _dec(mean), _dec(var)
        s.prev_mean, s.prev_var = _dec(prev_mean), _dec(prev_var)
        s.last_v, s.last_t = _dec(last_v), float(last_t)
        return s


class EwmaNode(ValueNode):
    __slots__ = ("alpha", "index", "inputs", "keep", "slot", "stale_after", "warmup")

    def __init__(self, expr: EWMA, ctx: CompileContext) -> None:
        self.index = ctx.track_input(expr.selector)
        self.inputs = frozenset({self.index})
        self.alpha = expr.alpha
        self.keep = 1.0 - expr.alpha
        self.warmup = expr.effective_warmup
        self.stale_after = ctx.stale_after
        self.slot = ctx.feed(self.index, self, reach=ctx.stale_after)

    def new_aux(self) -> EwmaState:
        return EwmaState()

    def dump_aux(self, aux: EwmaState) -> Any:
        return aux.dump()

    def load_aux(self, data: Any) -> EwmaState:
        return EwmaState.load(data)

    def feed(self, s: EwmaState, t: float, v: float) -> None:
        if v - v != 0.0:  # NaN or ±Inf: a gap, not a value
            return
        n = s.n
        # Restart after a stale gap: the evaluator forgets an idle series after the same
        # gap (when a tick collects it), so the score must not depend on whether it did.
        if n and t - s.last_t > self.stale_after:
            n = 0
        if n:
            mean = s.prev_mean = s.mean
            var = s.prev_var = s.var
            d = v - mean
            incr = self.alpha * d
            s.mean = mean + incr
            s.var = self.keep * (var + d * incr)
        else:
            s.mean = v
            s.var = 0.0
        s.n = n + 1
        s.last_t = t
        s.last_v = v

    def value(self, track: Track, now: float) -> float | None:
        s: EwmaState = track.aux[self.slot]
        # Inclusive, like an instant value: a sample exactly stale_after old still counts.
        if s.n <= self.warmup or s.last_t < now - self.stale_after:
            return None
        var = s.prev_var
        if var > 0.0:
            return (s.last_v - s.prev_mean) / _sqrt(var)
        return _spread_score(s.last_v - s.prev_mean, var)


# -- robust z-score ------------------------------------------------------------------------


class RobustBuf:
    """The baseline in arrival order and sorted, plus the latest sample held out."""

    __slots__ = ("has_last", "last_t", "last_v", "sorted", "ts", "vs")

    def __init__(self) -> None:
        self.ts: deque[float] = deque()
        self.vs: deque[float] = deque()
        self.sorted: list[float] = []
        self.has_last = False
        self.last_t = 0.0
        self.last_v = 0.0

    def evict(self, lo: float) -> None:
        ts, vs, srt = self.ts, self.vs, self.sorted
        while ts and ts[0] < lo:
            ts.popleft()
            del srt[bisect_left(srt, vs.popleft())]

    def dump(self) -> list[Any]:
        last = [self.last_t, self.last_v] if self.has_last else None
        return [list(self.ts), list(self.vs), last]

    @classmethod
    def load(cls, data: list[Any]) -> RobustBuf:
        ts, vs, last = data
        if len(ts) != len(vs):
            raise ValueError("robust_zscore: times and values of different lengths")
        buf = cls()
        buf.ts = deque(float(t) for t in ts)
        buf.vs = deque(float(v) for v in vs)
        # Values are finite and zeros unsigned (see feed), so the sorted order is unique.
        buf.sorted = sorted(buf.vs)
        if last is not None:
            buf.has_last = True
            buf.last_t, buf.last_v = float(last[0]), float(last[1])
        return buf


class RobustZScoreNode(ValueNode):
    __slots__ = ("index", "inputs", "range", "slot", "warmup")

    def __init__(self, expr: RobustZScore, ctx: CompileContext) -> None:
        self.index = ctx.track_input(expr.selector)
        self.inputs = frozenset({self.index})
        self.range = expr.range
        self.warmup = expr.warmup
        self.slot = ctx.feed(self.index, self, reach=expr.range)

    def new_aux(self) -> RobustBuf:
        return RobustBuf()

    def dump_aux(self, aux: RobustBuf) -> Any:
        return aux.dump()

    def load_aux(self, data: Any) -> RobustBuf:
        return RobustBuf.load(data)

    def feed(self, buf: RobustBuf, t: float, v: float) -> None:
        if v - v != 0.0:  # NaN or ±Inf: a gap, not a value
            return
        # -0.0 and 0.0 compare equal but print differently: one zero keeps the sorted list,
        # and so a restored state, identical to the original.
        v += 0.0
        if buf.has_last:
            lv = buf.last_v
            buf.ts.append(buf.last_t)
            buf.vs.append(lv)
            insort(buf.sorted, lv)
        else:
            buf.has_last = True
        buf.last_t = t
        buf.last_v = v
        lo = t - self.range
        if buf.ts and buf.ts[0] < lo:
            buf.evict(lo)

    def value(self, track: Track, now: float) -> float | None:
        buf: RobustBuf = track.aux[self.slot]
        if not buf.has_last:
            return None
        lo = now - self.range
        if buf.last_t < lo:
            buf.ts.clear()
            buf.vs.clear()
            buf.sorted.clear()
            buf.has_last = False
            return None
        if buf.ts and buf.ts[0] < lo:
            buf.evict(lo)
        if len(buf.sorted) < self.warmup:
            return None
        median, mad = median_mad(buf.sorted)
        return _spread_score(buf.last_v - median, MAD_SCALE * mad)


# -- seasonal ------------------------------------------------------------------------------

_NO_BUCKET = -(2**63)


class SeasonalBuf:
    """The current window's moments and a ring of history buckets (count and mean each)."""

    __slots__ = ("counts", "ids", "means", "window")

    def __init__(self) -> None:
        self.window = SlidingMoments()
        # Allocated at the first sample: a series that never reports costs no ring.
        self.ids: array[int] | None = None
        self.means: array[float] = array("d")
        self.counts: array[int] = array("q")

    def dump(self) -> list[Any]:
        buckets = []
        if self.ids is not None:
            for slot, j in enumerate(self.ids):
                if j != _NO_BUCKET:
                    buckets.append([j, self.counts[slot], _enc(self.means[slot])])
            buckets.sort()
        return [self.window.dump(), buckets]


class SeasonalNode(ValueNode):
    __slots__ = (
        "index",
        "inputs",
        "period",
        "range",
        "ring",
        "seasons",
        "slot",
        "tolerance",
        "warmup",
    )

    def __init__(self, expr: Seasonal, ctx: CompileContext) -> None:
        self.index = ctx.track_input(expr.selector)
        self.inputs = frozenset({self.index})
        self.range = expr.range
        self.period = expr.period
        self.seasons = expr.seasons
        self.tolerance = expr.tolerance
        self.warmup = expr.warmup
        self.ring = expr.buckets
        # Reach past the oldest bucket an evaluation can read (the bucket before the oldest
        # past window's end has a share in it): the evaluator then keeps the series, and its
        # history, through an outage, and forgets it only once no bucket can matter.
        reach = expr.seasons * expr.period + 2 * expr.range
        self.slot = ctx.feed(self.index, self, reach=reach)

    def new_aux(self) -> SeasonalBuf:
        return SeasonalBuf()

    def dump_aux(self, aux: SeasonalBuf) -> Any:
        return aux.dump()

    def load_aux(self, data: Any) -> SeasonalBuf:
        window, buckets = data
        buf = SeasonalBuf()
        buf.window.load_into(window)
        if buckets:
            self._allocate(buf)
            assert buf.ids is not None
            for j, count, mean in buckets:
                slot = int(j) % self.ring
                buf.ids[slot] = int(j)
                buf.counts[slot] = int(count)
                buf.means[slot] = _dec(mean)
        return buf

    def _allocate(self, buf: SeasonalBuf) -> None:
        buf.ids = array("q", [_NO_BUCKET]) * self.ring
        buf.means = array("d", [0.0]) * self.ring
        buf.counts = array("q", [0]) * self.ring

    def feed(self, buf: SeasonalBuf, t: float, v: float) -> None:
        if v - v != 0.0:  # NaN or ±Inf: a gap, not a value
            return
        window = buf.window
        window.push(t, v)
        # Open on the left: a sample exactly `range` old is out (see Seasonal).
        lo = _nextafter(t - self.range, _INF)
        if window.oldest() < lo:
            window.evict(lo)
        ids = buf.ids
        if ids is None:
            self._allocate(buf)
            ids = buf.ids
            assert ids is not None
        j = _ceil(t / self.range)  # bucket j is ((j-1)*range, j*range]
        slot = j % self.ring
        # A slot is reused only by a bucket `ring` buckets later, when no evaluation can
        # read the old one any more (see Seasonal.buckets).
        if ids[slot] != j:
            ids[slot] = j
            buf.means[slot] = 0.0
            buf.counts[slot] = 0
        # A running mean, not a sum: equal samples keep their value exactly (a sum of
        # 0.1s divided back does not), so a constant series compares equal to its past.
        count = buf.counts[slot] + 1
        buf.counts[slot] = count
        mean = buf.means[slot]
        buf.means[slot] = mean + (v - mean) / count

    def value(self, track: Track, now: float) -> float | None:
        buf: SeasonalBuf = track.aux[self.slot]
        window = buf.window
        if not len(window):
            return None
        window.evict(_nextafter(now - self.range, _INF))
        n, current, _ = window.moments()
        if not n:
            return None
        ids = buf.ids
        assert ids is not None
        means, counts, ring, w = buf.means, buf.counts, self.ring, self.range
        past: list[float] = []
        for k in range(1, self.seasons + 1):
            x = (now - k * self.period) / w  # the past window's end, in buckets
            j = _ceil(x)
            g = j - x  # the past window covers 1 - g of bucket j and g of bucket j - 1
            slot = j % ring
            a = (1.0 - g) * counts[slot] if ids[slot] == j else 0.0
            slot0 = (j - 1) % ring
            b = g * counts[slot0] if ids[slot0] == j - 1 else 0.0
            if a > 0.0:
                m = means[slot]
                past.append(m if b == 0.0 else blend(means[slot0], m, a / (a + b)))
            elif b > 0.0:
                past.append(means[slot0])
        if len(past) < self.warmup:
            return None
        return seasonal_score(current, past, self.tolerance)


def blend(m0: float, m1: float, share1: float) -> float:
    """``m0 * (1 - share1) + m1 * share1``, written so that ``m0 == m1`` gives ``m0`` exactly."""
    return m0 + (m1 - m0) * share1


def seasonal_score(current: float, past: list[float], tolerance: float) -> float:
    """The score of :class:`Seasonal` from the current and past window averages."""
    m = len(past)
    if min(past) == max(past):  # exact: the mean of equal floats may round away from them
        baseline, spread = past[0], 0.0
    else:
        baseline = _fsum(past) / m
        spread = _sqrt(_fsum([(p - baseline) * (p - baseline) for p in past]) / m)
    return _spread_score(current - baseline, max(spread, tolerance * abs(baseline)))


def _fsum(values: list[float]) -> float:
    """``math.fsum``, which raises where a score must not: Inf - Inf, or a sum past the
    float range (|values| near 1e308). Then the plain sum's Inf or NaN says it."""
    try:
        return math.fsum(values)
    except (OverflowError, ValueError):
        return sum(values)


# -- the expression language ---------------------------------------------------------------


def _register() -> None:
    rng = Param("range", "range")
    register(
        Function(
            "zscore",
            "value",
            (rng, Param("warmup", "integer", 10)),
            lambda r, warmup=10: ZScore(r.selector, r.range, warmup=warmup),
            "the latest sample's distance from the mean of the rest of the window, in "
            "standard deviations",
        )
    )
    register(
        Function(
            "ewma",
            "value",
            (
                Param("selector", "selector"),
                Param("alpha", "number", 0.1),
                Param("warmup", "integer", None),
            ),
            lambda sel, alpha=0.1, warmup=None: EWMA(sel, alpha=alpha, warmup=warmup),
            "the latest sample's distance from the exponentially weighted mean of the "
            "samples before it, in exponentially weighted standard deviations",
        )
    )
    register(
        Function(
            "robust_zscore",
            "value",
            (rng, Param("warmup", "integer", 10)),
            lambda r, warmup=10: RobustZScore(r.selector, r.range, warmup=warmup),
            "the latest sample's distance from the median of the rest of the window, in "
            "scaled median absolute deviations (1.4826 MAD)",
        )
    )
    register(
        Function(
            "seasonal",
            "value",
            (
                rng,
                Param("period", "duration"),
                Param("seasons", "integer", 3),
                Param("tolerance", "number", 0.1),
                Param("warmup", "integer", 1),
            ),
            lambda r, period, seasons=3, tolerance=0.1, warmup=1: Seasonal(
                r.selector, r.range, period, seasons=seasons, tolerance=tolerance, warmup=warmup
            ),
            "the window's average against the same window in previous periods, in units of "
            "max(spread of the periods, tolerance * |their mean|)",
        )
    )


_register()
