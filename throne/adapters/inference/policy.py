"""How long to wait, how often to retry, and how much to accept from an endpoint."""

from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime

# Retried: the endpoint is overloaded or briefly broken. Everything else 4xx fails at once.
RETRYABLE_STATUSES = frozenset({408, 425, 429, 500, 502, 503, 504})
# Our own credentials or route were refused: not the model's fault.
INFRA_STATUSES = frozenset({401, 403, 407})

MAX_BODY_BYTES = 1 << 20
"""The largest completion body read by default. An answer is text a model wrote within its
``max_tokens``: a megabyte holds a quarter of a million tokens, more than any context window
serves in one answer, and reading no further bounds what one hostile body costs."""


@dataclass(frozen=True)
class Deadlines:
    """Seconds. ``connect`` and ``read`` bound each attempt; ``total`` bounds the whole call,
    retries and back-off included."""

    connect: float = 10.0
    read: float = 600.0
    total: float = 900.0


@dataclass(frozen=True)
class RetryPolicy:
    """Exponential back-off with jitter: ``base * 2**(n-1) * (1 ± jitter)``, capped.

    ``attempts`` counts the first try, so 1 means no retry. A ``Retry-After`` from the
    endpoint is honoured when it asks for longer than the back-off.
    """

    attempts: int = 3
    base: float = 1.0
    cap: float = 30.0
    jitter: float = 0.1

    def backoff(self, attempt: int, rng: random.Random) -> float:
        """The delay after failed attempt number ``attempt`` (1-based)."""
        delay = min(self.cap, self.base * 2.0 ** (attempt - 1))
        return max(0.0, delay * (1 + rng.uniform(-self.jitter, self.jitter)))


@dataclass(frozen=True)
class Limits:
    """Concurrency bounds (requests in flight) and the largest response body accepted."""

    per_endpoint: int = 16
    overall: int = 256
    max_body_bytes: int = MAX_BODY_BYTES


def parse_retry_after(value: str | None, now: datetime | None = None) -> float | None:
    """Seconds to wait from a ``Retry-After`` header (delta-seconds or an HTTP date)."""
    if value is None:
        return None
    value = value.strip()
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, (when - (now or datetime.now(UTC))).total_seconds())
