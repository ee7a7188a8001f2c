"""Run-wide caps without a cgroup: the supervisor sums the run's processes from ``/proc``.

Used where no cgroup can be written, typically the unprivileged path. Every sampling interval
the supervisor reads each process of the run (the run's own ``/proc`` when it has a pid
namespace) and kills the whole run once the sum passes a cap:

- memory: the resident set of each process, summed; only when that sum passes the cap are the
  proportional sizes (``Pss``, so that pages shared after a fork count once) read and summed;
- CPU: user and system time of each process and of the children it has waited for, plus the
  last time seen of any process that vanished without being waited for (its time would
  otherwise leave the sum).

The interval is 20 ms, shortened as the run's memory nears its cap (down to 1 ms, assuming
a run can fault in 4 GiB/s per core), so that the growth between two looks stays small.

That holds only if the supervisor looks when it means to: on a loaded machine a supervisor
at the run's own priority waited behind the run's processes and everyone else's, and the run
outgrew its cap by far more than one interval's worth. So the run never takes the CPU from
its supervisor (`runner.confine`, ``below_watcher``): it shares the supervisor's session, and
so its scheduler group where the kernel groups by session, and runs under SCHED_IDLE, which
it cannot leave (RLIMIT_NICE 0) nor escape by a session of its own (seccomp refuses
``setsid``). The supervisor is then served before any of the run's processes whenever it is
runnable, a core busy with the run only counts as idle to it, and while other work holds
every core the run itself gets next to no CPU. The growth past the cap is thus what the run
adds within one interval and one look, whatever else the machine runs; the price is that a
run on a saturated machine gets only the CPU left over (its wall clock may run out). Once
over the cap, every process of the run is killed at once (`supervisor`), not left running
until its pid 1 gets the CPU to die.

What this cannot see: growth within one interval, and a process born and gone within one
interval whose parent ignores ``SIGCHLD``. RLIMIT_NPROC, the per-process rlimits and the wall
clock still bound those; a cgroup bounds them exactly. Per-process rlimits alone cannot hold
the cap: RLIMIT_AS times RLIMIT_NPROC (16 GiB at the default limits) is far above it.
"""

from __future__ import annotations

import os
from typing import Any

PAGE = os.sysconf("SC_PAGE_SIZE")
TICKS = os.sysconf("SC_CLK_TCK")
LOOK_S = 0.02
SHORTEST_LOOK_S = 0.001
FAULT_RATE = 4 * 1024**3 * (os.cpu_count() or 1)  # bytes a run could add per second, at most


def _read(path: str, dir_fd: int | None) -> bytes:
    fd = os.open(path, os.O_RDONLY, dir_fd=dir_fd)
    try:
        return os.read(fd, 1 << 16)
    finally:
        os.close(fd)


class ProcWatch:
    """Samples one run. ``proc`` is the run's own ``/proc`` path (pid namespace: every process
    in it belongs to the run), or a descriptor of the host's: then the run's processes are
    those of its uid, or without one those of the supervisor's session, which the run may not
    leave, less the supervisor itself."""

    def __init__(self, limits: dict[str, Any], proc: str | int, uid: int | None) -> None:
        self._memory_cap = int(limits["run_memory"])
        self._cpu_cap = float(limits["run_cpu_s"]) * TICKS
        self._proc = proc
        self._dir_fd = proc if isinstance(proc, int) else None
        # Until the run's pid 1 mounts its /proc, the path shows what was there before: an
        # empty directory, or the host's proc (user namespaces). Count nothing until then.
        self._before = os.stat(proc).st_dev if isinstance(proc, str) else None
        self._uid = uid
        self._session = -1
        self._own = os.getpid()
        self._seen: dict[tuple[int, int], tuple[int, int]] = {}  # (pid, start) -> (own, waited)
        self._lost = 0
        self._headroom = float(self._memory_cap)

    def join(self) -> None:
        pass

    def started(self, pid: int) -> None:
        self._session = os.getsid(0)  # the child stays in the supervisor's own session

    def _path(self, pid: int, name: str) -> str:
        return f"{pid}/{name}" if self._dir_fd is not None else f"{self._proc}/{pid}/{name}"

    def _pids(self) -> list[int]:
        if self._before is not None and os.stat(self._proc).st_dev == self._before:
            return []
        pids = [int(n) for n in os.listdir(self._proc) if n.isdigit()]
        if self._dir_fd is None or self._uid is None:
            return pids
        return [p for p in pids if self._owner(p) == self._uid]

    def _owner(self, pid: int) -> int:
        try:
            return os.stat(str(pid), dir_fd=self._dir_fd).st_uid
        except OSError:
            return -1

    def exceeded(self) -> str | None:
        now: dict[tuple[int, int], tuple[int, int]] = {}
        members: list[tuple[int, int]] = []  # (resident bytes, pid)
        for pid in self._pids():
            try:
                stat = _read(self._path(pid, "stat"), self._dir_fd)
            except OSError:
                continue  # gone between the listing and the read
            fields = stat[stat.rindex(b")") + 2 :].split()
            by_session = self._dir_fd is not None and self._uid is None
            if by_session and (int(fields[3]) != self._session or pid == self._own):
                continue
            own, waited = int(fields[11]) + int(fields[12]), int(fields[13]) + int(fields[14])
            now[(pid, int(fields[19]))] = (own, waited)
            members.append((int(fields[21]) * PAGE, pid))
        vanished = sum(own + waited for key, (own, waited) in self._seen.items() if key not in now)
        # Time of a waited-for child moves into its parent's "waited" share: only a shortfall
        # there means a child that vanished unwaited (its parent ignored SIGCHLD).
        gained = sum(w - self._seen.get(k, (0, 0))[1] for k, (_, w) in now.items())
        self._lost += max(0, vanished - max(0, gained))
        self._seen = now
        total = sum(own + waited for own, waited in now.values()) + self._lost
        resident = sum(size for size, _ in members)
        if resident > self._memory_cap:  # pages shared after a fork count once each in Pss
            resident = self._proportional(sorted(members, reverse=True))
        self._headroom = float(self._memory_cap - resident)
        if resident > self._memory_cap:
            return "memory"
        if total > self._cpu_cap:
            return "cpu"
        return None

    def interval(self) -> float:
        return min(LOOK_S, max(SHORTEST_LOOK_S, self._headroom / FAULT_RATE))

    def _proportional(self, members: list[tuple[int, int]]) -> int:
        """Summed Pss, largest processes first: reading it walks page tables, so stop as soon
        as the sum is over the cap."""
        total = 0
        for _, pid in members:
            if total > self._memory_cap:
                break
            try:
                rollup = _read(self._path(pid, "smaps_rollup"), self._dir_fd)
            except OSError:
                continue
            for line in rollup.splitlines():
                if line.startswith(b"Pss:"):
                    total += int(line.split()[1]) * 1024
                    break
        return total

    def drain(self) -> None:
        pass

    def close(self) -> None:
        pass
