"""Token buckets: a pure rate limiter, time as an argument.

A bucket holds up to ``capacity`` tokens and gains ``per_second`` tokens per
second; a notification passes when a whole token is there to take. Nothing
here reads a clock, so a bucket is a value that snapshots as two floats.
"""

from __future__ import annotations

import math

import attrs

from alertkit._core.timeutil import DurationLike, parse_duration
from alertkit._errors import ConfigError

__all__ = ["RateLimit", "TokenBucket"]

# Float refills may land a hair under a whole token at the computed ready time; without
# this slack a caller woken at ready_at() would find the bucket not ready and spin.
_SLACK = 1e-9


def _number(value: object) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ConfigError(f"rate limit: {value!r} is not a number")
    return float(value)


def _positive(instance: object, attribute: attrs.Attribute[float], value: float) -> None:
    if (isinstance(value, bool) or not isinstance(value, int | float) or math.isnan(value)
            or math.isinf(value) or value <= 0):
        raise ConfigError(f"rate limit {attribute.name}: {value!r} must be a number > 0")


def _capacity(instance: object, attribute: attrs.Attribute[float], value: float) -> None:
    _positive(instance, attribute, value)
    if value < 1:
        raise ConfigError(f"rate limit capacity: {value!r} must be at least 1 (one notification)")


@attrs.frozen
class RateLimit:
    """At most ``capacity`` notifications in a burst, refilled at ``per_second``.

    ``RateLimit.per(10, "1h")`` allows 10 at once and 10 per hour on average.
    """

    capacity: float = attrs.field(converter=_number, validator=_capacity)
    per_second: float = attrs.field(converter=_number, validator=_positive)

    @classmethod
    def per(cls, count: float, period: DurationLike) -> RateLimit:
        """``count`` notifications per ``period`` (a duration), with a burst of ``count``."""
        try:
            seconds = parse_duration(period, field="rate limit period", allow_zero=False)
        except ValueError as exc:
            raise ConfigError(str(exc)) from None
        return cls(count, float(count) / seconds)


class TokenBucket:
    """The mutable fill level of one :class:`RateLimit` (slotted; lives in the state)."""

    __slots__ = ("tokens", "updated_at")

    def __init__(self, tokens: float, updated_at: float) -> None:
        self.tokens = tokens
        self.updated_at = updated_at

    @classmethod
    def full(cls, limit: RateLimit, now: float) -> TokenBucket:
        return cls(limit.capacity, now)

    def level(self, limit: RateLimit, now: float) -> float:
        """Tokens available at ``now`` (never more than the capacity)."""
        elapsed = now - self.updated_at
        if elapsed <= 0:
            return self.tokens
        return min(limit.capacity, self.tokens + elapsed * limit.per_second)

    def ready(self, limit: RateLimit, now: float) -> bool:
        return self.level(limit, now) >= 1.0 - _SLACK

    def take(self, limit: RateLimit, now: float) -> None:
        """Spend one token at ``now`` (the caller checked :meth:`ready`)."""
        if now > self.updated_at:
            self.tokens = self.level(limit, now)
            self.updated_at = now
        self.tokens -= 1.0

    def ready_at(self, limit: RateLimit, now: float) -> float:
        """The earliest time at or after ``now`` when a whole token is there."""
        level = self.level(limit, now)
        if level >= 1.0 - _SLACK:
            return now
        return max(now, self.updated_at) + (1.0 - level) / limit.per_second
