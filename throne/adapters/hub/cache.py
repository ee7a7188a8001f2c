"""`ModelCache`: committed models' files on this machine, fetched from the Hub, within a bound.

An engine serves a miner's model from a folder. `fetch` gives that folder for a committed
``(model, revision)``: downloaded once by ``huggingface_hub.snapshot_download`` (the library the
engines themselves use, so what is cached is what the Hub serves), kept, and handed out again
from disk. Only a full commit sha is fetched: a branch or a tag names a moving target, and the
contest judges one commit.

Layout under ``cache_dir``: ``entries/<key>/`` holds one pair's Hugging Face cache (``<key>``
is a digest of the pair), ``partial/`` the downloads under way, ``index.json`` what is complete,
its size and when it was last used. A download goes to ``partial/`` and is renamed into
``entries/`` only once ``snapshot_download`` has returned, so a half-written download (a crash,
a full disk, a repo gone mid-way) never counts as cached; whatever ``partial/`` holds when a
cache opens is removed. Pairs are kept apart (no blobs shared between two revisions of a repo):
an eviction or a failure then removes exactly one pair's files.

The bound is on bytes: after each fetch, and whenever `evict` is called, the least recently
used pairs are removed until the cache holds at most ``max_bytes``, except the pinned pairs
(`pin`: the champion's, the deployed and the next-up challengers'), which are never removed, nor
is the pair a fetch has just handed out; the pins alone may hold the cache above its bound. A
pair larger than the bound is refused before a byte is downloaded.

Every failure is a `FetchFailed` with a reason from `REASONS`, never another exception. Safe to
use from several threads: two fetches of one pair download it once.
"""

from __future__ import annotations

import contextlib
import errno
import hashlib
import json
import os
import re
import shutil
import threading
import time
import uuid
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx2
import structlog
from huggingface_hub import HfApi, snapshot_download
from huggingface_hub.errors import (
    DisabledRepoError,
    EntryNotFoundError,
    GatedRepoError,
    HfHubHTTPError,
    HFValidationError,
    LocalEntryNotFoundError,
    OfflineModeIsEnabled,
    RepositoryNotFoundError,
    RevisionNotFoundError,
)
from tqdm.auto import tqdm  # type: ignore[import-untyped]

from throne import __version__
from throne.adapters.hub.bounded_answers import (
    IDENTITY,
    AnswerRefused,
    bounded_json_answers,
    bounded_waits,
)
from throne.domain.bounded_json import UnreadableJson

DEFAULT_ENDPOINT = "https://huggingface.co"
REASONS = frozenset(
    {
        "hub_unavailable",
        "repo_vanished",
        "repo_not_visible",
        "revision_not_found",
        "not_full_sha",
        "disk_full",
        "too_large",
    }
)
FULL_SHA = re.compile(r"[0-9a-f]{40}")
_MAX_INFO_BYTES = 32 * 1024 * 1024
_DISK_FULL = frozenset({errno.ENOSPC, errno.EDQUOT, errno.EFBIG})
_INDEX = "index.json"

Pair = tuple[str, str]


class FetchFailed(Exception):
    """A pair could not be fetched; ``reason`` is one of `REASONS`, ``detail`` says more."""

    def __init__(self, reason: str, detail: str = "") -> None:
        if reason not in REASONS:
            raise ValueError(f"unknown fetch failure reason {reason!r}")
        super().__init__(f"{reason}: {detail}" if detail else reason)
        self.reason = reason
        self.detail = detail


@dataclass
class _Entry:
    model: str
    revision: str
    bytes: int
    #: wall-clock time of the last fetch, for people; ``seq`` orders the uses
    last_used: float
    seq: int


class _Quiet(tqdm):  # type: ignore[misc]
    """The library's progress bars, never shown: the cache runs inside a daemon."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs["disable"] = True
        kwargs.pop("name", None)
        super().__init__(*args, **kwargs)


class ModelCache:
    """Committed models' files under ``cache_dir``, at most ``max_bytes`` of them unpinned.

    ``endpoint`` and ``token``: given, or ``$HF_ENDPOINT`` and ``$HF_TOKEN`` (the variables every
    Hugging Face tool reads), or the public Hub and no token; never a token the library would
    find in a file on the machine. ``timeout`` bounds each wait for the Hub.
    """

    def __init__(
        self,
        cache_dir: Path,
        max_bytes: int,
        *,
        endpoint: str | None = None,
        token: str | None = None,
        timeout: float = 60.0,
        environ: Mapping[str, str] | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        if max_bytes <= 0 or timeout <= 0:
            raise ValueError("max_bytes and timeout must be positive")
        env = os.environ if environ is None else environ
        self.dir = Path(cache_dir)
        self.max_bytes = max_bytes
        self.endpoint = (endpoint or env.get("HF_ENDPOINT", "").strip() or DEFAULT_ENDPOINT).rstrip(
            "/"
        )
        self._token = token or env.get("HF_TOKEN") or None
        self._timeout = timeout
        self._clock = clock
        self._lock = threading.Lock()
        self._pair_locks: dict[Pair, threading.Lock] = {}
        self._pinned: frozenset[Pair] = frozenset()
        self.log = structlog.get_logger("throne.hub.cache")
        self._api = HfApi(
            endpoint=self.endpoint,
            token=self._token or False,
            headers=IDENTITY,
            library_name="throne",
            library_version=__version__,
        )
        (self.dir / "entries").mkdir(parents=True, exist_ok=True)
        shutil.rmtree(self.dir / "partial", ignore_errors=True)
        (self.dir / "partial").mkdir(parents=True, exist_ok=True)
        self._entries, self._seq = self._load()

    # -- the port ---------------------------------------------------------------------------

    def fetch(self, model: str, revision: str) -> Path:
        """The folder holding ``model`` at commit ``revision``: from the cache, or downloaded."""
        if not FULL_SHA.fullmatch(revision):
            raise FetchFailed("not_full_sha", f"{revision!r} is not a 40-hex commit sha")
        pair = (model, revision)
        with self._pair_lock(pair):
            found = self._use(pair)
            if found is not None:
                return found
            size = self._size_on_hub(model, revision)
            if size > self.max_bytes:
                raise FetchFailed(
                    "too_large", f"{size} bytes on the hub, the cache holds {self.max_bytes}"
                )
            self._make_room(size)
            path = self._download(pair)
        # What was just fetched is about to be used: it is not what makes room.
        self._evict_down_to(self.max_bytes, keep=_key(*pair))
        return path

    def pin(self, pairs: Iterable[tuple[str, str]]) -> None:
        """These pairs, and only these, are never evicted from now on."""
        with self._lock:
            self._pinned = frozenset(pairs)

    def evict(self) -> int:
        """Remove the least recently used unpinned pairs until at most ``max_bytes`` are held;
        the bytes freed."""
        return self._evict_down_to(self.max_bytes)

    def usage(self) -> int:
        """Bytes held by the complete pairs."""
        with self._lock:
            return sum(e.bytes for e in self._entries.values())

    def cached(self, model: str, revision: str) -> Path | None:
        """The pair's folder if it is complete in the cache (its use is not counted)."""
        with self._lock:
            entry = self._entries.get(_key(model, revision))
        return None if entry is None else self._snapshot(self.dir / "entries", entry)

    # -- fetching ---------------------------------------------------------------------------

    def _size_on_hub(self, model: str, revision: str) -> int:
        info = commit_info(self._api, model, revision, self._timeout)
        if info.sha != revision:
            raise FetchFailed("revision_not_found", f"the hub names {revision} as {info.sha}")
        return info.size

    def _download(self, pair: Pair) -> Path:
        model, revision = pair
        partial = self.dir / "partial" / f"{_key(model, revision)}-{uuid.uuid4().hex[:8]}"
        started = time.monotonic()
        try:
            download(
                model,
                revision,
                endpoint=self.endpoint,
                token=self._token,
                timeout=self._timeout,
                cache_dir=partial,
            )
            size = _bytes_under(partial)
            final = self.dir / "entries" / _key(model, revision)
            shutil.rmtree(final, ignore_errors=True)
            try:
                os.replace(partial, final)
                with self._lock:
                    self._seq += 1
                    entry = _Entry(model, revision, size, self._clock(), self._seq)
                    self._entries[_key(model, revision)] = entry
                    self._save()
            except OSError as exc:
                with self._lock:
                    self._entries.pop(_key(model, revision), None)
                shutil.rmtree(final, ignore_errors=True)
                raise _disk_trouble(exc) from exc
        finally:
            shutil.rmtree(partial, ignore_errors=True)
        self.log.info(
            "model_fetched",
            model=model,
            revision=revision,
            bytes=size,
            seconds=round(time.monotonic() - started, 3),
        )
        return self._snapshot(self.dir / "entries", entry)

    # -- the index --------------------------------------------------------------------------

    def _use(self, pair: Pair) -> Path | None:
        with self._lock:
            entry = self._entries.get(_key(*pair))
            if entry is None:
                return None
            self._seq += 1
            entry.seq = self._seq
            entry.last_used = self._clock()
            with contextlib.suppress(OSError):  # the order is kept in memory all the same
                self._save()
        return self._snapshot(self.dir / "entries", entry)

    def _make_room(self, incoming: int) -> None:
        self._evict_down_to(max(0, self.max_bytes - incoming))

    def _evict_down_to(self, limit: int, keep: str = "") -> int:
        freed = 0
        while True:
            with self._lock:
                held = sum(e.bytes for e in self._entries.values())
                pinned = {_key(*p) for p in self._pinned} | {keep}
                victims = sorted(
                    (e.seq, key) for key, e in self._entries.items() if key not in pinned
                )
                if held <= limit or not victims:
                    return freed
                key = victims[0][1]
                entry = self._entries.pop(key)
                with contextlib.suppress(OSError):
                    self._save()
            shutil.rmtree(self.dir / "entries" / key, ignore_errors=True)
            freed += entry.bytes
            self.log.info(
                "model_evicted", model=entry.model, revision=entry.revision, bytes=entry.bytes
            )

    def _load(self) -> tuple[dict[str, _Entry], int]:
        entries: dict[str, _Entry] = {}
        try:
            raw = json.loads((self.dir / _INDEX).read_text())
            for key, e in raw.get("entries", {}).items():
                entry = _Entry(
                    str(e["model"]),
                    str(e["revision"]),
                    int(e["bytes"]),
                    float(e["last_used"]),
                    int(e["seq"]),
                )
                on_disk = (self.dir / "entries" / key).is_dir()
                if key == _key(entry.model, entry.revision) and on_disk:
                    entries[key] = entry
        except (OSError, ValueError, KeyError, TypeError, AttributeError):
            entries = {}  # no index, or an unreadable one: what is on disk is not trusted
        for stray in (self.dir / "entries").iterdir():
            if stray.name not in entries:
                shutil.rmtree(stray, ignore_errors=True)
        return entries, max((e.seq for e in entries.values()), default=0)

    def _save(self) -> None:
        """The index, written whole and renamed into place (called with the lock held)."""
        body = {"entries": {k: vars(e) for k, e in self._entries.items()}}
        tmp = self.dir / f".{_INDEX}.{uuid.uuid4().hex[:8]}"
        try:
            tmp.write_text(json.dumps(body, indent=1, sort_keys=True))
            os.replace(tmp, self.dir / _INDEX)
        finally:
            tmp.unlink(missing_ok=True)

    def _pair_lock(self, pair: Pair) -> threading.Lock:
        with self._lock:
            return self._pair_locks.setdefault(pair, threading.Lock())

    @staticmethod
    def _snapshot(root: Path, entry: _Entry) -> Path:
        folder = "models--" + "--".join(entry.model.split("/"))
        return root / _key(entry.model, entry.revision) / folder / "snapshots" / entry.revision


@dataclass(frozen=True)
class CommitInfo:
    """What the Hub says of a commit before anything is downloaded."""

    sha: str
    files: int
    size: int


def commit_info(api: HfApi, model: str, revision: str, timeout: float) -> CommitInfo:
    """The commit ``revision`` names, its file count and bytes, from its model info; the Hub's
    refusals become `FetchFailed` reasons."""
    try:
        with bounded_json_answers(_MAX_INFO_BYTES), bounded_waits(timeout):
            info = api.model_info(model, revision=revision, files_metadata=True, timeout=timeout)
    except Exception as exc:
        raise _before_download(exc) from exc
    siblings = info.siblings or []
    return CommitInfo(str(info.sha), len(siblings), sum(s.size or 0 for s in siblings))


def download(
    model: str,
    revision: str,
    *,
    endpoint: str,
    token: str | None,
    timeout: float,
    cache_dir: Path | None = None,
    local_dir: Path | None = None,
    progress: bool = False,
) -> Path:
    """``snapshot_download`` of the commit into ``cache_dir`` (a Hugging Face cache) or
    ``local_dir`` (a plain folder); its failures become `FetchFailed` reasons, a repo or commit
    missing now being one that vanished since `commit_info` saw it."""
    try:
        with bounded_waits(timeout):
            folder = snapshot_download(
                model,
                revision=revision,
                cache_dir=cache_dir,
                local_dir=local_dir,
                endpoint=endpoint,
                token=token or False,
                etag_timeout=timeout,
                library_name="throne",
                library_version=__version__,
                tqdm_class=None if progress else _Quiet,
            )
    except Exception as exc:
        raise _during_download(exc) from exc
    return Path(folder)


def _before_download(exc: Exception) -> FetchFailed:
    if isinstance(exc, GatedRepoError):
        return FetchFailed("repo_not_visible", "repo is gated")
    if isinstance(exc, RepositoryNotFoundError):
        return FetchFailed("repo_not_visible", "repo not found or private")
    if isinstance(exc, DisabledRepoError):
        return FetchFailed("repo_not_visible", "repo is disabled")
    if isinstance(exc, RevisionNotFoundError):
        return FetchFailed("revision_not_found", "revision not found")
    if isinstance(exc, HFValidationError):
        return FetchFailed("repo_not_visible", f"not a hub repo id ({_one_line(exc)})")
    if isinstance(exc, HfHubHTTPError) and exc.response.status_code in (401, 403, 404):
        return FetchFailed("repo_not_visible", f"hub answered {exc.response.status_code}")
    return _unavailable(exc)


def _during_download(exc: Exception) -> FetchFailed:
    # The repo and commit were there a moment ago: now missing means gone mid-download. A
    # gated repo (a kind of missing one, to the library) lists its files but keeps them.
    if isinstance(exc, GatedRepoError):
        return FetchFailed("repo_not_visible", "repo is gated: its files need access")
    if isinstance(exc, (RepositoryNotFoundError, RevisionNotFoundError, DisabledRepoError)):
        return FetchFailed("repo_vanished", _one_line(exc))
    if isinstance(exc, EntryNotFoundError) and not isinstance(exc, LocalEntryNotFoundError):
        return FetchFailed("repo_vanished", _one_line(exc))
    if isinstance(exc, HfHubHTTPError) and exc.response.status_code in (401, 403, 404):
        return FetchFailed("repo_vanished", f"hub answered {exc.response.status_code}")
    disk = _disk_error(exc)
    if disk is not None:
        return FetchFailed("disk_full", _one_line(disk))
    return _unavailable(exc)


def _key(model: str, revision: str) -> str:
    return hashlib.sha256(f"{model}\0{revision}".encode()).hexdigest()[:32]


def _bytes_under(root: Path) -> int:
    """The bytes of the regular files below ``root`` (a snapshot's links count nothing)."""
    total = 0
    for folder, _, files in os.walk(root):
        for name in files:
            st = os.lstat(os.path.join(folder, name))
            if not os.path.islink(os.path.join(folder, name)):
                total += st.st_size
    return total


def _disk_error(exc: BaseException) -> OSError | None:
    """The full-disk error behind ``exc``, if that is what it is."""
    seen: BaseException | None = exc
    for _ in range(8):
        if seen is None:
            return None
        if isinstance(seen, OSError) and seen.errno in _DISK_FULL:
            return seen
        seen = seen.__cause__ or seen.__context__
    return None


def _disk_trouble(exc: OSError) -> FetchFailed:
    if exc.errno in _DISK_FULL:
        return FetchFailed("disk_full", _one_line(exc))
    return FetchFailed("disk_full", f"cannot write the cache: {_one_line(exc)}")


def _unavailable(exc: Exception) -> FetchFailed:
    if isinstance(exc, HfHubHTTPError):
        return FetchFailed("hub_unavailable", f"hub answered {exc.response.status_code}")
    if isinstance(exc, OfflineModeIsEnabled):
        return FetchFailed("hub_unavailable", "HF_HUB_OFFLINE is set: the hub client sends nothing")
    if isinstance(exc, httpx2.TimeoutException):
        return FetchFailed("hub_unavailable", f"timed out ({type(exc).__name__})")
    if isinstance(exc, (httpx2.TransportError, LocalEntryNotFoundError)):
        return FetchFailed("hub_unavailable", _one_line(exc))
    if isinstance(exc, (UnreadableJson, AnswerRefused, httpx2.TooManyRedirects)):
        return FetchFailed("hub_unavailable", f"unreadable answer: {_one_line(exc)}")
    return FetchFailed("hub_unavailable", f"{type(exc).__name__}: {_one_line(exc)}")


def _one_line(text: object) -> str:
    return " ".join(str(text).split())[:300]
