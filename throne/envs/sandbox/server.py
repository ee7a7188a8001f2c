"""The sandbox server: a small pre-started interpreter that forks one supervisor per run.

Started by `ForkServerSandbox` with an empty environment and no site-packages. At start it
isolates itself once (network and mount namespaces, private ``/tmp``, hidden home and data
directories), imports what programs commonly use, reports what isolation holds, then serves.
Forking this warm process is what makes a run cheaper than starting ``python`` afresh.
"""

from __future__ import annotations

import gc
import json
import os
import signal
import socket
import sys
from typing import Any

from throne.envs.sandbox import isolation
from throne.envs.sandbox.supervisor import supervise

NOBODY = 65534

# Imported once here so that programs importing them pay nothing after the fork.
WARM_MODULES = (
    "array", "bisect", "collections", "copy", "datetime", "decimal", "fractions", "functools",
    "heapq", "itertools", "json", "math", "operator", "random", "re", "statistics", "string",
    "sys", "traceback", "typing",
)  # fmt: skip


def isolate(config: dict[str, Any]) -> dict[str, Any]:
    """Enter namespaces and shape the file system; return what holds (for the report)."""
    root = os.geteuid() == 0
    held: dict[str, Any] = {"root": root, "uid_base": _usable_uid_base(config) if root else None}
    try:
        if not root:
            isolation.enter_user_namespace()
        isolation.unshare(isolation.CLONE_NEWNS | isolation.CLONE_NEWNET)
        held["user_ns"] = not root
    except OSError:
        held.update(user_ns=False, net_ns=False, mount_ns=False, pid_ns=False, hidden_paths=[])
        held["tmp_root"] = config["fallback_tmp"]
        return held
    held.update(net_ns=True, mount_ns=True)
    isolation.mount("none", "/", None, isolation.MS_REC | isolation.MS_PRIVATE, None)
    guarded = isolation.MS_NOSUID | isolation.MS_NODEV
    for path in ("/tmp", "/var/tmp", "/dev/shm"):
        if os.path.isdir(path):
            # Root-owned and not world-writable: only the run directory inside is writable.
            isolation.mount("tmpfs", path, "tmpfs", guarded, f"size={config['tmp_size']},mode=755")
    hidden = _hide(config["hidden_paths"], guarded)
    held["hidden_paths"] = hidden
    held["tmp_root"] = "/tmp"
    held["pid_ns"] = _pid_namespace_works()
    return held


def _hide(paths: list[str], flags: int) -> list[str]:
    """Cover each directory with an empty tmpfs. The standard library may live inside one
    (e.g. under /root): it is bound back read-only at its own path, reached through a
    descriptor opened before the cover went on."""
    stdlib = os.path.realpath(os.path.dirname(os.__file__))
    keep = os.open(stdlib, os.O_PATH | os.O_DIRECTORY)
    hidden = []
    for path in sorted({os.path.realpath(p) for p in paths}, key=len):
        if path == "/" or not os.path.isdir(path) or stdlib == path:
            continue
        isolation.mount("tmpfs", path, "tmpfs", flags, "size=64k,mode=755")
        hidden.append(path)
        if stdlib.startswith(path + os.sep):
            os.makedirs(stdlib, mode=0o755, exist_ok=True)
            bind = isolation.MS_BIND | isolation.MS_REC
            isolation.mount(f"/proc/self/fd/{keep}", stdlib, None, bind, None)
            remount = bind | isolation.MS_REMOUNT | isolation.MS_RDONLY | flags
            isolation.mount("none", stdlib, None, remount, None)
    os.close(keep)
    return hidden


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


def serve(control: socket.socket, config: dict[str, Any]) -> None:
    signal.signal(signal.SIGCHLD, signal.SIG_IGN)  # supervisors are reaped by the kernel
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the validator's Ctrl-C is for the validator
    base, count = config["uid_base"], config["uid_count"]
    runs = 0
    while True:
        try:
            msg, fds, _, _ = socket.recv_fds(control, 16, 1)
        except InterruptedError:
            continue
        if not msg:
            return
        if not fds:
            continue
        conn = socket.socket(fileno=fds[0])
        # Each run gets its own uid from the range, so concurrent runs cannot touch each other's
        # files or processes, and RLIMIT_NPROC counts one run's processes only.
        uid = None if base is None else base + runs % count
        runs += 1
        try:
            if os.fork() == 0:
                control.close()
                supervise(conn, {**config, "uid": uid})
        except OSError:
            pass  # the client sees the connection close and reports the sandbox unavailable
        conn.close()


def main() -> None:
    control = socket.socket(fileno=int(sys.argv[1]))
    config: dict[str, Any] = json.loads(sys.argv[2])
    for name in WARM_MODULES:
        __import__(name)
    sys.dont_write_bytecode = True
    try:
        held = isolate(config)
    except OSError as exc:
        control.sendall(json.dumps({"error": f"isolation failed: {exc}"}).encode())
        return
    config = {**config, **held}
    control.sendall(json.dumps({"isolation": held}).encode())
    # Move everything alive now out of the collector's reach: a collection in a forked child
    # would otherwise touch (and so copy) every page of the warm heap.
    gc.collect()
    gc.freeze()
    serve(control, config)


if __name__ == "__main__":
    main()
