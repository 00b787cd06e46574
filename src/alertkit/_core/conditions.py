"""Conditions: what a rule tests, as frozen values.

Two layers, as in PromQL: *value expressions* produce one number per label
set (an instant value, a window aggregate...), and *conditions* decide whether
a label set is in breach (a comparison, absence, composites...).

Each public class knows how to ``_compile`` itself into a runtime node (see
:mod:`._core.nodes`); the evaluator only speaks to nodes, so new kinds of
condition plug in without touching it.
"""

from __future__ import annotations

import math
import typing
from collections.abc import Mapping
from typing import TYPE_CHECKING, Literal

import attrs

from alertkit._errors import RuleError

from .functions import Function, Param, RangeArg, register, render_arg, render_call
from .labels import Matcher, Selector
from .timeutil import DurationLike, parse_duration
from .windows import Agg

if TYPE_CHECKING:
    from .nodes import CompileContext, CondNode, ValueNode

__all__ = [
    "Absent",
    "All",
    "Any",
    "Condition",
    "Consecutive",
    "Instant",
    "Not",
    "Op",
    "Threshold",
    "ValueExpr",
    "Window",
    "avg_over_time",
    "count_over_time",
    "delta",
    "increase",
    "last_over_time",
    "max_over_time",
    "min_over_time",
    "quantile_over_time",
    "rate",
    "sum_over_time",
]

Op = Literal[">", ">=", "<", "<=", "==", "!="]
OPS: tuple[str, ...] = (">", ">=", "<", "<=", "==", "!=")


def _selector(value: Selector | str) -> Selector:
    if isinstance(value, Selector):
        return value
    if isinstance(value, str):
        return Selector(value)
    raise RuleError(f"expected a metric name or Selector, got {value!r}")


def _selector_kw(metric: Selector | str, matchers: Mapping[str, str | Matcher]) -> Selector:
    sel = _selector(metric)
    if not matchers:
        return sel
    extra = tuple(_kw_matcher(k, m) for k, m in sorted(matchers.items()))
    return Selector(sel.metric, sel.matchers + extra)


def _kw_matcher(name: str, value: str | Matcher) -> Matcher:
    if not isinstance(value, Matcher):
        return Matcher(name, "=", value)
    if value.name != name:
        raise RuleError(f"keyword {name}= was given a matcher for label {value.name!r}")
    return value


class ValueExpr:
    """Base of value expressions: one float per label set at an instant."""

    __slots__ = ()

    def _compile(self, ctx: CompileContext) -> ValueNode:
        raise NotImplementedError


class Condition:
    """Base of conditions. Subclass and implement ``_compile`` to add a kind."""

    __slots__ = ()

    def _compile(self, ctx: CompileContext) -> CondNode:
        raise NotImplementedError

    def __and__(self, other: Condition) -> All:
        return All(self, other)

    def __or__(self, other: Condition) -> Any:
        return Any(self, other)

    def __invert__(self) -> Not:
        return Not(self)


@attrs.frozen
class Instant(ValueExpr):
    """The latest sample of each matching series, looked back up to ``stale_after``."""

    selector: Selector = attrs.field(converter=_selector)

    def _compile(self, ctx: CompileContext) -> ValueNode:
        from .nodes import InstantNode

        return InstantNode(ctx.track_input(self.selector), ctx.stale_after)

    def __str__(self) -> str:
        return str(self.selector)


def _range(value: DurationLike) -> float:
    return parse_duration(value, field="window range", allow_zero=False)


def _agg(value: Agg | str) -> Agg:
    try:
        return Agg(value)
    except ValueError:
        names = ", ".join(a.value for a in Agg)
        raise RuleError(f"window aggregation {value!r} is not one of {names}") from None


@attrs.frozen
class Window(ValueExpr):
    """An aggregate of each matching series over the closed window ``[T - range, T]``.

    ``rate``, ``increase`` and ``delta`` follow Prometheus: counter resets are
    compensated and the result is extrapolated to the window edges; fewer than
    two samples give no output.
    """

    agg: Agg = attrs.field(converter=_agg)
    selector: Selector = attrs.field(converter=_selector)
    range: float = attrs.field(converter=_range)
    q: float | None = None

    def __attrs_post_init__(self) -> None:
        if (self.agg is Agg.QUANTILE) != (self.q is not None):
            raise RuleError("quantile windows need q (and only they take it)")
        if self.q is not None and (
            isinstance(self.q, bool) or not isinstance(self.q, int | float) or math.isnan(self.q)
        ):
            raise RuleError(f"quantile q={self.q!r} is not a number")

    def _compile(self, ctx: CompileContext) -> ValueNode:
        from .nodes import WindowNode

        return WindowNode(self, ctx)

    def __str__(self) -> str:
        arg = RangeArg(self.selector, self.range)
        if self.agg is Agg.QUANTILE:
            return render_call("quantile_over_time", self.q, arg)
        return render_call(self.agg.promql, arg)


def _window_helper(agg: Agg) -> typing.Any:
    def helper(metric: Selector | str, range: DurationLike, **matchers: str | Matcher) -> Window:
        return Window(agg, _selector_kw(metric, matchers), range)

    helper.__name__ = agg.promql
    helper.__doc__ = (
        f"``{agg.promql}(metric{{matchers}}[range])`` as a :class:`Window`; "
        f"keyword arguments are equality matchers (or :class:`Matcher`)."
    )
    return helper


avg_over_time = _window_helper(Agg.AVG)
min_over_time = _window_helper(Agg.MIN)
max_over_time = _window_helper(Agg.MAX)
sum_over_time = _window_helper(Agg.SUM)
count_over_time = _window_helper(Agg.COUNT)
last_over_time = _window_helper(Agg.LAST)
rate = _window_helper(Agg.RATE)
increase = _window_helper(Agg.INCREASE)
delta = _window_helper(Agg.DELTA)


def quantile_over_time(
    q: float, metric: Selector | str, range: DurationLike, **matchers: str | Matcher
) -> Window:
    """``quantile_over_time(q, metric[range])`` as a :class:`Window`."""
    return Window(Agg.QUANTILE, _selector_kw(metric, matchers), range, q)


def _value_expr(value: ValueExpr | Selector | str) -> ValueExpr:
    if isinstance(value, ValueExpr):
        return value
    return Instant(_selector(value))


def _check_op(instance: Threshold, attribute: attrs.Attribute[str], value: str) -> None:
    if value not in OPS:
        raise RuleError(f"threshold operator {value!r} is not one of {' '.join(OPS)}")


def _threshold(value: object) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise RuleError(f"threshold {value!r} is not a number")
    return float(value)


@attrs.frozen
class Threshold(Condition):
    """``value OP threshold``: holds for each label set whose value compares true.

    NaN compares false with every operator except ``!=``, as in Prometheus.

    >>> Threshold("cpu", ">", 90)                              # instant value
    >>> Threshold(avg_over_time("cpu", "5m"), ">=", 80)        # window aggregate
    """

    value: ValueExpr = attrs.field(converter=_value_expr)
    op: Op = attrs.field(validator=_check_op)
    threshold: float = attrs.field(converter=_threshold)

    def _compile(self, ctx: CompileContext) -> CondNode:
        from .nodes import ThresholdNode

        return ThresholdNode(self.value._compile(ctx), self.op, self.threshold)

    def __str__(self) -> str:
        return f"{self.value} {self.op} {render_arg('number', self.threshold)}"


def _absent_window(value: DurationLike | None) -> float | None:
    return None if value is None else parse_duration(value, field="absent window", allow_zero=False)


@attrs.frozen
class Absent(Condition):
    """Holds when no matching series has a sample in ``[T - window, T]``.

    ``window`` defaults to the rule's ``stale_after``, which makes this
    PromQL's ``absent(selector)``; with a window it is ``absent_over_time``.
    The alert's labels are the selector's equality matchers. Inside a
    composite it is a global guard, the same for every label set.
    """

    selector: Selector = attrs.field(converter=_selector)
    window: float | None = attrs.field(default=None, converter=_absent_window)

    def _compile(self, ctx: CompileContext) -> CondNode:
        from .nodes import AbsentNode

        window = ctx.stale_after if self.window is None else self.window
        return AbsentNode(ctx.absent_input(self.selector, window), window,
                          instant=self.window is None)

    def __str__(self) -> str:
        if self.window is None:
            return render_call("absent", self.selector)
        return render_call("absent_over_time", RangeArg(self.selector, self.window))


def _conditions(value: tuple[typing.Any, ...]) -> tuple[Condition, ...]:
    for c in value:
        if not isinstance(c, Condition):
            raise RuleError(f"{c!r} is not a Condition")
    if not value:
        raise RuleError("a composite needs at least one condition")
    return tuple(value)


@attrs.frozen(init=False)
class All(Condition):
    """Holds when every part holds for the label set; the value is the first part's.

    Like PromQL's ``and``: parts are joined on identical labels.
    """

    conditions: tuple[Condition, ...]

    def __init__(self, *conditions: Condition) -> None:
        self.__attrs_init__(_conditions(conditions))

    def _compile(self, ctx: CompileContext) -> CondNode:
        from .nodes import AllNode

        return AllNode([c._compile(ctx) for c in self.conditions])

    def __str__(self) -> str:
        return " and ".join(f"({c})" for c in self.conditions)


@attrs.frozen(init=False)
class Any(Condition):
    """Holds when at least one part holds; the value is the first holding part's."""

    conditions: tuple[Condition, ...]

    def __init__(self, *conditions: Condition) -> None:
        self.__attrs_init__(_conditions(conditions))

    def _compile(self, ctx: CompileContext) -> CondNode:
        from .nodes import AnyNode

        return AnyNode([c._compile(ctx) for c in self.conditions])

    def __str__(self) -> str:
        return " or ".join(f"({c})" for c in self.conditions)


def _condition(value: object) -> Condition:
    if not isinstance(value, Condition):
        raise RuleError(f"{value!r} is not a Condition")
    return value


@attrs.frozen
class Not(Condition):
    """Holds (value NaN) when the part does not hold or has no output, like PromQL's
    ``unless``: ``All(a, Not(b))`` is ``a unless b``. A label set whose series all went
    stale has no data, whatever ``Not`` says (the rule's no-data policy decides)."""

    condition: Condition = attrs.field(converter=_condition)

    def _compile(self, ctx: CompileContext) -> CondNode:
        from .nodes import NotNode

        return NotNode(self.condition._compile(ctx))

    def __str__(self) -> str:
        return f"not ({self.condition})"


def _positive_int(instance: object, attribute: attrs.Attribute[int], value: int) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise RuleError(f"{attribute.name}={value!r} must be a positive integer")


@attrs.frozen
class Consecutive(Condition):
    """Holds when the part held in at least ``k`` of the last ``n`` evaluations.

    An evaluation is a sample of one of the part's series (``EvalMode.SAMPLE``)
    or a tick (``EvalMode.TICK``). ``n`` defaults to ``k``: k in a row.
    """

    condition: Condition = attrs.field(converter=_condition)
    k: int = attrs.field(validator=_positive_int)
    n: int = attrs.field(
        default=attrs.Factory(lambda self: self.k, takes_self=True), validator=_positive_int
    )

    def __attrs_post_init__(self) -> None:
        if self.k > self.n:
            raise RuleError(f"Consecutive: k={self.k} is larger than n={self.n}")
        if self.n > 1024:
            raise RuleError(f"Consecutive: n={self.n} is larger than 1024")

    def _compile(self, ctx: CompileContext) -> CondNode:
        from .nodes import ConsecutiveNode

        return ConsecutiveNode(self.condition._compile(ctx), self.k, self.n, ctx)

    def __str__(self) -> str:
        return render_call("consecutive", self.condition, self.k, self.n)


# -- the expression language's functions for these kinds ------------------------------------


def _register_builtins() -> None:
    rng = Param("range", "range")
    for agg in Agg:
        if agg is Agg.QUANTILE:
            continue
        register(
            Function(
                agg.promql,
                "value",
                (rng,),
                lambda r, agg=agg: Window(agg, r.selector, r.range),
                f"{agg.value} of each series over the window",
            )
        )
    register(
        Function(
            "quantile_over_time",
            "value",
            (Param("q", "number"), rng),
            lambda q, r: Window(Agg.QUANTILE, r.selector, r.range, q),
            "the q-quantile (0 <= q <= 1) of each series over the window",
        )
    )
    register(
        Function(
            "absent",
            "condition",
            (Param("selector", "selector"),),
            lambda sel: Absent(sel),
            "holds when no matching series has a sample within stale_after",
        )
    )
    register(
        Function(
            "absent_over_time",
            "condition",
            (rng,),
            lambda r: Absent(r.selector, r.range),
            "holds when no matching series has a sample in the window",
        )
    )
    register(
        Function(
            "consecutive",
            "condition",
            (Param("condition", "condition"), Param("k", "integer"), Param("n", "integer")),
            lambda c, k, n: Consecutive(c, k, n),
            "holds when the condition held in k of the last n evaluations",
        )
    )


_register_builtins()
