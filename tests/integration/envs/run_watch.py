"""Watching sandboxed runs from outside, with the test's own eyes: never the sandbox's
accounting. Also which mechanism should hold the run-wide caps on this machine."""

from __future__ import annotations

import os
import threading
from pathlib import Path
from types import TracebackType

TICKS = os.sysconf("SC_CLK_TCK")


def _stat(pid: str) -> list[bytes] | None:
    try:
        raw = Path(f"/proc/{pid}/stat").read_bytes()
    except OSError:
        return None
    return raw[raw.rindex(b")") + 2 :].split()


def _pss(pid: int) -> int:
    try:
        for line in Path(f"/proc/{pid}/smaps_rollup").read_bytes().splitlines():
            if line.startswith(b"Pss:"):
                return int(line.split()[1]) * 1024
    except OSError:
        pass
    return 0


class RunWatch:
    """Samples the processes that descend from ``ancestor`` and live in another pid namespace
    than it: the programs' processes (servers and supervisors stay in the ancestor's). Keeps
    the peak of their summed proportional memory and of their summed CPU time.

    ``urgent`` (root only): the sampling thread runs under SCHED_FIFO, ahead of every ordinary
    process, so that on a loaded machine it still looks every ``every_s``; a starved witness
    would miss the peak and pass a run that went over its cap."""

    def __init__(self, ancestor: int, every_s: float = 0.005, urgent: bool = False) -> None:
        self.ancestor = ancestor
        self.every_s = every_s
        self.urgent = urgent
        self.peak_memory = 0
        self.peak_cpu_s = 0.0
        self.samples = 0
        self._ns = os.readlink(f"/proc/{ancestor}/ns/pid")
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, daemon=True)

    def __enter__(self) -> RunWatch:
        self._thread.start()
        return self

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self._stop.set()
        self._thread.join()

    def _loop(self) -> None:
        if self.urgent:
            os.sched_setscheduler(threading.get_native_id(), os.SCHED_FIFO, os.sched_param(1))
        while not self._stop.wait(self.every_s):
            self.sample()

    def sample(self) -> None:
        parents: dict[int, int] = {}
        times: dict[int, int] = {}
        for entry in os.listdir("/proc"):
            if entry.isdigit() and (fields := _stat(entry)) is not None:
                parents[int(entry)] = int(fields[1])
                times[int(entry)] = sum(int(f) for f in fields[11:15])
        members = [pid for pid in parents if self._descends(pid, parents) and self._outside(pid)]
        self.peak_memory = max(self.peak_memory, sum(_pss(pid) for pid in members))
        self.peak_cpu_s = max(self.peak_cpu_s, sum(times[pid] for pid in members) / TICKS)
        self.samples += 1

    def _descends(self, pid: int, parents: dict[int, int]) -> bool:
        seen = 0
        while pid > 1 and seen < 64:
            pid = parents.get(pid, 0)
            if pid == self.ancestor:
                return True
            seen += 1
        return False

    def _outside(self, pid: int) -> bool:
        try:
            return os.readlink(f"/proc/{pid}/ns/pid") != self._ns
        except OSError:
            return False


def expected_run_limits() -> str:
    """What root should find here: cgroup v2 when a v2 hierarchy offers memory and pids, cgroup
    v1 when memory, pids and cpuacct hierarchies are mounted, else sampling from /proc."""
    v1: set[str] = set()
    for line in Path("/proc/self/mounts").read_text().splitlines():
        _, point, fstype, options = line.split()[:4]
        if fstype == "cgroup2":
            controllers = (Path(point) / "cgroup.controllers").read_text().split()
            if {"memory", "pids"} <= set(controllers):
                return "cgroup2"
        elif fstype == "cgroup":
            v1.update(options.split(","))
    return "cgroup1" if {"memory", "pids", "cpuacct"} <= v1 else "proc"
