"""`RoleLock` adapters, one writer per log: a lock file on SQLite, an advisory lock on PostgreSQL.

The writer reads the chain, decides the contest and sets weights; two of them on one log set
weights twice as often and race each decision. Sampling needs no lock: workers share it through
claims.

- SQLite: the daemon holds ``flock`` on ``<log>.lock`` for its whole life; a second daemon is
  refused at start. The kernel drops the lock when the holder's process ends, even by SIGKILL.
- PostgreSQL: the writer's role is a session-level advisory lock on a session of its own
  (:mod:`throne.adapters.storage.pg_session`), so a second daemon can wait as a hot standby
  and take the role once the holder's session ends: at once when its process dies, within
  seconds when its network does.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import socket
from pathlib import Path
from typing import Any

from throne.adapters.storage.database import Database, StorageError, storage_errors
from throne.ports.role_lock import RoleLock


class LogInUse(StorageError):
    """Another daemon already writes this log."""


def lock_file_of(db: Database) -> Path:
    assert db.path is not None
    return db.path.with_name(db.path.name + ".lock")


class SqliteRoleLock(RoleLock):
    """``flock`` on the file beside the log; it names its holder for the message."""

    def __init__(self, db: Database) -> None:
        self._db = db
        self._path = lock_file_of(db)
        self._fd: int | None = None

    def acquire(self) -> None:
        """Take the lock or raise :class:`LogInUse` naming the holder; never waits."""
        try:
            fd = os.open(self._path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644)
        except OSError as exc:
            raise StorageError(f"cannot create the lock file {self._path}: {exc.strerror}") from exc
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.pread(fd, 200, 0).decode("utf-8", "replace").strip() or "unknown"
            os.close(fd)
            raise LogInUse(
                f"another throne daemon ({holder}) already writes {self._db.path}: one daemon "
                "per log; stop it first, or add sampling beside it with `throne worker`"
            ) from None
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"pid {os.getpid()} on {socket.gethostname()}\n".encode(), 0)
        self._fd = fd

    def try_acquire(self) -> bool:
        if self._fd is not None:
            return True
        try:
            self.acquire()
        except LogInUse:
            return False
        return True

    def holds(self) -> bool:
        return self._fd is not None  # the kernel keeps the lock as long as the descriptor

    def release(self) -> None:
        if self._fd is not None:
            os.ftruncate(self._fd, 0)
            os.close(self._fd)  # closing the only descriptor drops the lock
            self._fd = None


class PostgresRoleLock(RoleLock):
    """The writer's role on a PostgreSQL log: ``pg_try_advisory_lock`` on a session of its own.

    ``try_acquire`` never waits, so a standby polls it; ``holds`` asks the session whether it
    still lives (the lock lives exactly as long). Not thread-safe: one caller at a time."""

    def __init__(self, db: Database) -> None:
        from throne.adapters.storage.pg_session import advisory_key

        self._db = db
        self._key = advisory_key(db, "writer")
        self._conn: Any = None
        self._held = False

    def try_acquire(self) -> bool:
        import psycopg

        from throne.adapters.storage.pg_session import connect

        try:
            if self._conn is None or self._conn.closed:
                with storage_errors(self._db):
                    self._conn = connect(self._db)
            row = self._conn.execute("SELECT pg_try_advisory_lock(%s)", (self._key,)).fetchone()
        except psycopg.Error:
            self._drop()
            raise
        self._held = bool(row[0])
        return self._held

    def holds(self) -> bool:
        import psycopg

        if not self._held or self._conn is None:
            return False
        try:
            self._conn.execute("SELECT 1")
        except psycopg.Error:
            self._drop()
            return False
        return True

    def release(self) -> None:
        self._drop()  # the session's end releases the lock

    def _drop(self) -> None:
        self._held = False
        conn, self._conn = self._conn, None
        if conn is not None:
            # A broken session has nothing left to close.
            with contextlib.suppress(Exception):
                conn.close()
