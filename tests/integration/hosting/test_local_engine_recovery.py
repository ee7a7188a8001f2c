"""After any stop of the daemon, SIGKILL included, a new `LocalEngineHost` on the same state
adopts the engines that were ready and ends the rest: no orphan engine, no slot leaked. The
daemon is a real process that owns a host and deploys, killed with SIGKILL."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.engine_host_process import ANNOUNCE
from tests.support.engines import (
    MINER_ENGINE,
    engines_left,
    port_span,
    python_engine,
    running,
    wait_until,
)
from tests.support.paths import ROOT
from throne.adapters.hosting.local_engine import MARKER, LocalEngineHost

SPEC = {
    "hotkey": "5HotkeyAlice",
    "model": "org/affine-alice",
    "revision": "a" * 40,
    "role": "champion",
}


@pytest.fixture
def killed(tmp_path: Path) -> Iterator[list[subprocess.Popen[bytes]]]:
    """Processes a test starts, killed after it whatever happened."""
    started: list[subprocess.Popen[bytes]] = []
    yield started
    for process in started:
        if process.poll() is None:
            process.kill()
        process.wait(timeout=10)
    # Whatever a failed test left: a new host adopts it and tears it down, or ends it.
    if (tmp_path / "state").is_dir():
        cleanup = new_host(tmp_path, port_span(1))
        for deployment in cleanup.recover():
            cleanup.teardown(deployment)
        cleanup.close()
    assert engines_left(tmp_path / "logs") == []


def start_daemon(
    tmp_path: Path, command: str, ports: range, started: list[subprocess.Popen[bytes]]
) -> subprocess.Popen[bytes]:
    config = {
        "command": command,
        "ports": [ports.start, ports.stop],
        "state_dir": str(tmp_path / "state"),
        "log_dir": str(tmp_path / "logs"),
        "spec": SPEC,
    }
    daemon = subprocess.Popen(
        [sys.executable, "-m", "tests.support.engine_host_process", json.dumps(config)],
        cwd=ROOT,
        stdout=subprocess.PIPE,
    )
    started.append(daemon)
    return daemon


def announcement(daemon: subprocess.Popen[bytes]) -> dict[str, str]:
    """The ready deployment the daemon announces; its deploy is bounded by its ready timeout,
    and a failed deploy ends the daemon (end of its output)."""
    assert daemon.stdout is not None
    for raw in daemon.stdout:
        line = raw.decode()
        if line.startswith(ANNOUNCE):
            found: dict[str, str] = json.loads(line.removeprefix(ANNOUNCE))
            return found
    pytest.fail(f"the daemon ended without deploying (exit {daemon.wait()})")


def states(tmp_path: Path) -> list[dict[str, object]]:
    found = []
    for path in sorted((tmp_path / "state").glob("*.json")):
        try:
            found.append(json.loads(path.read_text()))
        except ValueError:  # caught between write and rename: not there yet
            continue
    return found


def new_host(tmp_path: Path, ports: range, command: str = MINER_ENGINE) -> LocalEngineHost:
    return LocalEngineHost(
        command,
        ports=ports,
        state_dir=tmp_path / "state",
        log_dir=tmp_path / "logs",
        poll=0.05,
        stop_grace=2.0,
    )


def kill_daemon(daemon: subprocess.Popen[bytes]) -> None:
    daemon.send_signal(signal.SIGKILL)
    assert daemon.wait(timeout=10) == -signal.SIGKILL


def test_a_ready_engine_left_by_a_killed_daemon_is_adopted_and_can_be_torn_down(
    tmp_path: Path, killed: list[subprocess.Popen[bytes]]
) -> None:
    ports = port_span(10)
    daemon = start_daemon(tmp_path, MINER_ENGINE, ports, killed)
    announced = announcement(daemon)
    (state,) = states(tmp_path)
    engine = int(str(state["pid"]))
    kill_daemon(daemon)
    assert running(engine)

    host = new_host(tmp_path, ports)
    (adopted,) = host.recover()
    assert (adopted.id, adopted.base_url) == (announced["id"], announced["base_url"])
    assert (adopted.model, adopted.revision, adopted.role) == (
        "org/affine-alice",
        "a" * 40,
        "champion",
    )
    assert host.health(adopted).ok
    assert host.capacity().free == 0
    assert host.recover() == []  # already ours: not adopted twice

    host.teardown(adopted)
    assert not running(engine)
    assert states(tmp_path) == []
    assert host.capacity().free == 1


def test_an_engine_still_starting_when_the_daemon_was_killed_is_ended(
    tmp_path: Path, killed: list[subprocess.Popen[bytes]]
) -> None:
    ports = port_span(10)
    never_ready = python_engine("import time; time.sleep(600)")
    daemon = start_daemon(tmp_path, never_ready, ports, killed)
    assert wait_until(lambda: any(s.get("pid") for s in states(tmp_path)))
    (state,) = states(tmp_path)
    assert state["phase"] == "starting"
    engine = int(str(state["pid"]))
    kill_daemon(daemon)
    assert running(engine)

    host = new_host(tmp_path, ports, never_ready)
    assert host.recover() == []
    assert not running(engine)
    assert states(tmp_path) == []
    assert host.capacity().free == 1


def test_an_engine_that_died_while_the_daemon_was_down_is_forgotten(
    tmp_path: Path, killed: list[subprocess.Popen[bytes]]
) -> None:
    ports = port_span(10)
    daemon = start_daemon(tmp_path, MINER_ENGINE, ports, killed)
    announcement(daemon)
    kill_daemon(daemon)
    (state,) = states(tmp_path)
    engine = int(str(state["pid"]))
    os.killpg(engine, signal.SIGKILL)
    assert wait_until(lambda: not running(engine))

    host = new_host(tmp_path, ports)
    assert host.recover() == []
    assert states(tmp_path) == []
    assert host.capacity().free == 1


def test_an_engine_started_before_its_pid_was_written_down_is_found_by_its_mark(
    tmp_path: Path, killed: list[subprocess.Popen[bytes]]
) -> None:
    # As if the daemon died between starting the engine and recording its pid.
    deployment_id = "champion-5HotkeyAlice-0badc0de"
    orphan = subprocess.Popen(
        [sys.executable, "-c", "import time; time.sleep(600)"],
        env={**os.environ, MARKER: deployment_id},
        start_new_session=True,
    )
    killed.append(orphan)
    (tmp_path / "state").mkdir()
    (tmp_path / "state" / f"{deployment_id}.json").write_text(
        json.dumps({"id": deployment_id, "phase": "starting", "pid": None, "slot": 0})
    )
    (tmp_path / "state" / "champion-garbled-00000000.json").write_text("{not json")

    host = new_host(tmp_path, port_span(10))
    assert host.recover() == []
    assert orphan.wait(timeout=10) == -signal.SIGTERM
    assert states(tmp_path) == []
    assert list((tmp_path / "state").glob("*")) == []
