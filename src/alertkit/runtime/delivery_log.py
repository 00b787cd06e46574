"""The delivery log: every attempt, queryable, and the counters operators watch.

Bounded in memory (a ring buffer of the last ``capacity`` records); when the
delivery worker runs on a :class:`~alertkit.SqliteOutbox`, every record is
also written there, for history beyond the ring.
"""

from __future__ import annotations

import enum
import math
from collections import deque
from collections.abc import Iterator

import attrs

from alertkit._errors import NotifierConfigError

__all__ = ["AttemptOutcome", "AttemptRecord", "DeliveryLog", "DeliveryStats"]


class AttemptOutcome(enum.Enum):
    """What a record reports.

    Attempts: ``DELIVERED``; ``RETRY`` (failed, another attempt is
    scheduled); ``FAILED`` (permanent failure, final); ``GAVE_UP`` (the retry
    policy stopped, final). Not attempts (``attempt`` is the count so far):
    ``TEMPLATE_ERROR`` (a text fell back to a safe default), ``CORRUPT`` (an
    outbox row could not be read back and was set aside), ``STORE_ERROR``
    (the outbox failed; the delivery went on from memory).
    """

    DELIVERED = "delivered"
    RETRY = "retry"
    FAILED = "failed"
    GAVE_UP = "gave_up"
    TEMPLATE_ERROR = "template_error"
    CORRUPT = "corrupt"
    STORE_ERROR = "store_error"

    def __str__(self) -> str:
        return self.value


_ATTEMPTS = {AttemptOutcome.DELIVERED, AttemptOutcome.RETRY, AttemptOutcome.FAILED,
             AttemptOutcome.GAVE_UP}


@attrs.frozen
class AttemptRecord:
    """One line of the delivery log.

    ``at`` is the runtime clock's time (epoch seconds), ``latency`` the
    attempt's wall-clock duration in seconds (``None`` when nothing was
    sent), ``error`` the secret-free reason of a failure.
    """

    at: float
    receiver: str
    notifier: str
    idempotency_key: str
    attempt: int
    outcome: AttemptOutcome
    status_code: int | None = None
    error: str = ""
    latency: float | None = None

    @property
    def is_attempt(self) -> bool:
        """True when this record reports a real attempt (something was sent or tried)."""
        return self.outcome in _ATTEMPTS and self.latency is not None


@attrs.frozen
class DeliveryStats:
    """A snapshot of the delivery counters since the log was created.

    ``sent``: deliveries that succeeded; ``failed``: deliveries that ended
    without success (permanent failures plus ``gave_up``); ``retried``:
    failed attempts followed by another; ``attempts``: attempts made;
    ``dropped_by_silence``: notifications the dispatcher did not send because
    of a silence (it counts them with :meth:`DeliveryLog.count_silenced`);
    ``deferred_by_breaker``: attempts postponed by an open circuit breaker.
    Latency percentiles (seconds) cover the attempts still in the ring
    buffer; ``None`` until there is one.
    """

    sent: int = 0
    failed: int = 0
    gave_up: int = 0
    retried: int = 0
    attempts: int = 0
    dropped_by_silence: int = 0
    deferred_by_breaker: int = 0
    template_errors: int = 0
    store_errors: int = 0
    p50: float | None = None
    p90: float | None = None
    p99: float | None = None


def _percentile(ordered: list[float], q: float) -> float | None:
    """Nearest-rank percentile of sorted data (``q`` in [0, 100])."""
    if not ordered:
        return None
    rank = max(1, math.ceil(q / 100 * len(ordered)))
    return ordered[rank - 1]


class DeliveryLog:
    """A bounded, queryable log of delivery attempts, plus counters.

    >>> log = DeliveryLog(capacity=2)
    >>> for i in range(3):
    ...     log.record(AttemptRecord(float(i), "ops", "hook", f"k{i}", 1,
    ...                              AttemptOutcome.DELIVERED, 200, latency=0.01))
    >>> [r.idempotency_key for r in log.query(receiver="ops")], log.stats().sent
    (['k1', 'k2'], 3)
    """

    def __init__(self, capacity: int = 10_000) -> None:
        if isinstance(capacity, bool) or not isinstance(capacity, int) or capacity < 1:
            raise NotifierConfigError(
                f"DeliveryLog capacity must be an integer >= 1, got {capacity!r}"
            )
        self.capacity = capacity
        self._records: deque[AttemptRecord] = deque(maxlen=capacity)
        self._latencies: deque[float] = deque(maxlen=capacity)
        self._unsaved: list[AttemptRecord] | None = None
        self._sent = self._failed = self._gave_up = self._retried = self._attempts = 0
        self._silenced = self._deferred = self._template_errors = self._store_errors = 0

    def record(self, rec: AttemptRecord) -> None:
        """Append a record and count it."""
        self._records.append(rec)
        if self._unsaved is not None:
            self._unsaved.append(rec)
        outcome = rec.outcome
        if rec.latency is not None:
            self._latencies.append(rec.latency)
        if outcome is AttemptOutcome.DELIVERED:
            self._sent += 1
        elif outcome is AttemptOutcome.RETRY:
            self._retried += 1
        elif outcome is AttemptOutcome.FAILED:
            self._failed += 1
        elif outcome is AttemptOutcome.GAVE_UP:
            self._failed += 1
            self._gave_up += 1
        elif outcome is AttemptOutcome.TEMPLATE_ERROR:
            self._template_errors += 1
        elif outcome is AttemptOutcome.STORE_ERROR:
            self._store_errors += 1
        if outcome in _ATTEMPTS and rec.latency is not None:
            self._attempts += 1

    def count_silenced(self, n: int = 1) -> None:
        """Count notifications dropped because of a silence (the dispatcher calls this)."""
        self._silenced += n

    def count_deferred(self, n: int = 1) -> None:
        """Count attempts postponed by an open circuit breaker."""
        self._deferred += n

    def query(
        self,
        *,
        receiver: str | None = None,
        notifier: str | None = None,
        idempotency_key: str | None = None,
        since: float | None = None,
        until: float | None = None,
        outcome: AttemptOutcome | str | None = None,
        limit: int | None = None,
    ) -> list[AttemptRecord]:
        """Records in the ring buffer matching every given filter, oldest first.

        ``since`` is inclusive, ``until`` exclusive; ``limit`` keeps the newest.
        """
        wanted = AttemptOutcome(outcome) if outcome is not None else None
        out = [
            r for r in self._records
            if (receiver is None or r.receiver == receiver)
            and (notifier is None or r.notifier == notifier)
            and (idempotency_key is None or r.idempotency_key == idempotency_key)
            and (since is None or r.at >= since)
            and (until is None or r.at < until)
            and (wanted is None or r.outcome is wanted)
        ]
        if limit is not None:
            out = out[-limit:] if limit > 0 else []
        return out

    def stats(self) -> DeliveryStats:
        ordered = sorted(self._latencies)
        return DeliveryStats(
            sent=self._sent,
            failed=self._failed,
            gave_up=self._gave_up,
            retried=self._retried,
            attempts=self._attempts,
            dropped_by_silence=self._silenced,
            deferred_by_breaker=self._deferred,
            template_errors=self._template_errors,
            store_errors=self._store_errors,
            p50=_percentile(ordered, 50),
            p90=_percentile(ordered, 90),
            p99=_percentile(ordered, 99),
        )

    # -- persistence hook (used by the delivery worker) -----------------------------------

    def keep_unsaved(self) -> None:
        """From now on, remember records until :meth:`take_unsaved` hands them to a store."""
        if self._unsaved is None:
            self._unsaved = []

    def take_unsaved(self) -> list[AttemptRecord]:
        records, self._unsaved = (self._unsaved or []), ([] if self._unsaved is not None else None)
        return records

    def __len__(self) -> int:
        return len(self._records)

    def __iter__(self) -> Iterator[AttemptRecord]:
        return iter(list(self._records))

    def __repr__(self) -> str:
        s = self.stats()
        return (f"<DeliveryLog {len(self)}/{self.capacity} records sent={s.sent} "
                f"failed={s.failed} retried={s.retried}>")
