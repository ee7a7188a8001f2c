"""Every bad input an operator can give `throne run` (and the other commands) is one line.

Each case runs the real command in a subprocess on a real validator world (a local chain, a
settings file) with exactly one thing wrong, and holds that the command exits non-zero and
that stderr is one line, naming the problem, with no traceback.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import pytest

from tests.e2e.daemon.cluster import World, make_world, wait_until
from tests.support.ports import refusing_port
from throne.application import ThroneApplication
from throne.cli.errors import user_error_line
from throne.cli.main import build_parser, main
from throne.domain.contest.config import ContestConfig

SECRET = bytes(range(32))


def throne(
    *argv: str, cwd: Path, env: dict[str, str] | None = None, timeout: float = 120
) -> subprocess.CompletedProcess[str]:
    clean = {k: v for k, v in os.environ.items() if not k.startswith("THRONE_")}
    clean["XDG_DATA_HOME"] = str(cwd / "xdg")  # never the real user's data directory
    return subprocess.run(
        [sys.executable, "-m", "throne.cli.main", *argv],
        cwd=cwd,
        env={**clean, **(env or {})},
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def one_line(result: subprocess.CompletedProcess[str]) -> str:
    """The command's only line on stderr, once it is known to have failed without a traceback."""
    assert result.returncode != 0, result.stdout + result.stderr
    assert result.stdout == "", result.stdout
    assert "Traceback" not in result.stderr, result.stderr
    lines = result.stderr.splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("throne: error: "), lines[0]
    return lines[0]


@pytest.fixture
def world(tmp_path: Path) -> World:
    return make_world(tmp_path / "w", "http://127.0.0.1:9/v1", SECRET)


def run_daemon(world: World, *extra: str) -> str:
    return one_line(throne("run", "--config", str(world.config), *extra, cwd=world.root))


def set_value(world: World, section: str, line: str) -> None:
    """Set ``line`` (``key = value``) in ``[section]`` of the world's settings file."""
    key = line.split("=", 1)[0].strip()
    lines = world.config.read_text().splitlines()
    header = f"[{section}]"
    if header not in lines:
        lines += [header, line]
    else:
        start = lines.index(header) + 1
        end = next((i for i in range(start, len(lines)) if lines[i].startswith("[")), len(lines))
        body = [x for x in lines[start:end] if x.split("=", 1)[0].strip() != key]
        lines[start:end] = [*body, line]
    world.config.write_text("\n".join(lines) + "\n")


def replace_inference(world: World, table: str) -> None:
    text = world.config.read_text()
    world.config.write_text(text[: text.index("[inference")] + table)


def a_real_log(path: Path) -> None:
    env = {"PERSISTENCE_MODULE": "eventsourcing.sqlite", "SQLITE_DBNAME": str(path)}
    ThroneApplication(ContestConfig(), env=env).close()


# -- the log ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "content",
    [
        pytest.param(b"\x8f\x13" * 4096, id="garbage"),
        pytest.param(b"hello, this is not a database\n" * 200, id="text"),
    ],
)
def test_a_log_file_that_is_not_a_database_is_one_line(world: World, content: bytes) -> None:
    db = world.root / "junk.db"
    db.write_bytes(content)
    line = run_daemon(world, "--db", str(db))
    assert f"{db} is not a SQLite database" in line
    assert "give the path of a throne log" in line
    assert db.read_bytes() == content  # nothing was written into it


def test_a_log_cut_short_is_one_line_that_calls_it_corrupt(world: World) -> None:
    whole = world.root / "whole.db"
    a_real_log(whole)
    cut = world.root / "cut.db"
    cut.write_bytes(whole.read_bytes()[: whole.stat().st_size // 3])
    line = run_daemon(world, "--db", str(cut))
    assert f"the log {cut} is corrupt" in line and "restore it from a backup" in line


def test_a_directory_as_the_log_is_one_line_suggesting_a_file_in_it(world: World) -> None:
    folder = world.root / "logs"
    folder.mkdir()
    line = run_daemon(world, "--db", str(folder))
    assert f"{folder} is a directory" in line and str(folder / "throne.db") in line


def test_a_log_whose_directory_is_missing_is_refused_not_created(world: World) -> None:
    db = world.root / "no" / "such" / "throne.db"
    line = run_daemon(world, "--db", str(db))
    assert f"{db.parent} does not exist" in line and "mkdir -p" in line
    assert not (world.root / "no").exists()


@contextlib.contextmanager
def read_only_directory(path: Path) -> Iterator[Path]:
    """A directory in which nobody, root included, can create a file."""
    path.mkdir()
    path.chmod(0o555)
    immutable = False
    if os.geteuid() == 0:  # root ignores modes; the immutable flag binds root too
        immutable = subprocess.run(["chattr", "+i", str(path)], capture_output=True).returncode == 0
    try:
        with pytest.raises(OSError):
            (path / "probe").touch()
        yield path
    finally:
        if immutable:
            subprocess.run(["chattr", "-i", str(path)], check=True)
        path.chmod(0o755)


def test_a_log_in_a_read_only_directory_is_one_line(world: World) -> None:
    with read_only_directory(world.root / "ro") as ro:
        line = run_daemon(world, "--db", str(ro / "throne.db"))
    assert f"{ro} is read-only" in line and "choose a writable location" in line


def test_a_log_where_no_file_can_be_made_is_one_line(world: World) -> None:
    # /proc accepts no new files, whoever asks
    line = run_daemon(world, "--db", "/proc/throne.db")
    assert "cannot open database /proc/throne.db" in line and "a place you can write" in line


def test_the_worker_names_a_bad_log_in_one_line_too(world: World) -> None:
    db = world.root / "junk.db"
    db.write_text("not a database\n" * 100)
    line = one_line(
        throne("worker", "--config", str(world.config), "--db", str(db), cwd=world.root)
    )
    assert "is not a SQLite database" in line


@pytest.mark.parametrize(
    "command",
    [
        ["rank"],
        ["history"],
        ["db", "init"],
        ["db", "migrate"],
        ["audit", "export", "--out", "out.jsonl"],
        ["audit", "verify"],
    ],
    ids=" ".join,
)
def test_every_command_on_a_log_names_a_junk_file_in_one_line(
    tmp_path: Path, command: list[str]
) -> None:
    db = tmp_path / "junk.db"
    db.write_text("not a database\n" * 100)
    line = one_line(throne(*command, "--db", str(db), cwd=tmp_path))
    assert "junk.db" in line and "not a" in line


# -- the first run ----------------------------------------------------------------------------


def test_the_first_run_with_an_empty_config_and_no_chain_says_how_to_make_one(
    tmp_path: Path,
) -> None:
    (tmp_path / "throne.toml").write_text("")
    line = one_line(throne("run", "--config", "throne.toml", cwd=tmp_path))
    assert "no local chain at .throne/chain.db" in line and "throne localnet init" in line


def test_the_first_run_with_an_empty_config_creates_the_default_log_and_starts(
    tmp_path: Path,
) -> None:
    (tmp_path / "throne.toml").write_text("")
    init = throne("localnet", "init", cwd=tmp_path)
    assert init.returncode == 0, init.stderr
    env = {k: v for k, v in os.environ.items() if not k.startswith("THRONE_")}
    env["XDG_DATA_HOME"] = str(tmp_path / "fresh" / "data")
    log = tmp_path / "daemon.log"
    with log.open("wb") as out:
        proc = subprocess.Popen(
            [sys.executable, "-m", "throne.cli.main", "run", "--config", "throne.toml"],
            cwd=tmp_path,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
        try:
            started = wait_until(lambda: b"daemon_started" in log.read_bytes(), timeout=60)
        finally:
            proc.send_signal(signal.SIGTERM)
            code = proc.wait(timeout=30)
    assert started, log.read_text()
    assert code == 0, log.read_text()
    assert (tmp_path / "fresh" / "data" / "throne" / "throne.db").is_file()


# -- PostgreSQL ---------------------------------------------------------------------------


def _with_url_part(url: str, **parts: str) -> str:
    split = urlsplit(url)
    return urlunsplit(split._replace(**parts))


@pytest.mark.postgres
def test_postgres_refusing_the_connection_is_one_line(world: World, postgres_url: str) -> None:
    with refusing_port() as port:
        url = _with_url_part(postgres_url, netloc=f"throne:throne@127.0.0.1:{port}")
        line = run_daemon(world, "--db", url)
    assert f"cannot reach PostgreSQL at 127.0.0.1:{port}" in line
    assert "is it running" in line


@pytest.mark.postgres
def test_a_wrong_postgres_password_is_one_line_without_the_password(
    world: World, postgres_url: str
) -> None:
    split = urlsplit(postgres_url)
    url = _with_url_part(
        postgres_url, netloc=f"{split.username}:hunter2@{split.hostname}:{split.port}"
    )
    line = run_daemon(world, "--db", url)
    assert "refused the login" in line and "password authentication failed" in line
    assert "hunter2" not in line


@pytest.mark.postgres
def test_a_missing_postgres_database_is_one_line_saying_how_to_create_it(
    world: World, postgres_url: str
) -> None:
    line = run_daemon(world, "--db", _with_url_part(postgres_url, path="/no_such_db"))
    assert 'database "no_such_db" does not exist' in line and "createdb no_such_db" in line


@pytest.mark.postgres
def test_a_missing_postgres_schema_is_one_line_saying_how_to_create_it(
    world: World, postgres_url: str
) -> None:
    line = run_daemon(world, "--db", f"{postgres_url}?schema=no_such_schema")
    assert "schema 'no_such_schema' does not exist" in line
    assert "CREATE SCHEMA no_such_schema" in line


# -- the chain, the pool secret, the status port -------------------------------------------


def test_a_chain_file_that_is_not_a_chain_is_one_line(world: World) -> None:
    (world.root / "chain.db").write_bytes(b"\x00junk" * 1000)
    line = run_daemon(world)
    assert "is not a local chain file" in line and "throne localnet init" in line


def test_a_pool_secret_that_is_too_short_is_one_line(world: World) -> None:
    (world.root / "secret").write_bytes(b"short")
    line = run_daemon(world)
    assert "holds 5 bytes, fewer than the 32" in line


def test_a_pool_secret_that_is_a_directory_is_one_line(world: World) -> None:
    (world.root / "secret").unlink()
    (world.root / "secret").mkdir()
    line = run_daemon(world)
    assert "is a directory" in line and "pool_secret_file" in line


def test_a_pool_secret_that_cannot_be_created_is_one_line(world: World) -> None:
    with read_only_directory(world.root / "ro") as ro:
        set_value(world, "validator", f'pool_secret_file = "{ro / "secret"}"')
        line = run_daemon(world)
    assert f"cannot create the pool secret {ro / 'secret'}" in line
    assert "choose a writable data_dir or pool_secret_file" in line


def test_a_status_port_in_use_is_one_line(world: World) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        set_value(world, "validator", f"status_port = {port}")
        line = run_daemon(world)
    assert f"cannot serve the status API on 127.0.0.1:{port}" in line
    assert "choose another status_port" in line


# -- the settings file --------------------------------------------------------------------

BAD_VALUES = [
    ("validator", "status_port = 99999", "status_port must be within [0, 65535], got 99999"),
    ("validator", "poll_seconds = 0", "poll_seconds must be > 0"),
    ("validator", "weights_interval_blocks = -5", "weights_interval_blocks must be >= 1"),
    ("validator", "chain_timeout_seconds = -1", "chain_timeout_seconds must be > 0"),
    ("validator", 'chain = "bogus"', "chain must be local, finney, test or a ws(s):// URL"),
    ("sampler", "concurrency = 0", "concurrency must be >= 1, got 0"),
    ("sampler", "request_timeout_seconds = -1", "request_timeout_seconds must be > 0"),
    ("sampler", "retries = -1", "retries must be >= 0, got -1"),
    ("sampler", "claim_ttl_seconds = -60", "claim_ttl_seconds must be > 0"),
    ("contest", "completeness = 1.5", "completeness must be within (0, 1], got 1.5"),
    ("contest", "battle_deadline_blocks = -10", "battle_deadline_blocks must be >= 1, got -10"),
    ("contest", "min_dominant_envs = 9", "min_dominant_envs must be <= the 3 scoring env(s)"),
    ("contest", "refresh_blocks = 0", "refresh_blocks must be >= 1"),
    ("envs.SAT", 'mode = "bogus"', "mode must be one of random, latest, got 'bogus'"),
    ("envs.SAT", "margin = -0.5", "margin must be >= 0, got -0.5"),
    ("envs.SAT", 'id_range = "x"', "id_range must be [start, stop] with 0 <= start < stop"),
    ("model_hub", "retry_after_failure_seconds = -1", "retry_after_failure_seconds must be >= 0"),
]


@pytest.mark.parametrize(("section", "line", "message"), BAD_VALUES, ids=[v[1] for v in BAD_VALUES])
def test_a_value_out_of_range_stops_run_and_config_show_in_one_line(
    world: World, capsys: pytest.CaptureFixture[str], section: str, line: str, message: str
) -> None:
    set_value(world, section, line)
    shown = run_daemon(world)
    assert f"[{section}]: {message}" in shown
    assert main(["config", "show", "--config", str(world.config)]) == 1
    captured = capsys.readouterr()
    assert captured.out == "" and captured.err.strip() == shown


@pytest.mark.parametrize(
    ("table", "message"),
    [
        ("[inference]\nroutes = 5\n", 'routes must be a table of "model" = "http://host/v1"'),
        (
            '[inference.routes]\n"org/m" = { base_url = "notaurl" }\n',
            "route 'org/m': base_url must be an http(s):// URL, got 'notaurl'",
        ),
        ('[inference]\ngateway = "gateway:8000"\n', "gateway must be an http(s):// URL"),
    ],
    ids=["routes=5", "base_url=notaurl", "gateway"],
)
def test_a_bad_inference_table_is_one_line(world: World, table: str, message: str) -> None:
    replace_inference(world, table)
    assert f"[inference]: {message}" in run_daemon(world)


def test_a_missing_settings_file_is_one_line_through_python_dash_m(tmp_path: Path) -> None:
    line = one_line(throne("run", "--config", "absent.toml", cwd=tmp_path))
    assert line == "throne: error: no settings file at absent.toml"


def test_config_show_hides_passwords_in_every_url(
    world: World, capsys: pytest.CaptureFixture[str]
) -> None:
    replace_inference(world, '[inference]\ngateway = "https://bob:gw-pass@gw.example/v1"\n')
    url = "postgresql://throne:db-pass@db.example:5432/throne"
    assert main(["config", "show", "--config", str(world.config), "--db", url, "--json"]) == 0
    out = capsys.readouterr().out
    assert "db-pass" not in out and "gw-pass" not in out
    assert "postgresql://throne:***@db.example:5432/throne" in out
    assert "https://bob:***@gw.example/v1" in out


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["miner", "serve", "--port", "99999", "--skill", "0.5"], "--port must be within"),
        (["miner", "serve", "--port", "0"], "give --skill (or --from-dir DIR)"),
        (["miner", "serve", "--port", "0", "--from-dir", "."], "holds no throne-miner.json"),
        (
            ["miner", "serve", "--port", "0", "--from-dir", ".", "--skill", "1"],
            "give neither --skill nor --miner",
        ),
        (["localnet", "show", "--chain-db", "junk.db"], "junk.db is not a local chain file"),
        (["localnet", "init", "--chain-db", "/proc/chain.db"], "cannot create the local chain"),
        (
            ["audit", "export", "--db", "log.db", "--out", "x.jsonl", "--key", "junk.db"],
            "junk.db is not a signing key",
        ),
        (["miner", "9" * 5000, "--db", "log.db"], "at most 64 characters"),
        (["miner", "70000", "--db", "log.db"], "a uid is a number from 0 to 65535"),
        (["miner", "a;b", "--db", "log.db"], "a hotkey has only letters, digits"),
    ],
    ids=[
        "miner port",
        "miner without a skill",
        "model folder without a miner",
        "model folder and a skill",
        "junk chain",
        "chain nowhere",
        "binary key",
        "5000-digit miner",
        "uid past u16",
        "hotkey with a semicolon",
    ],
)
def test_the_other_commands_name_a_bad_file_or_number_in_one_line(
    tmp_path: Path, argv: list[str], message: str
) -> None:
    (tmp_path / "junk.db").write_bytes(b"\xd0\x00junk" * 500)
    a_real_log(tmp_path / "log.db")
    assert message in one_line(throne(*argv, cwd=tmp_path))


# -- the boundary itself -------------------------------------------------------------------


def test_an_unknown_exception_keeps_its_traceback(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    def bug(_args: object) -> int:
        raise RuntimeError("a bug, not a bad input")

    monkeypatch.setattr("throne.cli.rank.run", bug)
    with pytest.raises(RuntimeError, match="a bug"):
        main(["rank", "--db", str(tmp_path / "x.db")])


def test_an_os_error_is_one_line_only_for_a_path_the_user_named(tmp_path: Path) -> None:
    args = build_parser().parse_args(["rank", "--db", str(tmp_path / "mine.db")])
    named = FileNotFoundError(2, "No such file or directory", str(tmp_path / "mine.db"))
    inside = PermissionError(13, "Permission denied", str(tmp_path / "mine.db" / "x"))
    elsewhere = FileNotFoundError(2, "No such file or directory", "/opt/throne/internal.bin")
    assert user_error_line(named, args) == f"{tmp_path / 'mine.db'}: No such file or directory"
    assert user_error_line(inside, args) is not None
    assert user_error_line(elsewhere, args) is None


def test_a_reader_that_goes_away_still_ends_the_command_quietly(tmp_path: Path) -> None:
    # The boundary catches user errors after, not before, the quiet end of `throne ... | head`.
    show_task = ["eval", "--env", "SAT", "--task-id", "1", "--show-task"]
    proc = subprocess.Popen(
        [sys.executable, "-m", "throne.cli.main", *show_task],
        cwd=tmp_path,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    assert proc.stdout is not None and proc.stderr is not None
    proc.stdout.close()  # before the command has even imported what prints the task
    err = proc.stderr.read()
    assert (proc.wait(timeout=60), err) == (141, b"")
