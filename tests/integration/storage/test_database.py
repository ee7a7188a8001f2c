from __future__ import annotations

import sqlite3
from dataclasses import replace
from pathlib import Path

import pytest
import sqlalchemy as sa

from tests.support.paths import ROOT
from tests.support.ports import refusing_port
from throne.adapters.storage.database import (
    StorageError,
    check_database,
    parse_database_url,
    resolve_database,
    storage_errors,
)


def test_no_setting_means_a_file_in_the_users_data_directory(tmp_path: Path) -> None:
    db = resolve_database(None, {"XDG_DATA_HOME": str(tmp_path)})
    assert db.backend == "sqlite"
    assert db.path == tmp_path / "throne" / "throne.db"


def test_the_command_line_wins_over_the_environment(tmp_path: Path) -> None:
    env = {"THRONE_DB": f"sqlite:///{tmp_path}/env.db"}
    assert resolve_database(None, env).path == tmp_path / "env.db"
    assert resolve_database(f"sqlite:///{tmp_path}/cli.db", env).path == tmp_path / "cli.db"


def test_sqlite_urls_follow_sqlalchemy_and_plain_paths_work(tmp_path: Path) -> None:
    assert parse_database_url("sqlite:////abs/x.db").path == Path("/abs/x.db")
    assert parse_database_url("sqlite:///rel/x.db").path == Path("rel/x.db").absolute()
    assert parse_database_url(str(tmp_path / "y.db")).path == tmp_path / "y.db"


def test_a_postgres_url_becomes_eventsourcing_settings_with_its_schema() -> None:
    db = parse_database_url("postgresql://u:p%40ss@db.example:6543/logs?schema=s1")
    env = db.eventsourcing_env()
    assert env["PERSISTENCE_MODULE"] == "eventsourcing.postgres"
    assert (env["POSTGRES_HOST"], env["POSTGRES_PORT"]) == ("db.example", "6543")
    assert (env["POSTGRES_USER"], env["POSTGRES_PASSWORD"]) == ("u", "p@ss")
    assert (env["POSTGRES_DBNAME"], env["POSTGRES_SCHEMA"]) == ("logs", "s1")
    assert "p@ss" not in db.display


@pytest.mark.parametrize(
    ("url", "fragment"),
    [
        ("mysql://x/y", "unsupported database URL scheme"),
        ("postgresql:///nohost", "needs a host"),
        ("postgresql://h/db?sslmode=x", "unknown database URL parameter"),
        ("postgresql://h/db?schema=a;drop", "not a valid schema name"),
        ("sqlite://relative", "not a SQLite file URL"),
        ("sqlite:///:memory:", "not a SQLite file URL"),
    ],
)
def test_urls_that_cannot_work_are_refused_in_one_line(url: str, fragment: str) -> None:
    with pytest.raises(StorageError, match=fragment) as exc:
        parse_database_url(url)
    assert "\n" not in str(exc.value)


def test_a_missing_sqlite_file_is_named_when_it_must_exist(tmp_path: Path) -> None:
    db = parse_database_url(str(tmp_path / "absent.db"))
    with pytest.raises(StorageError, match="database not found"):
        check_database(db, must_exist=True)
    assert not (tmp_path / "absent.db").exists()


def test_a_new_sqlite_file_gets_its_directory_created(tmp_path: Path) -> None:
    db = parse_database_url(str(tmp_path / "deep" / "dir" / "t.db"))
    check_database(db, must_exist=False)
    assert (tmp_path / "deep" / "dir").is_dir()


def test_a_locked_sqlite_database_gives_one_line(tmp_path: Path) -> None:
    path = tmp_path / "locked.db"
    holder = sqlite3.connect(path, isolation_level=None)
    holder.execute("CREATE TABLE t (x)")
    holder.execute("BEGIN EXCLUSIVE")
    try:
        db = replace(parse_database_url(str(path)), lock_timeout_s=0)
        with pytest.raises(StorageError, match="database is locked by another process"):
            check_database(db, must_exist=True)
    finally:
        holder.execute("ROLLBACK")
        holder.close()


def test_a_file_that_is_not_a_database_is_named(tmp_path: Path) -> None:
    path = tmp_path / "junk.db"
    path.write_bytes(b"this is not sqlite" * 100)
    with pytest.raises(StorageError, match="is not a SQLite database"):
        check_database(parse_database_url(str(path)), must_exist=True)


def test_an_unreachable_postgres_gives_one_line() -> None:
    with refusing_port() as port:
        db = parse_database_url(f"postgresql://u:p@127.0.0.1:{port}/x?connect_timeout=2")
        with pytest.raises(StorageError, match=r"cannot reach PostgreSQL at 127\.0\.0\.1") as exc:
            check_database(db, must_exist=True)
    assert "\n" not in str(exc.value)


@pytest.mark.postgres
def test_a_missing_postgres_database_is_named(postgres_url: str) -> None:
    db = parse_database_url(postgres_url.rsplit("/", 1)[0] + "/no_such_db")
    with pytest.raises(StorageError, match='database "no_such_db" does not exist'):
        check_database(db, must_exist=True)


def test_read_only_sqlite_refuses_writes(tmp_path: Path) -> None:
    db = parse_database_url(str(tmp_path / "ro.db"))
    engine = db.create_engine()
    with engine.begin() as conn:
        conn.execute(sa.text("CREATE TABLE t (x)"))
    engine.dispose()
    ro = db.readonly().create_engine()
    with pytest.raises(StorageError), storage_errors(db), ro.begin() as conn:
        conn.execute(sa.text("INSERT INTO t VALUES (1)"))
    ro.dispose()


def test_both_backends_open_for_the_log_and_the_read_models(db_url: str) -> None:
    db = parse_database_url(db_url)
    check_database(db, must_exist=False)
    from eventsourcing.application import Application

    class Probe(Application[object]):
        name = "probe"

    app = Probe(env=db.eventsourcing_env())
    try:
        assert app.recorder.max_notification_id() in (None, 0)
    finally:
        app.close()


def test_postgres_tests_fail_rather_than_skip_in_ci_without_a_cluster(tmp_path: Path) -> None:
    import os
    import subprocess
    import sys

    env = {k: v for k, v in os.environ.items() if k != "THRONE_TEST_POSTGRES_URL"}
    here = Path(__file__).resolve().relative_to(ROOT)
    test = f"{here}::test_a_missing_postgres_database_is_named"
    args = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", test]
    in_ci = subprocess.run(args, cwd=ROOT, env={**env, "CI": "true"}, capture_output=True)
    assert in_ci.returncode != 0 and b"CI never skips" in in_ci.stdout
    at_home = subprocess.run(args, cwd=ROOT, env={**env, "CI": ""}, capture_output=True)
    assert at_home.returncode == 0 and b"1 skipped" in at_home.stdout
