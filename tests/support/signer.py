"""The signer for tests: `throne signer` in a process of its own, as an operator runs it, or
its API served from a thread of the test over a holding the test built (a fake node's chain)."""

from __future__ import annotations

import json
import os
import secrets
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx

from tests.support.command import THRONE
from throne import event_loop
from throne.miners.server import uvicorn_server
from throne.signer.listen import bind_unix, remove_socket
from throne.signer.service import Holding, signer_app


def write_token(path: Path, mode: int = 0o600) -> str:
    """A fresh token in ``path``, with ``mode``."""
    token = secrets.token_urlsafe(32)
    path.write_text(token + "\n")
    path.chmod(mode)
    return token


def answers(url_or_socket: str | Path, timeout: float = 1.0) -> bool:
    """Whether something accepts connections on the unix socket or the http URL."""
    if isinstance(url_or_socket, Path):
        with socket.socket(socket.AF_UNIX) as probe:
            probe.settimeout(timeout)
            try:
                probe.connect(str(url_or_socket))
            except OSError:
                return False
            return True
    try:
        httpx.get(f"{url_or_socket}/healthz", timeout=timeout)
    except httpx.HTTPError:
        return False
    return True


class SignerProcess:
    """``throne signer ARGS`` in a subprocess; its log (JSON lines) goes to ``log``."""

    def __init__(
        self,
        args: Sequence[str],
        *,
        cwd: Path,
        log: Path,
        socket_path: Path | None = None,
        url: str | None = None,
        prefix: Sequence[str] = (),
        env: dict[str, str] | None = None,
    ) -> None:
        self.args = list(args)
        self.cwd = cwd
        self.log = log
        self.socket_path = socket_path
        self.url = url if url is not None else f"unix://{socket_path}"
        self.prefix = list(prefix)
        self.env = env
        self.process: subprocess.Popen[bytes] | None = None

    def start(self, timeout: float = 60.0) -> SignerProcess:
        env = self.env
        if env is None:
            env = {k: v for k, v in os.environ.items() if not k.startswith("THRONE_")}
        self.process = subprocess.Popen(
            [*self.prefix, sys.executable, "-c", THRONE, "signer", *self.args],
            stdout=subprocess.DEVNULL,
            stderr=self.log.open("ab"),
            cwd=self.cwd,
            env=env,
        )
        deadline = time.monotonic() + timeout
        target: str | Path = self.socket_path or self.url
        while not answers(target):
            if self.process.poll() is not None or time.monotonic() > deadline:
                self.stop()
                raise AssertionError(f"the signer did not start: {self.log.read_text()}")
            time.sleep(0.05)
        return self

    def stop(self) -> int | None:
        if self.process is None:
            return None
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        return self.process.returncode

    def requests(self) -> list[dict[str, Any]]:
        """The ``signer_request`` lines logged so far."""
        return [e for e in log_lines(self.log) if e.get("event") == "signer_request"]

    def __enter__(self) -> SignerProcess:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


def log_lines(path: Path) -> list[dict[str, Any]]:
    out = []
    for line in path.read_text().splitlines():
        try:
            record = json.loads(line)
        except ValueError:
            continue
        if isinstance(record, dict):
            out.append(record)
    return out


@contextmanager
def serving(holding: Holding, token: str, path: Path) -> Iterator[str]:
    """The signer's API over ``holding``, on the unix socket ``path``, from a thread of this
    process; yields its URL."""
    sock = bind_unix(path, 0o600)
    server = uvicorn_server(signer_app(holding, token))
    failed: list[BaseException] = []

    def run() -> None:
        try:
            event_loop.run(server.serve(sockets=[sock]))
        except BaseException as exc:
            failed.append(exc)

    thread = threading.Thread(target=run, name="signer", daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            raise AssertionError(f"the signer did not start: {failed!r}")
        time.sleep(0.005)
    try:
        yield f"unix://{path}"
    finally:
        server.should_exit = True
        thread.join(timeout=10)
        sock.close()
        remove_socket(path)
