"""A stop asked for while a long-running command is still starting up.

`throne run` and `throne worker` arm this before anything heavy is imported, so that SIGTERM or
SIGINT during start-up is remembered and honoured once the loops exist, instead of killing the
process half-built.
"""

from __future__ import annotations

import signal
import threading

requested = threading.Event()


def arm() -> None:
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: requested.set())
