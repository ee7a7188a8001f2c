"""Running the real `throne` command in a subprocess, as an operator would, in a directory of
the test's own and without the caller's ``THRONE_*`` variables."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

# The entry point through `-c`, not `-m`: `-m throne.cli.main` would load the CLI module twice.
THRONE = "import sys; from throne.cli.main import main; sys.exit(main(sys.argv[1:]))"


def throne(*argv: str, cwd: Path, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("THRONE_")}
    return subprocess.run(
        [sys.executable, "-c", THRONE, *argv],
        capture_output=True,
        text=True,
        env=env,
        cwd=cwd,
        timeout=timeout,
    )


def with_local_chain(cwd: Path) -> None:
    """A local chain where `throne run` looks for it by default (`run` opens the chain before
    the log, so a test of the log needs one)."""
    done = throne("localnet", "init", cwd=cwd)
    assert done.returncode == 0, done.stderr
