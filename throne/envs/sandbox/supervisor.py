"""One run, supervised: set up the run directory, fork the confined child, collect its output
under the limits, kill everything it started, clean up and report.

A supervisor is a fork of the sandbox server (root, or root of a user namespace). When a pid
namespace is available the confined child is its pid 1, so killing that one process takes down
every process the program started, whatever it did with sessions or process groups.
"""

from __future__ import annotations

import contextlib
import os
import selectors
import shutil
import signal
import socket
import tempfile
import time
from typing import Any

from throne.envs.sandbox import isolation, runner
from throne.envs.sandbox.wire import recv_frame, send_frame

TIMEOUT_MARKER = "\n[sandbox] wall-clock limit exceeded: killed\n"
OVERRUN_MARKER = "\n[sandbox] output limit exceeded: truncated and killed\n"


def supervise(conn: socket.socket, config: dict[str, Any]) -> None:
    """Serve one run request read from ``conn`` and write its result back. Never returns."""
    status = 0
    try:
        signal.signal(signal.SIGCHLD, signal.SIG_DFL)
        header, (source, stdin) = recv_frame(conn)
        result, out, err = _run(source, stdin, header["limits"], config)
        send_frame(conn, result, out, err)
    except BaseException as exc:  # report, never leak a traceback into the server's stderr
        with contextlib.suppress(OSError):
            send_frame(conn, {"error": f"{type(exc).__name__}: {exc}"})
        status = 1
    finally:
        os._exit(status)


def _run(
    source: bytes, stdin: bytes, limits: dict[str, Any], config: dict[str, Any]
) -> tuple[dict[str, Any], bytes, bytes]:
    uid: int | None = config["uid"]
    run_dir = tempfile.mkdtemp(prefix="run-", dir=config["tmp_root"])
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
        pid_ns = config["pid_ns"]
        if pid_ns:
            isolation.unshare(isolation.CLONE_NEWPID | isolation.CLONE_NEWNS)
            # Never let the child's /proc mount propagate to the host, whatever the server did.
            isolation.mount("none", "/", None, isolation.MS_REC | isolation.MS_PRIVATE, None)
        started = time.monotonic()
        pid = os.fork()
        if pid == 0:
            _child(stdin_fd, out_w, err_w, run_dir, path, limits, uid, pid_ns)
        os.close(stdin_fd)
        os.close(out_w)
        os.close(err_w)
        return _collect(pid, out_r, err_r, limits, started, uid, pid_ns)
    finally:
        shutil.rmtree(run_dir, ignore_errors=True)


def _child(
    stdin_fd: int,
    out_w: int,
    err_w: int,
    run_dir: str,
    path: str,
    limits: dict[str, Any],
    uid: int | None,
    pid_ns: bool,
) -> None:
    code = 125
    try:
        os.dup2(stdin_fd, 0)
        os.dup2(out_w, 1)
        os.dup2(err_w, 2)
        os.closerange(3, 1 << 16)
        runner.confine(run_dir, limits, uid, mount_proc=pid_ns)
        code = runner.execute(path)
    except BaseException:
        os.write(2, b"[sandbox] could not start the program\n")
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
) -> tuple[dict[str, Any], bytes, bytes]:
    cap: int = limits["output_bytes"]
    deadline = started + float(limits["wall_s"])
    buffers = {out_r: bytearray(), err_r: bytearray()}
    timed_out = truncated = False
    sel = selectors.DefaultSelector()
    for fd in buffers:
        os.set_blocking(fd, False)
        sel.register(fd, selectors.EVENT_READ)
    while sel.get_map():
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            timed_out = True
            break
        for key, _ in sel.select(remaining):
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
    _kill_all(pid, uid, pid_ns)
    _, status = os.waitpid(pid, 0)
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
    elif sig is not None:
        stderr += f"\n[sandbox] killed by signal {sig}\n".encode()
    result = {
        "exit_code": exit_code,
        "signal": sig,
        "timed_out": timed_out,
        "truncated": truncated,
        "duration_s": duration,
    }
    return result, bytes(buffers[out_r]), stderr


def _kill_all(pid: int, uid: int | None, pid_ns: bool) -> None:
    """Kill the program and everything it started."""
    if pid_ns:
        # pid 1 of the namespace: the kernel kills every other member when it dies.
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
