"""The `RoleLock` contract: the lock on SQLite (a lock file) and on PostgreSQL (an advisory
lock) give the writer's role to one holder at a time, and only for as long as it lives."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Callable, Iterator

import pytest

from tests.e2e.daemon.cluster import wait_until
from throne.adapters.storage.database import parse_database_url
from throne.adapters.storage.lock import PostgresRoleLock, SqliteRoleLock
from throne.ports.role_lock import RoleLock

NewLock = Callable[[], RoleLock]

HOLD_UNTIL_KILLED = """
import sys
from throne.adapters.storage.database import parse_database_url
from throne.adapters.storage.lock import PostgresRoleLock, SqliteRoleLock

db = parse_database_url(sys.argv[1])
lock = (SqliteRoleLock if db.backend == "sqlite" else PostgresRoleLock)(db)
assert lock.try_acquire()
print("held", flush=True)
sys.stdin.read()
"""


@pytest.fixture
def new_lock(db_url: str) -> Iterator[NewLock]:
    """Locks on one log, each a holder of its own (as two daemons would be)."""
    db = parse_database_url(db_url)
    made: list[RoleLock] = []

    def new() -> RoleLock:
        lock: RoleLock = SqliteRoleLock(db) if db.backend == "sqlite" else PostgresRoleLock(db)
        made.append(lock)
        return lock

    yield new
    for lock in made:
        lock.release()


def test_a_free_lock_is_taken_and_held(new_lock: NewLock) -> None:
    lock = new_lock()
    assert not lock.holds()
    assert lock.try_acquire()
    assert lock.holds()


def test_a_held_lock_is_refused_to_another_at_once(new_lock: NewLock) -> None:
    first, second = new_lock(), new_lock()
    assert first.try_acquire()
    assert not second.try_acquire()
    assert not second.holds()
    assert first.holds()


def test_a_released_lock_passes_to_another(new_lock: NewLock) -> None:
    first, second = new_lock(), new_lock()
    assert first.try_acquire()
    first.release()
    assert not first.holds()
    assert second.try_acquire()
    assert not first.try_acquire()


def test_taking_a_held_lock_again_keeps_it_and_one_release_lets_it_go(
    new_lock: NewLock,
) -> None:
    first, second = new_lock(), new_lock()
    assert first.try_acquire() and first.try_acquire()
    assert first.holds()
    first.release()
    assert second.try_acquire()


def test_releasing_a_lock_never_taken_changes_nothing(new_lock: NewLock) -> None:
    first, second = new_lock(), new_lock()
    first.release()
    assert second.try_acquire()
    second.release()
    second.release()
    assert first.try_acquire()


def test_a_holder_that_dies_lets_the_lock_go(db_url: str, new_lock: NewLock) -> None:
    holder = subprocess.Popen(
        [sys.executable, "-c", HOLD_UNTIL_KILLED, db_url],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
    )
    try:
        assert holder.stdout is not None and holder.stdout.readline() == b"held\n"
        lock = new_lock()
        assert not lock.try_acquire()
        holder.kill()
        holder.wait()
        # The kernel drops a file lock at once; PostgreSQL ends the session as soon as it
        # sees the connection closed.
        assert wait_until(lock.try_acquire, 30, poll=0.05)
    finally:
        if holder.poll() is None:
            holder.kill()
            holder.wait()
