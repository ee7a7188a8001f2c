"""Stand-in engines for the hosting tests: the project's own local miner server (a real
OpenAI-compatible server, ready in about a second) and small scripts that misbehave the ways
engines do. Each is a command template for `LocalEngineHost`."""

from __future__ import annotations

import shlex
import sys
import time
from collections.abc import Callable
from pathlib import Path

from tests.support.ports import free_port

PYTHON = shlex.quote(sys.executable)
# The `throne` entry point of the interpreter running the tests (the venv's).
THRONE = shlex.quote(str(Path(sys.executable).with_name("throne")))
#: The local miner server serving the model under its committed name.
MINER_ENGINE = f"{THRONE} miner serve --host {{host}} --port {{port}} --skill 1 --name {{model}}"


def python_engine(code: str) -> str:
    """An engine that is a Python one-liner (its quotes are the template's business)."""
    return f"{PYTHON} -c {shlex.quote(code)}"


def port_span(count: int) -> range:
    """``count`` loopback ports from a free one, below the ephemeral range; the host skips any
    another process takes meanwhile."""
    start = free_port()
    return range(start, min(start + count, 65536))


def wait_until(check: Callable[[], bool], timeout: float = 30.0, poll: float = 0.05) -> bool:
    """Poll ``check`` until it holds or ``timeout`` passes; whether it held."""
    deadline = time.monotonic() + timeout
    while True:
        if check():
            return True
        if time.monotonic() >= deadline:
            return False
        time.sleep(poll)


def running(pid: int) -> bool:
    """The process exists and is not a zombie."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat[stat.rindex(")") + 2] not in "ZX"


def group_members(pgid: int) -> list[int]:
    """The running (not zombie) processes of process group ``pgid``."""
    members = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        fields = stat[stat.rindex(")") + 2 :].split()
        if int(fields[2]) == pgid and fields[0] not in "ZX":
            members.append(int(entry.name))
    return members


def engines_left(log_dir: Path) -> list[int]:
    """Engines still running for any deployment that wrote a log in ``log_dir``, found by
    the mark a host sets in each engine's environment: what a test must not leave behind."""
    from throne.adapters.hosting.local_engine import MARKER
    from throne.adapters.hosting.processes import marked_processes

    return [
        process.pid
        for log in sorted(log_dir.glob("*.log"))
        for process in marked_processes(MARKER, log.stem)
    ]
