"""`throne db init | migrate`: create the log's tables, and check the schema is current."""

from __future__ import annotations

import argparse
from typing import Any

import sqlalchemy as sa

from throne.cli.main import CommandError

SCHEMA_VERSION = 1
_meta = sa.MetaData()
schema_table = sa.Table(
    "throne_schema",
    _meta,
    sa.Column("component", sa.String(50), primary_key=True),
    sa.Column("version", sa.Integer, nullable=False),
)


def register(sub: Any) -> None:
    p: argparse.ArgumentParser = sub.add_parser(
        "db", help="create or check the event log's database", description="The database."
    )
    dsub = p.add_subparsers(dest="db_command", metavar="COMMAND")
    for name, handler, text in (
        ("init", init, "create the event store, response store and claim tables (idempotent)"),
        ("migrate", migrate, "bring an existing database to this version's schema"),
    ):
        q = dsub.add_parser(name, help=text, description=text[0].upper() + text[1:] + ".")
        q.add_argument(
            "--db",
            metavar="URL",
            help="SQLite path, sqlite:///PATH or postgresql://... (default: $THRONE_DB or the "
            "user's data directory)",
        )
        q.set_defaults(handler=handler)


def _open(args: argparse.Namespace, must_exist: bool) -> Any:
    from throne.adapters.storage.database import StorageError, check_database, resolve_database

    try:
        db = resolve_database(args.db)
        check_database(db, must_exist=must_exist)
    except StorageError as exc:
        raise CommandError(str(exc)) from exc
    return db


def init(args: argparse.Namespace) -> int:
    from throne.adapters.storage.claims import SqlWorkClaims
    from throne.adapters.storage.database import StorageError, storage_errors
    from throne.adapters.storage.identity import claim_sqlite_log
    from throne.adapters.storage.responses import SqlResponseStore
    from throne.adapters.storage.schema import create_tables, creating
    from throne.application import ThroneApplication
    from throne.domain.contest.config import ContestConfig

    db = _open(args, must_exist=False)
    try:
        if db.backend == "sqlite":
            claim_sqlite_log(db)  # refuses a file that holds something else
        with storage_errors(db), creating(db):
            ThroneApplication(ContestConfig(), env=db.eventsourcing_env()).close()
            engine = db.create_engine()
            SqlResponseStore(engine)
            SqlWorkClaims(engine, "init", ttl_seconds=1)
            create_tables(_meta, engine)
            with engine.begin() as conn:
                current = _version(conn)
                if current is None:
                    conn.execute(
                        schema_table.insert().values(component="throne", version=SCHEMA_VERSION)
                    )
            engine.dispose()
    except StorageError as exc:
        raise CommandError(str(exc)) from exc
    print(f"{db.display}: ready (schema version {SCHEMA_VERSION})")
    return 0


def migrate(args: argparse.Namespace) -> int:
    from throne.adapters.storage.database import StorageError, storage_errors

    db = _open(args, must_exist=True)
    try:
        with storage_errors(db):
            engine = db.create_engine()
            with engine.connect() as conn:
                current = _version(conn)
            engine.dispose()
    except StorageError as exc:
        raise CommandError(str(exc)) from exc
    if current is None:
        raise CommandError(f"{db.display} has no throne schema; run `throne db init` first")
    if current > SCHEMA_VERSION:
        raise CommandError(
            f"{db.display} has schema version {current}, newer than this throne "
            f"({SCHEMA_VERSION}); upgrade throne"
        )
    # Version 1 is the only schema so far; old events are upcast in code when they are read.
    print(f"{db.display}: schema version {current} is current; nothing to migrate")
    return 0


def _version(conn: sa.Connection) -> int | None:
    if not sa.inspect(conn).has_table("throne_schema"):
        return None
    row = conn.execute(
        sa.select(schema_table.c.version).where(schema_table.c.component == "throne")
    ).first()
    return None if row is None else int(row[0])
