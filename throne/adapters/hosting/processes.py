"""Engine processes on this machine: started in a session of their own, found again after the
daemon that started them is gone, and ended with their whole process group.

A pid alone does not name a process for long: once it exits, the kernel may hand its number to
another. A process is therefore named by its pid *and* its start time (field 22 of
``/proc/<pid>/stat``, in clock ticks since boot), and nothing is signalled until both match.
"""

from __future__ import annotations

import contextlib
import os
import signal
import time
from dataclasses import dataclass
from pathlib import Path

PROC = Path("/proc")


@dataclass(frozen=True)
class ProcessId:
    """A process by its pid and start time; its group is the one it leads (``pgid == pid``)."""

    pid: int
    start_time: int

    @property
    def pgid(self) -> int:
        return self.pid


def start_time(pid: int) -> int | None:
    """The process's start time, or None if there is no such process (or it is a zombie: it
    has exited and only waits to be reaped, which an orphan in a container may wait forever)."""
    try:
        stat = (PROC / str(pid) / "stat").read_text()
    except (FileNotFoundError, ProcessLookupError, PermissionError):
        return None
    # The command name (field 2) is in parentheses and may hold spaces or parentheses itself.
    fields = stat[stat.rindex(")") + 2 :].split()
    if fields[0] in ("Z", "X"):
        return None
    return int(fields[19])


def is_alive(process: ProcessId) -> bool:
    """The same process (not a later one with its pid) is running."""
    return start_time(process.pid) == process.start_time


def group_exists(pgid: int) -> bool:
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def group_is_ours(process: ProcessId) -> bool:
    """Whether the group ``process`` led still holds processes it started. While a group has
    members its number is not given to a new process, so a leader gone with members left still
    names our group; a leader alive with another start time means the number was reused."""
    leader = start_time(process.pid)
    if leader is not None:
        return leader == process.start_time
    return group_exists(process.pgid)


def end_group(process: ProcessId, grace: float, poll: float = 0.05) -> None:
    """SIGTERM the whole group, then SIGKILL whatever is left after ``grace`` seconds. Returns
    once the group is gone (zombies aside) or has been SIGKILLed."""
    if not group_is_ours(process):
        return
    _signal_group(process.pgid, signal.SIGTERM)
    deadline = time.monotonic() + grace
    while time.monotonic() < deadline:
        if not _group_running(process.pgid):
            return
        time.sleep(poll)
    _signal_group(process.pgid, signal.SIGKILL)
    kill_deadline = time.monotonic() + 5.0
    while _group_running(process.pgid) and time.monotonic() < kill_deadline:
        time.sleep(poll)


def marked_processes(marker: str, value: str) -> list[ProcessId]:
    """Processes whose environment holds ``marker=value``: how an engine is found when the
    daemon died between starting it and writing its pid down."""
    wanted = f"{marker}={value}".encode()
    found: list[ProcessId] = []
    for entry in PROC.iterdir():
        if not entry.name.isdigit():
            continue
        try:
            environ = (entry / "environ").read_bytes()
        except OSError:
            continue
        if wanted in environ.split(b"\0"):
            started = start_time(int(entry.name))
            if started is not None:
                found.append(ProcessId(int(entry.name), started))
    return found


def _signal_group(pgid: int, sig: signal.Signals) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pgid, sig)


def _group_running(pgid: int) -> bool:
    """Members of the group that are not zombies (an exited member of an orphaned group may
    stay a zombie when the machine's init does not reap)."""
    if not group_exists(pgid):
        return False
    for entry in PROC.iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        fields = stat[stat.rindex(")") + 2 :].split()
        if int(fields[2]) == pgid and fields[0] not in ("Z", "X"):
            return True
    return False
