"""The application's notification log, opened without the application (for audits and tools)."""

from __future__ import annotations

import sqlite3
from urllib.parse import quote

from eventsourcing.persistence import (
    ApplicationRecorder,
    InfrastructureFactory,
    TrackingRecorder,
)
from eventsourcing.utils import Environment

from throne.adapters.storage.database import (
    Database,
    StorageError,
    check_database,
    storage_errors,
)
from throne.adapters.storage.identity import claim_sqlite_log
from throne.adapters.storage.schema import creating

#: The application's pinned name: it names the PostgreSQL tables (``throne_events``).
APPLICATION_NAME = "throne"


def open_notification_log(
    db: Database, *, application: str = APPLICATION_NAME
) -> tuple[ApplicationRecorder, InfrastructureFactory[TrackingRecorder]]:
    """The log's recorder and the factory that owns its connections (close the factory).

    A read-only database (``db.readonly()``) must already hold a log; nothing is created.
    """
    check_database(db, must_exist=db.read_only)
    if db.read_only and db.backend == "sqlite":
        _require_sqlite_log(db)
    elif db.backend == "sqlite":
        claim_sqlite_log(db)  # writes nothing into a file that holds something else
    env = Environment(application, db.eventsourcing_env())
    with storage_errors(db), creating(db):
        factory: InfrastructureFactory[TrackingRecorder] = InfrastructureFactory.construct(env)
        recorder = factory.application_recorder()
        if db.read_only:
            # Fails here, in one line, if the tables are not there.
            recorder.max_notification_id()
    return recorder, factory


def _require_sqlite_log(db: Database) -> None:
    """A read-only open must not try to set up a file that holds no log: say so instead."""
    with storage_errors(db):
        conn = sqlite3.connect(f"file:{quote(str(db.path))}?mode=ro", uri=True)
        try:
            found = conn.execute(
                "SELECT 1 FROM sqlite_master WHERE type='table' AND name='stored_events'"
            ).fetchone()
        finally:
            conn.close()
    if found is None:
        raise StorageError(f"no throne event log in {db.path}")
