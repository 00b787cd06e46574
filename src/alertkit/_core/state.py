"""The evaluator's state: a plain value the caller holds.

Objects here are mutable and slotted for speed; the evaluator updates them
in place. ``Evaluator.snapshot`` / ``Evaluator.restore`` turn a state into
versioned JSON and back, exactly.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any

from .model import AlertState

if TYPE_CHECKING:
    from collections.abc import Callable

    from .labels import Labels
    from .nodes import EvalContext, Track

__all__ = ["AlertRec", "RuleState", "SeriesData", "State"]

SNAPSHOT_FORMAT = "alertkit.state"
SNAPSHOT_VERSION = 1


_NO_MARKER = -math.inf  # one shared float object, not one per series


class SeriesData:
    """One stored series: its latest sample and who reads it."""

    __slots__ = ("alive", "labels", "last_t", "last_v", "metric", "stale_t", "subs")

    def __init__(self, metric: str, labels: Labels) -> None:
        self.metric = metric
        self.labels = labels
        self.last_t = -math.inf
        self.last_v = math.nan
        # (fn, track, arg) per reader: fn(track, arg, t, v, now) -> events it caused.
        self.subs: list[tuple[Callable[..., Any], Any, Any]] = []
        self.alive = True  # False once garbage-collected; handles then re-attach
        # The time of a staleness marker after the last sample (replay, rule test files):
        # instant lookups see nothing while stale_t > last_t; range windows keep their
        # samples, as in Prometheus. A new sample ends it (its time is later).
        self.stale_t = _NO_MARKER


class AlertRec:
    """The mutable record of one alert inside the state."""

    __slots__ = ("active_at", "fired_at", "keep_since", "no_data", "resolved_at", "state", "value")

    def __init__(self, state: AlertState, active_at: float, value: float) -> None:
        self.state = state
        self.active_at = active_at
        self.value = value
        self.fired_at: float | None = None
        self.resolved_at: float | None = None
        self.keep_since: float | None = None
        self.no_data = False


class RuleState:
    """One rule's tracks (one per label set) and its absence inputs."""

    __slots__ = ("absent_series", "ctx", "tracks")

    def __init__(self, n_absents: int) -> None:
        from .nodes import EvalContext

        self.tracks: dict[Labels, Track] = {}
        self.absent_series: list[list[SeriesData]] = [[] for _ in range(n_absents)]
        self.ctx: EvalContext = EvalContext(self.absent_series)


class State:
    """Everything the evaluator knows. Hold it, pass it back in, snapshot it."""

    __slots__ = ("now", "owner", "rules", "series")

    def __init__(self, owner: object) -> None:
        self.now = -math.inf  # newest time seen, from samples and ticks
        self.series: dict[str, dict[Labels, SeriesData]] = {}
        self.rules: dict[str, RuleState] = {}
        self.owner = owner  # the evaluator that made it: states are not interchangeable

    def series_count(self) -> int:
        return sum(len(by_labels) for by_labels in self.series.values())

    def __repr__(self) -> str:
        alerts = sum(1 for rs in self.rules.values() for t in rs.tracks.values() if t.alert)
        return f"<State now={self.now} series={self.series_count()} alerts={alerts}>"
