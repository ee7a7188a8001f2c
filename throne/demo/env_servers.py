"""throne's envs served by `throne env serve` processes on loopback, for the demo's
``--remote-envs`` and the tests that run the daemon against env services."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import threading
from collections.abc import Iterator, Sequence
from contextlib import ExitStack, contextmanager
from pathlib import Path

#: how long a server is given to print its address (ABD and DED import their sandbox first)
READY_SECONDS = 60.0
_SERVING = re.compile(r"serving \S+ at (http://\S+)")


class EnvServerFailed(RuntimeError):
    """A `throne env serve` process did not come up; the message holds its last words."""


@contextmanager
def env_servers(names: Sequence[str], log_dir: Path) -> Iterator[dict[str, str]]:
    """One `throne env serve --port 0` process per env; their base URLs by env. Each process's
    stderr goes to ``log_dir/NAME.log``; every process is stopped when the block ends."""
    log_dir.mkdir(parents=True, exist_ok=True)
    urls: dict[str, str] = {}
    with ExitStack() as stack:
        for name in names:
            log = log_dir / f"env-{name}.log"
            command = ["env", "serve", "--env", name, "--port", "0"]
            proc = subprocess.Popen(
                [sys.executable, "-m", "throne.cli.main", *command],
                stdout=subprocess.PIPE,
                stderr=stack.enter_context(log.open("wb")),
                stdin=subprocess.DEVNULL,
                env={k: v for k, v in os.environ.items() if not k.startswith("THRONE_")},
            )
            stack.callback(_end, proc)
            urls[name] = _address(proc, name, log)
        yield urls


def _address(proc: subprocess.Popen[bytes], name: str, log: Path) -> str:
    """The URL the server prints once it listens, read within `READY_SECONDS`."""
    assert proc.stdout is not None
    lines: list[bytes] = []
    reader = threading.Thread(target=lambda: lines.append(proc.stdout.readline()), daemon=True)  # type: ignore[union-attr]
    reader.start()
    reader.join(READY_SECONDS)
    found = _SERVING.search(lines[0].decode(errors="replace")) if lines else None
    if found is None:
        proc.kill()
        proc.wait()
        said = " ".join(log.read_text(errors="replace").split())[-300:]
        raise EnvServerFailed(f"throne env serve --env {name} did not start: {said or 'silent'}")
    return found.group(1)


def _end(proc: subprocess.Popen[bytes]) -> None:
    proc.terminate()
    try:
        proc.wait(timeout=15)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()
