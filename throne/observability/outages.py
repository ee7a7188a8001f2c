"""Outages: which of the daemon's loops are failing now, since when and why.

An outage starts at a loop's first failure, or once it has completed no iteration for too long
(a stall: a call that neither returns nor fails), and ends at its first success after that.
Each end is one log line, ``outage_started`` (with the error and its cause: ``database``,
``chain``, ``timeout``, ``stalled`` or ``error``) and ``outage_ended`` (with ``duration_s`` and
the number of failures in between), so an operator sees a database that went away when it
goes, not when it comes back. ``/healthz`` answers 503 naming every loop in outage.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Any

import structlog

#: Told ``(loop, in_outage)`` when an outage starts (True) or ends (False), e.g. for metrics.
OutageListener = Callable[[str, bool], None]


@dataclass(frozen=True)
class Outage:
    loop: str
    cause: str
    #: the last failure, one line
    error: str
    #: monotonic seconds at the first failure or when the stall was noticed
    started: float
    #: failures raised by the loop (a stall is none)
    failures: int = 1


class Outages:
    """Thread-safe; ``clock`` is monotonic seconds (injectable so that tests need not sleep)."""

    def __init__(
        self,
        clock: Callable[[], float] = time.monotonic,
        listener: OutageListener | None = None,
    ) -> None:
        self._clock = clock
        self._lock = threading.Lock()
        self._open: dict[str, Outage] = {}
        self.listener = listener
        self._log = structlog.get_logger("throne.outages")

    def failed(self, loop: str, error: str, cause: str = "error") -> Outage:
        """``loop`` failed: starts its outage, or counts one more failure of the open one."""
        with self._lock:
            known = self._open.get(loop)
            if known is None:
                outage = Outage(loop, cause, error, self._clock())
            else:
                outage = replace(known, cause=cause, error=error, failures=known.failures + 1)
            self._open[loop] = outage
        if known is None:
            self._started(outage)
        return outage

    def stalled(self, loop: str, seconds: float) -> Outage | None:
        """``loop`` has completed no iteration for ``seconds``: starts its outage, unless one is
        open already (a loop waiting to be restarted is not stalled, it is failing)."""
        with self._lock:
            if loop in self._open:
                return None
            error = f"no iteration completed for {seconds:.0f} s"
            outage = self._open[loop] = Outage(loop, "stalled", error, self._clock(), failures=0)
        self._started(outage)
        return outage

    def _started(self, outage: Outage) -> None:
        self._log.warning(
            "outage_started", loop=outage.loop, cause=outage.cause, error=outage.error
        )
        if self.listener is not None:
            self.listener(outage.loop, True)

    def succeeded(self, loop: str) -> float | None:
        """``loop`` completed an iteration: ends its outage; returns its duration if one ended."""
        with self._lock:
            outage = self._open.pop(loop, None)
            now = self._clock()
        if outage is None:
            return None
        duration = now - outage.started
        self._log.info(
            "outage_ended",
            loop=loop,
            cause=outage.cause,
            duration_s=round(duration, 3),
            failures=outage.failures,
        )
        if self.listener is not None:
            self.listener(loop, False)
        return duration

    def current(self) -> dict[str, Outage]:
        with self._lock:
            return dict(self._open)

    def describe(self) -> dict[str, dict[str, Any]]:
        """The open outages as JSON-ready dicts, by loop."""
        now = self._clock()
        return {
            loop: {
                "cause": o.cause,
                "error": o.error,
                "seconds": round(now - o.started, 3),
                "failures": o.failures,
            }
            for loop, o in sorted(self.current().items())
        }
