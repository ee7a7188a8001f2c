"""What the read commands share: which event log, opened read-only, one view, clear errors.

``--db`` takes a SQLite file path, a ``sqlite:///path`` URL or a ``postgresql://`` URL; the
default is ``$THRONE_DB``, else ``throne.db`` in the user's data directory. A read never
creates a database: a missing file is an error, and SQLite logs are opened read-only.
"""

from __future__ import annotations

import argparse
import os
import sqlite3
from collections.abc import Callable
from contextlib import closing
from pathlib import Path
from typing import TYPE_CHECKING, TypeVar

from eventsourcing.domain import EventSourcingError
from eventsourcing.utils import TopicError

from throne.application import ThroneApplication
from throne.cli.main import CommandError
from throne.domain.contest.config import ContestConfig

if TYPE_CHECKING:
    from throne.adapters.storage.database import Database
    from throne.projections.read_side import ReadSide

T = TypeVar("T")
EVENTS_TABLE = "stored_events"  # eventsourcing's SQLite table
DEFAULT_NETUID = 120


def default_db() -> str:
    """``$THRONE_DB``, else ``$XDG_DATA_HOME/throne/throne.db`` (``~/.local/share`` by default)."""
    if os.environ.get("THRONE_DB"):
        return os.environ["THRONE_DB"]
    data_home = os.environ.get("XDG_DATA_HOME") or str(Path.home() / ".local" / "share")
    return str(Path(data_home) / "throne" / "throne.db")


def add_db_option(parser: argparse._ActionsContainer) -> None:
    parser.add_argument(
        "--db",
        metavar="URL",
        default=None,
        help="the event log: a SQLite file path, sqlite:///PATH or postgresql://... "
        "(default: $THRONE_DB, else throne.db in the user's data directory)",
    )


def add_read_options(parser: argparse._ActionsContainer) -> None:
    """``--db``, ``--netuid`` and ``--json``, shared by every read command."""
    add_db_option(parser)
    parser.add_argument(
        "--netuid",
        type=int,
        default=DEFAULT_NETUID,
        help=f"the subnet whose contest to read (default: {DEFAULT_NETUID})",
    )
    parser.add_argument("--json", action="store_true", help="print one JSON object")


def sqlite_path(db_url: str) -> Path | None:
    """The file a SQLite URL or plain path names; None for a server URL."""
    if db_url.startswith(("postgresql://", "postgres://", "postgresql+psycopg://")):
        return None
    if db_url.startswith("sqlite:///"):
        return Path(db_url[len("sqlite:///") :])
    if "://" in db_url:
        scheme = db_url.split("://", 1)[0]
        raise CommandError(f"unsupported database URL scheme {scheme!r}: use a path or sqlite:///")
    return Path(db_url)


def open_log_reader(db_url: str, config: ContestConfig | None = None) -> ThroneApplication:
    """The application over an existing log, read-only. The recorded rules live in the log, so
    the default config only chooses the netuid."""
    from throne.app import open_reader

    db = existing_log(db_url)
    try:
        return open_reader(db, config or ContestConfig())
    except (EventSourcingError, sqlite3.Error) as exc:
        raise CommandError(f"cannot open the event log {db.display}: {exc}") from exc


def open_reads(db_url: str, config: ContestConfig | None = None) -> ReadSide:
    """The read side over an existing log, read-only: the log, and the read models the daemon
    keeps in its database. `ReadSide.close` closes both."""
    from throne.app import open_reads as open_read_side

    db = existing_log(db_url)
    try:
        return open_read_side(db, config or ContestConfig())
    except (EventSourcingError, sqlite3.Error) as exc:
        raise CommandError(f"cannot open the event log {db.display}: {exc}") from exc


def existing_log(db_url: str, *, readonly: bool = True) -> Database:
    """The database ``db_url`` names, read-only unless asked, once it is known to hold a
    throne log."""
    from throne.adapters.storage.database import (
        StorageError,
        check_database,
        parse_database_url,
    )

    path = sqlite_path(db_url)
    if path is not None:
        path = path.expanduser()
        if not path.is_file():
            raise CommandError(f"no event log at {path} (give --db PATH or set THRONE_DB)")
        db_url = str(path.resolve())
        _check_is_event_log(path, f"{path.resolve().as_uri()}?mode=ro")
    try:
        db = parse_database_url(db_url)
        db = db.readonly() if readonly else db
        check_database(db, must_exist=True)
    except StorageError as exc:
        raise CommandError(str(exc)) from exc
    return db


def _check_is_event_log(path: Path, uri: str) -> None:
    from throne.adapters.storage.database import (
        DEFAULT_LOCK_TIMEOUT_S,
        describe_failure,
        parse_database_url,
    )

    try:
        with closing(sqlite3.connect(uri, uri=True, timeout=DEFAULT_LOCK_TIMEOUT_S)) as conn:
            found = conn.execute(
                "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = ?", (EVENTS_TABLE,)
            ).fetchone()
    except sqlite3.OperationalError as exc:
        if "locked" in str(exc) or "busy" in str(exc):  # another process holds it: say so
            raise CommandError(describe_failure(parse_database_url(str(path)), exc)) from exc
        raise CommandError(f"{path} is not a throne event log: {exc}") from exc
    except sqlite3.Error as exc:
        raise CommandError(f"{path} is not a throne event log: {exc}") from exc
    if found is None:
        raise CommandError(f"{path} is not a throne event log: it has no {EVENTS_TABLE} table")


def read(db_url: str | None, netuid: int, view: Callable[[ReadSide], T]) -> T:
    """Open the log, run one view on it, close it; storage failures become one-line errors."""
    import sqlalchemy as sa

    url = db_url or default_db()
    reads = open_reads(url, ContestConfig(netuid=netuid))
    try:
        return view(reads)
    except (EventSourcingError, TopicError, sqlite3.Error, sa.exc.DBAPIError) as exc:
        from throne.daemon.settings import redact_url

        raise CommandError(f"{redact_url(url)} is not a readable throne event log: {exc}") from exc
    finally:
        reads.close()
