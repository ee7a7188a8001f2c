"""Whether a checkpoint or an end record is the signer's, over the links as they were read.

Each check raises :class:`AuditError` with what it found: ``wrong-signer``, ``bad-signature``,
a checkpoint ``deleted`` or ``inserted`` (by its number, from format version 3), an end record
``altered`` (signed for another edition of the export) or ``unsigned`` events at the end.
"""

from __future__ import annotations

from typing import Any

from throne.audit.format import AuditError
from throne.audit.links import LinkState
from throne.audit.records import Checkpoint, EndRecord, Header


def check_checkpoint_signature(cp: Checkpoint, signer: str, *, line: int) -> None:
    """The checkpoint must be signed by the export's signer, over what it says."""
    if cp.signer != signer:
        raise AuditError(
            "wrong-signer",
            f"checkpoint signed by {cp.signer}, but the export names {signer}",
            line=line,
        )
    if not cp.verifies():
        raise AuditError(
            "bad-signature",
            f"checkpoint signature does not verify for {signer} (checkpoint altered)",
            line=line,
        )


def check_checkpoint_number(cp: Checkpoint, expected: int, *, line: int) -> None:
    """A numbered checkpoint (format version 3) must be the one that comes next."""
    assert cp.seq is not None
    if cp.seq == expected:
        return
    if cp.seq > expected:
        missing = (
            f"checkpoint {expected} is"
            if cp.seq == expected + 1
            else f"checkpoints {expected}..{cp.seq - 1} are"
        )
        raise AuditError("deleted", f"{missing} missing: this one is number {cp.seq}", line=line)
    raise AuditError(
        "inserted",
        f"checkpoint {cp.seq} appears again (number {expected} comes next)",
        line=line,
    )


def check_end(end: EndRecord, header: Header, read: LinkState, *, line: int) -> None:
    """The end record must state the links as read up to it (from version 3 signed, and
    by the export's signer); ``read.checkpoints`` is the number of the last checkpoint."""
    if not header.sealed:
        if end.events != read.events:
            raise AuditError("corrupt", "end record does not match the events read", line=line)
        if end.head != read.head:
            raise AuditError("altered", "end record names another head", line=line)
        return
    if end.signer != header.signer:
        raise AuditError(
            "wrong-signer",
            f"end record signed by {end.signer}, but the export names {header.signer}",
            line=line,
        )
    if not end.verifies():
        raise AuditError(
            "bad-signature",
            f"end record signature does not verify for {header.signer} (end record altered "
            "or forged)",
            line=line,
        )
    if end.state != read:
        raise AuditError(
            "altered",
            f"the end record was signed for another edition of the export "
            f"({end.events} events, {end.checkpoints} checkpoints), not the one read "
            f"({read.events} events, {read.checkpoints} checkpoints)",
            line=line,
        )


def uncovered(value: Any, header: Header, read: LinkState, since: int, *, line: int) -> AuditError:
    """What ``since`` events after the last checkpoint, followed by the end record ``value``,
    are: the final checkpoint deleted, when a signed end record names exactly them; else
    simply unsigned."""
    if header.sealed:
        try:
            end: EndRecord | None = EndRecord.parse(value, header.version, line=line)
        except AuditError:
            end = None
        if (
            end is not None
            and end.signer == header.signer
            and (end.events, end.head) == (read.events, read.head)
            and end.verifies()
        ):
            return AuditError(
                "deleted",
                f"the final checkpoint (number {end.checkpoints}) is missing: the last "
                f"{since} events are covered by the end record alone",
                line=line,
            )
    return AuditError(
        "unsigned", f"the last {since} events are not covered by a checkpoint", line=line
    )
