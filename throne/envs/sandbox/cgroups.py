"""Run-wide caps through cgroups: one group per concurrent run holds all of its processes.

The kernel then holds the run's memory as a whole under the cap (its ``/tmp`` included) and
counts its CPU time exactly, exited processes included; the supervisor reads that count and
kills the run once it passes the cap, and kills the whole run when the kernel had to kill one of
its processes for memory.

Where the groups go, chosen once when the sandbox server starts (`open_tree`):

- cgroup v2: under the nearest group, from the server's own upwards, that hands ``memory`` and
  ``pids`` to its children and that the server may write: the root as root, or a delegated
  subtree (systemd's ``Delegate=yes``). CPU time comes from ``cpu.stat``, which every v2 group
  keeps, so the ``cpu`` controller itself is not needed.
- cgroup v1: under the server's own group in each of the ``memory``, ``pids`` and ``cpuacct``
  hierarchies, when all three are mounted and writable.

Groups live in ``throne-sandbox-<server pid>/run-<slot>``. The server hands a slot to one run at
a time and gives it to the next once that run's supervisor has exited, so groups are made once
per concurrent run, not once per run.
"""

from __future__ import annotations

import contextlib
import os
import signal
import time
from typing import Any

PARENT_PREFIX = "throne-sandbox-"
V1_CONTROLLERS = ("memory", "pids", "cpuacct")
V2_CONTROLLERS = ("memory", "pids")
DRAIN_SECONDS = 10.0
LOOK_S = 0.02


def _read(name: str, dir_fd: int) -> str:
    fd = os.open(name, os.O_RDONLY, dir_fd=dir_fd)
    try:
        return os.read(fd, 1 << 16).decode()
    finally:
        os.close(fd)


def _write(name: str, value: str, dir_fd: int) -> None:
    fd = os.open(name, os.O_WRONLY, dir_fd=dir_fd)
    try:
        os.write(fd, value.encode())
    finally:
        os.close(fd)


def _keyed(text: str, key: str) -> int:
    """The value of ``key`` in a ``key value`` per line file (``memory.events``, ``cpu.stat``)."""
    for line in text.splitlines():
        name, _, value = line.partition(" ")
        if name == key:
            return int(value)
    return 0


class RunGroup:
    """One run's group, in each hierarchy: set up by the supervisor, joined by the child."""

    def __init__(self, version: int, dirs: dict[str, int], limits: dict[str, Any]) -> None:
        self.version = version
        self._dirs = dirs  # hierarchy -> descriptor of this slot's directory
        self._memory = dirs["memory"]
        self._cpu = dirs["" if version == 2 else "cpuacct"]
        self._cpu_cap_ns = int(float(limits["run_cpu_s"]) * 1e9)
        self._set_limits(limits)
        self._cpu_base = self._cpu_ns()
        self._oom_base = self._oom_kills()
        # Opened here, written by the child: writing "0" moves the writer into the group.
        self._procs = [os.open("cgroup.procs", os.O_WRONLY, dir_fd=fd) for fd in self._targets()]

    def _targets(self) -> list[int]:
        return sorted(set(self._dirs.values()))

    def _set_limits(self, limits: dict[str, Any]) -> None:
        memory, processes = str(limits["run_memory"]), str(limits["processes"])
        if self.version == 2:
            _write("memory.max", memory, self._memory)
            with contextlib.suppress(FileNotFoundError):
                _write("memory.swap.max", "0", self._memory)
            _write("memory.oom.group", "1", self._memory)  # the kernel kills the run as one
            _write("pids.max", processes, self._memory)
            return
        # memsw (memory plus swap) may never be below the memory limit: set it around it.
        swap = "memory.memsw.limit_in_bytes"
        has_swap = True
        try:
            _write(swap, memory, self._memory)
        except FileNotFoundError:
            has_swap = False
        except OSError:
            pass  # lower than the current memory limit: set once that one is lowered
        _write("memory.limit_in_bytes", memory, self._memory)
        if has_swap:
            _write(swap, memory, self._memory)
        _write("pids.max", processes, self._dirs["pids"])

    def _cpu_ns(self) -> int:
        if self.version == 2:
            return _keyed(_read("cpu.stat", self._cpu), "usage_usec") * 1000
        return int(_read("cpuacct.usage", self._cpu))

    def _oom_kills(self) -> int:
        if self.version == 2:
            return _keyed(_read("memory.events", self._memory), "oom_kill")
        return _keyed(_read("memory.oom_control", self._memory), "oom_kill")

    def join(self) -> None:
        """In the child, before anything else: move into the group (every hierarchy)."""
        for fd in self._procs:
            os.write(fd, b"0")

    def started(self, pid: int) -> None:
        for fd in self._procs:
            os.close(fd)
        self._procs = []

    def exceeded(self) -> str | None:
        if self._oom_kills() > self._oom_base:
            return "memory"
        if self._cpu_ns() - self._cpu_base > self._cpu_cap_ns:
            return "cpu"
        return None

    def interval(self) -> float:
        return LOOK_S  # the kernel holds the memory: only the CPU count is polled

    def drain(self) -> None:
        """After the kill: wait until no process of the run is left, killing stragglers (runs
        without a pid namespace), so the next run starts from an empty group."""
        deadline = time.monotonic() + DRAIN_SECONDS
        while time.monotonic() < deadline:
            pids = [int(p) for p in _read("cgroup.procs", self._memory).split()]
            if not pids:
                return
            if self.version == 2:
                with contextlib.suppress(OSError):
                    _write("cgroup.kill", "1", self._memory)
            for pid in pids:
                with contextlib.suppress(OSError):
                    os.kill(pid, signal.SIGKILL)
            time.sleep(0.005)
        raise RuntimeError("processes of the run outlived it in its cgroup")

    def close(self) -> None:
        for fd in self._procs:
            os.close(fd)
        for fd in self._targets():
            os.close(fd)


class CgroupTree:
    """The server's parent group in each hierarchy, opened before the root changes."""

    def __init__(self, version: int, parents: dict[str, int], paths: list[str]) -> None:
        self.version = version
        self.mechanism = f"cgroup{version}"
        self.paths = paths  # where the parents are, on the host (for the report)
        self._parents = parents  # hierarchy -> descriptor of throne-sandbox-<pid>

    def group(self, slot: int, limits: dict[str, Any]) -> RunGroup:
        name = f"run-{slot}"
        dirs: dict[str, int] = {}
        try:
            for hierarchy, parent in self._parents.items():
                with contextlib.suppress(FileExistsError):
                    os.mkdir(name, 0o755, dir_fd=parent)
                dirs[hierarchy] = os.open(name, os.O_RDONLY | os.O_DIRECTORY, dir_fd=parent)
            if self.version == 2:
                dirs["memory"] = dirs[""]
            return RunGroup(self.version, dirs, limits)
        except BaseException:
            for fd in set(dirs.values()):
                os.close(fd)
            raise

    def close(self) -> None:
        """Remove the slots no run holds any more, then the parent when it is empty."""
        name = f"{PARENT_PREFIX}{os.getpid()}"
        for parent in set(self._parents.values()):
            for entry in os.listdir(parent):
                if entry.startswith("run-"):
                    with contextlib.suppress(OSError):
                        os.rmdir(entry, dir_fd=parent)
            with contextlib.suppress(OSError):
                os.rmdir(f"../{name}", dir_fd=parent)
            os.close(parent)


def open_tree() -> CgroupTree | None:
    """A cgroup tree for the runs of this server, or None when no usable cgroup exists."""
    try:
        mounts = _cgroup_mounts()
        own = _own_groups()
    except (OSError, ValueError):
        return None
    for version, find in ((2, _v2_places), (1, _v1_places)):
        places = find(mounts, own)
        if places is not None:
            parents = _make_parents(places)
            if parents is not None:
                name = f"{PARENT_PREFIX}{os.getpid()}"
                paths = sorted({os.path.join(p, name) for p in places.values()})
                return CgroupTree(version, parents, paths)
    return None


def _cgroup_mounts() -> list[tuple[str, str, str, set[str]]]:
    """(fstype, root inside the hierarchy, mount point, super options) of each cgroup mount."""
    found = []
    with open("/proc/self/mountinfo") as f:
        for line in f:
            left, _, right = line.partition(" - ")
            fields, tail = left.split(), right.split()
            if len(fields) >= 5 and len(tail) >= 3 and tail[0] in ("cgroup", "cgroup2"):
                found.append((tail[0], fields[3], fields[4], set(tail[2].split(","))))
    return found


def _own_groups() -> dict[str, str]:
    """This process's group per hierarchy: controller name (or "" for v2) -> path."""
    own: dict[str, str] = {}
    with open("/proc/self/cgroup") as f:
        for line in f:
            _, controllers, path = line.rstrip("\n").split(":", 2)
            for name in controllers.split(",") if controllers else [""]:
                own[name] = path
    return own


def _inside(mount_root: str, point: str, path: str) -> str:
    rel = path[len(mount_root) :] if path.startswith(mount_root) else path
    return os.path.normpath(point + "/" + rel.lstrip("/"))


def _v2_places(
    mounts: list[tuple[str, str, str, set[str]]], own: dict[str, str]
) -> dict[str, str] | None:
    if "" not in own:
        return None
    for fstype, root, point, _ in mounts:
        if fstype != "cgroup2":
            continue
        place = _inside(root, point, own[""])
        while place.startswith(point):
            try:
                with open(os.path.join(place, "cgroup.subtree_control")) as f:
                    enabled = set(f.read().split())
            except OSError:
                enabled = set()
            # Moving a process needs write access to the common ancestor's cgroup.procs.
            writable = os.access(place, os.W_OK)
            writable = writable and os.access(os.path.join(place, "cgroup.procs"), os.W_OK)
            if set(V2_CONTROLLERS) <= enabled and writable:
                return {"": place}
            if place == point:
                break
            place = os.path.dirname(place)
    return None


def _v1_places(
    mounts: list[tuple[str, str, str, set[str]]], own: dict[str, str]
) -> dict[str, str] | None:
    places = {}
    for name in V1_CONTROLLERS:
        mount = next((m for m in mounts if m[0] == "cgroup" and name in m[3]), None)
        if mount is None or name not in own:
            return None
        place = _inside(mount[1], mount[2], own[name])
        if not os.access(place, os.W_OK):
            return None
        places[name] = place
    return places


def _make_parents(places: dict[str, str]) -> dict[str, int] | None:
    name = f"{PARENT_PREFIX}{os.getpid()}"
    opened: dict[str, int] = {}  # place -> descriptor, once for co-mounted hierarchies
    try:
        for place in places.values():
            if place in opened:
                continue
            _sweep(place)
            with contextlib.suppress(FileExistsError):
                os.mkdir(os.path.join(place, name), 0o755)
            opened[place] = os.open(os.path.join(place, name), os.O_RDONLY | os.O_DIRECTORY)
            if "" in places:  # v2: hand the controllers on to the run groups below
                enable = " ".join(f"+{c}" for c in V2_CONTROLLERS)
                _write("cgroup.subtree_control", enable, opened[place])
    except OSError:
        for place, fd in opened.items():
            os.close(fd)
            with contextlib.suppress(OSError):
                os.rmdir(os.path.join(place, name))
        return None
    return {hierarchy: opened[place] for hierarchy, place in places.items()}


def _sweep(place: str) -> None:
    """Remove what servers that died without cleaning up left behind (empty groups only)."""
    for entry in os.listdir(place):
        if not entry.startswith(PARENT_PREFIX) or not entry[len(PARENT_PREFIX) :].isdigit():
            continue
        try:
            os.kill(int(entry[len(PARENT_PREFIX) :]), 0)
            continue  # its server still lives
        except ProcessLookupError:
            pass
        except PermissionError:
            continue
        parent = os.path.join(place, entry)
        with contextlib.suppress(OSError):
            for slot in os.listdir(parent):
                if slot.startswith("run-"):
                    os.rmdir(os.path.join(parent, slot))
            os.rmdir(parent)
