"""Test your alerting rules: deterministic replay, hypothesis strategies, fakes and fixtures.

:func:`replay` runs a series through rules (and routes) on simulated time and returns a
:class:`Timeline` to query and assert on; :class:`Series` and the shapes (:class:`Ramp`,
:class:`Step`...) describe input series; :class:`RecordingNotifier` and
:class:`~alertkit.FakeClock` stand in for real notifiers and real time (:func:`advance`
moves the clock and lets an Engine catch up); :func:`run_test_file` runs rule test files
(``alertkit test``); the pytest plugin (:mod:`alertkit_pytest`, active wherever alertkit
is installed) provides fixtures. The hypothesis strategies are a module of their own,
importable only with hypothesis installed: ``from alertkit.testing import strategies as aks``.
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
from alertkit.testing.testfile import (
    FileResult,
    RuleTestFile,
    load_test_file,
    run_test_file,
    run_test_files,
)

__all__ = [
    "STALE",
    "Attempt",
    "Constant",
    "Counter",
    "FakeClock",
    "FileResult",
    "Noise",
    "Period",
    "Ramp",
    "RecordingNotifier",
    "RuleTestFile",
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
    "load_test_file",
    "parse_series",
    "parse_series_name",
    "render_series",
    "replay",
    "run_test_file",
    "run_test_files",
]
