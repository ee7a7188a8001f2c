"""Creating the log's tables safely when several processes start on one database together, and
the schema version the log records.

On PostgreSQL, ``CREATE TABLE IF NOT EXISTS`` and ``CREATE TYPE`` race: two sessions both find
nothing and one fails on a duplicate in the catalogue. Every creator therefore runs inside
:func:`creating`, which holds an advisory lock of the log for the time it takes. On SQLite the
file's own write lock serialises every ``CREATE``; only a check-then-create (SQLAlchemy's
``create_all``) can still find a table made in between, which :func:`create_tables` takes as
done.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Iterator

import sqlalchemy as sa

from throne.adapters.storage.database import Database, StorageError, storage_errors

#: The version of the tables this throne writes; old events are upcast in code when read.
SCHEMA_VERSION = 1

_schema_meta = sa.MetaData()
schema_table = sa.Table(
    "throne_schema",
    _schema_meta,
    sa.Column("component", sa.String(50), primary_key=True),
    sa.Column("version", sa.Integer, nullable=False),
)

#: How long a process waits for another to finish creating the tables.
CREATION_WAIT_S = 60
_ATTEMPTS = 10


class SchemaCreationTimeout(StorageError):
    """Another process held the log's creation lock for longer than anyone should."""


@contextlib.contextmanager
def creating(db: Database) -> Iterator[None]:
    """Hold the log's table-creation lock (PostgreSQL) while the block creates tables."""
    if db.backend != "postgresql" or db.read_only:
        yield
        return
    import psycopg

    from throne.adapters.storage.pg_session import advisory_key, connect

    with storage_errors(db):
        conn = connect(db)
    try:
        key = advisory_key(db, "schema")
        try:
            conn.execute(f"SET lock_timeout = '{CREATION_WAIT_S}s'")
            conn.execute("SELECT pg_advisory_lock(%s)", (key,))
        except psycopg.errors.LockNotAvailable:
            raise SchemaCreationTimeout(
                f"waited {CREATION_WAIT_S}s for another throne process to create the tables in "
                f"{db.display}: check what holds it, then start again"
            ) from None
        yield
    finally:
        conn.close()  # ends the session, and its lock with it


def _created_meanwhile(exc: sa.exc.DBAPIError) -> bool:
    text = str(exc.orig if exc.orig is not None else exc)
    return "already exists" in text or (
        "duplicate key" in text and ("pg_type_" in text or "pg_class_" in text)
    )


def create_tables(metadata: sa.MetaData, engine: sa.Engine) -> None:
    """``metadata.create_all(engine)``, where a table another process made meanwhile is fine."""
    for attempt in range(_ATTEMPTS):
        try:
            metadata.create_all(engine)
            return
        except sa.exc.DBAPIError as exc:
            if attempt == _ATTEMPTS - 1 or not _created_meanwhile(exc):
                raise
            # The other creator may still be making the rest of the tables: give it a moment,
            # then look again at what exists (a look at once found the same stale answer).
            time.sleep(0.02 * (attempt + 1))


def record_schema_version(engine: sa.Engine) -> None:
    """Record `SCHEMA_VERSION` in ``throne_schema``, unless the log records a version already."""
    create_tables(_schema_meta, engine)
    with engine.begin() as conn:
        if _version(conn) is None:
            conn.execute(schema_table.insert().values(component="throne", version=SCHEMA_VERSION))


def read_schema_version(engine: sa.Engine) -> int | None:
    """The schema version the log records; None if it has no ``throne_schema``."""
    with engine.connect() as conn:
        return _version(conn)


def _version(conn: sa.Connection) -> int | None:
    if not sa.inspect(conn).has_table("throne_schema"):
        return None
    row = conn.execute(
        sa.select(schema_table.c.version).where(schema_table.c.component == "throne")
    ).first()
    return None if row is None else int(row[0])
