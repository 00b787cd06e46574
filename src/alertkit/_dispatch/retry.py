"""When to try a failed delivery again, and when to stop trying a notifier (sans-I/O).

Everything here is pure: time (``now``) and randomness (a ``random.Random``)
are arguments, so a test drives it with a fake clock and a seeded generator
and gets the same schedule every time.

- :class:`RetryPolicy` turns "attempt *n* failed at *now*" into
  :class:`RetryAt` (exponential backoff with *full jitter*, never earlier than
  the service's ``Retry-After``) or :class:`GiveUp` (too many attempts, or past
  the deadline).
- :class:`CircuitBreaker` is the per-notifier health state: it opens after
  ``failure_threshold`` consecutive failures, lets one probe through after
  ``cool_down`` (half-open) and closes on success.
- :func:`parse_retry_after` reads an HTTP ``Retry-After`` value (delta-seconds
  or an HTTP-date).
"""

from __future__ import annotations

import enum
import math
import random
from datetime import UTC
from email.utils import parsedate_to_datetime

import attrs

from alertkit._core.timeutil import DurationLike, parse_duration
from alertkit._errors import NotifierConfigError

__all__ = [
    "BreakerState",
    "CircuitBreaker",
    "GiveUp",
    "RetryAt",
    "RetryPolicy",
    "parse_retry_after",
]


@attrs.frozen
class RetryAt:
    """Try again at ``at`` (epoch seconds)."""

    at: float


@attrs.frozen
class GiveUp:
    """Stop: the delivery has failed for good (``reason`` says why)."""

    reason: str


def _positive_seconds(value: DurationLike) -> float:
    return parse_duration(value, field="retry policy duration", allow_zero=False)


def _seconds(value: DurationLike) -> float:
    return parse_duration(value, field="cool_down")


def _check_count(instance: object, attribute: attrs.Attribute[int], value: int) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise NotifierConfigError(f"{attribute.name}: {value!r} must be an integer >= 1")


def _optional_seconds(value: DurationLike | None) -> float | None:
    return None if value is None else parse_duration(value, field="deadline", allow_zero=False)


# Past this exponent base * 2**n overflows floats long before it matters: the cap wins.
_MAX_EXPONENT = 60


@attrs.frozen(kw_only=True)
class RetryPolicy:
    """Exponential backoff with full jitter, bounded by attempts and a deadline.

    After attempt number ``attempt`` (1 for the first) fails at ``now``, the
    next attempt is at ``now + uniform(0, min(cap, base * 2 ** (attempt - 1)))``
    (AWS's "full jitter": spreads retries of many senders instead of
    synchronising them), but never before the ``retry_at`` the service asked
    for. The policy gives up once ``max_attempts`` attempts have failed, or
    when the next attempt would fall after ``first_attempt_at + deadline``
    because the service asks to wait that long; a jittered delay that would
    overshoot the deadline is shortened to end at it, so the last attempt is
    made at the deadline at the latest.

    Durations accept seconds, ``timedelta`` or strings such as ``"5m"``.

    >>> import random
    >>> policy = RetryPolicy(base=1, cap=60, max_attempts=3, deadline="1h")
    >>> policy.next_attempt(1, now=100.0, first_attempt_at=100.0, rng=random.Random(1))
    RetryAt(at=100.1343642441124)
    >>> policy.next_attempt(3, now=110.0, first_attempt_at=100.0, rng=random.Random(1))
    GiveUp(reason='gave up after 3 attempts')
    """

    base: float = attrs.field(default=1.0, converter=_positive_seconds)
    cap: float = attrs.field(default=300.0, converter=_positive_seconds)
    max_attempts: int = attrs.field(default=10, validator=_check_count)
    deadline: float | None = attrs.field(default=3600.0, converter=_optional_seconds)

    def backoff_ceiling(self, attempt: int) -> float:
        """The largest delay after failed attempt ``attempt`` (1-based).

        ``min(cap, base * 2 ** (attempt - 1))``.
        """
        exponent = min(max(attempt - 1, 0), _MAX_EXPONENT)
        return min(self.cap, self.base * 2.0**exponent)

    def deadline_at(self, first_attempt_at: float) -> float:
        """The time after which no attempt is scheduled (``inf`` without a deadline)."""
        return math.inf if self.deadline is None else first_attempt_at + self.deadline

    def next_attempt(
        self,
        attempt: int,
        *,
        now: float,
        first_attempt_at: float,
        rng: random.Random,
        retry_at: float | None = None,
    ) -> RetryAt | GiveUp:
        """Decide what follows failed attempt number ``attempt`` (1-based) at ``now``.

        ``first_attempt_at`` anchors the deadline; ``retry_at`` is the earliest
        time the service allows (from ``Retry-After``), if it said.
        """
        if attempt >= self.max_attempts:
            return GiveUp(f"gave up after {attempt} attempt{'s' if attempt != 1 else ''}")
        deadline_at = self.deadline_at(first_attempt_at)
        if now >= deadline_at:
            return GiveUp(f"gave up after {attempt} attempts: deadline of "
                          f"{self.deadline:g}s reached")
        # random() is in [0, 1): the delay is in [0, ceiling), inside [0, cap].
        at = now + rng.random() * self.backoff_ceiling(attempt)
        if retry_at is not None:
            if retry_at > deadline_at:
                return GiveUp(f"gave up after {attempt} attempts: the service asked to wait "
                              f"until after the deadline of {self.deadline:g}s")
            at = max(at, retry_at)
        # Capping at the deadline keeps the service's wait: retry_at <= deadline_at here.
        return RetryAt(min(at, deadline_at))


class BreakerState(enum.Enum):
    """The three states of a circuit breaker."""

    CLOSED = "closed"
    OPEN = "open"
    HALF_OPEN = "half_open"

    def __str__(self) -> str:
        return self.value


@attrs.define
class CircuitBreaker:
    """Per-notifier circuit breaker, as pure state: the caller passes ``now``.

    - closed: every attempt is allowed; ``failure_threshold`` consecutive
      failures open it;
    - open: nothing is allowed until ``cool_down`` has passed since it opened;
    - half-open: exactly one probe is allowed; its success closes the breaker,
      its failure opens it again for another ``cool_down``.

    >>> b = CircuitBreaker(failure_threshold=2, cool_down=30)
    >>> b.record_failure(0.0); b.record_failure(1.0); b.state
    <BreakerState.OPEN: 'open'>
    >>> b.allow(10.0), b.allow(31.0), b.allow(31.5)
    (False, True, False)
    >>> b.record_success(); b.state
    <BreakerState.CLOSED: 'closed'>
    """

    failure_threshold: int = attrs.field(default=5, validator=_check_count)
    cool_down: float = attrs.field(default=30.0, converter=_seconds)
    state: BreakerState = attrs.field(default=BreakerState.CLOSED, init=False)
    failures: int = attrs.field(default=0, init=False)
    opened_at: float | None = attrs.field(default=None, init=False)

    def allow(self, now: float) -> bool:
        """May an attempt start at ``now``? A ``True`` in half-open state takes the probe slot."""
        if self.state is BreakerState.CLOSED:
            return True
        if self.state is BreakerState.OPEN and now >= self.probe_at():
            self.state = BreakerState.HALF_OPEN  # this caller is the single probe
            return True
        return False

    def probe_at(self) -> float:
        """When an open breaker lets its probe through (``-inf`` unless open)."""
        if self.state is not BreakerState.OPEN or self.opened_at is None:
            return -math.inf
        return self.opened_at + self.cool_down

    def record_success(self) -> None:
        """The service answered (delivered, or a permanent error: it is up): close."""
        self.state = BreakerState.CLOSED
        self.failures = 0
        self.opened_at = None

    def record_failure(self, now: float) -> None:
        """A retryable failure (timeout, connection error, 5xx, 429) at ``now``."""
        self.failures += 1
        if self.state is BreakerState.HALF_OPEN or self.failures >= self.failure_threshold:
            self.state = BreakerState.OPEN
            self.opened_at = now


def parse_retry_after(value: str | bytes | None, *, now: float) -> float | None:
    """The epoch time a ``Retry-After`` header value points to, or ``None`` if unusable.

    Accepts delta-seconds (``"120"``; a decimal such as ``"1.5"`` too, as some
    services send) and HTTP-dates (``"Wed, 21 Oct 2015 07:28:00 GMT"``). A date
    in the past gives ``now``. Garbage, negative or non-finite values give
    ``None``: the backoff then decides alone.

    >>> parse_retry_after("120", now=1000.0)
    1120.0
    >>> parse_retry_after("Thu, 01 Jan 1970 00:20:00 GMT", now=0.0)
    1200.0
    >>> parse_retry_after("soon", now=0.0) is None
    True
    """
    if value is None:
        return None
    if isinstance(value, bytes):
        value = value.decode("latin-1")
    text = value.strip()
    if not text:
        return None
    if text[0].isdigit():
        try:
            seconds = float(text)
        except ValueError:
            return None
        if not math.isfinite(seconds) or seconds < 0:
            return None
        return now + seconds
    try:
        when = parsedate_to_datetime(text)
    except (TypeError, ValueError, IndexError):
        return None
    if when.tzinfo is None:  # RFC 9110 dates are GMT; be lenient with a missing zone
        when = when.replace(tzinfo=UTC)
    return max(now, when.timestamp())
