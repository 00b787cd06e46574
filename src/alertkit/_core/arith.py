"""Arithmetic between value expressions, and "the value exists" as a condition.

Two small kinds the expression language needs to say what PromQL says:

- :class:`BinOp` is ``left op right`` with ``op`` one of ``+ - * /``, between
  two value expressions of the same label set (``errors / requests``) or a
  value expression and a constant (``errors * 100``). As in PromQL, only label
  sets where both sides have a value produce one, and division follows IEEE
  754: ``x / 0`` is ``+Inf`` or ``-Inf``, ``0 / 0`` is NaN.
- :class:`Present` is a bare value expression used as a condition
  (``up and not maintenance``): it holds, with the value, whenever the value
  expression has output, NaN included.

Both render to the text the parser reads back to an equal object.
"""

from __future__ import annotations

import math
import operator
from collections.abc import Callable
from typing import TYPE_CHECKING, Final, Literal

import attrs

from alertkit._errors import RuleError

from .conditions import Condition, ValueExpr, _value_expr
from .functions import render_arg
from .nodes import CondNode, ValueNode

if TYPE_CHECKING:
    from .nodes import CompileContext, EvalContext, Result, Track

__all__ = ["ARITH_OPS", "ArithOp", "BinOp", "Present", "ieee_div"]

ArithOp = Literal["+", "-", "*", "/"]
ARITH_OPS: tuple[str, ...] = ("+", "-", "*", "/")

#: Binding strength of each operator, as in PromQL: ``*`` and ``/`` before ``+`` and ``-``.
PRECEDENCE: Final = {"+": 1, "-": 1, "*": 2, "/": 2}

_INF = math.inf


def ieee_div(a: float, b: float) -> float:
    """``a / b`` as IEEE 754 (and PromQL) define it: never raises.

    Python raises on a zero divisor; IEEE gives ``±Inf`` with the sign of
    ``a`` times the sign of the zero, and NaN for ``0 / 0`` or ``NaN / 0``.
    """
    try:
        return a / b
    except ZeroDivisionError:
        if a == 0 or a != a:
            return math.nan
        return math.copysign(_INF, a) * math.copysign(1.0, b)


_APPLY: Final[dict[str, Callable[[float, float], float]]] = {
    "+": operator.add,
    "-": operator.sub,
    "*": operator.mul,
    "/": ieee_div,
}


def _operand(value: object) -> ValueExpr | float:
    if isinstance(value, ValueExpr):
        return value
    if isinstance(value, bool):
        raise RuleError(f"arithmetic operand {value!r} is not a number or value expression")
    if isinstance(value, int | float):
        return float(value)
    try:
        return _value_expr(value)  # type: ignore[arg-type]  # a metric name or Selector
    except RuleError:
        raise RuleError(
            f"arithmetic operand {value!r} is not a number or value expression"
        ) from None


def _check_op(instance: BinOp, attribute: attrs.Attribute[str], value: str) -> None:
    if value not in ARITH_OPS:
        raise RuleError(f"arithmetic operator {value!r} is not one of {' '.join(ARITH_OPS)}")


@attrs.frozen
class BinOp(ValueExpr):
    """``left op right``: arithmetic, per label set, between value expressions.

    Either side may be a constant, not both (a constant alone has no label
    set). A metric name or :class:`Selector` means its instant value. Label
    sets where a side has no output have no output.

    >>> BinOp(rate("errors", "5m"), "/", rate("requests", "5m"))  # doctest: +SKIP
    >>> str(BinOp(BinOp("a", "+", "b"), "*", 100))
    '(a + b) * 100.0'
    """

    left: ValueExpr | float = attrs.field(converter=_operand)
    op: ArithOp = attrs.field(validator=_check_op)
    right: ValueExpr | float = attrs.field(converter=_operand)

    def __attrs_post_init__(self) -> None:
        if not isinstance(self.left, ValueExpr) and not isinstance(self.right, ValueExpr):
            raise RuleError(
                f"arithmetic {self.left!r} {self.op} {self.right!r} needs a value "
                "expression on at least one side"
            )

    def _compile(self, ctx: CompileContext) -> ValueNode:
        left = self.left._compile(ctx) if isinstance(self.left, ValueExpr) else self.left
        right = self.right._compile(ctx) if isinstance(self.right, ValueExpr) else self.right
        return BinOpNode(left, self.op, right)

    def __str__(self) -> str:
        # Parentheses only where the parser needs them to rebuild this exact tree:
        # operators are left-associative, so a right operand of the same strength
        # needs them too (``a - (b - c)``; ``a + (b + c)`` is another tree in floats).
        strength = PRECEDENCE[self.op]
        return f"{_side(self.left, strength)} {self.op} {_side(self.right, strength + 1)}"


def _side(operand: ValueExpr | float, min_strength: int) -> str:
    if isinstance(operand, BinOp):
        text = str(operand)
        return f"({text})" if PRECEDENCE[operand.op] < min_strength else text
    if isinstance(operand, ValueExpr):
        return str(operand)
    return render_arg("number", operand)


class BinOpNode(ValueNode):
    """Runtime node of :class:`BinOp`; a constant side has no node, only its value."""

    __slots__ = ("apply", "inputs", "left", "left_const", "right", "right_const")

    def __init__(self, left: ValueNode | float, op: str, right: ValueNode | float) -> None:
        self.left = left if isinstance(left, ValueNode) else None
        self.left_const = 0.0 if isinstance(left, ValueNode) else left
        self.right = right if isinstance(right, ValueNode) else None
        self.right_const = 0.0 if isinstance(right, ValueNode) else right
        self.apply = _APPLY[op]
        inputs: frozenset[int] = frozenset()
        for side in (self.left, self.right):
            if side is not None:
                inputs |= side.inputs
        self.inputs = inputs

    def value(self, track: Track, now: float) -> float | None:
        left = self.left
        a = self.left_const if left is None else left.value(track, now)
        if a is None:
            return None
        right = self.right
        b = self.right_const if right is None else right.value(track, now)
        if b is None:
            return None
        return self.apply(a, b)


@attrs.frozen
class Present(Condition):
    """Holds whenever the value expression has output, with its value (NaN included).

    What a bare value expression means where a condition is expected:
    ``up and not maintenance`` is ``All(Present(up), Not(Present(maintenance)))``.
    Like PromQL's ``and``/``unless``, it asks whether the label set has a
    value, not what the value is.

    >>> str(Present("up"))
    'up'
    """

    value: ValueExpr = attrs.field(converter=_value_expr)

    def _compile(self, ctx: CompileContext) -> CondNode:
        return PresentNode(self.value._compile(ctx))

    def __str__(self) -> str:
        return str(self.value)


class PresentNode(CondNode):
    __slots__ = ("inputs", "source")

    def __init__(self, source: ValueNode) -> None:
        self.source = source
        self.inputs = source.inputs

    def eval(self, track: Track, now: float, trigger: int, ctx: EvalContext) -> Result:
        return self.source.value(track, now)
