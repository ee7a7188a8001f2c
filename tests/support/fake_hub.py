"""A small Hugging Face Hub on loopback: the model-info endpoint, repos, branches and faults.

It answers ``GET /api/models/{repo}/revision/{revision}`` the way the Hub does for the fields
the adapter reads (``sha``, ``siblings[].rfilename``, ``siblings[].lfs.sha256``), resolves
branches and short shas to a commit, and can be told to fail for a repo.
"""

from __future__ import annotations

import hashlib
import socket
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from types import TracebackType
from typing import Any
from urllib.parse import unquote

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from throne.miners import BackgroundServer


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


@dataclass
class Fault:
    status: int
    body: bytes = b'{"error": "fault"}'
    headers: dict[str, str] = field(default_factory=dict)


class FakeHub:
    def __init__(self) -> None:
        self.commits: dict[tuple[str, str], list[dict[str, Any]]] = {}
        self.branches: dict[tuple[str, str], str] = {}
        self.faults: dict[str, Fault] = {}
        self.seen: list[Seen] = []
        self.on_request: Callable[[], None] | None = None
        self._server = BackgroundServer(
            Starlette(routes=[Route("/api/models/{rest:path}", self._model_info)])
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

    async def _model_info(self, request: Request) -> Response:
        # Split the path as sent: a revision may hold an encoded "/" (refs%2Fpr%2F1).
        raw_path = request.scope["raw_path"].decode("latin-1")
        self.seen.append(Seen(raw_path, request.url.query, request.headers.get("authorization")))
        repo, sep, revision = raw_path.removeprefix("/api/models/").rpartition("/revision/")
        if not sep or "/" in revision:
            return JSONResponse({"error": "Not Found"}, 404)
        repo, revision = unquote(repo), unquote(revision)
        if self.on_request is not None:
            self.on_request()
        fault = self.faults.get(repo)
        if fault is not None:
            return Response(fault.body, fault.status, fault.headers, "application/json")
        if not any(r == repo for r, _ in self.commits):
            return JSONResponse({"error": "Repository not found"}, 401)
        sha = self._resolve(repo, revision)
        if sha is None:
            return JSONResponse({"error": f"Invalid rev id: {revision}"}, 404)
        siblings = self.commits[(repo, sha)]
        if request.query_params.get("blobs") != "true":
            siblings = [{"rfilename": s["rfilename"]} for s in siblings]
        return JSONResponse({"id": repo, "modelId": repo, "sha": sha, "siblings": siblings})

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
        self._server.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self._server.stop()


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
