"""Hypothesis' entry point for alertkit: ``st.from_type`` knows alertkit's types.

Hypothesis calls :func:`setup` when it is imported (the ``hypothesis`` entry point group),
so the strategies are registered before any test module builds its strategies.
"""

from __future__ import annotations

__all__ = ["setup"]


def setup() -> None:
    """Register :func:`alertkit.testing.pytest_plugin.register_strategies`' strategies."""
    from alertkit.testing.pytest_plugin import register_strategies

    register_strategies()
