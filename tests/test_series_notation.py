"""promtool's series notation: parsing, expansion, rendering, errors, and promtool agreement."""

from __future__ import annotations

import math
import os
import pickle
import shutil
import struct
import subprocess
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from alertkit._errors import AlertkitError, ExpressionError, SeriesNotationError
from alertkit.testing.series import (
    MAX_STEPS,
    STALE,
    SeriesValue,
    Stale,
    expand_series,
    parse_series,
    render_series,
)


def bits(values: list[SeriesValue]) -> list[object]:
    """Values compared bit for bit (-0.0 != 0.0); every NaN is one NaN, as in the notation."""
    return [("NaN" if math.isnan(v) else struct.pack("<d", v)) if isinstance(v, float) else v
            for v in values]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("1", [1.0]),
        ("1 2 3", [1.0, 2.0, 3.0]),
        ("  1\t2\n3 ", [1.0, 2.0, 3.0]),
        ("", []),
        ("1x3", [1.0, 1.0, 1.0, 1.0]),
        ("1x0", [1.0]),
        ("-1x3", [-1.0, -1.0, -1.0, -1.0]),
        ("-2+4x3", [-2.0, 2.0, 6.0, 10.0]),
        ("1-2x4", [1.0, -1.0, -3.0, -5.0, -7.0]),
        ("-1-2x2", [-1.0, -3.0, -5.0]),
        ("1e3 2E-1 +5 .5 5.", [1000.0, 0.2, 5.0, 0.5, 5.0]),
        ("1e-3x1", [0.001, 0.001]),
        ("1e+3+1x1", [1000.0, 1001.0]),
        ("Inf -Inf +Inf inf", [math.inf, -math.inf, math.inf, math.inf]),
        ("_", [None]),
        ("_x3", [None, None, None]),  # n gaps, not n + 1 (promtool)
        ("1 _x3 stale", [1.0, None, None, None, STALE]),
        ("stale 1", [STALE, 1.0]),
        ("0+0.1x3", [0.0, 0.1, 0.2, 0.30000000000000004]),  # accumulated like promtool
    ],
)
def test_parse(text: str, expected: list[SeriesValue]) -> None:
    assert bits(parse_series(text)) == bits(expected)


def test_nan_and_negative_zero() -> None:
    values = parse_series("NaN nan NaN+0x1 -0x1")
    assert all(math.isnan(v) for v in values[:4])  # type: ignore[arg-type]
    assert bits(values[4:]) == bits([-0.0, -0.0])
    assert bits(parse_series("NaN+0x1 Inf+1x1 -Inf-5x1")) == bits(
        [math.nan, math.nan, math.inf, math.inf, -math.inf, -math.inf])


def test_expand_gives_times_and_marks_staleness() -> None:
    assert expand_series("1 _ 3 stale", start=1000, interval="1m") == [
        (1000.0, 1.0), (1120.0, 3.0), (1180.0, None)]
    assert expand_series([1.0, None, STALE], start=0, interval=30) == [(0.0, 1.0), (60.0, None)]
    assert expand_series("1x2") == [(0.0, 1.0), (60.0, 1.0), (120.0, 1.0)]


def test_stale_is_a_singleton_that_survives_pickling() -> None:
    assert Stale() is STALE
    assert pickle.loads(pickle.dumps(STALE)) is STALE
    assert repr(STALE) == "STALE"


@pytest.mark.parametrize(
    ("text", "column", "fragment"),
    [
        ("1 2x", 3, "got '2x'"),
        ("1+2", 4, "needs a repeat count"),
        ("abc", 1, "got 'abc'"),
        ("1 _x", 3, "got '_x'"),
        ("1 stalex2", 3, "got 'stalex2'"),
        ("1 0xff", 3, "got '0xff'"),
        ("1+-2x3", 1, "got '1+-2x3'"),
        ("1 2x-1", 3, "got '2x-1'"),
        ("1x99999999", 3, "larger than"),
        ("1 NaNx1", 3, "NaN and Inf cannot take 'xN' directly"),
        ("1 -Infx2", 3, "NaN and Inf cannot take 'xN' directly"),
        ("1 1+Infx1", 3, "NaN and Inf cannot take 'xN' directly"),
        ("1 1e400", 3, "'1e400' is out of the range of a float"),
        ("1 1+1e400x2", 5, "'1e400' is out of the range of a float"),
        ("1 2\n3 x4", 3, "got 'x4'"),
    ],
)
def test_bad_text_names_line_and_column(text: str, column: int, fragment: str) -> None:
    with pytest.raises(SeriesNotationError) as info:
        parse_series(text)
    err = info.value
    assert fragment in str(err)
    assert err.column == column
    assert err.line == text.count("\n") + 1  # every bad item here is on the last line
    assert isinstance(err, ExpressionError | AlertkitError | ValueError)
    assert "^" in str(err)  # the caret under the bad item


def test_the_line_of_an_error_in_a_multiline_text() -> None:
    with pytest.raises(SeriesNotationError) as info:
        parse_series("1 2\n3 x4")
    assert (info.value.line, info.value.column) == (2, 3)


def test_too_many_steps_in_total() -> None:
    half = MAX_STEPS // 2
    with pytest.raises(SeriesNotationError, match="more than"):
        parse_series(f"1x{half} 2x{half}")


def test_not_a_string() -> None:
    with pytest.raises(SeriesNotationError, match="must be a string"):
        parse_series(5)  # type: ignore[arg-type]


def test_expand_rejects_bad_interval_and_start() -> None:
    with pytest.raises(AlertkitError, match="interval"):
        expand_series("1", interval="0s")
    with pytest.raises(AlertkitError, match="start"):
        expand_series("1", start=math.nan)


def test_render() -> None:
    assert render_series([1.0, 3.0, 5.0, 7.0, None, None, 2.0]) == "1+2x3 _x2 2"
    assert render_series([1.0, 1.0, 1.0, STALE, -0.5]) == "1x2 stale -0.5"
    assert render_series([5.0, 4.0, 3.0]) == "5-1x2"
    assert render_series([1.0, 1.0, None], compress=False) == "1 1 _"
    assert render_series([math.nan, math.nan, math.inf, math.inf, -math.inf, -math.inf]) == \
        "NaN+0x1 Inf+0x1 -Inf+0x1"
    assert render_series([None, None], compress=False) == "_ _"
    with pytest.raises(SeriesNotationError, match="step 1"):
        render_series([1.0, "2"])  # type: ignore[list-item]


# -- properties ----------------------------------------------------------------------------

FLOATS = st.one_of(
    st.floats(allow_nan=True, allow_infinity=True),
    st.integers(-5, 5).map(float),
    st.sampled_from([0.1, 0.2, -0.0, 0.0, 1e300, 5e-324]),
)


@st.composite
def specs(draw: st.DrawFn) -> list[SeriesValue]:
    """Steps with runs of repeats and arithmetic progressions, gaps and staleness markers."""
    out: list[SeriesValue] = []
    for _ in range(draw(st.integers(0, 6))):
        kind = draw(st.sampled_from(["value", "repeat", "ramp", "gap", "stale"]))
        if kind == "gap":
            out.extend([None] * draw(st.integers(1, 3)))
        elif kind == "stale":
            out.append(STALE)
        elif kind == "value":
            out.append(draw(FLOATS))
        else:
            a = draw(FLOATS)
            b = draw(FLOATS) if kind == "ramp" else 0.0
            for _ in range(draw(st.integers(1, 5))):
                out.append(a)
                a += b
    return out


@settings(max_examples=200)
@given(specs(), st.booleans())
def test_render_then_parse_gives_back_the_same_floats(
    values: list[SeriesValue], compress: bool
) -> None:
    text = render_series(values, compress=compress)
    assert bits(parse_series(text)) == bits(values), text


@settings(max_examples=200)
@given(st.text(alphabet="0123456789+-x_.eE nNaIfstl\n", max_size=20) | st.text(max_size=10))
def test_random_text_parses_or_raises_the_typed_error(text: str) -> None:
    error: SeriesNotationError | None = None
    try:
        values = parse_series(text)
    except SeriesNotationError as exc:
        error = exc
    if error is None:
        assert all(v is None or v is STALE or isinstance(v, float) for v in values)
    else:
        assert 1 <= error.line <= text.count("\n") + 1
        assert error.column >= 1
        assert str(error)


@settings(max_examples=100)
@given(specs(), st.integers(0, 10**6), st.integers(1, 600))
def test_expand_places_step_i_at_start_plus_i_intervals(
    values: list[SeriesValue], start: int, interval: int
) -> None:
    pairs = expand_series(render_series(values), start, interval)
    expected = [(start + i * float(interval), None if v is STALE else v)
                for i, v in enumerate(values) if v is not None]
    assert [(t, bits([v])) for t, v in pairs] == [(t, bits([v])) for t, v in expected]


# -- promtool reads the notation the same way ------------------------------------------------

TRICKY = ["0+0.1x3", "1e3 2E-1 +5 .5 5.", "-2+4x3", "1-2x4", "-1x3", "1 _x3 5",
          "1 stale 2 _ stale 3", "Inf -Inf NaN inf nan", "0x0", "1e-3x1 1e+3+1x1", "_ _ 1",
          "NaN+0x2 Inf+1x1 -Inf-2x1 +NaN 1.e1 1e308x1", render_series([math.nan] * 3 +
                                                                      [math.inf] * 2)]


def _yaml_float(v: float) -> str:
    if math.isinf(v):
        return ".inf" if v > 0 else "-.inf"
    return repr(v)


@pytest.mark.skipif(shutil.which("promtool") is None and not os.environ.get("CI"),
                    reason="promtool not installed (apt-get install prometheus)")
def test_promtool_expands_the_notation_the_same_way(tmp_path: Path) -> None:
    """At each step with a sample, the instant query ``m`` returns exactly that sample, with
    that step's timestamp; at a staleness marker it returns nothing; the sample count over the
    whole series agrees."""
    lines = ["rule_files: [rules.yml]", "evaluation_interval: 1m", "tests:"]
    for text in TRICKY:
        steps = parse_series(text)
        lines += ["  - interval: 1m", "    input_series:",
                  f"      - series: m\n        values: '{text}'", "    promql_expr_test:"]
        for i, v in enumerate(steps):
            if v is None:
                continue
            if isinstance(v, float):  # the sample is at this very step
                lines.append(f"      - {{expr: 'timestamp(m)', eval_time: {i}m, "
                             f"exp_samples: [{{labels: '{{}}', value: {i * 60}}}]}}")
            if isinstance(v, float) and math.isnan(v):  # promtool's NaN != NaN: ask "is NaN"
                lines.append(f"      - {{expr: 'count(m != m)', eval_time: {i}m, "
                             "exp_samples: [{labels: '{}', value: 1}]}")
                continue
            sample = "[]" if v is STALE else f"[{{labels: 'm', value: {_yaml_float(v)}}}]"
            lines.append(f"      - {{expr: m, eval_time: {i}m, exp_samples: {sample}}}")
        count = sum(isinstance(v, float) for v in steps)
        lines.append(f"      - {{expr: 'count_over_time(m[1h])', eval_time: {len(steps)}m, "
                     f"exp_samples: [{{labels: '{{}}', value: {count}}}]}}")
    (tmp_path / "rules.yml").write_text("groups: []\n", encoding="utf-8")
    (tmp_path / "t.yml").write_text("\n".join(lines) + "\n", encoding="utf-8")
    proc = subprocess.run(["promtool", "test", "rules", "t.yml"], cwd=tmp_path,
                          capture_output=True, text=True, timeout=120, check=False)
    assert proc.returncode == 0, proc.stdout + proc.stderr
