"""The `RoleLock` port: a lock that makes one daemon the writer of a log.

The writer reads the chain, decides the contest and sets weights; two of them on one log would
set weights twice as often and race each decision. The lock lives in the log's database, and
it lives exactly as long as its holder: a holder that dies (or loses its session) lets it go.
"""

from __future__ import annotations

from typing import Protocol


class RoleLock(Protocol):
    """The writer's lock on one log. Adapters: `SqliteRoleLock` (``flock`` on a file beside the
    log) and `PostgresRoleLock` (an advisory lock on a session of its own). Calls may block;
    one at a time."""

    def try_acquire(self) -> bool:
        """Take the lock if free (or keep it, if already held); never waits for it. Raises if
        the database cannot answer."""

    def holds(self) -> bool:
        """Whether the lock is still this holder's (False once released, or once its session
        is gone)."""

    def release(self) -> None:
        """Let the lock go; nothing happens if it is not held."""
