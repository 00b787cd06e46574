"""Series shapes and generated series, as plain values (no hypothesis needed).

A :class:`Shape` turns a length into values: :class:`Constant`, :class:`Ramp`,
:class:`Step`, :class:`Spikes`, :class:`Noise`, :class:`Wave`, :class:`Counter`, and the
:class:`Sum` of two (``Ramp(0, 50) + Noise(0, 5, seed=1)``). A :class:`Series` is one
concrete series: metric, labels and ``(t, value)`` points, with the shape it came from.
The strategies in :mod:`alertkit.testing.strategies` draw both; because they are frozen
values with short reprs, a falsifying example reads as what it is
(``Step(before=10.0, after=95.0, at=0.5)``), not as a list of numbers.

>>> Ramp(0, 30).render(4)
[0.0, 10.0, 20.0, 30.0]
>>> s = Series.of('cpu{host="a"}', Step(10, 95, at=0.5).render(4), interval="1m")
>>> s.points
((0.0, 10.0), (60.0, 10.0), (120.0, 95.0), (180.0, 95.0))
"""

from __future__ import annotations

import math
import random
from collections.abc import Iterable, Iterator, Mapping, Sequence

import attrs

from alertkit._core.labels import Labels
from alertkit._core.model import Sample, check_value
from alertkit._core.templates import format_value
from alertkit._core.timeutil import (
    DurationLike,
    TimeLike,
    format_duration,
    parse_duration,
    to_timestamp,
)
from alertkit._errors import InvalidSampleError

__all__ = [
    "Constant",
    "Counter",
    "Noise",
    "Ramp",
    "Series",
    "Shape",
    "Spikes",
    "Step",
    "Sum",
    "Wave",
]


def _finite(value: object) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise InvalidSampleError(f"shape parameter {value!r} is not a finite number")
    return float(value)


def _fraction(value: object) -> float:
    v = _finite(value)
    if not 0.0 <= v <= 1.0:
        raise InvalidSampleError(f"shape position {value!r} is not a fraction in [0, 1]")
    return v


def _fractions(value: Iterable[float]) -> tuple[float, ...]:
    return tuple(sorted(_fraction(v) for v in value))


def _length(length: object) -> int:
    if isinstance(length, bool) or not isinstance(length, int) or length < 0:
        raise InvalidSampleError(f"series length {length!r} is not an int >= 0")
    return length


def _index(at: float, length: int) -> int:
    """The step a fraction of the series points at (0 .. length - 1)."""
    return min(length - 1, max(0, round(at * (length - 1)))) if length else 0


class Shape:
    """How a series evolves: :meth:`render` gives its first ``length`` values.

    Shapes add up (``a + b`` is :class:`Sum`), so a trend can carry noise or spikes.
    """

    def render(self, length: int) -> list[float]:
        raise NotImplementedError

    def __add__(self, other: Shape) -> Sum:
        if not isinstance(other, Shape):
            return NotImplemented
        return Sum(self, other)


@attrs.frozen
class Constant(Shape):
    """The same value at every step."""

    level: float = attrs.field(converter=_finite)

    def render(self, length: int) -> list[float]:
        return [self.level] * _length(length)


@attrs.frozen
class Ramp(Shape):
    """A straight line from ``start`` (first step) to ``end`` (last step)."""

    start: float = attrs.field(converter=_finite)
    end: float = attrs.field(converter=_finite)

    def render(self, length: int) -> list[float]:
        n = _length(length)
        if n == 1:
            return [self.start]
        span = self.end - self.start
        # Interpolated, not accumulated: the last value is exactly `end`, and every value
        # lies between start and end.
        return [self.start + span * i / (n - 1) if i < n - 1 else self.end for i in range(n)]


@attrs.frozen
class Step(Shape):
    """``before`` up to the step at fraction ``at`` of the series, ``after`` from there on."""

    before: float = attrs.field(converter=_finite)
    after: float = attrs.field(converter=_finite)
    at: float = attrs.field(default=0.5, converter=_fraction)

    def render(self, length: int) -> list[float]:
        n = _length(length)
        k = _index(self.at, n)
        return [self.before] * k + [self.after] * (n - k)


@attrs.frozen
class Spikes(Shape):
    """``base`` everywhere except single-step spikes to ``peak`` at the given fractions."""

    base: float = attrs.field(converter=_finite)
    peak: float = attrs.field(converter=_finite)
    at: tuple[float, ...] = attrs.field(default=(0.5,), converter=_fractions)

    def render(self, length: int) -> list[float]:
        out = [self.base] * _length(length)
        for f in self.at:
            if out:
                out[_index(f, len(out))] = self.peak
        return out


@attrs.frozen
class Noise(Shape):
    """Uniform noise in ``[center - amplitude, center + amplitude]``, reproducible by ``seed``.

    Values are clipped to ``[low, high]`` when given (a bound the strategies promise).
    """

    center: float = attrs.field(converter=_finite)
    amplitude: float = attrs.field(converter=_finite)
    seed: int = 0
    low: float = attrs.field(default=-math.inf, kw_only=True)
    high: float = attrs.field(default=math.inf, kw_only=True)

    def __attrs_post_init__(self) -> None:
        if self.amplitude < 0:
            raise InvalidSampleError(f"Noise amplitude {self.amplitude!r} is negative")
        if not self.low <= self.high:
            raise InvalidSampleError(f"Noise bounds: low {self.low!r} > high {self.high!r}")

    def render(self, length: int) -> list[float]:
        rng = random.Random(self.seed)
        lo, hi = self.low, self.high
        c, a = self.center, self.amplitude
        return [min(hi, max(lo, c + a * (2.0 * rng.random() - 1.0)))
                for _ in range(_length(length))]


@attrs.frozen
class Wave(Shape):
    """A sine wave: ``mean + amplitude * sin(2 pi (i / period + phase))`` (period in steps)."""

    mean: float = attrs.field(converter=_finite)
    amplitude: float = attrs.field(converter=_finite)
    period: int = 24
    phase: float = attrs.field(default=0.0, converter=_fraction)

    def __attrs_post_init__(self) -> None:
        if isinstance(self.period, bool) or not isinstance(self.period, int) or self.period < 2:
            raise InvalidSampleError(f"Wave period {self.period!r} is not an int >= 2 (steps)")

    def render(self, length: int) -> list[float]:
        m, a, p, ph = self.mean, self.amplitude, self.period, self.phase
        return [m + a * math.sin(2 * math.pi * (i / p + ph)) for i in range(_length(length))]


@attrs.frozen
class Counter(Shape):
    """A monotonic counter growing by ``increment`` per step, reset to 0 at the fractions
    ``resets`` (a process restart), as Prometheus counters do."""

    increment: float = attrs.field(converter=_finite)
    start: float = attrs.field(default=0.0, converter=_finite)
    resets: tuple[float, ...] = attrs.field(default=(), converter=_fractions)

    def __attrs_post_init__(self) -> None:
        if self.increment < 0 or self.start < 0:
            raise InvalidSampleError("Counter: increment and start must be >= 0")

    def render(self, length: int) -> list[float]:
        n = _length(length)
        reset_at = {_index(f, n) for f in self.resets if _index(f, n) > 0}
        out: list[float] = []
        v = self.start
        for i in range(n):
            if i in reset_at:
                v = 0.0
            elif i:
                v += self.increment
            out.append(v)
        return out


@attrs.frozen
class Sum(Shape):
    """Two shapes added step by step."""

    left: Shape
    right: Shape

    def render(self, length: int) -> list[float]:
        return [a + b for a, b in zip(self.left.render(length), self.right.render(length),
                                      strict=True)]


def _labels(value: Mapping[str, str] | None) -> Labels:
    if isinstance(value, Labels):
        return value
    return Labels(value or {})


def _points(value: Iterable[tuple[TimeLike, float | None]]
            ) -> tuple[tuple[float, float | None], ...]:
    out: list[tuple[float, float | None]] = []
    for i, (t, v) in enumerate(value):
        ts = to_timestamp(t, field=f"points[{i}]: time")
        if out and ts <= out[-1][0]:
            raise InvalidSampleError(f"points[{i}]: time {ts!r} is not after the previous "
                                     f"point's ({out[-1][0]!r})")
        out.append((ts, None if v is None else check_value(v, field=f"points[{i}]: value")))
    return tuple(out)


@attrs.frozen(repr=False)
class Series:
    """One series to replay: ``metric{labels}`` with ``(t, value)`` points in time order.

    A value ``None`` is a staleness marker. Iterating gives :class:`~alertkit.Sample`
    values (markers left out), and :func:`~alertkit.testing.replay` takes a ``Series`` or a
    list of them directly. ``shape`` records what the points were made from, if known.
    """

    metric: str
    labels: Labels = attrs.field(converter=_labels)
    points: tuple[tuple[float, float | None], ...] = attrs.field(converter=_points)
    shape: Shape | None = None

    @classmethod
    def of(cls, name: str, values: Sequence[float | None], *, start: TimeLike = 0.0,
           interval: DurationLike = 60.0, shape: Shape | None = None,
           skip: Iterable[int] = ()) -> Series:
        """A series named like ``'cpu{host="a"}'`` with one value per ``interval``;
        the steps in ``skip`` have no sample (gaps)."""
        from alertkit.testing.replay import parse_series_name

        metric, labels = parse_series_name(name)
        t0 = to_timestamp(start, field="start")
        step = parse_duration(interval, field="interval", allow_zero=False)
        gaps = set(skip)
        points = [(t0 + i * step, None if v is None else float(v))
                  for i, v in enumerate(values) if i not in gaps]
        return cls(metric, labels, points, shape)

    @property
    def name(self) -> str:
        """The series as a selector: ``cpu{host="a"}``."""
        if not self.labels:
            return self.metric
        inner = ", ".join(f'{k}="{_escape(v)}"' for k, v in self.labels.items())
        return f"{self.metric}{{{inner}}}"

    @property
    def values(self) -> list[float | None]:
        return [v for _, v in self.points]

    @property
    def times(self) -> list[float]:
        return [t for t, _ in self.points]

    def as_mapping(self) -> dict[str, list[tuple[float, float | None]]]:
        """``{name: points}``, the mapping form :func:`~alertkit.testing.replay` reads."""
        return {self.name: list(self.points)}

    def __iter__(self) -> Iterator[Sample]:
        for t, v in self.points:
            if v is not None:
                yield Sample(self.metric, v, t, self.labels)

    def __len__(self) -> int:
        return len(self.points)

    def __repr__(self) -> str:
        vals = [("stale" if v is None else format_value(v)) for v in self.values]
        shown = " ".join(vals[:30]) + (f" ... ({len(vals)} points)" if len(vals) > 30 else "")
        where = ""
        if self.points:
            t0 = self.points[0][0]
            steps = {round(b - a, 9) for (a, _), (b, _) in zip(self.points, self.points[1:],
                                                                   strict=False)}
            only = steps.pop() if len(steps) == 1 else 0.0
            every = f" every {format_duration(only)}" if only > 0 else ""
            where = f" from t={format_value(t0)}{every}"
        shape = f" {self.shape!r}" if self.shape is not None else ""
        return f"<Series {self.name}{shape}{where}: {shown}>"


def _escape(value: str) -> str:
    return value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")
