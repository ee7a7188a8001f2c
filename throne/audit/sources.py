"""Where an audit reads a log from: an export file (plain or gzip-compressed), standard input,
bytes already in memory (a part of a published log), or a database's event log.

Whether an export is compressed is told by its first bytes, here only, however it is named.
"""

from __future__ import annotations

import gzip
import io
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from io import BufferedReader
from pathlib import Path
from typing import TYPE_CHECKING, NamedTuple

from throne.audit.format import AuditError

if TYPE_CHECKING:  # a verification of a file needs no database driver
    from throne.adapters.storage.database import Database

GZIP_MAGIC = b"\x1f\x8b"
#: The path that names standard input.
STDIN = Path("-")


def is_gzip(first_bytes: bytes) -> bool:
    """Whether a stream starting with ``first_bytes`` is gzip-compressed."""
    return first_bytes[:2] == GZIP_MAGIC


class OpenExport(NamedTuple):
    """An export open for reading."""

    #: the file as stored: how far it has been read tells the progress
    stored: BufferedReader
    #: the export's bytes, decompressed if need be
    data: gzip.GzipFile | BufferedReader
    #: the stored bytes in all, when known (a pipe does not say)
    size: int | None


@dataclass(frozen=True)
class ExportFile:
    """An export in a file, plain or compressed."""

    path: Path

    @property
    def display(self) -> str:
        return str(self.path)

    def size(self) -> int:
        return self.path.stat().st_size

    def compressed(self) -> bool:
        with self.open() as export:
            return export.data is not export.stored

    @contextmanager
    def open(self) -> Iterator[OpenExport]:
        try:
            stored = self.path.open("rb")
        except OSError as exc:
            raise AuditError("not-an-export", f"cannot read {self.path}: {exc.strerror}") from exc
        with stored:
            yield _opened(stored, self.size())


@dataclass(frozen=True)
class StandardInput:
    """An export piped in (e.g. straight from a download), plain or compressed."""

    display = "standard input"

    @contextmanager
    def open(self) -> Iterator[OpenExport]:
        yield _opened(_stdin(), None)


@dataclass(frozen=True)
class ExportBytes:
    """An export, or a part of one, held in memory (downloaded), plain or compressed."""

    data: bytes
    display: str = "bytes"

    @contextmanager
    def open(self) -> Iterator[OpenExport]:
        yield _opened(BufferedReader(io.BytesIO(self.data)), len(self.data))


@dataclass(frozen=True)
class DatabaseLog:
    """The event log of a database, read in place (never written): no signed checkpoints, but
    the responses beside it, to re-score."""

    db: Database

    @property
    def display(self) -> str:
        return self.db.display


ExportSource = ExportFile | StandardInput | ExportBytes
AuditSource = ExportFile | StandardInput | ExportBytes | DatabaseLog


def export_source(path: Path) -> ExportSource:
    """The export at ``path``; ``-`` is standard input."""
    return StandardInput() if path == STDIN else ExportFile(path)


def _stdin() -> BufferedReader:
    stream = sys.stdin.buffer
    # A buffered reader, which can peek at the first bytes (whatever stdin was replaced with).
    return stream if isinstance(stream, BufferedReader) else BufferedReader(stream)  # type: ignore[arg-type]


def _opened(stored: BufferedReader, size: int | None) -> OpenExport:
    if is_gzip(stored.peek(2)):
        return OpenExport(stored, gzip.GzipFile(fileobj=stored, mode="rb"), size)
    return OpenExport(stored, stored, size)
