"""The status API's reads, built once per change of the log and shared by every request.

A read such as ``/rank`` costs the daemon tens of milliseconds of CPU. Each is kept with the
log's position (its highest notification id) when it was built, and a request is answered from
it while the log has not moved. The position is asked at most once every ``check_every``
seconds (one cheap query); once it has moved, one request rebuilds the read while the others
keep getting the previous one. However many viewers poll, the daemon builds each read at most
once per change of the log and at most once per ``check_every`` seconds.
"""

from __future__ import annotations

import threading
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar, cast

T = TypeVar("T")


@dataclass(frozen=True)
class Snapshot:
    #: the log's position the value was built at (read before building, so never ahead of it)
    position: int
    value: Any


class ReadCache:
    """Thread-safe. ``position`` returns the log's current position (its highest notification
    id, 0 when empty); ``clock`` is monotonic seconds (injectable so that tests need not sleep).
    """

    def __init__(
        self,
        position: Callable[[], int],
        *,
        check_every: float = 1.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._position = position
        self._check_every = check_every
        self._clock = clock
        self._checked: tuple[float, int] | None = None  # (when, position)
        self._check_lock = threading.Lock()
        self._snapshots: dict[str, Snapshot] = {}
        self._building: dict[str, threading.Lock] = {}
        self._building_lock = threading.Lock()
        #: builds per key since start (what the cache is for: tests and benchmarks count them)
        self.builds: Counter[str] = Counter()

    def fresh(self, key: str) -> Any | None:
        """The value of ``key`` if the log was seen at its position within ``check_every``
        seconds; else None. No I/O and no waiting: the path most requests take."""
        snapshot, checked = self._snapshots.get(key), self._checked
        if snapshot is None or checked is None or snapshot.position != checked[1]:
            return None
        return snapshot.value if self._clock() - checked[0] < self._check_every else None

    def read(self, key: str, build: Callable[[], T]) -> T:
        """The value of ``key``, rebuilt first if the log has moved since it was built. While
        another thread rebuilds it, the previous value, at once; blocks only for the first."""
        value = self.fresh(key)
        if value is not None:
            return cast(T, value)
        lock = self._lock_of(key)
        previous = self._snapshots.get(key)
        if previous is None:
            lock.acquire()
        elif not lock.acquire(blocking=False):
            return cast(T, previous.value)
        try:
            position = self.position()
            current = self._snapshots.get(key)
            if current is not None and current.position == position:
                return cast(T, current.value)
            built = build()
            self._snapshots[key] = Snapshot(position, built)
            self.builds[key] += 1
            return built
        finally:
            lock.release()

    def position(self) -> int:
        """The log's position, asked of the log at most once every ``check_every`` seconds."""
        with self._check_lock:
            checked = self._checked
            now = self._clock()
            if checked is not None and now - checked[0] < self._check_every:
                return checked[1]
            position = self._position()
            self._checked = (now, position)
            return position

    def _lock_of(self, key: str) -> threading.Lock:
        with self._building_lock:
            return self._building.setdefault(key, threading.Lock())
