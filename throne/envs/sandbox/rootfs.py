"""The minimal root a program sees, built once by the sandbox server and pivoted into.

A small tmpfs holding only what the warm interpreter needs to go on importing and loading:

- the directories on ``sys.path`` (the standard library, its zip and its extension modules);
- the directory of every file the interpreter has mapped (libc, the dynamic loader, libpython,
  the C locale), so that extension modules imported later still find their libraries;
- ``/etc/ld.so.cache`` and ``/etc/localtime``, and the time zone database;
- ``/dev/null``, ``/dev/zero``, ``/dev/random`` and ``/dev/urandom``, ``/dev/fd`` and the
  ``/dev/std*`` links;
- empty ``/tmp`` and ``/proc``, where each run mounts its own tmpfs and its own proc.

In a user namespace the kernel lets a run mount a proc only where one is already fully
visible, so there the host's ``/proc`` is bound under the run's: each run's proc covers it, and
a run without a pid namespace gets an empty tmpfs over it instead.

Everything is bound read-only and the root itself is read-only. Nothing else of the host is in
it: not the rest of ``/etc``, ``/opt``, ``/var``, the homes, the checkout, the config file, the
data directory or the wallets. Programs run in forks of the server, so no binary is needed.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Iterable

from throne.envs.sandbox import isolation

STAGE = "/tmp"  # where the root is assembled, in the server's own mount namespace only
ETC_FILES = ("/etc/ld.so.cache", "/etc/localtime")
SHARED_DATA = ("/usr/share/zoneinfo",)
DEVICES = ("null", "zero", "random", "urandom")
DEV_LINKS = {"fd": "/proc/self/fd", "stdin": "/proc/self/fd/0", "stdout": "/proc/self/fd/1",
             "stderr": "/proc/self/fd/2"}  # fmt: skip

_GUARD = isolation.MS_NOSUID | isolation.MS_NODEV
# statvfs flag -> mount flag: a remount inside a user namespace must keep the locked ones.
_KEPT_FLAGS = {
    os.ST_NOSUID: isolation.MS_NOSUID,
    os.ST_NODEV: isolation.MS_NODEV,
    os.ST_NOEXEC: isolation.MS_NOEXEC,
    os.ST_NOATIME: isolation.MS_NOATIME,
    os.ST_NODIRATIME: isolation.MS_NODIRATIME,
    os.ST_RELATIME: isolation.MS_RELATIME,
}


def needed_paths() -> list[str]:
    """The host paths the root exposes, outermost only (a path inside another is dropped)."""
    exe = os.path.realpath("/proc/self/exe")
    found = {os.path.realpath(p) for p in sys.path if p and os.path.exists(p)}
    with open("/proc/self/maps") as maps:
        for line in maps:
            fields = line.rstrip("\n").split(maxsplit=5)
            if len(fields) < 6 or not fields[5].startswith("/"):
                continue
            real = os.path.realpath(fields[5])
            if real != exe and os.path.isfile(real):
                found.add(os.path.dirname(real))
    found.update(p for p in SHARED_DATA if os.path.isdir(p))
    found.discard("/")
    return _outermost(found) + [p for p in ETC_FILES if os.path.exists(p)]


def _outermost(paths: Iterable[str]) -> list[str]:
    kept: list[str] = []
    for path in sorted(paths, key=lambda p: p.count(os.sep)):
        if not any(path == k or path.startswith(k + os.sep) for k in kept):
            kept.append(path)
    return sorted(kept)


def enter_minimal_root(hidden: Iterable[str], host_proc: bool) -> list[str]:
    """Build the root, pivot into it and detach the host's; return the exposed host paths.

    Needs a private mount namespace of our own (as root, or as root of a user namespace).
    ``hidden`` directories that happen to lie inside an exposed one are covered again;
    ``host_proc`` binds the host's ``/proc`` beneath the runs' (user namespaces only).
    """
    exposed = needed_paths()
    # Reach every source through a descriptor opened now: the staging tmpfs may cover some.
    sources = {path: os.open(path, os.O_PATH | os.O_CLOEXEC) for path in exposed}
    devices = {
        name: os.open(f"/dev/{name}", os.O_PATH | os.O_CLOEXEC)
        for name in DEVICES
        if os.path.exists(f"/dev/{name}")
    }
    top_links = _top_level_links()
    try:
        isolation.mount("tmpfs", STAGE, "tmpfs", _GUARD, "size=1m,mode=755")
        for name in ("tmp", "proc", "dev"):
            os.mkdir(f"{STAGE}/{name}", 0o755)
        for path, fd in sources.items():
            _bind(fd, STAGE + path, read_only=True)
        for name, fd in devices.items():
            _bind(fd, f"{STAGE}/dev/{name}", read_only=False)
        if host_proc:
            flags = isolation.MS_BIND | isolation.MS_REC
            isolation.mount("/proc", f"{STAGE}/proc", None, flags, None)
        for name, target in DEV_LINKS.items():
            os.symlink(target, f"{STAGE}/dev/{name}")
        for name, target in top_links.items():
            if not os.path.lexists(f"{STAGE}/{name}"):
                os.symlink(target, f"{STAGE}/{name}")
        _cover(hidden, exposed)
    finally:
        for fd in (*sources.values(), *devices.values()):
            os.close(fd)
    os.chdir(STAGE)
    isolation.pivot_root(".", ".")  # the old root ends up stacked beneath: detach it
    isolation.umount(".", isolation.MNT_DETACH)
    os.chdir("/")
    remount = isolation.MS_REMOUNT | isolation.MS_BIND | isolation.MS_RDONLY | _GUARD
    isolation.mount("none", "/", None, remount, None)
    return exposed


def _bind(source_fd: int, dest: str, read_only: bool) -> None:
    if os.path.isdir(f"/proc/self/fd/{source_fd}"):
        os.makedirs(dest, mode=0o755, exist_ok=True)
    else:
        os.makedirs(os.path.dirname(dest), mode=0o755, exist_ok=True)
        with open(dest, "a"):
            pass
    isolation.mount(
        f"/proc/self/fd/{source_fd}", dest, None, isolation.MS_BIND | isolation.MS_REC, None
    )
    if read_only:
        kept = os.statvfs(dest).f_flag
        flags = isolation.MS_REMOUNT | isolation.MS_BIND | isolation.MS_RDONLY
        flags |= sum(mount_flag for st_flag, mount_flag in _KEPT_FLAGS.items() if kept & st_flag)
        isolation.mount("none", dest, None, flags | _GUARD, None)


def _top_level_links() -> dict[str, str]:
    """The host's relative links at the top (``/lib -> usr/lib`` on merged-usr systems), so
    that library paths in ``ld.so.cache`` resolve to the bound directories."""
    links = {}
    for entry in os.scandir("/"):
        if entry.is_symlink():
            target = os.readlink(entry.path)
            if not os.path.isabs(target):
                links[entry.name] = target
    return links


def _cover(hidden: Iterable[str], exposed: list[str]) -> None:
    for path in sorted({os.path.realpath(p) for p in hidden}):
        inside = any(path.startswith(e + os.sep) for e in exposed)
        if inside and os.path.isdir(STAGE + path):
            isolation.mount("tmpfs", STAGE + path, "tmpfs", _GUARD | isolation.MS_RDONLY,
                            "size=4k,mode=755")  # fmt: skip
