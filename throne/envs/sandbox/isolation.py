"""Linux namespaces, mounts and prctl through libc (Python 3.11 has no ``os.unshare``).

Only the sandbox's own processes call these, never the validator process itself.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import errno
import os

CLONE_NEWNS = 0x00020000
CLONE_NEWUSER = 0x10000000
CLONE_NEWPID = 0x20000000
CLONE_NEWNET = 0x40000000

MS_RDONLY = 0x1
MS_NOSUID = 0x2
MS_NODEV = 0x4
MS_NOEXEC = 0x8
MS_REMOUNT = 0x20
MS_NOATIME = 0x400
MS_NODIRATIME = 0x800
MS_BIND = 0x1000
MS_REC = 0x4000
MS_PRIVATE = 0x40000
MS_RELATIME = 0x200000

MNT_DETACH = 0x2

PR_SET_PDEATHSIG = 1
PR_SET_NO_NEW_PRIVS = 38

_libc = ctypes.CDLL(ctypes.util.find_library("c") or None, use_errno=True)


def _check(result: int, what: str) -> None:
    if result != 0:
        err = ctypes.get_errno()
        raise OSError(err, f"{what}: {os.strerror(err)}")


def unshare(flags: int) -> None:
    _check(_libc.unshare(ctypes.c_int(flags)), "unshare")


def mount(source: str, target: str, fstype: str | None, flags: int, data: str | None) -> None:
    _check(
        _libc.mount(
            source.encode(),
            target.encode(),
            fstype.encode() if fstype else None,
            ctypes.c_ulong(flags),
            data.encode() if data else None,
        ),
        f"mount {target}",
    )


def umount(target: str, flags: int) -> None:
    _check(_libc.umount2(target.encode(), ctypes.c_int(flags)), f"umount {target}")


def pivot_root(new_root: str, put_old: str) -> None:
    # glibc has no wrapper: call the system call by number (x86-64, then arm64).
    number = {"x86_64": 155, "aarch64": 41}.get(os.uname().machine)
    if number is None:
        raise OSError(errno.ENOSYS, "pivot_root: unknown system call number on this machine")
    result = _libc.syscall(ctypes.c_long(number), new_root.encode(), put_old.encode())
    _check(result, "pivot_root")


def prctl(option: int, arg: int) -> None:
    _check(
        _libc.prctl(
            ctypes.c_int(option),
            ctypes.c_ulong(arg),
            ctypes.c_ulong(0),
            ctypes.c_ulong(0),
            ctypes.c_ulong(0),
        ),
        "prctl",
    )


def enter_user_namespace() -> None:
    """Become root of a fresh user namespace mapped onto the current uid: the unprivileged
    server's own, and one per run inside it (capabilities then reach only that run's
    namespace, and RLIMIT_NPROC counts that run's processes only)."""
    uid, gid = os.getuid(), os.getgid()
    unshare(CLONE_NEWUSER)
    with open("/proc/self/setgroups", "w") as f:
        f.write("deny")
    with open("/proc/self/uid_map", "w") as f:
        f.write(f"0 {uid} 1")
    with open("/proc/self/gid_map", "w") as f:
        f.write(f"0 {gid} 1")


# seccomp: a filter that refuses one system call, for this architecture only.
PR_SET_SECCOMP = 22
SECCOMP_MODE_FILTER = 2
_SECCOMP_RET_ALLOW = 0x7FFF0000
_SECCOMP_RET_ERRNO = 0x00050000
_BPF_LD_W_ABS = 0x20
_BPF_JEQ_K = 0x15
_BPF_JGE_K = 0x35
_BPF_RET_K = 0x06
_X32_SYSCALL_BIT = 0x40000000
# machine -> (AUDIT_ARCH_*, setsid's number)
_SETSID = {"x86_64": (0xC000003E, 112), "aarch64": (0xC00000B7, 157)}


class _SockFilter(ctypes.Structure):
    _fields_ = [
        ("code", ctypes.c_ushort),
        ("jt", ctypes.c_ubyte),
        ("jf", ctypes.c_ubyte),
        ("k", ctypes.c_uint),
    ]


class _SockFprog(ctypes.Structure):
    _fields_ = [("len", ctypes.c_ushort), ("filter", ctypes.POINTER(_SockFilter))]


def forbid_new_sessions() -> None:
    """Refuse ``setsid`` (EPERM) to this process and all it starts, for good.

    A new session is a new scheduler autogroup, which competes with every other group as
    one nice-0 task: a run that could start one would leave its supervisor's group and so
    the priority the supervisor holds over it (see `procwatch`). System calls of another
    ABI than the native one (i386, x32), which the filter does not decode, are refused
    too. Needs ``PR_SET_NO_NEW_PRIVS`` (or root) first."""
    machine = os.uname().machine
    if machine not in _SETSID:
        raise OSError(errno.ENOSYS, f"seccomp: no filter for this machine ({machine})")
    arch, setsid = _SETSID[machine]
    deny = _SECCOMP_RET_ERRNO | errno.EPERM
    program = (_SockFilter * 7)(
        _SockFilter(_BPF_LD_W_ABS, 0, 0, 4),  # seccomp_data.arch
        _SockFilter(_BPF_JEQ_K, 0, 4, arch),  # another ABI: deny
        _SockFilter(_BPF_LD_W_ABS, 0, 0, 0),  # seccomp_data.nr
        _SockFilter(_BPF_JGE_K, 2, 0, _X32_SYSCALL_BIT),  # x32 on x86-64: deny
        _SockFilter(_BPF_JEQ_K, 1, 0, setsid),
        _SockFilter(_BPF_RET_K, 0, 0, _SECCOMP_RET_ALLOW),
        _SockFilter(_BPF_RET_K, 0, 0, deny),
    )
    fprog = _SockFprog(len(program), program)
    result = _libc.prctl(
        ctypes.c_int(PR_SET_SECCOMP),
        ctypes.c_ulong(SECCOMP_MODE_FILTER),
        ctypes.c_void_p(ctypes.addressof(fprog)),
        ctypes.c_ulong(0),
        ctypes.c_ulong(0),
    )
    _check(result, "prctl(PR_SET_SECCOMP)")
