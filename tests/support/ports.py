"""Loopback ports for tests: one that refuses connections, one a server may take later.

Binding port 0 and closing the socket hands back a port from the kernel's ephemeral range,
the range every outgoing connection on the machine draws its local port from: between the
close and the moment the test uses the port, another connection may take it. So a refusing
port stays bound (never listening) for as long as it is needed, and a port for a server to
bind later is chosen below the ephemeral range, where only explicit binds go.
"""

from __future__ import annotations

import random
import socket
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

LOOPBACK = "127.0.0.1"
_RANDOM = random.SystemRandom()
LOWEST = 20_000


@contextmanager
def refusing_port() -> Iterator[int]:
    """A loopback port that refuses every connection while the block runs: bound by this
    process and never listening, so nothing else can take it meanwhile."""
    with socket.socket() as held:
        held.bind((LOOPBACK, 0))
        yield int(held.getsockname()[1])


def free_port() -> int:
    """A loopback port nothing holds now, for a server the test starts later."""
    start = _ephemeral_start()
    if start - LOWEST >= 1000:
        for _ in range(100):
            # The system's randomness, not the module's: test suites running side by side may
            # hold the same module state (seeded alike), and would then pick the same ports.
            port = _RANDOM.randrange(LOWEST, start)
            with socket.socket() as probe:
                try:
                    probe.bind((LOOPBACK, port))
                except OSError:
                    continue
                return port
    with socket.socket() as probe:  # no room below the ephemeral range: take one from it
        probe.bind((LOOPBACK, 0))
        return int(probe.getsockname()[1])


def _ephemeral_start() -> int:
    try:
        return int(Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return 32_768
