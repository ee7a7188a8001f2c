"""The sandboxed side of a run: confine this (forked) process, then execute the program.

Runs in a child forked from the sandbox server, so there is no interpreter start-up per run.
The program sees a fresh ``__main__``, fresh std streams on fds 0/1/2 and nothing else: every
other descriptor is closed before the first line of untrusted code.
"""

from __future__ import annotations

import io
import os
import resource
import signal
import sys
import traceback
import types
from typing import Any

from throne.envs.sandbox import isolation


def confine(
    run_dir: str,
    limits: dict[str, Any],
    uid: int | None,
    mount_proc: bool,
    own_user_ns: bool,
    below_watcher: bool = False,
) -> None:
    """Limits, session, privileges. Order matters: mounts and setrlimit need root, so the uid
    drop comes last; NPROC binds only from then on.

    Without root (``own_user_ns``) there is no uid to drop to: the program gets a user
    namespace of its own instead, so that its capabilities reach nothing the server set up
    (mounts included) and RLIMIT_NPROC counts this run's processes only.

    ``below_watcher``: the supervisor holds the run-wide caps by looking at the run
    (`procwatch`), so the run must never take the CPU from it. The program stays in the
    supervisor's session (the supervisor made a fresh one, without a terminal), so in the
    supervisor's scheduler group; it runs under SCHED_IDLE, which it cannot leave
    (RLIMIT_NICE 0), and may not start a session (a new group) of its own."""
    if below_watcher:
        os.setpgid(0, 0)  # a group of its own to kill, in the supervisor's session
    else:
        os.setsid()
    isolation.prctl(isolation.PR_SET_PDEATHSIG, signal.SIGKILL)
    if mount_proc:
        # A private /proc for the new pid namespace: host processes become invisible.
        flags = isolation.MS_NOSUID | isolation.MS_NODEV | isolation.MS_NOEXEC
        isolation.mount("proc", "/proc", "proc", flags, None)
    if own_user_ns:
        isolation.enter_user_namespace()
    for sig in (signal.SIGCHLD, signal.SIGTERM, signal.SIGHUP):
        signal.signal(sig, signal.SIG_DFL)
    # As pid 1 of its namespace the child ignores signals left at their default action, the
    # kernel's SIGXCPU included; a handler makes the soft CPU limit end the run.
    signal.signal(signal.SIGXCPU, _cpu_exceeded)
    set_limit = resource.setrlimit
    set_limit(resource.RLIMIT_CPU, (limits["cpu_s"], limits["cpu_hard_s"]))
    set_limit(resource.RLIMIT_AS, (limits["address_space"], limits["address_space"]))
    set_limit(resource.RLIMIT_CORE, (0, 0))
    set_limit(resource.RLIMIT_FSIZE, (limits["file_size"], limits["file_size"]))
    set_limit(resource.RLIMIT_NOFILE, (limits["open_files"], limits["open_files"]))
    set_limit(resource.RLIMIT_NPROC, (limits["processes"], limits["processes"]))
    if below_watcher:
        # Back to SCHED_OTHER takes a nice value within RLIMIT_NICE: none is, at 0.
        set_limit(resource.RLIMIT_NICE, (0, 0))
        os.sched_setscheduler(0, os.SCHED_IDLE, os.sched_param(0))
    os.chdir(run_dir)
    if uid is not None:
        os.setgroups([])
        os.setgid(uid)
        os.setuid(uid)
    isolation.prctl(isolation.PR_SET_NO_NEW_PRIVS, 1)
    if below_watcher:
        isolation.forbid_new_sessions()


def _cpu_exceeded(signum: int, frame: object) -> None:
    os.write(2, b"\n[sandbox] CPU time limit exceeded\n")
    os._exit(128 + signum)


def execute(path: str) -> int:
    """Run the file at ``path`` as ``__main__``, as ``python path`` would; return the exit code."""
    sys.stdin = io.TextIOWrapper(io.BufferedReader(io.FileIO(0, "r", closefd=False)), "utf-8")
    sys.stdout = io.TextIOWrapper(io.BufferedWriter(io.FileIO(1, "w", closefd=False)), "utf-8")
    sys.stderr = io.TextIOWrapper(
        io.BufferedWriter(io.FileIO(2, "w", closefd=False)),
        "utf-8",
        errors="backslashreplace",
        line_buffering=True,
    )
    sys.argv = [path]
    sys.path[0] = os.path.dirname(path)
    main = types.ModuleType("__main__")
    main.__file__ = path
    sys.modules["__main__"] = main
    code = 0
    try:
        with open(path, "rb") as f:
            source = f.read()
        exec(compile(source, path, "exec"), main.__dict__)
    except SystemExit as exc:
        code = _exit_code(exc)
    except BaseException as exc:
        # Skip this frame, so the traceback reads as ``python main.py`` would print it.
        tb = exc.__traceback__.tb_next if exc.__traceback__ else None
        traceback.print_exception(type(exc), exc, tb)
        code = 1
    try:
        sys.stdout.flush()
    except BaseException:
        traceback.print_exc()
        code = code or 120
    try:
        sys.stderr.flush()
    except BaseException:
        code = code or 120
    return code


def _exit_code(exc: SystemExit) -> int:
    if exc.code is None:
        return 0
    if isinstance(exc.code, int):
        return exc.code & 0xFF
    print(exc.code, file=sys.stderr)
    return 1
