"""`ForkServerSandbox`: run untrusted Python programs through a pre-started sandbox server.

What holds where (``ForkServerSandbox.isolation`` reports it at run time):

============================  ===============  ========================  ===================
guarantee                     as root          unprivileged, user ns     neither
============================  ===============  ========================  ===================
rlimits per process (CPU,     yes              yes                       yes
address space, core, file
size, open files)
clean environment             yes              yes                       yes
no network (net ns)           yes              yes                       no
minimal read-only root: the   yes              yes                       no
interpreter's files only
private /tmp of ``tmp_bytes``  yes              yes                       no (a run directory
per run                                                                  in a host temp dir)
pid ns: one kill ends all     yes              yes                       no (process group
                                                                         + kill by uid)
RLIMIT_NPROC per run          yes (a uid per   yes (a user namespace     no (the user's own
                              run)             per run)                  uid)
============================  ===============  ========================  ===================

The run-wide memory and CPU caps (``run_memory``, ``run_cpu_s``) hold on every path; how is in
``isolation["run_limits"]``: ``cgroup2`` or ``cgroup1`` where the server can write a cgroup
tree (see `cgroups`), else ``proc``, sampling from ``/proc`` (see `procwatch`): then the run
runs under SCHED_IDLE, below its supervisor, and may not call ``setsid``. Production and CI
run as root.
"""

from __future__ import annotations

import atexit
import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import throne
from throne.envs.sandbox.wire import recv_frame, send_frame
from throne.ports.sandbox import Limits, RunResult, Sandbox, SandboxUnavailable

# Runs take uids from this range, one per run in rotation: unprivileged, owned by no account,
# and far from the ranges that distributions hand out to users and rootless containers.
UID_BASE = 1_900_000_000
UID_COUNT = 4096


def default_hidden_paths() -> list[str]:
    return sorted({str(Path.home()), "/root", "/home", os.getcwd()})


class ForkServerSandbox(Sandbox):
    """Runs programs in forks of one warm, isolated server process. Thread-safe.

    Programs see only the minimal root (`rootfs`): the validator's files are absent from it.
    ``hidden_paths`` (default: the home directories and the current directory) are covered
    again should one of them lie inside a directory the interpreter needs.
    """

    def __init__(
        self,
        limits: Limits | None = None,
        uid_base: int = UID_BASE,
        uid_count: int = UID_COUNT,
        hidden_paths: Sequence[str] | None = None,
    ) -> None:
        self.limits = limits or Limits()
        self._config: dict[str, Any] = {
            "uid_base": uid_base,
            "uid_count": uid_count,
            "hidden_paths": list(default_hidden_paths() if hidden_paths is None else hidden_paths),
        }
        self._lock = threading.Lock()
        self._control: socket.socket | None = None
        self._process: subprocess.Popen[bytes] | None = None
        self._fallback_tmp: str | None = None
        self._isolation: dict[str, Any] = {}

    @property
    def isolation(self) -> dict[str, Any]:
        """What the running server achieved: namespaces, uid, the exposed host paths, and the
        mechanism holding the run-wide caps (``run_limits``)."""
        self._ensure_started()
        return dict(self._isolation)

    def run(self, source: str, stdin: str = "", limits: Limits | None = None) -> RunResult:
        """Run ``source`` as a Python 3 program fed ``stdin``; never raises for what the
        program does, only `SandboxUnavailable` when the sandbox itself fails."""
        lim = limits or self.limits
        mine, theirs = socket.socketpair()
        try:
            with self._lock:
                control = self._ensure_started()
                try:
                    socket.send_fds(control, [b"r"], [theirs.fileno()])
                except OSError as exc:
                    self._stop()
                    raise SandboxUnavailable(f"sandbox server gone: {exc}") from exc
            theirs.close()
            # A supervisor answers within the wall limit plus clean-up; never wait forever.
            mine.settimeout(lim.wall_s + 30.0)
            send_frame(mine, {"limits": lim.to_dict()}, source.encode(), stdin.encode())
            header, blobs = recv_frame(mine)
        except (OSError, EOFError) as exc:
            raise SandboxUnavailable(f"sandbox run failed: {exc}") from exc
        finally:
            mine.close()
            theirs.close()
        if "error" in header:
            raise SandboxUnavailable(f"sandbox run failed: {header['error']}")
        out, err = blobs
        return RunResult(
            stdout=out.decode("utf-8", "replace"),
            stderr=err.decode("utf-8", "replace"),
            exit_code=header["exit_code"],
            signal=header["signal"],
            timed_out=header["timed_out"],
            truncated=header["truncated"],
            duration_s=header["duration_s"],
            exceeded=header["exceeded"],
        )

    def _ensure_started(self) -> socket.socket:
        if self._control is not None and self._process is not None:
            if self._process.poll() is None:
                return self._control
            self._stop()
        self._fallback_tmp = tempfile.mkdtemp(prefix="throne-sandbox-")
        os.chmod(self._fallback_tmp, 0o711)
        config = {**self._config, "fallback_tmp": self._fallback_tmp}
        ours, server = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        package_root = str(Path(throne.__file__).resolve().parent.parent)
        bootstrap = (
            "import sys; sys.path.insert(0, sys.argv.pop(1)); "
            "from throne.envs.sandbox.server import main; del sys.path[0]; main()"
        )
        env = {"PATH": "/usr/local/bin:/usr/bin:/bin", "LANG": "C.UTF-8", "PYTHONHASHSEED": "0"}
        server_args = [str(server.fileno()), json.dumps(config)]
        try:
            self._process = subprocess.Popen(
                [sys.executable, "-s", "-S", "-c", bootstrap, package_root, *server_args],
                pass_fds=[server.fileno()],
                env=env,
                stdin=subprocess.DEVNULL,
                stdout=subprocess.DEVNULL,
                cwd="/",
            )
        finally:
            server.close()
        hello = ours.recv(1 << 16)
        report: dict[str, Any] = json.loads(hello) if hello else {"error": "server exited at start"}
        if "error" in report:
            ours.close()
            self._process.wait()
            self._process = None
            raise SandboxUnavailable(f"sandbox server failed to start: {report['error']}")
        self._isolation = dict(report["isolation"])
        self._control = ours
        atexit.register(self.close)
        return ours

    def _stop(self) -> None:
        if self._control is not None:
            self._control.close()  # the server exits on EOF
            self._control = None
        if self._process is not None:
            try:
                self._process.wait(timeout=5)
            except subprocess.TimeoutExpired:
                self._process.kill()
                self._process.wait()
            self._process = None
        if self._fallback_tmp is not None:
            shutil.rmtree(self._fallback_tmp, ignore_errors=True)
            self._fallback_tmp = None

    def close(self) -> None:
        """Stop the server (runs in flight finish on their own supervisors)."""
        with self._lock:
            self._stop()


_shared: ForkServerSandbox | None = None
_shared_lock = threading.Lock()


def shared_sandbox() -> ForkServerSandbox:
    """One process-wide sandbox with the default limits, started on first use."""
    global _shared
    with _shared_lock:
        if _shared is None:
            _shared = ForkServerSandbox()
        return _shared
