"""The read models, kept up to date beside the daemon (polling on SQLite, NOTIFY on PostgreSQL)."""

from __future__ import annotations

import asyncio
import contextlib
import threading

import sqlalchemy as sa

from throne.adapters.storage.database import Database
from throne.application import ThroneApplication
from throne.daemon.supervisor import progressed
from throne.observability.metrics import ThroneMetrics
from throne.projections import all_projections
from throne.projections.runner import ProjectionRunner, waiter_for


class ProjectionKeeper:
    def __init__(
        self,
        app: ThroneApplication,
        db: Database,
        engine: sa.Engine,
        metrics: ThroneMetrics | None = None,
    ) -> None:
        self._app = app
        self._db = db
        self._metrics = metrics
        self.runner = ProjectionRunner(
            app.recorder,
            app.mapper,
            engine,
            all_projections(app.config.netuid),
            application=app.name,
        )

    async def run(self, stop: asyncio.Event) -> None:
        halt = threading.Event()
        waiter = waiter_for(self._db, self._app.name)
        worker = asyncio.create_task(asyncio.to_thread(self.runner.run, halt, waiter, idle=1.0))
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
        await asyncio.to_thread(self.runner.catch_up)

    def report_lag(self) -> dict[str, int]:
        head = self._app.recorder.max_notification_id() or 0
        lag = {}
        for p in self.runner.projections:
            behind = max(0, head - self.runner.position(p))
            lag[p.name] = behind
            if self._metrics is not None:
                self._metrics.observe_projection_lag(p.name, behind)
        return lag
