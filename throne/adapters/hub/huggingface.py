"""`HuggingFaceHub`: model hashes from the Hugging Face Hub, through `huggingface_hub`.

One ``HfApi.model_info(repo, revision=..., files_metadata=True)`` per committed
``(model, revision)`` (``GET {endpoint}/api/models/{repo}/revision/{revision}?blobs=true``); the
answer's ``siblings`` carry each LFS file's sha256, from which `model_hash` computes the copy
rule's hash. A hash is only taken when the answer's ``sha`` is the committed revision itself: a
branch, a tag or a short sha names a moving target.

The same answers teach the Hub's validity rules (`invalid_models`): a repo that is gated,
private, disabled or not found is invalid at its first such answer; a revision the Hub does not
know only once it has said so in answers at least ``revision_grace`` seconds apart with no other
answer about the pair between them (a push can take a moment to show); a revision that is not a
full commit sha (40 lowercase hex digits) at once, without a request. A transient failure (429,
5xx, a timeout, no connection, an unreadable answer) neither invalidates nor ends a grace.

Hub trouble never raises: the hash stays unknown this time. A commit is immutable, so a known
hash is kept for the life of the process; a failed lookup waits out a backoff before it is tried
again, and an overloaded or unreachable hub (429, 5xx, no connection) pauses every lookup, so an
outage is not hammered on every chain sync. One call spends at most ``budget`` seconds; what it
did not reach is looked up on a later call. Each answer is bounded as `bounded_answers` says.
"""

from __future__ import annotations

import collections
import email.utils
import re
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, replace

import httpx2
import structlog
from huggingface_hub import HfApi
from huggingface_hub.errors import (
    DisabledRepoError,
    GatedRepoError,
    HfHubHTTPError,
    HFValidationError,
    OfflineModeIsEnabled,
    RepositoryNotFoundError,
    RevisionNotFoundError,
)

from throne import __version__
from throne.adapters.hub.bounded_answers import IDENTITY, AnswerRefused, bounded_json_answers
from throne.adapters.hub.model_hash import model_hash
from throne.domain.bounded_json import UnreadableJson
from throne.ports.model_hub import ModelHub

DEFAULT_ENDPOINT = "https://huggingface.co"
MAX_BODY_BYTES = 32 * 1024 * 1024
"""The largest model-info answer read. It lists one entry per file of the commit: a few hundred
bytes each, so 32 MiB holds the listing of any real repository, with room to spare."""
# Hub repo ids: "name" or "namespace/name", of letters, digits, "-", "_" and ".".
_REPO_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,95}(/[A-Za-z0-9][A-Za-z0-9_.-]{0,95})?")
FULL_SHA = re.compile(r"[0-9a-f]{40}")
GATED = "repo is gated"
NOT_FOUND_OR_PRIVATE = "repo not found or private"
REVISION_NOT_FOUND = "revision not found"
DISABLED = "repo is disabled"
NOT_FULL_SHA = "revision is not a full commit sha"
# What the library's typed errors say, after the status: the repo or revision that is missing,
# not visible to us, or closed. Subclasses first (a gated repo is a kind of missing repo).
_NOT_VISIBLE = (
    (GatedRepoError, GATED),
    (RepositoryNotFoundError, NOT_FOUND_OR_PRIVATE),
    (RevisionNotFoundError, REVISION_NOT_FOUND),
    (DisabledRepoError, DISABLED),
)

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
    #: a validity rule the pair breaks for good (one of `_NOT_VISIBLE`'s reasons)
    invalid: str = ""
    #: the hub says the revision is not there: invalid once that lasts ``revision_grace``
    revision_missing: bool = False

    @property
    def answered(self) -> bool:
        """The hub said something about the pair itself (not a transient failure)."""
        return self.hash is not None or self.settled or bool(self.invalid)


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
        revision_grace: float = 900.0,
    ) -> None:
        if timeout <= 0 or budget <= 0 or retry_after_failure < 0 or concurrency < 1:
            raise ValueError("timeout, budget and concurrency must be positive")
        if revision_grace < 0:
            raise ValueError("revision_grace must not be negative")
        self._revision_grace = revision_grace
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
        # token=False: no token but the one given, never one the library finds on the machine.
        self._api = HfApi(
            endpoint=self.endpoint,
            token=self._token or False,
            headers=IDENTITY,
            library_name="throne",
            library_version=__version__,
        )
        self._lock = threading.Lock()
        self._hashes: dict[Pair, str] = {}
        self._not_before: dict[Pair, float] = {}
        self._hub_not_before = float("-inf")
        self._in_flight: set[Pair] = set()
        self._told: set[tuple[Pair, str]] = set()
        self._invalid: dict[Pair, str] = {}
        #: when the running streak of "revision not found" answers began
        self._missing_since: dict[Pair, float] = {}
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

    def invalid_models(self, models: Iterable[tuple[str, str]]) -> list[tuple[str, str, str]]:
        found: list[tuple[str, str, str]] = []
        with self._lock:
            for model, revision in dict.fromkeys(models):
                if not FULL_SHA.fullmatch(revision):
                    found.append((model, revision, NOT_FULL_SHA))
                elif (model, revision) in self._invalid:
                    found.append((model, revision, self._invalid[(model, revision)]))
        return found

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
            newly_invalid = self._judge(pair, outcome, now)
            first_time = (pair, outcome.reason) not in self._told
            self._told.add((pair, outcome.reason))
        if newly_invalid:
            self.log.warning("model_invalid", model=model, revision=revision, reason=newly_invalid)
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

    def _judge(self, pair: Pair, outcome: _Outcome, now: float) -> str:
        """The validity rule ``outcome`` newly breaks, if any (called with the lock held)."""
        if pair in self._invalid:
            return ""
        reason = outcome.invalid
        if outcome.revision_missing:
            since = self._missing_since.setdefault(pair, now)
            if now - since >= self._revision_grace:
                reason = REVISION_NOT_FOUND
        elif outcome.answered:
            self._missing_since.pop(pair, None)
        if reason:
            self._invalid[pair] = reason
        return reason

    def _ask(self, model: str, revision: str) -> _Outcome:
        if not _REPO_ID.fullmatch(model) or ".." in model:
            return self._settled("not a hub repo id")
        if not revision:
            return self._settled("empty revision")
        try:
            with bounded_json_answers(self._max_body):
                info = self._api.model_info(
                    model, revision=revision, files_metadata=True, timeout=self._timeout
                )
        except Exception as exc:
            return self._failure(exc)
        if info.siblings is None:
            return self._failed("response has no file list")
        if info.sha != revision:
            return self._settled(f"revision is not a full commit sha (hub: {info.sha})")
        digest = model_hash(info.siblings)
        closed = GATED if info.gated else NOT_FOUND_OR_PRIVATE if info.private else ""
        if info.disabled:
            closed = DISABLED
        if digest is None:
            return replace(self._settled("no LFS *.safetensors or *.bin file"), invalid=closed)
        return _Outcome(hash=digest, invalid=closed)

    def _failure(self, exc: Exception) -> _Outcome:
        """What a failed ``model_info`` means; an exception no rule names goes on up."""
        if isinstance(exc, HFValidationError):
            return self._settled(f"not a hub repo id ({_one_line(exc)})")
        if isinstance(exc, HfHubHTTPError):
            return self._status(exc)
        if isinstance(exc, OfflineModeIsEnabled):
            return self._unreachable("HF_HUB_OFFLINE is set: the hub client sends nothing")
        if isinstance(exc, httpx2.TransportError):
            return self._unreachable(_transport_reason(exc))
        if isinstance(exc, UnreadableJson):
            return self._failed(f"response is not readable JSON: {exc}")
        if isinstance(exc, AnswerRefused):
            return self._failed(f"response {exc}")
        if isinstance(exc, httpx2.TooManyRedirects):
            return self._failed("too many redirects")
        if isinstance(exc, (KeyError, TypeError, ValueError, AttributeError)):
            # Read and parsed, but not shaped as model info (no "id", a list...).
            return self._failed(f"response is not model info ({type(exc).__name__}: {exc})")
        raise exc

    def _status(self, exc: HfHubHTTPError) -> _Outcome:
        status = exc.response.status_code
        for kind, what in _NOT_VISIBLE:
            if isinstance(exc, kind):
                # Missing, private, gated or disabled: none of it changes soon.
                missing = what == REVISION_NOT_FOUND
                return _Outcome(
                    reason=f"not found or not visible ({status}): {what}",
                    retry_in=self._retry_after_missing,
                    invalid="" if missing else what,
                    revision_missing=missing,
                )
        if status == 429:
            wait = _retry_after_seconds(exc.response.headers.get("Retry-After"))
            if wait is None:
                wait = self._retry_after_failure
            wait = min(wait, max(self._retry_after_missing, self._retry_after_failure))
            return _Outcome(reason="rate limited (429)", retry_in=wait, hub_wide=True)
        if status >= 500:
            return self._unreachable(f"hub error ({status})")
        if status in (401, 403, 404):
            # Without the hub's error code: a private or missing repo, or a missing revision.
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


def _transport_reason(exc: httpx2.TransportError) -> str:
    # The socket's own error, where there is one, says most: ConnectionRefusedError, a timeout.
    cause: BaseException = exc
    for _ in range(8):
        inner = cause.__cause__ or cause.__context__
        if inner is None:
            break
        cause = inner
    if cause is not exc and isinstance(cause, OSError):
        return _one_line(f"{type(cause).__name__}: {cause}")
    return _one_line(f"{type(exc).__name__}: {exc}")


def _one_line(text: object) -> str:
    return " ".join(str(text).split())[:300]


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
