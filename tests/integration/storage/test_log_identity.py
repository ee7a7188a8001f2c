"""A SQLite file is a throne log, a new one, or refused before anything is written into it."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from tests.support.command import throne, with_local_chain
from tests.support.contest import small_config
from tests.support.played import play
from throne.adapters.storage.database import StorageError, parse_database_url
from throne.adapters.storage.identity import (
    THRONE_APPLICATION_ID,
    NotAThroneLog,
    claim_sqlite_log,
)
from throne.app import open_log
from throne.application import ThroneApplication

#: The command as its entry point runs it (``python -m throne.cli.main`` would run the module
#: twice under two names, and its errors' class would not be the one ``main`` catches).


def tables(path: Path) -> list[str]:
    with sqlite3.connect(path) as conn:
        rows = conn.execute("SELECT name FROM sqlite_master WHERE type='table' ORDER BY name")
        return [r[0] for r in rows]


def application_id(path: Path) -> int:
    with sqlite3.connect(path) as conn:
        return int(conn.execute("PRAGMA application_id").fetchone()[0])


def foreign_file(path: Path) -> Path:
    with sqlite3.connect(path) as conn:
        conn.execute("CREATE TABLE customers (id INTEGER PRIMARY KEY, name TEXT)")
        conn.execute("INSERT INTO customers VALUES (1, 'someone')")
    return path


def unmarked_log(path: Path) -> Path:
    """A log as throne wrote it before it marked its files: the application straight on it."""
    app = ThroneApplication(small_config(), env=parse_database_url(str(path)).eventsourcing_env())
    try:
        play(app)
    finally:
        app.close()
    assert application_id(path) == 0
    return path


def test_a_foreign_sqlite_file_is_refused_and_left_untouched(tmp_path: Path) -> None:
    path = foreign_file(tmp_path / "shop.db")
    before = path.read_bytes()
    with pytest.raises(NotAThroneLog, match="holds other tables: customers") as exc:
        open_log(parse_database_url(str(path)), as_daemon=True)
    assert "\n" not in str(exc.value) and "--db" in str(exc.value)
    assert isinstance(exc.value, StorageError)
    assert tables(path) == ["customers"]
    assert path.read_bytes() == before
    assert not (tmp_path / "shop.db.lock").exists()


def test_a_file_of_another_application_is_refused_even_without_tables(tmp_path: Path) -> None:
    path = tmp_path / "map.gpkg"
    with sqlite3.connect(path) as conn:
        conn.execute("PRAGMA application_id = 1196444487")  # GeoPackage's
    with pytest.raises(NotAThroneLog, match="application_id is 0x47504b47"):
        claim_sqlite_log(parse_database_url(str(path)))


def test_another_event_sourced_applications_file_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "other.db"
    with sqlite3.connect(path) as conn:
        conn.execute(
            "CREATE TABLE stored_events (originator_id TEXT, originator_version INTEGER, "
            "topic TEXT, state BLOB, PRIMARY KEY (originator_id, originator_version))"
        )
        conn.execute("INSERT INTO stored_events VALUES ('x', 1, 'bank:Account.Opened', x'7b7d')")
    with pytest.raises(NotAThroneLog, match="holds other tables: stored_events"):
        claim_sqlite_log(parse_database_url(str(path)))


def test_a_new_or_empty_file_becomes_a_marked_log(tmp_path: Path) -> None:
    new = tmp_path / "new.db"
    empty = tmp_path / "empty.db"
    empty.touch()
    for path in (new, empty):
        claim_sqlite_log(parse_database_url(str(path)))
        assert application_id(path) == THRONE_APPLICATION_ID


def test_a_log_made_before_the_mark_still_opens_and_gets_marked(tmp_path: Path) -> None:
    path = unmarked_log(tmp_path / "old.db")
    db = parse_database_url(str(path))
    with ThroneApplication(small_config(), env=db.eventsourcing_env()) as app:
        events = app.recorder.max_notification_id()
    lock = open_log(db, as_daemon=True)
    assert lock is not None
    lock.release()
    assert application_id(path) == THRONE_APPLICATION_ID
    with ThroneApplication(small_config(), env=db.eventsourcing_env()) as app:
        assert app.recorder.max_notification_id() == events


def test_an_unmarked_log_with_no_events_yet_and_only_throne_tables_opens(tmp_path: Path) -> None:
    path = tmp_path / "fresh.db"
    db = parse_database_url(str(path))
    ThroneApplication(small_config(), env=db.eventsourcing_env()).close()
    with sqlite3.connect(path) as conn:
        conn.execute("CREATE TABLE weights_current (uid INTEGER)")  # an older throne's
        conn.execute("CREATE TABLE rebuilt_standings_miners (uid INTEGER)")
        conn.execute("CREATE TABLE history_120_reigns (uid INTEGER)")
        conn.execute("CREATE TABLE decisions_120_made (uid INTEGER)")
    claim_sqlite_log(db)
    assert application_id(path) == THRONE_APPLICATION_ID


def test_db_init_and_run_refuse_a_foreign_file_in_one_line(tmp_path: Path) -> None:
    path = foreign_file(tmp_path / "shop.db")
    config = tmp_path / "throne.toml"
    config.write_text(f'[validator]\ndata_dir = "{tmp_path / "data"}"\n')
    with_local_chain(tmp_path)
    for args in (
        ["db", "init", "--db", str(path)],
        ["run", "--config", str(config), "--db", str(path)],
    ):
        done = throne(*args, cwd=tmp_path)
        assert done.returncode == 1, done.stderr
        lines = done.stderr.strip().splitlines()
        assert len(lines) == 1 and "is not a throne log" in lines[0], done.stderr
        assert tables(path) == ["customers"]
