"""promtool's series notation: ``"1+2x10 _x3 stale 5"``.

A compact way to write the input series of a rule test, the same one ``promtool test rules``
reads. Values are separated by whitespace; each item is one of

* a number: ``5``, ``-1.5``, ``1e3``, ``.5``, ``NaN``, ``Inf``, ``-Inf`` (``NaN`` and ``Inf``
  repeat as ``NaN+0xN``: promtool reads ``NaNxN`` as one word and rejects it);
* ``axn``: ``a`` repeated ``n + 1`` times (``1x3`` is ``1 1 1 1``);
* ``a+bxn`` / ``a-bxn``: ``n + 1`` values starting at ``a``, stepping by ``b``
  (``-2+4x3`` is ``-2 2 6 10``; ``1-2x4`` is ``1 -1 -3 -5 -7``);
* ``_``: no sample at this step (a gap); ``_xn`` is ``n`` gaps (not ``n + 1``, as in promtool);
* ``stale``: a staleness marker, which ends the series at once instead of letting its last
  sample count for the lookback period.

Steps are accumulated by repeated addition, as promtool does, so ``0+0.1x3`` yields exactly the
same floats as promtool (``0.30000000000000004`` at the fourth step).

>>> parse_series("1+2x3 _ stale")
[1.0, 3.0, 5.0, 7.0, None, STALE]
>>> expand_series("1 _ 3", start=0, interval="1m")
[(0.0, 1.0), (120.0, 3.0)]
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Sequence
from typing import Final, NoReturn

from alertkit._core.timeutil import DurationLike, TimeLike, parse_duration, to_timestamp
from alertkit._errors import SeriesNotationError

__all__ = [
    "STALE",
    "SeriesValue",
    "Stale",
    "expand_series",
    "parse_series",
    "render_series",
]


class Stale:
    """The type of :data:`STALE`, the staleness marker of the series notation (a singleton)."""

    _instance: Stale | None = None

    def __new__(cls) -> Stale:
        if cls._instance is None:
            cls._instance = super().__new__(cls)
        return cls._instance

    def __repr__(self) -> str:
        return "STALE"

    def __reduce__(self) -> str:
        return "STALE"


STALE: Final = Stale()
"""A staleness marker: the series stops matching at this step (``stale`` in the notation)."""

SeriesValue = float | Stale | None
"""One step of a parsed series: a value, ``None`` (no sample) or :data:`STALE`."""

# Largest expansion accepted for one item: a typo like "1x1000000000" must not eat the memory.
MAX_STEPS: Final = 1_000_000

_LITERAL = r"(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?"
_WORD = r"[iI][nN][fF]|[nN][aA][nN]"
_ITEM = re.compile(
    rf"(?P<a>[+-]?(?:{_LITERAL}|{_WORD}))(?:(?P<op>[+-])(?P<b>{_LITERAL}|{_WORD}))?"
    rf"(?:x(?P<n>\d+))?\Z"
)
_GAP = re.compile(r"_(?:x(?P<n>\d+))?\Z")
_TOKEN = re.compile(r"\S+")


def parse_series(text: str) -> list[SeriesValue]:
    """The steps of a series written in promtool's notation, one entry per step.

    A float is a sample, ``None`` a gap (``_``), :data:`STALE` a staleness marker. Raises
    :class:`~alertkit.SeriesNotationError` (with line, column and a caret) on bad text.
    """
    if not isinstance(text, str):
        raise SeriesNotationError(
            f"series values must be a string like '1+2x10', got {type(text).__name__}",
            repr(text), 1, 1, "a string",
        )
    out: list[SeriesValue] = []
    for match in _TOKEN.finditer(text):
        token = match.group()
        gap = _GAP.match(token)
        if gap is not None:
            out.extend([None] * (_count(gap["n"], 0, text, match.start()) if gap["n"] else 1))
            continue
        if token == "stale":
            out.append(STALE)
            continue
        item = _ITEM.match(token)
        if item is None:
            _fail(text, match.start(), token)
        value = _float(item["a"], text, match.start())
        word_before_x = item["b"] if item["op"] is not None else item["a"]
        if item["n"] is not None and _is_word(word_before_x):
            # promtool reads "NaNx3" or "1+Infx3" as one word and rejects it.
            _fail(text, match.start(), token,
                  f"{token!r}: NaN and Inf cannot take 'xN' directly (promtool reads it as "
                  f"one word); write e.g. 'NaN+0x3' for a repeated NaN",
                  "a number before 'xN'")
        if item["n"] is None:
            if item["op"] is not None:
                _fail(text, match.start() + len(token), token,
                      f"{token!r} needs a repeat count: write '{token}xN'", "x and a count")
            out.append(value)
            continue
        count = _count(item["n"], 1, text, match.start() + item.start("n"))
        if item["b"] is None:  # axN repeats the very same float (-0.0 stays -0.0)
            out.extend([value] * count)
        else:
            step = _float(item["b"], text, match.start() + item.start("b"))
            if item["op"] == "-":
                step = -step
            for _ in range(count):  # accumulated, not a + i*b: promtool's floats, bit for bit
                out.append(value)
                value += step
        if len(out) > MAX_STEPS:
            _fail(text, match.start(), token,
                  f"the series has more than {MAX_STEPS} steps", "a shorter series")
    return out


def _is_word(text: str) -> bool:
    return text.lstrip("+-").lower() in ("nan", "inf")


def _float(literal: str, text: str, pos: int) -> float:
    value = float(literal)
    if math.isinf(value) and not _is_word(literal):  # 1e400: promtool says out of range
        _fail(text, pos, literal, f"{literal!r} is out of the range of a float",
              "a number up to 1.7976931348623157e308")
    return value


def _count(digits: str, extra: int, text: str, pos: int) -> int:
    n = int(digits) + extra
    if n > MAX_STEPS:
        _fail(text, pos, digits, f"repeat count {digits} is larger than {MAX_STEPS}",
              f"a count up to {MAX_STEPS}")
    return n


def _fail(text: str, pos: int, token: str, message: str | None = None,
          expected: str = "a number, 'axN', 'a+bxN', '_', '_xN' or 'stale'") -> NoReturn:
    line = text.count("\n", 0, pos) + 1
    column = pos - (text.rfind("\n", 0, pos) + 1) + 1
    if message is None:
        message = f"expected {expected}, got {token!r}"
    raise SeriesNotationError(message, text, line, column, expected)


def expand_series(
    text: str | Sequence[SeriesValue], start: TimeLike = 0.0, interval: DurationLike = 60.0
) -> list[tuple[float, float | None]]:
    """The samples of a series: ``(t, value)`` pairs, step ``i`` at ``start + i * interval``.

    Gaps produce no pair; a staleness marker produces ``(t, None)``. ``text`` may also be the
    list :func:`parse_series` returned.

    >>> expand_series("1x2 stale", start=100, interval=10)
    [(100.0, 1.0), (110.0, 1.0), (120.0, 1.0), (130.0, None)]
    """
    t0 = to_timestamp(start, field="start")
    step = parse_duration(interval, field="interval", allow_zero=False)
    values = parse_series(text) if isinstance(text, str) else list(text)
    out: list[tuple[float, float | None]] = []
    for i, v in enumerate(values):
        if v is None:
            continue
        out.append((t0 + i * step, None if isinstance(v, Stale) else v))
    return out


def render_series(values: Iterable[SeriesValue], *, compress: bool = True) -> str:
    """Write steps back in the notation; :func:`parse_series` reads back the same floats.

    With ``compress``, runs become ``axN``, ``a+bxN`` (only where repeated addition gives
    exactly the same floats) and ``_xN``.

    >>> render_series([1.0, 3.0, 5.0, 7.0, None, None, 2.0])
    '1+2x3 _x2 2'
    """
    items = list(values)
    tokens: list[str] = []
    i = 0
    while i < len(items):
        v = items[i]
        if v is None:
            j = i
            while j < len(items) and items[j] is None:
                j += 1
            n = j - i
            tokens.append("_" if n == 1 or not compress else f"_x{n}")
            if not compress:
                tokens.extend(["_"] * (n - 1))
            i = j
            continue
        if isinstance(v, Stale):
            tokens.append("stale")
            i += 1
            continue
        if not isinstance(v, float | int) or isinstance(v, bool):
            raise SeriesNotationError(
                f"step {i}: {v!r} is not a number, None or STALE", repr(v), 1, 1, "a number"
            )
        run, step = _run(items, i) if compress else (1, None)
        if run >= 2:
            a = _num(float(v))
            if step is None:
                # NaNxN and InfxN are not promtool syntax: repeat them as NaN+0xN.
                tokens.append(f"{a}x{run - 1}" if math.isfinite(float(v)) else
                              f"{a}+0x{run - 1}")
            else:
                tokens.append(f"{a}{'-' if step < 0 else '+'}{_num(abs(step))}x{run - 1}")
            i += run
            continue
        tokens.append(_num(float(v)))
        i += 1
    return " ".join(tokens)


def _run(items: Sequence[SeriesValue], i: int) -> tuple[int, float | None]:
    """How many steps from ``i`` one item reproduces exactly, and its step.

    The step is ``None`` for ``axN`` (the same float repeated, NaN and ``-0.0`` included) and a
    float for ``a+bxN`` (repeated addition, as the parser does it).
    """
    if i + 1 >= len(items) or not _is_number(items[i]) or not _is_number(items[i + 1]):
        return 1, None
    a, b = float(items[i]), float(items[i + 1])  # type: ignore[arg-type]
    if _same(a, b):
        j = i + 1
        while j < len(items) and _is_number(items[j]) and _same(float(items[j]), a):  # type: ignore[arg-type]
            j += 1
        return j - i, None
    step = b - a
    if not math.isfinite(step) or (math.copysign(1.0, step) < 0 and step == 0):
        return 1, None
    value = a
    j = i
    while j < len(items) and _is_number(items[j]) and _same(float(items[j]), value):  # type: ignore[arg-type]
        value += step
        j += 1
    return j - i, step


def _is_number(v: SeriesValue) -> bool:
    return isinstance(v, float | int) and not isinstance(v, bool)


def _same(x: float, y: float) -> bool:
    """The same float: NaN equals NaN, and the sign of zero counts (``-0.0`` round-trips)."""
    if math.isnan(x) or math.isnan(y):
        return math.isnan(x) and math.isnan(y)
    return x == y and math.copysign(1.0, x) == math.copysign(1.0, y)


def _num(v: float) -> str:
    """Shortest text that reads back as the same float (promtool spelling for NaN and Inf)."""
    if math.isnan(v):
        return "NaN"
    if math.isinf(v):
        return "Inf" if v > 0 else "-Inf"
    text = repr(v)
    return text[:-2] if text.endswith(".0") else text
