"""The writer's role: one daemon of a log reads the chain, decides the contest and sets weights.

Every daemon samples. On a log where the role is a lock that can be waited for (PostgreSQL),
a daemon that does not hold it is a hot standby: it samples like a worker and tries the lock
every second, and when it gets it (the holder died or lost its session), it starts the
writer's loops. A holder that finds its lock gone stops them at once and stands by again.

Between a lost session and the holder noticing, both may act for a moment; the log's
optimistic concurrency still lets only one of them record each decision.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Coroutine
from typing import Any

from throne.daemon.supervisor import sleep_or_stop
from throne.ports.role_lock import RoleLock

#: Seconds between a standby's tries, and between a holder's checks of its lock.
POLL_SECONDS = 1.0
#: Polls a daemon that lost the role waits before it tries for it again.
LOST_PAUSE_POLLS = 3


async def hold_role(
    lock: RoleLock,
    stop: asyncio.Event,
    run_writer: Callable[[asyncio.Event], Coroutine[Any, Any, None]],
    *,
    log: Any,
    on_change: Callable[[str], None] | None = None,
    on_standby: Callable[[], None] | None = None,
    poll_seconds: float = POLL_SECONDS,
) -> None:
    """Stand by until the lock is ours, run ``run_writer`` while it stays ours, repeat until
    ``stop``. ``on_change`` hears "standby" and "writer"; ``on_standby`` is called at each of
    a standby's polls that the database answered (a standby is alive, not stalled)."""
    changed = on_change or (lambda role: None)
    alive = on_standby or (lambda: None)
    try:
        standing_by = unreachable = False
        while not stop.is_set():
            try:
                acquired = await asyncio.to_thread(lock.try_acquire)
            except Exception as exc:
                # The database is away: keep trying every poll, and say so once.
                if not unreachable:
                    unreachable = True
                    log.error("role_lock_unreachable", error=f"{type(exc).__name__}: {exc}")
                acquired = False
            else:
                unreachable = False
            if not acquired:
                changed("standby")
                if not unreachable:
                    if not standing_by:
                        standing_by = True
                        log.info("role_standby", reason="another daemon writes this log")
                    alive()
                await sleep_or_stop(stop, poll_seconds)
                continue
            standing_by = False
            changed("writer")
            log.info("role_acquired")
            if await _write_while_held(lock, stop, run_writer, log, poll_seconds):
                # Lost: let a standby that can reach the database take over before trying again.
                await sleep_or_stop(stop, poll_seconds * LOST_PAUSE_POLLS)
    finally:
        await asyncio.to_thread(lock.release)


async def _write_while_held(
    lock: RoleLock,
    stop: asyncio.Event,
    run_writer: Callable[[asyncio.Event], Coroutine[Any, Any, None]],
    log: Any,
    poll_seconds: float,
) -> bool:
    """Run the writer's loops until ``stop`` or until the lock is lost; True if lost."""
    writer_stop = asyncio.Event()
    writer = asyncio.create_task(run_writer(writer_stop))
    try:
        while not stop.is_set() and not writer.done():
            await sleep_or_stop(stop, poll_seconds)
            if not stop.is_set() and not await asyncio.to_thread(lock.holds):
                log.error("role_lost", reason="the lock's session ended; standing by")
                return True
        return False
    finally:
        writer_stop.set()
        await writer
