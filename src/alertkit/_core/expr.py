"""The expression language: rule conditions as text, parsed into condition objects.

``parse_condition('avg_over_time(cpu{host=~"web.*"}[5m]) > 80 and mem > 90')``
gives the same frozen objects the Python API builds (here ``All(Threshold(...),
Threshold(...))``), and ``str()`` of any condition gives text that parses back
to an equal object. The spelling is PromQL's wherever PromQL has the construct.

Grammar (EBNF; keywords, ``NaN`` and ``Inf`` are case-insensitive, as in PromQL)::

    expression  = operand { binary_op operand } ;         (* precedence below *)
    operand     = { "not" | "-" | "+" } primary ;
    primary     = number | duration | string
                | "(" expression ")"
                | function "(" [ argument { "," argument } [ "," ] ] ")"
                | selector [ "[" range "]" ] ;
    argument    = [ identifier "=" ] expression ;
    selector    = metric [ "{" [ matcher { "," matcher } [ "," ] ] "}" ]
                | "{" matcher { "," matcher } [ "," ] "}" ;   (* with __name__="metric" *)
    matcher     = label ( "=" | "!=" | "=~" | "!~" ) string ;
    binary_op   = "or" | "and" | "unless" | ">" | ">=" | "<" | "<=" | "==" | "!="
                | "+" | "-" | "*" | "/" ;
    range       = duration | number ;                      (* number: seconds *)

Precedence, loosest first, all binary operators left-associative: ``or`` <
``and`` = ``unless`` < ``not`` < comparisons < ``+ -`` < ``* /`` < unary ``- +``.

Every expression has a *kind*, checked as operators combine them: a number, a
duration, a string, a range selector, a value expression (one number per label
set) or a condition. A comparison needs a value expression on one side and a
number on the other; ``and``/``or``/``unless``/``not`` take conditions, and a
bare value expression there means "the value exists" (:class:`Present`);
arithmetic takes value expressions and numbers (numbers alone are folded).

The lexer and the parser are hand-written and iterative where input controls
the depth (operators use an explicit operator stack), so a hostile text cannot
exhaust the Python stack: nesting is capped at :data:`MAX_DEPTH`, input length
at :data:`MAX_LENGTH`, and :class:`ExpressionError` is the only exception the
entry points raise. Nothing is ever evaluated as Python.
"""

from __future__ import annotations

import difflib
import math
import re
import typing
from typing import Final, cast

from alertkit._errors import AlertkitError, ExpressionError

from .arith import _APPLY, BinOp, Present
from .conditions import All, Any, Condition, Instant, Not, Op, Threshold, ValueExpr
from .functions import FUNCTIONS, Function, Param, RangeArg, render_arg
from .labels import Matcher, Selector
from .timeutil import parse_duration

__all__ = ["MAX_DEPTH", "MAX_LENGTH", "parse_condition", "parse_value"]

#: The longest text accepted, in characters (64 KiB): far beyond any real rule.
MAX_LENGTH: Final = 65536
#: The deepest nesting accepted: of parentheses and calls while parsing, and of the
#: resulting object tree. Deeper trees would be slow to render, compare and evaluate,
#: and could exhaust the Python stack later on, outside the parser.
MAX_DEPTH: Final = 100

# -- lexer ----------------------------------------------------------------------------------

# Token kinds.
_EOF: Final = 0
_IDENT: Final = 1  # metric, label, function or keyword; may hold dots (rejected with a reason)
_NUMBER: Final = 2  # value: (float, int | None)
_WORD: Final = 3  # a number run into letters: a duration ("5m"), or a mistake ("5x")
_STRING: Final = 4  # value: the decoded string
_OP: Final = 5
_ERROR: Final = 6  # value: (message, expected); raised when the parser reaches it

Token = tuple[int, str, int, typing.Any]  # kind, source text, offset, value

# One match per token: the possessive prefix skips blanks and comments, and the last two
# alternatives make the match total (end of text, or one unexpected character).
_SCAN: Final = re.compile(
    r"""
    (?:[ \t\r\n]+|\#[^\n]*)*+
    (?:
      (?P<ident>[A-Za-z_:][A-Za-z0-9_:.]*)
    | (?P<op>==|!=|>=|<=|=~|!~|[-+*/(){}\[\],=<>])
    | (?P<number>(?:0[xX][0-9a-fA-F]+|(?:[0-9]+\.?[0-9]*|\.[0-9]+)(?:[eE][+-]?[0-9]+)?)
                 (?P<tail>[A-Za-z0-9_.]*))
    | (?P<quote>["'`])
    | (?P<end>\Z)
    | (?P<bad>.)
    )
    """,
    re.VERBOSE | re.DOTALL,
)
_DURATION_WORD: Final = re.compile(r"(?:[0-9]+(?:\.[0-9]+)?(?:ms|[ywdhms]))+\Z")
_METRIC_NAME: Final = re.compile(r"[a-zA-Z_:][a-zA-Z0-9_:]*\Z")
_LABEL_NAME: Final = re.compile(r"[a-zA-Z_][a-zA-Z0-9_]*\Z")

_SIMPLE_ESCAPES: Final = {
    "a": "\a",
    "b": "\b",
    "f": "\f",
    "n": "\n",
    "r": "\r",
    "t": "\t",
    "v": "\v",
    "\\": "\\",
}
_HEX: Final = frozenset("0123456789abcdefABCDEF")
_CHAR_HINTS: Final = {
    "&": ' (use "and")',
    "|": ' (use "or")',
    "!": ' (use "not", "!=" or "!~")',
    "@": " (PromQL's @ modifier is not supported)",
    "%": " (only + - * / are supported)",
    "^": " (only + - * / are supported)",
}


def _lex(text: str) -> list[Token]:
    """All tokens of ``text``, ending with an EOF token (after an ERROR token, if any)."""
    toks: list[Token] = []
    append = toks.append
    match = _SCAN.match
    pos = 0
    while True:
        m = match(text, pos)
        assert m is not None  # the pattern always matches: see _SCAN
        kind = m.lastgroup
        pos = m.end()
        if kind == "ident":
            word = m.group("ident")
            append((_IDENT, word, pos - len(word), None))
        elif kind == "op":
            word = m.group("op")
            append((_OP, word, pos - len(word), None))
        elif kind == "number":
            word = m.group("number")
            if m.group("tail"):
                append((_WORD, word, pos - len(word), None))
            else:
                append((_NUMBER, word, pos - len(word), _number(word)))
        elif kind == "quote":
            tok = _string(text, pos - 1)
            append(tok)
            if tok[0] == _ERROR:
                break
            pos = tok[2] + len(tok[1])
        elif kind == "end":
            break
        else:
            ch = m.group("bad")
            message = f"unexpected character {_quote(ch)}{_CHAR_HINTS.get(ch, '')}"
            append((_ERROR, ch, pos - 1, (message, "an operator, a name, a number or a string")))
            break
    append((_EOF, "", len(text), None))
    return toks


def _number(text: str) -> tuple[float, int | None]:
    if text[:2] in ("0x", "0X"):
        i = int(text, 16)  # not limited by int's digit cap: the base is a power of two
    elif text.isdigit() and len(text) <= 300:  # the cap keeps int() cheap and legal
        i = int(text)
    else:
        return float(text), None  # huge literals become inf, as in PromQL
    try:
        return float(i), i
    except OverflowError:
        return math.inf, i


def _string(text: str, start: int) -> Token:
    """A string token starting at ``start`` (Go/PromQL quoting) or an ERROR token.

    ``"..."`` and ``'...'`` take the escapes of Go strings, as PromQL does: ``\\a \\b
    \\f \\n \\r \\t \\v \\\\``, the opening quote, ``\\ooo`` and ``\\xHH`` (bytes, decoded
    as UTF-8), ``\\uHHHH`` and ``\\UHHHHHHHH``. Backquotes are raw. Unlike Go, a raw
    line break inside quotes is kept: renderers write values as they are.
    """
    quote = text[start]
    i = start + 1
    end = text.find(quote, i)
    if quote == "`":
        if end < 0:
            return _unterminated(text, start)
        return (_STRING, text[start : end + 1], start, text[i:end])
    if end >= 0 and "\\" not in text[i:end]:  # the common case: no escapes
        return (_STRING, text[start : end + 1], start, text[i:end])
    n = len(text)
    out: list[str] = []
    pending = bytearray()  # \x and octal escapes give bytes; adjacent ones form UTF-8
    pending_at = 0
    while True:
        if i >= n:
            return _unterminated(text, start)
        c = text[i]
        if c != "\\" and pending:
            decoded = _utf8(pending)
            if decoded is None:
                return _bad_bytes(text, pending_at)
            out.append(decoded)
            pending.clear()
        if c == quote:
            return (_STRING, text[start : i + 1], start, "".join(out))
        if c != "\\":
            out.append(c)
            i += 1
            continue
        e = text[i + 1] if i + 1 < n else ""
        if e in _SIMPLE_ESCAPES or e == quote:
            if pending:  # a byte escape run ends here
                decoded = _utf8(pending)
                if decoded is None:
                    return _bad_bytes(text, pending_at)
                out.append(decoded)
                pending.clear()
            out.append(_SIMPLE_ESCAPES.get(e, quote))
            i += 2
            continue
        if e and e in "01234567":
            digits, width, base = text[i + 1 : i + 4], 3, 8
        elif e == "x":
            digits, width, base = text[i + 2 : i + 4], 2, 16
        elif e == "u":
            digits, width, base = text[i + 2 : i + 6], 4, 16
        elif e == "U":
            digits, width, base = text[i + 2 : i + 10], 8, 16
        else:
            return _bad_escape(text, i)
        allowed = "01234567" if base == 8 else _HEX
        if len(digits) != width or any(d not in allowed for d in digits):
            return _bad_escape(text, i)
        code = int(digits, base)
        if e in "uU":
            if code > 0x10FFFF or 0xD800 <= code < 0xE000:
                return _bad_escape(text, i, " is not a valid Unicode code point")
            if pending:
                decoded = _utf8(pending)
                if decoded is None:
                    return _bad_bytes(text, pending_at)
                out.append(decoded)
                pending.clear()
            out.append(chr(code))
        else:
            if code > 255:
                return _bad_escape(text, i, " is larger than 255")
            if not pending:
                pending_at = i
            pending.append(code)
        i += 1 + (width if base == 8 else width + 1)


def _utf8(data: bytearray) -> str | None:
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        return None


def _unterminated(text: str, start: int) -> Token:
    quote = text[start]
    where = _where(text, start)
    message = f"expected a closing {quote} for the string at {where}, got end of input"
    return (_ERROR, "", len(text), (message, f"a closing {quote}"))


def _bad_escape(text: str, at: int, reason: str = "") -> Token:
    e = text[at + 1 : at + 2]
    length = {"x": 4, "u": 6, "U": 10}.get(e, 4 if e and e in "01234567" else 2)
    seq = text[at : at + length]
    expected = 'an escape sequence like \\n, \\", \\\\, \\x41 or \\u00e9'
    if reason:
        message = f"escape sequence {_quote(seq)}{reason}"
    else:
        message = f"expected {expected}, got {_quote(seq)}"
    return (_ERROR, seq, at, (message, expected))


def _bad_bytes(text: str, at: int) -> Token:
    message = "the byte escapes starting here do not form valid UTF-8"
    return (_ERROR, "", at, (message, "escapes that form valid UTF-8"))


# -- parser ---------------------------------------------------------------------------------

# Binding strength of binary operators; prefix "not" sits between and/unless and comparisons.
_BINARY: Final = {
    "or": 1,
    "and": 2,
    "unless": 2,
    ">": 4,
    ">=": 4,
    "<": 4,
    "<=": 4,
    "==": 4,
    "!=": 4,
    "+": 5,
    "-": 5,
    "*": 6,
    "/": 6,
}
_KEYWORDS: Final = frozenset({"and", "or", "unless", "not"})
_NOT: Final = 3
_PREFIX: Final = frozenset({"not", "-u", "+u"})  # operator-stack names of prefix operators
_UNARY: Final = 7
_COMPARISON: Final = 4
_FLIP: Final = {">": "<", ">=": "<=", "<": ">", "<=": ">=", "==": "==", "!=": "!="}
_MATCH_OPS: Final = frozenset({"=", "!=", "=~", "!~"})
_PROMQL_ONLY: Final = {
    "offset": " (PromQL's offset modifier is not supported)",
    "bool": " (PromQL's bool modifier is not supported)",
    "by": " (aggregations are not supported)",
    "without": " (aggregations are not supported)",
    "on": " (vector matching modifiers are not supported: sides match on all labels)",
    "ignoring": " (vector matching modifiers are not supported: sides match on all labels)",
    "group_left": " (vector matching modifiers are not supported)",
    "group_right": " (vector matching modifiers are not supported)",
    "=": " (use == to compare)",
}

_RANGE_HINT: Final = " (use it in a function, e.g. avg_over_time(...))"
_KIND_WORDS: Final = {
    "number": "a number",
    "duration": "a duration",
    "string": "a string",
    "range": "a range selector",
    "value": "a value expression",
    "condition": "a condition",
}
_PARAM_WORDS: Final = {
    "range": "a range selector like cpu[5m]",
    "selector": 'a selector like up{job="api"}',
    "number": "a number",
    "integer": "an integer",
    "duration": "a duration like 5m",
    "string": 'a string like "text"',
    "value": "a value expression",
    "condition": "a condition",
}


class _Node:
    """A parsed sub-expression: its kind, the object built so far, and where it starts.

    An unparenthesised chain ``a and b unless c`` stays a list in ``parts`` until
    something else uses it, so it becomes one flat ``All(a, b, Not(c))``, as ``str()``
    of an ``All`` renders it, while ``(a and b) and c`` keeps its inner ``All``.
    """

    __slots__ = ("chain", "height", "int_value", "kind", "obj", "parts", "pos")

    def __init__(
        self, kind: str, obj: typing.Any, pos: int, height: int = 0, int_value: int | None = None
    ) -> None:
        self.kind = kind
        self.obj = obj
        self.pos = pos
        self.height = height
        self.int_value = int_value
        self.chain: str | None = None  # "and" / "or" while parts is an open chain
        self.parts: list[Condition] | None = None


def _error(text: str, offset: int, message: str, expected: str) -> ExpressionError:
    line = text.count("\n", 0, offset) + 1
    column = offset - (text.rfind("\n", 0, offset) + 1) + 1
    return ExpressionError(message, text, line, column, expected)


def _where(text: str, offset: int) -> str:
    """``column 5``, or ``line 2, column 5`` when the text has several lines."""
    line = text.count("\n", 0, offset) + 1
    column = offset - (text.rfind("\n", 0, offset) + 1) + 1
    return f"column {column}" if "\n" not in text else f"line {line}, column {column}"


def _quote(s: str, limit: int = 40) -> str:
    """``s`` in double quotes for a message: shortened, control characters escaped."""
    if len(s) > limit:
        s = s[: limit - 3] + "..."
    if not s.isprintable():
        s = "".join(c if c.isprintable() else repr(c)[1:-1] for c in s)
    return f'"{s}"'


def _show(tok: Token) -> str:
    kind, text = tok[0], tok[1]
    if kind == _EOF:
        return "end of input"
    if kind == _STRING:
        return f"the string {_quote(text[1:-1])}"
    return _quote(text)


class _Parser:
    __slots__ = ("depth", "i", "text", "toks")

    def __init__(self, text: str) -> None:
        self.text = text
        self.toks = _lex(text)
        self.i = 0
        self.depth = 0

    # -- helpers ---------------------------------------------------------------------------

    def fail(self, offset: int, message: str, expected: str) -> ExpressionError:
        return _error(self.text, offset, message, expected)

    def expected(self, tok: Token, expected: str, hint: str = "") -> ExpressionError:
        """The error for an unexpected token; a lexer error token reports its own problem.

        Every parse path that meets a token it cannot use ends here, so lexer errors
        surface exactly where the parser reaches them, with no check per token.
        """
        if tok[0] == _ERROR:
            message, what = tok[3]
            return self.fail(tok[2], message, what)
        return self.fail(tok[2], f"expected {expected}, got {_show(tok)}{hint}", expected)

    def enter(self, tok: Token) -> None:
        self.depth += 1
        if self.depth > MAX_DEPTH:
            raise self.fail(
                tok[2],
                f"expression nested too deeply: more than {MAX_DEPTH} levels",
                f"at most {MAX_DEPTH} levels of nesting",
            )

    def check_height(self, node: _Node, at: int) -> _Node:
        if node.height > MAX_DEPTH:
            raise self.fail(
                at,
                f"expression nested too deeply: more than {MAX_DEPTH} levels",
                f"at most {MAX_DEPTH} levels of nesting",
            )
        return node

    # -- kinds -----------------------------------------------------------------------------

    def close_chain(self, node: _Node) -> _Node:
        if node.chain is not None:
            parts = node.parts
            assert parts is not None
            node.obj = All(*parts) if node.chain == "and" else Any(*parts)
            node.chain = None
            node.parts = None
        return node

    def condition(self, node: _Node, where: str) -> tuple[Condition, int]:
        """The node as a condition (a value expression means "it exists") and its height."""
        self.close_chain(node)
        if node.kind == "condition":
            return node.obj, node.height
        if node.kind == "value":
            return Present(node.obj), node.height + 1
        hint = _RANGE_HINT if node.kind == "range" else ""
        raise self.fail(
            node.pos,
            f"expected a condition{where}, got {_KIND_WORDS[node.kind]}{hint}",
            "a condition",
        )

    def arith_operand(self, node: _Node, op: str, side: str) -> ValueExpr | float:
        if node.kind in ("value", "number"):
            return node.obj  # type: ignore[no-any-return]
        self.close_chain(node)
        raise self.fail(
            node.pos,
            f'expected a value expression or a number on the {side} of "{op}", '
            f"got {_KIND_WORDS[node.kind]}",
            "a value expression or a number",
        )

    # -- expressions -----------------------------------------------------------------------

    def expression(self, expected: str) -> _Node:
        """An expression up to the first token that cannot continue it.

        Operator precedence by an explicit operator stack (shunting-yard), not by
        recursion per level: long operator chains never grow the Python stack.
        """
        ops: list[tuple[int, str, int]] = []  # (strength, operator, offset); prefix ops too
        vals: list[_Node] = []
        while True:
            while True:  # prefix operators
                tok = self.toks[self.i]
                kind, text = tok[0], tok[1]
                if kind == _IDENT and text.lower() == "not":
                    ops.append((_NOT, "not", tok[2]))
                elif kind == _OP and (text == "-" or text == "+"):
                    ops.append((_UNARY, text + "u", tok[2]))
                else:
                    break
                self.i += 1
            vals.append(self.primary(expected))
            tok = self.toks[self.i]
            kind, text = tok[0], tok[1]
            if kind in (_OP, _IDENT):
                op = text.lower() if kind == _IDENT else text
                strength = _BINARY.get(op)
            else:
                strength = None
            if strength is None:
                break
            while ops and ops[-1][0] >= strength:
                self.reduce(ops.pop(), vals)
            ops.append((strength, op, tok[2]))
            self.i += 1
            if strength == _COMPARISON:
                expected = f'a number after "{op}"'
            else:
                expected = f'an expression after "{op}"'
        while ops:
            self.reduce(ops.pop(), vals)
        return vals[0]

    def reduce(self, entry: tuple[int, str, int], vals: list[_Node]) -> None:
        _, op, at = entry
        if op in _PREFIX:
            vals.append(self.check_height(self.prefix_op(op, at, vals.pop()), at))
            return
        right = vals.pop()
        left = vals.pop()
        vals.append(self.check_height(self.binary(op, at, left, right), at))

    def prefix_op(self, op: str, at: int, node: _Node) -> _Node:
        if op == "not":
            cond, height = self.condition(node, ' after "not"')
            return _Node("condition", Not(cond), at, height + 1)
        sign = op[0]
        if node.kind == "number":
            if sign == "+":
                return _Node("number", node.obj, at, 0, node.int_value)
            iv = None if node.int_value is None else -node.int_value
            return _Node("number", -node.obj, at, 0, iv)
        if node.kind == "value":
            if sign == "+":
                return _Node("value", node.obj, at, node.height)
            # -x is -1 * x exactly, in IEEE arithmetic too (signed zeros, NaN).
            return _Node("value", BinOp(-1.0, "*", node.obj), at, node.height + 1)
        self.close_chain(node)
        raise self.fail(
            node.pos,
            f'expected a number or a value expression after "{sign}", got {_KIND_WORDS[node.kind]}',
            "a number or a value expression",
        )

    def binary(self, op: str, at: int, left: _Node, right: _Node) -> _Node:
        if op in ("and", "unless", "or"):
            chain = "or" if op == "or" else "and"
            rcond, rheight = self.condition(right, f' on the right of "{op}"')
            if op == "unless":
                rcond, rheight = Not(rcond), rheight + 1
            if left.chain == chain and left.parts is not None:
                left.parts.append(rcond)
                left.height = max(left.height, rheight + 1)
                return left
            lcond, lheight = self.condition(left, f' on the left of "{op}"')
            node = _Node("condition", None, left.pos, max(lheight, rheight) + 1)
            node.chain = chain
            node.parts = [lcond, rcond]
            return node
        if _BINARY[op] == _COMPARISON:
            return self.comparison(op, at, left, right)
        a = self.arith_operand(left, op, "left")
        b = self.arith_operand(right, op, "right")
        if left.kind == "number" and right.kind == "number":
            return self.fold(op, left, right)
        height = max(left.height, right.height) + 1
        return _Node("value", BinOp(a, op, b), left.pos, height)  # type: ignore[arg-type]

    def fold(self, op: str, left: _Node, right: _Node) -> _Node:
        value = _APPLY[op](left.obj, right.obj)
        iv = None
        if left.int_value is not None and right.int_value is not None and op != "/":
            a, b = left.int_value, right.int_value
            iv = a + b if op == "+" else a - b if op == "-" else a * b
            if abs(iv).bit_length() > 1024:  # keep integer folding cheap
                iv = None
        return _Node("number", value, left.pos, 0, iv)

    def comparison(self, op: str, at: int, left: _Node, right: _Node) -> _Node:
        lk, rk = left.kind, right.kind
        if lk == "value" and rk == "number":
            threshold = Threshold(left.obj, cast(Op, op), right.obj)
            return _Node("condition", threshold, left.pos, left.height + 1)
        if lk == "number" and rk == "value":
            threshold = Threshold(right.obj, cast(Op, _FLIP[op]), left.obj)
            return _Node("condition", threshold, left.pos, right.height + 1)
        if lk == "condition" and left.chain is None and isinstance(left.obj, Threshold):
            raise self.fail(
                at,
                f'expected "and", "or", "unless" or end of input, got "{op}" '
                "(comparisons do not chain: join them with and)",
                '"and", "or", "unless" or end of input',
            )
        if lk == "value":
            hint = " (compare with a number; to compare two values, use a - b > 0)"
            hint = hint if rk == "value" else ""
            self.close_chain(right)
            raise self.fail(
                right.pos,
                f'expected a number after "{op}", got {_KIND_WORDS[rk]}{hint}',
                f'a number after "{op}"',
            )
        if lk == "number" and rk == "number":
            raise self.fail(
                left.pos,
                f'expected a value expression on one side of "{op}", got two numbers',
                f'a value expression on one side of "{op}"',
            )
        if lk == "number":
            self.close_chain(right)
            raise self.fail(
                right.pos,
                f'expected a value expression after "{op}", got {_KIND_WORDS[rk]}',
                f'a value expression after "{op}"',
            )
        self.close_chain(left)
        raise self.fail(
            left.pos,
            f'expected a value expression on the left of "{op}", got {_KIND_WORDS[lk]}',
            f'a value expression on the left of "{op}"',
        )

    # -- primaries -------------------------------------------------------------------------

    def primary(self, expected: str) -> _Node:
        tok = self.toks[self.i]
        kind, text, pos, value = tok
        if kind == _IDENT:
            low = text.lower()
            if low in _KEYWORDS:
                raise self.expected(tok, expected, f" ({low} is an operator)")
            if low == "nan":
                self.i += 1
                return _Node("number", math.nan, pos)
            if low == "inf":
                self.i += 1
                return _Node("number", math.inf, pos)
            if self.toks[self.i + 1][1] == "(" and self.toks[self.i + 1][0] == _OP:
                return self.call(tok)
            return self.selector(tok)
        if kind == _NUMBER:
            self.i += 1
            return _Node("number", value[0], pos, 0, value[1])
        if kind == _STRING:
            self.i += 1
            return _Node("string", value, pos)
        if kind == _WORD:
            seconds = _duration(tok)
            if seconds is None:
                raise self.expected(tok, expected)
            self.i += 1
            return _Node("duration", seconds, pos)
        if kind == _OP:
            if text == "(":
                self.enter(tok)
                self.i += 1
                node = self.expression("an expression")
                close = self.toks[self.i]
                if close[1] != ")" or close[0] != _OP:
                    where = _where(self.text, pos)
                    raise self.expected(close, f'an operator or ")" to close the "(" at {where}')
                self.i += 1
                self.depth -= 1
                return self.close_chain(node)
            if text == "{":
                return self.selector(None)
        raise self.expected(tok, expected)

    def selector(self, name: Token | None) -> _Node:
        """``metric{matchers}`` or ``{__name__="metric", ...}``, then an optional ``[range]``."""
        if name is not None:
            metric, pos = name[1], name[2]
            if not _METRIC_NAME.match(metric):
                raise self.expected(name, "a metric name ([a-zA-Z_:][a-zA-Z0-9_:]*)")
            self.i += 1
            tok = self.toks[self.i]
            matchers: list[Matcher] = []
            if tok[1] == "{" and tok[0] == _OP:
                matchers = self.matchers()
                for m in matchers:
                    if m.name == "__name__":
                        raise self.fail(
                            self.toks[self.i - 1][2],
                            f'the selector names its metric twice ("{metric}" and __name__)',
                            "one metric name",
                        )
        else:
            brace = self.toks[self.i]
            pos = brace[2]
            matchers = self.matchers()
            names = [m for m in matchers if m.name == "__name__"]
            if len(names) != 1 or names[0].op != "=" or not _METRIC_NAME.match(names[0].value):
                raise self.fail(
                    pos,
                    'expected a metric name before "{" (or one __name__="metric" matcher), got "{"',
                    "a metric name",
                )
            metric = names[0].value
            matchers = [m for m in matchers if m.name != "__name__"]
        selector = Selector(metric, tuple(matchers))
        tok = self.toks[self.i]
        if tok[1] == "[" and tok[0] == _OP:
            return _Node("range", self.range(selector, tok), pos, 1)
        return _Node("value", Instant(selector), pos, 1)

    def matchers(self) -> list[Matcher]:
        brace = self.toks[self.i]
        self.i += 1
        out: list[Matcher] = []
        while True:
            tok = self.toks[self.i]
            if tok[0] == _OP and tok[1] == "}":
                self.i += 1
                return out
            if tok[0] != _IDENT and tok[0] != _WORD:
                raise self.expected(tok, 'a label name or "}"')
            label = tok[1]
            if not _LABEL_NAME.match(label):
                raise self.expected(tok, "a label name ([a-zA-Z_][a-zA-Z0-9_]*)")
            self.i += 1
            op_tok = self.toks[self.i]
            op = op_tok[1]
            if op_tok[0] != _OP or op not in _MATCH_OPS:
                raise self.expected(op_tok, f'a matcher operator (=, !=, =~, !~) after "{label}"')
            self.i += 1
            value_tok = self.toks[self.i]
            if value_tok[0] != _STRING:
                raise self.expected(value_tok, f'a quoted string after "{label}{op}"')
            self.i += 1
            out.append(self.matcher(label, op, value_tok))
            sep = self.toks[self.i]
            if sep[0] == _OP and sep[1] == ",":
                self.i += 1
            elif not (sep[0] == _OP and sep[1] == "}"):
                where = _where(self.text, brace[2])
                raise self.expected(sep, f'"," or "}}" to close the "{{" at {where}')

    def matcher(self, label: str, op: str, tok: Token) -> Matcher:
        try:
            return Matcher(label, op, tok[3])  # type: ignore[arg-type]
        # A Warning is caught too: re warns about some patterns ("[[", possible set
        # union), and a host running with warnings as errors must still get an
        # ExpressionError, not a FutureWarning.
        except (AlertkitError, RecursionError, OverflowError, MemoryError, Warning) as exc:
            reason = _regex_problem(tok[3]) or str(exc)
            raise self.fail(
                tok[2],
                f'expected a valid regular expression after "{op}", got {_show(tok)}: {reason}',
                f'a valid regular expression after "{op}"',
            ) from None

    def range(self, selector: Selector, bracket: Token) -> RangeArg:
        self.i += 1
        tok = self.toks[self.i]
        seconds = _duration(tok)
        if seconds is None:
            raise self.expected(tok, "a duration like 5m")
        if seconds <= 0:
            raise self.expected(tok, "a duration greater than zero")
        self.i += 1
        close = self.toks[self.i]
        if close[0] != _OP or close[1] != "]":
            hint = " (subqueries are not supported)" if close[1].startswith(":") else ""
            where = _where(self.text, bracket[2])
            raise self.expected(close, f'"]" to close the "[" at {where}', hint)
        self.i += 1
        return RangeArg(selector, seconds)

    # -- function calls --------------------------------------------------------------------

    def call(self, name_tok: Token) -> _Node:
        name, pos = name_tok[1], name_tok[2]
        function = FUNCTIONS.get(name)
        if function is None:
            raise self.fail(pos, _unknown_function(name), "a known function")
        open_tok = self.toks[self.i + 1]
        self.i += 2
        self.enter(open_tok)
        params = function.params
        positional: list[_Node] = []
        keywords: dict[str, _Node] = {}
        sig = _signature(function)
        while True:
            tok = self.toks[self.i]
            if tok[0] == _OP and tok[1] == ")":
                break
            nxt = self.toks[self.i + 1] if tok[0] == _IDENT else tok
            if tok[0] == _IDENT and nxt[0] == _OP and nxt[1] == "=":
                param = self.keyword(function, sig, tok, positional, keywords)
                self.i += 2
                node = self.expression(f'{_PARAM_WORDS[param.kind]} for "{param.name}"')
                keywords[param.name] = node
            else:
                if keywords:
                    raise self.expected(tok, f'a keyword argument (name=value) or ")" in {sig}')
                if len(positional) >= len(params):
                    raise self.expected(tok, f'")": {sig} takes {_count(len(params))}')
                param = params[len(positional)]
                words = _PARAM_WORDS[param.kind]
                positional.append(self.expression(f'{words} (argument "{param.name}" of {sig})'))
            sep = self.toks[self.i]
            if sep[0] == _OP and sep[1] == ",":
                self.i += 1
                continue
            if not (sep[0] == _OP and sep[1] == ")"):
                raise self.expected(sep, f'an operator, "," or ")" in {sig}')
        close = self.toks[self.i]
        self.i += 1
        self.depth -= 1
        values: list[typing.Any] = []
        height = 0
        for index, param in enumerate(params):
            if index < len(positional):
                node = positional[index]
            elif param.name in keywords:
                node = keywords[param.name]
            elif param.required:
                words = _PARAM_WORDS[param.kind]
                raise self.fail(
                    close[2],
                    f'expected argument "{param.name}" ({words}) of {sig}, got ")"',
                    f'argument "{param.name}" of {sig}',
                )
            else:
                values.append(param.default)
                continue
            values.append(self.argument(node, param, sig))
            height = max(height, node.height)
        try:
            obj = function.build(*values)
        except (AlertkitError, ValueError, TypeError, ArithmeticError) as exc:
            message = f"invalid arguments for {sig}: {exc}"
            raise self.fail(pos, message, f"valid arguments for {sig}") from None
        if isinstance(obj, Condition):
            return _Node("condition", obj, pos, height + 1)
        if isinstance(obj, ValueExpr):
            return _Node("value", obj, pos, height + 1)
        raise self.fail(  # a registration mistake, reported where it shows
            pos, f"function {name} built {obj!r}, not a condition or value", "a registered function"
        )

    def keyword(
        self,
        function: Function,
        sig: str,
        tok: Token,
        positional: list[_Node],
        keywords: dict[str, _Node],
    ) -> Param:
        name = tok[1]
        for index, param in enumerate(function.params):
            if param.name == name:
                if index < len(positional) or name in keywords:
                    raise self.fail(
                        tok[2], f'argument "{name}" of {sig} is given twice', "each argument once"
                    )
                return param
        names = ", ".join(p.name for p in function.params) or "none"
        raise self.fail(
            tok[2],
            f'unknown keyword "{name}" for {sig}: expected one of {names}',
            f"a parameter of {sig}",
        )

    def argument(self, node: _Node, param: Param, sig: str) -> typing.Any:
        """The node as the value ``build`` expects for ``param`` (see functions.py's table)."""
        kind = param.kind
        nk = node.kind
        if kind == "condition" and nk in ("condition", "value"):
            return self.condition(node, "")[0]
        self.close_chain(node)
        if kind == "range" and nk == "range":
            return node.obj
        if kind == "value" and nk == "value":
            return node.obj
        if kind == "number" and nk == "number":
            return node.obj
        if kind == "integer" and nk == "number" and node.int_value is not None:
            return node.int_value
        if kind == "duration" and (
            nk == "duration" or (nk == "number" and 0 <= node.obj < math.inf)
        ):
            return float(node.obj)
        if kind == "string" and nk == "string":
            return node.obj
        if kind == "selector" and nk == "value" and type(node.obj) is Instant:
            return node.obj.selector
        words = _PARAM_WORDS[kind]
        if kind == "range" and nk == "value" and type(node.obj) is Instant:
            words = f"a range selector like {node.obj.selector}[5m]"
        raise self.fail(
            node.pos,
            f'expected {words} for "{param.name}" of {sig}, got {_KIND_WORDS[nk]}',
            words,
        )

    # -- entry -----------------------------------------------------------------------------

    def parse(self, want: str) -> typing.Any:
        node = self.expression("an expression")
        tok = self.toks[self.i]
        if tok[0] != _EOF:
            hint = _PROMQL_ONLY.get(tok[1], "")
            if tok[0] == _OP and tok[1] == ")":
                hint = ' (no "(" to close)'
            raise self.expected(tok, "an operator or end of input", hint)
        if want == "condition":
            return self.condition(node, "")[0]
        self.close_chain(node)
        if node.kind != "value":
            hint = _RANGE_HINT if node.kind == "range" else ""
            raise self.fail(
                node.pos,
                f"expected a value expression, got {_KIND_WORDS[node.kind]}{hint}",
                "a value expression",
            )
        return node.obj


def _duration(tok: Token) -> float | None:
    """Seconds of a duration token ("5m", "1h30m", or a plain number of seconds)."""
    kind, text, _, value = tok
    if kind == _NUMBER:
        number: float = value[0]
        return number if number == number and number < math.inf else None
    if kind != _WORD:
        return None
    seconds = _DURATIONS.get(text)
    if seconds is None and _DURATION_WORD.match(text):
        try:
            seconds = parse_duration(text)
        except AlertkitError:
            return None
        if len(_DURATIONS) < 512:  # rules reuse a few durations; the bound keeps it small
            _DURATIONS[text] = seconds
    return seconds


_DURATIONS: dict[str, float] = {}


def _regex_problem(pattern: str) -> str | None:
    try:
        re.compile(pattern)
    except (re.error, Warning) as exc:
        return str(exc)
    except RecursionError:
        return "the pattern is nested too deeply"
    except (OverflowError, MemoryError):
        return "the pattern is too large"
    return None


def _count(n: int) -> str:
    return f"{n} argument{'s' if n != 1 else ''}"


_SIGNATURES: dict[int, tuple[Function, str]] = {}


def _signature(function: Function) -> str:
    """``name(param, param, option=default)``, for error messages."""
    cached = _SIGNATURES.get(id(function))
    if cached is not None and cached[0] is function:
        return cached[1]
    parts = []
    for p in function.params:
        if p.required:
            parts.append(p.name)
        elif p.default is None:
            parts.append(f"[{p.name}]")
        else:
            parts.append(f"{p.name}={render_arg(p.kind, p.default)}")
    sig = f"{function.name}({', '.join(parts)})"
    _SIGNATURES[id(function)] = (function, sig)
    return sig


def _unknown_function(name: str) -> str:
    near = difflib.get_close_matches(name, FUNCTIONS, n=3, cutoff=0.6)
    if near:
        return f'unknown function "{name}" (did you mean {" or ".join(near)}?)'
    return f'unknown function "{name}" (known: {", ".join(sorted(FUNCTIONS))})'


def _parse(text: object, want: str) -> typing.Any:
    if not isinstance(text, str):
        raise ExpressionError(
            f"expected the expression as a string, got {type(text).__name__}",
            "",
            1,
            1,
            "a string",
        )
    if len(text) > MAX_LENGTH:
        raise _error(
            text,
            MAX_LENGTH,
            f"expression is {len(text)} characters long, more than {MAX_LENGTH}",
            f"at most {MAX_LENGTH} characters",
        )
    try:
        return _Parser(text).parse(want)
    except RecursionError:  # a caller already deep in its stack; never a crash here
        raise _error(
            text, 0, "expression nested too deeply for the Python stack", "less nesting"
        ) from None


def parse_condition(text: str) -> Condition:
    """Parse a condition of the expression language.

    The inverse of ``str()``: ``parse_condition(str(c)) == c`` for every
    condition ``c``. A bare value expression means "it has a value"
    (:class:`Present`). Raises :class:`ExpressionError`, and only that, with
    the line, column and what was expected.

    >>> parse_condition("avg_over_time(cpu[5m]) > 80 and not maintenance")  # doctest: +SKIP
    All(conditions=(Threshold(...), Not(condition=Present(value=Instant(...)))))
    """
    return _parse(text, "condition")  # type: ignore[no-any-return]


def parse_value(text: str) -> ValueExpr:
    """Parse a value expression (``rate(errors[5m]) / rate(requests[5m])``).

    Raises :class:`ExpressionError`, and only that.
    """
    return _parse(text, "value")  # type: ignore[no-any-return]
