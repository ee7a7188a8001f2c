"""The integrity check a writer runs on a SQLite log before it starts.

SQLite finds a damaged page only when it reads it, so a daemon can run for a long while on a
log that ``throne audit verify`` then calls malformed, adding to it all along. Before it starts,
the daemon runs ``PRAGMA quick_check`` on the log's own tables (the events and the snapshots,
with their indexes) and stops on the first fault it reports.

The scope is measured (``bench/integrity.py``): ``quick_check`` reads every page it checks at
about the speed of reading the file, and the response store is most of the file and is
re-checked against its digests whenever a response is read; leaving it out keeps the check to
a fraction of the file. PostgreSQL checks its own pages (data checksums), so there is nothing
to run there.
"""

from __future__ import annotations

import sqlite3
from contextlib import closing
from urllib.parse import quote

from throne.adapters.storage.database import Database, StorageError, storage_errors

#: The tables whose damage would corrupt the contest: the log and its snapshots.
CHECKED_TABLES = ("stored_events", "stored_snapshots")


class CorruptLog(StorageError):
    """SQLite reports damage in the log's pages: nothing may be added to it."""


def check_integrity(db: Database) -> None:
    """Raise :class:`CorruptLog` if the log's tables in ``db`` fail ``PRAGMA quick_check``."""
    if db.backend != "sqlite" or db.path is None or not db.path.is_file():
        return
    uri = f"file:{quote(str(db.path))}?mode=ro"
    with storage_errors(db):
        conn = sqlite3.connect(uri, uri=True, timeout=db.lock_timeout_s)
        with closing(conn):
            try:
                fault = _first_fault(conn)
            except sqlite3.DatabaseError as exc:
                if "malformed" not in str(exc):
                    raise
                fault = f"sqlite_master: {exc}"  # so early that the check cannot even start
    if fault is not None:
        raise damaged(db, fault)


def damaged(db: Database, fault: str) -> CorruptLog:
    """The one line for a log whose pages SQLite reports as damaged."""
    return CorruptLog(
        f"the log {db.path} is damaged ({fault}): nothing was written; stop every throne "
        "process on it and restore the file from a backup"
    )


def _first_fault(conn: sqlite3.Connection) -> str | None:
    present = {str(r[0]) for r in conn.execute("SELECT name FROM sqlite_master WHERE type='table'")}
    for table in CHECKED_TABLES:
        if table not in present:
            continue
        try:
            found = [str(r[0]) for r in conn.execute(f"PRAGMA quick_check({table})")]
        except sqlite3.DatabaseError as exc:  # damage that stops the check itself
            if "malformed" not in str(exc):
                raise
            found = [str(exc)]
        if found != ["ok"]:
            return f"{table}: {found[0]}"
    return None
