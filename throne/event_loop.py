"""How throne runs its asyncio code: on uvloop where it is installed.

The daemon, the worker, the demo, the miner server and remote evaluation all spend most of
their CPU in the event loop and the HTTP stack; uvloop (libuv, written in C) takes a fifth to a
third off the client's cost per request, which is what lets one process keep 64 requests in
flight at 50 ms each. Where uvloop is missing (it does not build on Windows) the standard loop
runs the same code.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Coroutine
from typing import Any, TypeVar

T = TypeVar("T")


def loop_factory() -> Callable[[], asyncio.AbstractEventLoop] | None:
    """uvloop's loop constructor, or None for asyncio's default."""
    try:
        import uvloop
    except ImportError:
        return None
    return uvloop.new_event_loop


def run(main: Coroutine[Any, Any, T]) -> T:
    """``asyncio.run(main)`` on the loop of :func:`loop_factory`."""
    with asyncio.Runner(loop_factory=loop_factory()) as runner:
        return runner.run(main)
