"""The export's records as types: header, event line, checkpoint and end record, each with one
parse and one dump.

Every reader (the verifier, the spans, the append's tail) and the writer go through these, so a
field is read, checked and written in one place. The layout of each record, and what each
format version holds, is described in :mod:`throne.audit.format`. Parsing raises
:class:`AuditError` (``corrupt`` for a malformed record); whether a record fits its place in
the file is for the verifier to say (:mod:`throne.audit.verifier`).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, NamedTuple

import orjson

from throne.audit.format import (
    FORMAT_NAME,
    FORMAT_VERSION,
    REVEALS_FORMAT_VERSION,
    SEALED_FORMAT_VERSION,
    AuditError,
    canonical_json,
    checkpoint_message,
    end_message,
)
from throne.audit.links import LinkState, first_head
from throne.audit.signing import signature_is_valid
from throne.ports.signer import Signer

#: Parses one line. orjson reads a line about four times faster than the standard library (it
#: is most of the cost of a verification), the same JSON, and refuses NaN, which canonical
#: lines never hold.
decode = orjson.loads


def decode_line(raw: bytes, *, line: int | None = None) -> dict[str, Any]:
    """The JSON object of a line (``raw``, without its newline), or ``corrupt``."""
    try:
        record = decode(raw)
    except ValueError as exc:
        raise AuditError("corrupt", f"not a JSON record ({exc})", line=line) from None
    if not isinstance(record, dict):
        raise AuditError("corrupt", "not a JSON object", line=line)
    return record


def _value_of(raw: bytes, key: str, line: int | None) -> Any:
    """``record[key]`` of a line holding ``{key: ...}``, or ``corrupt``."""
    record = decode_line(raw, line=line)
    if key not in record:
        raise AuditError("corrupt", f"not a {key} record", line=line)
    return record[key]


@dataclass(frozen=True, slots=True)
class Header:
    """The first line: what the export is, who signs it, where its checkpoints fall."""

    application: str
    signer: str
    #: a checkpoint follows every N-th event (binding from version 3)
    checkpoint_every: int | None
    version: int = FORMAT_VERSION

    @property
    def sealed(self) -> bool:
        """Whether the header is the first link, checkpoints numbered, the end record signed."""
        return self.version >= SEALED_FORMAT_VERSION

    @classmethod
    def read(cls, raw: bytes, *, line: int | None = 1) -> Header:
        """The header of an export whose first line (without its newline) is ``raw``."""
        return cls.parse(decode_line(raw, line=line), line=line)

    @classmethod
    def parse(cls, record: Any, *, line: int | None = None) -> Header:
        if not isinstance(record, dict) or record.get("format") != FORMAT_NAME:
            raise AuditError("not-an-export", "not a throne audit export (no header)", line=line)
        version = record.get("version")
        if type(version) is not int or version < 1:
            raise AuditError("corrupt", f"bad format version {version!r}", line=line)
        if version > FORMAT_VERSION:
            raise AuditError(
                "newer-format",
                f"written by a newer throne (format version {version}; "
                f"this one reads up to {FORMAT_VERSION}): upgrade throne",
                line=line,
            )
        signer = record.get("signer")
        if not isinstance(signer, str):
            raise AuditError("corrupt", "header names no signer", line=line)
        every = record.get("checkpoint_every")
        if every is not None and (type(every) is not int or every < 1):
            raise AuditError("corrupt", f"bad checkpoint_every {every!r}", line=line)
        if every is None and version >= SEALED_FORMAT_VERSION:
            raise AuditError("corrupt", "header names no checkpoint_every", line=line)
        return cls(str(record.get("application", "")), signer, every, version)

    def dump(self) -> bytes:
        """The header line, without its newline."""
        record: dict[str, Any] = {
            "application": self.application,
            "format": FORMAT_NAME,
            "signer": self.signer,
            "version": self.version,
        }
        if self.checkpoint_every is not None:
            record["checkpoint_every"] = self.checkpoint_every
        return canonical_json(record)

    def first_head(self, line: bytes) -> bytes:
        """The head before the first event, given the header's raw line."""
        return first_head(self.version, line)


class ExportedEvent(NamedTuple):
    """One event line: an event as it appears in an export (and as verification hands it on).

    A named tuple rather than a dataclass: a verification makes a million of them (and reads
    the lines of events in order in its own loop, accepting only what :meth:`parse` accepts)."""

    id: int
    originator: str
    version: int
    topic: str
    payload: Any

    @classmethod
    def parse(cls, record: Mapping[str, Any], *, line: int | None = None) -> ExportedEvent:
        """The event of an event record (a JSON object with an ``id``)."""
        try:
            event = cls(
                record["id"],
                record["originator"],
                record["version"],
                record["topic"],
                record["payload"],
            )
        except KeyError as exc:
            raise AuditError("corrupt", f"event record lacks {exc}", line=line) from None
        if type(event.id) is not int or type(event.version) is not int:
            raise AuditError("corrupt", "event id and version must be integers", line=line)
        if type(event.originator) is not str or type(event.topic) is not str:
            raise AuditError("corrupt", "event originator and topic must be strings", line=line)
        return event

    def dump(self) -> bytes:
        """The event line, without its newline."""
        id, originator, version, topic, payload = self
        return canonical_json(
            {
                "id": id,
                "originator": originator,
                "payload": payload,
                "topic": topic,
                "version": version,
            }
        )


@dataclass(frozen=True, slots=True)
class Checkpoint:
    """A signed statement of where the links stand after ``events`` events."""

    events: int
    head: bytes
    last_id: int
    signer: str
    signature: bytes
    #: the checkpoint's number, 1, 2, 3, ... (from version 3; None before)
    seq: int | None = None
    #: (PoolRefreshed id, seed hex) revealed here, in id order; no part of what is signed
    reveals: tuple[tuple[int, str], ...] = ()

    @classmethod
    def signed(
        cls, signer: Signer, state: LinkState, reveals: Mapping[int, str] | None = None
    ) -> Checkpoint:
        """The checkpoint numbered ``state.checkpoints`` of the links at ``state``."""
        seq = state.checkpoints
        message = checkpoint_message(state.events, state.last_id, state.head.hex(), seq)
        return cls(
            state.events,
            state.head,
            state.last_id,
            signer.ss58_address,
            bytes(signer.sign(message)),
            seq,
            tuple(sorted((reveals or {}).items())),
        )

    @property
    def state(self) -> LinkState:
        """The state it signs (counting 0 checkpoints before it where nothing numbers them,
        before version 3)."""
        return LinkState(self.events, self.head, self.last_id, self.seq or 0)

    def message(self) -> bytes:
        return checkpoint_message(self.events, self.last_id, self.head.hex(), self.seq)

    def verifies(self) -> bool:
        """Whether the signature is the named signer's, over this checkpoint."""
        return signature_is_valid(self.message(), self.signature, self.signer)

    @classmethod
    def read(cls, raw: bytes, version: int, *, line: int | None = None) -> Checkpoint:
        """The checkpoint of a line (without its newline) of an export of format ``version``."""
        return cls.parse(_value_of(raw, "checkpoint", line), version, line=line)

    @classmethod
    def parse(cls, value: Any, version: int, *, line: int | None = None) -> Checkpoint:
        """The checkpoint of ``{"checkpoint": value}`` in an export of format ``version``."""
        try:
            events, head, last_id = value["events"], bytes.fromhex(value["head"]), value["id"]
            signature, signer = bytes.fromhex(value["signature"]), value["signer"]
            if type(events) is not int or type(last_id) is not int or not isinstance(signer, str):
                raise TypeError("events and id must be integers, signer a string")
        except (KeyError, TypeError, ValueError) as exc:
            raise AuditError("corrupt", f"malformed checkpoint ({exc})", line=line) from None
        seq = value.get("seq")
        if version >= SEALED_FORMAT_VERSION and type(seq) is not int:
            raise AuditError(
                "altered",
                f"a checkpoint without a number, which format version {version} requires: "
                "the header's version or the checkpoint was altered",
                line=line,
            )
        if version < SEALED_FORMAT_VERSION and seq is not None:
            raise AuditError(
                "altered",
                f"a numbered checkpoint, which format version {version} cannot hold: "
                "the header's version was altered",
                line=line,
            )
        reveals = _reveals(value["reveals"], version, line) if "reveals" in value else ()
        return cls(events, head, last_id, signer, signature, seq, reveals)

    def dump(self) -> bytes:
        """The checkpoint line, without its newline."""
        record: dict[str, Any] = {
            "events": self.events,
            "head": self.head.hex(),
            "id": self.last_id,
            "signature": self.signature.hex(),
            "signer": self.signer,
        }
        if self.seq is not None:
            record["seq"] = self.seq
        if self.reveals:
            record["reveals"] = {str(id): seed for id, seed in self.reveals}
        return canonical_json({"checkpoint": record})


def _reveals(reveals: Any, version: int, line: int | None) -> tuple[tuple[int, str], ...]:
    if version < REVEALS_FORMAT_VERSION:
        raise AuditError(
            "corrupt",
            f"a checkpoint reveals seeds, which a version-{version} export cannot hold "
            f"(reveals came with version {REVEALS_FORMAT_VERSION})",
            line=line,
        )
    if not isinstance(reveals, dict):
        raise AuditError("corrupt", "malformed reveals: not a JSON object", line=line)
    seeds: list[tuple[int, str]] = []
    for key, seed in reveals.items():
        if not (key.isascii() and key.isdecimal() and str(int(key)) == key):
            raise AuditError(
                "corrupt", f"malformed reveal: {key!r} is not a notification id", line=line
            )
        if not isinstance(seed, str) or not _is_hex(seed):
            raise AuditError(
                "corrupt", f"malformed reveal of id {key}: the seed is not hex", line=line
            )
        seeds.append((int(key), seed))
    # In the order of the log, whatever order the keys sort in as strings.
    return tuple(sorted(seeds))


def _is_hex(text: str) -> bool:
    try:
        bytes.fromhex(text)
    except ValueError:
        return False
    return len(text) > 0 and text.isascii() and not any(c.isspace() for c in text)


@dataclass(frozen=True, slots=True)
class EndRecord:
    """The last line: how many events the export holds and the head they end at; from
    version 3 signed, with the state of the final checkpoint and the block it is complete to.
    """

    events: int
    head: bytes
    #: the rest is version 3's (None before)
    last_id: int | None = None
    checkpoints: int | None = None
    block: int | None = None
    signer: str | None = None
    signature: bytes | None = None

    @property
    def signed(self) -> bool:
        return self.signature is not None

    @classmethod
    def sign(cls, signer: Signer, state: LinkState, block: int | None) -> EndRecord:
        """The end record of links ending at ``state``, complete to ``block``."""
        message = end_message(
            state.checkpoints, state.events, state.last_id, state.head.hex(), block
        )
        signature = bytes(signer.sign(message))
        return cls(
            state.events,
            state.head,
            state.last_id,
            state.checkpoints,
            block,
            signer.ss58_address,
            signature,
        )

    @property
    def state(self) -> LinkState:
        """The state of the final checkpoint, which a signed end record repeats."""
        if self.last_id is None or self.checkpoints is None:
            raise ValueError("only a signed end record states where the links stand")
        return LinkState(self.events, self.head, self.last_id, self.checkpoints)

    def verifies(self) -> bool:
        """Whether the end record is signed, by the signer it names, over what it says."""
        if self.signature is None or self.signer is None:
            return False
        assert self.last_id is not None and self.checkpoints is not None
        message = end_message(
            self.checkpoints, self.events, self.last_id, self.head.hex(), self.block
        )
        return signature_is_valid(message, self.signature, self.signer)

    @classmethod
    def read(cls, raw: bytes, version: int, *, line: int | None = None) -> EndRecord:
        """The end record of a line (without its newline) of an export of format ``version``."""
        return cls.parse(_value_of(raw, "end", line), version, line=line)

    @classmethod
    def parse(cls, value: Any, version: int, *, line: int | None = None) -> EndRecord:
        """The end record of ``{"end": value}`` in an export of format ``version``. From
        version 3 an end record without a signature is ``unsigned``."""
        try:
            events, head = value["events"], bytes.fromhex(value["head"])
            if type(events) is not int:
                raise TypeError("events must be an integer")
        except (KeyError, TypeError, ValueError) as exc:
            raise AuditError("corrupt", f"malformed end record ({exc})", line=line) from None
        if version < SEALED_FORMAT_VERSION:
            return cls(events, head)
        if "signature" not in value:
            raise AuditError(
                "unsigned",
                f"the end record is not signed, which format version {version} requires: "
                "the export may have been cut short and given a new end",
                line=line,
            )
        try:
            last_id, checkpoints, block = value["id"], value["checkpoints"], value["block"]
            signature, signer = bytes.fromhex(value["signature"]), value["signer"]
            if type(last_id) is not int or type(checkpoints) is not int:
                raise TypeError("id and checkpoints must be integers")
            if block is not None and type(block) is not int:
                raise TypeError("block must be an integer or null")
            if not isinstance(signer, str):
                raise TypeError("signer must be a string")
        except (KeyError, TypeError, ValueError) as exc:
            raise AuditError("corrupt", f"malformed end record ({exc})", line=line) from None
        return cls(events, head, last_id, checkpoints, block, signer, signature)

    def dump(self) -> bytes:
        """The end record's line, without its newline."""
        record: dict[str, Any] = {"events": self.events, "head": self.head.hex()}
        if self.signature is not None:
            record.update(
                block=self.block,
                checkpoints=self.checkpoints,
                id=self.last_id,
                signature=self.signature.hex(),
                signer=self.signer,
            )
        return canonical_json({"end": record})
