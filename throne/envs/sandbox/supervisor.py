"""One run, supervised: give it a private /tmp, fork the confined child, collect its output
under the limits, watch the run as a whole, kill everything it started and report.

A supervisor is a fork of the sandbox server (root, or root of a user namespace). When a pid
namespace is available the confined child is its pid 1, so killing that one process takes down
every process the program started, whatever it did with sessions or process groups. The run's
mount namespace holds its own tmpfs on /tmp, gone with the run.
"""

from __future__ import annotations

import contextlib
import os
import selectors
import shutil
import signal
import socket
import time
from typing import Any

from throne.envs.sandbox import isolation, runner
from throne.envs.sandbox.cgroups import CgroupTree
from throne.envs.sandbox.meter import RunMeter
from throne.envs.sandbox.procwatch import ProcWatch
from throne.envs.sandbox.wire import recv_frame, send_frame

TIMEOUT_MARKER = "\n[sandbox] wall-clock limit exceeded: killed\n"
OVERRUN_MARKER = "\n[sandbox] output limit exceeded: truncated and killed\n"
EXCEEDED_MARKERS = {
    "cpu": "\n[sandbox] CPU time limit of the run exceeded: killed\n",
    "memory": "\n[sandbox] memory limit of the run exceeded: killed\n",
}
# The first look at the run as a whole; a run that ends sooner is measured once, at its end.
FIRST_LOOK_S = 0.02


def supervise(conn: socket.socket, config: dict[str, Any], tree: CgroupTree | None) -> None:
    """Serve one run request read from ``conn`` and write its result back. Never returns."""
    status = 0
    try:
        signal.signal(signal.SIGCHLD, signal.SIG_DFL)
        header, (source, stdin) = recv_frame(conn)
        result, out, err = _run(source, stdin, header["limits"], config, tree)
        send_frame(conn, result, out, err)
    except BaseException as exc:  # report, never leak a traceback into the server's stderr
        with contextlib.suppress(OSError):
            send_frame(conn, {"error": f"{type(exc).__name__}: {exc}"})
        status = 1
    finally:
        os._exit(status)


def _run(
    source: bytes,
    stdin: bytes,
    limits: dict[str, Any],
    config: dict[str, Any],
    tree: CgroupTree | None,
) -> tuple[dict[str, Any], bytes, bytes]:
    uid: int | None = config["uid"]
    pid_ns: bool = config["pid_ns"]
    tmp_root = config["tmp_root"]
    if config["mount_ns"]:
        isolation.unshare(isolation.CLONE_NEWNS | (isolation.CLONE_NEWPID if pid_ns else 0))
        # Never let the run's mounts propagate anywhere, whatever the server did.
        isolation.mount("none", "/", None, isolation.MS_REC | isolation.MS_PRIVATE, None)
        _private_tmp(int(limits["tmp_bytes"]))
        if not pid_ns:  # no /proc of its own to mount: then none at all
            flags = isolation.MS_NOSUID | isolation.MS_NODEV | isolation.MS_RDONLY
            isolation.mount("tmpfs", "/proc", "tmpfs", flags, "size=4k,mode=555")
        tmp_root = "/tmp"
    # Named by the server's run count: unique, and cheaper than a random name in a fresh fork.
    run_dir = os.path.join(tmp_root, f"run-{config['run']}")
    os.mkdir(run_dir, 0o700)
    meter = _meter(limits, config, tree)
    try:
        path = os.path.join(run_dir, "main.py")
        with open(path, "wb") as f:
            f.write(source)
        if uid is not None:
            os.chown(run_dir, uid, uid)
            os.chown(path, uid, uid)
        stdin_fd = os.memfd_create("stdin")
        view = memoryview(stdin)
        while view:
            view = view[os.write(stdin_fd, view) :]
        os.lseek(stdin_fd, 0, os.SEEK_SET)
        out_r, out_w = os.pipe()
        err_r, err_w = os.pipe()
        below_watcher = tree is None
        if below_watcher:
            # The run joins this session, and with it this process's scheduler group (an
            # autogroup per session, where the kernel has them): inside it the supervisor,
            # at normal priority, is always served before the run's SCHED_IDLE processes.
            os.setsid()
        started = time.monotonic()
        pid = os.fork()
        if pid == 0:
            nested = bool(config["user_ns"]) and pid_ns
            _child(
                stdin_fd, out_w, err_w, run_dir, path, limits, uid, pid_ns, nested, meter,
                below_watcher,
            )  # fmt: skip
        meter.started(pid)
        os.close(stdin_fd)
        os.close(out_w)
        os.close(err_w)
        return _collect(pid, out_r, err_r, limits, started, uid, pid_ns, meter)
    finally:
        meter.close()
        if not config["mount_ns"]:  # elsewhere the run's tmpfs goes with its namespace
            shutil.rmtree(run_dir, ignore_errors=True)


def _private_tmp(size: int) -> None:
    """A tmpfs of the run's own on /tmp: filling it fills nobody else's. Root-owned and not
    world-writable, so only the run directory inside is writable; inodes are capped too, as
    empty files take no blocks."""
    inodes = max(1024, size // 4096)
    flags = isolation.MS_NOSUID | isolation.MS_NODEV
    isolation.mount("tmpfs", "/tmp", "tmpfs", flags, f"size={size},nr_inodes={inodes},mode=755")


def _meter(limits: dict[str, Any], config: dict[str, Any], tree: CgroupTree | None) -> RunMeter:
    if tree is not None:
        return tree.group(int(config["slot"]), limits)
    # With a pid namespace the run's own /proc (mounted by its pid 1 in this mount namespace)
    # lists exactly its processes; otherwise the host's, filtered.
    return ProcWatch(limits, "/proc" if config["pid_ns"] else int(config["proc_fd"]), config["uid"])


def _child(
    stdin_fd: int,
    out_w: int,
    err_w: int,
    run_dir: str,
    path: str,
    limits: dict[str, Any],
    uid: int | None,
    pid_ns: bool,
    nested_user_ns: bool,
    meter: RunMeter,
    below_watcher: bool,
) -> None:
    code = 125
    try:
        meter.join()
        os.dup2(stdin_fd, 0)
        os.dup2(out_w, 1)
        os.dup2(err_w, 2)
        os.closerange(3, 1 << 16)
        runner.confine(
            run_dir,
            limits,
            uid,
            mount_proc=pid_ns,
            own_user_ns=nested_user_ns,
            below_watcher=below_watcher,
        )
        code = runner.execute(path)
    except BaseException as exc:  # a broken sandbox, never the program: say what broke
        os.write(2, f"[sandbox] could not start the program: {exc}\n".encode())
    finally:
        os._exit(code)


def _collect(
    pid: int,
    out_r: int,
    err_r: int,
    limits: dict[str, Any],
    started: float,
    uid: int | None,
    pid_ns: bool,
    meter: RunMeter,
) -> tuple[dict[str, Any], bytes, bytes]:
    cap: int = limits["output_bytes"]
    deadline = started + float(limits["wall_s"])
    buffers = {out_r: bytearray(), err_r: bytearray()}
    timed_out = truncated = False
    exceeded: str | None = None
    next_look = started + FIRST_LOOK_S
    sel = selectors.DefaultSelector()
    for fd in buffers:
        os.set_blocking(fd, False)
        sel.register(fd, selectors.EVENT_READ)
    while sel.get_map():
        now = time.monotonic()
        if now >= deadline:
            timed_out = True
            break
        if now >= next_look:
            exceeded = meter.exceeded()
            if exceeded:
                break
            next_look = now + meter.interval()
        for key, _ in sel.select(min(deadline, next_look) - now):
            fd = int(key.fd)
            chunk = os.read(fd, 1 << 16)
            if not chunk:
                sel.unregister(fd)
                continue
            buffers[fd] += chunk
            if len(buffers[fd]) > cap:
                del buffers[fd][cap:]
                truncated = True
        if truncated:
            break
    sel.close()
    if not (timed_out or truncated or exceeded):
        exceeded = meter.exceeded()  # e.g. the kernel ended the run for its memory
    _kill_all(pid, uid, pid_ns)
    _, status = os.waitpid(pid, 0)
    meter.drain()
    for fd in buffers:
        os.close(fd)
    duration = time.monotonic() - started
    stderr = bytes(buffers[err_r])
    exit_code: int | None = None
    sig: int | None = None
    if os.WIFSIGNALED(status):
        sig = os.WTERMSIG(status)
    else:
        exit_code = os.WEXITSTATUS(status)
    if timed_out:
        stderr += TIMEOUT_MARKER.encode()
    elif truncated:
        stderr += OVERRUN_MARKER.encode()
    elif exceeded:
        stderr += EXCEEDED_MARKERS[exceeded].encode()
    elif sig is not None:
        stderr += f"\n[sandbox] killed by signal {sig}\n".encode()
    result = {
        "exit_code": exit_code,
        "signal": sig,
        "timed_out": timed_out,
        "truncated": truncated,
        "exceeded": exceeded,
        "duration_s": duration,
    }
    return result, bytes(buffers[out_r]), stderr


def _kill_all(pid: int, uid: int | None, pid_ns: bool) -> None:
    """Kill the program and everything it started."""
    if pid_ns:
        # The kernel kills every other member once pid 1 dies, but pid 1 dies only when it
        # next runs, and meanwhile the others run on: at low priority that can be long. A
        # fork of the supervisor is born in the run's namespace, where kill(-1) reaches every
        # member but pid 1 at once. Fails only once pid 1 is gone, and everything with it.
        with contextlib.suppress(OSError):
            killer = os.fork()
            if killer == 0:
                try:
                    os.kill(-1, signal.SIGKILL)
                finally:
                    os._exit(0)
            os.waitpid(killer, 0)
        _signal(pid, signal.SIGKILL)
        return
    _signal(-pid, signal.SIGKILL)
    if uid is not None:
        # Children may have left the process group; as the sandbox uid, kill(-1) reaches all
        # processes of that uid and nothing else.
        killer = os.fork()
        if killer == 0:
            try:
                os.setuid(uid)
                os.kill(-1, signal.SIGKILL)
            finally:
                os._exit(0)
        os.waitpid(killer, 0)


def _signal(target: int, sig: int) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.kill(target, sig)
