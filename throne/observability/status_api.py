"""The read-only HTTP status API the daemon serves, and a server that runs it in a thread
(`status_process` runs that server in a process of its own, as the daemon does).

Routes (GET only): ``/healthz`` (200, or 503 while a loop is in outage or once the last tick
is older than the staleness bound), ``/metrics`` (Prometheus text), and the read views as JSON
(`status_answers`): ``/rank``, ``/weights``, ``/weights/submissions``, ``/history``,
``/history/battles/{n}``, ``/miners/{uid|hotkey}`` and its ``/samples-summary`` and ``/battles``,
``/envs/{name}/samples-summary`` and ``/audit`` — the task pool's seed and task ids are never
among them. The dashboard's pages (`throne.observability.dashboard`) are under ``/dashboard``,
rendered from the same snapshots.

The views are served from snapshots rebuilt when the log changes (`read_cache`), never built
per request: viewers, however many, cost the daemon one build per change of the log and per
``refresh_seconds`` at most. A lookup that cannot be a uid or a hotkey is a 400.
"""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Awaitable, Callable
from typing import Any, Protocol

import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route
from starlette.types import ASGIApp

from throne.observability import status_answers as answers
from throne.observability.publication import Publication
from throne.observability.read_cache import ReadCache
from throne.observability.status_reads import ReadsProvider, StatusReads, encode, unavailable

JSON = "application/json"


class Health(Protocol):
    """What ``/healthz`` says: `throne.observability.health.Heartbeat`, or its relay."""

    def status(self, max_staleness: float | None = None) -> tuple[bool, dict[str, Any]]: ...


class MetricsText(Protocol):
    """What ``/metrics`` serves: `throne.observability.metrics.ThroneMetrics`, or its relay."""

    content_type: str

    def exposition(self) -> bytes: ...


def bound_socket(host: str, port: int) -> socket.socket:
    """A TCP socket bound to ``host:port`` (0: any free port), not yet listening; an
    `OSError` (the port in use, say) leaves nothing open."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
    except OSError:
        sock.close()
        raise
    return sock


def status_app(
    provide: ReadsProvider,
    *,
    heartbeat: Health,
    metrics: MetricsText | None = None,
    max_staleness: float | None = None,
    refresh_seconds: float = 1.0,
    publication: Publication | None = None,
    db_hint: str = "URL",
    dashboard: bool = True,
) -> Starlette:
    """``provide`` returns the read side to read; ``max_staleness`` seconds without a tick make
    ``/healthz`` 503; the log is looked at for changes at most every ``refresh_seconds`` (0: on
    every request); ``publication``: where the log is published, if it is (``/audit``);
    ``db_hint``: how ``/audit``'s export command names the database; ``dashboard``: serve the
    dashboard's pages under ``/dashboard`` too. The snapshots are in ``app.state.read_cache``,
    the reads every route shares in ``app.state.reads``."""

    def log_position() -> int:
        return provide().log_position

    cache = ReadCache(log_position, check_every=refresh_seconds)
    reads = StatusReads(provide, cache, publication=publication, db_hint=db_hint)

    async def healthz(request: Request) -> Response:
        healthy, body = heartbeat.status(max_staleness)
        return JSONResponse(body, status_code=200 if healthy else 503)

    def metrics_text(request: Request) -> Response:
        if metrics is None:
            return JSONResponse({"error": "metrics are not collected"}, status_code=404)
        return Response(metrics.exposition(), media_type=metrics.content_type)

    def whole(key: str) -> Answer:
        async def answer(request: Request) -> Any:
            return (await reads.view(key)).body

        return answer

    def asking(answer: Callable[[StatusReads, Request], Awaitable[Any]]) -> Answer:
        return lambda request: answer(reads, request)

    routes: list[BaseRoute] = [
        Route("/healthz", healthz),
        Route("/metrics", metrics_text),
        Route("/rank", json_endpoint(whole("rank"))),
        Route("/weights", json_endpoint(whole("weights"))),
        Route("/weights/submissions", json_endpoint(asking(answers.submissions_page))),
        Route("/history", json_endpoint(asking(answers.history_page))),
        Route("/history/battles/{number}", json_endpoint(asking(answers.battle))),
        Route("/miners/{who}", json_endpoint(asking(answers.miner))),
        Route("/miners/{who}/samples-summary", json_endpoint(asking(answers.miner_samples))),
        Route("/miners/{who}/battles", json_endpoint(asking(answers.miner_battles))),
        Route("/envs/{name}/samples-summary", json_endpoint(asking(answers.env_samples))),
        Route("/audit", json_endpoint(asking(answers.audit))),
    ]
    if dashboard:
        from throne.observability.dashboard.routes import dashboard_routes

        routes.extend(dashboard_routes(reads))
    app = Starlette(routes=routes)
    app.state.read_cache = cache
    app.state.reads = reads
    return app


Answer = Callable[[Request], Awaitable[Any]]


def json_endpoint(answer: Answer) -> Callable[[Request], Awaitable[Response]]:
    """A route answering ``answer``'s value (or JSON bytes) as JSON; a `BadRequest` is a 400,
    a `NotFound` a 404 and a log that cannot be read a 503, each with a JSON ``error``."""

    async def endpoint(request: Request) -> Response:
        try:
            found = await answer(request)
        except answers.BadRequest as exc:
            return JSONResponse({"error": str(exc)}, status_code=400)
        except answers.NotFound as exc:
            return JSONResponse({"error": str(exc)}, status_code=404)
        except Exception as exc:
            if not unavailable(exc):
                raise
            return JSONResponse({"error": f"event log unavailable: {exc}"}, status_code=503)
        body = found if isinstance(found, bytes) else encode(found)
        return Response(body, media_type=JSON)

    return endpoint


class StatusServer:
    """Runs an ASGI app under uvicorn in a background thread, on loopback by default.

    ``port=0`` picks a free port; `url` tells which. The socket is bound in `start`, so a busy
    port fails there, in the caller's thread.
    """

    def __init__(self, app: ASGIApp, host: str = "127.0.0.1", port: int = 0) -> None:
        self._app = app
        self.host = host
        self._requested_port = port
        self._socket: socket.socket | None = None
        self._server: uvicorn.Server | None = None
        self._thread: threading.Thread | None = None

    @property
    def port(self) -> int:
        if self._socket is None:
            raise RuntimeError("the status server is not started")
        return int(self._socket.getsockname()[1])

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    def start(self, timeout: float = 10.0) -> None:
        if self._thread is not None:
            raise RuntimeError("the status server is already started")
        sock = bound_socket(self.host, self._requested_port)
        self._socket = sock
        config = uvicorn.Config(
            self._app, log_config=None, access_log=False, lifespan="off", log_level="warning"
        )
        server = uvicorn.Server(config)
        self._server = server
        self._thread = threading.Thread(
            target=server.run, kwargs={"sockets": [sock]}, name="throne-status", daemon=True
        )
        self._thread.start()
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline and self._thread.is_alive():
            if server.started:
                return
            time.sleep(0.01)
        self.stop()
        raise RuntimeError("the status server did not start")

    def stop(self, timeout: float = 5.0) -> None:
        if self._server is not None:
            self._server.should_exit = True
        if self._thread is not None:
            self._thread.join(timeout)
        if self._socket is not None:
            self._socket.close()
        self._server = self._thread = self._socket = None

    def __enter__(self) -> StatusServer:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()
