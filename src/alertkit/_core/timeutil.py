"""Durations and instants at the API edge; plain float seconds inside the core."""

from __future__ import annotations

import math
import re
from datetime import UTC, datetime, timedelta

from alertkit._errors import DurationError, InvalidSampleError

__all__ = ["DurationLike", "TimeLike", "format_duration", "parse_duration", "to_timestamp"]

DurationLike = timedelta | int | float | str
TimeLike = datetime | int | float

# Prometheus' duration syntax: one or more <number><unit>, units in decreasing order.
_UNITS = {
    "y": 365 * 86400.0,
    "w": 7 * 86400.0,
    "d": 86400.0,
    "h": 3600.0,
    "m": 60.0,
    "s": 1.0,
    "ms": 0.001,
}
_UNIT_ORDER = ["y", "w", "d", "h", "m", "s", "ms"]
_PART = re.compile(r"(\d+(?:\.\d+)?)(ms|y|w|d|h|m|s)")


def parse_duration(
    value: DurationLike, *, field: str = "duration", allow_zero: bool = True
) -> float:
    """Return ``value`` as float seconds.

    Accepts a ``timedelta``, a number of seconds, or a Prometheus duration
    string such as ``"90s"``, ``"5m"``, ``"1h30m"`` (units y w d h m s ms, each
    at most once, largest first). Negative, NaN and infinite durations are
    rejected with :class:`DurationError` naming ``field``.

    >>> parse_duration("1h30m")
    5400.0
    """
    if isinstance(value, bool):
        raise DurationError(f"{field}: {value!r} is not a duration")
    if isinstance(value, timedelta):
        seconds = value.total_seconds()
    elif isinstance(value, int | float):
        seconds = float(value)
    elif isinstance(value, str):
        seconds = _parse_duration_string(value, field)
    else:
        raise DurationError(
            f'{field}: {value!r} is not a duration (use seconds, a timedelta or a string like "5m")'
        )
    if math.isnan(seconds) or math.isinf(seconds) or seconds < 0:
        raise DurationError(f"{field}: {value!r} is not a duration (must be finite and >= 0)")
    if seconds == 0 and not allow_zero:
        raise DurationError(f"{field}: {value!r} must be greater than zero")
    return seconds


def _parse_duration_string(text: str, field: str) -> float:
    s = text.strip()
    if not s:
        raise DurationError(f"{field}: {text!r} is not a duration")
    try:
        return float(s)  # "300" or "2.5" are seconds, as in most config files
    except ValueError:
        pass
    pos = 0
    total = 0.0
    last_rank = -1
    for match in _PART.finditer(s):
        unit = match.group(2)
        rank = _UNIT_ORDER.index(unit)
        if match.start() != pos or rank <= last_rank:
            break
        total += float(match.group(1)) * _UNITS[unit]
        last_rank = rank
        pos = match.end()
    if pos != len(s) or last_rank < 0:
        raise DurationError(
            f'{field}: {text!r} is not a duration (expected e.g. "90s", "5m", "1h30m")'
        )
    return total


def format_duration(seconds: float) -> str:
    """Render seconds as a Prometheus duration string (``5400.0`` -> ``"1h30m"``)."""
    if seconds == 0:
        return "0s"
    ms = round(seconds * 1000)
    parts = []
    for unit in _UNIT_ORDER:
        size = round(_UNITS[unit] * 1000)
        if ms >= size:
            count, ms = divmod(ms, size)
            parts.append(f"{count}{unit}")
    return "".join(parts)


def to_timestamp(value: TimeLike, *, field: str = "timestamp") -> float:
    """Return an instant as float epoch seconds.

    Accepts an aware ``datetime`` (a naive one is taken as UTC) or epoch seconds.
    """
    if isinstance(value, datetime):
        if value.tzinfo is None:
            value = value.replace(tzinfo=UTC)
        return value.timestamp()
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise InvalidSampleError(
            f"{field}: {value!r} is not a time (use a datetime or epoch seconds)"
        )
    ts = float(value)
    if math.isnan(ts) or math.isinf(ts):
        raise InvalidSampleError(f"{field}: {value!r} is not a finite time")
    return ts
