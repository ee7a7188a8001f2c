"""The sandbox server: a small pre-started interpreter that forks one supervisor per run.

Started by `ForkServerSandbox` with an empty environment and no site-packages. At start it
imports what programs commonly use, finds how runs will be held as a whole (a cgroup tree, or
sampling from ``/proc``), isolates itself once (network and mount namespaces, then the minimal
root of `rootfs`), reports what holds, then serves. Forking this warm, already-isolated process
is what makes a run cheaper than starting ``python`` afresh: the root is built once per
server, and a run only adds its own namespaces, its /tmp and its /proc on top.
"""

from __future__ import annotations

import contextlib
import gc
import json
import os
import select
import signal
import socket
import sys
from typing import Any

from throne.envs.sandbox import cgroups, isolation, rootfs
from throne.envs.sandbox.cgroups import CgroupTree
from throne.envs.sandbox.supervisor import supervise

NOBODY = 65534

# Imported once here so that programs importing them pay nothing after the fork.
WARM_MODULES = (
    "array", "bisect", "collections", "copy", "datetime", "decimal", "fractions", "functools",
    "heapq", "itertools", "json", "math", "operator", "random", "re", "statistics", "string",
    "sys", "traceback", "typing",
)  # fmt: skip


def isolate(config: dict[str, Any]) -> dict[str, Any]:
    """Enter namespaces and the minimal root; return what holds (for the report)."""
    root = os.geteuid() == 0
    held: dict[str, Any] = {"root": root, "uid_base": _usable_uid_base(config) if root else None}
    try:
        if not root:
            isolation.enter_user_namespace()
        isolation.unshare(isolation.CLONE_NEWNS | isolation.CLONE_NEWNET)
        held["user_ns"] = not root
    except OSError:
        held.update(user_ns=False, net_ns=False, mount_ns=False, pid_ns=False, hidden_paths=[])
        held.update(minimal_root=False, exposed=["/"], private_tmp=False)
        held["tmp_root"] = config["fallback_tmp"]
        return held
    held.update(net_ns=True, mount_ns=True)
    isolation.mount("none", "/", None, isolation.MS_REC | isolation.MS_PRIVATE, None)
    held["pid_ns"] = _pid_namespace_works()
    held["exposed"] = rootfs.enter_minimal_root(config["hidden_paths"], host_proc=not root)
    held.update(minimal_root=True, private_tmp=True, tmp_root="/tmp")
    held["hidden_paths"] = sorted({os.path.realpath(p) for p in config["hidden_paths"]} - {"/"})
    return held


def _pid_namespace_works() -> bool:
    pid = os.fork()
    if pid == 0:
        try:
            isolation.unshare(isolation.CLONE_NEWPID | isolation.CLONE_NEWNS)
            os._exit(0)
        except BaseException:
            os._exit(1)
    _, status = os.waitpid(pid, 0)
    return os.WIFEXITED(status) and os.WEXITSTATUS(status) == 0


def _usable_uid_base(config: dict[str, Any]) -> int:
    """The configured uid range, or nobody alone if this kernel's uid map refuses the range."""
    base = int(config["uid_base"])
    pid = os.fork()
    if pid == 0:
        try:
            os.setgid(base + config["uid_count"] - 1)
            os.setuid(base + config["uid_count"] - 1)
            os._exit(0)
        except BaseException:
            os._exit(1)
    _, status = os.waitpid(pid, 0)
    if os.WIFEXITED(status) and os.WEXITSTATUS(status) == 0:
        return base
    config["uid_count"] = 1
    return NOBODY


def serve(control: socket.socket, config: dict[str, Any], tree: CgroupTree | None) -> None:
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the validator's Ctrl-C is for the validator
    base, count = config["uid_base"], config["uid_count"]
    runs = 0
    slots = _Slots()
    exits = _ChildExits()
    poller = select.poll()
    poller.register(control, select.POLLIN)
    poller.register(exits.fd, select.POLLIN)
    while True:
        ready = {fd for fd, _ in poller.poll()}
        if exits.fd in ready:
            exits.clear()  # before reaping: an exit from now on wakes the next poll
            slots.reap()
        if control.fileno() not in ready:
            continue
        msg, fds, _, _ = socket.recv_fds(control, 16, 1)
        if not msg:
            break
        if not fds:
            continue
        conn = socket.socket(fileno=fds[0])
        # Each run gets its own uid from the range, so concurrent runs cannot touch each other's
        # files or processes, and RLIMIT_NPROC counts one run's processes only.
        uid = None if base is None else base + runs % count
        runs += 1
        slot = slots.take()
        try:
            pid = os.fork()
            if pid == 0:
                exits.close()
                control.close()
                supervise(conn, {**config, "uid": uid, "slot": slot, "run": runs}, tree)
            slots.hold(pid, slot)
        except OSError:
            slots.give_back(slot)  # the client sees the connection close: sandbox unavailable
        conn.close()
    if tree is not None:
        tree.close()


class _ChildExits:
    """A descriptor that turns readable when a supervisor exits.

    Python runs a signal handler only between bytecodes, never inside a blocking system call
    it entered after the signal came: a SIGCHLD arriving just before the server blocks in
    ``recvmsg`` would be handled only at the next request, and the exited supervisor would
    stay a zombie until then. The interpreter's C-level handler writes to the wakeup
    descriptor at once, so polling it beside the control socket misses no exit; the loop
    reaps, not the handler.
    """

    def __init__(self) -> None:
        self.fd, self._write_end = os.pipe2(os.O_NONBLOCK | os.O_CLOEXEC)
        signal.set_wakeup_fd(self._write_end, warn_on_full_buffer=False)
        signal.signal(signal.SIGCHLD, _ignore)  # a Python handler: so the wakeup fd is written

    def clear(self) -> None:
        with contextlib.suppress(BlockingIOError):
            while os.read(self.fd, 4096):
                pass

    def close(self) -> None:
        """In a forked supervisor: its own children's exits are its own business."""
        signal.set_wakeup_fd(-1)
        os.close(self.fd)
        os.close(self._write_end)


def _ignore(signum: int, frame: object) -> None:
    pass


class _Slots:
    """Which run group each live supervisor holds: a slot goes to the next run only once the
    supervisor that held it has exited (and with it every process of its run). The serving
    loop reaps supervisors as they exit, so none lingers as a zombie."""

    def __init__(self) -> None:
        self._held: dict[int, int] = {}
        self._free: list[int] = []
        self._made = 0

    def reap(self) -> None:
        while True:
            try:
                pid, _ = os.waitpid(-1, os.WNOHANG)
            except ChildProcessError:
                return
            if pid == 0:
                return
            if pid in self._held:
                self.give_back(self._held.pop(pid))

    def take(self) -> int:
        if self._free:
            return self._free.pop()
        self._made += 1
        return self._made - 1

    def hold(self, pid: int, slot: int) -> None:
        self._held[pid] = slot

    def give_back(self, slot: int) -> None:
        self._free.append(slot)


def main() -> None:
    control = socket.socket(fileno=int(sys.argv[1]))
    config: dict[str, Any] = json.loads(sys.argv[2])
    for name in WARM_MODULES:
        __import__(name)
    sys.dont_write_bytecode = True
    try:
        # Both reach into the host's /sys and /proc: before the root changes.
        tree = cgroups.open_tree()
        proc_fd = os.open("/proc", os.O_RDONLY | os.O_DIRECTORY)
        held = isolate(config)
    except OSError as exc:
        control.sendall(json.dumps({"error": f"isolation failed: {exc}"}).encode())
        return
    held["run_limits"] = tree.mechanism if tree is not None else "proc"
    held["run_groups"] = tree.paths if tree is not None else []
    config = {**config, **held, "proc_fd": proc_fd}
    control.sendall(json.dumps({"isolation": held}).encode())
    # Move everything alive now out of the collector's reach: a collection in a forked child
    # would otherwise touch (and so copy) every page of the warm heap.
    gc.collect()
    gc.freeze()
    serve(control, config, tree)


if __name__ == "__main__":
    main()
