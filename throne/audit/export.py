"""Write the log as an audit export (see :mod:`throne.audit.format`)."""

from __future__ import annotations

import gzip
import json
from collections.abc import Callable, Iterable, Iterator, Mapping
from pathlib import Path
from typing import IO, Any, Protocol, cast

import orjson

from throne.audit.format import (
    DEFAULT_CHECKPOINT_EVERY,
    FORMAT_VERSION,
    canonical_json,
    next_head,
)
from throne.audit.records import Checkpoint, EndRecord, Header
from throne.ports.signer import Signer


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


class ChainWriter:
    """Writes event lines and signed checkpoints, keeping the running head.

    It starts with the header of a new export, or, given ``resume``, goes on from the state an
    export's end record signed (its lines to be written in place of that end record)."""

    def __init__(
        self,
        out: IO[bytes],
        signer: Signer,
        *,
        application: str,
        checkpoint_every: int = DEFAULT_CHECKPOINT_EVERY,
        resume: EndRecord | None = None,
    ) -> None:
        if checkpoint_every < 1:
            raise ValueError("checkpoint_every must be at least 1")
        self._out = out
        self._signer = signer
        self._every = checkpoint_every
        self._since_checkpoint = 0
        #: the newest chain block an event written names: the end record's
        self._block: int | None = None
        if resume is not None:
            if resume.last_id is None or resume.checkpoints is None:
                raise ValueError("only a signed end record says where to go on from")
            self._events, self._head, self._last_id = resume.events, resume.head, resume.last_id
            self._checkpoints, self._block = resume.checkpoints, resume.block
            return
        header = Header(application, signer.ss58_address, checkpoint_every, FORMAT_VERSION)
        line = header.dump()
        out.write(line + b"\n")
        self._head = header.first_head(line)
        self._events = 0
        self._last_id = 0
        self._checkpoints = 0

    def event(self, id: int, originator: str, version: int, topic: str, payload: Any) -> None:
        line = _event_line(id, originator, version, topic, payload)
        self._out.write(line + b"\n")
        self._head = next_head(self._head, line)
        self._events += 1
        self._last_id = id
        self._since_checkpoint += 1
        block = payload.get("block") if isinstance(payload, dict) else None
        if type(block) is int and (self._block is None or block > self._block):
            self._block = block
        if self._events % self._every == 0:
            self.checkpoint()

    def checkpoint(self, reveals: Mapping[int, str] | None = None) -> None:
        """Sign the head, unless no event came since the last checkpoint; with ``reveals``
        (PoolRefreshed id -> seed hex, see :mod:`throne.audit.format`), always, carrying them."""
        if self._since_checkpoint == 0 and self._events > 0 and not reveals:
            return
        self._checkpoints += 1
        checkpoint = Checkpoint.signed(
            self._signer,
            events=self._events,
            head=self._head,
            last_id=self._last_id,
            seq=self._checkpoints,
            reveals=reveals,
        )
        self._out.write(checkpoint.dump() + b"\n")
        self._since_checkpoint = 0

    def close(self, reveals: Mapping[int, str] | None = None) -> int:
        """Write the final checkpoint (with ``reveals``, if any) and the signed end record;
        return the number of events."""
        self.checkpoint(reveals)
        end = EndRecord.sign(
            self._signer,
            events=self._events,
            head=self._head,
            last_id=self._last_id,
            checkpoints=self._checkpoints,
            block=self._block,
        )
        self._out.write(end.dump() + b"\n")
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
