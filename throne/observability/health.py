"""The daemon's heartbeat: the last block it ticked and when, for `/healthz`."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Any


class Heartbeat:
    """Thread-safe; ``clock`` is monotonic seconds (injectable so tests need not sleep)."""

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self._lock = threading.Lock()
        self._started = clock()
        self._block: int | None = None
        self._at: float | None = None

    def beat(self, block: int) -> None:
        with self._lock:
            self._block = block
            self._at = self._clock()

    def status(self, max_staleness: float | None = None) -> tuple[bool, dict[str, Any]]:
        """(healthy, body). Before the first tick, the age counts from start-up."""
        with self._lock:
            block, at = self._block, self._at
        now = self._clock()
        age = now - (self._started if at is None else at)
        healthy = max_staleness is None or age <= max_staleness
        state = "ok" if healthy else "stale"
        if at is None and healthy:
            state = "starting"
        return healthy, {
            "status": state,
            "last_tick_block": block,
            "last_tick_age_seconds": None if at is None else round(age, 3),
            "seconds_since_start": round(now - self._started, 3),
            "max_staleness_seconds": max_staleness,
        }
