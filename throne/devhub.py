"""A small Hugging Face Hub on loopback, enough of its HTTP API for `huggingface_hub` itself.

Tests and ``throne demo`` put models on it and let the library's own ``model_info``,
``snapshot_download`` and ``hf_hub_download`` fetch them, so the code that talks to the real Hub
is the code that runs here. It answers, as the Hub does:

- ``GET /api/models/{repo}/revision/{revision}`` (and ``/api/models/{repo}``, the ``main``
  branch): ``id``, ``sha``, ``private``, ``gated``, ``disabled`` and ``siblings``, the file
  metadata (``size``, ``blobId``, ``lfs``) only with ``blobs=true``;
- ``GET /api/models/{repo}/tree/{revision}`` (what ``snapshot_download`` lists a commit with):
  one entry per file and folder, an LFS file with its sha256;
- ``HEAD`` and ``GET /{repo}/resolve/{revision}/{path}``: a file's bytes (a ``Range`` is
  honoured, as a resumed download asks), with the headers the library reads: ``X-Repo-Commit``,
  ``ETag`` (the git blob id, or for an LFS file its sha256, also as ``X-Linked-Etag``),
  ``X-Linked-Size`` and ``Content-Length``;
- ``GET /api/models``: the repos.

It resolves branches and short shas to a commit. Its refusals carry the headers the library maps
to its errors: ``X-Error-Code: RepoNotFound`` (401 without a token, 404 with one, for a missing
repo or a private one), ``RevisionNotFound`` (404), ``EntryNotFound`` (404, a file the commit
does not hold), ``GatedRepo`` (403, a gated repo's files asked for without a token) and
``X-Error-Message: Access to this resource is disabled.`` (403). It can be told to fail for a
repo (`Fault`), to answer it late (`delays`), or to lose a repo while one of its files is being
sent (`vanish_during_download`).
"""

from __future__ import annotations

import asyncio
import hashlib
import re
import socket
import threading
import time
from collections.abc import AsyncIterator, Callable, Mapping
from dataclasses import dataclass, field
from types import TracebackType
from typing import Any
from urllib.parse import quote, unquote

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.routing import Route

from throne.miners import BackgroundServer

DISABLED = "Access to this resource is disabled."
#: files kept in LFS by `FakeHub.publish_files`, as a model repo's .gitattributes would say
LFS_SUFFIXES = (".safetensors", ".bin", ".gguf", ".pt", ".pth", ".onnx", ".msgpack", ".h5")
_TREE = re.compile(r"/api/models/(?P<repo>[^/]+(?:/[^/]+)?)/tree/(?P<rev>[^/]+)(?P<sub>/.*)?")
_RESOLVE = re.compile(r"/(?P<repo>[^/]+(?:/[^/]+)?)/resolve/(?P<rev>[^/]+)/(?P<file>.+)")
_CHUNK = 64 * 1024


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


def is_lfs(name: str) -> bool:
    return name.lower().endswith(LFS_SUFFIXES)


@dataclass(frozen=True)
class Seen:
    #: as sent, still percent-encoded
    path: str
    query: str
    authorization: str | None
    accept_encoding: str | None = None
    method: str = "GET"


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
    """The loopback Hub; a context manager that serves while entered."""

    def __init__(self) -> None:
        self.commits: dict[tuple[str, str], list[dict[str, Any]]] = {}
        #: (repo, sha) -> {path: bytes}: the files a commit of `publish_files` can send
        self.contents: dict[tuple[str, str], dict[str, bytes]] = {}
        #: repos lost halfway through sending any of their files: the answer is cut short and
        #: the repo is gone from then on, as when its owner deletes it mid-download
        self.vanish_during_download: set[str] = set()
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
                    Route("/{rest:path}", self._resolve_file, methods=["GET", "HEAD"]),
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

    def publish_files(self, repo: str, files: Mapping[str, bytes], branch: str = "main") -> str:
        """A new commit of ``repo`` holding ``files`` (path -> bytes), on ``branch``; returns
        its sha. Weight files (`LFS_SUFFIXES`) are listed as LFS files with their sha256."""
        siblings = [
            lfs_file(name, data) if is_lfs(name) else git_file(name, data)
            for name, data in sorted(files.items())
        ]
        sha = self.publish(repo, siblings, branch)
        self.contents[(repo, sha)] = dict(files)
        return sha

    def delete(self, repo: str) -> None:
        """The repo is gone: every commit, branch and file of it."""
        for table in (self.commits, self.contents, self.branches):
            for key in [k for k in table if k[0] == repo]:
                del table[key]

    def downloads_of(self, repo: str, path: str) -> int:
        """``GET`` requests for one file of ``repo``, any revision."""
        return sum(
            1
            for s in self.seen
            if s.method == "GET"
            and s.path.startswith(f"/{repo}/resolve/")
            and unquote(s.path).endswith(f"/{path}")
        )

    def requests_for(self, repo: str) -> int:
        return sum(1 for s in self.seen if s.path.startswith(f"/api/models/{repo}/revision/"))

    def reset(self) -> None:
        """Back to an empty hub that has seen nothing (a server shared by several tests)."""
        for table in (
            self.commits,
            self.contents,
            self.branches,
            self.faults,
            self.gated,
            self.delays,
        ):
            table.clear()
        self.private.clear()
        self.disabled.clear()
        self.vanish_during_download.clear()
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
        tree = _TREE.fullmatch(raw_path.partition("?")[0])
        if tree is not None:
            return await self._tree(request, tree)
        repo, sep, revision = raw_path.removeprefix("/api/models/").rpartition("/revision/")
        if not sep:
            repo, revision = revision, "main"
        if "/" in revision:
            return JSONResponse({"error": "Not Found"}, 404)
        repo, revision = unquote(repo), unquote(revision)
        refused = await self._refused(request, repo)
        if refused is not None:
            return refused
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

    async def _refused(self, request: Request, repo: str) -> Response | None:
        """What every route answers first for ``repo``: late, a fault, or not visible."""
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
        return None

    async def _tree(self, request: Request, match: re.Match[str]) -> Response:
        repo, revision = unquote(match["repo"]), unquote(match["rev"])
        refused = await self._refused(request, repo)
        if refused is not None:
            return refused
        sha = self._resolve(repo, revision)
        if sha is None:
            return _refusal(404, "RevisionNotFound", f"Invalid rev id: {revision}")
        under = unquote(match["sub"] or "").strip("/")
        recursive = request.query_params.get("recursive", "").lower() in ("true", "1")
        return JSONResponse(_tree_entries(self.commits[(repo, sha)], under, recursive))

    async def _resolve_file(self, request: Request) -> Response:
        try:
            return await self._answer_file(request)
        finally:
            self.answered += 1

    async def _answer_file(self, request: Request) -> Response:
        match = _RESOLVE.fullmatch(self._saw(request).partition("?")[0])
        if match is None:
            return JSONResponse({"error": "Not Found"}, 404)
        repo, revision, path = unquote(match["repo"]), unquote(match["rev"]), unquote(match["file"])
        refused = await self._refused(request, repo)
        if refused is not None:
            return refused
        sha = self._resolve(repo, revision)
        if sha is None:
            return _refusal(404, "RevisionNotFound", f"Invalid rev id: {revision}")
        if repo in self.gated and request.headers.get("authorization") is None:
            return _refusal(403, "GatedRepo", "Access to this repo is restricted")
        entry = next((s for s in self.commits[(repo, sha)] if s["rfilename"] == path), None)
        data = self.contents.get((repo, sha), {}).get(path)
        if entry is None or data is None:
            answer = _refusal(404, "EntryNotFound", f"{path} does not exist at {sha}")
            answer.headers["X-Repo-Commit"] = sha
            return answer
        headers = {"X-Repo-Commit": sha, "Accept-Ranges": "bytes"}
        lfs = entry.get("lfs")
        if lfs is not None:
            headers["ETag"] = f'"{lfs["sha256"]}"'
            headers["X-Linked-Etag"] = f'"{lfs["sha256"]}"'
            headers["X-Linked-Size"] = str(len(data))
        else:
            headers["ETag"] = f'"{entry["blobId"]}"'
        start = _range_start(request.headers.get("range"), len(data))
        status = 200
        if start:
            status = 206
            headers["Content-Range"] = f"bytes {start}-{len(data) - 1}/{len(data)}"
        body = data[start:]
        headers["Content-Length"] = str(len(body))
        kind = "application/octet-stream"
        if request.method == "HEAD":
            return Response(b"", status, headers, kind)
        return StreamingResponse(self._send(repo, body), status, headers, kind)

    async def _send(self, repo: str, body: bytes) -> AsyncIterator[bytes]:
        if repo in self.vanish_during_download:
            yield body[: max(1, len(body) // 2)]
            self.vanish_during_download.discard(repo)
            self.delete(repo)
            raise ConnectionAbortedError(f"{repo} was deleted while it was being sent")
        for begin in range(0, len(body), _CHUNK):
            yield body[begin : begin + _CHUNK]

    def _saw(self, request: Request) -> str:
        raw_path: str = request.scope["raw_path"].decode("latin-1")
        self.seen.append(
            Seen(
                raw_path,
                request.url.query,
                request.headers.get("authorization"),
                request.headers.get("accept-encoding"),
                request.method,
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


def _tree_entries(siblings: list[dict[str, Any]], under: str, recursive: bool) -> list[Any]:
    """The Hub's tree listing of a commit's files (and the folders they sit in) below
    ``under``: every level with ``recursive``, else just the first."""
    prefix = f"{under}/" if under else ""
    files: list[Any] = []
    folders: set[str] = set()
    for s in siblings:
        name: str = s["rfilename"]
        if not name.startswith(prefix):
            continue
        parts = name[len(prefix) :].split("/")
        for depth in range(1, len(parts)):
            if recursive or depth == 1:
                folders.add(prefix + "/".join(parts[:depth]))
        if not recursive and len(parts) > 1:
            continue
        entry: dict[str, Any] = {"type": "file", "path": name}
        entry.update(oid=s["blobId"], size=s["size"])
        if "lfs" in s:
            lfs = s["lfs"]
            entry["lfs"] = {"oid": lfs["sha256"], "size": lfs["size"], "pointerSize": 134}
        files.append(entry)
    dirs = [
        {"type": "directory", "oid": hashlib.sha1(d.encode()).hexdigest(), "size": 0, "path": d}
        for d in sorted(folders)
    ]
    return dirs + files


def _range_start(value: str | None, size: int) -> int:
    """Where a ``Range: bytes=N-`` asks the answer to start (0: the whole file)."""
    if not value or not value.startswith("bytes="):
        return 0
    first = value.removeprefix("bytes=").partition("-")[0].strip()
    return min(int(first), size) if first.isdigit() else 0


def resolve_url(endpoint: str, repo: str, revision: str, path: str) -> str:
    """Where the Hub sends a file of a commit from."""
    return f"{endpoint}/{repo}/resolve/{quote(revision, safe='')}/{quote(path)}"


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
