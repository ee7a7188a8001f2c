"""What a sandboxed program may use, and what came back from running it."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

MIB = 1024 * 1024


@dataclass(frozen=True)
class Limits:
    """Per-run limits. Pinned: changing them can flip scores, so they belong to an env version."""

    wall_s: float = 30.0
    cpu_s: int = 10
    cpu_hard_s: int = 11
    address_space: int = 512 * MIB
    output_bytes: int = 1_000_000  # per stream
    file_size: int = 16 * MIB  # any one file the program writes
    processes: int = 32  # RLIMIT_NPROC, binds once the child runs as an unprivileged uid
    open_files: int = 64

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class RunResult:
    """One program run. ``stdout``/``stderr`` are decoded as UTF-8 with replacement characters.

    A wall timeout, an output overrun or a death by signal also appends a marker to ``stderr``,
    so that no such run can ever look clean.
    """

    stdout: str
    stderr: str
    exit_code: int | None  # None when killed by a signal
    signal: int | None
    timed_out: bool
    truncated: bool
    duration_s: float

    @property
    def clean(self) -> bool:
        """Exited 0 with an empty (blank) stderr and no limit hit."""
        return (
            self.exit_code == 0
            and not self.stderr.strip()
            and not self.timed_out
            and not self.truncated
        )
