"""Values that cross the core's edge: samples in, alerts and events out."""

from __future__ import annotations

import enum
import math
from collections.abc import Mapping
from datetime import UTC, datetime

import attrs

from alertkit._errors import InvalidSampleError

from .labels import Labels, check_metric_name
from .templates import format_value
from .timeutil import TimeLike, to_timestamp

__all__ = [
    "Alert",
    "AlertEvent",
    "AlertState",
    "EvalMode",
    "EventKind",
    "NoDataPolicy",
    "Sample",
    "Severity",
    "check_value",
]


class Severity(enum.IntEnum):
    """How bad an alert is; ordered, so ``Severity.CRITICAL > Severity.HIGH``."""

    INFO = 10
    LOW = 20
    MEDIUM = 30
    HIGH = 40
    CRITICAL = 50

    def __str__(self) -> str:
        return self.name.lower()


class AlertState(enum.Enum):
    """Prometheus' alert states."""

    INACTIVE = "inactive"
    PENDING = "pending"
    FIRING = "firing"

    def __str__(self) -> str:
        return self.value


class EventKind(enum.Enum):
    """What happened to an alert.

    ``CANCELLED`` is a pending alert whose condition stopped holding before
    ``for`` elapsed: it never fired (Prometheus drops it silently).
    """

    PENDING = "pending"
    FIRING = "firing"
    RESOLVED = "resolved"
    CANCELLED = "cancelled"

    def __str__(self) -> str:
        return self.value


class NoDataPolicy(enum.Enum):
    """What a rule does for a label set whose series went stale.

    - ``OK`` (default, Prometheus): no data means the condition does not hold.
    - ``KEEP``: keep the alert exactly as it is until data comes back.
    - ``ALERT``: no data counts as a breach (value NaN, ``Alert.no_data`` set).
    """

    OK = "ok"
    KEEP = "keep"
    ALERT = "alert"


class EvalMode(enum.Enum):
    """When a rule is evaluated.

    - ``SAMPLE``: at every sample of a series it reads, and at every tick (a
      short spike is never missed).
    - ``TICK``: only at evaluation ticks, as Prometheus does: only values at
      evaluation instants count.
    """

    SAMPLE = "sample"
    TICK = "tick"


def check_value(value: object, *, field: str = "value") -> float:
    """Return a sample value as float; NaN and ±inf are valid, non-numbers are not.

    Anything with ``__float__`` that is not a string or a bool is taken
    (``Decimal``, numpy scalars...).
    """
    if type(value) is float:
        return value
    if isinstance(value, bool | str | bytes) or not hasattr(value, "__float__"):
        raise InvalidSampleError(f"{field}: {value!r} is not a number")
    try:
        return float(value)
    except (TypeError, ValueError, OverflowError):
        raise InvalidSampleError(f"{field}: {value!r} is not a number") from None


def _labels(value: Mapping[str, str] | None) -> Labels:
    if isinstance(value, Labels):
        return value
    return Labels(value or {})


@attrs.frozen
class Sample:
    """One observation of one series: ``metric{labels} = value @ timestamp``."""

    metric: str = attrs.field(converter=check_metric_name)
    value: float = attrs.field(converter=check_value)
    timestamp: float = attrs.field(converter=to_timestamp)
    labels: Labels = attrs.field(factory=Labels, converter=_labels)

    @classmethod
    def of(cls, metric: str, value: float, timestamp: TimeLike, **labels: str) -> Sample:
        return cls(metric, value, timestamp, Labels(labels))


def _utc(ts: float | None) -> datetime | None:
    return None if ts is None else datetime.fromtimestamp(ts, tz=UTC)


@attrs.frozen
class Alert:
    """A snapshot of one alert (one label set of one rule) at one moment.

    Times are float epoch seconds; the ``*_dt`` properties give UTC datetimes.
    """

    fingerprint: str
    rule: str
    labels: Labels
    annotations: Mapping[str, str]
    state: AlertState
    severity: Severity
    value: float
    active_at: float
    fired_at: float | None = None
    resolved_at: float | None = None
    no_data: bool = False

    @property
    def active_at_dt(self) -> datetime:
        return datetime.fromtimestamp(self.active_at, tz=UTC)

    @property
    def fired_at_dt(self) -> datetime | None:
        return _utc(self.fired_at)

    @property
    def resolved_at_dt(self) -> datetime | None:
        return _utc(self.resolved_at)

    def __eq__(self, other: object) -> bool:
        # NaN values must not make two identical snapshots unequal.
        if not isinstance(other, Alert):
            return NotImplemented
        return self._key() == other._key() and (
            self.value == other.value or (math.isnan(self.value) and math.isnan(other.value))
        )

    def __hash__(self) -> int:
        return hash((self.fingerprint, self.state, self.active_at))

    def _key(self) -> tuple[object, ...]:
        return (
            self.fingerprint,
            self.rule,
            self.labels,
            dict(self.annotations),
            self.state,
            self.severity,
            self.active_at,
            self.fired_at,
            self.resolved_at,
            self.no_data,
        )


@attrs.frozen
class AlertEvent:
    """Something happened to an alert at ``at`` (float epoch seconds).

    ``errors`` lists template rendering errors; the annotations then hold a
    safe fallback text instead.
    """

    kind: EventKind
    alert: Alert
    at: float
    errors: tuple[str, ...] = ()

    @property
    def at_dt(self) -> datetime:
        return datetime.fromtimestamp(self.at, tz=UTC)

    def __str__(self) -> str:
        at = self.at_dt.isoformat(timespec="milliseconds" if self.at % 1 else "seconds")
        return (
            f"{at.replace('+00:00', 'Z')} {self.kind.value:9} {self.alert.rule}"
            f"{self.alert.labels} value={format_value(self.alert.value)}"
        )
