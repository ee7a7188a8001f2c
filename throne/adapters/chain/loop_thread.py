"""A private asyncio loop on a daemon thread, so blocking callers get hard deadlines.

bittensor's blocking client has no per-call timeout (60 s per request and five retries per
endpoint). Running its async client on a loop we own lets every call carry its own deadline:
the coroutine is cancelled when it runs out, and the caller stops waiting even if the
coroutine does not cooperate.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import threading
from collections.abc import Coroutine
from typing import Any, TypeVar

T = TypeVar("T")

#: How long the caller waits past the deadline for the cancelled coroutine to unwind.
_GRACE_S = 1.0


class LoopThread:
    """One event loop on one daemon thread, started on first use."""

    def __init__(self, name: str) -> None:
        self._name = name
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()

    def run(self, coro: Coroutine[Any, Any, T], deadline_s: float) -> T:
        """Run ``coro`` on the loop; raise `TimeoutError` once ``deadline_s`` has passed."""
        loop = self._ensure_started()
        future = asyncio.run_coroutine_threadsafe(asyncio.wait_for(coro, deadline_s), loop)
        try:
            return future.result(deadline_s + _GRACE_S)
        except concurrent.futures.TimeoutError as exc:
            future.cancel()
            raise TimeoutError(f"no result within {deadline_s:g} s") from exc

    def spawn(self, coro: Coroutine[Any, Any, Any]) -> None:
        """Start ``coro`` on the loop without waiting for it (best-effort cleanup)."""
        future = asyncio.run_coroutine_threadsafe(coro, self._ensure_started())
        future.add_done_callback(lambda f: f.cancelled() or f.exception())

    def close(self) -> None:
        with self._lock:
            loop, thread = self._loop, self._thread
            self._loop = self._thread = None
        if loop is not None and thread is not None:
            loop.call_soon_threadsafe(loop.stop)
            thread.join(timeout=5)
            if not thread.is_alive():
                loop.close()

    def _ensure_started(self) -> asyncio.AbstractEventLoop:
        with self._lock:
            if self._loop is None:
                loop = asyncio.new_event_loop()
                thread = threading.Thread(target=loop.run_forever, name=self._name, daemon=True)
                thread.start()
                self._loop, self._thread = loop, thread
            return self._loop
