"""Write the log as an audit export (see :mod:`throne.audit.format`)."""

from __future__ import annotations

import gzip
import json
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import IO, Any, Protocol, cast

import orjson

from throne.audit.format import (
    DEFAULT_CHECKPOINT_EVERY,
    FORMAT_NAME,
    FORMAT_VERSION,
    GENESIS_HEAD,
    canonical_json,
    checkpoint_message,
    next_head,
)
from throne.audit.signing import Signer


class StoredNotification(Protocol):
    """What the exporter needs of an eventsourcing ``Notification``."""

    @property
    def id(self) -> int: ...
    @property
    def originator_id(self) -> Any: ...
    @property
    def originator_version(self) -> int: ...
    @property
    def topic(self) -> str: ...
    @property
    def state(self) -> bytes: ...


class NotificationSource(Protocol):
    """An eventsourcing ``ApplicationRecorder`` (only ``select_notifications`` is used)."""

    def select_notifications(
        self,
        start: int | None,
        limit: int,
        stop: int | None = None,
        topics: Any = (),
        *,
        inclusive_of_start: bool = True,
    ) -> Any: ...


#: Decides whether a checkpoint follows this event (besides every N): weight submissions.
CheckpointAfter = Callable[[str, dict[str, Any]], bool]
#: Returns the payload as published, given (notification id, topic, payload): e.g. the seed of
#: a pool not yet retired removed.
Redact = Callable[[int, str, dict[str, Any]], dict[str, Any]]


def iter_notifications(
    source: NotificationSource, *, batch: int = 2000, stop: int | None = None
) -> Iterator[Any]:
    """Every notification in order (up to id ``stop`` if given), by pages after the last id
    seen (ids may have gaps)."""
    last = 0
    while True:
        page = source.select_notifications(last, batch, stop=stop, inclusive_of_start=False)
        yield from page
        if len(page) < batch:
            return
        last = page[-1].id


def open_for_writing(path: Path, *, compress: bool | None = None) -> IO[bytes]:
    """``path`` for writing; gzip-compressed when ``compress``, or by default when it ends .gz."""
    if compress if compress is not None else path.name.endswith(".gz"):
        return cast("IO[bytes]", gzip.open(path, "wb", compresslevel=6))
    return path.open("wb")


class ChainWriter:
    """Writes event lines and signed checkpoints, keeping the running head."""

    def __init__(
        self,
        out: IO[bytes],
        signer: Signer,
        *,
        application: str,
        checkpoint_every: int = DEFAULT_CHECKPOINT_EVERY,
    ) -> None:
        if checkpoint_every < 1:
            raise ValueError("checkpoint_every must be at least 1")
        self._out = out
        self._signer = signer
        self._every = checkpoint_every
        self._head = GENESIS_HEAD
        self._events = 0
        self._last_id = 0
        self._since_checkpoint = 0
        header = {
            "format": FORMAT_NAME,
            "version": FORMAT_VERSION,
            "application": application,
            "signer": signer.ss58_address,
            "checkpoint_every": checkpoint_every,
        }
        out.write(canonical_json(header) + b"\n")

    def event(self, id: int, originator: str, version: int, topic: str, payload: Any) -> None:
        line = canonical_json(
            {
                "id": id,
                "originator": originator,
                "payload": payload,
                "topic": topic,
                "version": version,
            }
        )
        self._out.write(line + b"\n")
        self._head = next_head(self._head, line)
        self._events += 1
        self._last_id = id
        self._since_checkpoint += 1
        if self._events % self._every == 0:
            self.checkpoint()

    def checkpoint(self) -> None:
        if self._since_checkpoint == 0 and self._events > 0:
            return
        head = self._head.hex()
        signature = self._signer.sign(checkpoint_message(self._events, self._last_id, head))
        record = {
            "checkpoint": {
                "events": self._events,
                "head": head,
                "id": self._last_id,
                "signature": bytes(signature).hex(),
                "signer": self._signer.ss58_address,
            }
        }
        self._out.write(canonical_json(record) + b"\n")
        self._since_checkpoint = 0

    def close(self) -> int:
        """Write the final checkpoint and the end record; return the number of events."""
        self.checkpoint()
        end = {"end": {"events": self._events, "head": self._head.hex()}}
        self._out.write(canonical_json(end) + b"\n")
        return self._events


def export_notifications(
    notifications: Iterable[StoredNotification],
    out: IO[bytes],
    signer: Signer,
    *,
    application: str,
    checkpoint_every: int = DEFAULT_CHECKPOINT_EVERY,
    checkpoint_after: CheckpointAfter | None = None,
    redact: Redact | None = None,
) -> int:
    """Write ``notifications`` as an export to ``out``; return the number of events written."""
    writer = ChainWriter(out, signer, application=application, checkpoint_every=checkpoint_every)
    for n in notifications:
        payload = parse_state(n.state)
        if redact is not None:
            payload = redact(n.id, n.topic, payload)
        writer.event(n.id, str(n.originator_id), n.originator_version, n.topic, payload)
        if checkpoint_after is not None and checkpoint_after(n.topic, payload):
            writer.checkpoint()
    return writer.close()


def parse_state(state: bytes) -> Any:
    """A stored state as JSON: orjson where it reads it (all but NaN, integers beyond 64 bits
    and lone surrogates, which the standard library reads as it always did)."""
    try:
        return orjson.loads(state)
    except orjson.JSONDecodeError:
        return json.loads(state)
