"""Running local miners on loopback with uvicorn, in a background thread or in the foreground.

Several `MinerServer`s can run in one process, each on its own port and thread; one server can
also host several miners, routed by model name.
"""

from __future__ import annotations

import contextlib
import signal
import socket
import threading
import time
from collections.abc import Iterator, Sequence
from types import FrameType, TracebackType

import uvicorn
from starlette.types import ASGIApp

from throne import event_loop
from throne.envs.base import Environment
from throne.envs.episodic import EpisodicEnv
from throne.miners.asgi import MinerStats, miner_app
from throne.miners.profile import MinerProfile

# Long enough for answers in progress to finish, short enough that hung requests do not hold
# up a stop: they are cancelled after it.
GRACEFUL_SHUTDOWN_SECONDS = 1


def bind(host: str = "127.0.0.1", port: int = 0) -> socket.socket:
    """A listening socket; port 0 picks a free one with no race against other processes."""
    # IPPROTO_TCP explicitly: asyncio sets TCP_NODELAY on accepted sockets only when the
    # protocol says TCP, and without it Nagle plus delayed ACKs stall every answer by ~40 ms.
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((host, port))
    sock.listen(2048)
    sock.setblocking(False)
    return sock


def uvicorn_server(
    app: ASGIApp, log_level: str = "warning", *, lifespan: bool = False
) -> uvicorn.Server:
    """uvicorn for ``app``; with ``lifespan`` it runs the app's startup before it takes
    requests and its shutdown after the last one (an app that owns connections closes them)."""
    config = uvicorn.Config(
        app,
        log_level=log_level,
        access_log=False,
        lifespan="on" if lifespan else "off",
        timeout_graceful_shutdown=GRACEFUL_SHUTDOWN_SECONDS,
        backlog=2048,
    )
    return uvicorn.Server(config)


class _ForegroundServer(uvicorn.Server):
    """uvicorn without its own signal handling: `serve_until_signalled` owns the signals."""

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield


def serve_until_signalled(app: ASGIApp, sock: socket.socket, *, lifespan: bool = False) -> int:
    """Serve on ``sock`` in the foreground until SIGINT or SIGTERM; returns the signal.

    uvicorn re-raises the signal it caught once it has shut down, and whether that surfaces as
    a ``KeyboardInterrupt`` depends on where the event loop is at that moment. Here the handler
    only asks the server to stop and remembers the signal, so the caller decides the exit code.
    """
    server = _ForegroundServer(uvicorn_server(app, lifespan=lifespan).config)
    received: list[int] = []

    def on_signal(signum: int, _frame: FrameType | None) -> None:
        received.append(signum)
        if server.should_exit and signum == signal.SIGINT:
            server.force_exit = True
        server.should_exit = True

    handled = (signal.SIGINT, signal.SIGTERM)
    previous = {sig: signal.signal(sig, on_signal) for sig in handled}
    try:
        event_loop.run(server.serve(sockets=[sock]))
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    return received[0] if received else 0


class BackgroundServer:
    """An ASGI app served by uvicorn from a background thread on loopback; a context manager."""

    def __init__(
        self, app: ASGIApp, *, host: str = "127.0.0.1", port: int = 0, lifespan: bool = False
    ) -> None:
        self._app = app
        self._lifespan = lifespan
        self._host = host
        self._port = port
        self._server: uvicorn.Server | None = None
        self._thread: threading.Thread | None = None
        self._sock: socket.socket | None = None
        self._failed: BaseException | None = None

    @property
    def url(self) -> str:
        return f"http://{self._host}:{self.port}"

    @property
    def port(self) -> int:
        if self._sock is None:
            raise RuntimeError("server not started")
        return int(self._sock.getsockname()[1])

    @property
    def connections(self) -> int:
        """Client connections open on the server side now."""
        return 0 if self._server is None else len(self._server.server_state.connections)

    def start(self, timeout: float = 10.0) -> BackgroundServer:
        self._sock = bind(self._host, self._port)
        self._server = uvicorn_server(self._app, lifespan=self._lifespan)
        self._thread = threading.Thread(target=self._run, name=f"uvicorn:{self.port}", daemon=True)
        self._thread.start()
        deadline = time.monotonic() + timeout
        while not self._server.started:
            if not self._thread.is_alive() or time.monotonic() > deadline:
                self.stop()
                raise RuntimeError(f"miner server did not start: {self._failed!r}")
            time.sleep(0.005)
        return self

    def _run(self) -> None:
        assert self._server is not None and self._sock is not None
        try:
            event_loop.run(self._server.serve(sockets=[self._sock]))
        except BaseException as exc:
            self._failed = exc

    def stop(self) -> None:
        if self._server is not None:
            self._server.should_exit = True
        if self._thread is not None:
            self._thread.join(timeout=10)
        if self._sock is not None:
            self._sock.close()

    def __enter__(self) -> BackgroundServer:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()


class MinerServer(BackgroundServer):
    """Local miners served from a background thread. ``base_url`` ends in ``/v1``, ready for
    an OpenAI-compatible client; ``stats`` tells what the server saw."""

    def __init__(
        self,
        miners: Sequence[MinerProfile],
        environments: Sequence[Environment | EpisodicEnv],
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        seed: int = 0,
    ) -> None:
        self.stats = MinerStats()
        super().__init__(
            miner_app(miners, environments, seed=seed, stats=self.stats), host=host, port=port
        )

    @property
    def base_url(self) -> str:
        return f"{self.url}/v1"

    def __enter__(self) -> MinerServer:
        self.start()
        return self
