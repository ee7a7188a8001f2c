"""The export's header, checkpoints and end record as types: one parse and one dump each.

Every reader (the verifier, the parallel planner, the append) and the writer go through these,
so a field is read, checked and written in one place. The layout of each record, and what each
format version holds, is described in :mod:`throne.audit.format`. Parsing raises
:class:`AuditError` (``corrupt`` for a malformed record); whether a record fits its place in
the file is for the verifier to say. Event lines are no type here: a verification reads a
million of them, in its own loop.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from throne.audit.format import (
    FORMAT_NAME,
    FORMAT_VERSION,
    REVEALS_FORMAT_VERSION,
    SEALED_FORMAT_VERSION,
    AuditError,
    canonical_json,
    checkpoint_message,
    end_message,
    first_head,
)
from throne.audit.signing import signature_is_valid
from throne.ports.signer import Signer


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
        """Whether the header is in the hash chain, checkpoints numbered, the end signed."""
        return self.version >= SEALED_FORMAT_VERSION

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


@dataclass(frozen=True, slots=True)
class Checkpoint:
    """A signed statement of where the hash chain stands after ``events`` events."""

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
        cls,
        signer: Signer,
        *,
        events: int,
        head: bytes,
        last_id: int,
        seq: int | None,
        reveals: Mapping[int, str] | None = None,
    ) -> Checkpoint:
        message = checkpoint_message(events, last_id, head.hex(), seq)
        return cls(
            events,
            head,
            last_id,
            signer.ss58_address,
            bytes(signer.sign(message)),
            seq,
            tuple(sorted((reveals or {}).items())),
        )

    def message(self) -> bytes:
        return checkpoint_message(self.events, self.last_id, self.head.hex(), self.seq)

    def verifies(self) -> bool:
        """Whether the signature is the named signer's, over this checkpoint."""
        return signature_is_valid(self.message(), self.signature, self.signer)

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
    def sign(
        cls,
        signer: Signer,
        *,
        events: int,
        head: bytes,
        last_id: int,
        checkpoints: int,
        block: int | None,
    ) -> EndRecord:
        message = end_message(checkpoints, events, last_id, head.hex(), block)
        signature = bytes(signer.sign(message))
        return cls(events, head, last_id, checkpoints, block, signer.ss58_address, signature)

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
