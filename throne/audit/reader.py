"""The one reader of an export's bytes: its lines forward, a few megabytes at a time (a
verification), the lines of a span between two offsets and the checkpoint after an offset
(spans), and its last lines backwards (the append's tail).

Records are parsed by :mod:`throne.audit.records`; damage to a compressed stream is reported as
an :class:`AuditError`.
"""

from __future__ import annotations

import gzip
import itertools
import zlib
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import BinaryIO, Protocol

from throne.audit.format import AuditError
from throne.audit.records import Checkpoint, Header
from throne.audit.sources import ExportFile, ExportSource

#: (bytes of the file read so far, bytes in the file): how a long verification reports progress.
Progress = Callable[[int, int], None]
_READ_BATCH = 4 << 20
# The tail is read backwards this many bytes at a time.
_BACKWARDS_BLOCK = 64 << 10
_CHECKPOINT_START = b'\n{"checkpoint":'


class _Lines(Protocol):
    def readline(self, size: int = -1, /) -> bytes: ...

    def readlines(self, hint: int = -1, /) -> list[bytes]: ...


def read_lines(
    f: _Lines, size: int | None = None, after_batch: Callable[[], None] | None = None
) -> Iterator[bytes]:
    """The lines of ``f`` from where it stands (each with its newline, but maybe the last),
    read a few megabytes at a time; only the next ``size`` bytes when given, which must end at
    the end of a line. ``after_batch`` is called once each batch has been consumed."""

    def batches() -> Iterator[list[bytes]]:
        remaining = size
        while remaining is None or remaining > 0:
            # readlines(hint) stops at the first line that ends past ``hint`` bytes: one less
            # than what remains stops at the end of the last line wanted.
            hint = _READ_BATCH if remaining is None else min(_READ_BATCH, remaining - 1)
            lines = f.readlines(hint) if hint > 0 else [f.readline()]
            if not lines or not lines[0]:
                return
            if remaining is not None:
                remaining -= sum(map(len, lines))
            yield lines
            if after_batch is not None:
                after_batch()

    return itertools.chain.from_iterable(batches())


@contextmanager
def export_lines(
    source: ExportSource, lines_read: Callable[[], int], progress: Progress | None = None
) -> Iterator[Iterator[bytes]]:
    """The raw lines of the whole export, for as long as the block runs; ``progress`` is told
    the stored bytes read (of a file, whose size is known). A damaged compressed stream is an
    :class:`AuditError` that names the line ``lines_read`` had got to."""
    with source.open() as export, damage_reported(lines_read):
        total = export.size
        stored = export.stored
        report = None if progress is None or not total else (lambda: progress(stored.tell(), total))
        yield read_lines(export.data, after_batch=report)


@contextmanager
def span_lines(
    source: ExportFile, start: int, end: int, after_batch: Callable[[int], None] | None = None
) -> Iterator[Iterator[bytes]]:
    """The raw lines in bytes ``start``..``end`` of a plain export (whole lines);
    ``after_batch`` gets the bytes of them read so far."""
    with source.path.open("rb") as f:
        f.seek(start)
        report = None if after_batch is None else (lambda: after_batch(f.tell() - start))
        yield read_lines(f, end - start, report)


def numbered_lines(source: ExportSource) -> Iterator[tuple[int, bytes]]:
    """(line number, raw line without its newline) of a plain or compressed export."""
    number = 0
    with source.open() as export, damage_reported(lambda: number):
        for number, raw in enumerate(export.data, start=1):
            if not raw.endswith(b"\n"):
                raise AuditError("truncated", "export ends in the middle of a line", line=number)
            yield number, raw[:-1]


def read_header(source: ExportSource) -> tuple[Header, bytes]:
    """The header of an export, and its line (without its newline)."""
    with source.open() as export, damage_reported(lambda: 0):
        line = export.data.readline()
    if not line.endswith(b"\n"):
        raise AuditError("not-an-export", "no header line", line=1)
    return Header.read(line[:-1]), line[:-1]


def checkpoint_after(f: BinaryIO, offset: int, version: int) -> tuple[int, Checkpoint] | None:
    """(where its line ends, the checkpoint) of the first checkpoint line that starts after
    ``offset`` in a plain export of format ``version``; None if there is none (or it cannot
    be parsed: whatever reads up to it reports that)."""
    f.seek(offset)
    buffer = b""
    base = offset
    while True:
        chunk = f.read(1 << 20)
        if not chunk:
            return None
        buffer += chunk
        at = buffer.find(_CHECKPOINT_START)
        if at >= 0:
            line_end = buffer.find(b"\n", at + 1)
            while line_end < 0:
                more = f.read(1 << 20)
                if not more:
                    return None
                buffer += more
                line_end = buffer.find(b"\n", at + 1)
            try:
                checkpoint = Checkpoint.read(buffer[at + 1 : line_end], version)
            except AuditError:
                return None
            return base + line_end + 1, checkpoint
        keep = len(_CHECKPOINT_START) - 1
        base += len(buffer) - keep
        buffer = buffer[-keep:]


def lines_backwards(f: BinaryIO, size: int, *, stop: int) -> Iterator[tuple[int, bytes]]:
    """(offset, line without its newline) of each line of ``f`` between offset ``stop`` (the
    start of a line) and ``size`` (the end of one), the last first."""
    position = size
    pending = b""  # bytes from ``position`` to the end of the last line not yet yielded
    while True:
        cut = pending.rfind(b"\n", 0, len(pending) - 1)
        while cut >= 0:
            yield position + cut + 1, pending[cut + 1 : -1]
            pending = pending[: cut + 1]
            cut = pending.rfind(b"\n", 0, len(pending) - 1)
        if position <= stop:
            if pending:
                yield position, pending[:-1]
            return
        step = min(_BACKWARDS_BLOCK, position - stop)
        position -= step
        f.seek(position)
        pending = f.read(step) + pending


@contextmanager
def damage_reported(lines_read: Callable[[], int]) -> Iterator[None]:
    """Turn a damaged compressed stream into an :class:`AuditError` naming where it broke."""
    try:
        yield
    except (EOFError, gzip.BadGzipFile, zlib.error) as exc:
        raise AuditError(
            "truncated" if isinstance(exc, EOFError) else "corrupt",
            f"compressed export is damaged after line {lines_read()}: {exc}",
        ) from exc
