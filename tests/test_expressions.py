"""The expression language: parsing, rendering, errors, round trips, fuzzing, evaluation."""

from __future__ import annotations

import math
import pickle
import re
from pathlib import Path

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

import alertkit as ak
from alertkit._core.expr import MAX_DEPTH, MAX_LENGTH
from alertkit._core.functions import FUNCTIONS, RangeArg
from expr_strategies import calls, conditions, value_exprs
from helpers import replay, series, ticks, timeline

ROOT = Path(__file__).resolve().parent.parent
NaN, Inf = math.nan, math.inf
P = ak.parse_condition
V = ak.parse_value


def sel(metric: str, **eq: str) -> ak.Selector:
    return ak.Selector(metric, eq)


def inst(metric: str, **eq: str) -> ak.Instant:
    return ak.Instant(sel(metric, **eq))


# -- every construct, by example ----------------------------------------------------------------

@pytest.mark.parametrize(("text", "expected"), [
    ("cpu > 80", ak.Threshold("cpu", ">", 80)),
    ("cpu >= 80", ak.Threshold("cpu", ">=", 80)),
    ("cpu < 80", ak.Threshold("cpu", "<", 80)),
    ("cpu <= 80", ak.Threshold("cpu", "<=", 80)),
    ("cpu == 80", ak.Threshold("cpu", "==", 80)),
    ("cpu != 80", ak.Threshold("cpu", "!=", 80)),
    ("80 < cpu", ak.Threshold("cpu", ">", 80)),  # a number on the left flips the operator
    ("80 >= cpu", ak.Threshold("cpu", "<=", 80)),
    ("1 == cpu", ak.Threshold("cpu", "==", 1)),
    ('up{job="api"} == 0', ak.Threshold(sel("up", job="api"), "==", 0)),
    ("avg_over_time(cpu[5m]) > 80", ak.Threshold(ak.avg_over_time("cpu", "5m"), ">", 80)),
    ('avg_over_time(cpu{host=~"web.*"}[5m]) > 80 and mem > 90', ak.All(
        ak.Threshold(ak.Window("avg", ak.Selector("cpu", [ak.Matcher("host", "=~", "web.*")]),
                               300), ">", 80),
        ak.Threshold("mem", ">", 90))),
    ("rate(errors[5m]) / rate(requests[5m]) > 0.05", ak.Threshold(
        ak.BinOp(ak.rate("errors", "5m"), "/", ak.rate("requests", "5m")), ">", 0.05)),
    ("absent(heartbeat)", ak.Absent("heartbeat")),
    ('absent(up{job="api"})', ak.Absent(sel("up", job="api"))),
    ("absent_over_time(heartbeat[2m])", ak.Absent("heartbeat", "2m")),
    ("not maintenance", ak.Not(ak.Present("maintenance"))),
    ("up", ak.Present("up")),
    ("consecutive(cpu > 85, 2, 3)", ak.Consecutive(ak.Threshold("cpu", ">", 85), 2, 3)),
    ("consecutive(up, 2, 2)", ak.Consecutive(ak.Present("up"), 2)),
    ("consecutive(cpu > 85, k=2, n=3)", ak.Consecutive(ak.Threshold("cpu", ">", 85), 2, 3)),
    ("consecutive(cpu > 85, 2, 3,)", ak.Consecutive(ak.Threshold("cpu", ">", 85), 2, 3)),
    ("quantile_over_time(0.99, lat[10m]) > 0.5",
     ak.Threshold(ak.quantile_over_time(0.99, "lat", "10m"), ">", 0.5)),
    ("a unless b", ak.All(ak.Present("a"), ak.Not(ak.Present("b")))),
    ("cpu > 90 unless maintenance", ak.All(ak.Threshold("cpu", ">", 90),
                                           ak.Not(ak.Present("maintenance")))),
    ("a or b", ak.Any(ak.Present("a"), ak.Present("b"))),
    ("a and b and c", ak.All(ak.Present("a"), ak.Present("b"), ak.Present("c"))),
    ("a and b unless c", ak.All(ak.Present("a"), ak.Present("b"), ak.Not(ak.Present("c")))),
    ("(a and b) and c", ak.All(ak.All(ak.Present("a"), ak.Present("b")), ak.Present("c"))),
    ("a or b and c", ak.Any(ak.Present("a"), ak.All(ak.Present("b"), ak.Present("c")))),
    ("a and b or c", ak.Any(ak.All(ak.Present("a"), ak.Present("b")), ak.Present("c"))),
    ("(a or b) and c", ak.All(ak.Any(ak.Present("a"), ak.Present("b")), ak.Present("c"))),
    ("not a and b", ak.All(ak.Not(ak.Present("a")), ak.Present("b"))),
    ("not cpu > 80", ak.Not(ak.Threshold("cpu", ">", 80))),
    ("not not up", ak.Not(ak.Not(ak.Present("up")))),
    ("NOT up AND down", ak.All(ak.Not(ak.Present("up")), ak.Present("down"))),  # as PromQL
    ("a + b * c > 1", ak.Threshold(ak.BinOp("a", "+", ak.BinOp("b", "*", "c")), ">", 1)),
    ("(a + b) * c > 1", ak.Threshold(ak.BinOp(ak.BinOp("a", "+", "b"), "*", "c"), ">", 1)),
    ("a - b - c > 1", ak.Threshold(ak.BinOp(ak.BinOp("a", "-", "b"), "-", "c"), ">", 1)),
    ("a / b / c > 1", ak.Threshold(ak.BinOp(ak.BinOp("a", "/", "b"), "/", "c"), ">", 1)),
    ("a - (b - c) > 1", ak.Threshold(ak.BinOp("a", "-", ak.BinOp("b", "-", "c")), ">", 1)),
    ("errors / requests * 100 > 5",
     ak.Threshold(ak.BinOp(ak.BinOp("errors", "/", "requests"), "*", 100), ">", 5)),
    ("cpu > 40 * 2", ak.Threshold("cpu", ">", 80)),  # constant arithmetic is folded
    ("cpu * (1 + 1) > 3", ak.Threshold(ak.BinOp("cpu", "*", 2), ">", 3)),
    ("-cpu > 1", ak.Threshold(ak.BinOp(-1.0, "*", "cpu"), ">", 1)),
    ("+cpu > 1", ak.Threshold("cpu", ">", 1)),
    ("cpu > -5", ak.Threshold("cpu", ">", -5)),
    ("cpu > - - 5", ak.Threshold("cpu", ">", 5)),
    ("2 * cpu > 1", ak.Threshold(ak.BinOp(2, "*", "cpu"), ">", 1)),
    ('{__name__="cpu", host="a"} > 1', ak.Threshold(sel("cpu", host="a"), ">", 1)),
    ('cpu{host="a",} > 1', ak.Threshold(sel("cpu", host="a"), ">", 1)),
    ("cpu{} > 1", ak.Threshold("cpu", ">", 1)),
    ("node:cpu:rate5m > 1", ak.Threshold("node:cpu:rate5m", ">", 1)),
    ("rate > 1", ak.Threshold("rate", ">", 1)),  # a function name without "(" is a metric
    ("cpu\n  > 80 # a comment\n  and mem > 90  # another",
     ak.All(ak.Threshold("cpu", ">", 80), ak.Threshold("mem", ">", 90))),
])
def test_constructs(text: str, expected: ak.Condition) -> None:
    assert P(text) == expected


@pytest.mark.parametrize(("text", "threshold"), [
    ("x > 1", 1.0), ("x > 1.5", 1.5), ("x > .5", 0.5), ("x > 5.", 5.0), ("x > 1e3", 1000.0),
    ("x > 1E-3", 0.001), ("x > 2.5e+2", 250.0), ("x > 0x1F", 31.0), ("x > Inf", Inf),
    ("x > inf", Inf), ("x > -Inf", -Inf), ("x > +Inf", Inf), ("x > 1e400", Inf),
    ("x > -0", 0.0), ("x > 007", 7.0),
])
def test_numbers(text: str, threshold: float) -> None:
    t = P(text)
    assert isinstance(t, ak.Threshold) and t.threshold == threshold


def test_nan_spellings() -> None:
    for text in ("x > NaN", "x > nan", "x > NAN"):
        t = P(text)
        assert isinstance(t, ak.Threshold) and math.isnan(t.threshold)


@pytest.mark.parametrize(("text", "seconds"), [
    ("x[5m]", 300), ("x[90s]", 90), ("x[1h30m]", 5400), ("x[1d]", 86400), ("x[1w]", 604800),
    ("x[1y]", 365 * 86400), ("x[500ms]", 0.5), ("x[1m30s500ms]", 90.5), ("x[300]", 300),
    ("x[0.25]", 0.25), ("x[1.5h]", 5400),
])
def test_durations(text: str, seconds: float) -> None:
    assert V(f"avg_over_time({text})") == ak.Window("avg", "x", seconds)


@pytest.mark.parametrize(("text", "matcher"), [
    ('x{a="b"}', ak.Matcher("a", "=", "b")),
    ('x{a!="b"}', ak.Matcher("a", "!=", "b")),
    ('x{a=~"b.*"}', ak.Matcher("a", "=~", "b.*")),
    ('x{a!~"b|c"}', ak.Matcher("a", "!~", "b|c")),
    ("x{a='b'}", ak.Matcher("a", "=", "b")),
    ("x{a=`b\\d`}", ak.Matcher("a", "=", "b\\d")),  # backquotes are raw
    ('x{a="q\\"q"}', ak.Matcher("a", "=", 'q"q')),
    ("x{a='q\\'q'}", ak.Matcher("a", "=", "q'q")),
    ('x{a="\\a\\b\\f\\n\\r\\t\\v\\\\"}', ak.Matcher("a", "=", "\a\b\f\n\r\t\v\\")),
    ('x{a="\\x41\\101\\u00e9\\U0001F600"}', ak.Matcher("a", "=", "AAé😀")),
    ('x{a="\\xc3\\xa9"}', ak.Matcher("a", "=", "é")),  # byte escapes are UTF-8, as in Go
    ('x{a="é€"}', ak.Matcher("a", "=", "é€")),
    ('x{and="1"}', ak.Matcher("and", "=", "1")),  # keywords are fine as label names
    ('x{a="line\nbreak"}', ak.Matcher("a", "=", "line\nbreak")),
])
def test_matchers_and_strings(text: str, matcher: ak.Matcher) -> None:
    assert V(text) == ak.Instant(ak.Selector("x", [matcher]))


def test_parse_value() -> None:
    assert V("cpu") == inst("cpu")
    assert V("rate(errors[5m]) / rate(requests[5m])") == ak.BinOp(
        ak.rate("errors", "5m"), "/", ak.rate("requests", "5m"))
    assert V("(x)") == inst("x")


def test_every_builtin_kind_has_its_function() -> None:
    r = RangeArg(sel("x"), 60.0)
    assert V("min_over_time(x[1m])") == ak.Window("min", "x", 60)
    assert V("max_over_time(x[1m])") == ak.Window("max", "x", 60)
    assert V("sum_over_time(x[1m])") == ak.Window("sum", "x", 60)
    assert V("count_over_time(x[1m])") == ak.Window("count", "x", 60)
    assert V("last_over_time(x[1m])") == ak.Window("last", "x", 60)
    assert V("increase(x[1m])") == ak.increase("x", "1m")
    assert V("delta(x[1m])") == ak.delta("x", "1m")
    assert str(r) == "x[1m]"


# -- canonical text -----------------------------------------------------------------------------

@pytest.mark.parametrize(("obj", "text"), [
    (ak.Threshold("cpu", ">", 80), "cpu > 80.0"),
    (ak.Threshold("cpu", ">", NaN), "cpu > NaN"),
    (ak.Threshold("cpu", ">", Inf), "cpu > Inf"),
    (ak.Threshold("cpu", ">", -Inf), "cpu > -Inf"),
    (ak.Threshold("cpu", ">", 1e300), "cpu > 1e+300"),
    (ak.All(ak.Present("a"), ak.Present("b")), "(a) and (b)"),
    (ak.Any(ak.Present("a"), ak.Present("b")), "(a) or (b)"),
    (ak.Not(ak.Present("a")), "not (a)"),
    (ak.Present(ak.BinOp("a", "+", 1)), "a + 1.0"),
    (ak.BinOp(ak.BinOp("a", "+", "b"), "*", 100), "(a + b) * 100.0"),
    (ak.BinOp("a", "+", ak.BinOp("b", "*", "c")), "a + b * c"),
    (ak.BinOp("a", "-", ak.BinOp("b", "-", "c")), "a - (b - c)"),
    (ak.BinOp("a", "+", ak.BinOp("b", "+", "c")), "a + (b + c)"),
    (ak.BinOp(ak.BinOp("a", "-", "b"), "-", "c"), "a - b - c"),
    (ak.BinOp("a", "/", ak.BinOp("b", "*", "c")), "a / (b * c)"),
    (ak.BinOp("a", "*", -2), "a * -2.0"),
    (ak.BinOp(-Inf, "-", "a"), "-Inf - a"),
    (ak.Window("avg", "x", 0.0005), "avg_over_time(x[0.0005])"),  # sub-millisecond: seconds
    (ak.Window("avg", "x", 90.5), "avg_over_time(x[1m30s500ms])"),
    (ak.Consecutive(ak.Threshold("cpu", ">", 85), 2), "consecutive(cpu > 85.0, 2, 2)"),
    (ak.Absent("x", 120), "absent_over_time(x[2m])"),
    (ak.Instant(ak.Selector("x", [ak.Matcher("a", "=", 'q"\\')])), 'x{a="q\\"\\\\"}'),
])
def test_rendering(obj: object, text: str) -> None:
    assert str(obj) == text


def test_flattened_chains_render_as_they_parse() -> None:
    c = ak.All(ak.Present("a"), ak.Any(ak.Present("b"), ak.Present("c")), ak.Not(ak.Present("d")))
    assert str(c) == "(a) and ((b) or (c)) and (not (d))"
    assert P(str(c)) == c


# -- errors ---------------------------------------------------------------------------------------

def error(text: object) -> ak.ExpressionError:
    with pytest.raises(ak.ExpressionError) as info:
        P(text)  # type: ignore[arg-type]
    return info.value


def test_error_shows_the_line_and_a_caret() -> None:
    e = error("avg_over_time(cpu[5x]) > 80")
    assert (e.line, e.column, e.expected) == (1, 19, "a duration like 5m")
    assert e.message == 'expected a duration like 5m, got "5x"'
    assert e.text == "avg_over_time(cpu[5x]) > 80"
    assert str(e) == (
        'line 1, column 19: expected a duration like 5m, got "5x"\n'
        "  avg_over_time(cpu[5x]) > 80\n"
        "                    ^"
    )


def test_error_on_a_later_line() -> None:
    e = error("cpu > 80\nand\n\tmem >")
    assert (e.line, e.column) == (3, 7)
    assert str(e) == (
        'line 3, column 7: expected a number after ">", got end of input\n'
        "  \tmem >\n"
        "  \t     ^"
    )


def test_error_on_a_long_line_shows_a_window() -> None:
    text = "x > 1 and " * 40 + "y >> 1"
    e = error(text)
    assert e.column == len(text) - 2
    _, line, caret = str(e).split("\n")
    assert line.startswith("  ...") and len(line) < 140
    assert line[caret.index("^")] == ">"


@pytest.mark.parametrize(("text", "column", "message", "expected"), [
    ("", 1, "expected an expression, got end of input", "an expression"),
    ("   ", 4, "expected an expression, got end of input", "an expression"),
    ("# only a comment", 17, "expected an expression, got end of input", "an expression"),
    ("avg_over_tme(cpu[5m]) > 1", 1,
     'unknown function "avg_over_tme" (did you mean avg_over_time or max_over_time or '
     "last_over_time?)", "a known function"),
    ("rate(x[5m], 2) > 1", 13, 'expected ")": rate(range) takes 1 argument, got "2"',
     '")": rate(range) takes 1 argument'),
    ("rate(x) > 1", 6,
     'expected a range selector like x[5m] for "range" of rate(range), got a value expression',
     "a range selector like x[5m]"),
    ("consecutive(x > 1) ", 18,
     'expected argument "k" (an integer) of consecutive(condition, k, n), got ")"',
     'argument "k" of consecutive(condition, k, n)'),
    ("consecutive(x > 1, 2.5, 3)", 20,
     'expected an integer for "k" of consecutive(condition, k, n), got a number', "an integer"),
    ("consecutive(x > 1, 2, m=3)", 23,
     'unknown keyword "m" for consecutive(condition, k, n): expected one of condition, k, n',
     "a parameter of consecutive(condition, k, n)"),
    ("consecutive(x > 1, 2, k=3)", 23,
     'argument "k" of consecutive(condition, k, n) is given twice', "each argument once"),
    ("consecutive(x > 1, k=2, 3)", 25,
     'expected a keyword argument (name=value) or ")" in consecutive(condition, k, n), got "3"',
     'a keyword argument (name=value) or ")" in consecutive(condition, k, n)'),
    ("consecutive(x > 1, 3, 2)", 1,
     "invalid arguments for consecutive(condition, k, n): Consecutive: k=3 is larger than n=2",
     "valid arguments for consecutive(condition, k, n)"),
    ('cpu{host=~"web(["} > 1', 11,
     'expected a valid regular expression after "=~", got the string "web([": '
     "unterminated character set at position 4", 'a valid regular expression after "=~"'),
    ("cpu.total > 1", 1, 'expected a metric name ([a-zA-Z_:][a-zA-Z0-9_:]*), got "cpu.total"',
     "a metric name ([a-zA-Z_:][a-zA-Z0-9_:]*)"),
    ('cpu{ho:st="a"} > 1', 5, 'expected a label name ([a-zA-Z_][a-zA-Z0-9_]*), got "ho:st"',
     "a label name ([a-zA-Z_][a-zA-Z0-9_]*)"),
    ('cpu{9a="a"} > 1', 5, 'expected a label name ([a-zA-Z_][a-zA-Z0-9_]*), got "9a"',
     "a label name ([a-zA-Z_][a-zA-Z0-9_]*)"),
    ("cpu >", 6, 'expected a number after ">", got end of input', 'a number after ">"'),
    ("cpu > mem", 7, 'expected a number after ">", got a value expression (compare with a '
     "number; to compare two values, use a - b > 0)", 'a number after ">"'),
    ("cpu > 5m", 7, 'expected a number after ">", got a duration', 'a number after ">"'),
    ("1 > 2", 1, 'expected a value expression on one side of ">", got two numbers',
     'a value expression on one side of ">"'),
    ("cpu > 1 > 2", 9, 'expected "and", "or", "unless" or end of input, got ">" (comparisons '
     "do not chain: join them with and)", '"and", "or", "unless" or end of input'),
    ("cpu > 80 mem", 10, 'expected an operator or end of input, got "mem"',
     "an operator or end of input"),
    ("cpu > 80)", 9, 'expected an operator or end of input, got ")" (no "(" to close)',
     "an operator or end of input"),
    ("(cpu > 80", 10,
     'expected an operator or ")" to close the "(" at column 1, got end of input',
     'an operator or ")" to close the "(" at column 1'),
    ("cpu{a=\"b\" > 1", 11, 'expected "," or "}" to close the "{" at column 4, got ">"',
     '"," or "}" to close the "{" at column 4'),
    ("rate(x[5m) > 1", 10, 'expected "]" to close the "[" at column 7, got ")"',
     '"]" to close the "[" at column 7'),
    ("rate(x[5m:1m]) > 1", 10,
     'expected "]" to close the "[" at column 7, got ":1m" (subqueries are not supported)',
     '"]" to close the "[" at column 7'),
    ("rate(x[0s]) > 1", 8, 'expected a duration greater than zero, got "0s"',
     "a duration greater than zero"),
    ("x = 1", 3, 'expected an operator or end of input, got "=" (use == to compare)',
     "an operator or end of input"),
    ("x > 1 && y > 1", 7, 'unexpected character "&" (use "and")',
     "an operator, a name, a number or a string"),
    ("x > 1 é", 7, 'unexpected character "é"', "an operator, a name, a number or a string"),
    ('x{a="b} > 1', 12, 'expected a closing " for the string at column 5, got end of input',
     'a closing "'),
    ('x{a="\\q"} > 1', 6, 'expected an escape sequence like \\n, \\", \\\\, \\x41 or \\u00e9, '
     'got "\\q"', 'an escape sequence like \\n, \\", \\\\, \\x41 or \\u00e9'),
    ('x{a="\\ud800"} > 1', 6, 'escape sequence "\\ud800" is not a valid Unicode code point',
     'an escape sequence like \\n, \\", \\\\, \\x41 or \\u00e9'),
    ('x{a="\\xff"} > 1', 6, "the byte escapes starting here do not form valid UTF-8",
     "escapes that form valid UTF-8"),
    ("and > 1", 1, 'expected an expression, got "and" (and is an operator)', "an expression"),
    ("x > 1 and", 10, 'expected an expression after "and", got end of input',
     'an expression after "and"'),
    ("5", 1, "expected a condition, got a number", "a condition"),
    ('"x"', 1, "expected a condition, got a string", "a condition"),
    ("x[5m]", 1, "expected a condition, got a range selector (use it in a function, e.g. "
     "avg_over_time(...))", "a condition"),
    ("x > 1 and 5", 11, 'expected a condition on the right of "and", got a number', "a condition"),
    ("not 5", 5, 'expected a condition after "not", got a number', "a condition"),
    ("(x > 1) + 1 > 2", 2,
     'expected a value expression or a number on the left of "+", got a condition',
     "a value expression or a number"),
    ('-"x" > 1', 2, 'expected a number or a value expression after "-", got a string',
     "a number or a value expression"),
    ("absent(x > 1)", 8, 'expected a selector like up{job="api"} for "selector" of '
     "absent(selector), got a condition", 'a selector like up{job="api"}'),
    ('{job="x"} > 1', 1, 'expected a metric name before "{" (or one __name__="metric" '
     'matcher), got "{"', "a metric name"),
    ('x{__name__="y"} > 1', 15, 'the selector names its metric twice ("x" and __name__)',
     "one metric name"),
    ("x offset 5m > 1", 3,
     "expected an operator or end of input, got \"offset\" (PromQL's offset modifier is not "
     "supported)", "an operator or end of input"),
    ("sum(x) > 1", 1, None, "a known function"),
])
def test_error_messages(text: str, column: int, message: str | None, expected: str) -> None:
    e = error(text)
    assert (e.line, e.column, e.expected) == (1, column, expected)
    if message is not None:
        assert e.message == message
    assert str(e).startswith(f"line 1, column {column}: {e.message}\n")
    assert str(e).endswith("\n  " + " " * (column - 1) + "^")


def test_unknown_function_without_a_near_name_lists_them_all() -> None:
    e = error("zzz(x)")
    assert e.message.startswith('unknown function "zzz" (known: absent, absent_over_time, ')


def test_limits() -> None:
    deep = "(" * (MAX_DEPTH + 1) + "x" + ")" * (MAX_DEPTH + 1)
    e = error(deep)
    assert (e.column, e.message) == (
        MAX_DEPTH + 1, f"expression nested too deeply: more than {MAX_DEPTH} levels")
    assert P("(" * MAX_DEPTH + "x" + ")" * MAX_DEPTH) == ak.Present("x")
    e = error("x" * (MAX_LENGTH + 1))
    assert e.message == f"expression is {MAX_LENGTH + 1} characters long, more than {MAX_LENGTH}"
    assert e.column == MAX_LENGTH + 1
    e = error(" + ".join(["x"] * (MAX_DEPTH + 2)) + " > 1")
    assert e.message.startswith("expression nested too deeply")
    e = error("not " * (MAX_DEPTH + 1) + "x")
    assert e.message.startswith("expression nested too deeply")


@pytest.mark.parametrize("text", [
    "(" * 60000,
    "[" * 60000,
    "{" * 60000,
    "not " * 16000 + "x",
    "-" * 65000 + "1 > x",
    "x + " * 16000 + "x",
    'x{a=~"' + "(" * 30000 + ")" * 30000 + '"}',
    'x{a=~"' + "(" * 30000 + '"}',
    "consecutive(" * 10000,
    "f(" + "x," * 30000 + ")",
    "x > 1 and " * 6000 + "x > 1",
    "\\" * 60000,
    '"' + "\\x80" * 16000 + '"',
    "\x00" * 100,
    "\ud800 > 1",
], ids=lambda text: repr(text[:20]))
def test_hostile_input_gives_expression_errors_or_parses(text: str) -> None:
    c, e = attempt(text)
    if e is not None:
        assert e.line >= 1 and e.column >= 1
        assert len(str(e)) < 2000  # never the whole 64 KiB text twice
    else:
        assert isinstance(c, ak.Condition)


def test_wide_chains_stay_flat() -> None:
    c = P("x > 1 and " * 6000 + "x > 1")
    assert isinstance(c, ak.All) and len(c.conditions) == 6001


def test_non_string_input() -> None:
    e = error(42)
    assert e.message == "expected the expression as a string, got int"
    with pytest.raises(ak.ExpressionError):
        V(None)  # type: ignore[arg-type]


def test_parse_value_errors() -> None:
    with pytest.raises(ak.ExpressionError, match="expected a value expression, got a condition"):
        V("x > 1")
    with pytest.raises(ak.ExpressionError, match="expected a value expression, got a number"):
        V("1 + 2")


def test_expression_error_is_in_the_hierarchy_and_pickles() -> None:
    e = error("x >")
    assert isinstance(e, ak.AlertkitError) and isinstance(e, ValueError)
    copy = pickle.loads(pickle.dumps(e))
    assert (copy.message, copy.text, copy.line, copy.column, copy.expected) == (
        e.message, e.text, e.line, e.column, e.expected)
    assert str(copy) == str(e)


# -- round trips -----------------------------------------------------------------------------------

@settings(suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much])
@given(conditions())
def test_conditions_round_trip(c: ak.Condition) -> None:
    text = str(c)
    assert P(text) == c, text


@settings(suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much])
@given(value_exprs())
def test_value_expressions_round_trip(v: ak.ValueExpr) -> None:
    text = str(v)
    assert V(text) == v, text


@settings(suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much])
@given(conditions(nan=True))
@example(ak.Threshold("x", "!=", NaN))
@example(ak.Present(ak.BinOp(NaN, "+", "x")))
def test_text_is_a_fixed_point_with_nan(c: ak.Condition) -> None:
    # attrs compares floats with ==, and NaN != NaN: the text must still come back the same.
    text = str(c)
    assert str(P(text)) == text


@pytest.mark.parametrize("name", sorted(FUNCTIONS))
def test_every_registered_function_round_trips(name: str) -> None:
    @settings(max_examples=40, suppress_health_check=list(HealthCheck))
    @given(calls(name))
    def check(obj: object) -> None:
        text = str(obj)
        assert text.startswith(f"{name}("), text
        parsed = P(text) if isinstance(obj, ak.Condition) else V(text)
        assert parsed == obj, text

    check()


# -- fuzzing: anything in, a condition or an ExpressionError out ----------------------------------

def attempt(text: str) -> tuple[ak.Condition | None, ak.ExpressionError | None]:
    """The parsed condition, or the ExpressionError (anything else propagates)."""
    try:
        return P(text), None
    except ak.ExpressionError as e:
        return None, e


def parses_or_explains(text: str) -> None:
    c, e = attempt(text)
    if e is not None:
        assert 1 <= e.line <= text.count("\n") + 1
        assert e.column >= 1 and e.expected and e.message
        assert "^" in str(e).splitlines()[-1]
        return
    assert isinstance(c, ak.Condition)
    rendered = str(c)  # whatever parses renders to text that parses back the same
    again = P(rendered)
    assert str(again) == rendered
    if "NaN" not in rendered:
        assert again == c


TOKENS = [
    "(", ")", "[", "]", "{", "}", ",", "=", "==", "!=", "=~", "!~", ">", ">=", "<", "<=", "+",
    "-", "*", "/", "and", "or", "unless", "not", "NaN", "Inf", "-Inf", "5m", "5x", "1e3", "0x1F",
    "1.5", '"', "'", "`", "\\", "#", "\n", " ", "x", "cpu", 'host="a"', '"web.*"', "__name__",
    "&", "|", "@", "offset", "é", "\x00", *(f"{name}(" for name in FUNCTIONS),
]


@settings(suppress_health_check=[HealthCheck.too_slow])
@given(st.text())
def test_fuzz_any_text(text: str) -> None:
    parses_or_explains(text)


@settings(suppress_health_check=[HealthCheck.too_slow])
@given(st.text(alphabet="abx_:09.5me+-()[]{}\"'`\\=!~<>*/, \n#", max_size=60))
def test_fuzz_language_characters(text: str) -> None:
    parses_or_explains(text)


@settings(suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.sampled_from(TOKENS), max_size=25), st.booleans())
def test_fuzz_token_soup(tokens: list[str], spaced: bool) -> None:
    parses_or_explains((" " if spaced else "").join(tokens))


@st.composite
def mutated(draw: st.DrawFn) -> str:
    text = str(draw(conditions(depth=1)))
    for _ in range(draw(st.integers(1, 4))):
        i = draw(st.integers(0, len(text)))
        j = draw(st.integers(i, min(len(text), i + 6)))
        how = draw(st.sampled_from(["insert", "delete", "replace", "token", "duplicate"]))
        if how == "insert":
            text = text[:i] + draw(st.characters()) + text[i:]
        elif how == "delete":
            text = text[:i] + text[j:]
        elif how == "replace":
            text = text[:i] + draw(st.text(min_size=1, max_size=3)) + text[j:]
        elif how == "token":
            text = text[:i] + draw(st.sampled_from(TOKENS)) + text[i:]
        else:
            text = text[:i] + text[i:j] + text[i:]
    return text


@settings(suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much])
@given(mutated())
def test_fuzz_mutated_expressions(text: str) -> None:
    parses_or_explains(text)


# -- evaluation: a parsed rule behaves exactly like the hand-built one -----------------------------

def events_of(condition: ak.Condition | str, samples: list[tuple[str, dict[str, str], float,
              float]], until: float, **rule: object) -> list[tuple[float, str, str, float]]:
    ev = ak.Evaluator([ak.Rule(name="R", condition=condition, **rule)],  # type: ignore[arg-type]
                      mode="tick")
    events = replay(ev, samples, ticks(until))
    values = [e.alert.value for e in events]
    return [(*t, v) for t, v in zip(timeline(events), values, strict=True)]


SAMPLES = [
    *series("cpu", [50, 85, 90, 95, 70, 88, 91, 92, None, None, 99], host="a"),
    *series("cpu", [90, 91, 92, 93, 94, 95, 96, 97, 98, 99, 99], host="b"),
    *series("mem", [95, 95, 50, 95, 95, 95, 95, 95, 95, 95, 95], host="a"),
    *series("mem", [10, 10, 10, 10, 95, 95, 95, 95, 95, 95, 95], host="b"),
    *series("maintenance", [1, 1, 1], host="b", start=240),
    *series("errors", [0, 5, 10, 30, 60, 100, 150, 150, 150, 160, 170], host="a"),
    *series("requests", [0, 100, 200, 300, 400, 500, 600, 700, 800, 900, 1000], host="a"),
]


@pytest.mark.parametrize(("text", "built"), [
    ('avg_over_time(cpu{host=~"a|b"}[3m]) > 85 and mem > 90', ak.All(
        ak.Threshold(ak.Window("avg", ak.Selector("cpu", [ak.Matcher("host", "=~", "a|b")]),
                               180), ">", 85),
        ak.Threshold("mem", ">", 90))),
    ("rate(errors[2m]) / rate(requests[2m]) > 0.05", ak.Threshold(
        ak.BinOp(ak.rate("errors", "2m"), "/", ak.rate("requests", "2m")), ">", 0.05)),
    ("cpu > 85 unless maintenance", ak.All(ak.Threshold("cpu", ">", 85),
                                            ak.Not(ak.Present("maintenance")))),
    ("consecutive(cpu > 85, 2, 3)", ak.Consecutive(ak.Threshold("cpu", ">", 85), 2, 3)),
    ('absent(maintenance{host="b"})', ak.Absent(ak.Selector("maintenance", {"host": "b"}))),
    ("absent_over_time(maintenance[2m])", ak.Absent("maintenance", "2m")),
    ("cpu > 95 or mem < 20", ak.Any(ak.Threshold("cpu", ">", 95), ak.Threshold("mem", "<", 20))),
    ("(cpu - mem) * 2 > 10", ak.Threshold(ak.BinOp(ak.BinOp("cpu", "-", "mem"), "*", 2), ">", 10)),
    ("not maintenance and cpu > 90", ak.All(ak.Not(ak.Present("maintenance")),
                                            ak.Threshold("cpu", ">", 90))),
])
def test_parsed_rules_evaluate_like_hand_built_ones(text: str, built: ak.Condition) -> None:
    assert P(text) == built
    expected = events_of(built, SAMPLES, 900, for_="1m")
    assert expected, "the scenario should produce events"
    assert events_of(text, SAMPLES, 900, for_="1m") == expected


def test_string_recovery_behaves_like_the_object() -> None:
    built = events_of(ak.Threshold("cpu", ">", 90), SAMPLES, 900,
                      recovery=ak.Threshold("cpu", "<", 80))
    assert events_of("cpu > 90", SAMPLES, 900, recovery="cpu < 80") == built


# -- BinOp and Present semantics -------------------------------------------------------------------

def value_at(expr: ak.ValueExpr, samples: dict[str, float], now: float = 0.0) -> float | None:
    """The value of ``expr`` for the label set {host="a"}, or None when it has no output."""
    ev = ak.Evaluator([ak.Rule(name="Probe", condition=ak.Present(expr))], mode="tick")
    state = ev.new_state()
    for metric, v in samples.items():
        ev.observe(state, metric, v, 0.0, {"host": "a"})
    ev.tick(state, now)
    alerts = ev.alerts(state)
    return alerts[0].value if alerts else None


def same(a: float | None, b: float) -> bool:
    """Equal, NaN matching NaN (of any sign), and signed infinities matching in sign."""
    if a is None:
        return False
    if math.isnan(b):
        return math.isnan(a)
    return a == b and math.copysign(1, a) == math.copysign(1, b)


@pytest.mark.parametrize(("op", "x", "y", "result"), [
    ("+", 2.0, 3.0, 5.0), ("-", 2.0, 3.0, -1.0), ("*", 2.0, 3.0, 6.0), ("/", 3.0, 2.0, 1.5),
    ("/", 5.0, 0.0, Inf), ("/", -5.0, 0.0, -Inf), ("/", 5.0, -0.0, -Inf), ("/", 0.0, 0.0, NaN),
    ("/", NaN, 0.0, NaN), ("/", Inf, 0.0, Inf), ("+", Inf, -Inf, NaN), ("*", 0.0, Inf, NaN),
    ("*", 1e308, 10.0, Inf), ("+", NaN, 1.0, NaN),
])
def test_binop_arithmetic_is_ieee(op: str, x: float, y: float, result: float) -> None:
    assert same(value_at(ak.BinOp("x", op, "y"), {"x": x, "y": y}), result)
    assert same(value_at(ak.BinOp("x", op, y), {"x": x}), result)
    assert same(value_at(ak.BinOp(x, op, "y"), {"y": y}), result)


def test_binop_has_no_output_when_a_side_has_none() -> None:
    assert value_at(ak.BinOp("x", "+", "y"), {"x": 1.0}) is None
    assert value_at(ak.BinOp("x", "+", "y"), {"y": 1.0}) is None
    assert value_at(ak.BinOp("x", "/", "y"), {"x": 1.0, "y": 2.0}, now=301) is None  # stale
    assert value_at(ak.BinOp(ak.rate("x", "5m"), "*", 60), {"x": 1.0}) is None  # one sample


def test_binop_matches_label_sets_one_to_one() -> None:
    ev = ak.Evaluator([ak.Rule(name="R", condition="errors / requests > 0.1")], mode="tick")
    state = ev.new_state()
    for host, e, r in (("a", 5.0, 10.0), ("b", 1.0, 100.0)):
        ev.observe(state, "errors", e, 0.0, {"host": host})
        ev.observe(state, "requests", r, 0.0, {"host": host})
    ev.observe(state, "errors", 9.0, 0.0, {"host": "c"})  # no requests: no output
    ev.tick(state, 0.0)
    assert [(a.labels["host"], a.value) for a in ev.alerts(state)] == [("a", 0.5)]


def test_present_holds_with_the_value_nan_included() -> None:
    assert value_at(inst("x"), {"x": 7.0}) == 7.0
    v = value_at(inst("x"), {"x": NaN})
    assert v is not None and math.isnan(v)
    assert value_at(inst("x"), {"y": 1.0}) is None
    assert value_at(inst("x"), {"x": 1.0}, now=301) is None


def test_binop_and_present_validate() -> None:
    with pytest.raises(ak.RuleError, match="needs a value expression on at least one side"):
        ak.BinOp(1, "+", 2)
    with pytest.raises(ak.RuleError, match="arithmetic operator '%'"):
        ak.BinOp("x", "%", 2)  # type: ignore[arg-type]
    with pytest.raises(ak.RuleError, match="is not a number or value expression"):
        ak.BinOp(True, "+", "x")
    with pytest.raises(ak.RuleError):
        ak.Present(3)  # type: ignore[arg-type]
    assert ak.BinOp("x", "+", 1) == ak.BinOp(inst("x"), "+", 1.0)
    assert ak.Present("x") == ak.Present(inst("x"))


# -- rules from strings ----------------------------------------------------------------------------

def test_rule_from_a_string() -> None:
    rule = ak.Rule(name="HighCPU", condition="avg_over_time(cpu[5m]) > 90",
                   recovery="avg_over_time(cpu[5m]) < 80", for_="5m")
    assert rule.condition == ak.Threshold(ak.avg_over_time("cpu", "5m"), ">", 90)
    assert rule.recovery == ak.Threshold(ak.avg_over_time("cpu", "5m"), "<", 80)
    assert rule == ak.Rule(name="HighCPU", condition=rule.condition, recovery=rule.recovery,
                           for_=300)


def test_rule_errors() -> None:
    with pytest.raises(ak.ExpressionError, match="column 6"):
        ak.Rule(name="A", condition="cpu >> 1")
    with pytest.raises(ak.ExpressionError):
        ak.Rule(name="A", condition="cpu > 1", recovery="cpu <")
    with pytest.raises(ak.RuleError, match="is not a Condition"):
        ak.Rule(name="A", condition=42)  # type: ignore[arg-type]
    with pytest.raises(ak.RuleError, match="is not a Condition"):
        ak.Rule(name="A", condition="cpu > 1", recovery=[1])  # type: ignore[arg-type]


# -- documentation ---------------------------------------------------------------------------------

def test_the_reference_documents_every_registered_function() -> None:
    page = (ROOT / "docs" / "reference" / "expressions.md").read_text(encoding="utf-8")
    documented = set(re.findall(r"^\| `(\w+)\(", page, re.MULTILINE))
    missing = sorted(set(FUNCTIONS) - documented)
    assert missing == [], "add them to the function table of docs/reference/expressions.md"
