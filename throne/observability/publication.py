"""Where the daemon publishes the signed log (``[publish]``), and the last signed checkpoint
its index names — what the dashboard's audit page tells an auditor to check.

The index is read through the `ObjectReader` port (anonymously when there are no credentials,
as of a public bucket), at most once per ``every`` seconds: viewers, however many, cost the
store one small read per interval. A store that cannot be read is said so on the page (the
checkpoint is then "not known"), never an error of the page.
"""

from __future__ import annotations

import shlex
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from throne.audit.format import AuditError
from throne.audit.published import INDEX_KEY, PublishedIndex
from throne.ports.object_store import ObjectReader, StoreError

READ_EVERY_SECONDS = 60.0


@dataclass(frozen=True)
class PublishTarget:
    """``[publish]``'s bucket folder and endpoint, and, when known, the public HTTPS URL of its
    index (which an auditor can verify without any credentials)."""

    to: str
    endpoint_url: str = ""
    region: str = ""
    index_url: str = ""

    def verify_commands(self) -> list[str]:
        s3 = f"throne audit verify {shlex.quote(self.to)}"
        if self.endpoint_url:
            s3 += f" --endpoint-url {shlex.quote(self.endpoint_url)}"
        index = [f"throne audit verify {shlex.quote(self.index_url)}"] if self.index_url else []
        return [s3, *index]


class Publication:
    """Thread-safe. ``open_reader`` opens the reader of ``target``'s folder (called once, on
    the first read); ``clock`` is monotonic seconds."""

    def __init__(
        self,
        target: PublishTarget,
        open_reader: Callable[[], ObjectReader],
        *,
        every: float = READ_EVERY_SECONDS,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.target = target
        self._open_reader = open_reader
        self._reader: ObjectReader | None = None
        self._every = every
        self._clock = clock
        self._lock = threading.Lock()
        self._last: tuple[float, dict[str, Any]] | None = None

    def status(self) -> dict[str, Any]:
        """The target, the verify commands, and the index's last part's signed checkpoint
        (None when nothing is published yet, or the index could not be read: ``error``)."""
        with self._lock:
            now = self._clock()
            if self._last is None or now - self._last[0] >= self._every:
                self._last = (now, self._read())
            found = self._last[1]
        return {
            "to": self.target.to,
            "endpoint_url": self.target.endpoint_url or None,
            "index_url": self.target.index_url or None,
            "verify_commands": self.target.verify_commands(),
            **found,
        }

    def _read(self) -> dict[str, Any]:
        try:
            if self._reader is None:
                self._reader = self._open_reader()
            stored = self._reader.read(INDEX_KEY)
            if stored is None:
                return {"parts": 0, "last_checkpoint": None, "error": "nothing published yet"}
            index = PublishedIndex.parse(stored.data)
        except (StoreError, AuditError, ValueError, OSError) as exc:
            return {"parts": None, "last_checkpoint": None, "error": " ".join(str(exc).split())}
        if not index.parts:
            return {"parts": 0, "last_checkpoint": None, "error": None}
        last = index.parts[-1]
        record = last.record()
        return {
            "parts": len(index.parts),
            "last_checkpoint": {
                "part": last.seq,
                "block": last.block,
                "last_id": last.last_id,
                "head": last.head,
                "signer": index.signer,
                **{k: record["checkpoint"].get(k) for k in ("seq", "events", "signature")},
            },
            "error": None,
        }


def open_publication(target: PublishTarget) -> Publication:
    """The publication of ``target``, read through the S3 adapter (anonymously when there are
    no credentials)."""

    def open_reader() -> ObjectReader:
        from throne.app import open_object_store

        return open_object_store(
            target.to,
            endpoint_url=target.endpoint_url or None,
            region=target.region or None,
            reading=True,
        )

    return Publication(target, open_reader)
