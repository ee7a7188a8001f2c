"""The daemon's health for `/healthz`: the last block it ticked and when, and its outages."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Any

from throne.observability.outages import Outages


class Heartbeat:
    """Thread-safe; ``clock`` is monotonic seconds (injectable so tests need not sleep).

    ``outages`` is where the daemon's supervisor records failing loops; any open outage makes
    the daemon unhealthy, whatever the age of its last tick.
    """

    def __init__(
        self, clock: Callable[[], float] = time.monotonic, outages: Outages | None = None
    ) -> None:
        self._clock = clock
        self._lock = threading.Lock()
        self._started = clock()
        self._block: int | None = None
        self._at: float | None = None
        self.outages = outages if outages is not None else Outages(clock)

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
        fresh = max_staleness is None or age <= max_staleness
        outages = self.outages.describe()
        state = "ok" if fresh else "stale"
        if at is None and fresh:
            state = "starting"
        if outages:
            state = "outage"
        return fresh and not outages, {
            "status": state,
            "outages": outages,
            "last_tick_block": block,
            "last_tick_age_seconds": None if at is None else round(age, 3),
            "seconds_since_start": round(now - self._started, 3),
            "max_staleness_seconds": max_staleness,
        }
