"""The supervisor of the daemon's loops: restart a loop that failed, after a delay that doubles
while it keeps failing and falls back to the first once it works again, and record each run of
failures as an outage (`throne.observability.outages`).

A loop says that it works by calling :func:`progressed` after each iteration that completed
without error; the supervisor that started it hears it, also from the loop's threads and tasks
(the loop's context carries it). A loop that has not progressed for its ``stall_after`` seconds
is in outage too, while it still runs: a call blocked on a server that neither answers nor fails
(or one that eventsourcing retries, ten times over) is seen while it blocks.
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import time
from collections.abc import Awaitable, Callable, Mapping

import structlog

from throne.adapters.storage.database import is_storage_failure
from throne.observability.outages import Outages
from throne.ports.chain import ChainError
from throne.ports.signer import SignerRefused, SignerUnavailable

Loop = Callable[[asyncio.Event], Awaitable[None]]
FIRST_BACKOFF_SECONDS = 1.0
MAX_BACKOFF_SECONDS = 30.0

_progress: contextvars.ContextVar[Callable[[], None] | None] = contextvars.ContextVar(
    "throne_loop_progress", default=None
)


def progressed() -> None:
    """Tell the supervisor of the calling loop that an iteration completed without error.

    Outside a supervised loop (a test, ``throne worker``) it does nothing.
    """
    report = _progress.get()
    if report is not None:
        report()


class Backoff:
    """Delays between restarts: ``first``, doubling up to ``maximum``; `reset` after a success."""

    def __init__(
        self, first: float = FIRST_BACKOFF_SECONDS, maximum: float = MAX_BACKOFF_SECONDS
    ) -> None:
        self.first = first
        self.maximum = maximum
        self._next = first

    def next(self) -> float:
        delay = self._next
        self._next = min(delay * 2, self.maximum)
        return delay

    def reset(self) -> None:
        self._next = self.first


class LoopFailure(Exception):
    """A failure the loop has logged itself, raised so that it is the loop's outage, under
    ``cause``, until the loop progresses again."""

    def __init__(self, cause: str, error: str) -> None:
        super().__init__(error)
        self.cause = cause


def cause_of(exc: BaseException) -> str:
    """What a failure says about where the fault is, for the outage's ``cause``."""
    if isinstance(exc, LoopFailure):
        return exc.cause
    if is_storage_failure(exc):
        return "database"
    if isinstance(exc, SignerUnavailable | SignerRefused):
        return "signer"
    if isinstance(exc, ChainError):
        return "chain"
    if isinstance(exc, TimeoutError):
        return "timeout"
    return "error"


class Supervisor:
    def __init__(
        self,
        outages: Outages,
        *,
        first_backoff: float = FIRST_BACKOFF_SECONDS,
        max_backoff: float = MAX_BACKOFF_SECONDS,
        restarts: dict[str, int] | None = None,
        stall_after: float | Mapping[str, float] | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        """``stall_after``: seconds without progress that make an outage, for every loop or by
        loop name (a loop not named is never called stalled); None: never."""
        self.outages = outages
        self.first_backoff = first_backoff
        self.max_backoff = max_backoff
        self.stall_after = stall_after
        self._clock = clock
        #: failures per loop since start
        self.restarts = restarts if restarts is not None else {}
        self._log = structlog.get_logger("throne.daemon")

    async def run(self, name: str, loop: Loop, stop: asyncio.Event) -> None:
        """Run ``loop`` until it returns or ``stop`` is set, restarting it after each failure."""
        backoff = Backoff(self.first_backoff, self.max_backoff)
        # When the loop last progressed or was (re)started; written from the loop's threads.
        last = [self._clock()]

        def on_progress() -> None:
            last[0] = self._clock()
            backoff.reset()
            self.outages.succeeded(name)

        # Set in this task's own context: the loop and whatever it starts inherit it.
        _progress.set(on_progress)
        bound = self._stall_bound(name)
        watchdog = None
        if bound is not None:
            watchdog = asyncio.create_task(self._watch(name, bound, last, stop))
        try:
            while not stop.is_set():
                last[0] = self._clock()
                try:
                    await loop(stop)
                    return
                except asyncio.CancelledError:
                    raise
                except Exception as exc:
                    self.restarts[name] = self.restarts.get(name, 0) + 1
                    error = f"{type(exc).__name__}: {exc}".splitlines()[0]
                    delay = backoff.next()
                    self.outages.failed(name, error, cause_of(exc))
                    self._log.error("loop_failed", loop=name, error=error, retry_in_s=delay)
                    await sleep_or_stop(stop, delay)
        finally:
            if watchdog is not None:
                watchdog.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await watchdog

    def _stall_bound(self, name: str) -> float | None:
        if self.stall_after is None or isinstance(self.stall_after, int | float):
            return self.stall_after
        return self.stall_after.get(name)

    async def _watch(self, name: str, bound: float, last: list[float], stop: asyncio.Event) -> None:
        every = min(1.0, bound / 4)
        while not stop.is_set():
            await sleep_or_stop(stop, every)
            idle = self._clock() - last[0]
            if idle > bound:
                self.outages.stalled(name, idle)

    async def run_all(self, loops: dict[str, Loop], stop: asyncio.Event) -> None:
        # gather wraps each coroutine in a task of its own: one context, one backoff per loop.
        await asyncio.gather(*(self.run(name, loop, stop) for name, loop in loops.items()))


async def sleep_or_stop(stop: asyncio.Event, seconds: float) -> None:
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(stop.wait(), seconds)


class Nudge:
    """Cuts one loop's poll short when another loop has done what it waits for (samples
    recorded, a battle started), so the contest moves at the pace of its events rather
    than of the poll. Set and waited on in the event loop's thread."""

    def __init__(self) -> None:
        self._event = asyncio.Event()

    def set(self) -> None:
        self._event.set()

    def take(self) -> bool:
        """Whether it was set since the last take (and clear it)."""
        was = self._event.is_set()
        self._event.clear()
        return was

    async def sleep(self, stop: asyncio.Event, seconds: float) -> None:
        """Until ``stop``, a nudge or ``seconds``, whichever comes first; a nudge that came
        before the call ends it at once (it is not taken: see `take`)."""
        if stop.is_set() or self._event.is_set():
            return
        waits = [asyncio.ensure_future(stop.wait()), asyncio.ensure_future(self._event.wait())]
        try:
            await asyncio.wait(waits, timeout=seconds, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for w in waits:
                w.cancel()
