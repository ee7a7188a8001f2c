"""Write an audit export (see :mod:`throne.audit.format`): event lines and the signed
checkpoints and end record that seal their links."""

from __future__ import annotations

import gzip
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from typing import IO, Any, cast

from throne.audit.format import DEFAULT_CHECKPOINT_EVERY, FORMAT_VERSION
from throne.audit.links import LinkState, next_head
from throne.audit.records import Checkpoint, EndRecord, ExportedEvent, Header
from throne.audit.stored import Redact, StoredNotification, exported
from throne.ports.signer import Signer

#: Decides whether a checkpoint follows this event (besides every N): weight submissions.
CheckpointAfter = Callable[[str, dict[str, Any]], bool]


def open_for_writing(path: Path, *, compress: bool | None = None) -> IO[bytes]:
    """``path`` for writing; gzip-compressed when ``compress``, or by default when it ends .gz."""
    if compress if compress is not None else path.name.endswith(".gz"):
        return cast("IO[bytes]", gzip.open(path, "wb", compresslevel=6))
    return path.open("wb")


class ExportWriter:
    """Writes event lines and signed checkpoints, keeping the running head.

    It starts with the header of a new export, or, given ``resume``, goes on from the state an
    export's signed end record names (its lines to be written in place of that end record)."""

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
            state, self._block = resume.state, resume.block
        else:
            header = Header(application, signer.ss58_address, checkpoint_every, FORMAT_VERSION)
            line = header.dump()
            out.write(line + b"\n")
            state = LinkState.start(header.first_head(line))
        self._events, self._head, self._last_id = state.events, state.head, state.last_id
        self._checkpoints = state.checkpoints

    @property
    def state(self) -> LinkState:
        """Where the links written stand."""
        return LinkState(self._events, self._head, self._last_id, self._checkpoints)

    def write(self, event: ExportedEvent) -> None:
        line = event.dump()
        self._out.write(line + b"\n")
        self._head = next_head(self._head, line)
        self._events += 1
        self._last_id, payload = event.id, event.payload
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
        checkpoint = Checkpoint.signed(self._signer, self.state, reveals)
        self._out.write(checkpoint.dump() + b"\n")
        self._since_checkpoint = 0

    def close(self, reveals: Mapping[int, str] | None = None) -> int:
        """Write the final checkpoint (with ``reveals``, if any) and the signed end record;
        return the number of events."""
        self.checkpoint(reveals)
        end = EndRecord.sign(self._signer, self.state, self._block)
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
    writer = ExportWriter(out, signer, application=application, checkpoint_every=checkpoint_every)
    write_notifications(writer, notifications, checkpoint_after=checkpoint_after, redact=redact)
    return writer.close()


def write_notifications(
    writer: ExportWriter,
    notifications: Iterable[StoredNotification],
    *,
    checkpoint_after: CheckpointAfter | None = None,
    redact: Redact | None = None,
) -> None:
    """Write ``notifications`` as event lines (and the checkpoints they call for)."""
    for n in notifications:
        event = exported(n, redact)
        writer.write(event)
        if checkpoint_after is not None and checkpoint_after(event.topic, event.payload):
            writer.checkpoint()
