"""Test your alerting rules: deterministic replay, hypothesis strategies, fakes and fixtures.

:func:`replay` runs a series through rules (and routes) on simulated time and returns a
:class:`Timeline` to query and assert on; :mod:`alertkit.testing.strategies` generates
series, label sets and rules for property tests; :class:`RecordingNotifier` and
:class:`~alertkit.FakeClock` stand in for real notifiers and real time; the pytest plugin
(``alertkit.testing.pytest_plugin``) provides them as fixtures.
"""

from __future__ import annotations

from alertkit.testing.recording import Attempt, FakeClock, RecordingNotifier, advance
from alertkit.testing.replay import Period, Timeline, parse_series_name, replay
from alertkit.testing.series import STALE, Stale, expand_series, parse_series, render_series
from alertkit.testing.shapes import (
    Constant,
    Counter,
    Noise,
    Ramp,
    Series,
    Shape,
    Spikes,
    Step,
    Sum,
    Wave,
)

__all__ = [
    "STALE",
    "Attempt",
    "Constant",
    "Counter",
    "FakeClock",
    "Noise",
    "Period",
    "Ramp",
    "RecordingNotifier",
    "Series",
    "Shape",
    "Spikes",
    "Stale",
    "Step",
    "Sum",
    "Timeline",
    "Wave",
    "advance",
    "expand_series",
    "parse_series",
    "parse_series_name",
    "render_series",
    "replay",
]
