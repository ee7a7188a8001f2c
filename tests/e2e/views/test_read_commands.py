"""`throne rank`, `history`, `weights` and the miner lookup on a real SQLite event log."""

from __future__ import annotations

import argparse
import hashlib
import json
from pathlib import Path

import pytest

from tests.support.contest import Driver, small_config
from tests.support.story import CHAL_UID, WEAK_UID, tell
from throne.application import ThroneApplication
from throne.cli.main import CommandError, main
from throne.cli.miner_lookup import add_miner_lookup_arguments, show_miner


@pytest.fixture(scope="module")
def db(tmp_path_factory: pytest.TempPathFactory) -> str:
    path = tmp_path_factory.mktemp("log") / "throne.db"
    env = {"PERSISTENCE_MODULE": "eventsourcing.sqlite", "SQLITE_DBNAME": str(path)}
    app = ThroneApplication(small_config(), env=env)
    tell(Driver(app=app))
    app.close()
    return str(path)


def _json(capsys: pytest.CaptureFixture[str], argv: list[str]) -> dict:  # type: ignore[type-arg]
    assert main(argv) == 0
    return json.loads(capsys.readouterr().out)  # type: ignore[no-any-return]


def _text(capsys: pytest.CaptureFixture[str], argv: list[str]) -> str:
    assert main(argv) == 0
    return capsys.readouterr().out


def _digest(path: str) -> str:
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def test_rank_json_reads_the_champion_battle_and_queue_from_the_file(
    db: str, capsys: pytest.CaptureFixture[str]
) -> None:
    r = _json(capsys, ["rank", "--db", db, "--json"])
    assert r["champion"]["hotkey"] == "chal" and r["champion"]["since_block"] == 5
    assert r["battle"]["hotkey"] == "late"
    assert r["battle"]["progress"]["SAT"]["common"] == 2
    assert [q["hotkey"] for q in r["queue"]] == ["idle"]
    assert r["counts"]["invalid"] == 1


def test_rank_prints_a_table_like_the_reference_get_rank(
    db: str, capsys: pytest.CaptureFixture[str]
) -> None:
    out = _text(capsys, ["rank", "--db", db, "--reason"])
    assert "CHAMPION CHALLENGE RANKING - Block 7" in out
    assert f"Champion:   UID {CHAL_UID}  chal  org/affine-chal  since block 5" in out
    assert "Battle:     UID 5  late  org/affine-late  started @ block 7" in out
    assert "100.00[88.20,93.00]/2" in out  # late: mean[not-worse, dominant]/common
    assert "10.00[88.20,93.00]/4" in out  # weak: frozen at its verdict (sampling_count 4)
    assert "QUEUE #1" in out and "invalid_jso" in out
    assert "lost_to_champion:early_regression_in_SAT" in out
    totals = "Total: 6  |  Champion: 2  |  Battle: 5  |  Queue head: 6  |  Valid: 5  |  Invalid: 1"
    assert totals in out
    assert "task_ids" not in out


def test_history_prints_each_reign_and_how_it_began_and_ended(
    db: str, capsys: pytest.CaptureFixture[str]
) -> None:
    out = _text(capsys, ["history", "--db", db, "--battles"])
    assert "cold start" in out and "dethroned by chal" in out
    assert "beat champ (dominant_in_2_of_2_envs" in out
    assert "Reigns: 2  |  Battles decided: 2" in out
    h = _json(capsys, ["history", "--db", db, "--json"])
    assert [(r["hotkey"], r["from_block"], r["to_block"]) for r in h["reigns"]] == [
        ("champ", 3, 5),
        ("chal", 5, None),
    ]


def test_weights_without_onchain_show_the_contests_vector(
    db: str, capsys: pytest.CaptureFixture[str]
) -> None:
    w = _json(capsys, ["weights", "--db", db, "--json"])
    assert w["weights"] == {str(CHAL_UID): 1.0}
    assert w["last_submission"] is None
    assert f"uid   {CHAL_UID}  1.000000" in _text(capsys, ["weights", "--db", db])


def _lookup(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser()
    add_miner_lookup_arguments(parser)
    return parser.parse_args(argv)


def test_miner_lookup_finds_a_miner_by_uid_or_hotkey(
    db: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert show_miner(_lookup([str(WEAK_UID), "--db", db, "--json"])) == 0
    by_uid = json.loads(capsys.readouterr().out)
    assert show_miner(_lookup(["weak", "--db", db, "--json"])) == 0
    assert json.loads(capsys.readouterr().out) == by_uid
    assert by_uid["terminated_reason"] == "lost_to_champion:early_regression_in_SAT"
    assert show_miner(_lookup(["weak", "--db", db])) == 0
    out = capsys.readouterr().out
    assert "terminated reason  lost_to_champion:early_regression_in_SAT" in out
    assert "Terminated" in out and "SAT 10.00 vs 90.00 /4 worse" in out


def test_throne_miner_with_a_hotkey_or_uid_shows_that_miner(
    db: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["miner", "weak", "--db", db, "--json"]) == 0
    short = json.loads(capsys.readouterr().out)
    assert main(["miner", "show", str(WEAK_UID), "--db", db, "--json"]) == 0
    assert json.loads(capsys.readouterr().out) == short
    assert main(["miner", "nobody", "--db", db]) == 1
    assert "no miner with hotkey or uid 'nobody'" in capsys.readouterr().err


def test_miner_lookup_of_an_unknown_miner_is_a_clear_error(db: str) -> None:
    with pytest.raises(CommandError, match="no miner with hotkey or uid '77'"):
        show_miner(_lookup(["77", "--db", db]))


def test_reads_never_write_to_the_log(db: str, capsys: pytest.CaptureFixture[str]) -> None:
    before = _digest(db)
    for argv in (["rank"], ["history"], ["weights"], ["rank", "--json"]):
        assert main([*argv, "--db", db]) == 0
    capsys.readouterr()
    assert _digest(db) == before


def test_a_missing_log_is_a_one_line_error_and_is_not_created(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    missing = tmp_path / "nowhere.db"
    for command in ("rank", "history", "weights"):
        assert main([command, "--db", str(missing)]) == 1
        err = capsys.readouterr().err
        expected = f"no event log at {missing} (give --db PATH or set THRONE_DB)"
        assert err == f"throne: error: {expected}\n"
    assert not missing.exists()


def test_a_file_that_is_not_an_event_log_is_a_one_line_error(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    junk = tmp_path / "junk.db"
    junk.write_text("not a database at all\n" * 100)
    assert main(["rank", "--db", str(junk)]) == 1
    err = capsys.readouterr().err
    assert err.startswith("throne: error:") and "is not a throne event log" in err
    assert err.count("\n") == 1


def test_the_log_comes_from_throne_db_or_a_sqlite_url(
    db: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("THRONE_DB", db)
    assert _json(capsys, ["rank", "--json"])["champion"]["hotkey"] == "chal"
    monkeypatch.delenv("THRONE_DB")
    url = "sqlite:///" + db
    assert _json(capsys, ["history", "--db", url, "--json"])["battles_decided"] == 2


def test_the_default_log_lives_in_the_users_data_dir(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.delenv("THRONE_DB", raising=False)
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path))
    assert main(["rank"]) == 1
    assert str(tmp_path / "throne" / "throne.db") in capsys.readouterr().err


def test_another_netuid_reads_an_empty_contest(db: str, capsys: pytest.CaptureFixture[str]) -> None:
    r = _json(capsys, ["rank", "--db", db, "--netuid", "7", "--json"])
    assert r["champion"] is None and r["rows"] == [] and r["netuid"] == 7


def test_an_unsupported_url_is_a_one_line_error(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["rank", "--db", "mysql://host/db"]) == 1
    assert "unsupported database URL scheme 'mysql'" in capsys.readouterr().err
    assert main(["rank", "--db", "postgresql://user@127.0.0.1:1/throne"]) == 1
    err = capsys.readouterr().err
    assert "cannot reach PostgreSQL at 127.0.0.1:1" in err and err.count("\n") == 1


@pytest.mark.postgres
def test_reads_work_on_a_postgres_log(
    postgres_schema_url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    from tests.support.contest import Driver
    from throne.adapters.storage.database import parse_database_url

    config = small_config()
    env = parse_database_url(postgres_schema_url).eventsourcing_env()
    d = Driver(config, ThroneApplication(config, env=env))
    d.join("champ", block=1)
    d.sync()
    d.tick(2)
    d.tick(3)
    d.app.close()
    r = _json(capsys, ["rank", "--db", postgres_schema_url, "--json"])
    assert r["champion"]["hotkey"] == "champ"


def test_a_read_sees_what_a_live_writer_has_committed_since_the_last_read(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = str(tmp_path / "live.db")
    env = {"PERSISTENCE_MODULE": "eventsourcing.sqlite", "SQLITE_DBNAME": path}
    writer = ThroneApplication(small_config(), env=env)
    d = Driver(app=writer)
    d.join("first", block=1)
    d.sync()
    assert _json(capsys, ["rank", "--db", path, "--json"])["champion"] is None
    d.tick(2)
    d.tick(3)
    assert _json(capsys, ["rank", "--db", path, "--json"])["champion"]["hotkey"] == "first"
    writer.close()


def test_a_log_locked_by_another_process_is_named_as_locked(
    db: str, tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    import shutil
    import sqlite3

    from throne.adapters.storage import database

    monkeypatch.setattr(database, "DEFAULT_LOCK_TIMEOUT_S", 0)
    copy = tmp_path / "locked.db"
    shutil.copy(db, copy)
    holder = sqlite3.connect(copy, isolation_level=None)
    holder.execute("PRAGMA locking_mode=EXCLUSIVE")  # readers of a WAL log are shut out too
    holder.execute("BEGIN EXCLUSIVE")
    holder.execute("CREATE TABLE held (x)")
    try:
        assert main(["rank", "--db", str(copy)]) == 1
    finally:
        holder.execute("ROLLBACK")
        holder.close()
    err = capsys.readouterr().err
    assert "locked by another process" in err and err.count("\n") == 1
