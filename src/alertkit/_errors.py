"""The one error hierarchy of alertkit.

Every public entry point validates at the edge and raises one of these. They
subclass ``ValueError`` / ``TypeError`` where that is what the caller did
wrong, so code that already catches those keeps working.
"""

from __future__ import annotations

__all__ = [
    "AlertkitError",
    "DurationError",
    "InvalidSampleError",
    "LabelError",
    "OutOfOrderSampleError",
    "RuleError",
    "SnapshotError",
    "TemplateError",
    "TimeWentBackwardsError",
]


class AlertkitError(Exception):
    """Base class of every error alertkit raises on purpose."""


class DurationError(AlertkitError, ValueError):
    """A duration could not be understood (``"5x"``, a negative number, ``None``...)."""


class LabelError(AlertkitError, ValueError):
    """A metric name, label name or label value is not acceptable."""


class InvalidSampleError(AlertkitError, ValueError):
    """A sample's value or timestamp is not a real number (NaN and ±inf *are* valid values)."""


class OutOfOrderSampleError(InvalidSampleError):
    """A sample is not newer than the last sample of its series (duplicate or out of order)."""


class TimeWentBackwardsError(AlertkitError, ValueError):
    """An evaluation tick is older than data the evaluator has already seen."""


class RuleError(AlertkitError, ValueError):
    """A rule or condition is malformed (bad operator, duplicate name, bad window...)."""


class TemplateError(AlertkitError, ValueError):
    """An annotation template does not compile.

    Errors that happen while *rendering* never raise: the alert gets a safe
    fallback text and the error is reported on the event.
    """


class SnapshotError(AlertkitError, ValueError):
    """A state snapshot cannot be restored (corrupt, wrong version, unknown rules)."""
