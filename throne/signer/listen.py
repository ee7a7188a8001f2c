"""Where the signer listens: a unix socket (recommended), or a TCP port on loopback.

A unix socket is reached only by who may enter its directory and write to it, and no other
machine can reach it at all; its mode is set before anyone can connect (0660 by default: the
signer's user and group, which the daemon's user joins). TCP is bound to loopback unless the
operator says otherwise, as the token then crosses the network in clear HTTP.
"""

from __future__ import annotations

import contextlib
import ipaddress
import os
import socket
import stat
from pathlib import Path

DEFAULT_SOCKET_MODE = 0o660


class ListenError(Exception):
    """The signer cannot listen where it was told; the message is one line."""


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def check_host(host: str, *, allow_remote: bool = False) -> None:
    """Refuse ``host`` off loopback unless ``allow_remote``."""
    if not allow_remote and not is_loopback(host):
        raise ListenError(
            f"{host} is not a loopback address: the signer listens on 127.0.0.1, ::1 or a unix "
            "socket unless --allow-remote is given"
        )


def bind_tcp(host: str, port: int, *, allow_remote: bool = False) -> socket.socket:
    """A listening TCP socket on ``host:port``, refused off loopback unless ``allow_remote``."""
    check_host(host, allow_remote=allow_remote)
    if not 0 < port <= 65535:
        raise ListenError(f"--port must lie in [1, 65535], got {port}")
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except socket.gaierror as exc:
        raise ListenError(f"cannot resolve {host}: {exc.strerror}") from exc
    family, _, proto, _, address = infos[0]
    sock = socket.socket(family, socket.SOCK_STREAM, proto)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(address)
        sock.listen(128)
    except OSError as exc:
        sock.close()
        raise ListenError(f"cannot listen on {host}:{port}: {exc.strerror or exc}") from exc
    sock.setblocking(False)
    return sock


def bind_unix(path: Path, mode: int = DEFAULT_SOCKET_MODE) -> socket.socket:
    """A listening unix socket at ``path`` with ``mode``; a stale socket left by a signer that
    died is replaced, a live one (another signer) or any other file is refused."""
    path = Path(path).expanduser().absolute()
    if not path.parent.is_dir():
        raise ListenError(f"no directory {path.parent} for the socket {path}")
    if os.path.lexists(path):
        if not stat.S_ISSOCK(os.lstat(path).st_mode):
            raise ListenError(f"{path} exists and is not a socket: remove it or choose another")
        if _answers(path):
            raise ListenError(f"another process already serves {path}")
        path.unlink()
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    previous = os.umask(0o177)  # nobody may connect before the mode is set
    try:
        sock.bind(str(path))
        os.chmod(path, mode)
        sock.listen(128)
    except OSError as exc:
        sock.close()
        raise ListenError(f"cannot listen on {path}: {exc.strerror or exc}") from exc
    finally:
        os.umask(previous)
    sock.setblocking(False)
    return sock


def _answers(path: Path) -> bool:
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as probe:
        probe.settimeout(1.0)
        try:
            probe.connect(str(path))
        except OSError:
            return False
        return True


def remove_socket(path: Path) -> None:
    """Remove the socket file a signer listened on, once it has stopped."""
    with contextlib.suppress(FileNotFoundError):
        if stat.S_ISSOCK(os.lstat(path).st_mode):
            os.unlink(path)
