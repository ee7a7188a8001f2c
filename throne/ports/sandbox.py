"""The `Sandbox` port: run an untrusted program under limits, isolated from the caller; what
the program may use, and what came back from running it.

The environments that score programs (the program env, ABD, DED) reach the world outside
through this port only.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any, Protocol

MIB = 1024 * 1024


@dataclass(frozen=True)
class Limits:
    """Per-run limits. Pinned: changing them can flip scores, so they belong to an env version.

    ``cpu_s``, ``address_space``, ``file_size`` and ``open_files`` hold each process;
    ``run_cpu_s``, ``run_memory``, ``processes`` and ``tmp_bytes`` hold the run as a whole, all
    its processes together. The run-wide caps sit above what one process may use, so a
    single-process program meets the per-process limits first, exactly as before they existed.
    """

    wall_s: float = 30.0
    cpu_s: int = 10
    cpu_hard_s: int = 11
    address_space: int = 512 * MIB
    output_bytes: int = 1_000_000  # per stream
    file_size: int = 16 * MIB  # any one file the program writes
    processes: int = 32  # RLIMIT_NPROC per run (and pids.max where a cgroup holds the run)
    open_files: int = 64
    run_cpu_s: float = 12.0  # CPU time of all the run's processes together
    run_memory: int = 640 * MIB  # memory of all the run's processes together, its /tmp included
    tmp_bytes: int = 64 * MIB  # size of the run's private /tmp

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class RunResult:
    """One program run. ``stdout``/``stderr`` are decoded as UTF-8 with replacement characters.

    A wall timeout, an output overrun, a run-wide cap or a death by signal also appends a
    marker to ``stderr``, so that no such run can ever look clean. ``exceeded`` names the
    run-wide cap that ended the run (``"memory"`` or ``"cpu"``), if one did.
    """

    stdout: str
    stderr: str
    exit_code: int | None  # None when killed by a signal
    signal: int | None
    timed_out: bool
    truncated: bool
    duration_s: float
    exceeded: str | None = None

    @property
    def clean(self) -> bool:
        """Exited 0 with an empty (blank) stderr and no limit hit."""
        return (
            self.exit_code == 0
            and not self.stderr.strip()
            and not self.timed_out
            and not self.truncated
            and self.exceeded is None
        )


class SandboxUnavailable(RuntimeError):
    """The sandbox could not be started or died: an infrastructure error, not a score."""


class Sandbox(Protocol):
    """Runs a Python 3 program on a given stdin under limits, isolated from the caller.
    Adapter: `ForkServerSandbox` (forks of one warm, isolated server process)."""

    def run(self, source: str, stdin: str = "", limits: Limits | None = None) -> RunResult:
        """The run's result: whatever the program does (loops, floods, crashes) is a result,
        with its markers; `SandboxUnavailable` only when no program can be run."""
