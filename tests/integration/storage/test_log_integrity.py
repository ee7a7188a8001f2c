"""A damaged SQLite log stops its writers at start, in one line, before they add to it."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from tests.support.command import throne, with_local_chain
from tests.support.contest import small_config
from tests.support.played import play
from throne.adapters.storage.database import StorageError, parse_database_url
from throne.adapters.storage.integrity import CorruptLog, check_integrity
from throne.adapters.storage.lock import SqliteRoleLock
from throne.app import open_log
from throne.application import ThroneApplication


def played_log(path: Path) -> Path:
    db = parse_database_url(str(path))
    open_log(db, as_daemon=False)
    app = ThroneApplication(small_config(), env=db.eventsourcing_env())
    try:
        play(app)
    finally:
        app.close()
    with sqlite3.connect(path) as conn:
        conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")  # every page in the file itself
    return path


def damage_an_old_page_of_the_events(path: Path) -> int:
    """Overwrite the leaf that holds the first events: a page a running daemon need not read
    again, so nothing but a check finds it. Returns its page number."""
    with sqlite3.connect(path) as conn:
        root = conn.execute("SELECT rootpage FROM sqlite_master WHERE name='stored_events'")
        root_page = int(root.fetchone()[0])
        page_size = int(conn.execute("PRAGMA page_size").fetchone()[0])
    data = bytearray(path.read_bytes())
    start = (root_page - 1) * page_size
    assert data[start] == 0x05, "the events need a table b-tree of two levels"
    first_cell = int.from_bytes(data[start + 12 : start + 14], "big")
    leaf = int.from_bytes(data[start + first_cell : start + first_cell + 4], "big")
    leaf_start = (leaf - 1) * page_size
    data[leaf_start : leaf_start + page_size] = bytes([0xA5]) * page_size
    path.write_bytes(bytes(data))
    return leaf


def test_a_healthy_log_passes_the_check(tmp_path: Path) -> None:
    path = played_log(tmp_path / "throne.db")
    check_integrity(parse_database_url(str(path)))


def test_a_log_with_a_damaged_page_is_refused_in_one_line(tmp_path: Path) -> None:
    path = played_log(tmp_path / "throne.db")
    damage_an_old_page_of_the_events(path)
    db = parse_database_url(str(path))
    size = path.stat().st_size
    with pytest.raises(CorruptLog, match="is damaged") as exc:
        open_log(db, as_daemon=True)
    message = str(exc.value)
    assert isinstance(exc.value, StorageError)
    assert "\n" not in message and "stored_events" in message and "backup" in message
    assert path.stat().st_size == size
    lock = SqliteRoleLock(db)  # the refused daemon let go of the log
    lock.acquire()
    lock.release()


def test_a_damaged_log_made_before_the_mark_is_named_damaged_too(tmp_path: Path) -> None:
    path = tmp_path / "old.db"
    app = ThroneApplication(small_config(), env=parse_database_url(str(path)).eventsourcing_env())
    try:
        play(app)
    finally:
        app.close()
    with sqlite3.connect(path) as conn:
        conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        assert conn.execute("PRAGMA application_id").fetchone()[0] == 0
    damage_an_old_page_of_the_events(path)
    with pytest.raises(CorruptLog, match=r"is damaged \(stored_events: "):
        open_log(parse_database_url(str(path)), as_daemon=False)


def test_throne_run_on_a_damaged_log_stops_at_once_with_one_line(tmp_path: Path) -> None:
    path = played_log(tmp_path / "throne.db")
    damage_an_old_page_of_the_events(path)
    config = tmp_path / "throne.toml"
    config.write_text(f'[validator]\ndata_dir = "{tmp_path / "data"}"\n')
    with_local_chain(tmp_path)
    done = throne("run", "--config", str(config), "--db", str(path), cwd=tmp_path)
    assert done.returncode == 1
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and "is damaged" in lines[0], done.stderr
