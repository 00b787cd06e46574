"""Streaming statistics for the anomaly detectors: sliding moments and median/MAD.

Two building blocks, both exact to snapshot and free of recomputation per sample:

:class:`SlidingMoments`
    count, mean and sum of squared deviations (``M2``) of the values in a
    window that slides forward in time. It is the "two stacks" sliding-window
    aggregation: new values go onto a *back* stack whose moments are updated
    with Welford's recurrence; the oldest values leave from a *front* stack
    that stores, for each of its values, the moments of that value and every
    newer value of the front. When the front runs empty, the back is turned
    over into it in one O(k) pass, which each value goes through once, so every
    operation is O(1) amortised. The window's moments are the front top's and
    the back's, merged with Chan et al.'s pairwise formula.

    Why not running sums with subtraction: removing a value from a running sum
    cancels catastrophically when the value was large (a spike of 1e9 leaves
    an absolute error of ~100 in a sum of squares that is meant to be ~1
    again). Here nothing is ever subtracted: a value that leaves the window
    simply stops being part of any aggregate still in use. The moments are as
    accurate as Welford's over the values currently in the window, and a
    window of equal values has ``M2 == 0.0`` and ``mean == value`` exactly.

:func:`median_mad`
    the median and the median absolute deviation of a sorted list, in
    O(log n): the absolute deviations from the median are two sorted runs
    (below and above the median), and their median is the k-th smallest of
    two sorted sequences, found by binary search without building them.
"""

from __future__ import annotations

import math
from array import array
from bisect import bisect_left
from typing import Any

from .windows import _dec, _enc

__all__ = ["SlidingMoments", "median_mad"]


class SlidingMoments:
    """Count, mean and M2 of a forward-sliding window of finite floats.

    Values are pushed in time order with :meth:`push`; :meth:`evict` drops
    the values older than a bound. The back stack is two lists (a list append
    costs a quarter of an ``array.append``: it is the per-sample path); the
    front's moments, written once per value at a turn-over, are ``array('d')``
    (unboxed: 16 bytes a value instead of 64). About 70 bytes per value in the
    window, counting the float objects of the back stack.
    """

    __slots__ = (
        "back_m2",
        "back_mean",
        "back_t",
        "back_v",
        "front_m2",
        "front_mean",
        "front_n",
        "front_t",
    )

    def __init__(self) -> None:
        # The front holds the oldest values, the very oldest on top (at index front_n - 1);
        # front_mean[i] / front_m2[i] are the moments of the value at i and of every value
        # below it (newer), whose count is i + 1. Eviction only lowers front_n: entries
        # above it are dead and dropped at the next turn-over, so evicting allocates and
        # moves nothing.
        self.front_t: list[float] = []
        self.front_mean = array("d")
        self.front_m2 = array("d")
        self.front_n = 0
        # The back holds the newest values in time order, with their running moments.
        self.back_t: list[float] = []
        self.back_v: list[float] = []
        self.back_mean = 0.0
        self.back_m2 = 0.0

    def __len__(self) -> int:
        return self.front_n + len(self.back_t)

    def push(self, t: float, v: float) -> None:
        """Add the value ``v`` observed at ``t`` (not older than any value already in)."""
        back_t = self.back_t
        back_t.append(t)
        self.back_v.append(v)
        # Welford: the first value gives mean == v and M2 == 0.0 exactly (delta * 0.0).
        delta = v - self.back_mean
        mean = self.back_mean + delta / len(back_t)
        self.back_mean = mean
        self.back_m2 += delta * (v - mean)

    def oldest(self) -> float:
        """Time of the oldest value in the window (the window must not be empty)."""
        n = self.front_n
        return self.front_t[n - 1] if n else self.back_t[0]

    def evict(self, lo: float) -> None:
        """Drop the values observed before ``lo`` (the window is closed: ``lo`` stays)."""
        front_t = self.front_t
        n = self.front_n
        while True:
            while n and front_t[n - 1] < lo:
                n -= 1
            if n or not self.back_t or self.back_t[0] >= lo:
                self.front_n = n
                return
            self._turn_over()
            front_t = self.front_t
            n = self.front_n

    def clear(self) -> None:
        self.front_t = []
        self.front_mean, self.front_m2 = array("d"), array("d")
        self.front_n = 0
        self.back_t, self.back_v = [], []
        self.back_mean = self.back_m2 = 0.0

    def _turn_over(self) -> None:
        """Move the back onto the (empty) front, computing the front's suffix moments.

        Welford's recurrence, newest value first: index 0 of the front is the
        newest value, the top the oldest. Each value goes through here once.
        """
        back_t, back_v = self.back_t, self.back_v
        self.front_t = back_t[::-1]
        means: list[float] = []
        m2s: list[float] = []
        put_mean, put_m2 = means.append, m2s.append  # lists: appends are cheaper
        mean = m2 = 0.0
        n = 0
        for v in reversed(back_v):
            n += 1
            delta = v - mean
            mean += delta / n
            m2 += delta * (v - mean)
            put_mean(mean)
            put_m2(m2)
        self.front_mean, self.front_m2 = array("d", means), array("d", m2s)
        self.front_n = n
        self.back_t, self.back_v = [], []
        self.back_mean = self.back_m2 = 0.0

    def moments(self) -> tuple[int, float, float]:
        """``(count, mean, M2)`` of the window; ``(0, 0.0, 0.0)`` when empty."""
        nf = self.front_n
        nb = len(self.back_t)
        if not nf:
            return nb, self.back_mean, self.back_m2
        mean_f = self.front_mean[nf - 1]
        m2_f = self.front_m2[nf - 1]
        if not nb:
            return nf, mean_f, m2_f
        return merge_moments(nf, mean_f, m2_f, nb, self.back_mean, self.back_m2)

    def dump(self) -> list[Any]:
        n = self.front_n  # the live part only: dead entries are never read
        return [
            self.front_t[:n],
            [_enc(x) for x in self.front_mean[:n]],
            [_enc(x) for x in self.front_m2[:n]],
            list(self.back_t),
            list(self.back_v),
            _enc(self.back_mean),
            _enc(self.back_m2),
        ]

    def load_into(self, data: list[Any]) -> None:
        """Restore what :meth:`dump` gave (into a fresh instance), exactly."""
        front_t, front_mean, front_m2, back_t, back_v, back_mean, back_m2 = data
        if not (len(front_t) == len(front_mean) == len(front_m2)) or len(back_t) != len(back_v):
            raise ValueError("sliding moments: stacks of different lengths")
        self.front_t = [float(x) for x in front_t]
        self.front_mean = array("d", [_dec(x) for x in front_mean])
        self.front_m2 = array("d", [_dec(x) for x in front_m2])
        self.front_n = len(front_t)
        self.back_t = [float(x) for x in back_t]
        self.back_v = [float(x) for x in back_v]
        self.back_mean = _dec(back_mean)
        self.back_m2 = _dec(back_m2)


def merge_moments(
    na: int, mean_a: float, m2_a: float, nb: int, mean_b: float, m2_b: float
) -> tuple[int, float, float]:
    """Moments of the union of two groups (Chan, Golub and LeVeque's pairwise update).

    Two groups with the same mean merge with ``delta == 0``: the mean stays
    bit-for-bit and nothing is added to M2.
    """
    n = na + nb
    delta = mean_b - mean_a
    mean = mean_a + delta * (nb / n)
    m2 = m2_a + m2_b + delta * delta * (na * nb / n)
    return n, mean, m2


def median_mad(values: list[float]) -> tuple[float, float]:
    """Median and median absolute deviation (unscaled) of a sorted, non-empty list.

    Medians of an even count are the mean of the two middle values, computed as
    ``(a + b) / 2`` like :func:`statistics.median`. The deviations are the
    rounded differences ``|x - median|``; rounding is monotonic, so the runs
    below and above the median stay sorted and the result equals sorting all
    deviations. O(log n) time, nothing allocated.
    """
    n = len(values)
    h = n // 2
    med = values[h] if n % 2 else (values[h - 1] + values[h]) / 2
    # Deviations of values below the median, nearest first: a[i] = med - values[p - 1 - i];
    # of values from the median up: b[j] = values[p + j] - med. Both ascend.
    p = bisect_left(values, med)
    na, nb = p, n - p
    # The k-th smallest (0-based) of the merged runs: take i from a and k + 1 - i from b.
    k = (n - 1) // 2
    lo, hi = max(0, k + 1 - nb), min(k + 1, na)
    while True:
        i = (lo + hi) // 2
        j = k + 1 - i
        if i < hi and values[p + j - 1] - med > med - values[p - 1 - i]:
            lo = i + 1  # b[j - 1] > a[i]: take more from a
        elif i > lo and med - values[p - i] > values[p + j] - med:
            hi = i - 1  # a[i - 1] > b[j]: take fewer from a
        else:
            break
    a_last = med - values[p - i] if i > 0 else -math.inf
    b_last = values[p + j - 1] - med if j > 0 else -math.inf
    kth = a_last if a_last > b_last else b_last
    if n % 2:
        return med, kth
    # Even count: the next deviation in merged order is the smaller of the two heads.
    a_next = med - values[p - 1 - i] if i < na else math.inf
    b_next = values[p + j] - med if j < nb else math.inf
    nxt = a_next if a_next < b_next else b_next
    return med, (kth + nxt) / 2
