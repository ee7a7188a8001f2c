"""`throne db init | migrate`: create the log's tables, and check the schema is current."""

from __future__ import annotations

import argparse
from typing import Any

from throne.cli.main import CommandError


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
    from throne.adapters.storage.database import StorageError
    from throne.adapters.storage.schema import SCHEMA_VERSION
    from throne.app import init_log

    db = _open(args, must_exist=False)
    try:
        init_log(db)
    except StorageError as exc:
        raise CommandError(str(exc)) from exc
    print(f"{db.display}: ready (schema version {SCHEMA_VERSION})")
    return 0


def migrate(args: argparse.Namespace) -> int:
    from throne.adapters.storage.database import StorageError
    from throne.adapters.storage.schema import SCHEMA_VERSION
    from throne.app import log_schema_version

    db = _open(args, must_exist=True)
    try:
        current = log_schema_version(db)
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
