"""`HuggingFaceHub`: model hashes from the Hugging Face Hub's model-info API.

One ``GET {endpoint}/api/models/{repo}/revision/{revision}?blobs=true`` per committed
``(model, revision)``; the answer's ``siblings`` carry each LFS file's sha256, from which
`model_hash` computes the copy rule's hash. A hash is only taken when the answer's ``sha`` is
the committed revision itself: a branch, a tag or a short sha names a moving target.

Hub trouble never raises: the hash stays unknown this time. A commit is immutable, so a known
hash is kept for the life of the process; a failed lookup waits out a backoff before it is tried
again, and an overloaded or unreachable hub (429, 5xx, no connection) pauses every lookup, so an
outage is not hammered on every chain sync. One call spends at most ``budget`` seconds; what it
did not reach is looked up on a later call.
"""

from __future__ import annotations

import collections
import email.utils
import http.client
import re
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import IO, Any

import structlog

from throne.adapters.hub.model_hash import model_hash
from throne.domain.bounded_json import UnreadableJson, read_json
from throne.ports.model_hub import ModelHub

DEFAULT_ENDPOINT = "https://huggingface.co"
MAX_BODY_BYTES = 32 * 1024 * 1024
"""The largest model-info answer read. It lists one entry per file of the commit: a few hundred
bytes each, so 32 MiB holds the listing of any real repository, with room to spare."""
# Hub repo ids: "name" or "namespace/name", of letters, digits, "-", "_" and ".".
_REPO_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,95}(/[A-Za-z0-9][A-Za-z0-9_.-]{0,95})?")

Pair = tuple[str, str]


@dataclass(frozen=True)
class _Outcome:
    """What one lookup taught us: a hash, or why not and when to ask again."""

    hash: str | None = None
    reason: str = ""
    retry_in: float = 0.0
    #: the whole hub is unwell (overloaded, down, unreachable): pause every lookup
    hub_wide: bool = False
    #: a settled answer (no weights, a moving revision...): logged once, not at every retry
    settled: bool = False


class HuggingFaceHub(ModelHub):
    """Model hashes from a Hugging Face Hub (``endpoint``), optionally with a bearer token."""

    def __init__(
        self,
        endpoint: str = DEFAULT_ENDPOINT,
        *,
        token: str | None = None,
        timeout: float = 10.0,
        budget: float = 20.0,
        retry_after_failure: float = 600.0,
        retry_after_missing: float | None = None,
        concurrency: int = 4,
        clock: Callable[[], float] = time.monotonic,
        max_body_bytes: int = MAX_BODY_BYTES,
    ) -> None:
        if timeout <= 0 or budget <= 0 or retry_after_failure < 0 or concurrency < 1:
            raise ValueError("timeout, budget and concurrency must be positive")
        self.endpoint = endpoint.rstrip("/")
        self._token = token or None
        self._timeout = timeout
        self._budget = budget
        self._retry_after_failure = retry_after_failure
        # A repo or revision that is not there (or not ours to see) rarely appears later.
        self._retry_after_missing = (
            retry_after_missing if retry_after_missing is not None else 6 * retry_after_failure
        )
        self._concurrency = concurrency
        self._clock = clock
        self._max_body = max_body_bytes
        self._opener = urllib.request.build_opener(_SameHostAuthRedirects(self._host()))
        self._lock = threading.Lock()
        self._hashes: dict[Pair, str] = {}
        self._not_before: dict[Pair, float] = {}
        self._hub_not_before = float("-inf")
        self._in_flight: set[Pair] = set()
        self._told: set[tuple[Pair, str]] = set()
        self.log = structlog.get_logger("throne.hub")

    def model_hashes(self, models: Iterable[tuple[str, str]]) -> list[tuple[str, str, str]]:
        pairs = list(dict.fromkeys(models))
        start = self._clock()
        with self._lock:
            due = [
                p
                for p in pairs
                if p not in self._hashes
                and p not in self._in_flight
                and self._not_before.get(p, float("-inf")) <= start
            ]
            paused = start < self._hub_not_before
        if due and not paused:
            self._look_up(due, deadline=start + self._budget)
        with self._lock:
            return [(m, r, self._hashes[(m, r)]) for m, r in pairs if (m, r) in self._hashes]

    def _look_up(self, pairs: list[Pair], deadline: float) -> None:
        todo = collections.deque(pairs)

        def work() -> None:
            while True:
                try:
                    pair = todo.popleft()
                except IndexError:
                    return
                self._look_up_one(pair, deadline)

        # Daemon threads: a request still running when the budget is spent finishes on its own
        # (it has its timeout) and its answer is there for the next call, but it never holds
        # up the process's exit.
        workers = [
            threading.Thread(target=work, name="hub", daemon=True)
            for _ in range(min(self._concurrency, len(pairs)))
        ]
        for worker in workers:
            worker.start()
        end = time.monotonic() + self._budget
        for worker in workers:
            worker.join(timeout=max(0.0, end - time.monotonic()))

    def _look_up_one(self, pair: Pair, deadline: float) -> None:
        with self._lock:
            now = self._clock()
            if pair in self._in_flight or now >= deadline or now < self._hub_not_before:
                return  # out of time, or the hub paused meanwhile: a later call asks
            self._in_flight.add(pair)
        try:
            try:
                outcome = self._ask(*pair)
            except Exception as exc:  # a bug here must not stop the chain sync
                outcome = _Outcome(
                    reason=f"unexpected error: {type(exc).__name__}: {exc}",
                    retry_in=self._retry_after_failure,
                )
            self._record(pair, outcome)
        finally:
            with self._lock:
                self._in_flight.discard(pair)

    def _record(self, pair: Pair, outcome: _Outcome) -> None:
        model, revision = pair
        with self._lock:
            now = self._clock()
            if outcome.hash is not None:
                self._hashes[pair] = outcome.hash
                self._not_before.pop(pair, None)
            else:
                self._not_before[pair] = now + outcome.retry_in
                if outcome.hub_wide:
                    self._hub_not_before = max(self._hub_not_before, now + outcome.retry_in)
            first_time = (pair, outcome.reason) not in self._told
            self._told.add((pair, outcome.reason))
        if outcome.hash is not None:
            self.log.info("model_hash_found", model=model, revision=revision, hash=outcome.hash)
        elif first_time or not outcome.settled:
            self.log.warning(
                "model_hash_unknown",
                model=model,
                revision=revision,
                reason=outcome.reason,
                retry_in_seconds=round(outcome.retry_in, 1),
                hub_paused=outcome.hub_wide,
            )

    def _ask(self, model: str, revision: str) -> _Outcome:
        if not _REPO_ID.fullmatch(model) or ".." in model:
            return self._settled("not a hub repo id")
        if not revision:
            return self._settled("empty revision")
        url = (
            f"{self.endpoint}/api/models/{urllib.parse.quote(model, safe='/')}"
            f"/revision/{urllib.parse.quote(revision, safe='')}?blobs=true"
        )
        request = urllib.request.Request(url, headers={"Accept": "application/json"})
        if self._token is not None:
            # Unredirected: a redirect to another host must not carry the token along.
            request.add_unredirected_header("Authorization", f"Bearer {self._token}")
        try:
            with self._opener.open(request, timeout=self._timeout) as response:
                body = _read_capped(response, self._max_body)
        except urllib.error.HTTPError as exc:
            with exc:
                return self._status(exc.code, exc.headers.get("Retry-After"))
        except (urllib.error.URLError, http.client.HTTPException, OSError) as exc:
            return self._unreachable(_transport_reason(exc))
        if body is None:
            return self._failed(f"response larger than {self._max_body} bytes")
        try:
            info = read_json(body, max_bytes=self._max_body)
        except UnreadableJson as exc:
            return self._failed(f"response is not readable JSON: {exc}")
        if not isinstance(info, dict) or not isinstance(info.get("siblings"), list):
            return self._failed("response has no file list")
        if info.get("sha") != revision:
            return self._settled(f"revision is not a full commit sha (hub: {info.get('sha')})")
        digest = model_hash(info["siblings"])
        if digest is None:
            return self._settled("no LFS *.safetensors or *.bin file")
        return _Outcome(hash=digest)

    def _status(self, status: int, retry_after: str | None) -> _Outcome:
        if status == 429:
            wait = _retry_after_seconds(retry_after)
            if wait is None:
                wait = self._retry_after_failure
            wait = min(wait, max(self._retry_after_missing, self._retry_after_failure))
            return _Outcome(reason="rate limited (429)", retry_in=wait, hub_wide=True)
        if status >= 500:
            return self._unreachable(f"hub error ({status})")
        if status in (401, 403, 404):
            # The hub answers 401 for a private or missing repo, 404 for a missing revision.
            return _Outcome(
                reason=f"not found or not visible ({status})", retry_in=self._retry_after_missing
            )
        return self._failed(f"unexpected status {status}")

    def _failed(self, reason: str) -> _Outcome:
        return _Outcome(reason=reason, retry_in=self._retry_after_failure)

    def _unreachable(self, reason: str) -> _Outcome:
        return _Outcome(reason=reason, retry_in=self._retry_after_failure, hub_wide=True)

    def _settled(self, reason: str) -> _Outcome:
        return _Outcome(reason=reason, retry_in=self._retry_after_missing, settled=True)

    def _host(self) -> str:
        return urllib.parse.urlsplit(self.endpoint).netloc


def _transport_reason(exc: BaseException) -> str:
    cause = exc.reason if isinstance(exc, urllib.error.URLError) else exc
    if isinstance(cause, BaseException):
        return " ".join(f"{type(cause).__name__}: {cause}".split())[:300]
    return " ".join(f"unreachable: {cause}".split())[:300]


def _read_capped(response: IO[bytes], limit: int) -> bytes | None:
    body = response.read(limit + 1)
    return None if len(body) > limit else body


def _retry_after_seconds(value: str | None) -> float | None:
    """A ``Retry-After`` header (seconds, or an HTTP date) as seconds from now."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, when.timestamp() - time.time())


class _SameHostAuthRedirects(urllib.request.HTTPRedirectHandler):
    """Follow redirects (the hub redirects renamed repos), keeping the token on its own host."""

    def __init__(self, host: str) -> None:
        self._host = host

    def redirect_request(
        self,
        req: urllib.request.Request,
        fp: IO[bytes],
        code: int,
        msg: str,
        headers: Any,
        newurl: str,
    ) -> urllib.request.Request | None:
        new = super().redirect_request(req, fp, code, msg, headers, newurl)
        token = req.unredirected_hdrs.get("Authorization")
        if new is not None and token and urllib.parse.urlsplit(newurl).netloc == self._host:
            new.add_unredirected_header("Authorization", token)
        return new
