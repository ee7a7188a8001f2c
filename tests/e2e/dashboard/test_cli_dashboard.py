"""`throne dashboard` as a user runs it: bad input is one line and exit code 1; over a log it
serves the pages and the JSON, never writes the file, and stops cleanly on SIGTERM."""

from __future__ import annotations

import hashlib
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from tests.e2e.dashboard.conftest import ROOT
from tests.support.played import played_database


def _throne(*argv: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("THRONE_")}
    env.update(PYTHONPATH=str(ROOT), XDG_DATA_HOME=str(cwd / "xdg"))
    return subprocess.run(
        [sys.executable, "-m", "throne.cli.main", *argv],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )


@pytest.mark.parametrize(
    ("argv", "said"),
    [
        (["--db", "missing.db"], "no event log at"),
        (["--db", "x.db", "--port", "70000"], "--port must be from 0 to 65535"),
        (["--db", "x.db", "--index-url", "https://h/i.json"], "go with --publish-to"),
        (["--db", "x.db", "--publish-to", "https://bucket"], "--publish-to: not an s3://"),
        (["--db", "postgresql+nosuch://h/db"], "unsupported database URL scheme"),
    ],
)
def test_bad_input_is_one_line_and_exit_code_1(tmp_path: Path, argv: list[str], said: str) -> None:
    done = _throne("dashboard", *argv, cwd=tmp_path)
    assert done.returncode == 1, done.stderr
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and said in lines[0] and "Traceback" not in done.stderr


def test_it_serves_a_log_read_only_and_stops_on_sigterm(tmp_path: Path) -> None:
    path = tmp_path / "throne.db"
    played_database(path)
    before = hashlib.sha256(path.read_bytes()).hexdigest()
    out = tmp_path / "out.txt"
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    argv = [sys.executable, "-m", "throne.cli.main", "dashboard", "--db", str(path)]
    with out.open("wb") as sink:
        process = subprocess.Popen(
            [*argv, "--port", "0"], stdout=sink, stderr=subprocess.STDOUT, env=env
        )
    try:
        deadline = time.monotonic() + 60
        while "\n" not in out.read_text() and time.monotonic() < deadline:
            assert process.poll() is None, out.read_text()
            time.sleep(0.05)
        line = out.read_text().splitlines()[0]
        base = line.split(" at ", 1)[1].split("/dashboard", 1)[0]
        assert httpx.get(f"{base}/dashboard", timeout=10).status_code == 200
        assert httpx.get(f"{base}/rank", timeout=10).json()["champion"]["hotkey"] == "strong"
        assert httpx.get(f"{base}/healthz", timeout=10).json()["status"] == "read-only"
    finally:
        process.send_signal(signal.SIGTERM)
        assert process.wait(20) == 0
    assert "stopped" in out.read_text()
    assert hashlib.sha256(path.read_bytes()).hexdigest() == before
    assert not path.with_name("throne.db-journal").exists()
