"""The dashboard the daemon's status port serves, watched in Chromium while `throne run` plays
the contest: the overview follows the log as the daemon samples, crowns and decides, without a
reload, and what it shows is what the status API answers."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.e2e.daemon.cluster import make_world, profiles, settled, start_daemon, stop
from tests.support.ports import free_port
from throne.envs.registry import environments
from throne.miners import MinerServer

SECRET = bytes(range(32))
WAIT_SECONDS = 120.0


@pytest.fixture(scope="module")
def miners() -> Iterator[str]:
    with MinerServer(profiles(), list(environments().values())) as server:
        yield server.base_url


def _text(page: Any, path: str) -> str | None:
    found = page.locator(f"[data-path='{path}']")
    return found.first.inner_text() if found.count() else None


def test_the_overview_follows_a_running_daemon(
    tmp_path: Path, miners: str, browser: Any, screenshots: Path
) -> None:
    port = free_port()
    world = make_world(
        tmp_path / "w", miners, SECRET, validator={"status_port": port, "status_host": "127.0.0.1"}
    )
    log = tmp_path / "daemon.log"
    proc = start_daemon(world, log)
    base = f"http://127.0.0.1:{port}"
    page = browser.new_page()
    try:
        deadline = time.monotonic() + WAIT_SECONDS
        while True:  # the status port opens once the daemon has built its services
            try:
                if httpx.get(f"{base}/rank", timeout=5).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            assert time.monotonic() < deadline, log.read_text()[-3000:]
            time.sleep(0.2)
        page.goto(f"{base}/dashboard")
        first = _text(page, "contest_version")
        assert first is not None
        # The daemon crowns, samples and decides; the page follows without being reloaded.
        seen = {first}
        while not settled(world):
            assert time.monotonic() < deadline, (seen, log.read_text()[-3000:])
            shown = _text(page, "contest_version")
            if shown is not None:
                seen.add(shown)
            time.sleep(0.5)
        final = httpx.get(f"{base}/rank", timeout=10).json()
        page.wait_for_function(
            "v => document.querySelector(\"[data-path='contest_version']\").textContent"
            " === String(v)",
            arg=final["contest_version"],
            timeout=30_000,
        )
        assert _text(page, "champion.hotkey") == final["champion"]["hotkey"]
        assert str(final["contest_version"]) != first, "the page was loaded before the contest"
        seen.add(str(final["contest_version"]))
        assert len(seen) >= 2  # the page moved on by itself, never reloaded
        page.screenshot(path=str(screenshots / "overview-daemon.png"), full_page=True)
    finally:
        page.close()
        assert stop(proc) == 0
