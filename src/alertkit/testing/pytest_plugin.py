"""The alertkit pytest plugin's fixtures and constants, and the ``st.from_type`` strategies.

The plugin itself is the top-level module :mod:`alertkit_pytest` (a ``pytest11`` entry point,
so it is active wherever alertkit is installed); this module re-exports its names. The
strategies for ``st.from_type`` (:class:`~alertkit.Labels`, :class:`~alertkit.Sample`,
:class:`~alertkit.testing.Series`, :class:`~alertkit.Rule`) are registered through
hypothesis' own plugin entry point when hypothesis is imported; :func:`register_strategies`
does it by hand.
"""

from __future__ import annotations

from alertkit_pytest import (
    RECEIVER,
    START,
    alertkit_engine,
    alertkit_route,
    alertkit_rules,
    fake_clock,
    recording_notifier,
)

__all__ = ["RECEIVER", "START", "alertkit_engine", "alertkit_route", "alertkit_rules",
           "fake_clock", "recording_notifier", "register_strategies"]


def register_strategies() -> bool:
    """Register alertkit's strategies with ``st.from_type``; False without hypothesis."""
    try:
        from hypothesis import strategies as st
    except ImportError:  # pragma: no cover - hypothesis is installed wherever tests run
        return False
    from alertkit._core.labels import Labels
    from alertkit._core.model import Sample
    from alertkit._core.rules import Rule
    from alertkit.testing import strategies as aks
    from alertkit.testing.shapes import Series

    for cls, strategy in ((Labels, aks.label_sets()), (Sample, aks.samples()),
                          (Series, aks.series()), (Rule, aks.rules())):
        st.register_type_strategy(cls, strategy)
    return True
