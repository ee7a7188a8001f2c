"""Retry timing, Retry-After parsing and the circuit breaker's states, without a network."""

from __future__ import annotations

import random
from datetime import UTC, datetime

from hypothesis import given
from hypothesis import strategies as st

from tests.support.clock import FakeClock
from throne.adapters.inference import BreakerPolicy, CircuitBreaker, RetryPolicy
from throne.adapters.inference.policy import parse_retry_after


@given(attempt=st.integers(1, 30), seed=st.integers(0, 2**32))
def test_backoff_doubles_within_its_jitter_and_never_passes_the_cap(
    attempt: int, seed: int
) -> None:
    policy = RetryPolicy(base=1.0, cap=30.0, jitter=0.1)
    delay = policy.backoff(attempt, random.Random(seed))
    nominal = min(30.0, 2.0 ** (attempt - 1))
    assert nominal * 0.9 <= delay <= nominal * 1.1


def test_retry_after_reads_seconds_and_http_dates() -> None:
    now = datetime(2026, 1, 1, 12, 0, 0, tzinfo=UTC)
    assert parse_retry_after("2") == 2.0
    assert parse_retry_after(" 0.5 ") == 0.5
    assert parse_retry_after("Thu, 01 Jan 2026 12:00:07 GMT", now) == 7.0
    assert parse_retry_after("Thu, 01 Jan 2026 11:00:00 GMT", now) == 0.0
    assert parse_retry_after("soon") is None
    assert parse_retry_after(None) is None


def test_the_breaker_lets_one_probe_through_after_the_cooldown() -> None:
    clock = FakeClock(0.0)
    breaker = CircuitBreaker(BreakerPolicy(threshold=3, cooldown=10), clock)
    for _ in range(2):
        breaker.record_failure()
    assert breaker.state == "closed" and breaker.allow()
    breaker.record_failure()
    assert breaker.state == "open" and not breaker.allow()
    clock.now = 10
    assert breaker.state == "half_open"
    assert breaker.allow()
    assert not breaker.allow()  # one probe at a time
    breaker.record_failure()
    assert breaker.state == "open"  # a failed probe reopens at once
    clock.now = 20
    assert breaker.allow()
    breaker.record_success()
    assert breaker.state == "closed" and breaker.consecutive_failures == 0


def test_a_cancelled_probe_lets_the_next_call_probe() -> None:
    clock = FakeClock(0.0)
    breaker = CircuitBreaker(BreakerPolicy(threshold=1, cooldown=1), clock)
    breaker.record_failure()
    clock.now = 1
    assert breaker.allow()
    breaker.release_probe()
    assert breaker.allow()


def test_successes_between_failures_keep_the_circuit_closed() -> None:
    breaker = CircuitBreaker(BreakerPolicy(threshold=2, cooldown=10), FakeClock(0.0))
    for _ in range(5):
        breaker.record_failure()
        breaker.record_success()
    assert breaker.state == "closed"
