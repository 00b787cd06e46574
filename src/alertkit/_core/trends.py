"""Trends: PromQL's ``deriv`` and ``predict_linear``, streamed.

Both fit a least-squares line to the samples of each series in the closed
window ``[T - range, T]``. ``deriv`` is the line's slope, per second;
``predict_linear`` is the line's value at ``T + horizon``. Prometheus 2.42
refits from every sample of the window at every evaluation; here each series
keeps running sums (of x, y, xy, x²) and a fit costs O(1) per sample and per
evaluation, with O(window) memory.

Numerics. With epoch timestamps (1.7e9 s, so t² ≈ 3e18) running sums of t and
t² would cancel every significant digit of the variance of a 10 minute window.
So the sums are over ``x = t - origin``, the origin being a sample time of the
buffer, and over the values ``y`` themselves (as Prometheus does). Adding then
subtracting leaves rounding residue behind, so the sums are rebuilt exactly
(``math.fsum``) from the buffer, with the oldest sample as the new origin, when

- the buffer empties (the next sample becomes the origin);
- more additions and removals went through the sums than 4 times the buffer
  holds (bounds the drift; amortised O(1) per sample);
- the largest |y| added since the last rebuild is over 1000 times the sum of
  the |y| still in the window (a spike has left: its residue would swamp the
  small values that remain), or the sums overflowed (values near 1e308);
- the window slid so far from the origin that the variance is badly conditioned
  (``Σx² / (n·var x)`` above ``64 + 4n``).

With the oldest sample as origin, ``Σx² / (n·var x) <= n + 1`` (this is why
Prometheus' ``deriv`` puts its origin at the first sample), so a fit is within a
few ulps times ``n`` of what fresh sums give, and within 1e-9 (relative) of
Prometheus' own result on well-conditioned data.
"""

from __future__ import annotations

import math
from collections import deque
from operator import mul
from typing import TYPE_CHECKING, Any

import attrs

from .arith import ieee_div
from .conditions import ValueExpr, _selector
from .functions import Function, Param, RangeArg, register, render_call
from .labels import Selector
from .nodes import ValueNode
from .timeutil import DurationLike, parse_duration
from .windows import _dec, _enc, exact_sum

if TYPE_CHECKING:
    from .nodes import CompileContext, Track

__all__ = ["Deriv", "PredictLinear", "RegressionBuf", "RegressionNode"]

_INF = math.inf
_NAN = math.nan


def _deriv_range(value: DurationLike) -> float:
    return parse_duration(value, field="deriv range", allow_zero=False)


def _predict_range(value: DurationLike) -> float:
    return parse_duration(value, field="predict_linear range", allow_zero=False)


def _horizon(value: DurationLike) -> float:
    return parse_duration(value, field="predict_linear horizon")


@attrs.frozen
class Deriv(ValueExpr):
    """Per-second slope of the least-squares line through each series' samples in the
    closed window ``[T - range, T]``: PromQL's ``deriv(selector[range])``.

    Contract, as Prometheus 2.42: fewer than two samples in the window give no
    output; if every value in the window is equal the slope is exactly 0 (NaN if
    they are all ±Inf); otherwise a NaN or ±Inf value in the window gives NaN.
    Use it for gauges (a counter's slope is ``rate``).

    >>> Threshold(Deriv("queue_depth", "10m"), ">", 0.5)   # deriv(queue_depth[10m]) > 0.5
    """

    selector: Selector = attrs.field(converter=_selector)
    range: float = attrs.field(converter=_deriv_range)

    def _compile(self, ctx: CompileContext) -> ValueNode:
        return RegressionNode(ctx, self.selector, self.range, None)

    def __str__(self) -> str:
        return render_call("deriv", RangeArg(self.selector, self.range))


@attrs.frozen
class PredictLinear(ValueExpr):
    """The value each series will have ``horizon`` after now, if it keeps the trend of
    the closed window ``[T - range, T]``: PromQL's ``predict_linear(selector[range], horizon)``.

    The least-squares line through the window's samples is evaluated at
    ``T + horizon`` (``horizon`` a duration >= 0, or seconds; PromQL would also
    take a negative one). "Will cross X within H" is
    ``PredictLinear(m, range, H) < X``. Same special cases as
    :class:`Deriv`: no output under two samples; equal values predict that value
    (NaN if ±Inf); any other NaN or ±Inf in the window gives NaN.

    >>> Threshold(PredictLinear("disk_free_bytes", "1h", "4h"), "<", 0)
    """

    selector: Selector = attrs.field(converter=_selector)
    range: float = attrs.field(converter=_predict_range)
    horizon: float = attrs.field(converter=_horizon)

    def _compile(self, ctx: CompileContext) -> ValueNode:
        return RegressionNode(ctx, self.selector, self.range, self.horizon)

    def __str__(self) -> str:
        return render_call("predict_linear", RangeArg(self.selector, self.range), self.horizon)


class RegressionBuf:
    """One series' samples in the window, and running sums (x relative to an origin)."""

    __slots__ = ("ay", "bad", "ops", "ox", "peak", "run_start", "sx", "sxx", "sxy", "sy", "ts",
                 "vs")

    def __init__(self) -> None:
        self.ts: deque[float] = deque()
        self.vs: deque[float] = deque()
        self.ox = 0.0  # the sums are over x = t - ox, and over finite samples only
        self.sx = 0.0
        self.sy = 0.0
        self.sxy = 0.0
        self.sxx = 0.0
        self.ay = 0.0  # sum of |y|: the size of what the window holds now ...
        self.peak = 0.0  # ... and the largest |y| added since the last rebuild
        self.bad = 0  # NaN and ±Inf values in the window, kept out of the sums
        # Time of the first sample of the trailing run of equal values: when it is the
        # window's first sample, every value in the window is equal (Prometheus' constY).
        self.run_start = _INF
        self.ops = 0  # additions and removals since the sums were last rebuilt

    def dump(self) -> list[Any]:
        return [
            list(self.ts),
            [_enc(v) for v in self.vs],
            self.ox,
            # Sums of finite values can still overflow to ±Inf (or NaN): strict JSON needs _enc.
            [_enc(x) for x in (self.sx, self.sy, self.sxy, self.sxx, self.ay, self.peak)],
            self.bad,
            _enc(self.run_start),
            self.ops,
        ]

    @classmethod
    def load(cls, data: list[Any]) -> RegressionBuf:
        buf = cls()
        ts, vs, ox, sums, bad, run_start, ops = data
        buf.ts = deque(float(t) for t in ts)
        buf.vs = deque(_dec(v) for v in vs)
        buf.ox = float(ox)
        buf.sx, buf.sy, buf.sxy, buf.sxx, buf.ay, buf.peak = (_dec(x) for x in sums)
        buf.bad, buf.ops = int(bad), int(ops)
        buf.run_start = _dec(run_start)
        return buf


class RegressionNode(ValueNode):
    """``deriv`` (``horizon is None``) or ``predict_linear`` over one input's window."""

    __slots__ = ("horizon", "index", "inputs", "range", "slot")

    def __init__(
        self, ctx: CompileContext, selector: Selector, range_s: float, horizon: float | None
    ) -> None:
        self.index = ctx.track_input(selector)
        self.inputs = frozenset({self.index})
        self.range = range_s
        self.horizon = horizon
        self.slot = ctx.feed(self.index, self, reach=range_s)

    def new_aux(self) -> RegressionBuf:
        return RegressionBuf()

    def dump_aux(self, aux: RegressionBuf) -> Any:
        return aux.dump()

    def load_aux(self, data: Any) -> RegressionBuf:
        return RegressionBuf.load(data)

    def feed(self, buf: RegressionBuf, t: float, v: float) -> None:
        ts = buf.ts
        # Every later evaluation is at or after t: what is older than t - range is dead.
        # Evaluations evict it anyway; here only what lags by a quarter range more, to
        # bound memory when evaluations are rare (tick mode).
        if ts and ts[0] < t - 1.25 * self.range:
            self._evict(buf, t - self.range)
        if not ts:
            buf.ox = t
            buf.run_start = t
        elif v != buf.vs[-1]:  # a NaN never continues a run (NaN != NaN)
            buf.run_start = t
        ts.append(t)
        buf.vs.append(v)
        if v - v == 0.0:  # finite
            x = t - buf.ox
            buf.sx += x
            buf.sy += v
            buf.sxy += x * v
            buf.sxx += x * x
            a = abs(v)
            buf.ay += a
            if a > buf.peak:
                buf.peak = a
            buf.ops += 1
        else:
            buf.bad += 1

    def _evict(self, buf: RegressionBuf, lo: float) -> None:
        ts, vs = buf.ts, buf.vs
        ox = buf.ox
        sx, sy, sxy, sxx, ay = buf.sx, buf.sy, buf.sxy, buf.sxx, buf.ay
        ops = buf.ops
        while ts and ts[0] < lo:
            t = ts.popleft()
            v = vs.popleft()
            if v - v == 0.0:
                # Subtract exactly what feed added: same origin, same rounded products.
                x = t - ox
                sx -= x
                sy -= v
                sxy -= x * v
                sxx -= x * x
                ay -= abs(v)
                ops += 1
            else:
                buf.bad -= 1
        if ts:
            buf.sx, buf.sy, buf.sxy, buf.sxx, buf.ay, buf.ops = sx, sy, sxy, sxx, ay, ops
        else:  # empty: start afresh, with no rounding residue
            buf.sx = buf.sy = buf.sxy = buf.sxx = buf.ay = buf.peak = 0.0
            buf.ops = 0

    @staticmethod
    def _rebuild(buf: RegressionBuf) -> None:
        """Exact sums of the buffer's finite samples, with its oldest sample as origin."""
        ox = buf.ox = buf.ts[0]
        pairs = [(t - ox, v) for t, v in zip(buf.ts, buf.vs, strict=True) if v - v == 0.0]
        xs = [x for x, _ in pairs]
        ys = [v for _, v in pairs]
        buf.sx = exact_sum(xs)
        buf.sy = exact_sum(ys)
        buf.sxy = exact_sum(map(mul, xs, ys))
        buf.sxx = exact_sum(map(mul, xs, xs))
        buf.ay = exact_sum(map(abs, ys))
        buf.peak = max(map(abs, ys), default=0.0)
        buf.ops = 0

    def value(self, track: Track, now: float) -> float | None:
        buf: RegressionBuf = track.aux[self.slot]
        ts = buf.ts
        lo = now - self.range
        if ts and ts[0] < lo:
            self._evict(buf, lo)
        n = len(ts)
        if n < 2:
            return None
        horizon = self.horizon
        if buf.run_start <= ts[0]:
            # All values equal: Prometheus returns slope 0 and the value itself, so that
            # rounding cannot make a flat series look like a (tiny) trend.
            y0 = buf.vs[0]
            if y0 == _INF or y0 == -_INF:
                return _NAN
            return 0.0 if horizon is None else 0.0 * horizon + y0
        if buf.bad:
            # Prometheus' compensated sums turn any ±Inf into NaN, and NaN stays NaN.
            return _NAN
        if (
            buf.ops > 4 * n + 64
            or not buf.peak <= 1e3 * buf.ay
            or buf.sy - buf.sy != 0.0
            or buf.sxy - buf.sxy != 0.0
            or buf.ay - buf.ay != 0.0
        ):
            # Too much went through the sums, a large value left them, or they overflowed
            # (values near 1e308): their rounding residue is no longer negligible.
            self._rebuild(buf)
        mx = buf.sx / n
        varx = buf.sxx - buf.sx * mx  # n times the variance of x
        if not varx * (64 + 4 * n) > buf.sxx:  # ill-conditioned, or rounded to <= 0
            self._rebuild(buf)
            mx = buf.sx / n
            varx = buf.sxx - buf.sx * mx
        my = buf.sy / n
        slope = ieee_div(buf.sxy - buf.sx * my, varx)  # covariance / variance
        if horizon is None:
            return slope
        return my + slope * ((now - buf.ox) + horizon - mx)


# -- the expression language --------------------------------------------------------------


def _register() -> None:
    rng = Param("range", "range")
    register(
        Function(
            "deriv",
            "value",
            (rng,),
            lambda r: Deriv(r.selector, r.range),
            "least-squares slope per second of each series over the window (PromQL deriv)",
        )
    )
    register(
        Function(
            "predict_linear",
            "value",
            (rng, Param("horizon", "duration")),
            lambda r, horizon: PredictLinear(r.selector, r.range, horizon),
            "the least-squares line over the window, evaluated horizon after now",
        )
    )


_register()
