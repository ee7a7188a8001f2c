"""The read-only HTTP status API the daemon serves, and a server that runs it in a thread.

Routes (GET only): ``/healthz`` (200, or 503 once the last tick is older than the staleness
bound), ``/metrics`` (Prometheus text), ``/rank``, ``/weights``, ``/history`` and
``/miners/{uid|hotkey}``, which are the read views as JSON — the task pool's seed and task
ids are never among them.
"""

from __future__ import annotations

import socket
import sqlite3
import threading
import time
from collections.abc import Callable
from typing import Any

import uvicorn
from eventsourcing.domain import EventSourcingError
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route
from starlette.types import ASGIApp

from throne import views
from throne.application import ThroneApplication
from throne.observability.health import Heartbeat
from throne.observability.metrics import ThroneMetrics

AppProvider = Callable[[], ThroneApplication]


def status_app(
    provide: AppProvider,
    *,
    heartbeat: Heartbeat,
    metrics: ThroneMetrics | None = None,
    max_staleness: float | None = None,
) -> Starlette:
    """``provide`` returns the application to read (called per request, so the daemon may hand
    out a reader of its own); ``max_staleness`` seconds without a tick make ``/healthz`` 503."""

    def healthz(request: Request) -> Response:
        healthy, body = heartbeat.status(max_staleness)
        return JSONResponse(body, status_code=200 if healthy else 503)

    def metrics_text(request: Request) -> Response:
        if metrics is None:
            return JSONResponse({"error": "metrics are not collected"}, status_code=404)
        return Response(metrics.exposition(), media_type=metrics.content_type)

    def rank(request: Request) -> Response:
        return _read(lambda: views.rank(provide()))

    def weights(request: Request) -> Response:
        return _read(lambda: views.weights(provide()))

    def history(request: Request) -> Response:
        return _read(lambda: views.history(provide()))

    def miner(request: Request) -> Response:
        who = str(request.path_params["who"])
        return _read(lambda: views.miner(provide(), who), missing=f"no miner {who!r}")

    # Sync endpoints: Starlette runs them in its thread pool, off the event loop.
    return Starlette(
        routes=[
            Route("/healthz", healthz),
            Route("/metrics", metrics_text),
            Route("/rank", rank),
            Route("/weights", weights),
            Route("/history", history),
            Route("/miners/{who}", miner),
        ]
    )


def _read(view: Callable[[], dict[str, Any] | None], missing: str = "not found") -> Response:
    try:
        body = view()
    except (EventSourcingError, sqlite3.Error) as exc:
        return JSONResponse({"error": f"event log unavailable: {exc}"}, status_code=503)
    if body is None:
        return JSONResponse({"error": missing}, status_code=404)
    return JSONResponse(body)


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
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((self.host, self._requested_port))
        except OSError:
            sock.close()
            raise
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
