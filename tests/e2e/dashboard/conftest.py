"""A real headless Chromium (Debian's, driven by Playwright) against `throne dashboard` run as a
command over a SQLite log. Without chromium a developer's run skips with the reason; CI fails
instead (`make browser-tools` installs it)."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.e2e.dashboard.contest_log import play

CHROMIUM = Path("/usr/bin/chromium")
ROOT = Path(__file__).resolve().parents[3]
SCREENSHOTS = Path(__file__).resolve().parent / "screenshots"


def _in_ci() -> bool:
    return os.environ.get("CI", "").lower() in ("1", "true", "yes")


def _unavailable(reason: str) -> None:
    if _in_ci():
        pytest.fail(f"{reason} (CI runs the browser tests: `make browser-tools`)")
    pytest.skip(f"{reason}: install it with `make browser-tools`")


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        _unavailable("playwright is not installed")
    if not CHROMIUM.exists():
        _unavailable(f"no chromium at {CHROMIUM}")
    with sync_playwright() as p:
        # As root, Chromium's sandbox cannot start; the pages are our own.
        launched = p.chromium.launch(executable_path=str(CHROMIUM), args=["--no-sandbox"])
        yield launched
        launched.close()


@pytest.fixture(scope="module")
def log_path(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("dashboard") / "throne.db"
    play(path)
    return path


@pytest.fixture(scope="module")
def dashboard(log_path: Path) -> Iterator[str]:
    """`throne dashboard --port 0` over the log, as a user runs it; its base URL."""
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    said = log_path.with_name("dashboard.out")
    argv = [sys.executable, "-m", "throne.cli.main", "dashboard", "--db", str(log_path)]
    with said.open("wb") as out:
        process = subprocess.Popen(
            [*argv, "--port", "0", "--refresh-seconds", "0"],
            stdout=out,
            stderr=subprocess.STDOUT,
            env=env,
            cwd=ROOT,
        )
    try:
        line = _first_line(process, said, timeout=60)
        assert " at http://" in line, line
        yield line.split(" at ", 1)[1].split("/dashboard", 1)[0]
    finally:
        process.terminate()
        try:
            process.wait(10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(10)


def _first_line(process: subprocess.Popen[bytes], said: Path, timeout: float) -> str:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        text = said.read_text()
        if "\n" in text:
            return text.split("\n", 1)[0]
        if process.poll() is not None:
            break
        time.sleep(0.05)
    raise AssertionError(
        f"throne dashboard did not start (exit {process.poll()}): {said.read_text()}"
    )


@pytest.fixture(scope="module")
def screenshots() -> Path:
    SCREENSHOTS.mkdir(exist_ok=True)
    return SCREENSHOTS
