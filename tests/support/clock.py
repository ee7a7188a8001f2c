"""A clock the test moves by hand, for code that takes its time from a ``clock()`` callable."""

from __future__ import annotations

import threading


class FakeClock:
    """Seconds since an arbitrary start; only `advance` (or setting ``now``) moves it. Safe to
    read from the threads of the code under test."""

    def __init__(self, now: float = 1000.0) -> None:
        self.now = now
        self._lock = threading.Lock()

    def __call__(self) -> float:
        with self._lock:
            return self.now

    def advance(self, seconds: float) -> None:
        with self._lock:
            self.now += seconds
