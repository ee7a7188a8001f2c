"""Keep projections caught up with the log: by polling on SQLite, by LISTEN/NOTIFY on PostgreSQL.

Positions are notification ids as the log hands them out. PostgreSQL leaves gaps (a rolled-back
save consumes ids), so the runner always asks for ids *after* the last one it applied and never
assumes the next one is ``last + 1``.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from typing import Any, Protocol

import sqlalchemy as sa
from eventsourcing.persistence import ApplicationRecorder, Mapper

from throne.adapters.storage import pg_session
from throne.adapters.storage.database import Database
from throne.projections.base import PositionMoved, Projection, advance, position

DEFAULT_BATCH = 500
RESET_PAGE = 1000
MAX_CONFLICTS = 1000


class ChangeWaiter(Protocol):
    """Blocks until the log may have grown, or ``timeout`` seconds pass."""

    def wait(self, timeout: float) -> None: ...

    def wake(self) -> None:
        """Make a ``wait`` in another thread return now (to stop a runner)."""
        ...

    def close(self) -> None: ...


class PollingWaiter:
    """SQLite has no notifications: look again after ``interval`` seconds."""

    def __init__(self, interval: float = 0.2) -> None:
        self.interval = interval
        self._woken = threading.Event()

    def wait(self, timeout: float) -> None:
        self._woken.wait(min(self.interval, timeout))
        self._woken.clear()

    def wake(self) -> None:
        self._woken.set()

    def close(self) -> None:
        self.wake()


class PostgresNotifyWaiter:
    """Wakes on the ``NOTIFY`` that eventsourcing's PostgreSQL recorder sends with each save."""

    def __init__(self, db: Database, channel: str) -> None:
        self._db = db
        self._channel = channel
        self._conn = self._connect()
        self._conn.execute(f'LISTEN "{channel}"')

    def _connect(self) -> Any:
        # With keepalives on both ends, so that a listener whose server went away fails in
        # seconds instead of waiting on a dead connection.
        return pg_session.connect(self._db)

    def wait(self, timeout: float) -> None:
        for _ in self._conn.notifies(timeout=timeout, stop_after=1):
            pass

    def wake(self) -> None:
        # A spurious notification costs other listeners one empty catch-up, nothing more.
        with self._connect() as conn:
            conn.execute(f'NOTIFY "{self._channel}"')

    def close(self) -> None:
        self._conn.close()


def waiter_for(db: Database, application: str, *, poll_interval: float = 0.2) -> ChangeWaiter:
    """The right way to wait for new events on ``db``."""
    if db.backend == "postgresql":
        return PostgresNotifyWaiter(db, f"{application}_events")
    return PollingWaiter(poll_interval)


class ProjectionRunner:
    """Applies new events to each projection in batches, each batch one transaction."""

    def __init__(
        self,
        recorder: ApplicationRecorder,
        mapper: Mapper[Any],
        engine: sa.Engine,
        projections: Sequence[Projection],
        *,
        application: str,
        batch: int = DEFAULT_BATCH,
        created: bool = False,
    ) -> None:
        """``created``: the tables are made already (else they are, where missing)."""
        self._recorder = recorder
        self._mapper = mapper
        self._engine = engine
        self.projections = list(projections)
        self._application = application
        self._batch = batch
        if not created:
            for p in self.projections:
                p.create(engine)

    def position(self, projection: Projection) -> int:
        with self._engine.connect() as conn:
            return position(conn, projection, self._application)

    def catch_up(self) -> int:
        """Apply everything logged so far; return the number of events applied."""
        return sum(self._catch_up(p) for p in self.projections)

    def _catch_up(self, projection: Projection) -> int:
        applied = conflicts = 0
        reset = self._last_reset(projection)
        while True:
            start = self.position(projection)
            topics = list(projection.topics)
            stop = None
            if start < reset:
                # Up to the reset, what it discards is not even read.
                topics = [t for t in topics if t not in projection.discarded_by_reset]
                stop = reset
            page = self._recorder.select_notifications(
                start, self._batch, stop, topics=topics, inclusive_of_start=False
            )
            if not page:
                return applied
            try:
                with self._engine.begin() as conn:
                    advance(conn, projection, self._application, start, page[-1].id)
                    for n in page:
                        projection.process(self._mapper.to_domain_event(n), conn, n.id)
            except PositionMoved:
                # Someone else applied it: read the position again. Endless conflicts mean
                # the tracking row is being rewound, which no runner does.
                conflicts += 1
                if conflicts > MAX_CONFLICTS:
                    raise
                continue
            applied += len(page)
            if stop is None and len(page) < self._batch:
                return applied

    def _last_reset(self, projection: Projection) -> int:
        """The notification id of the newest reset of ``projection`` after its position (0 if
        none, or if it declares none)."""
        if projection.reset_topic is None:
            return 0
        last, after = 0, self.position(projection)
        while True:
            page = self._recorder.select_notifications(
                after, RESET_PAGE, topics=[projection.reset_topic], inclusive_of_start=False
            )
            for n in page:
                if projection.is_reset(n):
                    last = n.id
            if len(page) < RESET_PAGE:
                return last
            after = page[-1].id

    def run(self, stop: threading.Event, waiter: ChangeWaiter, *, idle: float = 5.0) -> None:
        """Catch up, then wait for news, until ``stop`` is set."""
        while not stop.is_set():
            self.catch_up()
            waiter.wait(idle)
