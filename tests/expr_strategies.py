"""Hypothesis strategies for every kind of condition and value expression.

Used by the expression language's round-trip and fuzz tests
(``parse_condition(str(c)) == c``), and usable by any test that needs random
conditions. Three ways to cover a kind, from least to most work:

1. **Nothing to do** for a function registered in ``alertkit._core.functions.FUNCTIONS``:
   :func:`calls` draws its arguments from its parameter kinds (``ARGUMENTS``) and
   keeps the calls its ``build`` accepts. Every registered function is covered,
   whenever it was registered.
2. **Argument hints**: when random arguments are rarely valid (a string that must
   be one of a few words, a duration that must be a multiple of another), add a
   strategy for that parameter to ``PARAMETERS[(function, parameter)]``.
3. **Your own strategies**: append to ``VALUES`` (value expressions) or
   ``CONDITIONS`` (conditions), or put a module ``kind_strategies_<name>.py`` next to
   this one with a ``STRATEGIES`` list (conditions) and optionally a ``VALUES`` list:
   it is found and included.

Composites (``All``, ``Any``, ``Not``, ``Threshold``, ``Present``, ``BinOp``, and
functions that take a condition or a value) nest the others up to ``depth``.
Numbers are finite or infinite, never NaN unless ``nan=True`` (NaN never equals
itself, so equality round trips leave it out).
"""

from __future__ import annotations

import importlib
import math
import pkgutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

from hypothesis import assume
from hypothesis import strategies as st

import alertkit as ak
from alertkit._core.functions import FUNCTIONS, Function, RangeArg

# -- names, strings, numbers -----------------------------------------------------------------

#: Words the language reserves (case-insensitively): a metric cannot be named so in text.
RESERVED = frozenset({"and", "or", "unless", "not", "nan", "inf"})


def _free(name: str) -> bool:
    return name.lower() not in RESERVED


metric_names: st.SearchStrategy[str] = st.one_of(
    st.sampled_from(["cpu", "mem", "up", "http_requests_total", "node:cpu:rate5m", "_x", "a1"]),
    st.from_regex(r"[a-zA-Z_:][a-zA-Z0-9_:]{0,12}", fullmatch=True).filter(_free),
)
# Label names may be keywords (``{and="x"}`` is fine); ``__name__`` is the metric itself.
label_names: st.SearchStrategy[str] = st.one_of(
    st.sampled_from(["host", "job", "env", "le", "and", "Inf", "_"]),
    st.from_regex(r"[a-zA-Z_][a-zA-Z0-9_]{0,8}", fullmatch=True),
).filter(lambda n: n != "__name__")
label_values: st.SearchStrategy[str] = st.one_of(
    st.sampled_from(["", "web1", "a b", 'say "hi"', "back\\slash", "tab\tnew\nline", "é€😀"]),
    st.text(max_size=12),
)


def _compiles(pattern: str) -> bool:
    try:
        ak.Matcher("x", "=~", pattern)
    except (ak.AlertkitError, RecursionError, OverflowError, Warning):
        return False
    return True


regexes: st.SearchStrategy[str] = st.one_of(
    st.sampled_from(["web.*", "a|b", "5..", "\\d+", 'x"y', "[a-z]+\\.example\\.com", ".*"]),
    st.text(alphabet="ab.*+?|()[]\\^$d", max_size=8).filter(_compiles),
)


@st.composite
def matchers(draw: st.DrawFn) -> ak.Matcher:
    op = draw(st.sampled_from(["=", "!=", "=~", "!~"]))
    value = draw(regexes if op in ("=~", "!~") else label_values)
    return ak.Matcher(draw(label_names), op, value)


selectors: st.SearchStrategy[ak.Selector] = st.builds(
    ak.Selector, metric_names, st.lists(matchers(), max_size=3).map(tuple)
)

#: Seconds: the usual ones often, any positive float (sub-millisecond too) sometimes.
durations: st.SearchStrategy[float] = st.one_of(
    st.sampled_from([1.0, 30.0, 60.0, 90.0, 300.0, 600.0, 3600.0, 5400.0, 86400.0]),
    st.integers(1, 10**9).map(lambda ms: ms / 1000),
    st.floats(min_value=1e-6, max_value=1e9),
)


def numbers(*, nan: bool = False) -> st.SearchStrategy[float]:
    return st.one_of(
        st.sampled_from([0.0, 1.0, 0.5, 80.0, 90.0, -1.0, 1e-9, 1e300, math.inf, -math.inf]),
        st.floats(allow_nan=nan),
    )


integers: st.SearchStrategy[int] = st.one_of(st.integers(1, 5), st.integers(0, 2000))
#: Strings that registered functions commonly take (operators, aggregations, modes, labels).
words: st.SearchStrategy[str] = st.one_of(
    st.sampled_from([">", ">=", "<", "<=", "==", "!=", "avg", "min", "max", "sum", "count",
                     "last", "ratio", "percent", "absolute", "host", "job"]),
    label_values,
)

# -- the extension points --------------------------------------------------------------------

Values = st.SearchStrategy[ak.ValueExpr]
Conditions = st.SearchStrategy[ak.Condition]

#: Extra value-expression strategies (append yours); they may ignore nesting.
VALUES: list[Values] = []
#: Extra condition strategies (append yours).
CONDITIONS: list[Conditions] = []
#: Argument strategies by parameter kind: ``kind -> f(values, conditions, nan)``.
ARGUMENTS: dict[str, Callable[[Values, Conditions, bool], st.SearchStrategy[Any]]] = {
    "range": lambda v, c, nan: st.builds(RangeArg, selectors, durations),
    "selector": lambda v, c, nan: selectors,
    "number": lambda v, c, nan: numbers(nan=nan),
    "integer": lambda v, c, nan: integers,
    "duration": lambda v, c, nan: durations,
    "string": lambda v, c, nan: words,
    "value": lambda v, c, nan: v,
    "condition": lambda v, c, nan: c,
}
#: Argument strategies for one parameter of one function: ``(function, parameter)``.
PARAMETERS: dict[tuple[str, str], st.SearchStrategy[Any]] = {
    ("change", "agg"): st.sampled_from(["avg", "min", "max", "sum", "count", "last"]),
    ("change", "mode"): st.sampled_from(["ratio", "percent", "absolute"]),
    ("consecutive", "k"): st.integers(1, 4),
    ("consecutive", "n"): st.integers(4, 8),
}
#: Argument strategies by parameter name, for any function (after ``PARAMETERS``).
NAMES: dict[str, st.SearchStrategy[Any]] = {
    "op": st.sampled_from([">", ">=", "<", "<=", "==", "!="]),
    "label": label_names,
    "warmup": st.integers(1, 3),
}


def _plugins() -> None:
    """Include the strategies of ``kind_strategies_*.py`` modules next to this one."""
    here = Path(__file__).resolve().parent
    for info in pkgutil.iter_modules([str(here)]):
        if info.name.startswith("kind_strategies_"):
            module = importlib.import_module(info.name)
            CONDITIONS.extend(getattr(module, "STRATEGIES", []))
            VALUES.extend(getattr(module, "VALUES", []))


_plugins()

# -- function calls from the registry ----------------------------------------------------------

_ATTEMPTS = 25


@st.composite
def _call(draw: st.DrawFn, function: Function, values: Values, conditions: Conditions,
          nan: bool) -> Any:
    # Arguments are drawn per parameter kind; a call its build rejects (k > n, an unknown
    # mode...) is drawn again, a few times, before the example is given up.
    for _ in range(_ATTEMPTS):
        args = []
        for p in function.params:
            if not p.required and draw(st.booleans()):
                args.append(p.default)
                continue
            strategy = PARAMETERS.get((function.name, p.name))
            if strategy is None:
                strategy = NAMES.get(p.name)
            if strategy is None:
                strategy = ARGUMENTS[p.kind](values, conditions, nan)
            args.append(draw(strategy))
        try:
            return function.build(*args)
        except (ak.AlertkitError, ValueError, TypeError):
            continue
    assume(False)
    raise AssertionError("unreachable")


def calls(name: str, values: Values | None = None, conditions: Conditions | None = None,
          *, nan: bool = False) -> st.SearchStrategy[Any]:
    """Calls of the registered function ``name``, as the object its ``build`` returns."""
    function = FUNCTIONS[name]
    values = values if values is not None else value_exprs(depth=0, nan=nan)
    conditions = conditions if conditions is not None else _simple_conditions(values, nan)
    return _call(function, values, conditions, nan)


def _nests(function: Function) -> bool:
    return any(p.kind in ("value", "condition") for p in function.params)


def _simple_conditions(values: Values, nan: bool) -> Conditions:
    return st.builds(ak.Threshold, values, st.sampled_from([">", "<", "=="]), numbers(nan=nan))


# -- the strategies ----------------------------------------------------------------------------


def _binops(values: Values, nan: bool) -> Values:
    side: st.SearchStrategy[Any] = st.one_of(values, values, numbers(nan=nan))
    return st.builds(ak.BinOp, values, st.sampled_from(["+", "-", "*", "/"]), side) | st.builds(
        ak.BinOp, numbers(nan=nan), st.sampled_from(["+", "-", "*", "/"]), values)


def value_exprs(*, depth: int = 2, nan: bool = False) -> Values:
    """Value expressions of every kind: instants, every registered value function, BinOp."""
    return _named(key=("value", depth, nan))


def conditions(*, depth: int = 2, nan: bool = False) -> Conditions:
    """Conditions of every kind, nested up to ``depth`` composites deep."""
    return _named(key=("condition", depth, nan))


@st.composite
def _named(draw: st.DrawFn, key: tuple[str, int, bool]) -> Any:
    # A composite named by its key: hypothesis shows "_named(key=...)" in its reports,
    # not the repr of the whole strategy tree (hundreds of kB, and a warning).
    return draw(_build(*key))


_BUILT: dict[tuple[str, int, bool, int, int], st.SearchStrategy[Any]] = {}


def _build(kind: str, depth: int, nan: bool) -> st.SearchStrategy[Any]:
    # Built when first drawn, so functions and strategies added after import count; the
    # cache key includes the sizes of the extension points for the same reason.
    key = (kind, depth, nan, len(FUNCTIONS), len(VALUES) + len(CONDITIONS))
    built = _BUILT.get(key)
    if built is None:
        built = _BUILT[key] = (_values if kind == "value" else _conditions)(depth, nan)
    return built


def _values(depth: int, nan: bool) -> Values:
    leaves = [
        st.builds(ak.Instant, selectors),
        *(calls(name, st.nothing(), st.nothing(), nan=nan)
          for name, f in sorted(FUNCTIONS.items()) if f.returns == "value" and not _nests(f)),
        *VALUES,
    ]
    if depth <= 0:
        return st.one_of(leaves)
    smaller = value_exprs(depth=depth - 1, nan=nan)
    inner_conditions = conditions(depth=depth - 1, nan=nan)
    branches = [
        _binops(smaller, nan),
        *(calls(name, smaller, inner_conditions, nan=nan)
          for name, f in sorted(FUNCTIONS.items()) if f.returns == "value" and _nests(f)),
    ]
    return st.one_of(*leaves, *branches)


def _conditions(depth: int, nan: bool) -> Conditions:
    values = value_exprs(depth=depth, nan=nan)
    ops = st.sampled_from([">", ">=", "<", "<=", "==", "!="])
    leaves = [
        st.builds(ak.Threshold, values, ops, numbers(nan=nan)),
        st.builds(ak.Present, values),
        *(calls(name, st.nothing(), st.nothing(), nan=nan)
          for name, f in sorted(FUNCTIONS.items()) if f.returns == "condition" and not _nests(f)),
        *CONDITIONS,
    ]
    if depth <= 0:
        return st.one_of(leaves)
    smaller = conditions(depth=depth - 1, nan=nan)
    smaller_values = value_exprs(depth=depth - 1, nan=nan)
    parts = st.lists(smaller, min_size=2, max_size=4)
    branches = [
        st.builds(ak.Not, smaller),
        parts.map(lambda cs: ak.All(*cs)),
        parts.map(lambda cs: ak.Any(*cs)),
        *(calls(name, smaller_values, smaller, nan=nan)
          for name, f in sorted(FUNCTIONS.items()) if f.returns == "condition" and _nests(f)),
    ]
    return st.one_of(*leaves, *branches)
