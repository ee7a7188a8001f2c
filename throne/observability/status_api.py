"""The read-only HTTP status API the daemon serves, and a server that runs it in a thread
(`status_process` runs that server in a process of its own, as the daemon does).

Routes (GET only): ``/healthz`` (200, or 503 while a loop is in outage or once the last tick
is older than the staleness bound), ``/metrics`` (Prometheus text), ``/rank``, ``/weights``,
``/history`` and ``/miners/{uid|hotkey}``, which are the read views as JSON — the task pool's
seed and task ids are never among them.

The views are served from snapshots rebuilt when the log changes (`read_cache`), never built
per request: viewers, however many, cost the daemon one build per change of the log and per
``refresh_seconds`` at most. A lookup that cannot be a uid or a hotkey is a 400.
"""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Awaitable, Callable
from typing import Any, Protocol, TypeVar

import orjson
import uvicorn
from eventsourcing.domain import EventSourcingError
from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route
from starlette.types import ASGIApp

from throne import views
from throne.adapters.storage.database import is_storage_failure
from throne.observability.read_cache import ReadCache
from throne.projections.read_side import ReadSide
from throne.views.miner import BadMinerKey, MinerDirectory, miner_directory, parse_miner_key

T = TypeVar("T")
JSON = "application/json"

ReadsProvider = Callable[[], ReadSide]


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
) -> Starlette:
    """``provide`` returns the read side to read; ``max_staleness`` seconds without a tick make
    ``/healthz`` 503; the log is looked at for changes at most every ``refresh_seconds`` (0: on
    every request). The snapshots are in ``app.state.read_cache``."""

    def log_position() -> int:
        return provide().log_position

    cache = ReadCache(log_position, check_every=refresh_seconds)

    async def healthz(request: Request) -> Response:
        healthy, body = heartbeat.status(max_staleness)
        return JSONResponse(body, status_code=200 if healthy else 503)

    def metrics_text(request: Request) -> Response:
        if metrics is None:
            return JSONResponse({"error": "metrics are not collected"}, status_code=404)
        return Response(metrics.exposition(), media_type=metrics.content_type)

    async def snapshot(key: str, build: Callable[[], T]) -> T:
        found = cache.fresh(key)
        if found is not None:
            return found  # type: ignore[no-any-return]
        # Building reads the log: off the server's event loop, which keeps answering.
        return await run_in_threadpool(cache.read, key, build)

    def served(
        key: str, view: Callable[[ReadSide], Any]
    ) -> Callable[[Request], Awaitable[Response]]:
        async def endpoint(request: Request) -> Response:
            try:
                body = await snapshot(key, lambda: _encode(view(provide())))
            except Exception as exc:
                if not _unavailable(exc):
                    raise
                return _log_unavailable(exc)
            return Response(body, media_type=JSON)

        return endpoint

    async def miner(request: Request) -> Response:
        who = str(request.path_params["who"])
        try:
            parse_miner_key(who)
        except BadMinerKey as exc:
            return JSONResponse({"error": f"not a hotkey or uid: {exc}"}, status_code=400)
        try:
            directory: MinerDirectory = await snapshot("miners", lambda: miner_directory(provide()))
        except Exception as exc:
            if not _unavailable(exc):
                raise
            return _log_unavailable(exc)
        found = directory.find(who)
        if found is None:
            return JSONResponse({"error": f"no miner {who!r}"}, status_code=404)
        return Response(_encode(found), media_type=JSON)

    app = Starlette(
        routes=[
            Route("/healthz", healthz),
            Route("/metrics", metrics_text),
            Route("/rank", served("rank", views.rank)),
            Route("/weights", served("weights", views.weights)),
            Route("/history", served("history", views.history)),
            Route("/miners/{who}", miner),
        ]
    )
    app.state.read_cache = cache
    return app


def _encode(body: Any) -> bytes:
    return orjson.dumps(body, option=orjson.OPT_NON_STR_KEYS)


def _unavailable(exc: BaseException) -> bool:
    """The log could not be read (as opposed to a fault of the view)."""
    return is_storage_failure(exc) or isinstance(exc, EventSourcingError)


def _log_unavailable(exc: BaseException) -> Response:
    return JSONResponse({"error": f"event log unavailable: {exc}"}, status_code=503)


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
