"""The log: opening it for the daemon, a reader or an operator, creating its tables, and what
it records beside the events (the schema version, the deployments)."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from throne.adapters.storage.database import Database
    from throne.adapters.storage.lock import SqliteRoleLock
    from throne.application import ThroneApplication
    from throne.daemon.settings import Settings
    from throne.domain.contest.config import ContestConfig
    from throne.projections.read_side import ReadSide


def creates_log_directory(db: Database) -> bool:
    """Whether `throne run` creates the log's missing directory: only for the default log, in
    the user's data directory. A named path whose directory is missing is refused instead, as a
    typo there would otherwise start a new, empty contest."""
    from throne.adapters.storage.database import default_database_path

    return db.backend == "sqlite" and db.path == default_database_path()


def open_application(settings: Settings, db: Database) -> ThroneApplication:
    """The application on ``db``, created if new, its sessions bounded so that a blocked query
    fails in time; a log that cannot be used is a
    :class:`~throne.adapters.storage.database.StorageError` with one line, before any loop."""
    from throne.adapters.storage.database import (
        check_database,
        limit_event_store_sessions,
        storage_errors,
    )
    from throne.application import ThroneApplication

    check_database(db, must_exist=False, create_parent=creates_log_directory(db))
    with storage_errors(db):
        app = ThroneApplication(settings.contest, env=db.eventsourcing_env())
    limit_event_store_sessions(app.recorder, db)
    return app


def open_log(db: Database, *, as_daemon: bool) -> SqliteRoleLock | None:
    """Before anything is written: refuse a SQLite file that is not a throne log, take a
    SQLite log's writer lock for a daemon (the lock that makes it the only one), and check the
    log's pages. Returns the lock taken, if any."""
    from throne.adapters.storage.identity import claim_sqlite_log
    from throne.adapters.storage.integrity import check_integrity
    from throne.adapters.storage.lock import SqliteRoleLock

    if db.backend != "sqlite":
        return None
    claim_sqlite_log(db)
    lock = SqliteRoleLock(db) if as_daemon else None
    if lock is not None:
        lock.acquire()
    try:
        check_integrity(db)
    except BaseException:
        if lock is not None:
            lock.release()
        raise
    return lock


def open_reader(db: Database, config: ContestConfig) -> ThroneApplication:
    """The application over an existing log, for reading: it creates no table. ``config``
    only names the subnet; the rules in force are the ones the log recorded."""
    from throne.application import ThroneApplication

    return ThroneApplication(config, env=db.eventsourcing_env(create_tables=False))


def open_operator(db: Database, config: ContestConfig) -> ThroneApplication:
    """The application over an existing log, for an operator's command (``throne admin``): it
    creates no table, and writes only what the contest's command records. ``config`` only
    names the subnet."""
    from throne.application import ThroneApplication

    return ThroneApplication(config, env=db.eventsourcing_env(create_tables=False))


def open_reads(db: Database, config: ContestConfig) -> ReadSide:
    """The read side of an existing log for a reader that may not write (a read command, the
    status API's process): the log opened read-only, and the read models the daemon keeps in
    its database. Closing it closes both."""
    from throne.adapters.storage.database import limit_event_store_sessions
    from throne.projections.read_side import ReadSide

    readonly = db.readonly()
    app = open_reader(readonly, config)
    try:
        limit_event_store_sessions(app.recorder, readonly)
        return ReadSide(app, store=readonly.create_engine(), owns=True)
    except BaseException:
        app.close()
        raise


def init_log(db: Database) -> None:
    """Create every table of the log (idempotent): the event store, the responses, the work
    claims, and the schema version, recorded once. A SQLite file that holds something else is
    refused first."""
    from throne.adapters.storage.claims import SqlWorkClaims
    from throne.adapters.storage.database import storage_errors
    from throne.adapters.storage.identity import claim_sqlite_log
    from throne.adapters.storage.responses import SqlResponseStore
    from throne.adapters.storage.schema import creating, record_schema_version
    from throne.application import ThroneApplication
    from throne.domain.contest.config import ContestConfig

    if db.backend == "sqlite":
        claim_sqlite_log(db)
    with storage_errors(db), creating(db):
        ThroneApplication(ContestConfig(), env=db.eventsourcing_env()).close()
        engine = db.create_engine()
        try:
            SqlResponseStore(engine)
            SqlWorkClaims(engine, "init", ttl_seconds=1)
            record_schema_version(engine)
        finally:
            engine.dispose()


def deployed_hotkeys(reads: ReadSide) -> set[str]:
    """The hotkeys whose models the hosting daemon serves now (its deployments table; none
    for a log never hosted, or one without a database)."""
    from throne.adapters.storage.deployments import read_deployments

    return set() if reads.store is None else {r["hotkey"] for r in read_deployments(reads.store)}


def log_schema_version(db: Database) -> int | None:
    """The schema version an existing log records (None: it has no throne schema)."""
    from throne.adapters.storage.database import storage_errors
    from throne.adapters.storage.schema import read_schema_version

    with storage_errors(db):
        engine = db.create_engine()
        try:
            return read_schema_version(engine)
        finally:
            engine.dispose()
