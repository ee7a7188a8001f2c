"""Busy processes that take the CPU from everything else at the same priority: the load that
a second test suite, or any other work of the machine, puts on code whose correctness must
not depend on getting the CPU in time."""

from __future__ import annotations

import os
import subprocess
import sys
from types import TracebackType

# Busy for ``on`` seconds, asleep for ``off``, until ``life`` seconds have passed: bounded even
# should the test that started it die without stopping it.
_HOG = """
import sys, time
on, off, life = map(float, sys.argv[1:])
end = time.monotonic() + life
while time.monotonic() < end:
    busy = time.monotonic() + on
    while time.monotonic() < busy:
        pass
    time.sleep(off)
"""


class CpuHogs:
    """``count`` hogs (default one per core, plus one), each busy ``duty`` of the time: enough
    to keep every core taken, with gaps that leave the lowest priority a little CPU rather
    than none. Each has a session of its own, so where the kernel groups processes by session
    for scheduling (autogroups) each hog weighs as much as the whole of any other session.
    Started on entry, killed and reaped on exit."""

    def __init__(
        self,
        count: int | None = None,
        duty: float = 0.8,
        period_s: float = 0.05,
        life_s: float = 120,
    ) -> None:
        self.count = count or (os.cpu_count() or 1) + 1
        self._args = [str(period_s * duty), str(period_s * (1 - duty)), str(life_s)]
        self._hogs: list[subprocess.Popen[bytes]] = []

    def __enter__(self) -> CpuHogs:
        for _ in range(self.count):
            self._hogs.append(
                subprocess.Popen(
                    [sys.executable, "-S", "-c", _HOG, *self._args],
                    stdin=subprocess.DEVNULL,
                    start_new_session=True,
                )
            )
        return self

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        for hog in self._hogs:
            hog.kill()
        for hog in self._hogs:
            hog.wait()
        self._hogs.clear()
