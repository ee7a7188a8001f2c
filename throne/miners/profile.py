"""Who a local miner is, how good it is, and what faults it injects."""

from __future__ import annotations

import hashlib
import random
from dataclasses import dataclass, field

NESTED_DEPTH = 1100
"""How deep a ``nested_rate`` answer nests: past the standard library parser's recursion limit."""


@dataclass(frozen=True)
class Faults:
    """Faults injected before answering; rates are per request, in [0, 1].

    ``latency_ms`` ± ``latency_jitter_ms`` (uniform) delays every answer. ``fail_first`` makes
    the first N requests answer 503, so a retry can be seen to succeed. ``error_rate`` answers
    500, ``rate_limit_rate`` answers 429 with ``Retry-After: retry_after``, ``hang_rate`` never
    answers, ``malformed_rate`` answers 200 with a truncated JSON body, ``nested_rate`` answers
    200 with a JSON body nested `NESTED_DEPTH` levels deep (2.2 KB that once stalled a contest).
    """

    latency_ms: float = 0.0
    latency_jitter_ms: float = 0.0
    fail_first: int = 0
    error_rate: float = 0.0
    rate_limit_rate: float = 0.0
    retry_after: float | None = 1.0
    hang_rate: float = 0.0
    malformed_rate: float = 0.0
    nested_rate: float = 0.0

    def __post_init__(self) -> None:
        rates = (
            self.error_rate,
            self.rate_limit_rate,
            self.hang_rate,
            self.malformed_rate,
            self.nested_rate,
        )
        if any(not 0.0 <= r <= 1.0 for r in rates) or sum(rates) > 1.0:
            raise ValueError("fault rates must lie in [0, 1] and sum to at most 1")
        if self.latency_ms < 0 or self.latency_jitter_ms < 0 or self.fail_first < 0:
            raise ValueError("latency and fail_first must not be negative")

    def latency(self, rng: random.Random) -> float:
        """One delay in seconds."""
        jitter = rng.uniform(-self.latency_jitter_ms, self.latency_jitter_ms)
        return max(0.0, self.latency_ms + jitter) / 1000.0


@dataclass(frozen=True)
class MinerProfile:
    """A local miner: served under ``name``; ``skill`` is its chance to solve a task."""

    name: str
    revision: str = "main"
    skill: float = 1.0
    faults: Faults = field(default_factory=Faults)

    def __post_init__(self) -> None:
        if not 0.0 <= self.skill <= 1.0:
            raise ValueError(f"skill must lie in [0, 1], got {self.skill}")

    def solves(self, env: str, task_id: int) -> bool:
        """Whether this miner answers this task correctly; the same every time it is asked."""
        return _draw(self.name, self.revision, env, task_id, "solve") < self.skill

    def wrong_salt(self, env: str, task_id: int) -> int:
        """Which wrong answer to give, so a miner repeats the same mistake."""
        return int(_draw(self.name, self.revision, env, task_id, "salt") * 2**32)


def _draw(name: str, revision: str, env: str, task_id: int, purpose: str) -> float:
    """A uniform number in [0, 1) from a hash; independent of interpreter and call order."""
    key = "\x1f".join((name, revision, env, str(task_id), purpose)).encode()
    return int.from_bytes(hashlib.sha256(key).digest()[:8], "big") / 2**64
