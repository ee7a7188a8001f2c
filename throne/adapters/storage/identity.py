"""Which SQLite files are throne logs: marked at creation, recognised before anything is written.

A throne log carries ``PRAGMA application_id`` = :data:`THRONE_APPLICATION_ID` in its header
from the moment throne first opens it. A file without the mark (``application_id`` 0) is taken
as a log only when it holds no table at all (new or empty), or when it is a log made before the
mark existed: its ``stored_events`` table holds throne's events, or holds none and every table
is one throne makes. Such a file gets the mark the first time it is opened for writing. Any
other file is refused before a single table is written into it.
"""

from __future__ import annotations

import re
import sqlite3
import time
from contextlib import closing
from urllib.parse import quote

from throne.adapters.storage.database import Database, StorageError, storage_errors
from throne.adapters.storage.integrity import damaged

#: "thrn" in ASCII: the SQLite header's application id of every throne log.
THRONE_APPLICATION_ID = 0x7468726E
EVENTS_TABLE = "stored_events"
#: Topics of throne's events start so (stable topic strings, see the domain).
THRONE_TOPIC_PREFIX = "throne:"
#: The tables throne makes: the log, its snapshots, responses, claims, schema version, and the
#: read models and their positions (a rebuilt read model's tables carry a prefix).
_THRONE_TABLE = re.compile(
    r"^(stored_events|stored_snapshots|projection_tracking|throne_\w+"
    r"|(\w+_)?(weights|standings|history|decisions|audit)_\w+)$"
)


class NotAThroneLog(StorageError):
    """The SQLite file belongs to something else; throne writes nothing into it."""


def _tables(conn: sqlite3.Connection) -> list[str]:
    rows = conn.execute(
        "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%' "
        "ORDER BY name"
    )
    return [str(r[0]) for r in rows]


def _is_unmarked_log(conn: sqlite3.Connection, tables: list[str], db: Database) -> bool:
    if EVENTS_TABLE not in tables:
        return False
    try:
        row = conn.execute(f"SELECT topic FROM {EVENTS_TABLE} ORDER BY rowid LIMIT 1").fetchone()
    except sqlite3.DatabaseError as exc:
        if "malformed" not in str(exc):
            raise
        raise damaged(db, f"{EVENTS_TABLE}: {exc}") from None
    if row is not None:
        return str(row[0]).startswith(THRONE_TOPIC_PREFIX)
    return all(_THRONE_TABLE.match(t) for t in tables)


def _refuse(db: Database, why: str) -> NotAThroneLog:
    return NotAThroneLog(
        f"{db.path} is not a throne log ({why}): throne writes nothing into it; "
        "give throne a file of its own with --db"
    )


def recognise(conn: sqlite3.Connection, db: Database) -> bool:
    """True if the file is a marked log; False if it may become one (new, empty or unmarked
    log); :class:`NotAThroneLog` if it belongs to something else."""
    app_id = int(conn.execute("PRAGMA application_id").fetchone()[0])
    if app_id == THRONE_APPLICATION_ID:
        return True
    if app_id != 0:
        raise _refuse(db, f"its application_id is {app_id:#010x}")
    tables = _tables(conn)
    if tables and not _is_unmarked_log(conn, tables, db):
        shown = ", ".join(tables[:5]) + (", ..." if len(tables) > 5 else "")
        raise _refuse(db, f"it holds other tables: {shown}")
    return False


def claim_sqlite_log(db: Database) -> None:
    """Refuse a SQLite file that is not a throne log; mark a new or unmarked one as throne's.

    The mark goes in with WAL mode, before anything else opens the file: processes that open
    a new file together would otherwise race to switch its journal mode, and SQLite answers
    the loser "database is locked" at once instead of waiting."""
    assert db.backend == "sqlite" and db.path is not None
    if db.read_only:
        if db.path.is_file():
            with storage_errors(db), closing(_connect(db, read_only=True)) as conn:
                recognise(conn, db)
        return
    deadline = time.monotonic() + db.lock_timeout_s
    with storage_errors(db), closing(_connect(db, read_only=False)) as conn:
        if recognise(conn, db):
            return
        while True:
            try:
                if str(conn.execute("PRAGMA journal_mode").fetchone()[0]).lower() != "wal":
                    conn.execute("PRAGMA journal_mode=WAL")
                if not recognise(conn, db):  # again: another process may have written
                    conn.execute(f"PRAGMA application_id = {THRONE_APPLICATION_ID}")
                return
            except sqlite3.OperationalError as exc:
                if "locked" not in str(exc) or time.monotonic() > deadline:
                    raise
                time.sleep(0.05)


def _connect(db: Database, *, read_only: bool) -> sqlite3.Connection:
    target = f"file:{quote(str(db.path))}" + ("?mode=ro" if read_only else "")
    return sqlite3.connect(target, uri=True, timeout=db.lock_timeout_s, isolation_level=None)
