"""Write the log as an audit export (see :mod:`throne.audit.format`)."""

from __future__ import annotations

import gzip
import json
from collections.abc import Callable, Iterable, Iterator, Mapping
from pathlib import Path
from typing import IO, Any, NamedTuple, Protocol, cast

import orjson

from throne.audit.format import (
    DEFAULT_CHECKPOINT_EVERY,
    FORMAT_NAME,
    GENESIS_HEAD,
    PLAIN_FORMAT_VERSION,
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
    source: NotificationSource, *, batch: int = 2000, stop: int | None = None, after: int = 0
) -> Iterator[Any]:
    """Every notification in order after id ``after`` (up to id ``stop`` if given), by pages
    after the last id seen (ids may have gaps)."""
    last = after
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


class ChainState(NamedTuple):
    """Where a hash chain stands after a checkpoint: what the checkpoint signs."""

    events: int
    head: bytes
    last_id: int


class ChainWriter:
    """Writes event lines and signed checkpoints, keeping the running head.

    It starts with the header of a new export, or, given ``resume``, goes on from the state an
    export's last checkpoint signed (its lines to be written in place of its end record)."""

    def __init__(
        self,
        out: IO[bytes],
        signer: Signer,
        *,
        application: str,
        checkpoint_every: int = DEFAULT_CHECKPOINT_EVERY,
        resume: ChainState | None = None,
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
        if resume is not None:
            self._events, self._head, self._last_id = resume
            return
        header = {
            "format": FORMAT_NAME,
            # An export written in one go reveals nothing later: readers of version 1 read it.
            "version": PLAIN_FORMAT_VERSION,
            "application": application,
            "signer": signer.ss58_address,
            "checkpoint_every": checkpoint_every,
        }
        out.write(canonical_json(header) + b"\n")

    @property
    def state(self) -> ChainState:
        return ChainState(self._events, self._head, self._last_id)

    def event(self, id: int, originator: str, version: int, topic: str, payload: Any) -> None:
        line = _event_line(id, originator, version, topic, payload)
        self._out.write(line + b"\n")
        self._head = next_head(self._head, line)
        self._events += 1
        self._last_id = id
        self._since_checkpoint += 1
        if self._events % self._every == 0:
            self.checkpoint()

    def checkpoint(self, reveals: Mapping[int, str] | None = None) -> None:
        """Sign the head, unless no event came since the last checkpoint; with ``reveals``
        (PoolRefreshed id -> seed hex, see :mod:`throne.audit.format`), always, carrying them."""
        if self._since_checkpoint == 0 and self._events > 0 and not reveals:
            return
        head = self._head.hex()
        signature = self._signer.sign(checkpoint_message(self._events, self._last_id, head))
        checkpoint: dict[str, Any] = {
            "events": self._events,
            "head": head,
            "id": self._last_id,
            "signature": bytes(signature).hex(),
            "signer": self._signer.ss58_address,
        }
        if reveals:
            checkpoint["reveals"] = {str(id): seed for id, seed in sorted(reveals.items())}
        self._out.write(canonical_json({"checkpoint": checkpoint}) + b"\n")
        self._since_checkpoint = 0

    def close(self, reveals: Mapping[int, str] | None = None) -> int:
        """Write the final checkpoint (with ``reveals``, if any) and the end record; return the
        number of events."""
        self.checkpoint(reveals)
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
    write_notifications(writer, notifications, checkpoint_after=checkpoint_after, redact=redact)
    return writer.close()


def write_notifications(
    writer: ChainWriter,
    notifications: Iterable[StoredNotification],
    *,
    checkpoint_after: CheckpointAfter | None = None,
    redact: Redact | None = None,
) -> None:
    """Write ``notifications`` as event lines (and the checkpoints they call for)."""
    for n in notifications:
        payload = parse_state(n.state)
        if redact is not None:
            payload = redact(n.id, n.topic, payload)
        writer.event(n.id, str(n.originator_id), n.originator_version, n.topic, payload)
        if checkpoint_after is not None and checkpoint_after(n.topic, payload):
            writer.checkpoint()


def event_line(n: StoredNotification, redact: Redact | None = None) -> bytes:
    """The line (without its newline) an export writes for ``n``."""
    payload = parse_state(n.state)
    if redact is not None:
        payload = redact(n.id, n.topic, payload)
    return _event_line(n.id, str(n.originator_id), n.originator_version, n.topic, payload)


def _event_line(id: int, originator: str, version: int, topic: str, payload: Any) -> bytes:
    return canonical_json(
        {"id": id, "originator": originator, "payload": payload, "topic": topic, "version": version}
    )


def parse_state(state: bytes) -> Any:
    """A stored state as JSON: orjson where it reads it (all but NaN, integers beyond 64 bits
    and lone surrogates, which the standard library reads as it always did)."""
    try:
        return orjson.loads(state)
    except orjson.JSONDecodeError:
        return json.loads(state)
