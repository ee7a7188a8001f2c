"""Bounds on the Hub's answers read through `huggingface_hub`'s shared HTTP client.

`huggingface_hub` reads every API answer whole into memory and parses it with the standard
library's JSON parser: no limit on its size, none on its nesting (deep nesting raises
`RecursionError`, which no ``except ValueError`` catches), and a compressed answer is inflated
however large it grows. The library lets its one process-wide client be built by a factory of
ours (`huggingface_hub.set_client_factory`); ours is the library's own client with one more
response hook. The hook acts only on requests made inside `bounded_json_answers`, in the thread
that makes them, so any other use of the library in the process (downloads of weights) is left
as it is. Inside `bounded_waits`, a request the library sends without a timeout of its own (the
tree listing of ``snapshot_download``) waits at most the given seconds. Inside
`bounded_json_answers`, every answer is:

- refused (`AnswerRefused`) when it is compressed: the request asks for ``identity``, so the
  bytes counted are the bytes parsed, and a small compressed body cannot inflate past the bound;
- refused when it says, or turns out to be, longer than ``max_bytes``;
- a success's body is checked by `read_json` (size, nesting depth, UTF-8, JSON) before the
  library parses it, so a hostile body is `UnreadableJson` with its reason;
- an error's or a redirect's body is dropped unread: its status and headers (``X-Error-Code``,
  ``Retry-After``) say what happened, and the library's parser never sees what the far side put
  in it.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar

import httpx2
import huggingface_hub

# The library's own client factory: kept, so that its request hook (offline mode, request ids)
# and its settings (redirects followed, proxies from the environment) stay as they are.
from huggingface_hub.utils._http import default_client_factory

from throne.domain.bounded_json import read_json

#: ask for the answer as it is: what is counted is what is parsed
IDENTITY = {"Accept-Encoding": "identity"}

_LIMIT: ContextVar[int | None] = ContextVar("throne_hub_answer_limit", default=None)
_WAIT: ContextVar[float | None] = ContextVar("throne_hub_wait_limit", default=None)
_INSTALL = threading.Lock()


class AnswerRefused(Exception):
    """An answer that is compressed or longer than the bound; the message says which."""


@contextmanager
def bounded_json_answers(max_bytes: int) -> Iterator[None]:
    """Within: the library's answers to this thread are bounded as the module says."""
    _install()
    token = _LIMIT.set(max_bytes)
    try:
        yield
    finally:
        _LIMIT.reset(token)


@contextmanager
def bounded_waits(seconds: float) -> Iterator[None]:
    """Within: a request of this thread sent with no timeout waits at most ``seconds`` for each
    step (connect, read, write)."""
    _install()
    token = _WAIT.set(seconds)
    try:
        yield
    finally:
        _WAIT.reset(token)


def _install() -> None:
    # Checked on every use, not once: anyone may set another factory, or close the session,
    # and the library then builds a client without the hook.
    if _bound in huggingface_hub.get_session().event_hooks["response"]:
        return
    with _INSTALL:
        if _bound not in huggingface_hub.get_session().event_hooks["response"]:
            huggingface_hub.set_client_factory(_client)


def _client() -> httpx2.Client:
    client = default_client_factory()
    hooks = client.event_hooks
    client.event_hooks = {
        **hooks,
        "request": [*hooks.get("request", []), _wait_bound],
        "response": [*hooks.get("response", []), _bound],
    }
    return client


def _wait_bound(request: httpx2.Request) -> None:
    seconds = _WAIT.get()
    if seconds is None:
        return
    timeout = request.extensions.get("timeout")
    if not isinstance(timeout, dict) or all(v is None for v in timeout.values()):
        request.extensions["timeout"] = {k: seconds for k in ("connect", "read", "write", "pool")}


def _bound(response: httpx2.Response) -> None:
    limit = _LIMIT.get()
    if limit is None:
        return  # not ours: a download, or another user of the library
    encoding = response.headers.get("Content-Encoding", "identity").strip().lower()
    if encoding not in ("", "identity"):
        raise AnswerRefused(f"compressed ({encoding}) though it was asked for as it is")
    keep = response.is_success
    length = response.headers.get("Content-Length", "")
    if keep and length.isdigit() and int(length) > limit:
        raise AnswerRefused(f"larger than {limit} bytes")
    assert isinstance(response.stream, httpx2.SyncByteStream)
    response.stream = _BoundedBody(response.stream, limit, keep=keep)


class _BoundedBody(httpx2.SyncByteStream):
    def __init__(self, inner: httpx2.SyncByteStream, limit: int, *, keep: bool) -> None:
        self._inner = inner
        self._limit = limit
        self._keep = keep

    @property
    def elapsed(self) -> object:
        # The client reads the response's elapsed time from its stream.
        return getattr(self._inner, "elapsed", None)

    def __iter__(self) -> Iterator[bytes]:
        if not self._keep:
            return  # dropped unread; closing the stream drops the connection with it
        chunks: list[bytes] = []
        size = 0
        for chunk in self._inner:
            size += len(chunk)
            if size > self._limit:
                raise AnswerRefused(f"larger than {self._limit} bytes")
            chunks.append(chunk)
        body = b"".join(chunks)
        read_json(body, max_bytes=self._limit)
        yield body

    def close(self) -> None:
        self._inner.close()
