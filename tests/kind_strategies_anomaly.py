"""Hypothesis strategies for the anomaly detector kinds (zscore, ewma, robust_zscore, seasonal).

``STRATEGIES`` is a list of strategies of :class:`alertkit.Condition` values whose
``str()`` the expression parser must read back to an equal object; ``VALUES`` lists
strategies of the value expressions alone (tests/expr_strategies.py picks up both).
Durations are whole seconds (what the text form writes exactly) and numbers finite
(``NaN`` never equals itself).
"""

from __future__ import annotations

from hypothesis import strategies as st

import alertkit as ak

SELECTORS: st.SearchStrategy[ak.Selector] = st.sampled_from(
    [
        ak.Selector("x"),
        ak.Selector("http_latency_seconds", {"route": "/api", "method": "GET"}),
        ak.Selector("queue_depth", [ak.Matcher("queue", "=~", "jobs-.*")]),
        ak.Selector("errors", [ak.Matcher("env", "!=", "dev"), ak.Matcher("code", "!~", "4..")]),
    ]
)
RANGES = st.sampled_from([1.0, 30.0, 60.0, 90.0, 300.0, 3600.0, 5400.0, 86400.0])
WARMUPS = st.integers(2, 500)
OPS = st.sampled_from([">", ">=", "<", "<=", "==", "!="])
THRESHOLDS = st.one_of(
    st.sampled_from([3.0, -3.0, 0.0, 2.5, 1e6]),
    st.floats(allow_nan=False, allow_infinity=False),
)


def _maybe(strategy: st.SearchStrategy[object]) -> st.SearchStrategy[object]:
    """A value, or None for "leave the parameter at its default" (rendered without it)."""
    return st.one_of(st.none(), strategy)


def _given(**kwargs: object) -> dict[str, object]:
    return {k: v for k, v in kwargs.items() if v is not None}


@st.composite
def zscores(draw: st.DrawFn) -> ak.ZScore:
    return ak.ZScore(draw(SELECTORS), draw(RANGES), **_given(warmup=draw(_maybe(WARMUPS))))


@st.composite
def ewmas(draw: st.DrawFn) -> ak.EWMA:
    alpha = st.one_of(
        st.sampled_from([0.1, 0.05, 0.5, 0.3]),
        st.floats(min_value=1e-6, max_value=0.999999),
    )
    return ak.EWMA(
        draw(SELECTORS), **_given(alpha=draw(_maybe(alpha)), warmup=draw(_maybe(WARMUPS)))
    )


@st.composite
def robust_zscores(draw: st.DrawFn) -> ak.RobustZScore:
    return ak.RobustZScore(draw(SELECTORS), draw(RANGES), **_given(warmup=draw(_maybe(WARMUPS))))


@st.composite
def seasonals(draw: st.DrawFn) -> ak.Seasonal:
    range_ = draw(st.sampled_from([60.0, 300.0, 600.0, 3600.0]))
    period = range_ * draw(st.sampled_from([2, 6, 24, 144, 168]))
    seasons = draw(_maybe(st.integers(1, 8)))
    warmup = draw(_maybe(st.integers(1, 3 if seasons is None else seasons)))
    tolerance = draw(_maybe(st.floats(min_value=0.0, max_value=1e3)))
    return ak.Seasonal(
        draw(SELECTORS),
        range_,
        period,
        **_given(seasons=seasons, tolerance=tolerance, warmup=warmup),
    )


VALUES: list[st.SearchStrategy[ak.ValueExpr]] = [zscores(), ewmas(), robust_zscores(), seasonals()]

STRATEGIES: list[st.SearchStrategy[ak.Condition]] = [
    st.builds(ak.Threshold, zscores(), OPS, THRESHOLDS),
    st.builds(ak.Threshold, ewmas(), OPS, THRESHOLDS),
    st.builds(ak.Threshold, robust_zscores(), OPS, THRESHOLDS),
    st.builds(ak.Threshold, seasonals(), OPS, THRESHOLDS),
]
