"""The read side: the contest's projections, read at the log's head.

Every read (the CLI's read commands, the status API, the demo's view, the daemon's own
questions) goes through a `ReadSide`. `ReadSide.read` gives a `Reading`: one consistent read of
the standings, the history, the weight submissions and the recent samples, caught up to every
event logged when it began. Where the projections' rows are depends on who reads:

- the daemon keeps them in the log's database (``store``, ``keeps_store=True``): a read first
  applies whatever the projection loop has not yet, then reads the tables;
- a reader that may not write (``throne rank --db X``, which opens the log read-only, or the
  status API's process) reads the stored tables when their tracking positions cover the log.
  When they do not (no daemon is keeping them, or it is a moment behind, or the log was never
  projected, or by an older throne), it copies them into a private in-memory SQLite database
  and applies the events after their positions there, through the same handlers, once; later
  reads apply only what is new. The file is never written;
- without a store (an in-memory log, in tests) everything is projected privately from zero.

The answer is the same in each case: the stored projections and the private ones are the same
tables filled by the same handlers from the same events.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Protocol

import sqlalchemy as sa
from eventsourcing.persistence import ApplicationRecorder, Mapper
from sqlalchemy.pool import StaticPool

from throne.domain.contest.config import ContestConfig
from throne.projections.base import Projection, tracking_table
from throne.projections.history import History, HistoryProjection
from throne.projections.runner import DEFAULT_BATCH, ProjectionRunner
from throne.projections.samples import SamplesProjection
from throne.projections.standings import Standings, StandingsProjection
from throne.projections.weights import WeightsProjection


class EventLog(Protocol):
    """What a read side reads: the log of an eventsourcing application (`ThroneApplication`).
    ``config`` holds until the log records the contest's own rules; its netuid picks the
    contest."""

    @property
    def name(self) -> str: ...

    @property
    def recorder(self) -> ApplicationRecorder: ...

    @property
    def mapper(self) -> Mapper[Any]: ...

    @property
    def config(self) -> ContestConfig: ...

    def close(self) -> None: ...


class Reading:
    """One consistent read of the projections (valid inside `ReadSide.read` only)."""

    def __init__(self, conn: sa.Connection, side: ReadSide) -> None:
        self._conn = conn
        self._side = side
        self._standings: Standings | None = None
        self._history: History | None = None

    @property
    def netuid(self) -> int:
        return self._side.netuid

    def standings(self) -> Standings:
        if self._standings is None:
            self._standings = self._side.standings_projection.read(self._conn)
        return self._standings

    @property
    def config(self) -> ContestConfig:
        """The rules the log was decided by (the latest recorded), else the reader's."""
        return self.standings().config or self._side.default_config

    def history(self) -> History:
        if self._history is None:
            self._history = self._side.history_projection.read(self._conn)
        return self._history

    def terminations(self) -> list[dict[str, Any]]:
        """Every termination, oldest first (`History.terminations`, read alone)."""
        if self._history is not None:
            return list(self._history.terminations)
        return self._side.history_projection.terminations(self._conn)

    def said_about(self, hotkey: str) -> list[dict[str, Any]]:
        return self._side.history_projection.said_about(self._conn, hotkey)

    def said_about_everyone(self) -> dict[str, list[dict[str, Any]]]:
        return self._side.history_projection.said_about_everyone(self._conn)

    def last_submission(self) -> dict[str, Any] | None:
        return self._side.weights_projection.last_submission(self._conn)

    def submissions(self) -> list[dict[str, Any]]:
        return self._side.weights_projection.submissions(self._conn)

    def recent_samples(self) -> tuple[int | None, list[dict[str, Any]]]:
        """The current pool's number and its newest samples, at most
        `SamplesProjection.per_env` of each env, oldest first (no task ids)."""
        p = self._side.samples_projection
        return p.current_pool(self._conn), p.recent(self._conn)

    def rows(self) -> dict[str, list[tuple[Any, ...]]]:
        """Every row of every table and every position, by table, in key order: what two
        read sides must hold alike."""
        out = {}
        for p in self._side.projections:
            for table in p.metadata.sorted_tables:
                ordered = sa.select(table).order_by(*table.primary_key.columns)
                out[table.name] = [tuple(r) for r in self._conn.execute(ordered)]
        t = tracking_table.c
        names = [p.tracking_name for p in self._side.projections]
        tracked = self._conn.execute(
            sa.select(t.projection, t.notification_id)
            .where(t.application == self._side.application, t.projection.in_(names))
            .order_by(t.projection)
        )
        out[tracking_table.name] = [tuple(r) for r in tracked]
        return out


class ReadSide:
    """Thread-safe. ``store`` is an engine on the log's database, if the log has one;
    ``keeps_store`` says this reader may write the projections there (the daemon's); ``owns``
    that `close` closes the log and the store too; ``batch`` how many events are applied in
    one transaction at most; ``also``, projections no view reads that it keeps in the store
    beside its own (the daemon's: the decisions)."""

    def __init__(
        self,
        log: EventLog,
        *,
        store: sa.Engine | None = None,
        keeps_store: bool = False,
        owns: bool = False,
        prefix: str = "",
        batch: int = DEFAULT_BATCH,
        also: Sequence[Projection] = (),
    ) -> None:
        if keeps_store and store is None:
            raise ValueError("keeps_store needs a store")
        self._log = log
        self.application = log.name
        self.netuid = log.config.netuid
        self.default_config = log.config
        self.standings_projection = StandingsProjection(self.netuid, prefix)
        self.history_projection = HistoryProjection(self.netuid, prefix)
        self.weights_projection = WeightsProjection(self.netuid, prefix)
        self.samples_projection = SamplesProjection(self.netuid, prefix)
        self.projections: Sequence[Projection] = (
            self.standings_projection,
            self.history_projection,
            self.weights_projection,
            self.samples_projection,
        )
        self._store = store
        self._owns = owns
        self._batch = batch
        self._lock = threading.RLock()
        self._store_runner = None
        if keeps_store and store is not None:
            self._store_runner = self._runner(store, also=also)
        self._private: sa.Engine | None = None
        self._private_runner: ProjectionRunner | None = None
        #: the log's head when the projections this reader keeps last caught up with it
        self._caught_up_to: int | None = None

    @property
    def store(self) -> sa.Engine | None:
        """The engine on the log's database, if the log has one (tables beside the
        projections, such as the deployments hosting keeps, are read through it)."""
        return self._store

    @property
    def log_position(self) -> int:
        """The log's head: its highest notification id (0 when empty)."""
        return int(self._log.recorder.max_notification_id() or 0)

    @contextmanager
    def read(self) -> Iterator[Reading]:
        """A consistent read of every projection, caught up to the log's head."""
        with self._lock:
            if self._store_runner is not None and self._store is not None:
                self._catch_up(self._store_runner)
                with _snapshot(self._store) as conn:
                    yield Reading(conn, self)
                return
            if self._private_runner is None and self._store is not None:
                with _snapshot(self._store) as conn:
                    if self._covers_the_log(conn):
                        yield Reading(conn, self)
                        return
                    self._private_runner = self._projected_privately(conn)
            if self._private_runner is None:
                self._private_runner = self._projected_privately(None)
            self._catch_up(self._private_runner)
            assert self._private is not None
            with self._private.connect() as conn:
                yield Reading(conn, self)

    def catch_up(self) -> int:
        """Apply what is new to the projections this reader keeps; the number of events."""
        with self._lock:
            runner = self._store_runner or self._private_runner
            return 0 if runner is None else self._catch_up(runner)

    def positions(self) -> dict[str, int]:
        """The position of each projection this reader keeps, by name (none before a read)."""
        with self._lock:
            runner = self._store_runner or self._private_runner
            if runner is None:
                return {}
            return {p.name: runner.position(p) for p in runner.projections}

    def _catch_up(self, runner: ProjectionRunner) -> int:
        # Nothing is logged below the head once it is seen (PostgreSQL commits its ids in
        # order): while the head stays, the projections cover the log.
        head = self.log_position
        if head == self._caught_up_to:
            return 0
        applied = runner.catch_up()
        self._caught_up_to = head
        return applied

    def close(self) -> None:
        with self._lock:
            if self._private is not None:
                self._private.dispose()
            self._private = self._private_runner = None
            self._caught_up_to = None
            if self._owns:
                if self._store is not None:
                    self._store.dispose()
                self._log.close()

    # ---- where the rows are -------------------------------------------------------------------

    def _runner(
        self, engine: sa.Engine, *, created: bool = False, also: Sequence[Projection] = ()
    ) -> ProjectionRunner:
        return ProjectionRunner(
            self._log.recorder,
            self._log.mapper,
            engine,
            [*self.projections, *also],
            application=self._log.name,
            batch=self._batch,
            created=created,
        )

    def _stored(self, conn: sa.Connection) -> list[Projection]:
        """The projections whose tables are all in the store."""
        names = set(sa.inspect(conn).get_table_names())
        if tracking_table.name not in names:
            return []
        return [
            p for p in self.projections if all(t.name in names for t in p.metadata.sorted_tables)
        ]

    def _covers_the_log(self, conn: sa.Connection) -> bool:
        """Every projection is stored and no event it follows comes after its position."""
        stored = self._stored(conn)
        if len(stored) != len(self.projections):
            return False
        t = tracking_table.c
        rows = conn.execute(
            sa.select(t.projection, t.notification_id).where(t.application == self._log.name)
        )
        positions = {name: int(at) for name, at in rows}
        recorder = self._log.recorder
        for p in stored:
            after = positions.get(p.tracking_name, 0)
            if recorder.select_notifications(
                after, 1, topics=list(p.topics), inclusive_of_start=False
            ):
                return False
        return True

    def _projected_privately(self, stored: sa.Connection | None) -> ProjectionRunner:
        """A private in-memory copy of the stored projections (the rows and the positions of
        those stored; the others start from zero), and a runner to keep it up to date."""
        engine = sa.create_engine(
            "sqlite+pysqlite://",
            poolclass=StaticPool,
            # uri: a file is attached by a read-only URI
            connect_args={"check_same_thread": False, "uri": True},
        )
        with engine.begin() as mine:
            tracking_table.create(mine, checkfirst=False)
            for p in self.projections:
                p.create_in(mine)
        runner = self._runner(engine, created=True)
        if stored is not None:
            copied = self._stored(stored)
            attach = _attachable(stored)
            with engine.connect() as mine:
                if attach is not None:
                    # SQLite: the copy runs in SQL, from the file attached read-only.
                    mine.exec_driver_sql("ATTACH DATABASE ? AS stored", (attach,))
                    mine.commit()
                with mine.begin():
                    for p in copied:
                        self._copy(p, stored, mine, attached=attach is not None)
                if attach is not None:
                    mine.exec_driver_sql("DETACH DATABASE stored")
                    mine.commit()
        self._private = engine
        return runner

    def _copy(
        self, p: Projection, stored: sa.Connection, mine: sa.Connection, *, attached: bool
    ) -> None:
        """``p``'s rows and position, from the store into the private database."""
        t = tracking_table.c
        own = (t.projection == p.tracking_name) & (t.application == self._log.name)
        if attached:
            for table in [*p.metadata.sorted_tables, tracking_table]:
                columns = ", ".join(f'"{c.name}"' for c in table.columns)
                where = ""
                if table is tracking_table:
                    where = " WHERE projection = ? AND application = ?"
                mine.exec_driver_sql(
                    f'INSERT INTO main."{table.name}" ({columns}) '
                    f'SELECT {columns} FROM stored."{table.name}"{where}',
                    (p.tracking_name, self._log.name) if where else (),
                )
            return
        for table in p.metadata.sorted_tables:
            rows = [dict(r) for r in stored.execute(sa.select(table)).mappings()]
            if rows:
                mine.execute(sa.insert(table), rows)
        tracked = stored.execute(sa.select(tracking_table).where(own)).first()
        if tracked is not None:
            mine.execute(sa.insert(tracking_table).values(**tracked._mapping))


def _attachable(stored: sa.Connection) -> str | None:
    """A read-only URI of the store's file, if it is a SQLite file."""
    url = stored.engine.url
    if stored.dialect.name != "sqlite" or not url.database or url.database == ":memory:":
        return None
    if url.database.startswith("file:"):
        return f"{url.database}?mode=ro"
    return f"{Path(url.database).absolute().as_uri()}?mode=ro"


@contextmanager
def _snapshot(engine: sa.Engine) -> Iterator[sa.Connection]:
    """A connection whose reads all see the database at one moment, whatever commits meanwhile."""
    with engine.connect() as conn:
        if conn.dialect.name == "sqlite":
            # pysqlite opens no transaction for a SELECT: each would see its own moment.
            conn.exec_driver_sql("BEGIN")
            yield conn
        else:
            yield conn.execution_options(isolation_level="REPEATABLE READ")
