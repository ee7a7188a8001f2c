"""Extend a published export in place: its old bytes stay as they are but its end record.

An append writes in place of the end record: new event lines and checkpoints that carry the
links (and the checkpoints' numbers) on from the state the signed end record names, then a
new signed end record. Readers who hold the old part find it unchanged but for the end record.

Only an export of format version 3 or later can be appended to: before it, the end record is
unsigned and the header not linked, and an append could not make them otherwise
without rewriting the file (export afresh instead).

The file is never left half-written by a failure: whatever goes wrong while the new part is
written, the file is cut back to its old size and gets its end record back. A journal written
(and synced) beside the export before it is touched lets the next append do the same for an
append that was killed outright.
"""

from __future__ import annotations

import fcntl
import os
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import IO, BinaryIO

import orjson

from throne.audit.format import AuditError, canonical_json
from throne.audit.reader import lines_backwards
from throne.audit.records import Checkpoint, EndRecord, ExportedEvent, Header, decode_line
from throne.audit.sources import is_gzip


class AppendError(Exception):
    """An export that cannot be appended to, or a database that does not continue it. The
    message is one line."""


@dataclass(frozen=True)
class ExportTail:
    """What an append needs of the export it extends: its header and its last lines."""

    header: Header
    header_line: bytes
    #: the signed end record: the state of the last checkpoint, which the append goes on from
    end: EndRecord
    #: the last event line (without its newline), or None when the export holds no event
    last_event: bytes | None
    #: where the end record starts, and the record with its newline
    end_offset: int
    end_line: bytes
    size: int

    @property
    def last_id(self) -> int:
        assert self.end.last_id is not None
        return self.end.last_id


class AppendTarget:
    """An export opened (and locked) to append to; see :func:`open_export_for_append`."""

    def __init__(self, path: Path, f: BinaryIO, tail: ExportTail) -> None:
        self.path = path
        self.tail = tail
        self._f = f
        #: whether an interrupted append was undone first (see :func:`journal_path`)
        self.restored = False

    @contextmanager
    def writing(self) -> Iterator[IO[bytes]]:
        """The file positioned at its end record, to write the new part over it, ending with
        a new end record.

        On any exception the file gets its old size and end record back, and the exception
        goes on. On success the new part is flushed to disk before it returns."""
        f, tail = self._f, self.tail
        if os.fstat(f.fileno()).st_size != tail.size:
            raise AppendError(f"{self.path} changed while it was read: try again")
        journal = journal_path(self.path)
        _write_journal(journal, tail)
        try:
            f.seek(tail.end_offset)
            yield f
            f.truncate()
            _sync(f)
        except BaseException:
            _restore(f, tail.end_offset, tail.end_line, tail.header_line)
            raise
        finally:
            journal.unlink(missing_ok=True)


def _sync(f: BinaryIO) -> None:
    f.flush()
    os.fsync(f.fileno())


def journal_path(path: Path) -> Path:
    """Where an append keeps what it needs to undo itself until it has finished."""
    return path.with_name(path.name + ".append-journal")


def _write_journal(journal: Path, tail: ExportTail) -> None:
    """Note, durably and before the export is touched, how to put it back: a process killed
    in the middle of an append (which no exception handler sees) leaves this behind, and the
    next append restores the export from it before going on."""
    record = {
        "end_offset": tail.end_offset,
        "end_line": tail.end_line.hex(),
        "header_line": tail.header_line.hex(),
    }
    with journal.open("wb") as out:
        out.write(canonical_json(record))
        _sync(out)
    directory = os.open(journal.parent, os.O_RDONLY)
    try:
        os.fsync(directory)
    finally:
        os.close(directory)


def _restore(f: BinaryIO, end_offset: int, end_line: bytes, header_line: bytes) -> None:
    f.seek(end_offset)
    f.truncate()
    f.write(end_line)
    f.seek(0)
    f.write(header_line)
    _sync(f)


def _undo_interrupted_append(path: Path, f: BinaryIO) -> bool:
    """Put the export back as it was before an append that was killed; True if one was."""
    journal = journal_path(path)
    if not journal.exists():
        return False
    try:
        record = orjson.loads(journal.read_bytes())
        end_offset = int(record["end_offset"])
        end_line = bytes.fromhex(record["end_line"])
        header_line = bytes.fromhex(record["header_line"])
    except (OSError, ValueError, KeyError, TypeError):
        raise AppendError(
            f"an interrupted append left {journal}, which cannot be read: export afresh"
        ) from None
    size = os.fstat(f.fileno()).st_size
    f.seek(0)
    first = f.read(len(header_line))
    # The header may have had its version digit raised, nothing else.
    same_header = len(first) == len(header_line) and (
        first == header_line or first.replace(b'"version":2', b'"version":1') == header_line
    )
    if not same_header or end_offset > size or not end_line.endswith(b"\n"):
        raise AppendError(
            f"{journal} does not describe {path} (left by another file?): export afresh"
        )
    _restore(f, end_offset, end_line, header_line)
    journal.unlink()
    return True


@contextmanager
def open_export_for_append(path: Path) -> Iterator[AppendTarget]:
    """The plain export at ``path``, locked against a second append, with its tail checked:
    a header this throne reads, an end record, and before it a checkpoint of the same state
    whose signature verifies. Raises :class:`AppendError` otherwise."""
    try:
        f = path.open("r+b")
    except OSError as exc:
        raise AppendError(f"cannot open {path}: {exc.strerror}") from exc
    with f:
        try:
            fcntl.flock(f.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise AppendError(f"{path}: another append to it is under way") from None
        restored = _undo_interrupted_append(path, f)
        target = AppendTarget(path, f, read_tail(path, f))
        target.restored = restored
        yield target


def read_tail(path: Path, f: BinaryIO) -> ExportTail:
    """The header and last lines of the export open as ``f``, checked (see above)."""
    f.seek(0)
    if is_gzip(f.read(2)):
        raise AppendError(f"{path} is compressed: only a plain .jsonl export can be appended to")
    f.seek(0)
    header_line = f.readline()
    header = _header(path, header_line)
    size = os.fstat(f.fileno()).st_size
    f.seek(max(0, size - 1))
    if size <= len(header_line) or f.read(1) != b"\n":
        raise AppendError(f"{path} is truncated: it ends without an end record")
    lines = lines_backwards(f, size, stop=len(header_line))
    end_offset, end_line = next(lines)
    try:
        end = EndRecord.read(end_line, header.version)
    except AuditError:
        raise AppendError(f"{path} is truncated: it ends without a signed end record") from None
    if end.signer != header.signer or not end.verifies():
        raise AppendError(f"{path}: its end record is not signed by {header.signer}")
    try:
        cp = Checkpoint.read(next(lines, (0, b""))[1], header.version)
    except AuditError:
        raise AppendError(f"{path}: no valid checkpoint before its end record") from None
    if cp.signer != header.signer or not cp.verifies():
        raise AppendError(f"{path}: its last checkpoint is not signed by {header.signer}")
    if cp.state != end.state:
        raise AppendError(f"{path}: its end record does not match its last checkpoint")
    last_event = None
    if end.events:
        last_event = next((line for _, line in lines if line.startswith(b'{"id":')), None)
        if last_event is None or _event_id(last_event) != end.last_id:
            raise AppendError(
                f"{path}: its last event is not the one its last checkpoint names "
                f"(id {end.last_id})"
            )
    return ExportTail(
        header=header,
        header_line=header_line[:-1],
        end=end,
        last_event=last_event,
        end_offset=end_offset,
        end_line=end_line + b"\n",
        size=size,
    )


def _header(path: Path, line: bytes) -> Header:
    try:
        header = Header.read(line.removesuffix(b"\n"), line=None)
    except AuditError as exc:
        if exc.kind == "newer-format":
            raise AppendError(f"{path}: {exc}") from None
        raise AppendError(f"{path} is not a throne audit export (no readable header)") from None
    if not header.sealed:
        raise AppendError(
            f"{path} is format version {header.version}, whose end record is unsigned and "
            "header outside the hash chain: export afresh (format version 3) and append to that"
        )
    if not line.endswith(b"\n"):
        raise AppendError(f"{path}: its header is malformed")
    return header


def _event_id(line: bytes) -> int | None:
    try:
        return ExportedEvent.parse(decode_line(line)).id
    except AuditError:
        return None
