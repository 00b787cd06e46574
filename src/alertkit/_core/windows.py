"""Streaming window buffers: O(1) amortised per sample, exact on eviction.

A buffer holds the samples of one series inside one rule's window. Running
aggregates are updated on append and on eviction, so evaluating an average
over a 5 minute window does not re-read the window. Eviction subtracts what
append added; the running sums are part of the snapshot, so a restored state
continues bit-for-bit where the original was.
"""

from __future__ import annotations

import enum
import itertools
import math
from collections import deque
from collections.abc import Iterable
from typing import Any

__all__ = ["Agg", "WindowBuf", "exact_sum", "extrapolated_rate", "quantile"]


class Agg(enum.Enum):
    """Aggregation over a window; names follow PromQL's ``<agg>_over_time``."""

    AVG = "avg"
    MIN = "min"
    MAX = "max"
    SUM = "sum"
    COUNT = "count"
    LAST = "last"
    QUANTILE = "quantile"
    RATE = "rate"
    INCREASE = "increase"
    DELTA = "delta"

    @property
    def promql(self) -> str:
        if self in (Agg.RATE, Agg.INCREASE, Agg.DELTA):
            return f"{self.value}"
        return f"{self.value}_over_time"


_SUMS = frozenset({Agg.AVG, Agg.SUM})
_MONO = frozenset({Agg.MIN, Agg.MAX})
_COUNTER = frozenset({Agg.RATE, Agg.INCREASE})
_TWO_POINTS = frozenset({Agg.RATE, Agg.INCREASE, Agg.DELTA})


class WindowBuf:
    """Samples of one series within a window, plus running aggregates."""

    __slots__ = ("asum", "fsum", "mono", "ninf", "nnan", "peak", "pinf", "resets", "rpeak",
                 "ts", "vs")

    def __init__(self) -> None:
        self.ts: deque[float] = deque()
        self.vs: deque[float] = deque()
        self.fsum = 0.0  # sum of the finite values
        self.nnan = 0
        self.pinf = 0
        self.ninf = 0
        self.mono: deque[tuple[float, float]] | None = None
        self.resets = 0.0  # sum of pre-reset values between consecutive samples
        # For exactness after a big value leaves: the sum of the finite values'
        # magnitudes, and the largest magnitude (of values, of resets) added since the
        # running sums were last recomputed exactly.
        self.asum = 0.0
        self.peak = 0.0
        self.rpeak = 0.0

    def dump(self) -> list[Any]:
        mono = None if self.mono is None else [[t, _enc(v)] for t, v in self.mono]
        return [
            list(self.ts),
            [_enc(v) for v in self.vs],
            _enc(self.fsum),
            self.nnan,
            self.pinf,
            self.ninf,
            mono,
            _enc(self.resets),
            _enc(self.asum),
            _enc(self.peak),
            _enc(self.rpeak),
        ]

    @classmethod
    def load(cls, data: list[Any]) -> WindowBuf:
        buf = cls()
        ts, vs, fsum, buf.nnan, buf.pinf, buf.ninf, mono, resets, asum, peak, rpeak = data
        buf.ts = deque(float(t) for t in ts)
        buf.vs = deque(_dec(v) for v in vs)
        buf.fsum = _dec(fsum)
        buf.mono = None if mono is None else deque((float(t), _dec(v)) for t, v in mono)
        buf.resets = _dec(resets)
        buf.asum, buf.peak, buf.rpeak = _dec(asum), _dec(peak), _dec(rpeak)
        return buf


def exact_sum(values: Iterable[float]) -> float:
    """``math.fsum``, the correctly rounded sum, without its exceptions: an intermediate
    overflow (values near 1e308) gives the plain sum instead, and Inf - Inf gives NaN."""
    values = list(values)
    try:
        return math.fsum(values)
    except OverflowError:
        return sum(values)
    except ValueError:
        return math.nan


def _enc(v: float) -> float | str:
    """Floats for strict JSON: non-finite values become strings."""
    if v != v:
        return "NaN"
    if v in (math.inf, -math.inf):
        return "+Inf" if v > 0 else "-Inf"
    return v


def _dec(v: float | str) -> float:
    if isinstance(v, str):
        return {"NaN": math.nan, "+Inf": math.inf, "-Inf": -math.inf}[v]
    return float(v)


class WindowOps:
    """The append / evict / value operations of one aggregation (shared, stateless)."""

    __slots__ = ("agg", "is_max", "need_mono", "need_resets", "need_sums", "q", "range")

    def __init__(self, agg: Agg, range_s: float, q: float | None) -> None:
        self.agg = agg
        self.range = range_s
        self.q = q
        self.need_sums = agg in _SUMS
        self.need_mono = agg in _MONO
        self.is_max = agg is Agg.MAX
        self.need_resets = agg in _COUNTER

    def new(self) -> WindowBuf:
        buf = WindowBuf()
        if self.need_mono:
            buf.mono = deque()
        return buf

    def add(self, buf: WindowBuf, t: float, v: float) -> None:
        vs = buf.vs
        if self.need_resets and vs and v < vs[-1]:
            r = vs[-1]
            buf.resets += r
            if abs(r) > buf.rpeak:
                buf.rpeak = abs(r)
        buf.ts.append(t)
        vs.append(v)
        if self.need_sums:
            if v - v == 0.0:  # finite
                buf.fsum += v
                a = abs(v)
                buf.asum += a
                if a > buf.peak:
                    buf.peak = a
            elif v != v:
                buf.nnan += 1
            elif v > 0:
                buf.pinf += 1
            else:
                buf.ninf += 1
        elif self.need_mono and v == v:
            mono = buf.mono
            assert mono is not None
            if self.is_max:
                while mono and mono[-1][1] < v:  # ties keep the oldest, as PromQL
                    mono.pop()
            else:
                while mono and mono[-1][1] > v:
                    mono.pop()
            mono.append((t, v))
        # Drop what no later evaluation can see (evaluation times never go back).
        lo = t - self.range
        if buf.ts[0] < lo:
            self.evict(buf, lo)

    def evict(self, buf: WindowBuf, lo: float) -> None:
        """Drop samples older than ``lo``: the window is closed, ``[T - range, T]``."""
        ts = buf.ts
        vs = buf.vs
        while ts and ts[0] < lo:
            t = ts.popleft()
            v = vs.popleft()
            if self.need_resets and vs and vs[0] < v:
                buf.resets -= v
            if self.need_sums:
                if v - v == 0.0:
                    buf.fsum -= v
                    buf.asum -= abs(v)
                elif v != v:
                    buf.nnan -= 1
                elif v > 0:
                    buf.pinf -= 1
                else:
                    buf.ninf -= 1
            elif buf.mono and buf.mono[0][0] == t:
                buf.mono.popleft()
        if not ts:
            # Re-anchor the running sums so rounding error cannot build up forever.
            buf.fsum = buf.asum = buf.peak = buf.rpeak = buf.resets = 0.0
            return
        # A running sum keeps the rounding residue of the values that left it. That
        # residue is tiny unless something much larger than what remains has passed
        # through (a spike of 1e16 among ones): then recompute exactly, O(window), rarely.
        if self.need_sums and buf.peak > 1024.0 * buf.asum:
            finite = [x for x in vs if x - x == 0.0]
            buf.fsum = exact_sum(finite)
            buf.asum = exact_sum([abs(x) for x in finite])
            buf.peak = max(map(abs, finite), default=0.0)
        if self.need_resets and buf.rpeak > 1024.0 * abs(buf.resets):
            pre = [a for a, b in itertools.pairwise(vs) if b < a]
            buf.resets = exact_sum(pre)
            buf.rpeak = max(map(abs, pre), default=0.0)

    def value(self, buf: WindowBuf, now: float) -> float | None:
        """The aggregate over ``[now - range, now]``, or None when it has no output."""
        ts = buf.ts
        if not ts:
            return None
        lo = now - self.range
        if ts[0] < lo:
            self.evict(buf, lo)
            if not ts:
                return None
        n = len(ts)
        agg = self.agg
        if agg is Agg.AVG or agg is Agg.SUM:
            if buf.nnan or (buf.pinf and buf.ninf):
                total = math.nan
            elif buf.pinf:
                total = math.inf
            elif buf.ninf:
                total = -math.inf
            else:
                total = buf.fsum
            return total / n if agg is Agg.AVG else total
        if agg is Agg.MAX or agg is Agg.MIN:
            mono = buf.mono
            return mono[0][1] if mono else math.nan
        if agg is Agg.COUNT:
            return float(n)
        if agg is Agg.LAST:
            return buf.vs[-1]
        if agg is Agg.QUANTILE:
            assert self.q is not None
            return quantile(self.q, list(buf.vs))
        if n < 2:
            return None
        return extrapolated_rate(
            buf,
            now - self.range,
            now,
            self.range,
            is_counter=agg is not Agg.DELTA,
            is_rate=agg is Agg.RATE,
        )


def quantile(q: float, values: list[float]) -> float:
    """PromQL's quantile: linear interpolation between closest ranks, NaN sorted first."""
    if not values:
        return math.nan
    if q < 0:
        return -math.inf
    if q > 1:
        return math.inf
    values.sort(key=lambda v: (v == v, v))
    n = len(values)
    rank = q * (n - 1)
    lower = max(0, math.floor(rank))
    upper = min(n - 1, lower + 1)
    weight = rank - math.floor(rank)
    return values[lower] * (1 - weight) + values[upper] * weight


def extrapolated_rate(
    buf: WindowBuf, start: float, end: float, range_s: float, *, is_counter: bool, is_rate: bool
) -> float:
    """``rate`` / ``increase`` / ``delta`` exactly as Prometheus 2.x extrapolates them."""
    ts, vs = buf.ts, buf.vs
    n = len(ts)
    first_t, last_t = ts[0], ts[-1]
    first_v = vs[0]
    result = vs[-1] - first_v
    if is_counter:
        result += buf.resets
    duration_to_start = first_t - start
    duration_to_end = end - last_t
    sampled = last_t - first_t
    if sampled == 0:
        return math.nan
    average_step = sampled / (n - 1)
    if is_counter and result > 0 and first_v >= 0:
        # Counters cannot go below zero: do not extrapolate past the zero point.
        duration_to_zero = sampled * (first_v / result)
        duration_to_start = min(duration_to_start, duration_to_zero)
    threshold = average_step * 1.1
    interval = sampled
    interval += duration_to_start if duration_to_start < threshold else average_step / 2
    interval += duration_to_end if duration_to_end < threshold else average_step / 2
    result *= interval / sampled
    if is_rate:
        result /= range_s
    return result
