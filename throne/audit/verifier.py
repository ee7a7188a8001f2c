"""Check the lines of an export in order: their records, their links and their signatures.

The check is generic over the log; what the events mean (verdicts, weights) is checked by a
consumer that receives every :class:`ExportedEvent` in order (see ``on_event``), and the seeds
that checkpoints reveal (see ``on_reveal``). Events are handed on as they are read, in order,
until something is found out of place; from there on none is, until the fault is named. A fault
the consumer finds (a verdict that does not recompute) is raised once the checkpoint after it
checks out: if the links are broken there, the breakage is named instead, as the cause.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from hashlib import sha256
from typing import Any

from throne.audit.damage import MAX_STRETCH, Anchor, Damage, Stretch
from throne.audit.format import AuditError
from throne.audit.links import GENESIS_HEAD, LinkState
from throne.audit.order import EventOrder
from throne.audit.records import Checkpoint, EndRecord, ExportedEvent, Header, decode, decode_line
from throne.audit.report import ExportSummary
from throne.audit.signed_records import (
    check_checkpoint_number,
    check_checkpoint_signature,
    check_end,
    uncovered,
)

# Below every notification id, so the first event's id is accepted whatever it is.
_BEFORE_ANY_ID = -(1 << 63)
# An event count no export reaches: a checkpoint never due.
_NEVER = 1 << 62
NEWLINE = ord("\n")
# Builds the named tuple without its argument-parsing constructor: twice as fast, and a
# verification builds one per event.
new_event: Callable[[type[ExportedEvent], tuple[Any, ...]], ExportedEvent] = tuple.__new__

#: Takes each event, in order.
OnEvent = Callable[[ExportedEvent], None]
#: Takes (notification id of a ``PoolRefreshed`` written without its seed, the seed in hex).
OnReveal = Callable[[int, str], None]


class ExportVerifier:
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
        on_event: OnEvent | None = None,
        on_reveal: OnReveal | None = None,
        order: EventOrder | None = None,
    ) -> None:
        self.summary = ExportSummary()
        self.lines_read = 0
        self.header: Header | None = None
        self._expected_signer = expected_signer
        self._on_event = on_event
        self._on_reveal = on_reveal
        self._head = GENESIS_HEAD
        self._ended = False
        self._since_checkpoint = 0
        self._order = EventOrder() if order is None else order
        self._anchor = Anchor(0, LinkState.start(GENESIS_HEAD))
        self._stretch = Stretch()
        # The event count at which the slow path must look: a checkpoint due, or the stretch full.
        self._due = _NEVER
        self._damage: Damage | None = None

    @classmethod
    def resume(
        cls,
        header: Header,
        opening: LinkState,
        *,
        on_event: OnEvent | None = None,
        on_reveal: OnReveal | None = None,
        order: EventOrder | None = None,
    ) -> ExportVerifier:
        """A verifier that starts right after a checkpoint of an export with ``header``, in
        the state ``opening`` that the checkpoint signed.

        It trusts that state: whoever verified the lines before it must have found the same."""
        verifier = cls(on_event=on_event, on_reveal=on_reveal, order=order)
        verifier._accept_header(header)
        verifier.summary.events = opening.events
        verifier._head = opening.head
        verifier._order.last_id = opening.last_id
        verifier.summary.last_id = opening.last_id
        verifier._anchor = Anchor(0, opening)
        verifier._new_stretch(1)
        return verifier

    @property
    def versions(self) -> dict[str, int]:
        """The last version read of each originator."""
        return self._order.versions

    @property
    def at_checkpoint(self) -> bool:
        """Whether every event read so far is covered by a checkpoint already read."""
        return self.header is not None and self._since_checkpoint == 0 and self._damage is None

    def run(self, raw_lines: Iterable[bytes]) -> ExportSummary:
        """Verify raw lines, each ending in a newline, in order; then :meth:`finish`."""
        self.check(raw_lines)
        return self.finish()

    def check(self, raw_lines: Iterable[bytes]) -> None:
        """Verify raw lines, each ending in a newline, in order, but not that the export ends.

        The hot loop of a verification: events (all but a few lines) are checked here with
        their state in locals, accepting only what :meth:`ExportedEvent.parse` accepts; the
        rare records and every fault go through :meth:`feed`."""
        loads = decode
        on_event = self._on_event
        order = self._order
        versions = order.versions
        versions_get = versions.get
        summary = self.summary
        topics = summary.topics
        topics_get = topics.get
        keep_line = self._stretch.lines.append
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
            record: dict[str, Any] | AuditError = decode_line(line, line=number)
        except AuditError as unreadable:
            record = unreadable
        damage = self._damage
        # A stretch that went wrong is named at the first line that is no event after its
        # checkpoint, or at anything but its checkpoint before it.
        if (
            damage is not None
            and not _is_record(record, "id")
            and (damage.looking_ahead or not _is_record(record, "checkpoint"))
        ):
            raise damage.name()
        if isinstance(record, AuditError):
            raise record
        if self.header is None:
            self._header(number, line, record)
        elif "id" in record:
            self._event(number, line, ExportedEvent.parse(record, line=number))
        elif "checkpoint" in record:
            self._checkpoint(number, record["checkpoint"])
        elif "end" in record:
            self._end(number, record["end"])
        else:
            raise AuditError("corrupt", f"unknown record with keys {sorted(record)}", line=number)

    def finish(self) -> ExportSummary:
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
        self._anchor = Anchor(0, LinkState.start(self._head))
        self._new_stretch(number + 1)

    def _accept_header(self, header: Header) -> None:
        self.header = header
        self.summary.application = header.application
        self.summary.signer = header.signer
        self.summary.format_version = header.version

    def _event(self, number: int, line: bytes, event: ExportedEvent) -> None:
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
                self._new_stretch(number, whole=False)
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
        # The links go on over the line as it stands, whatever is wrong with it.
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
        self._stretch.lines.append(line)
        if damage is None:
            if self._on_event is not None:
                try:
                    self._on_event(event)
                except AuditError as fault:
                    self._damaged(fault)
        elif len(self._stretch.lines) >= MAX_STRETCH:
            raise damage.name()

    def _checkpoint(self, number: int, value: Any) -> None:
        header = self.header
        assert header is not None
        damage = self._damage
        try:
            cp = Checkpoint.parse(value, header.version, line=number)
            check_checkpoint_signature(cp, header.signer, line=number)
        except AuditError:
            if damage is not None:
                raise damage.name() from None  # what came before it comes first
            raise
        s = self.summary
        if (cp.events, cp.head, cp.last_id) != (s.events, self._head, s.last_id or 0):
            damage = damage or self._damaged(None)
            damage.read = s.events - self._anchor.state.events
            damage.judge(cp, number, self._head)
            return  # named once the lines after it are read
        if damage is not None:
            # The links are the ones signed: what is out of place was written so by the signer.
            raise damage.name()
        if header.sealed:
            check_checkpoint_number(cp, self._anchor.state.checkpoints + 1, line=number)
        self._since_checkpoint = 0
        s.checkpoints += 1
        state = LinkState(s.events, self._head, cp.last_id, cp.seq or s.checkpoints)
        self._anchor = Anchor(number, state)
        self._new_stretch(number + 1)
        if self._on_reveal is not None:
            for pool_id, seed in cp.reveals:
                self._on_reveal(pool_id, seed)

    def _end(self, number: int, value: Any) -> None:
        header = self.header
        assert header is not None
        s = self.summary
        read = LinkState(s.events, self._head, s.last_id or 0, self._anchor.state.checkpoints)
        if self._since_checkpoint:
            raise uncovered(value, header, read, self._since_checkpoint, line=number)
        end = EndRecord.parse(value, header.version, line=number)
        check_end(end, header, read, line=number)
        s.head = self._head.hex()
        s.end_signed = end.signed
        s.block = end.block
        self._ended = True

    # ---- stretches between checkpoints ------------------------------------------------------

    def _every(self) -> int | None:
        """The checkpoint interval the header binds the export to (from version 3)."""
        header = self.header
        return header.checkpoint_every if header is not None and header.sealed else None

    def _new_stretch(self, first_line: int, *, whole: bool = True) -> None:
        self._stretch.restart(first_line, whole=whole)
        events = self.summary.events
        due = events + MAX_STRETCH
        every = self._every()
        if every is not None:
            due = min(due, (events // every + 1) * every)
        self._due = due

    def _damaged(self, fault: AuditError | None) -> Damage:
        header = self.header
        self._damage = Damage(
            self._anchor,
            self._stretch,
            fault,
            sealed=header is not None and header.sealed,
        )
        return self._damage


def _is_record(record: Any, key: str) -> bool:
    return isinstance(record, dict) and key in record
