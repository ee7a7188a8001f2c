"""The publisher's loop: every N blocks, the log's new parts to the bucket (`throne.audit.
publisher`), beside the contest and never in its way.

A publish that fails (credentials refused, no bucket, the bucket full, the endpoint down, the
database unreadable) is one log line, ``publish_failed``, naming the cause, and the ``publish``
loop's outage on ``/healthz`` until an attempt succeeds; the loop goes on, and the next
attempt, N blocks later, publishes what that one did not (a part written but not named is
adopted then). The contest's loops never wait for it: each attempt runs on a thread of its own.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable

import structlog

from throne.adapters.storage.database import StorageError
from throne.audit.publisher import Published, PublishError
from throne.daemon.supervisor import LoopFailure, progressed, sleep_or_stop
from throne.ports.object_store import StoreError


class PublishLoop:
    """Calls ``publish`` when ``current_block()`` has moved ``every_blocks`` on from the
    block of the last attempt (the first time at the first block it sees), looking every
    ``poll_seconds``."""

    def __init__(
        self,
        publish: Callable[[], Published],
        *,
        every_blocks: int,
        current_block: Callable[[], int],
        poll_seconds: float,
    ) -> None:
        if every_blocks < 1:
            raise ValueError("every_blocks must be at least 1")
        self._publish = publish
        self._every = every_blocks
        self._current_block = current_block
        self._poll = poll_seconds
        self.attempted_at: int | None = None
        #: what the last attempt did, or why it failed
        self.last: Published | Exception | None = None
        self.log = structlog.get_logger("throne.publish")

    def due(self, block: int) -> bool:
        if block <= 0:
            return False
        return self.attempted_at is None or block - self.attempted_at >= self._every

    async def run(self, stop: asyncio.Event) -> None:
        while not stop.is_set():
            block = await asyncio.to_thread(self._current_block)
            if self.due(block):
                self.attempted_at = block
                if await self.attempt(block) is None:
                    # The supervisor opens the outage (or counts one more failure) and runs
                    # the loop again; it is not due again before `every_blocks` more.
                    raise LoopFailure(self.failure_cause, str(self.last))
            if not self.failing:  # progress would end the outage of the last failure
                progressed()
            await sleep_or_stop(stop, self._poll)

    @property
    def failing(self) -> bool:
        """Whether the last attempt failed."""
        return isinstance(self.last, Exception)

    @property
    def failure_cause(self) -> str:
        exc = self.last
        if not isinstance(exc, Exception):
            return ""
        return exc.kind if isinstance(exc, StoreError) else _cause(exc)

    async def attempt(self, block: int) -> Published | None:
        """One publish, at ``block``; None when it failed (and was logged)."""
        try:
            done = await asyncio.to_thread(self._publish)
        except (StoreError, PublishError, StorageError) as exc:
            self.last = exc
            self.log.error(
                "publish_failed",
                block=block,
                cause=self.failure_cause,
                error=" ".join(str(exc).split()),
                retry_at_block=block + self._every,
            )
            return None
        self.last = done
        if done.changed:
            self.log.info(
                "published",
                block=block,
                to=done.where,
                parts=done.parts,
                written=len(done.written),
                adopted=len(done.adopted),
                removed=len(done.removed),
                events=done.events,
                complete_to_block=done.block,
            )
        return done


def _cause(exc: Exception) -> str:
    return "database" if isinstance(exc, StorageError) else "published-log"
