"""The pure retry policy, circuit breaker and Retry-After parsing."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

import alertkit as ak

# -- backoff ------------------------------------------------------------------------------


def test_full_jitter_delays_stay_under_the_exponential_ceiling() -> None:
    policy = ak.RetryPolicy(base=1, cap=8, max_attempts=100_000, deadline=None)
    rng = random.Random(42)
    for attempt, ceiling in [(1, 1), (2, 2), (3, 4), (4, 8), (5, 8), (60, 8), (10_000, 8)]:
        assert policy.backoff_ceiling(attempt) == ceiling
        delays = []
        for _ in range(200):
            d = policy.next_attempt(attempt, now=100.0, first_attempt_at=0.0, rng=rng)
            assert isinstance(d, ak.RetryAt)
            delays.append(d.at - 100.0)
        assert all(0 <= x < ceiling for x in delays)
        # Full jitter: spread over the whole range, not clustered near the ceiling.
        assert min(delays) < ceiling * 0.1 and max(delays) > ceiling * 0.9


def test_a_seeded_generator_gives_the_same_schedule() -> None:
    policy = ak.RetryPolicy(base="500ms", cap="1m")

    def schedule(seed: int) -> list[float]:
        rng = random.Random(seed)
        out = []
        for attempt in range(1, 8):
            d = policy.next_attempt(attempt, now=0.0, first_attempt_at=0.0, rng=rng)
            assert isinstance(d, ak.RetryAt)
            out.append(d.at)
        return out

    assert schedule(7) == schedule(7)
    assert schedule(7) != schedule(8)


def test_retry_after_wins_over_a_shorter_backoff() -> None:
    policy = ak.RetryPolicy(base=1, cap=2)
    d = policy.next_attempt(1, now=100.0, first_attempt_at=100.0, rng=random.Random(0),
                            retry_at=130.0)
    assert d == ak.RetryAt(130.0)
    # ... but a longer backoff is not shortened to it.
    policy = ak.RetryPolicy(base=1000, cap=1000, deadline=None)
    d = policy.next_attempt(1, now=100.0, first_attempt_at=100.0, rng=random.Random(0),
                            retry_at=101.0)
    assert isinstance(d, ak.RetryAt) and d.at >= 101.0


def test_gives_up_after_max_attempts() -> None:
    policy = ak.RetryPolicy(max_attempts=3)
    rng = random.Random(1)
    assert isinstance(policy.next_attempt(2, now=0, first_attempt_at=0, rng=rng), ak.RetryAt)
    assert policy.next_attempt(3, now=0, first_attempt_at=0, rng=rng) == ak.GiveUp(
        "gave up after 3 attempts")
    assert ak.RetryPolicy(max_attempts=1).next_attempt(
        1, now=0, first_attempt_at=0, rng=rng) == ak.GiveUp("gave up after 1 attempt")


def test_deadline_caps_the_schedule_and_then_gives_up() -> None:
    policy = ak.RetryPolicy(base=100, cap=100, deadline="1m", max_attempts=100)
    rng = random.Random(3)
    # A jittered delay past the deadline is cut to end at it: one last attempt there.
    ats = []
    for _ in range(50):
        d = policy.next_attempt(5, now=50.0, first_attempt_at=0.0, rng=rng)
        assert isinstance(d, ak.RetryAt)
        ats.append(d.at)
    assert max(ats) == 60.0 and min(ats) >= 50.0
    # At the deadline: give up.
    d = policy.next_attempt(6, now=60.0, first_attempt_at=0.0, rng=rng)
    assert isinstance(d, ak.GiveUp) and "deadline" in d.reason
    # A Retry-After beyond the deadline: give up now rather than wait for nothing.
    d = policy.next_attempt(1, now=10.0, first_attempt_at=0.0, rng=rng, retry_at=3600.0)
    assert isinstance(d, ak.GiveUp) and "asked to wait" in d.reason


@pytest.mark.parametrize(("kwargs", "message"), [
    ({"base": 0}, "greater than zero"),
    ({"cap": "-1s"}, "not a duration"),
    ({"max_attempts": 0}, "max_attempts"),
    ({"max_attempts": 2.5}, "max_attempts"),
    ({"deadline": "soon"}, "deadline"),
])
def test_bad_policy_settings_are_precise_errors(kwargs: dict[str, object], message: str) -> None:
    with pytest.raises(ak.AlertkitError, match=message):
        ak.RetryPolicy(**kwargs)  # type: ignore[arg-type]


@given(
    attempt=st.integers(1, 200),
    base=st.floats(0.001, 100),
    cap=st.floats(0.001, 10_000),
    now=st.floats(0, 1e9),
    elapsed=st.floats(0, 1e5),
    deadline=st.one_of(st.none(), st.floats(0.001, 1e5)),
    retry_after=st.one_of(st.none(), st.floats(0, 1e5)),
    max_attempts=st.integers(1, 50),
    seed=st.integers(0, 2**32),
)
def test_policy_properties(attempt: int, base: float, cap: float, now: float, elapsed: float,
                           deadline: float | None, retry_after: float | None,
                           max_attempts: int, seed: int) -> None:
    policy = ak.RetryPolicy(base=base, cap=cap, deadline=deadline, max_attempts=max_attempts)
    first = now - elapsed
    retry_at = None if retry_after is None else now + retry_after
    d = policy.next_attempt(attempt, now=now, first_attempt_at=first, rng=random.Random(seed),
                            retry_at=retry_at)
    if attempt >= max_attempts:
        assert isinstance(d, ak.GiveUp)
        return
    deadline_at = policy.deadline_at(first)
    if now >= deadline_at:
        assert isinstance(d, ak.GiveUp)
        return
    if isinstance(d, ak.GiveUp):
        # The only other reason: the service asked to wait past the deadline.
        assert retry_at is not None and retry_at > deadline_at
        return
    assert d.at >= now
    assert d.at <= deadline_at  # never after the deadline
    if retry_at is not None:
        assert d.at >= retry_at  # never before the service allows
    else:
        assert d.at - now <= min(cap, policy.backoff_ceiling(attempt))  # delay in [0, cap]


@given(st.integers(0, 2**32), st.integers(1, 30))
def test_attempt_counts_are_bounded_whatever_happens(seed: int, max_attempts: int) -> None:
    policy = ak.RetryPolicy(base=1, cap=30, max_attempts=max_attempts, deadline="1h")
    rng = random.Random(seed)
    now, attempts = 0.0, 0
    while True:
        attempts += 1
        d = policy.next_attempt(attempts, now=now, first_attempt_at=0.0, rng=rng)
        if isinstance(d, ak.GiveUp):
            break
        assert d.at >= now
        now = d.at
    assert attempts <= max_attempts
    assert now <= 3600.0


# -- circuit breaker ------------------------------------------------------------------------


def test_breaker_opens_after_consecutive_failures_only() -> None:
    b = ak.CircuitBreaker(failure_threshold=3, cool_down="30s")
    b.record_failure(0)
    b.record_failure(1)
    b.record_success()  # not consecutive any more
    b.record_failure(2)
    b.record_failure(3)
    assert b.state is ak.BreakerState.CLOSED and b.allow(3)
    b.record_failure(4)
    assert b.state is ak.BreakerState.OPEN
    assert not b.allow(4) and not b.allow(33.9)
    assert b.probe_at() == 34.0


def test_half_open_lets_a_single_probe_through() -> None:
    b = ak.CircuitBreaker(failure_threshold=1, cool_down=10)
    b.record_failure(0)
    assert [b.allow(t) for t in (5, 10, 10, 11)] == [False, True, False, False]
    assert b.state is ak.BreakerState.HALF_OPEN
    b.record_failure(12)  # the probe failed: open again, for a new cool-down
    assert b.state is ak.BreakerState.OPEN and b.probe_at() == 22
    assert not b.allow(21) and b.allow(22)
    b.record_success()  # the probe succeeded: closed
    assert b.state is ak.BreakerState.CLOSED and b.failures == 0
    assert all(b.allow(23) for _ in range(5))


@given(st.lists(st.tuples(st.sampled_from(["ok", "fail", "allow"]), st.floats(0, 10)),
                max_size=60),
       st.integers(1, 5), st.floats(0, 20))
def test_breaker_never_allows_two_probes_at_once(events: list[tuple[str, float]],
                                                 threshold: int, cool_down: float) -> None:
    b = ak.CircuitBreaker(failure_threshold=threshold, cool_down=cool_down)
    now = 0.0
    probes_in_flight = 0
    for kind, dt in events:
        now += dt
        if kind == "allow":
            was = b.state
            allowed = b.allow(now)
            if was is ak.BreakerState.HALF_OPEN:
                assert not allowed
            if was is ak.BreakerState.OPEN and allowed:
                probes_in_flight += 1
                assert probes_in_flight == 1
        elif kind == "ok":
            b.record_success()
            probes_in_flight = 0
        else:
            b.record_failure(now)
            probes_in_flight = 0
        if b.state is ak.BreakerState.OPEN:
            assert b.opened_at is not None and b.probe_at() == b.opened_at + cool_down


# -- Retry-After -----------------------------------------------------------------------------


@pytest.mark.parametrize(("value", "expected"), [
    ("120", 1120.0),
    ("0", 1000.0),
    (" 7 ", 1007.0),
    (b"30", 1030.0),
    ("1.5", 1001.5),
    ("Thu, 01 Jan 1970 00:20:00 GMT", 1200.0),
    ("Thursday, 01-Jan-70 00:20:00 GMT", 1200.0),  # RFC 850, obsolete but allowed
    ("Thu Jan  1 00:20:00 1970", 1200.0),  # asctime
    ("Thu, 01 Jan 1970 00:00:01 GMT", 1000.0),  # in the past: now
    ("-5", None),
    ("soon", None),
    ("", None),
    (None, None),
    ("1e999", None),
    ("nan", None),
    ("Fri, 99 Foo 2024 25:61:00 GMT", None),
])
def test_parse_retry_after(value: str | bytes | None, expected: float | None) -> None:
    assert ak.parse_retry_after(value, now=1000.0) == expected


def test_parse_retry_after_with_a_real_date() -> None:
    now = datetime(2024, 5, 1, 12, 0, tzinfo=UTC)
    header = (now + timedelta(seconds=90)).strftime("%a, %d %b %Y %H:%M:%S GMT")
    assert ak.parse_retry_after(header, now=now.timestamp()) == now.timestamp() + 90


@given(st.text(max_size=40), st.floats(0, 2e9))
def test_parse_retry_after_never_raises_and_never_goes_back(text: str, now: float) -> None:
    at = ak.parse_retry_after(text, now=now)
    assert at is None or at >= now
