"""Bounded waits on a condition, for tests that watch another thread or process."""

from __future__ import annotations

import time
from collections.abc import Callable


def wait_until(check: Callable[[], bool], timeout: float = 10.0, poll: float = 0.05) -> bool:
    """Whether ``check`` came true within ``timeout`` seconds, asked every ``poll`` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        if check():
            return True
        if time.monotonic() >= deadline:
            return False
        time.sleep(poll)
