"""Running throne as ``nobody`` from a test that runs as root (CI's case).

The checkout, the virtual environment and the interpreter may lie under directories nobody may
not enter (``/root``). A `NobodyPlace` is a world-readable directory into which the checkout
and the environment's site-packages are bind-mounted, in a mount namespace of the command's
own, so that the process, once it has dropped to nobody, imports this throne and its
dependencies through paths it may read; the interpreter is the system's (the same minor
version as ours, so the environment's compiled modules load). Nothing outside the command's
namespace changes.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import sysconfig
import tempfile
from collections.abc import Sequence
from pathlib import Path

from tests.support.paths import ROOT

NOBODY = 65534
AS_NOBODY = ("setpriv", f"--reuid={NOBODY}", f"--regid={NOBODY}", "--clear-groups")
# Bind the checkout and the site-packages, then run the rest of the arguments.
_MOUNT_THEN_RUN = 'mount --bind "$1" "$2" && mount --bind "$3" "$4" && shift 4 && exec "$@"'


def why_not() -> str | None:
    """Why a command cannot be run as nobody here (None: it can)."""
    if os.geteuid() != 0:
        return "needs root to drop to nobody"
    for tool in ("setpriv", "unshare", "mount"):
        if shutil.which(tool) is None:
            return f"no {tool}"
    if system_python() is None:
        return f"no system Python {sys.version_info.major}.{sys.version_info.minor} for nobody"
    return None


def system_python() -> str | None:
    """An interpreter of our minor version that nobody may run, outside any home directory."""
    major, minor = sys.version_info[:2]
    for candidate in (f"/usr/bin/python{major}.{minor}", f"/usr/local/bin/python{major}.{minor}"):
        if not os.path.exists(candidate):
            continue
        probe = subprocess.run(
            [
                *AS_NOBODY,
                candidate,
                "-s",
                "-S",
                "-c",
                f"import sys; assert sys.version_info[:2] == {(major, minor)}",
            ],
            capture_output=True,
            cwd="/",
        )
        if probe.returncode == 0:
            return candidate
    return None


class NobodyPlace:
    """A directory (mode 755) for a world a nobody process works in, and the way to run it."""

    def __init__(self) -> None:
        self.root = Path(tempfile.mkdtemp(prefix="throne-nobody-"))
        self.root.chmod(0o755)
        self._src = self.root / "src"
        self._site = self.root / "site"
        self._src.mkdir()
        self._site.mkdir()

    def command(self, python_args: Sequence[str]) -> list[str]:
        """``python PYTHON_ARGS`` as nobody, importing this checkout's throne."""
        python = system_python()
        assert python is not None, why_not()
        site = Path(sysconfig.get_paths()["purelib"]).resolve()
        return [
            "unshare",
            "--mount",
            "--propagation",
            "private",
            "--",
            "sh",
            "-c",
            _MOUNT_THEN_RUN,
            "sh",
            str(ROOT),
            str(self._src),
            str(site),
            str(self._site),
            *AS_NOBODY,
            python,
            "-s",
            *python_args,
        ]

    def env(self, home: Path) -> dict[str, str]:
        """A plain environment for it: this checkout first, then the site-packages."""
        return {
            "PATH": "/usr/bin:/bin",
            "LANG": "C.UTF-8",
            "HOME": str(home),
            "PYTHONPATH": f"{self._src}:{self._site}",
        }

    def chown_to_nobody(self, path: Path) -> None:
        for p in [path, *path.rglob("*")]:
            os.chown(p, NOBODY, NOBODY, follow_symlinks=False)

    def remove(self) -> None:
        shutil.rmtree(self.root, ignore_errors=True)
