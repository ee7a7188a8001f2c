"""A small Hugging Face Hub on loopback, enough of its HTTP API for `huggingface_hub` itself.

It answers ``GET /api/models/{repo}/revision/{revision}`` (and ``/api/models/{repo}``, the
``main`` branch) as the Hub does: ``id``, ``sha``, ``private``, ``gated``, ``disabled`` and
``siblings``, the file metadata (``size``, ``blobId``, ``lfs``) only with ``blobs=true``. It
resolves branches and short shas to a commit. Its refusals carry the headers the library maps
to its errors: ``X-Error-Code: RepoNotFound`` (401 without a token, 404 with one, for a missing
repo or a private one), ``RevisionNotFound`` (404), and ``X-Error-Message: Access to this
resource is disabled.`` (403). ``GET /api/models`` lists the repos. It can be told to fail for a
repo (`Fault`), or to answer it late (`delays`).
"""

from __future__ import annotations

import asyncio
import hashlib
import socket
import threading
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from types import TracebackType
from typing import Any
from urllib.parse import unquote

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.routing import Route

from throne.miners import BackgroundServer

DISABLED = "Access to this resource is disabled."


def lfs_file(name: str, content: bytes) -> dict[str, Any]:
    """A file stored in LFS: the listing carries its sha256."""
    return {
        "rfilename": name,
        "size": len(content),
        "blobId": hashlib.sha1(content).hexdigest(),
        "lfs": {
            "sha256": hashlib.sha256(content).hexdigest(),
            "size": len(content),
            "pointerSize": 134,
        },
    }


def git_file(name: str, content: bytes = b"{}") -> dict[str, Any]:
    """A small file kept in git itself: no LFS entry."""
    return {"rfilename": name, "size": len(content), "blobId": hashlib.sha1(content).hexdigest()}


@dataclass(frozen=True)
class Seen:
    #: as sent, still percent-encoded
    path: str
    query: str
    authorization: str | None
    accept_encoding: str | None = None


@dataclass
class Fault:
    status: int
    body: bytes = b'{"error": "fault"}'
    headers: dict[str, str] = field(default_factory=dict)
    #: sent in chunks, without a Content-Length: its size is known only once it is read
    chunked: bool = False

    def response(self) -> Response:
        if not self.chunked:
            return Response(self.body, self.status, self.headers, "application/json")

        async def chunks() -> AsyncIterator[bytes]:
            for start in range(0, len(self.body), 64 * 1024):
                yield self.body[start : start + 64 * 1024]

        return StreamingResponse(chunks(), self.status, self.headers, "application/json")


class FakeHub:
    def __init__(self) -> None:
        self.commits: dict[tuple[str, str], list[dict[str, Any]]] = {}
        self.branches: dict[tuple[str, str], str] = {}
        self.faults: dict[str, Fault] = {}
        #: repos only a request with a token sees; to others they do not exist
        self.private: set[str] = set()
        #: repos whose access the Hub has disabled
        self.disabled: set[str] = set()
        #: repo -> "auto" or "manual": listed as gated (its files need an accepted request)
        self.gated: dict[str, str] = {}
        #: repo -> seconds before its answer starts
        self.delays: dict[str, float] = {}
        #: answers sent, late ones included
        self.answered = 0
        self.seen: list[Seen] = []
        self.on_request: Callable[[], None] | None = None
        self._closing = threading.Event()
        self._server = BackgroundServer(
            Starlette(
                routes=[
                    Route("/api/models", self._list_models),
                    Route("/api/models/{rest:path}", self._model_info),
                ]
            )
        )

    @property
    def url(self) -> str:
        return self._server.url

    def publish(self, repo: str, siblings: list[dict[str, Any]], branch: str = "main") -> str:
        """A new commit of ``repo`` holding ``siblings``, on ``branch``; returns its sha."""
        sha = hashlib.sha1(f"{repo}:{len(self.commits)}".encode()).hexdigest()
        self.commits[(repo, sha)] = siblings
        self.branches[(repo, branch)] = sha
        return sha

    def requests_for(self, repo: str) -> int:
        return sum(1 for s in self.seen if s.path.startswith(f"/api/models/{repo}/revision/"))

    def reset(self) -> None:
        """Back to an empty hub that has seen nothing (a server shared by several tests)."""
        for table in (self.commits, self.branches, self.faults, self.gated, self.delays):
            table.clear()
        self.private.clear()
        self.disabled.clear()
        self.seen.clear()
        self.answered = 0
        self.on_request = None

    async def _list_models(self, request: Request) -> Response:
        self._saw(request)
        repos = sorted({r for r, _ in self.commits} - self.private)
        limit = request.query_params.get("limit", "")
        shown = repos[: int(limit)] if limit.isdigit() else repos
        return JSONResponse([{"id": r, "modelId": r} for r in shown])

    async def _model_info(self, request: Request) -> Response:
        try:
            return await self._answer_model_info(request)
        finally:
            self.answered += 1

    async def _answer_model_info(self, request: Request) -> Response:
        # Split the path as sent: a revision may hold an encoded "/" (refs%2Fpr%2F1).
        raw_path = self._saw(request)
        repo, sep, revision = raw_path.removeprefix("/api/models/").rpartition("/revision/")
        if not sep:
            repo, revision = revision, "main"
        if "/" in revision:
            return JSONResponse({"error": "Not Found"}, 404)
        repo, revision = unquote(repo), unquote(revision)
        if self.on_request is not None:
            self.on_request()
        await self._wait(self.delays.get(repo, 0.0))
        fault = self.faults.get(repo)
        if fault is not None:
            return fault.response()
        signed_in = request.headers.get("authorization") is not None
        if not any(r == repo for r, _ in self.commits) or (repo in self.private and not signed_in):
            return _refusal(401 if not signed_in else 404, "RepoNotFound", "Repository not found")
        if repo in self.disabled:
            return _refusal(403, None, DISABLED)
        sha = self._resolve(repo, revision)
        if sha is None:
            return _refusal(404, "RevisionNotFound", f"Invalid rev id: {revision}")
        siblings = self.commits[(repo, sha)]
        if request.query_params.get("blobs") != "true":
            siblings = [{"rfilename": s["rfilename"]} for s in siblings]
        return JSONResponse(
            {
                "_id": hashlib.sha1(repo.encode()).hexdigest()[:24],
                "id": repo,
                "modelId": repo,
                "author": repo.partition("/")[0] if "/" in repo else None,
                "sha": sha,
                "private": repo in self.private,
                "gated": self.gated.get(repo, False),
                "disabled": False,
                "tags": [],
                "siblings": siblings,
            }
        )

    def _saw(self, request: Request) -> str:
        raw_path: str = request.scope["raw_path"].decode("latin-1")
        self.seen.append(
            Seen(
                raw_path,
                request.url.query,
                request.headers.get("authorization"),
                request.headers.get("accept-encoding"),
            )
        )
        return raw_path

    async def _wait(self, seconds: float) -> None:
        # A late answer; cut short when the hub closes, so that closing never waits for it.
        end = time.monotonic() + seconds
        while time.monotonic() < end and not self._closing.is_set():
            await asyncio.sleep(0.01)

    def _resolve(self, repo: str, revision: str) -> str | None:
        if (repo, revision) in self.commits:
            return revision
        if (repo, revision) in self.branches:
            return self.branches[(repo, revision)]
        if len(revision) >= 7:
            for r, sha in self.commits:
                if r == repo and sha.startswith(revision):
                    return sha
        return None

    def __enter__(self) -> FakeHub:
        self._closing.clear()
        self._server.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self._closing.set()
        self._server.stop()


def _refusal(status: int, code: str | None, message: str) -> Response:
    headers = {"X-Error-Message": message}
    if code is not None:
        headers["X-Error-Code"] = code
    return JSONResponse({"error": message}, status, headers)


class SilentServer:
    """Accepts connections and never answers: a hub that hangs."""

    def __init__(self) -> None:
        self._sock = socket.create_server(("127.0.0.1", 0))
        self._sock.settimeout(0.1)
        self._held: list[socket.socket] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._accept, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._sock.getsockname()[1]}"

    @property
    def connections(self) -> int:
        return len(self._held)

    def _accept(self) -> None:
        while not self._stop.is_set():
            try:
                conn, _ = self._sock.accept()
            except TimeoutError:
                continue
            self._held.append(conn)

    def __enter__(self) -> SilentServer:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()
        for conn in self._held:
            conn.close()
        self._sock.close()
