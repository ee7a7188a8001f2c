from pathlib import Path

import pytest

from throne.cli.main import main


def test_db_init_is_idempotent_and_migrate_finds_the_schema_current(
    db_url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["db", "init", "--db", db_url]) == 0
    assert main(["db", "init", "--db", db_url]) == 0
    assert main(["db", "migrate", "--db", db_url]) == 0
    assert "schema version 1 is current" in capsys.readouterr().out


def test_migrate_refuses_a_missing_database_in_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["db", "migrate", "--db", str(tmp_path / "none.db")]) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "database not found" in err


def test_an_unreachable_postgres_is_a_one_line_error(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["db", "init", "--db", "postgresql://u@127.0.0.1:1/x"]) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "cannot reach PostgreSQL" in err
