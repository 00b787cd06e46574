"""The function table of the expression language.

Every function call the expression language knows (``avg_over_time(x[5m])``,
``absent(up)``, ``consecutive(cpu > 85, 2, 3)``...) is an entry here: its name,
its parameters and how to build the condition or value expression. A new
condition kind registers its function here and renders itself (``__str__``)
in the same spelling, so the parser and the renderer need no change and every
condition round-trips through text.

Parameter kinds, as written in an expression:

==============  ======================================  =========================
kind            written as                              passed to ``build`` as
==============  ======================================  =========================
``range``       ``metric{matchers}[5m]``                :class:`RangeArg`
``selector``    ``metric{matchers}``                    :class:`Selector`
``number``      ``3``, ``-0.5``, ``1e3``, ``NaN``       ``float``
``integer``     ``3``                                   ``int``
``duration``    ``5m``, ``1h30m`` (or seconds: ``90``)  ``float`` seconds
``string``      ``"text"``                              ``str``
``value``       any value expression                    :class:`ValueExpr`
``condition``   any condition                           :class:`Condition`
==============  ======================================  =========================

Optional parameters have a default and may be given by keyword
(``zscore(latency[1h], warmup=30)``); renderers write them as keywords, and
only when they differ from the default.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Literal

import attrs

from alertkit._errors import RuleError

from .labels import Selector
from .timeutil import format_duration, parse_duration

__all__ = ["FUNCTIONS", "REQUIRED", "Function", "Param", "RangeArg", "register", "render_call"]

ParamKind = Literal[
    "range", "selector", "number", "integer", "duration", "string", "value", "condition"
]


class _Required:
    def __repr__(self) -> str:
        return "REQUIRED"


REQUIRED: Any = _Required()


@attrs.frozen
class RangeArg:
    """A range selector argument: ``selector[range]``."""

    selector: Selector
    range: float

    def __str__(self) -> str:
        return f"{self.selector}[{render_duration(self.range)}]"


@attrs.frozen
class Param:
    name: str
    kind: ParamKind
    default: Any = REQUIRED

    @property
    def required(self) -> bool:
        return self.default is REQUIRED


@attrs.frozen
class Function:
    """One function of the expression language.

    The parser calls ``build`` with one argument per parameter, in order, the
    defaults of omitted optional ones filled in, each converted as the table above
    says; an ``AlertkitError``/``ValueError``/``TypeError`` it raises becomes an
    ``ExpressionError`` pointing at the call.
    """

    name: str
    returns: Literal["value", "condition"]
    params: tuple[Param, ...]
    build: Callable[..., Any]
    doc: str = ""


FUNCTIONS: dict[str, Function] = {}


def register(function: Function) -> Function:
    """Add a function to the language (its name must be new)."""
    if function.name in FUNCTIONS:
        raise RuleError(f"expression function {function.name!r} is already registered")
    seen_optional = False
    for p in function.params:
        if p.required and seen_optional:
            raise RuleError(f"{function.name}: required parameter {p.name!r} after an optional one")
        seen_optional = seen_optional or not p.required
    FUNCTIONS[function.name] = function
    return function


def render_arg(kind: ParamKind, value: Any) -> str:
    """Canonical text of one argument (what the parser reads back to an equal value)."""
    if kind == "duration":
        return render_duration(value)
    if kind == "string":
        return '"' + str(value).replace("\\", "\\\\").replace('"', '\\"') + '"'
    if kind == "number":
        return _number(value)
    if kind == "condition":
        return str(value)
    return str(value)


def render_duration(seconds: float) -> str:
    """``5m``, ``1h30m``; plain seconds (``0.0005``) when units would round the value.

    Durations have millisecond resolution; the parser also reads a number of
    seconds, so text always gives back the same float.
    """
    text = format_duration(seconds)
    if text and parse_duration(text) == seconds:
        return text
    return repr(float(seconds))


def _number(value: float) -> str:
    if value != value:
        return "NaN"
    if value in (float("inf"), float("-inf")):
        return "Inf" if value > 0 else "-Inf"
    return repr(float(value))


def render_call(name: str, *args: Any, **optional: Any) -> str:
    """Render ``name(args...)``: positional arguments in order, then keywords that differ
    from their defaults (the function's table entry gives kinds and defaults)."""
    function = FUNCTIONS[name]
    parts = []
    params = iter(function.params)
    for value, param in zip(args, params, strict=False):
        parts.append(render_arg(param.kind, value))
    for param in function.params[len(args) :]:
        if param.name in optional and optional[param.name] != param.default:
            parts.append(f"{param.name}={render_arg(param.kind, optional[param.name])}")
    return f"{name}({', '.join(parts)})"
