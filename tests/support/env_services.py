"""Small environment services on loopback, speaking the env protocol, for the remote adapters.

`protocol_app` routes ``/{replica}/health``, ``/{replica}/methods`` and ``/{replica}/call`` to
a test's handlers, so one server can stand for several replicas or several envs, each under a
path of its own, and `Hits` counts what each of them was asked.
"""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from tests.support.ports import refusing_port
from throne.envs.protocol import Call, dump_methods

__all__ = ["Hits", "protocol_app", "refusing_port"]

CallHandler = Callable[[str, Call], Awaitable[Response]]


@dataclass
class Hits:
    """What the server was asked: ``(replica, path)`` counts, and every call in order."""

    paths: Counter[tuple[str, str]] = field(default_factory=Counter)
    calls: list[tuple[str, Call]] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def record(self, replica: str, path: str, call: Call | None = None) -> None:
        with self.lock:
            self.paths[replica, path] += 1
            if call is not None:
                self.calls.append((replica, call))

    def of(self, key: str, value: object) -> list[tuple[str, Call]]:
        """The calls whose kwargs have ``key`` set to ``value``."""
        with self.lock:
            return [(r, c) for r, c in self.calls if c.kwargs.get(key) == value]


def protocol_app(
    hits: Hits, on_call: CallHandler, methods: Callable[[str], list[str] | None]
) -> Starlette:
    """The app. ``methods`` names what a replica offers, or None for a list that is not one
    (a page of HTML)."""

    async def health(request: Request) -> Response:
        hits.record(request.path_params["replica"], "health")
        return Response("ok")

    async def listed(request: Request) -> Response:
        replica = request.path_params["replica"]
        hits.record(replica, "methods")
        offered = methods(replica)
        if offered is None:
            return Response("<html>It works!</html>", media_type="text/html")
        return Response(dump_methods({m: "(**kwargs)" for m in offered}))

    async def call(request: Request) -> Response:
        replica = request.path_params["replica"]
        parsed = Call.parse(await request.body())
        hits.record(replica, "call", parsed)
        return await on_call(replica, parsed)

    return Starlette(
        routes=[
            Route("/{replica}/health", health),
            Route("/{replica}/methods", listed),
            Route("/{replica}/call", call, methods=["POST"]),
        ]
    )
