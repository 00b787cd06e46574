"""Hypothesis strategies for the trend, change and occurrence kinds (for the round-trip test).

``STRATEGIES`` is a list of strategies, each producing ``Condition`` values whose canonical
text (``str(c)``) the expression parser must read back to an equal object. Durations are
drawn from values ``format_duration`` renders exactly (whole milliseconds), thresholds
from floats that ``repr`` round-trips (NaN is left out: NaN != NaN, so no equal object).
"""

from __future__ import annotations

from hypothesis import strategies as st

import alertkit as ak

OPS = st.sampled_from([">", ">=", "<", "<=", "==", "!="])
NUMBERS = st.one_of(
    st.sampled_from([0.0, 1.0, -1.0, 0.5, 100.0, 1e-05, 2.5e6, float("inf"), float("-inf")]),
    st.floats(allow_nan=False, allow_infinity=False, min_value=-1e9, max_value=1e9),
)
DURATIONS = st.one_of(
    st.sampled_from([1.0, 30.0, 60.0, 90.0, 300.0, 600.0, 3600.0, 5400.0, 86400.0, 604800.0]),
    st.integers(1, 10_000_000).map(lambda ms: ms / 1000),
)
HORIZONS = st.one_of(st.just(0.0), DURATIONS)
MATCHERS = st.lists(
    st.builds(
        ak.Matcher,
        st.sampled_from(["job", "instance", "path", "mount"]),
        st.sampled_from(["=", "!=", "=~", "!~"]),
        st.sampled_from(["api", "", "web-1", "a.*", '/var/"x"', "back\\slash"]),
    ),
    max_size=2,
    unique_by=lambda m: m.name,
)
SELECTORS = st.builds(
    ak.Selector, st.sampled_from(["x", "cpu", "disk_free_bytes", "http:requests:rate5m"]),
    MATCHERS.map(tuple),
)


def _threshold(values: st.SearchStrategy[ak.ValueExpr]) -> st.SearchStrategy[ak.Condition]:
    return st.builds(ak.Threshold, values, OPS, NUMBERS)


@st.composite
def _changes(draw: st.DrawFn) -> ak.Change:
    range_s = draw(DURATIONS)
    offset = draw(st.one_of(st.none(), DURATIONS))
    return ak.Change(
        draw(st.sampled_from(["avg", "sum", "count", "min", "max", "last"])),
        draw(SELECTORS),
        range_s,
        offset=range_s if offset is None else offset,
        mode=draw(st.sampled_from(["ratio", "percent", "absolute"])),
        min_count=draw(st.integers(1, 1000)),
    )


STRATEGIES: list[st.SearchStrategy[ak.Condition]] = [
    _threshold(st.builds(ak.Deriv, SELECTORS, DURATIONS)),
    _threshold(st.builds(ak.PredictLinear, SELECTORS, DURATIONS, HORIZONS)),
    _threshold(_changes()),
    _threshold(st.builds(ak.CountMatching, SELECTORS, DURATIONS, OPS, NUMBERS)),
    _threshold(st.builds(ak.PercentMatching, SELECTORS, DURATIONS, OPS, NUMBERS)),
    st.builds(ak.Flatline, SELECTORS, DURATIONS, st.integers(1, 1000)),
    st.builds(
        ak.Cardinality,
        SELECTORS,
        DURATIONS,
        st.sampled_from(["user", "instance", "le", "_x"]),
        OPS,
        NUMBERS,
    ),
]
