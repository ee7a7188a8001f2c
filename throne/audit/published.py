"""A published log: the export cut into immutable parts, and the one index that names them.

Under a prefix of a bucket (``s3://BUCKET/PREFIX/``)::

    index.json                                 the only object ever rewritten
    parts/000001-<sha256>.jsonl.gz             part 1: the header, events, checkpoints, end
    parts/000002-<sha256>.jsonl.gz             part 2: what an append would add after part 1
    ...

Part 1 is an export (:mod:`throne.audit.format`); part k+1 is exactly what
``throne audit export --append`` writes in place of part k's end record: events, checkpoints
numbered on, a final checkpoint and a new signed end record. So the parts with every end record
but the last cut off are byte for byte an export appended to k times, and each part is verified
on its own from the state its predecessor's final checkpoint signed. A part's key holds its
number and the sha256 of its stored (gzip) bytes: a part is written once and never changed.

The index (canonical JSON, like every line of an export)::

    {"application":"throne","checkpoint_every":N,"format":"throne-published-log",
     "header":"<part 1's header line>","parts":[PART,...],"signer":SS58,"version":1}

with, for each part in order::

    {"block":B,"bytes":SIZE,"checkpoint":{...its final checkpoint...},"events":COUNT,
     "first_id":ID,"head":HEX,"key":"parts/000042-<sha256>.jsonl.gz","last_id":ID,"seq":42,
     "sha256":HEX}

``events`` counts the part's own events (``first_id`` is null when it has none: a part that
only reveals seeds); ``head`` is the head after the part, which its final ``checkpoint``
signs; ``block`` the newest chain block its end record names. The index is not signed itself:
each entry's checkpoint is, and each part's bytes are checked against its entry.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, replace
from typing import Any

from throne.audit.format import AuditError, canonical_json
from throne.audit.records import Checkpoint, Header, decode_line

INDEX_KEY = "index.json"
PARTS_FOLDER = "parts/"
INDEX_FORMAT = "throne-published-log"
INDEX_VERSION = 1
_PART_KEY = re.compile(r"parts/(\d{6,})-([0-9a-f]{64})\.jsonl\.gz")


def part_key(seq: int, sha256: str) -> str:
    """The key of part ``seq`` whose stored bytes hash to ``sha256``."""
    return f"{PARTS_FOLDER}{seq:06d}-{sha256}.jsonl.gz"


def parse_part_key(key: str) -> tuple[int, str] | None:
    """(number, sha256) of a part's key; None for a key that names no part."""
    found = _PART_KEY.fullmatch(key)
    return None if found is None else (int(found[1]), found[2])


def _corrupt(message: str) -> AuditError:
    return AuditError("index-corrupt", f"the index is malformed: {message}")


@dataclass(frozen=True)
class PartEntry:
    """What the index says of one part: where it is, what its bytes hash to, what it holds."""

    seq: int
    sha256: str
    size: int
    #: the part's own events
    events: int
    first_id: int | None
    last_id: int
    #: the part's final checkpoint: where the links stand after it
    checkpoint: Checkpoint
    block: int | None

    @property
    def key(self) -> str:
        return part_key(self.seq, self.sha256)

    @property
    def head(self) -> str:
        return self.checkpoint.head.hex()

    def record(self) -> dict[str, Any]:
        checkpoint = decode_line(self.checkpoint.dump())["checkpoint"]
        return {
            "block": self.block,
            "bytes": self.size,
            "checkpoint": checkpoint,
            "events": self.events,
            "first_id": self.first_id,
            "head": self.head,
            "key": self.key,
            "last_id": self.last_id,
            "seq": self.seq,
            "sha256": self.sha256,
        }

    @classmethod
    def parse(cls, value: Any, version: int) -> PartEntry:
        if not isinstance(value, Mapping):
            raise _corrupt("a part is not a JSON object")
        try:
            seq, sha, size, events = value["seq"], value["sha256"], value["bytes"], value["events"]
            first_id, last_id, block = value["first_id"], value["last_id"], value["block"]
            key, head = value["key"], value["head"]
            checkpoint = Checkpoint.parse(value["checkpoint"], version)
        except KeyError as exc:
            raise _corrupt(f"a part lacks {exc}") from None
        except AuditError as exc:
            raise _corrupt(f"a part's checkpoint: {exc}") from None
        ints = (seq, size, events, last_id)
        if any(type(n) is not int or n < 0 for n in ints) or not isinstance(sha, str):
            raise _corrupt(f"part {seq!r}: seq, bytes, events and last_id must be integers")
        if any(v is not None and type(v) is not int for v in (first_id, block)):
            raise _corrupt(f"part {seq}: first_id and block must be integers or null")
        entry = cls(seq, sha, size, events, first_id, last_id, checkpoint, block)
        if key != entry.key or parse_part_key(key) is None:
            raise _corrupt(f"part {seq} is at {key!r}, not at its number and sha256")
        if head != entry.head:
            raise _corrupt(f"part {seq}: its head is not the one its checkpoint signs")
        return entry


@dataclass(frozen=True)
class PublishedIndex:
    """The index of a published log: who signs it, its header, its parts in order."""

    header: Header
    header_line: bytes
    parts: tuple[PartEntry, ...] = ()
    version: int = INDEX_VERSION

    @property
    def signer(self) -> str:
        return self.header.signer

    def with_part(self, entry: PartEntry) -> PublishedIndex:
        """This index with ``entry`` named after its last part."""
        return replace(self, parts=(*self.parts, entry))

    def dump(self) -> bytes:
        return canonical_json(
            {
                "application": self.header.application,
                "checkpoint_every": self.header.checkpoint_every,
                "format": INDEX_FORMAT,
                "header": self.header_line.decode(),
                "parts": [p.record() for p in self.parts],
                "signer": self.signer,
                "version": self.version,
            }
        )

    @classmethod
    def parse(cls, raw: bytes) -> PublishedIndex:
        """The index in ``raw``; ``index-corrupt`` if it is none, or its parts do not follow
        each other (numbers 1, 2, 3, ..., ids and checkpoints going on)."""
        try:
            record = decode_line(raw)
        except AuditError:
            raise _corrupt("not a JSON object") from None
        if record.get("format") != INDEX_FORMAT:
            raise _corrupt(f"not a {INDEX_FORMAT} index")
        if record.get("version") != INDEX_VERSION:
            raise AuditError(
                "newer-format",
                f"index version {record.get('version')!r}: this throne reads {INDEX_VERSION}",
            )
        line = record.get("header")
        if not isinstance(line, str):
            raise _corrupt("no header")
        header_line = line.encode()
        try:
            header = Header.read(header_line, line=None)
        except AuditError as exc:
            raise _corrupt(f"its header: {exc}") from None
        if not header.sealed:
            raise _corrupt(f"its header is format version {header.version}: parts need 3")
        same = (record.get("signer"), record.get("application"), record.get("checkpoint_every"))
        if same != (header.signer, header.application, header.checkpoint_every):
            raise _corrupt("its signer, application or checkpoint_every is not its header's")
        parts = record.get("parts")
        if not isinstance(parts, list):
            raise _corrupt("no list of parts")
        entries = tuple(PartEntry.parse(p, header.version) for p in parts)
        _check_sequence(entries, header.signer)
        return cls(header, header_line, entries)


def _check_sequence(entries: tuple[PartEntry, ...], signer: str) -> None:
    events, last_id, checkpoints = 0, 0, 0
    for number, entry in enumerate(entries, start=1):
        cp = entry.checkpoint
        if entry.seq != number:
            raise _corrupt(f"part {entry.seq} is listed where part {number} belongs")
        if cp.signer != signer:
            raise _corrupt(f"part {number}'s checkpoint is signed by {cp.signer}, not {signer}")
        if cp.events != events + entry.events or cp.last_id != entry.last_id:
            raise _corrupt(f"part {number}: its counts are not its checkpoint's")
        if entry.events and (entry.first_id is None or entry.first_id <= last_id):
            raise _corrupt(f"part {number} does not start after part {number - 1}")
        if cp.seq is None or cp.seq <= checkpoints or entry.last_id < last_id:
            raise _corrupt(f"part {number} does not go on from part {number - 1}")
        events, last_id, checkpoints = cp.events, entry.last_id, cp.seq
