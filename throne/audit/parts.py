"""Verify one part of a published log (:mod:`throne.audit.published`) on its own.

Part 1 is read as an export from its header; part k+1 from the state part k's final
checkpoint signed (:meth:`ExportVerifier.resume`): its links must go on from that head, its
checkpoints be numbered on and signed by the header's signer, and it must end with a final
checkpoint and a signed end record of exactly the state read. The publisher checks each part
this way before it names it in the index (and an unnamed part before it adopts it); an auditor
checks each part it downloads.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass

from throne.audit.format import AuditError
from throne.audit.links import LinkState
from throne.audit.order import EventOrder, SpanOrder
from throne.audit.reader import export_lines
from throne.audit.records import Checkpoint, EndRecord, Header
from throne.audit.report import ExportSummary
from throne.audit.sources import ExportBytes
from throne.audit.verifier import ExportVerifier, OnEvent, OnReveal

_EVENT = b'{"id":'
_CHECKPOINT = b'{"checkpoint":'
_END = b'{"end":'


@dataclass(frozen=True)
class Opening:
    """Where the part before ends: the export's header and the state its final checkpoint
    signed, with its last event line (an append checks that the log goes on from it)."""

    header: Header
    header_line: bytes
    state: LinkState
    last_event: bytes | None
    block: int | None


@dataclass(frozen=True)
class CheckedPart:
    """A part that verified: what it holds, and where the next part opens."""

    #: the verifier's summary of this part (its counts go on from the opening's)
    summary: ExportSummary
    #: the part's own events
    events: int
    checkpoint: Checkpoint
    end: EndRecord
    closing: Opening

    @property
    def first_id(self) -> int | None:
        return self.summary.first_id


class _Watch:
    """Remembers the last event, checkpoint and end lines of the raw lines it passes on."""

    def __init__(self) -> None:
        self.header_line: bytes | None = None
        self.last_event: bytes | None = None
        self.checkpoint: bytes | None = None
        self.end: bytes | None = None

    def lines(self, raw_lines: Iterable[bytes]) -> Iterator[bytes]:
        for raw in raw_lines:
            if raw.startswith(_EVENT):
                self.last_event = raw
            elif raw.startswith(_CHECKPOINT):
                self.checkpoint = raw
            elif raw.startswith(_END):
                self.end = raw
            elif self.header_line is None:
                self.header_line = raw
            yield raw


def check_part(
    data: bytes,
    opening: Opening | None,
    *,
    name: str,
    expected_signer: str | None = None,
    on_event: OnEvent | None = None,
    on_reveal: OnReveal | None = None,
    order: EventOrder | None = None,
) -> CheckedPart:
    """Verify the part ``data`` (plain or gzip), the first one when ``opening`` is None; raise
    :class:`AuditError`, its message starting with ``name``, at the first fault.

    ``on_event``, ``on_reveal`` and ``order`` are the verifier's (a replay over every part
    passes the same ones to each, in order). Without ``order``, a part after the first is
    checked as a span: each originator's versions run on within it, from wherever they
    start."""
    if opening is None:
        verifier = ExportVerifier(
            expected_signer=expected_signer, on_event=on_event, on_reveal=on_reveal, order=order
        )
    else:
        verifier = ExportVerifier.resume(
            opening.header,
            opening.state,
            on_event=on_event,
            on_reveal=on_reveal,
            order=SpanOrder() if order is None else order,
        )
    watch = _Watch()
    try:
        with export_lines(ExportBytes(data, name), lambda: verifier.lines_read) as lines:
            summary = verifier.run(watch.lines(lines))
    except AuditError as exc:
        raise _named(exc, name) from exc
    header = verifier.header
    assert header is not None and watch.checkpoint is not None and watch.end is not None
    checkpoint = Checkpoint.read(watch.checkpoint[:-1], header.version)
    end = EndRecord.read(watch.end[:-1], header.version)
    if opening is None:
        assert watch.header_line is not None
        header_line = watch.header_line.rstrip(b"\n")
        before = 0
    else:
        header_line = opening.header_line
        before = opening.state.events
    last_event = opening.last_event if opening is not None else None
    if watch.last_event is not None:
        last_event = watch.last_event[:-1]
    closing = Opening(header, header_line, end.state, last_event, end.block)
    return CheckedPart(summary, summary.events - before, checkpoint, end, closing)


def _named(exc: AuditError, name: str) -> AuditError:
    told = AuditError(exc.kind, f"{name}: {exc}")
    return told
