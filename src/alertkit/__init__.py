"""alertkit: embeddable alerting for Python.

Push samples in, get alert events and notifications out, in your own
process. This module is the whole public API; everything else is private.
"""

from __future__ import annotations

from ._core.conditions import (
    Absent,
    All,
    Any,
    Condition,
    Consecutive,
    Instant,
    Not,
    Threshold,
    ValueExpr,
    Window,
    avg_over_time,
    count_over_time,
    delta,
    increase,
    last_over_time,
    max_over_time,
    min_over_time,
    quantile_over_time,
    rate,
    sum_over_time,
)
from ._core.evaluator import Evaluator, IngestReport, Rejection, SeriesHandle
from ._core.labels import Labels, Matcher, Selector
from ._core.model import (
    Alert,
    AlertEvent,
    AlertState,
    EvalMode,
    EventKind,
    NoDataPolicy,
    Sample,
    Severity,
)
from ._core.rules import Rule
from ._core.state import State
from ._core.templates import format_value, humanize, humanize_duration
from ._core.timeutil import format_duration, parse_duration, to_timestamp
from ._core.windows import Agg
from ._errors import (
    AlertkitError,
    DurationError,
    InvalidSampleError,
    LabelError,
    OutOfOrderSampleError,
    RuleError,
    SnapshotError,
    TemplateError,
    TimeWentBackwardsError,
)
from .notify._base import CallbackNotifier, ConsoleNotifier, LogNotifier, Notifier, event_record
from .runtime.clock import Clock, FakeClock, SystemClock
from .runtime.engine import BoundSeries, Engine

__all__ = [
    "Absent",
    "Agg",
    "Alert",
    "AlertEvent",
    "AlertState",
    "AlertkitError",
    "All",
    "Any",
    "BoundSeries",
    "CallbackNotifier",
    "Clock",
    "Condition",
    "Consecutive",
    "ConsoleNotifier",
    "DurationError",
    "Engine",
    "EvalMode",
    "Evaluator",
    "EventKind",
    "FakeClock",
    "IngestReport",
    "Instant",
    "InvalidSampleError",
    "LabelError",
    "Labels",
    "LogNotifier",
    "Matcher",
    "NoDataPolicy",
    "Not",
    "Notifier",
    "OutOfOrderSampleError",
    "Rejection",
    "Rule",
    "RuleError",
    "Sample",
    "Selector",
    "SeriesHandle",
    "Severity",
    "SnapshotError",
    "State",
    "SystemClock",
    "TemplateError",
    "Threshold",
    "TimeWentBackwardsError",
    "ValueExpr",
    "Window",
    "avg_over_time",
    "count_over_time",
    "delta",
    "event_record",
    "format_duration",
    "format_value",
    "humanize",
    "humanize_duration",
    "increase",
    "last_over_time",
    "max_over_time",
    "min_over_time",
    "parse_duration",
    "quantile_over_time",
    "rate",
    "sum_over_time",
    "to_timestamp",
]
