"""The status API in a process of its own, so that viewers never take the daemon's CPU time or
its interpreter lock.

Answering HTTP costs a Python server about 0.2 ms of CPU a request, whatever it serves: 200
clients polling once a second take a server a twentieth of a core, which inside the daemon
came out of sampling, request by request (``bench/status_load.py``). In a child process they
cost the daemon nothing but a share of the machine.

The child reads the log through a read side of its own (the same database, opened read-only:
the log and the read models the daemon keeps there) and serves `status_app`. Twice a second
the daemon sends it what only the daemon knows: its health (`Heartbeat.status`) and its
metrics (the Prometheus text). A daemon silent for `SILENCE_SECONDS` makes ``/healthz`` 503;
the child exits when the daemon's end of the pipe closes, so it never outlives the daemon, even
one killed outright.
"""

from __future__ import annotations

import contextlib
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Sequence
from multiprocessing.connection import Connection
from typing import Any

import structlog
import uvicorn
from prometheus_client.exposition import CONTENT_TYPE_LATEST

from throne.adapters.storage.database import Database
from throne.domain.contest.config import ContestConfig
from throne.observability.publication import PublishTarget, open_publication
from throne.observability.status_api import Health, MetricsText, bound_socket, status_app

PUSH_SECONDS = 0.5
SILENCE_SECONDS = 5.0


class Relay:
    """The child's view of the daemon: its last report and when it came (thread-safe)."""

    content_type = CONTENT_TYPE_LATEST

    def __init__(
        self, clock: Callable[[], float] = time.monotonic, silence: float = SILENCE_SECONDS
    ) -> None:
        self._clock = clock
        self._silence = silence
        self._lock = threading.Lock()
        self._since = clock()
        self._report: tuple[bool, dict[str, Any]] | None = None
        self._metrics = b""

    def update(self, healthy: bool, body: dict[str, Any], metrics: bytes) -> None:
        with self._lock:
            self._report, self._metrics, self._since = (healthy, body), metrics, self._clock()

    def status(self, max_staleness: float | None = None) -> tuple[bool, dict[str, Any]]:
        """The daemon's last word on its health; unhealthy once it has been silent too long.
        (The daemon applied ``max_staleness`` itself.)"""
        with self._lock:
            report, since = self._report, self._since
        silent = self._clock() - since
        if silent > self._silence:
            error = f"the daemon has not reported for {silent:.0f} s"
            return False, {"status": "silent", "outages": {}, "error": error}
        if report is None:
            return True, {"status": "starting", "outages": {}}
        return report

    def exposition(self) -> bytes:
        with self._lock:
            return self._metrics


class StatusProcess:
    """Serves the status API of a daemon from a child process, on loopback by default.

    The socket is bound in `start`, in the caller's thread, so a busy port fails there, as
    with `StatusServer`; ``port=0`` picks a free one and `url` tells which.
    """

    def __init__(
        self,
        *,
        config: ContestConfig,
        db: Database,
        heartbeat: Health,
        metrics: MetricsText | None = None,
        max_staleness: float | None = None,
        host: str = "127.0.0.1",
        port: int = 0,
        refresh_seconds: float = 1.0,
        publish: PublishTarget | None = None,
    ) -> None:
        """``publish``: where the daemon publishes the log (``[publish]``), which the
        dashboard's audit page names and reads the last signed checkpoint of."""
        self._config = config
        self._publish = publish
        self._db = db
        self._heartbeat = heartbeat
        self._metrics = metrics
        self._max_staleness = max_staleness
        self.host = host
        self._requested_port = port
        self._refresh = refresh_seconds
        self._port: int | None = None
        self._process: subprocess.Popen[bytes] | None = None
        self._conn: Connection | None = None
        self._pusher: threading.Thread | None = None
        self._stopping = threading.Event()
        self._log = structlog.get_logger("throne.status")

    @property
    def port(self) -> int:
        if self._port is None:
            raise RuntimeError("the status server is not started")
        return self._port

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    def start(self, timeout: float = 60.0) -> None:
        if self._process is not None:
            raise RuntimeError("the status server is already started")
        sock = bound_socket(self.host, self._requested_port)
        # A fresh interpreter (not a fork of one that runs threads and holds connections, nor
        # multiprocessing's spawn, which would import the caller's main script again), given
        # the listening socket and one end of a socket pair as its descriptors.
        ours, theirs = socket.socketpair()
        fds = (sock.fileno(), theirs.fileno())
        try:
            process = subprocess.Popen(
                [sys.executable, "-m", __name__, *map(str, fds)], pass_fds=fds
            )
        finally:
            theirs.close()
        self._port = int(sock.getsockname()[1])
        sock.close()  # the child holds it now
        conn = Connection(ours.detach())
        self._process, self._conn = process, conn
        try:
            conn.send(
                (
                    "serve",
                    self._config,
                    self._db,
                    self._max_staleness,
                    self._refresh,
                    self._metrics is not None,
                    self._publish,
                )
            )
            said = conn.recv() if conn.poll(timeout) else ("failed", "no answer")
        except (EOFError, OSError):
            said = ("failed", "it exited")
        if said[0] != "ready":
            self.stop()
            raise RuntimeError(f"the status server did not start: {said[1]}")
        self._push()
        self._pusher = threading.Thread(target=self._keep_pushing, name="throne-status-push")
        self._pusher.daemon = True
        self._pusher.start()

    def _push(self) -> None:
        assert self._conn is not None
        healthy, body = self._heartbeat.status(self._max_staleness)
        metrics = b"" if self._metrics is None else self._metrics.exposition()
        self._conn.send(("report", healthy, body, metrics))

    def _keep_pushing(self) -> None:
        while not self._stopping.wait(PUSH_SECONDS):
            try:
                self._push()
            except OSError as exc:
                if not self._stopping.is_set():
                    self._log.error("status_server_gone", error=f"{type(exc).__name__}: {exc}")
                return

    def stop(self, timeout: float = 10.0) -> None:
        self._stopping.set()
        if self._pusher is not None:
            self._pusher.join(timeout)
        if self._conn is not None:
            with contextlib.suppress(OSError):  # the child may be gone already
                self._conn.send(("stop",))
            self._conn.close()
        if self._process is not None:
            try:
                self._process.wait(timeout)
            except subprocess.TimeoutExpired:
                self._process.kill()
                self._process.wait(timeout)
        self._process = self._conn = self._pusher = self._port = None

    def __enter__(self) -> StatusProcess:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


def _serve(
    sock: socket.socket,
    conn: Connection,
    config: ContestConfig,
    db: Database,
    max_staleness: float | None,
    refresh_seconds: float,
    with_metrics: bool,
    publish: PublishTarget | None = None,
) -> None:
    """The child: serve until the daemon says stop or its end of the pipe closes."""
    from throne.app import open_reads

    relay = Relay()
    try:
        reads = open_reads(db, config)
    except Exception as exc:
        conn.send(("failed", f"cannot read the log: {type(exc).__name__}: {exc}"))
        return
    asgi = status_app(
        lambda: reads,
        heartbeat=relay,
        metrics=relay if with_metrics else None,
        max_staleness=max_staleness,
        refresh_seconds=refresh_seconds,
        publication=None if publish is None else open_publication(publish),
        db_hint=db.display,
    )
    server = uvicorn.Server(
        uvicorn.Config(asgi, log_config=None, access_log=False, lifespan="off", log_level="warning")
    )

    def listen() -> None:
        try:
            while True:
                said = conn.recv()
                if said[0] != "report":
                    break
                relay.update(*said[1:])
        except (EOFError, OSError):
            pass  # the daemon is gone
        server.should_exit = True

    def announce() -> None:
        while not server.started and not server.should_exit:
            time.sleep(0.01)
        if server.started:
            conn.send(("ready",))

    threading.Thread(target=listen, name="throne-status-listen", daemon=True).start()
    threading.Thread(target=announce, name="throne-status-ready", daemon=True).start()
    try:
        server.run(sockets=[sock])
    finally:
        reads.close()


def main(argv: Sequence[str] | None = None) -> None:
    """The child's entry point: ``python -m throne.observability.status_process LISTEN CONN``,
    the descriptors of the listening socket and of the pipe to the daemon."""
    listen_fd, conn_fd = (int(a) for a in (sys.argv[1:] if argv is None else argv))
    conn = Connection(conn_fd)
    try:
        said = conn.recv()
    except EOFError:
        return
    _serve(socket.socket(fileno=listen_fd), conn, *said[1:])


if __name__ == "__main__":
    main()
