"""The audit export format, version 3 (JSON Lines, optionally gzip-compressed), and how
versions 1 and 2 differ.

Every line is one JSON object in canonical form: keys sorted, no insignificant whitespace,
UTF-8, no NaN. In order:

1. one header::

       {"application":NAME,"checkpoint_every":N,"format":"throne-audit","signer":SS58,
        "version":3}

2. one line per event of the log, in notification order::

       {"id":NOTIFICATION_ID,"originator":UUID,"payload":{...},"topic":TOPIC,"version":V}

   ``payload`` is the event's stored state as eventsourcing's JSON transcoder wrote it (values
   of custom types appear as ``{"_type_": ..., "_data_": ...}``). Notification ids increase but
   need not be contiguous; each originator's versions run 1, 2, 3, ... without gaps.

3. interleaved, a signed checkpoint right after every N-th event (N the header's
   ``checkpoint_every``) and after each event the validator marks (a weight submission),
   numbered 1, 2, 3, ... in order::

       {"checkpoint":{"events":COUNT,"head":HEX,"id":LAST_ID,"seq":K,"signature":HEX,
                      "signer":SS58}}

4. last, after a final checkpoint covering every event, the signed end record::

       {"end":{"block":B,"checkpoints":K,"events":COUNT,"head":HEX,"id":LAST_ID,
               "signature":HEX,"signer":SS58}}

   ``block`` is the newest chain block an exported event names (its payload's ``block``), or
   ``null`` when none does: the export is complete to that block.

The hash links (the export's hash chain, :mod:`throne.audit.links`):
``head_0 = sha256(sha256("throne-audit/1") || header)`` over the raw bytes of the header line,
then ``head_i = sha256(head_{i-1} || line_i)`` over the raw bytes of the i-th event line (each
without its newline). A checkpoint signs
``"throne-audit/3 checkpoint {seq}:{events}:{id}:{head}"`` and the end record signs
``"throne-audit/3 end {checkpoints}:{events}:{id}:{head}:{block}"`` with the signer's sr25519
key. So a header field or an event line altered, removed, added or moved changes every later
head and breaks the next signature; a checkpoint removed leaves a gap in the numbers (and the
one due after the N-th event missing); and a file cut short cannot end with a valid end record
but one the signer wrote for exactly that state (an earlier edition of an appended export,
which says how far it goes: ``block``).

Seeds and reveals. The seed of each contest's current pool is withheld: its ``PoolRefreshed``
line carries ``"seed":null`` (the ``seed_commitment`` is there). An export that is appended to
later (``throne audit export --append``) cannot change that line once the pool is retired, so it
reveals the seed in a later checkpoint instead::

       {"checkpoint":{...,"reveals":{"NOTIFICATION_ID":SEED_HEX,...},...}}

Each key is the notification id (in decimal) of a ``PoolRefreshed`` line earlier in the file
written with ``"seed":null``; the value is its seed. Reveals are not signed and are no part of
the links: the seed proves itself, since it must hash to the commitment in the signed
line and derive the pool's task ids.

Versions 1 and 2 (still read, no longer written). The header is no part of the links
(``head_0 = sha256("throne-audit/1")``), checkpoints carry no ``seq`` and sign
``"throne-audit/1 checkpoint {events}:{id}:{head}"``, nothing fixes where they fall, and the
end record is ``{"end":{"events":COUNT,"head":HEX}}``, unsigned: such a file cut after any
checkpoint, with a new end record, cannot be told from a whole one, nor a removed checkpoint
or an edited header from the original. A version-2 file holds reveals (an append raised its
header's version digit in place); reveals in a version-1 file make it ``corrupt``.
"""

from __future__ import annotations

import json
import re
from typing import Any, Literal

import orjson

FORMAT_NAME = "throne-audit"
#: The newest format version this throne reads and writes.
FORMAT_VERSION = 3
#: The first version whose checkpoints may carry reveals.
REVEALS_FORMAT_VERSION = 2
#: The first version whose header is linked (the first link), whose checkpoints are numbered and
#: fall where the header says, and whose end record is signed.
SEALED_FORMAT_VERSION = 3
DEFAULT_CHECKPOINT_EVERY = 1000


def canonical_json(value: Any) -> bytes:
    """The one byte string a JSON value is written as in an export: the standard library's
    ``json.dumps`` with sorted keys, compact separators, UTF-8 and no NaN.

    orjson writes the same bytes about five times faster, except for floats below 1e-4 (which
    Python writes with an exponent), NaN and infinities (which orjson writes as ``null``) and
    what it refuses (integers beyond 64 bits, lone surrogates, objects JSON has no type for).
    Whenever its output might hold one of these, the standard library writes the value."""
    try:
        fast = orjson.dumps(value, option=_ORJSON_CANONICAL)
    except (orjson.JSONEncodeError, TypeError):
        return _stdlib_canonical(value)
    if b"null" in fast or _SMALL_FLOAT.search(fast):
        return _stdlib_canonical(value)
    return fast


def _stdlib_canonical(value: Any) -> bytes:
    return json.dumps(
        value, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False
    ).encode("utf-8")


_ORJSON_CANONICAL = (
    orjson.OPT_SORT_KEYS
    | orjson.OPT_PASSTHROUGH_DATETIME
    | orjson.OPT_PASSTHROUGH_DATACLASS
    | orjson.OPT_PASSTHROUGH_SUBCLASS
)
# A number (at the start, or after ":", "," or "[") that orjson writes as 0.0000... or with a
# negative exponent: a float below 1e-4, which Python writes as 1e-05. Strings that look alike
# only send the value to the standard library.
_SMALL_FLOAT = re.compile(rb"(?:\A|[:,\[])-?(?:0\.0000|[0-9]+(?:\.[0-9]+)?e-)")


def checkpoint_message(events: int, last_id: int, head_hex: str, seq: int | None = None) -> bytes:
    """The bytes a checkpoint's signature covers: numbered (``seq``) from version 3."""
    if seq is None:
        return f"throne-audit/1 checkpoint {events}:{last_id}:{head_hex}".encode()
    return f"throne-audit/3 checkpoint {seq}:{events}:{last_id}:{head_hex}".encode()


def end_message(
    checkpoints: int, events: int, last_id: int, head_hex: str, block: int | None
) -> bytes:
    """The bytes the signature of a version-3 end record covers."""
    named = "null" if block is None else str(block)
    return f"throne-audit/3 end {checkpoints}:{events}:{last_id}:{head_hex}:{named}".encode()


_LINKS = rb"([0-9]+):([0-9]+):([0-9]+):([0-9a-f]{64})"
_SIGNED_CHECKPOINT = re.compile(rb"throne-audit/3 checkpoint " + _LINKS)
_SIGNED_END = re.compile(rb"throne-audit/3 end " + _LINKS + rb":([0-9]+|null)")


def signed_message_kind(message: bytes) -> Literal["checkpoint", "end"] | None:
    """``checkpoint`` or ``end`` when ``message`` is exactly what a version-3 checkpoint or end
    record signs (as :func:`checkpoint_message` or :func:`end_message` writes it, numbers in
    their one decimal form), else None: the test a signing service applies before it signs."""
    if found := _SIGNED_CHECKPOINT.fullmatch(message):
        seq, events, last_id, head = found.groups()
        again = checkpoint_message(int(events), int(last_id), head.decode(), int(seq))
        return "checkpoint" if again == message else None
    if found := _SIGNED_END.fullmatch(message):
        checkpoints, events, last_id, head, block = found.groups()
        named = None if block == b"null" else int(block)
        again = end_message(int(checkpoints), int(events), int(last_id), head.decode(), named)
        return "end" if again == message else None
    return None


class AuditError(Exception):
    """A verification failure or an unreadable export: one line, with a kind.

    ``kind`` names what was found: ``corrupt``, ``truncated``, ``newer-format``,
    ``not-an-export``, ``reordered``, ``deleted``, ``inserted``, ``altered``, ``unsigned``,
    ``bad-signature``, ``wrong-signer``, a recomputation mismatch from the replay, or
    ``chain-mismatch`` (weights on chain that the log does not explain); of a published log
    (:mod:`throne.audit.incremental`) also ``no-index``, ``index-corrupt``, ``part-missing``,
    ``part-mismatch``, ``index-mismatch`` and ``index-rewritten``.
    """

    def __init__(self, kind: str, message: str, *, line: int | None = None) -> None:
        self.kind = kind
        self.line = line
        where = f"line {line}: " if line is not None else ""
        super().__init__(f"{where}{message}")
