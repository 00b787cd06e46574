"""Hypothesis strategies for testing alert rules: series, labels, durations, conditions, rules.

Every strategy here produces valid objects only, and shrinks towards simple ones (a
constant series, no gaps, the first listed kind). They compose like hypothesis' own::

    from hypothesis import given
    from alertkit.testing import replay, strategies as aks

    @given(aks.series(aks.ramps(0, 79.9) | aks.noise(0, 79.9), name="cpu", length=(1, 120)))
    def test_quiet_cpu_never_pages(cpu):
        replay(rules, cpu, ticks="1m").assert_never_fired("HighCPU")

Series shapes (:func:`constants`, :func:`ramps`, :func:`steps`, :func:`spikes`,
:func:`noise`, :func:`waves`; :func:`shapes` is any of them) keep every value within
``[min_value, max_value]``; :func:`counters` draws monotonic counters with resets.
:func:`series` turns a shape into a :class:`~alertkit.testing.shapes.Series` and can punch
gaps, NaN values and staleness markers into it.

Needs ``hypothesis`` (``pip install alertkit[testing]``).
"""

from __future__ import annotations

import functools
import math
import string
from collections.abc import Mapping, Sequence
from typing import Final, TypeVar

from hypothesis import strategies as st

from alertkit._core.anomaly import EWMA, RobustZScore, Seasonal, ZScore
from alertkit._core.arith import BinOp, Present
from alertkit._core.change import Change
from alertkit._core.conditions import (
    Absent,
    All,
    Any,
    Condition,
    Consecutive,
    Instant,
    Not,
    Threshold,
    ValueExpr,
    Window,
)
from alertkit._core.labels import Labels, Selector
from alertkit._core.model import EvalMode, NoDataPolicy, Sample, Severity
from alertkit._core.occurrences import Cardinality, CountMatching, Flatline, PercentMatching
from alertkit._core.rules import Rule
from alertkit._core.timeutil import DurationLike, TimeLike, parse_duration, to_timestamp
from alertkit._core.trends import Deriv, PredictLinear
from alertkit._errors import InvalidSampleError, LabelError, RuleError
from alertkit.testing.replay import parse_series_name
from alertkit.testing.shapes import (
    Constant,
    Counter,
    Noise,
    Ramp,
    Series,
    Shape,
    Spikes,
    Step,
    Wave,
)

__all__ = [
    "ANY",
    "CONDITION_KINDS",
    "conditions",
    "constants",
    "counters",
    "durations",
    "label_names",
    "label_sets",
    "label_values",
    "metric_names",
    "noise",
    "ramps",
    "rule_names",
    "rules",
    "samples",
    "series",
    "series_sets",
    "shapes",
    "spikes",
    "steps",
    "values",
    "waves",
]

T = TypeVar("T")



class _AnyValue:
    def __repr__(self) -> str:
        return "ANY"


#: Pass as ``no_data``, ``stale_after`` or ``mode`` of :func:`rules` to draw any valid value.
ANY: Final = _AnyValue()

# -- plain values --------------------------------------------------------------------------


def _bounds(min_value: float, max_value: float) -> tuple[float, float]:
    for v in (min_value, max_value):
        if isinstance(v, bool) or not isinstance(v, int | float) or not math.isfinite(v):
            raise InvalidSampleError(f"bound {v!r} is not a finite number")
    if min_value > max_value:
        raise InvalidSampleError(f"min_value {min_value!r} is greater than max_value "
                                 f"{max_value!r}")
    return float(min_value), float(max_value)


def values(min_value: float = 0.0, max_value: float = 100.0) -> st.SearchStrategy[float]:
    """Finite floats in ``[min_value, max_value]``, the bounds and round numbers often."""
    lo, hi = _bounds(min_value, max_value)
    mid = lo + (hi - lo) / 2
    round_ones = (0.0, 1.0, 10.0, 50.0, 80.0, 90.0, 95.0, 99.0, 100.0, 1000.0)
    special = sorted({lo, hi, mid, *(v for v in round_ones if lo <= v <= hi)})
    return st.one_of(st.sampled_from(special),
                     st.floats(lo, hi, allow_nan=False, allow_infinity=False))


def _duration(value: DurationLike, field: str) -> float:
    return parse_duration(value, field=field, allow_zero=False)


def durations(min_value: DurationLike = "1s", max_value: DurationLike = "1h", *,
              whole_seconds: bool = True) -> st.SearchStrategy[float]:
    """Durations in seconds within the bounds (whole seconds unless asked), round ones often:
    what a ``for``, a window or an interval is in practice."""
    lo = parse_duration(min_value, field="min_value")
    hi = parse_duration(max_value, field="max_value")
    if lo > hi:
        raise InvalidSampleError(f"durations: min_value {lo!r} is greater than max_value {hi!r}")
    usual = [v for v in (0.0, 1.0, 10.0, 15.0, 30.0, 60.0, 120.0, 300.0, 600.0, 900.0,
                         1800.0, 3600.0, 7200.0, 86400.0) if lo <= v <= hi]
    if whole_seconds:
        if math.ceil(lo) > math.floor(hi):
            raise InvalidSampleError(f"durations: no whole second between {lo!r} and {hi!r}")
        anyv: st.SearchStrategy[float] = st.integers(math.ceil(lo), math.floor(hi)).map(float)
    else:
        anyv = st.floats(lo, hi, allow_nan=False, allow_infinity=False)
    return st.one_of(st.sampled_from(usual), anyv) if usual else anyv


# -- names and labels ----------------------------------------------------------------------

_METRICS = ["cpu", "mem_used_bytes", "http_requests_total", "queue_depth", "up",
            "node:cpu:rate5m", "temperature_celsius", "errors_total"]
_LABEL_NAMES = ["host", "job", "instance", "env", "region", "service", "team", "path"]


# Words the expression language reserves (case-insensitively): a metric named so could not
# be written in a condition or a series name.
_RESERVED = frozenset({"and", "or", "unless", "not", "nan", "inf"})


def _writable(name: str) -> bool:
    return name.lower() not in _RESERVED


def metric_names() -> st.SearchStrategy[str]:
    """Valid metric names (``[a-zA-Z_:][a-zA-Z0-9_:]*``), common ones often; never a word
    the expression language reserves (``nan``, ``and``...)."""
    return st.one_of(st.sampled_from(_METRICS),
                     st.from_regex(r"[a-z_][a-z0-9_:]{0,15}", fullmatch=True).filter(_writable))


def label_names(*, exclude: Sequence[str] = ("alertname",)) -> st.SearchStrategy[str]:
    """Valid label names (``[a-zA-Z_][a-zA-Z0-9_]*``), not those in ``exclude``."""
    bad = frozenset(exclude)

    def allowed(name: str) -> bool:
        return name not in bad

    return st.one_of(st.sampled_from(_LABEL_NAMES),
                     st.from_regex(r"[a-z_][a-z0-9_]{0,11}", fullmatch=True)).filter(allowed)


def label_values(*, max_size: int = 20) -> st.SearchStrategy[str]:
    """Non-empty label values (an empty value means "no label"), any Unicode sometimes."""
    if max_size < 1:
        raise LabelError(f"label_values: max_size {max_size!r} must be >= 1")
    return st.one_of(
        st.text(string.ascii_lowercase + string.digits + "-._", min_size=1, max_size=max_size),
        st.text(min_size=1, max_size=max_size))


def label_sets(*, names: Sequence[str] | st.SearchStrategy[str] | None = None,
               values: st.SearchStrategy[str] | None = None, min_size: int = 0,
               max_size: int = 3) -> st.SearchStrategy[Labels]:
    """:class:`~alertkit.Labels` of ``min_size`` to ``max_size`` labels.

    ``names`` is a list of the names to pick from or a strategy (default
    :func:`label_names`); ``values`` a strategy (default :func:`label_values`).
    """
    if not 0 <= min_size <= max_size:
        raise LabelError(f"label_sets: need 0 <= min_size <= max_size, got {min_size!r}, "
                         f"{max_size!r}")
    if names is None:
        name_st = label_names()
    elif isinstance(names, st.SearchStrategy):
        name_st = names
    else:
        names = list(names)
        for n in names:
            Labels({n: "x"})  # raises LabelError on a bad name
        if len(set(names)) < min_size:
            raise LabelError(f"label_sets: {len(set(names))} names cannot make {min_size} labels")
        name_st = st.sampled_from(names)
    return st.dictionaries(name_st, values if values is not None else label_values(),
                           min_size=min_size, max_size=max_size).map(Labels)


def samples(*, metric: str | st.SearchStrategy[str] | None = None,
            labels: Mapping[str, str] | st.SearchStrategy[Labels] | None = None,
            value: st.SearchStrategy[float] | None = None,
            timestamp: st.SearchStrategy[float] | None = None) -> st.SearchStrategy[Sample]:
    """Valid :class:`~alertkit.Sample` values (NaN values sometimes, unless ``value`` says)."""
    return st.builds(
        Sample,
        _strategy(metric, metric_names()),
        value if value is not None else st.one_of(values(-1e6, 1e6), st.just(math.nan)),
        timestamp if timestamp is not None else st.integers(0, 4_000_000_000).map(float),
        _labels_strategy(labels))


def _strategy(value: T | st.SearchStrategy[T] | None, default: st.SearchStrategy[T]
              ) -> st.SearchStrategy[T]:
    if value is None:
        return default
    if isinstance(value, st.SearchStrategy):
        return value
    return st.just(value)


def _labels_strategy(labels: Mapping[str, str] | st.SearchStrategy[Labels] | None
                     ) -> st.SearchStrategy[Labels]:
    if labels is None:
        return label_sets()
    if isinstance(labels, st.SearchStrategy):
        return labels
    return st.just(labels if isinstance(labels, Labels) else Labels(labels))


# -- shapes ---------------------------------------------------------------------------------


def constants(min_value: float = 0.0, max_value: float = 100.0) -> st.SearchStrategy[Shape]:
    """A :class:`~alertkit.testing.shapes.Constant` level in the bounds."""
    return st.builds(Constant, values(min_value, max_value))


def ramps(min_value: float = 0.0, max_value: float = 100.0) -> st.SearchStrategy[Shape]:
    """A straight line (up or down) between two values in the bounds."""
    v = values(min_value, max_value)
    return st.builds(Ramp, v, v)


def steps(min_value: float = 0.0, max_value: float = 100.0) -> st.SearchStrategy[Shape]:
    """A level shift between two values in the bounds, somewhere in the series."""
    v = values(min_value, max_value)
    return st.builds(Step, v, v, st.floats(0, 1))


def spikes(min_value: float = 0.0, max_value: float = 100.0, *, max_spikes: int = 3
           ) -> st.SearchStrategy[Shape]:
    """A base level with one to ``max_spikes`` single-step spikes, all in the bounds."""
    if max_spikes < 1:
        raise InvalidSampleError(f"spikes: max_spikes {max_spikes!r} must be >= 1")
    v = values(min_value, max_value)
    return st.builds(Spikes, v, v, st.lists(st.floats(0, 1), min_size=1, max_size=max_spikes))


@st.composite
def _noise(draw: st.DrawFn, lo: float, hi: float) -> Shape:
    center = draw(values(lo, hi))
    amplitude = draw(st.floats(0, (hi - lo) / 2))
    return Noise(center, amplitude, draw(st.integers(0, 2**32 - 1)), low=lo, high=hi)


def noise(min_value: float = 0.0, max_value: float = 100.0) -> st.SearchStrategy[Shape]:
    """Uniform noise around a level, clipped to the bounds (reproducible by its seed)."""
    lo, hi = _bounds(min_value, max_value)
    return _noise(lo, hi)


@st.composite
def _waves(draw: st.DrawFn, lo: float, hi: float) -> Shape:
    mean = draw(values(lo, hi))
    # A little under the room left, so rounding in sin() cannot step over a bound.
    room = min(mean - lo, hi - mean) * 0.999
    return Wave(mean, draw(st.floats(0, max(room, 0.0))), draw(st.integers(2, 48)),
                draw(st.floats(0, 1)))


def waves(min_value: float = 0.0, max_value: float = 100.0) -> st.SearchStrategy[Shape]:
    """A sine wave (a daily cycle, say) within the bounds; its period is 2 to 48 steps."""
    lo, hi = _bounds(min_value, max_value)
    return _waves(lo, hi)


def counters(*, max_increment: float = 100.0, resets: bool = True
             ) -> st.SearchStrategy[Shape]:
    """A monotonic counter growing by up to ``max_increment`` per step, with up to three
    resets to zero if ``resets`` (what ``rate`` and ``increase`` must see through)."""
    _bounds(0.0, max_increment)
    return st.builds(
        Counter, values(0.0, max_increment), values(0.0, max_increment * 10),
        st.lists(st.floats(0, 1), max_size=3) if resets else st.just([]))


def shapes(min_value: float = 0.0, max_value: float = 100.0) -> st.SearchStrategy[Shape]:
    """Any of the bounded shapes: every value stays in ``[min_value, max_value]``."""
    lo, hi = _bounds(min_value, max_value)
    return (constants(lo, hi) | ramps(lo, hi) | steps(lo, hi) | spikes(lo, hi)
            | noise(lo, hi) | waves(lo, hi))


# -- series ---------------------------------------------------------------------------------


def _length_bounds(length: int | tuple[int, int]) -> tuple[int, int]:
    lo, hi = (length, length) if isinstance(length, int) else length
    for v in (lo, hi):
        if isinstance(v, bool) or not isinstance(v, int) or v < 0:
            raise InvalidSampleError(f"series: length {length!r} is not an int >= 0 or a "
                                     f"(min, max) pair of them")
    if lo > hi or hi > 100_000:
        raise InvalidSampleError(f"series: length {length!r} must have min <= max <= 100000")
    return lo, hi


def series(shape: st.SearchStrategy[Shape] | Shape | None = None, *, name: str = "x",
           labels: Mapping[str, str] | st.SearchStrategy[Labels] | None = None,
           start: TimeLike = 0.0, interval: DurationLike = "1m",
           length: int | tuple[int, int] = (1, 60), gaps: bool | float = False,
           nan: bool = False,
           stale: bool = False) -> st.SearchStrategy[Series]:
    """A :class:`~alertkit.testing.shapes.Series` named ``name`` (``'cpu{host="a"}'``).

    :param shape: a strategy of shapes (default :func:`shapes`), or one fixed shape.
    :param labels: more labels, fixed or a strategy (e.g. :func:`label_sets`).
    :param start: the first sample's time; one sample per ``interval`` from there.
    :param length: the number of steps, or a ``(min, max)`` range.
    :param gaps: leave some steps without a sample: at most a third with ``True``, at most
        that fraction with a number (``0.9``: sparse series).
    :param nan: make some values NaN (the bounds of the shape do not apply to those).
    :param stale: end the series with a staleness marker, sometimes.

    It shrinks towards short, gapless series of the simplest shape.
    """
    metric, base = parse_series_name(name)
    t0 = to_timestamp(start, field="start")
    step = _duration(interval, "interval")
    lo, hi = _length_bounds(length)
    if isinstance(gaps, bool):
        gap_share = 1 / 3 if gaps else 0.0
    elif isinstance(gaps, int | float) and 0.0 <= gaps <= 1.0:
        gap_share = float(gaps)
    else:
        raise InvalidSampleError(f"series: gaps {gaps!r} is not a bool or a fraction in [0, 1]")
    shape_st = shapes() if shape is None else (
        shape if isinstance(shape, st.SearchStrategy) else st.just(shape))
    if not isinstance(shape_st, st.SearchStrategy) or (
            shape is not None and not isinstance(shape, st.SearchStrategy | Shape)):
        raise InvalidSampleError(f"series: shape {shape!r} is not a Shape or a strategy")
    labels_st = st.just(Labels()) if labels is None else _labels_strategy(labels)

    @st.composite
    def build(draw: st.DrawFn) -> Series:
        drawn = draw(shape_st)
        if not isinstance(drawn, Shape):
            raise InvalidSampleError(f"series: the shape strategy drew {drawn!r}, not a Shape")
        n = draw(st.integers(lo, hi))
        vals: list[float | None] = list(drawn.render(n))
        skip: set[int] = set()
        if gap_share and n > 1:
            skip = draw(st.sets(st.integers(0, n - 1), max_size=int(n * gap_share)))
        if nan and n:
            for i in draw(st.sets(st.integers(0, n - 1), max_size=max(1, n // 4))):
                vals[i] = math.nan
        if stale and n and draw(st.booleans()):
            vals[n - 1] = None
        extra = draw(labels_st)
        merged = base.merge({k: v for k, v in extra.items() if k not in base})
        points = [(t0 + i * step, v) for i, v in enumerate(vals) if i not in skip]
        return Series(metric, merged, points, drawn)

    return build()


def series_sets(shape: st.SearchStrategy[Shape] | Shape | None = None, *, name: str = "x",
                label: str = "host", count: int | tuple[int, int] = (1, 4),
                **kwargs: object) -> st.SearchStrategy[tuple[Series, ...]]:
    """Several series of one metric that differ in one label (``host="a"``, ``host="b"``...;
    at most 100),
    each drawn by :func:`series` with ``shape`` and ``kwargs``: for rules that must give one
    alert per label set.
    """
    Labels({label: "x"})  # raises LabelError on a bad label name
    lo, hi = _length_bounds(count)
    if hi > 100:
        raise InvalidSampleError(f"series_sets: count {count!r} is more than 100 series")
    metric, base = parse_series_name(name)
    if label in base:
        raise LabelError(f"series_sets: {name!r} already sets the label {label!r}")
    values = [string.ascii_lowercase[i] if i < 26 else f"s{i}" for i in range(hi)]
    parts = [series(shape, name=_with_label(metric, base, label, v), **kwargs)  # type: ignore[arg-type]
             for v in values]

    @st.composite
    def build(draw: st.DrawFn) -> tuple[Series, ...]:
        n = draw(st.integers(lo, hi))
        return tuple(draw(p) for p in parts[:n])

    return build()


def _with_label(metric: str, base: Labels, label: str, value: str) -> str:
    return Series(metric, base.merge({label: value}), []).name


# -- conditions and rules -------------------------------------------------------------------

#: The condition kinds :func:`conditions` draws from (its ``kinds`` parameter).
CONDITION_KINDS: tuple[str, ...] = (
    "threshold", "window", "rate", "quantile", "binop", "present", "absent", "all", "any",
    "not", "consecutive", "deriv", "predict_linear", "change", "count_matching",
    "percent_matching", "flatline", "cardinality", "zscore", "ewma", "robust_zscore",
    "seasonal",
)
_OPS = st.sampled_from([">", ">=", "<", "<=", "==", "!="])
_RANGES = st.sampled_from([60.0, 120.0, 300.0, 600.0, 900.0, 3600.0])


MetricLike = str | Selector


def _selector(metric: MetricLike) -> Selector:
    if isinstance(metric, Selector):
        return metric
    name, labels = parse_series_name(metric)
    return Selector(name, dict(labels))


def _selectors(metric: MetricLike | Sequence[MetricLike]) -> tuple[Selector, ...]:
    if isinstance(metric, str | Selector):
        return (_selector(metric),)
    sels = tuple(_selector(m) for m in metric)
    if not sels:
        raise RuleError("conditions: metric is an empty list; name at least one series")
    return sels


def conditions(metric: MetricLike | Sequence[MetricLike] = "x", *,
               kinds: Sequence[str] | None = None, min_value: float = 0.0,
               max_value: float = 100.0, depth: int = 2) -> st.SearchStrategy[Condition]:
    """Conditions of every kind over the series ``metric`` (a name such as ``'cpu'`` or
    ``'cpu{job="api"}'``, a :class:`~alertkit.Selector`, or a list of them: each part of a
    condition then reads one of them, so ``all``/``any`` can mix series).

    ``kinds`` limits them to some of :data:`CONDITION_KINDS`; thresholds on values are drawn
    from ``[min_value, max_value]`` (where your series live, so rules do fire sometimes);
    ``all``/``any``/``not``/``consecutive`` nest other kinds up to ``depth`` levels.
    """
    sels = _selectors(metric)
    chosen = tuple(CONDITION_KINDS if kinds is None else kinds)
    unknown = [k for k in chosen if k not in CONDITION_KINDS]
    if unknown or not chosen:
        raise RuleError(f"conditions: unknown kinds {unknown!r} (known: "
                        f"{', '.join(CONDITION_KINDS)})" if unknown else
                        "conditions: kinds is empty")
    if isinstance(depth, bool) or not isinstance(depth, int) or depth < 0:
        raise RuleError(f"conditions: depth {depth!r} is not an int >= 0")
    lo, hi = _bounds(min_value, max_value)
    return _conditions(sels, chosen, lo, hi, depth)


def _all(a: Condition, b: Condition) -> Condition:
    return All(a, b)


def _any(a: Condition, b: Condition) -> Condition:
    return Any(a, b)


def _consecutive(c: Condition, k: int, extra: int) -> Condition:
    return Consecutive(c, k, k + extra)


def _metric_only(sel: Selector) -> Selector:
    return Selector(sel.metric)


@st.composite
def _conditions(draw: st.DrawFn, sels: tuple[Selector, ...], kinds: tuple[str, ...],
                lo: float, hi: float, depth: int) -> Condition:
    # A composite, so that the strategy's repr stays short however deep the nesting (a
    # filtered draw may print it); the kind is drawn first, so it shrinks to the first kind.
    nested = ("all", "any", "not", "consecutive")
    usable = [k for k in kinds if depth > 0 or k not in nested] or ["threshold"]
    kind = draw(st.sampled_from(usable))
    return draw(_kind(sels, kinds, lo, hi, depth, kind))


# Memoised, and named functions only (hypothesis describes a lambda by reading its source).
@functools.lru_cache(maxsize=512)
def _kind(sels: tuple[Selector, ...], kinds: tuple[str, ...], lo: float, hi: float,
          depth: int, kind: str) -> st.SearchStrategy[Condition]:
    level = values(lo, hi)
    sel_st = st.sampled_from(sels)
    instant = sel_st.map(Instant)
    nested = ("all", "any", "not", "consecutive")
    leaves = tuple(k for k in kinds if k not in nested) or ("threshold",)
    small = st.floats(-10, 10, allow_nan=False)
    z = st.floats(-4, 4)

    def thr(value: st.SearchStrategy[ValueExpr], limits: st.SearchStrategy[float] = level
            ) -> st.SearchStrategy[Condition]:
        return st.builds(Threshold, value, _OPS, limits)

    def make(kind: str) -> st.SearchStrategy[Condition]:
        if kind in nested:
            inner = _conditions(sels, leaves if depth <= 1 else kinds, lo, hi, depth - 1)
            if kind == "all":
                return st.builds(_all, inner, inner)
            if kind == "any":
                return st.builds(_any, inner, inner)
            if kind == "not":
                return st.builds(Not, inner)
            return st.builds(_consecutive, inner, st.integers(1, 4), st.integers(0, 3))
        if kind == "threshold":
            return thr(instant)
        if kind == "window":
            return thr(st.builds(Window, st.sampled_from(["avg", "min", "max", "sum", "count",
                                                          "last"]), sel_st, _RANGES))
        if kind == "rate":
            return thr(st.builds(Window, st.sampled_from(["rate", "increase", "delta"]), sel_st,
                                 _RANGES), small)
        if kind == "quantile":
            return thr(st.builds(Window, st.just("quantile"), sel_st, _RANGES,
                                 st.sampled_from([0.5, 0.9, 0.99]) | st.floats(0, 1)))
        if kind == "binop":
            return thr(st.builds(BinOp, instant, st.sampled_from(["+", "-", "*", "/"]),
                                 st.sampled_from([1.0, 2.0, 100.0, 0.5])))
        if kind == "present":
            return st.builds(Present, instant)
        if kind == "absent":
            return st.builds(Absent, sel_st, st.none() | _RANGES)
        if kind == "deriv":
            return thr(st.builds(Deriv, sel_st, _RANGES), small)
        if kind == "predict_linear":
            return thr(st.builds(PredictLinear, sel_st, _RANGES,
                                 st.sampled_from([0.0, 300.0, 3600.0])))
        if kind == "change":
            return thr(st.builds(Change, st.sampled_from(["avg", "max", "last"]), sel_st,
                                 _RANGES, mode=st.sampled_from(["ratio", "percent",
                                                                "absolute"])), small)
        if kind == "count_matching":
            return thr(st.builds(CountMatching, sel_st, _RANGES, _OPS, level), st.floats(0, 20))
        if kind == "percent_matching":
            return thr(st.builds(PercentMatching, sel_st, _RANGES, _OPS, level),
                       st.floats(0, 100))
        if kind == "flatline":
            return st.builds(Flatline, sel_st, _RANGES, st.integers(1, 5))
        if kind == "cardinality":
            return st.builds(Cardinality, sel_st.map(_metric_only), _RANGES,
                             st.sampled_from(_LABEL_NAMES), _OPS, st.floats(0, 10))
        if kind == "zscore":
            return thr(st.builds(ZScore, sel_st, _RANGES, warmup=st.integers(2, 10)), z)
        if kind == "ewma":
            return thr(st.builds(EWMA, sel_st, alpha=st.floats(0.01, 0.9)), z)
        if kind == "robust_zscore":
            return thr(st.builds(RobustZScore, sel_st, _RANGES, warmup=st.integers(2, 10)), z)
        assert kind == "seasonal"
        return thr(st.builds(Seasonal, sel_st, st.just(60.0), st.sampled_from([600.0, 3600.0]),
                             seasons=st.integers(1, 3)), st.floats(-2, 2))

    return make(kind)


def rule_names() -> st.SearchStrategy[str]:
    """Rule names such as ``HighCPU`` or ``Disk_full-2``."""
    return st.one_of(st.sampled_from(["HighCPU", "DiskFull", "InstanceDown", "SlowRequests"]),
                     st.from_regex(r"[A-Z][a-zA-Z0-9_]{0,15}", fullmatch=True))


def rules(condition: st.SearchStrategy[Condition] | Condition | str | None = None, *,
          name: str | st.SearchStrategy[str] | None = None,
          for_: st.SearchStrategy[float] | DurationLike | None = None,
          keep_firing_for: st.SearchStrategy[float] | DurationLike | None = None,
          recovery: bool = False, metric: MetricLike | Sequence[MetricLike] = "x",
          no_data: st.SearchStrategy[str] | NoDataPolicy | str | _AnyValue = "ok",
          stale_after: st.SearchStrategy[float | None] | DurationLike | _AnyValue | None = None,
          mode: st.SearchStrategy[str | None] | EvalMode | str | _AnyValue | None = None,
          ) -> st.SearchStrategy[Rule]:
    """Valid :class:`~alertkit.Rule` values.

    ``condition`` defaults to :func:`conditions` over ``metric``; ``for_`` and
    ``keep_firing_for`` to a few usual durations (0 often); ``recovery`` adds a hysteresis
    condition sometimes. Severity, labels and annotations vary too. ``no_data``,
    ``stale_after`` and ``mode`` are fixed values (the defaults: ``"ok"``, the evaluator's,
    the evaluator's) or strategies; :data:`ANY` draws any valid one.
    """
    if condition is None:
        cond_st: st.SearchStrategy[Condition] = conditions(metric)
    elif isinstance(condition, st.SearchStrategy):
        cond_st = condition
    else:
        cond_st = st.just(Rule(name="R", condition=condition).condition)
    times = st.sampled_from([0.0, 0.0, 60.0, 120.0, 300.0]) | durations("0s", "15m")

    def dur(value: st.SearchStrategy[float] | DurationLike | None, field: str
            ) -> st.SearchStrategy[float]:
        if value is None:
            return times
        if isinstance(value, st.SearchStrategy):
            return value
        return st.just(parse_duration(value, field=field))

    fixed = {k: v for k, v in (("no_data", no_data), ("stale_after", stale_after),
                                ("mode", mode))
             if v is not ANY and not isinstance(v, st.SearchStrategy)}
    Rule(name="R", condition="x > 1", **fixed)  # type: ignore[arg-type]  # fail early
    no_data_st = (st.sampled_from(["ok", "ok", "keep", "alert"]) if no_data is ANY
                  else _strategy(no_data, st.just("ok")))
    stale_st = (st.sampled_from([None, None, 60.0, 90.0, 600.0]) if stale_after is ANY
                else _strategy(stale_after, st.none()))
    mode_st = (st.sampled_from([None, "sample", "tick"]) if mode is ANY
               else _strategy(mode, st.none()))
    return st.builds(
        _rule,
        name=_strategy(name, rule_names()),
        no_data=no_data_st,
        stale_after=stale_st,
        mode=mode_st,
        condition=cond_st,
        for_=dur(for_, "for_"),
        keep_firing_for=dur(keep_firing_for, "keep_firing_for"),
        recovery=(st.none() | conditions(metric, kinds=["threshold"], depth=0)) if recovery
        else st.none(),
        severity=st.sampled_from(list(Severity)),
        labels=label_sets(names=["team", "service", "env"], max_size=2),
        annotations=st.sampled_from([{}, {"summary": "{{ value }}"},
                                     {"summary": "{{ labels.alertname }} is {{ value }}"}]),
    )


def _rule(**kw: object) -> Rule:
    return Rule(**kw)  # type: ignore[arg-type]
