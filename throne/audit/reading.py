"""Reading an export's bytes: plain or gzip, from a file or standard input, a few megabytes
at a time, with damage to a compressed stream reported as an :class:`AuditError`."""

from __future__ import annotations

import gzip
import itertools
import sys
import zlib
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from io import BufferedReader
from pathlib import Path
from typing import Protocol

from throne.audit.format import AuditError

GZIP_MAGIC = b"\x1f\x8b"
#: The path that names standard input.
STDIN = Path("-")
#: (bytes of the file read so far, bytes in the file): how a long verification reports progress.
Progress = Callable[[int, int], None]
_READ_BATCH = 4 << 20


def open_export(path: Path) -> gzip.GzipFile | BufferedReader:
    """The export at ``path`` for reading bytes, decompressed if it is gzip."""
    return open_measured(path)[1]


def open_measured(path: Path) -> tuple[BufferedReader, gzip.GzipFile | BufferedReader]:
    """(the file as stored, the export's bytes): the first tells how far reading has got.
    ``-`` is standard input (e.g. an export piped straight from a download)."""
    try:
        stored = _stdin() if path == STDIN else path.open("rb")
    except OSError as exc:
        raise AuditError("not-an-export", f"cannot read {path}: {exc.strerror}") from exc
    if stored.peek(2)[:2] == GZIP_MAGIC:
        return stored, gzip.GzipFile(fileobj=stored, mode="rb")
    return stored, stored


def _stdin() -> BufferedReader:
    stream = sys.stdin.buffer
    # A buffered reader, which can peek at the first bytes (whatever stdin was replaced with).
    return stream if isinstance(stream, BufferedReader) else BufferedReader(stream)  # type: ignore[arg-type]


class _LineSource(Protocol):
    def readline(self, size: int = -1, /) -> bytes: ...

    def readlines(self, hint: int = -1, /) -> list[bytes]: ...


def read_lines(
    f: _LineSource, size: int | None = None, after_batch: Callable[[], None] | None = None
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
def damage_reported(lines_read: Callable[[], int]) -> Iterator[None]:
    """Turn a damaged compressed stream into an :class:`AuditError` naming where it broke."""
    try:
        yield
    except (EOFError, gzip.BadGzipFile, zlib.error) as exc:
        raise AuditError(
            "truncated" if isinstance(exc, EOFError) else "corrupt",
            f"compressed export is damaged after line {lines_read()}: {exc}",
        ) from exc


def read_export_lines(path: Path) -> Iterator[tuple[int, bytes]]:
    """(line number, raw line without newline) of a plain or gzip-compressed export."""
    number = 0
    with open_export(path) as f, damage_reported(lambda: number):
        for number, raw in enumerate(f, start=1):
            if not raw.endswith(b"\n"):
                raise AuditError("truncated", "export ends in the middle of a line", line=number)
            yield number, raw[:-1]
