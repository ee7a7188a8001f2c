"""The hash links of an export: each event line is linked to all before it by a running head.

``head_0`` is fixed by the header (see :func:`first_head`), then ``head_i = sha256(head_{i-1} ||
line_i)`` over the raw bytes of the i-th event line. A checkpoint signs where the links stand
(:class:`LinkState`), so anything changed before it changes the head it signs. These are the
export's links, not the blockchain: in the audit, "chain" is only ever the latter.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

from throne.audit.format import SEALED_FORMAT_VERSION

GENESIS_HEAD = hashlib.sha256(b"throne-audit/1").digest()


def next_head(head: bytes, line: bytes) -> bytes:
    return hashlib.sha256(head + line).digest()


def first_head(version: int, header_line: bytes) -> bytes:
    """The head before the first event: the header is the first link from version 3."""
    if version >= SEALED_FORMAT_VERSION:
        return next_head(GENESIS_HEAD, header_line)
    return GENESIS_HEAD


@dataclass(frozen=True, slots=True)
class LinkState:
    """Where the links stand after ``events`` events: the last one's notification id, the head,
    and how many checkpoints have been signed so far (the last one's number from version 3).

    A checkpoint and a signed end record each state one; a verification picks up from one, and
    an append goes on from one."""

    events: int
    head: bytes
    last_id: int
    checkpoints: int

    @classmethod
    def start(cls, head: bytes) -> LinkState:
        """Before the first event, at the head the header gives."""
        return cls(0, head, 0, 0)
