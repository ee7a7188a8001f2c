"""The read models, kept up to date beside the daemon (polling on SQLite, NOTIFY on PostgreSQL).

The loop drives the daemon's read side (`ReadSide` with ``keeps_store``), which also answers
the daemon's own reads: one runner per process applies the log to the stored read models.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading

from throne.adapters.storage.database import Database
from throne.daemon.supervisor import progressed
from throne.observability.metrics import ThroneMetrics
from throne.projections.read_side import ReadSide
from throne.projections.runner import ChangeWaiter, waiter_for


class ProjectionKeeper:
    def __init__(self, reads: ReadSide, db: Database, metrics: ThroneMetrics | None = None) -> None:
        self._reads = reads
        self._db = db
        self._metrics = metrics

    async def run(self, stop: asyncio.Event) -> None:
        halt = threading.Event()
        waiter = waiter_for(self._db, self._reads.application)
        worker = asyncio.create_task(asyncio.to_thread(self._follow, halt, waiter))
        try:
            while not stop.is_set() and not worker.done():
                # A query: in a thread, so that a database that hangs does not hang the loop.
                await asyncio.to_thread(self.report_lag)
                progressed()
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(stop.wait(), 5.0)
        finally:
            halt.set()
            waiter.wake()
            await worker
            waiter.close()
        # What the last moments logged is projected before the daemon exits.
        await asyncio.to_thread(self._reads.catch_up)

    def _follow(self, halt: threading.Event, waiter: ChangeWaiter) -> None:
        while not halt.is_set():
            self._reads.catch_up()
            waiter.wait(1.0)

    def report_lag(self) -> dict[str, int]:
        head = self._reads.log_position
        lag = {}
        for name, at in self._reads.positions().items():
            behind = max(0, head - at)
            lag[name] = behind
            if self._metrics is not None:
                self._metrics.observe_projection_lag(name, behind)
        return lag
