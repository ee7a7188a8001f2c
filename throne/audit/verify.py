"""Check an audit export: its structure, its hash chain and its signatures.

The chain check is generic over the log; what the events mean (verdicts, weights) is checked by
a consumer that receives every :class:`ExportedEvent` in order (see ``on_event``), and the seeds
that checkpoints reveal (see ``on_reveal``). Events are handed on as they are read, in order,
until something is found out of place; from there on none is, until the fault is named. A fault
the consumer finds (a verdict that does not recompute) is raised once the checkpoint after it
checks out: if the hash chain is broken there, the breakage is named instead, as the cause.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from hashlib import sha256
from pathlib import Path
from typing import Any

import orjson

from throne.audit.damage import MAX_STRETCH, Anchor, Damage
from throne.audit.format import GENESIS_HEAD, AuditError, ExportedEvent
from throne.audit.reading import (
    STDIN,
    Progress,
    damage_reported,
    open_measured,
    read_lines,
)
from throne.audit.records import Checkpoint, EndRecord, Header

# orjson parses a line about four times faster than the standard library: it is most of the cost
# of a verification. It reads the same JSON (and refuses NaN, which canonical lines never hold).
_decode = orjson.loads
# Below every notification id, so the first event's id is accepted whatever it is.
_BEFORE_ANY_ID = -(1 << 63)
# An event count no export reaches: a checkpoint never due.
_NEVER = 1 << 62
NEWLINE = ord("\n")
# Builds the named tuple without its argument-parsing constructor: twice as fast, and a
# verification builds one per event.
new_event: Callable[[type[ExportedEvent], tuple[Any, ...]], ExportedEvent] = tuple.__new__


#: Takes (notification id of a ``PoolRefreshed`` written without its seed, the seed in hex).
OnReveal = Callable[[int, str], None]


@dataclass
class ChainSummary:
    application: str = ""
    signer: str = ""
    format_version: int = 0
    events: int = 0
    checkpoints: int = 0
    first_id: int | None = None
    last_id: int | None = None
    head: str = ""
    topics: dict[str, int] = field(default_factory=dict)
    #: whether the end record is signed (format version 3 on): the export is known whole
    end_signed: bool = False
    #: the newest chain block the signed end record says the export is complete to
    block: int | None = None


class EventOrder:
    """Notification ids strictly increase; each originator's versions run 1, 2, 3, ..."""

    def __init__(self) -> None:
        self.last_id: int | None = None
        self.versions: dict[str, int] = {}

    def check(self, event: ExportedEvent, *, line: int | None = None) -> None:
        versions = self.versions
        previous = versions.get(event.originator, 0)
        if event.version == previous + 1 and (self.last_id is None or event.id > self.last_id):
            versions[event.originator] = event.version
            self.last_id = event.id
            return
        self._explain(event, previous, line)

    def _explain(self, event: ExportedEvent, previous: int, line: int | None) -> None:
        if self.last_id is not None and event.id <= self.last_id:
            what = "repeats" if event.id == self.last_id else "comes after"
            raise AuditError(
                "reordered",
                f"events out of order: notification id {event.id} {what} {self.last_id}",
                line=line,
            )
        if event.version > previous + 1:
            missing = (
                f"version {previous + 1}"
                if event.version == previous + 2
                else f"versions {previous + 1}..{event.version - 1}"
            )
            raise AuditError(
                "deleted",
                f"event deleted: {missing} of {event.originator} missing before id {event.id}",
                line=line,
            )
        if event.version <= previous:
            raise AuditError(
                "inserted",
                f"event inserted: {event.originator} version {event.version} appears again "
                f"at id {event.id}",
                line=line,
            )
        raise AssertionError("unreachable: the fast path accepts every other event")


class ChainVerifier:
    """Feed it the lines of an export in order; it raises :class:`AuditError` at the first fault.

    ``expected_signer`` (an ss58 address) pins whose signatures count; without it the header's
    signer is taken at its word and reported. ``on_reveal`` is handed each seed a checkpoint
    reveals, once the checkpoint itself has checked out; whether the seed is the right one is
    for the consumer to say (see :class:`throne.audit.replay.ContestReplay`).

    Something out of place between two checkpoints (see :mod:`throne.audit.damage`) is named
    once the signed checkpoint after it, and the lines after that, have been read.
    """

    def __init__(
        self,
        *,
        expected_signer: str | None = None,
        on_event: Callable[[ExportedEvent], None] | None = None,
        on_reveal: OnReveal | None = None,
        order: EventOrder | None = None,
    ) -> None:
        self.summary = ChainSummary()
        self.lines_read = 0
        self.header: Header | None = None
        self._expected_signer = expected_signer
        self._on_event = on_event
        self._on_reveal = on_reveal
        self._head = GENESIS_HEAD
        self._ended = False
        self._since_checkpoint = 0
        self._order = EventOrder() if order is None else order
        self._anchor = Anchor(0, 0, GENESIS_HEAD, 0, 0)
        # The event lines since the anchor (or since ``_stretch_events`` events, when they were
        # too many to keep), to name a fault with. Only lines are kept: holding the events
        # themselves would keep their payloads alive, which costs the garbage collector a fifth
        # of a verification.
        self._stretch: list[bytes] = []
        self._stretch_line = 1
        self._stretch_events = 0
        self._stretch_whole = True
        # The event count at which the slow path must look: a checkpoint due, or the stretch full.
        self._due = _NEVER
        self._damage: Damage | None = None

    @classmethod
    def resume(
        cls,
        header: Header,
        opening: Checkpoint,
        *,
        on_event: Callable[[ExportedEvent], None] | None = None,
        on_reveal: OnReveal | None = None,
        order: EventOrder | None = None,
    ) -> ChainVerifier:
        """A verifier that starts right after the checkpoint ``opening`` of an export with
        ``header``, in the state the checkpoint signed.

        It trusts that state: whoever verified the lines before it must have found the same."""
        verifier = cls(on_event=on_event, on_reveal=on_reveal, order=order)
        verifier._accept_header(header)
        verifier.summary.events = opening.events
        verifier._head = opening.head
        verifier._order.last_id = opening.last_id
        verifier.summary.last_id = opening.last_id
        verifier._anchor = Anchor(
            0, opening.events, opening.head, opening.last_id, opening.seq or 0
        )
        verifier._new_stretch(opening.events, 1)
        return verifier

    @property
    def versions(self) -> dict[str, int]:
        """The last version read of each originator."""
        return self._order.versions

    @property
    def at_checkpoint(self) -> bool:
        """Whether every event read so far is covered by a checkpoint already read."""
        return self.header is not None and self._since_checkpoint == 0 and self._damage is None

    def run(self, raw_lines: Iterable[bytes]) -> ChainSummary:
        """Verify raw lines, each ending in a newline, in order; then :meth:`finish`."""
        self.check(raw_lines)
        return self.finish()

    def check(self, raw_lines: Iterable[bytes]) -> None:
        """Verify raw lines, each ending in a newline, in order, but not that the export ends.

        The hot loop of a verification: events (all but a few lines) are checked here with
        their state in locals; the rare records and every fault go through :meth:`feed`."""
        loads = _decode
        on_event = self._on_event
        order = self._order
        versions = order.versions
        versions_get = versions.get
        summary = self.summary
        topics = summary.topics
        topics_get = topics.get
        keep_line = self._stretch.append
        number = self.lines_read
        head = self._head
        last_id = _BEFORE_ANY_ID if order.last_id is None else order.last_id
        since = self._since_checkpoint
        counted = summary.events
        due = self._due
        fast = self.header is not None and not self._ended and self._damage is None
        try:
            for raw in raw_lines:
                number += 1
                if raw[-1] != NEWLINE:
                    raise AuditError(
                        "truncated", "export ends in the middle of a line", line=number
                    )
                line = raw[:-1]
                try:
                    record = loads(line)
                    event_id = record["id"]
                    originator = record["originator"]
                    version = record["version"]
                    topic = record["topic"]
                    payload = record["payload"]
                except (ValueError, TypeError, KeyError):
                    record = None
                if (
                    record is None
                    or not fast
                    or counted == due
                    or type(event_id) is not int
                    or type(version) is not int
                    or type(originator) is not str
                    or type(topic) is not str
                    or event_id <= last_id
                    or version != versions_get(originator, 0) + 1
                ):
                    # Anything but an event in order: a header, checkpoint or end record, an
                    # event where a checkpoint is due, or a fault, which the slow path names.
                    order.last_id = None if last_id == _BEFORE_ANY_ID else last_id
                    self._head, self._since_checkpoint = head, since
                    summary.events = counted
                    summary.last_id = order.last_id
                    self.feed(number, line)
                    head, since, counted = self._head, self._since_checkpoint, summary.events
                    last_id = _BEFORE_ANY_ID if order.last_id is None else order.last_id
                    due = self._due
                    fast = self.header is not None and not self._ended and self._damage is None
                    continue
                versions[originator] = version
                last_id = event_id
                head = sha256(head + line).digest()
                since += 1
                counted += 1
                if summary.first_id is None:
                    summary.first_id = event_id
                topics[topic] = topics_get(topic, 0) + 1
                keep_line(line)
                if on_event is not None:
                    event = (event_id, originator, version, topic, payload)
                    try:
                        on_event(new_event(ExportedEvent, event))
                    except AuditError as fault:
                        self._damaged(fault)
                        fast = False
        finally:
            self.lines_read = number
            order.last_id = None if last_id == _BEFORE_ANY_ID else last_id
            self._head, self._since_checkpoint = head, since
            summary.events = counted
            summary.last_id = order.last_id

    def feed(self, number: int, line: bytes) -> None:
        """Check one line (without its newline): the slow path, for any record."""
        self.lines_read = number
        if self._ended:
            raise AuditError("corrupt", "data after the end record", line=number)
        try:
            record = _decode(line)
        except ValueError as exc:
            record = exc
        damage = self._damage
        # A stretch that went wrong is named at the first line that is no event after its
        # checkpoint, or at anything but its checkpoint before it.
        if (
            damage is not None
            and not _is_record(record, "id")
            and (damage.looking_ahead or not _is_record(record, "checkpoint"))
        ):
            raise damage.name()
        if isinstance(record, ValueError):
            raise AuditError("corrupt", f"not a JSON record ({record})", line=number)
        if not isinstance(record, dict):
            raise AuditError("corrupt", "not a JSON object", line=number)
        if self.header is None:
            self._header(number, line, record)
        elif "id" in record:
            self._event(number, line, record)
        elif "checkpoint" in record:
            self._checkpoint(number, record["checkpoint"])
        elif "end" in record:
            self._end(number, record["end"])
        else:
            raise AuditError("corrupt", f"unknown record with keys {sorted(record)}", line=number)

    def finish(self) -> ChainSummary:
        if self._damage is not None:
            raise self._damage.name()
        if self.header is None:
            raise AuditError("not-an-export", "empty file: no audit header")
        if not self._ended:
            raise AuditError(
                "truncated",
                f"no end record: the export stops after {self.summary.events} events",
            )
        return self.summary

    # ---- records ----------------------------------------------------------------------------

    def _header(self, number: int, line: bytes, record: dict[str, Any]) -> None:
        header = Header.parse(record, line=number)
        if self._expected_signer is not None and header.signer != self._expected_signer:
            raise AuditError(
                "wrong-signer",
                f"export is signed by {header.signer}, expected {self._expected_signer}",
                line=number,
            )
        self._accept_header(header)
        self._head = header.first_head(line)
        self._anchor = Anchor(0, 0, self._head, 0, 0)
        self._new_stretch(0, number + 1)

    def _accept_header(self, header: Header) -> None:
        self.header = header
        self.summary.application = header.application
        self.summary.signer = header.signer
        self.summary.format_version = header.version

    def _event(self, number: int, line: bytes, record: dict[str, Any]) -> None:
        try:
            event = ExportedEvent(
                record["id"],
                record["originator"],
                record["version"],
                record["topic"],
                record["payload"],
            )
        except KeyError as exc:
            raise AuditError("corrupt", f"event record lacks {exc}", line=number) from None
        if type(event.id) is not int or type(event.version) is not int:
            raise AuditError("corrupt", "event id and version must be integers", line=number)
        s = self.summary
        damage = self._damage
        if damage is None and s.events == self._due:
            every = self._every()
            if every is not None and s.events % every == 0:
                damage = self._damaged(
                    AuditError(
                        "deleted",
                        f"checkpoint missing: none follows event {s.events} (id {s.last_id}), "
                        f"where the header has one every {every} events",
                        line=number,
                    )
                )
            else:  # the stretch is full: keep no more of it
                self._new_stretch(s.events, number, whole=False)
        if damage is None:
            try:
                self._order.check(event, line=number)
            except AuditError as fault:
                damage = self._damaged(fault)
        elif damage.looking_ahead:
            damage.after.append(line)
            if len(damage.after) >= MAX_STRETCH:
                raise damage.name()
            return
        # The chain goes on over the line as it stands, whatever is wrong with it.
        self._head = sha256(self._head + line).digest()
        self._since_checkpoint += 1
        if s.first_id is None:
            s.first_id = event.id
        s.last_id = event.id
        if damage is not None:
            self._order.last_id = event.id  # which the order check keeps, when it runs
        s.events += 1
        topics = s.topics
        topics[event.topic] = topics.get(event.topic, 0) + 1
        self._stretch.append(line)
        if damage is None:
            if self._on_event is not None:
                try:
                    self._on_event(event)
                except AuditError as fault:
                    self._damaged(fault)
        elif len(self._stretch) >= MAX_STRETCH:
            raise damage.name()

    def _checkpoint(self, number: int, value: Any) -> None:
        header = self.header
        assert header is not None
        damage = self._damage
        try:
            cp = Checkpoint.parse(value, header.version, line=number)
            self._check_signature(number, cp)
        except AuditError:
            if damage is not None:
                raise damage.name() from None  # what came before it comes first
            raise
        s = self.summary
        if (cp.events, cp.head, cp.last_id) != (s.events, self._head, s.last_id or 0):
            damage = damage or self._damaged(None)
            damage.read = s.events - self._anchor.events
            damage.judge(cp, number, self._head)
            return  # named once the lines after it are read
        if damage is not None:
            # The chain is the one signed: what is out of place was written so by the signer.
            raise damage.name()
        expected = self._anchor.seq + 1
        if header.sealed and cp.seq != expected:
            assert cp.seq is not None
            if cp.seq > expected:
                missing = (
                    f"checkpoint {expected} is"
                    if cp.seq == expected + 1
                    else f"checkpoints {expected}..{cp.seq - 1} are"
                )
                raise AuditError(
                    "deleted", f"{missing} missing: this one is number {cp.seq}", line=number
                )
            raise AuditError(
                "inserted",
                f"checkpoint {cp.seq} appears again (number {expected} comes next)",
                line=number,
            )
        self._since_checkpoint = 0
        s.checkpoints += 1
        self._anchor = Anchor(number, s.events, self._head, cp.last_id, cp.seq or s.checkpoints)
        self._new_stretch(s.events, number + 1)
        if self._on_reveal is not None:
            for pool_id, seed in cp.reveals:
                self._on_reveal(pool_id, seed)

    def _check_signature(self, number: int, cp: Checkpoint) -> None:
        signer = self.summary.signer
        if cp.signer != signer:
            raise AuditError(
                "wrong-signer",
                f"checkpoint signed by {cp.signer}, but the export names {signer}",
                line=number,
            )
        if not cp.verifies():
            raise AuditError(
                "bad-signature",
                f"checkpoint signature does not verify for {signer} (checkpoint altered)",
                line=number,
            )

    def _end(self, number: int, value: Any) -> None:
        header = self.header
        assert header is not None
        s = self.summary
        if self._since_checkpoint:
            self._uncovered(number, value, header)
        end = EndRecord.parse(value, header.version, line=number)
        if not header.sealed:
            if end.events != s.events:
                raise AuditError(
                    "corrupt", "end record does not match the events read", line=number
                )
            if end.head != self._head:
                raise AuditError("altered", "end record names another head", line=number)
        else:
            if end.signer != s.signer:
                raise AuditError(
                    "wrong-signer",
                    f"end record signed by {end.signer}, but the export names {s.signer}",
                    line=number,
                )
            if not end.verifies():
                raise AuditError(
                    "bad-signature",
                    f"end record signature does not verify for {s.signer} (end record altered "
                    "or forged)",
                    line=number,
                )
            read = (s.events, self._head, s.last_id or 0, self._anchor.seq)
            if (end.events, end.head, end.last_id, end.checkpoints) != read:
                raise AuditError(
                    "altered",
                    f"the end record was signed for another edition of the export "
                    f"({end.events} events, {end.checkpoints} checkpoints), not the one read "
                    f"({s.events} events, {self._anchor.seq} checkpoints)",
                    line=number,
                )
        s.head = self._head.hex()
        s.end_signed = end.signed
        s.block = end.block
        self._ended = True

    def _uncovered(self, number: int, value: Any, header: Header) -> None:
        """Events after the last checkpoint: the final checkpoint is missing, when a signed end
        record names exactly them; else they are simply unsigned."""
        s = self.summary
        if header.sealed:
            try:
                end: EndRecord | None = EndRecord.parse(value, header.version, line=number)
            except AuditError:
                end = None
            if (
                end is not None
                and end.signer == s.signer
                and (end.events, end.head) == (s.events, self._head)
                and end.verifies()
            ):
                raise AuditError(
                    "deleted",
                    f"the final checkpoint (number {end.checkpoints}) is missing: the last "
                    f"{self._since_checkpoint} events are covered by the end record alone",
                    line=number,
                )
        raise AuditError(
            "unsigned",
            f"the last {self._since_checkpoint} events are not covered by a checkpoint",
            line=number,
        )

    # ---- stretches between checkpoints ------------------------------------------------------

    def _every(self) -> int | None:
        """The checkpoint interval the header binds the export to (from version 3)."""
        header = self.header
        return header.checkpoint_every if header is not None and header.sealed else None

    def _new_stretch(self, events: int, first_line: int, *, whole: bool = True) -> None:
        self._stretch.clear()
        self._stretch_events, self._stretch_line, self._stretch_whole = events, first_line, whole
        due = events + MAX_STRETCH
        every = self._every()
        if every is not None:
            due = min(due, (self.summary.events // every + 1) * every)
        self._due = due

    def _damaged(self, fault: AuditError | None) -> Damage:
        header = self.header
        self._damage = Damage(
            self._anchor,
            self._stretch,
            self._stretch_line,
            self._stretch_whole,
            fault,
            sealed=header is not None and header.sealed,
        )
        return self._damage


def _is_record(record: Any, key: str) -> bool:
    return isinstance(record, dict) and key in record


def verify_export(
    path: Path,
    *,
    expected_signer: str | None = None,
    on_event: Callable[[ExportedEvent], None] | None = None,
    on_reveal: OnReveal | None = None,
    progress: Progress | None = None,
) -> ChainSummary:
    """Verify the export at ``path``; raise :class:`AuditError` at the first fault."""
    verifier = ChainVerifier(
        expected_signer=expected_signer, on_event=on_event, on_reveal=on_reveal
    )
    stored, export = open_measured(path)
    # A pipe has neither a size nor a position to report.
    total = 0 if path == STDIN else path.stat().st_size
    report = None if progress is None or not total else (lambda: progress(stored.tell(), total))
    with stored, export, damage_reported(lambda: verifier.lines_read):
        return verifier.run(read_lines(export, after_batch=report))
