"""The audit export format, versions 1 and 2 (JSON Lines, optionally gzip-compressed).

Every line is one JSON object in canonical form: keys sorted, no insignificant whitespace,
UTF-8, no NaN. In order:

1. one header::

       {"format":"throne-audit","version":1,"application":NAME,"signer":SS58,
        "checkpoint_every":N}

2. one line per event of the log, in notification order::

       {"id":NOTIFICATION_ID,"originator":UUID,"payload":{...},"topic":TOPIC,"version":V}

   ``payload`` is the event's stored state as eventsourcing's JSON transcoder wrote it (values
   of custom types appear as ``{"_type_": ..., "_data_": ...}``). Notification ids increase but
   need not be contiguous; each originator's versions run 1, 2, 3, ... without gaps.

3. interleaved, after every N events and after each event the validator marks (a weight
   submission), a signed checkpoint::

       {"checkpoint":{"events":COUNT,"head":HEX,"id":LAST_ID,"signature":HEX,"signer":SS58}}

4. last, after a final checkpoint covering every event::

       {"end":{"events":COUNT,"head":HEX}}

The hash chain: ``head_0 = sha256("throne-audit/1")`` and ``head_i = sha256(head_{i-1} ||
line_i)`` over the raw bytes of the i-th event line (without its newline). A checkpoint signs
``"throne-audit/1 checkpoint {events}:{id}:{head}"`` with the signer's sr25519 key, so a line
altered, removed, added or moved changes every later head and breaks the next signature.

Seeds and reveals (version 2). The seed of each contest's current pool is withheld: its
``PoolRefreshed`` line carries ``"seed":null`` (the ``seed_commitment`` is there). An export
that is appended to later (``throne audit export --append``) cannot change that line once the
pool is retired, so it reveals the seed in a later checkpoint instead::

       {"checkpoint":{...,"reveals":{"NOTIFICATION_ID":SEED_HEX,...},...}}

Each key is the notification id (in decimal) of a ``PoolRefreshed`` line earlier in the file
written with ``"seed":null``; the value is its seed. Reveals are not signed and are no part of
the hash chain: the seed proves itself, since it must hash to the commitment in the signed
line and derive the pool's task ids. A file holding reveals declares ``"version":2`` in its
header (the header is no part of the chain, so an append rewrites the one digit in place); one
that needs none keeps declaring version 1, which older readers read. Reveals in a version-1
file make it ``corrupt``.
"""

from __future__ import annotations

import hashlib
import json
import re
from typing import Any, NamedTuple

import orjson

FORMAT_NAME = "throne-audit"
#: The newest format version this throne reads and writes.
FORMAT_VERSION = 2
#: What an export without reveals declares, so that readers from before reveals read it.
PLAIN_FORMAT_VERSION = 1
#: The first version whose checkpoints may carry reveals.
REVEALS_FORMAT_VERSION = 2
DEFAULT_CHECKPOINT_EVERY = 1000
GENESIS_HEAD = hashlib.sha256(b"throne-audit/1").digest()


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


def next_head(head: bytes, line: bytes) -> bytes:
    return hashlib.sha256(head + line).digest()


def checkpoint_message(events: int, last_id: int, head_hex: str) -> bytes:
    """The bytes a checkpoint's signature covers."""
    return f"throne-audit/1 checkpoint {events}:{last_id}:{head_hex}".encode()


class ExportedEvent(NamedTuple):
    """One event as it appears in an export (and as verification hands it on).

    A named tuple rather than a dataclass: a verification makes a million of them."""

    id: int
    originator: str
    version: int
    topic: str
    payload: Any


class AuditError(Exception):
    """A verification failure or an unreadable export: one line, with a kind.

    ``kind`` names what was found: ``corrupt``, ``truncated``, ``newer-format``,
    ``not-an-export``, ``reordered``, ``deleted``, ``inserted``, ``altered``, ``unsigned``,
    ``bad-signature``, ``wrong-signer``, a recomputation mismatch from the replay, or
    ``chain-mismatch`` (weights on chain that the log does not explain).
    """

    def __init__(self, kind: str, message: str, *, line: int | None = None) -> None:
        self.kind = kind
        self.line = line
        where = f"line {line}: " if line is not None else ""
        super().__init__(f"{where}{message}")
